"""Tenant-set outbound URLs (a channel's api_base, the cloud base_url): https to public addresses only unless the
platform admin allows a host, checked at save and again before sending; a new address needs the secrets again;
what an outside service says in an error never comes back through the API, message.error or /healthz."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import outbound
from appliance.assistant.ingest import process, store_upload
from appliance.assistant.llm import list_models
from appliance.outbound import UnsafeUrl, check_url
from appliance.db import database
from appliance.records import Message, Tenant
from tests.conftest import configure, conversation_for, post_json
from tests.fakes import (  # noqa: F401  (fixtures)
    CREDENTIALS, Scripted, allow_fakes, connect, fake_telegram, fake_whatsapp, fake_zalo, fakes, fake_messenger,
)

PUBLIC = "https://93.184.215.14/v21.0"  # a public address literal: resolving it needs no network
SECRET_TEXT = "SECRET-INTERNAL-TEXT"

REFUSED = [
    "http://127.0.0.1:8080",
    "https://127.0.0.1/v1",
    "https://localhost/v1",
    "https://169.254.169.254/latest/meta-data",
    "https://10.1.2.3",
    "https://172.16.0.1",
    "https://192.168.1.10",
    "https://100.64.0.1",  # carrier-grade NAT
    "https://224.0.0.1",  # multicast
    "https://0.0.0.0",
    "https://2130706433",  # 127.0.0.1 written as one number
    "https://[::1]/v1",
    "https://[::ffff:127.0.0.1]/",
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "http://93.184.215.14/v21.0",  # public, but not https
    "https://user@93.184.215.14/v21.0",
    "https://user:pass@93.184.215.14",
    "https://93.184.215.14/v21.0?x=",
    "https://93.184.215.14/x?url=http://127.0.0.1/",
    "https://93.184.215.14/v21.0#",
    "https://93.184.215.14\\@127.0.0.1/",
    "ftp://93.184.215.14",
    "https://",
    12345,
    "",
]


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_api_bases_are_refused_when_connecting(client, tenant, url):
    body = {"kind": "whatsapp", "credentials": CREDENTIALS["whatsapp"], "api_base": url}
    response = client.post("/api/v1/channels", json=body, headers=tenant.headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_api_base"
    assert client.get("/api/v1/channels", headers=tenant.headers).get_json()["channels"] == []


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_cloud_base_urls_are_refused(client, tenant, url):
    response = client.put("/api/v1/assistant", json={"cloud": {"base_url": url, "api_key": "sk-1"}},
                          headers=tenant.headers)
    if url == "":  # an empty base_url clears it: nothing to check
        assert response.status_code == 200 and "base_url" not in response.get_json()["cloud"]
        return
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_base_url"
    assert "base_url" not in (Tenant.get_by_id(tenant.id).assistant or {}).get("cloud", {})


def test_a_public_https_address_is_accepted(client, tenant):
    body = {"kind": "whatsapp", "credentials": CREDENTIALS["whatsapp"], "api_base": PUBLIC + "/"}
    response = client.post("/api/v1/channels", json=body, headers=tenant.headers)
    assert response.status_code == 201 and response.get_json()["api_base"] == PUBLIC
    cloud = client.put("/api/v1/assistant", json={"cloud": {"base_url": "https://93.184.215.14/v1", "api_key": "k"}},
                       headers=tenant.headers)
    assert cloud.status_code == 200 and cloud.get_json()["cloud"]["base_url"] == "https://93.184.215.14/v1"


@pytest.mark.parametrize("allow,url,ok", [
    ("127.0.0.1", "http://127.0.0.1:9/v1", True),
    ("127.0.0.1:9", "http://127.0.0.1:9/v1", True),
    ("127.0.0.1:9", "http://127.0.0.1:10/v1", False),
    ("proxy.internal, [::1]", "http://[::1]:8080", True),
    ("LOCALHOST", "https://localhost/v1", True),
    ("127.0.0.1", "http://127.0.0.1:9/v1?x=1", False),  # allowed hosts still get no query tricks
    ("127.0.0.1", "http://admin@127.0.0.1:9/", False),
    ("10.0.0.1", "http://127.0.0.1:9/v1", False),
])
def test_the_platform_admin_allows_hosts_by_setting(allow, url, ok):
    if ok:
        assert check_url(url, allow) == url.rstrip("/")
    else:
        with pytest.raises(UnsafeUrl):
            check_url(url, allow)


def test_a_host_resolving_to_any_private_address_is_refused():
    def resolve(host, port, *args):  # a name with one public and one private record (or rebinding to one)
        return [(2, 1, 6, "", ("93.184.215.14", port)), (2, 1, 6, "", ("10.0.0.7", port))]

    with pytest.raises(UnsafeUrl, match="private"):
        check_url("https://api.shop-proxy.example/v1", "", resolve=resolve)
    public = lambda host, port, *args: [(10, 1, 6, "", ("2606:2800:220:1::1", port, 0, 0))]  # noqa: E731
    assert check_url("https://api.shop-proxy.example/v1", "", resolve=public) == "https://api.shop-proxy.example/v1"


# --- a new address needs the secrets again -------------------------------------------------------------

def test_changing_api_base_needs_the_credentials_in_the_same_request(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    url = f"/api/v1/channels/{channel_id}"
    moved = client.patch(url, json={"api_base": PUBLIC}, headers=tenant.headers)
    assert moved.status_code == 422 and moved.get_json()["error"]["code"] == "credentials_required"
    partial = client.patch(url, json={"api_base": PUBLIC, "credentials": {"access_token": "EAAG-new"}},
                           headers=tenant.headers)  # the stored app secret may not ride along either
    assert partial.status_code == 422 and partial.get_json()["error"]["code"] == "missing_credentials"
    [channel] = client.get("/api/v1/channels", headers=tenant.headers).get_json()["channels"]
    assert channel["api_base"] == fake_whatsapp.base_url
    same = client.patch(url, json={"api_base": fake_whatsapp.base_url, "name": "Front desk"}, headers=tenant.headers)
    assert same.status_code == 200  # not a change of address
    full = client.patch(url, json={"api_base": PUBLIC, "credentials": CREDENTIALS["whatsapp"]}, headers=tenant.headers)
    assert full.status_code == 200 and full.get_json()["api_base"] == PUBLIC


def test_changing_the_cloud_base_url_needs_the_api_key_again(client, tenant, settings):
    settings["outbound_allow_hosts"] = "127.0.0.1"
    first = client.put("/api/v1/assistant", json={"cloud": {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-1"}},
                       headers=tenant.headers)
    assert first.status_code == 200 and first.get_json()["cloud"]["api_key_set"] is True
    moved = client.put("/api/v1/assistant", json={"cloud": {"base_url": PUBLIC}}, headers=tenant.headers)
    assert moved.status_code == 422 and moved.get_json()["error"]["code"] == "credentials_required"
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["cloud"]["base_url"] == "http://127.0.0.1:9/v1"
    again = client.put("/api/v1/assistant", json={"cloud": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}},
                       headers=tenant.headers)
    assert again.status_code == 200  # same address: the stored key may stay
    with_key = client.put("/api/v1/assistant", json={"cloud": {"base_url": PUBLIC, "api_key": "sk-2"}},
                          headers=tenant.headers)
    assert with_key.status_code == 200 and with_key.get_json()["cloud"]["base_url"] == PUBLIC


# --- a shop whose answers a model may reword (the model is used only then, see "How answers are made") ----

OPENING = "We open at 9 am and close at 6 pm, Monday to Saturday."
FAQ = f"# Questions\n\n## When do you open?\n{OPENING}\n"
QUESTIONS = ["When do you open?", "What are your opening hours?"]


def upload_faq(services, tenant_id: str) -> None:
    """Give the tenant a one-question FAQ, indexed and ready."""
    document, _ = store_upload(services.settings, tenant_id, "faq.md", FAQ.encode())
    assert process(services, document.id).status == "ready"


def with_cloud(client, services, tenant, server, documents: bool = True, **assistant) -> None:
    """The tenant's FAQ and its own cloud model at `server` (the host must be allowed when this runs)."""
    if documents:
        upload_faq(services, tenant.id)
    body = {"model": "cloud", "cloud": {"base_url": server.base, "api_key": "sk-1"}, **assistant}
    assert client.put("/api/v1/assistant", json=body, headers=tenant.headers).status_code == 200


# --- checked again when sending --------------------------------------------------------------------------

def test_an_api_base_no_longer_allowed_is_refused_at_send_time(client, tenant, fake_whatsapp, services):
    channel_id = connect(client, tenant, fake_whatsapp)
    services.settings["outbound_allow_hosts"] = ""  # the admin withdrew the permission (or the name now resolves privately)
    conversation = conversation_for(channel_id, "whatsapp")
    sent = post_json(client, f"/api/v1/conversations/{conversation.id}/messages", {"text": "Hello"}, tenant.headers)
    assert sent.status_code == 201
    [message] = client.get(f"/api/v1/conversations/{conversation.id}", headers=tenant.headers).get_json()["messages"]
    assert message["status"] == "failed" and message["error"].startswith("unsafe_api_base")
    assert fake_whatsapp.requests == []


def test_a_cloud_base_url_no_longer_allowed_is_not_called(client, tenant, services):
    server = Scripted.answering(200, {"choices": [{"message": {"content": OPENING}}], "model": "scripted"})
    services.settings["outbound_allow_hosts"] = "127.0.0.1"
    with_cloud(client, services, tenant, server)
    allowed = post_json(client, "/api/v1/assistant/test", {"text": QUESTIONS[0]}, tenant.headers).get_json()
    assert (allowed["path"], allowed["model"], len(server.requests)) == ("cloud", "scripted", 1)  # the cloud rewrites
    services.settings["outbound_allow_hosts"] = ""
    response = post_json(client, "/api/v1/assistant/test", {"text": QUESTIONS[1]}, tenant.headers)
    body = response.get_json()
    assert response.status_code == 200 and (body["path"], body["reply"]) == ("extract", OPENING)
    assert "base_url is not used" in body["rejected"] and len(server.requests) == 1
    server.close()


# --- outside texts stay outside --------------------------------------------------------------------------

SECRET_FAILURES = [
    ("whatsapp", {"status": 400, "body": {"error": {"code": 100, "message": SECRET_TEXT,
                                                    "error_data": {"details": SECRET_TEXT}}}}),
    ("whatsapp", {"status": 401, "body": {"error": {"code": 190, "message": SECRET_TEXT}}}),
    ("messenger", {"status": 403, "body": {"error": {"code": "x" + SECRET_TEXT, "message": SECRET_TEXT}}}),
    ("telegram", {"status": 401, "body": {"ok": False, "error_code": 401, "description": SECRET_TEXT}}),
    ("telegram", {"status": 400, "body": {"ok": False, "error_code": SECRET_TEXT, "description": SECRET_TEXT}}),
    ("zalo", {"status": 200, "body": {"error": -216, "message": SECRET_TEXT}}),
    ("zalo", {"status": 200, "body": {"error": -201, "message": SECRET_TEXT}}),
]


@pytest.mark.parametrize("kind,failure", SECRET_FAILURES)
def test_a_platform_error_text_never_reaches_the_api_or_healthz(kind, failure, client, tenant, fakes, services):
    fakes[kind].fail(**failure)
    channel_id = connect(client, tenant, fakes[kind])
    conversation = conversation_for(channel_id, kind)
    post_json(client, f"/api/v1/conversations/{conversation.id}/messages", {"text": "Hello"}, tenant.headers)
    seen = [client.get(f"/api/v1/conversations/{conversation.id}", headers=tenant.headers).get_data(as_text=True),
            client.get("/api/v1/channels", headers=tenant.headers).get_data(as_text=True),
            client.get("/healthz").get_data(as_text=True)]
    [message] = json.loads(seen[0])["messages"]
    assert message["status"] in ("failed", "pending") and "HTTP" in message["error"]
    assert all(SECRET_TEXT not in page for page in seen)


def test_a_telegram_webhook_refusal_text_is_not_echoed(client, tenant):
    server = Scripted.answering(400, {"ok": False, "error_code": 400, "description": SECRET_TEXT})
    allow_fakes(client)
    body = {"kind": "telegram", "credentials": CREDENTIALS["telegram"], "api_base": server.base}
    response = client.post("/api/v1/channels", json=body, headers=tenant.headers, base_url="https://shop.example")
    assert response.status_code == 201 and response.get_json()["webhook"]["registered"] is False
    assert len(server.requests) == 1
    assert SECRET_TEXT not in response.get_data(as_text=True) and "HTTP 400" in response.get_data(as_text=True)
    server.close()


def test_a_cloud_error_text_never_reaches_the_api(client, tenant, services, web_channel):
    server = Scripted.answering(400, {"error": {"message": SECRET_TEXT}})
    services.settings["outbound_allow_hosts"] = "127.0.0.1"
    with_cloud(client, services, tenant, server)
    response = post_json(client, "/api/v1/assistant/test", {"text": QUESTIONS[0]}, tenant.headers)
    body = response.get_json()
    assert response.status_code == 200 and (body["path"], len(server.requests)) == ("extract", 1)
    assert "HTTP 400" in body["rejected"] and SECRET_TEXT not in response.get_data(as_text=True)
    sent = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-cloud", "text": QUESTIONS[1]})
    assert sent.status_code == 202 and len(server.requests) == 2
    reply = Message.get((Message.tenant == tenant.id) & (Message.direction == "out"))
    seen = [client.get(f"/api/v1/conversations/{reply.conversation_id}", headers=tenant.headers).get_data(as_text=True),
            client.get("/healthz").get_data(as_text=True)]
    [bot] = [m for m in json.loads(seen[0])["messages"] if m["direction"] == "out"]
    assert bot["path"] == "extract" and "HTTP 400" in bot["rejected"]
    assert all(SECRET_TEXT not in page for page in seen)
    server.close()


def test_a_cloud_error_text_never_reaches_a_free_form_failure(client, tenant, services):
    server = Scripted.answering(400, {"error": {"message": SECRET_TEXT}})
    services.settings["outbound_allow_hosts"] = "127.0.0.1"
    # no source, free form allowed: only the cloud answers (the default local model is a base model, it does not)
    with_cloud(client, services, tenant, server, documents=False, allow_free_form=True)
    response = post_json(client, "/api/v1/assistant/test", {"text": "Tell me about yourselves."}, tenant.headers)
    assert response.status_code == 503 and len(server.requests) == 1
    assert "HTTP 400" in response.get_json()["error"]["message"] and SECRET_TEXT not in response.get_data(as_text=True)
    server.close()


# --- local_model: a file name from the models folder, never a path ---------------------------------------

@pytest.mark.parametrize("name", ["/etc/passwd", "../models/gemma-3-270m-q4_k_m.gguf", "..", "sub/x.gguf",
                                  "..\\x.gguf", "missing-model.gguf", "README.md", ".gguf", 7])
def test_local_model_accepts_only_a_gguf_in_the_models_folder(client, tenant, name):
    response = client.put("/api/v1/assistant", json={"local_model": name}, headers=tenant.headers)
    assert response.status_code == 422, response.get_json()
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["local_model"] == ""


def test_local_model_takes_a_listed_name(client, tenant, services):
    [listed, *_] = list_models(services.settings.models)
    response = client.put("/api/v1/assistant", json={"local_model": listed.name}, headers=tenant.headers)
    assert response.status_code == 200 and response.get_json()["local_model"] == listed.name


@pytest.mark.parametrize("stored", ["/etc/hostname", "../../../../etc/hostname.gguf", "models/../x.gguf"])
def test_a_stored_path_as_local_model_is_never_opened(client, tenant, services, stored):
    upload_faq(services, tenant.id)
    configure(tenant.id, local_model=stored, rewrite="always")  # a row saved before names were checked
    response = post_json(client, "/api/v1/assistant/test", {"text": QUESTIONS[0]}, tenant.headers)
    body = response.get_json()
    assert response.status_code == 200 and (body["path"], body["reply"]) == ("extract", OPENING)
    assert "not a .gguf file name" in body["rejected"]


# --- cloud settings: checked when stored, harmless when stored badly before -------------------------------

@pytest.mark.parametrize("cloud,code", [
    ({"timeout": "abc"}, "invalid_timeout"),
    ({"timeout": -1}, "invalid_timeout"),
    ({"timeout": 0}, "invalid_timeout"),
    ({"timeout": True}, "invalid_timeout"),
    ({"timeout": 10_000}, "invalid_timeout"),
    ({"base_url": 12345}, "invalid_base_url"),
    ({"base_url": ["https://93.184.215.14"]}, "invalid_base_url"),
    ({"model": 5}, "invalid_model"),
    ({"model": "m" * 201}, "invalid_model"),
    ({"api_key": {"k": 1}}, "invalid_api_key"),
    ({"organisation": "x"}, "unknown_field"),
])
def test_cloud_settings_are_checked_when_stored(client, tenant, cloud, code):
    response = client.put("/api/v1/assistant", data=json.dumps({"cloud": cloud}).replace("Infinity", "1e400"),
                          headers={**tenant.headers, "Content-Type": "application/json"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert (Tenant.get_by_id(tenant.id).assistant or {}).get("cloud") is None


def test_an_infinite_timeout_is_refused_by_the_json_reader_before_anything_is_stored(client, tenant):
    response = client.put("/api/v1/assistant", data='{"cloud": {"timeout": 1e400}}',
                          headers={**tenant.headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_number"
    assert (Tenant.get_by_id(tenant.id).assistant or {}).get("cloud") is None


def test_good_cloud_settings_are_stored(client, tenant):
    cloud = {"base_url": "https://93.184.215.14/v1", "api_key": "sk-1", "model": "gpt-small", "timeout": 12.5}
    response = client.put("/api/v1/assistant", json={"cloud": cloud}, headers=tenant.headers)
    assert response.status_code == 200
    assert response.get_json()["cloud"] == {"base_url": "https://93.184.215.14/v1", "model": "gpt-small",
                                            "timeout": 12.5, "api_key_set": True}


@pytest.mark.parametrize("bad", [{"timeout": "abc"}, {"timeout": -1}, {"timeout": float("inf")},
                                 {"timeout": [1]}, {"model": 5}])
def test_badly_stored_cloud_values_fall_back_to_the_defaults(client, tenant, services, bad, caplog):
    server = Scripted.answering(200, {"choices": [{"message": {"content": OPENING}}], "model": "scripted"})
    services.settings["outbound_allow_hosts"] = "127.0.0.1"
    with_cloud(client, services, tenant, server)
    tenant_row = Tenant.get_by_id(tenant.id)
    stored = {**tenant_row.assistant, "cloud": {**tenant_row.assistant["cloud"], **bad}}
    # as a version before values were checked stored it (json.dumps: Infinity included, which SQLite's JSON refuses)
    database.execute_sql("UPDATE tenant SET assistant = ? WHERE id = ?", (json.dumps(stored), tenant.id))
    for question in QUESTIONS:  # two questions: the second is not answered from the cache
        response = post_json(client, "/api/v1/assistant/test", {"text": question}, tenant.headers)
        body = response.get_json()
        assert response.status_code == 200 and (body["path"], body["model"]) == ("cloud", "scripted")
    assert len(server.requests) == 2
    assert len([r for r in caplog.records if "not usable" in r.getMessage()]) == 1
    server.close()


@pytest.mark.parametrize("header, seconds", [
    (None, None), ("", None), ("12", 12.0), ("0.3", 0.3), ("-5", 0.0), ("soon", None), ("nan", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: go now
])
def test_retry_after_is_read_one_way_for_platforms_and_the_cloud(header, seconds):
    assert outbound.retry_after_seconds(header) == seconds


def test_retry_after_an_http_date_in_the_future_is_the_seconds_until_then():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert 100 < outbound.retry_after_seconds(later) <= 120


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_is_never_negative(header):
    seconds = outbound.retry_after_seconds(header)
    assert seconds is None or seconds >= 0


@pytest.mark.parametrize("attempt, low, high", [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (10, 4.0, 8.0),
                                                (10_000, 4.0, 8.0)])
def test_backoff_doubles_up_to_its_cap_with_jitter(attempt, low, high):
    assert all(low <= outbound.backoff(attempt, 1.0, 8.0) <= high for _ in range(50))
