"""The public widget under attack: hostile channel names, the demo page across tenants, stream caps, floods."""
import json
import shutil
import socket
import threading
import time
from importlib.resources import files

import pytest
import requests

from appliance.auth import create_tenant
from appliance.config import load_settings
from appliance.records import Channel, Message
from tests.conftest import make_settings, post_json, read_events, run_cli, serve, wait_until
from tests.fakes import connect, fake_whatsapp, sample, signed_headers  # noqa: F401  (fixture)

EVIL = '";fetch("//evil");//</script><script>alert(1)</script>'
STATIC_SCRIPT = files("appliance.web").joinpath("static/widget.js").read_bytes()


def make_web_channel(client, tenant, name):
    response = client.post("/api/v1/channels", json={"kind": "web", "name": name}, headers=tenant.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_script_is_the_same_static_file_for_every_channel_and_never_holds_its_name(client, tenant, web_channel):
    evil_id = make_web_channel(client, tenant, EVIL)
    renamed = client.patch(f"/api/v1/channels/{web_channel.id}", json={"name": EVIL}, headers=tenant.headers)
    assert renamed.status_code == 200
    for channel_id in (evil_id, web_channel.id):
        script = client.get(f"/widget/{channel_id}.js")
        assert script.status_code == 200 and script.data == STATIC_SCRIPT
        assert b"evil" not in script.data and b"alert" not in script.data and channel_id.encode() not in script.data
        assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert b"innerHTML" not in STATIC_SCRIPT  # the bubble shows text only through textContent


def test_config_gives_the_name_json_encoded(client, tenant):
    channel_id = make_web_channel(client, tenant, EVIL)
    response = client.get(f"/widget/{channel_id}/config")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["title"] == EVIL and response.get_json()["channel"] == channel_id
    assert EVIL.encode() not in response.data  # quotes are escaped by JSON
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/widget/ch_nope/config").status_code == 404


@pytest.fixture
def demo(services, settings):
    """The demo shop as `appliance init` makes it, made after another tenant's web channel (so it is not the oldest)."""
    other, _ = create_tenant("Rival Shop")
    older = Channel.create(tenant=other, kind="web", name=EVIL)
    tenant, token = create_tenant("Demo shop")
    channel = Channel.create(tenant=tenant, kind="web", name="Demo shop chat")
    settings["demo_channel"] = channel.id
    return {"channel": channel, "older": older, "headers": {"Authorization": f"Bearer {token}"}}


def test_demo_page_shows_only_the_demo_channel_and_404s_once_it_is_deleted(client, demo):
    for path in ("/", "/demo"):
        page = client.get(path)
        assert page.status_code == 200 and f"/widget/{demo['channel'].id}.js".encode() in page.data
        assert demo["older"].id.encode() not in page.data and b"Rival" not in page.data and b"evil" not in page.data
        assert b"Demo shop" in page.data and page.headers["X-Content-Type-Options"] == "nosniff"
    deleted = client.delete(f"/api/v1/channels/{demo['channel'].id}", headers=demo["headers"])
    assert deleted.status_code == 204
    for path in ("/", "/demo"):
        gone = client.get(path)
        assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "no_demo"
        assert b"Demo shop" not in gone.data and b"Rival" not in gone.data and demo["older"].id.encode() not in gone.data


def test_demo_page_is_404_without_a_demo_channel(client, web_channel):
    response = client.get("/")
    assert response.status_code == 404 and web_channel.id.encode() not in response.data
    assert b"Shop" not in response.data


def test_init_records_the_demo_channel(tmp_path):
    assert run_cli(tmp_path, "init").returncode == 0
    import sqlite3

    rows = sqlite3.connect(tmp_path / "appliance.db").execute("select id from channel where kind = 'web'").fetchall()
    assert load_settings({"data": tmp_path}, environ={}).demo_channel == rows[0][0]


# --- input checks shared by the stream and the POST ---------------------------------------------------------

@pytest.mark.parametrize("session,code", [
    ("", "missing_session"), ("   ", "missing_session"), ("a b", "invalid_session"), ("x" * 129, "invalid_session"),
    ("caf\u00e9", "invalid_session"), ("\u0661\u0662", "invalid_session"), ("s1\n", "invalid_session"),
])
def test_session_is_checked_the_same_for_stream_and_post(client, web_channel, session, code):
    stream = client.get(f"/widget/{web_channel.id}/events", query_string={"session": session})
    posted = post_json(client, f"/widget/{web_channel.id}/messages", {"session": session, "text": "hi"})
    for response in (stream, posted):
        assert response.status_code == 422 and response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("mark", ["-1", "abc", "1e3", " 1", "+5", "1_0", "\u0661\u0662", str(2**63), "9" * 40])
@pytest.mark.parametrize("where", ["since", "Last-Event-ID"])
def test_resume_point_must_be_a_message_id(client, web_channel, mark, where):
    args = {"query_string": {"session": "s1", "since": mark}} if where == "since" else \
        {"query_string": {"session": "s1"}, "headers": {"Last-Event-ID": mark}}
    response = client.get(f"/widget/{web_channel.id}/events", **args)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_since"


def test_largest_message_id_is_accepted(client, web_channel):
    response = client.get(f"/widget/{web_channel.id}/events", query_string={"session": "s1", "since": str(2**63 - 1)},
                          buffered=False)
    assert response.status_code == 200
    response.close()


# --- stream caps (test client: one app, addresses set per request) -----------------------------------------

@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", widget_streams_per_address=2, widget_streams_per_channel=3)


def open_stream(client, channel_id, address, session="s1"):
    return client.get(f"/widget/{channel_id}/events", query_string={"session": session}, buffered=False,
                      environ_base={"REMOTE_ADDR": address})


def assert_refused(response):
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1 and response.get_json()["error"]["message"].endswith(".")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_streams_are_capped_per_address_and_per_channel_and_freed_on_close(client, tenant, web_channel):
    first, second = open_stream(client, web_channel.id, "10.0.0.1"), open_stream(client, web_channel.id, "10.0.0.1")
    assert first.status_code == 200 and second.status_code == 200
    assert_refused(open_stream(client, web_channel.id, "10.0.0.1"))  # third from one address
    third = open_stream(client, web_channel.id, "10.0.0.2")
    assert third.status_code == 200
    assert_refused(open_stream(client, web_channel.id, "10.0.0.3"))  # fourth on one channel
    other = open_stream(client, make_web_channel(client, tenant, "second chat"), "10.0.0.3")
    assert other.status_code == 200  # another channel is not held up
    first.close()
    again = open_stream(client, web_channel.id, "10.0.0.1")
    assert again.status_code == 200
    for response in (second, third, other, again):
        response.close()


def test_total_stream_cap_defaults_to_half_the_threads(settings, services):
    from appliance.app import create_app

    settings.update(http_threads=6, widget_streams_per_channel=50)  # widget_streams stays 0: half of 6
    client = create_app(settings, services).test_client()
    channel = Channel.create(tenant=create_tenant("Cap Shop")[0], kind="web", name="chat")
    held = [open_stream(client, channel.id, f"10.3.0.{i}") for i in range(3)]
    assert [r.status_code for r in held] == [200, 200, 200]
    assert_refused(open_stream(client, channel.id, "10.3.0.9"))
    for response in held:
        response.close()


def test_stream_cap_must_leave_threads_for_webhooks(tmp_path):
    from appliance.config import ConfigError

    with pytest.raises(ConfigError, match="http_threads - 2"):
        load_settings({"data": tmp_path, "http_threads": 10, "widget_streams": 9}, environ={})


# --- message floods ------------------------------------------------------------------------------------------

def post_from(client, channel_id, address, session, text="Hello", message_id="m1"):
    return client.post(f"/widget/{channel_id}/messages", json={"session": session, "text": text, "id": message_id},
                       environ_base={"REMOTE_ADDR": address})


def test_one_session_is_limited_to_ten_messages_in_ten_seconds(client, web_channel):
    # the same id each time: stored once, answered once, but every POST counts
    statuses = [post_from(client, web_channel.id, "10.1.0.1", "flood").status_code for _ in range(10)]
    assert statuses == [202] * 10
    refused = post_from(client, web_channel.id, "10.1.0.1", "flood")
    assert_refused(refused)
    assert int(refused.headers["Retry-After"]) <= 10
    assert post_from(client, web_channel.id, "10.1.0.1", "calm").status_code == 202


def test_one_address_is_limited_to_thirty_messages_a_minute(client, web_channel):
    for session in ("a1", "a2", "a3"):
        assert [post_from(client, web_channel.id, "10.2.0.1", session).status_code for _ in range(10)] == [202] * 10
    refused = post_from(client, web_channel.id, "10.2.0.1", "a4")
    assert_refused(refused)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert post_from(client, web_channel.id, "10.2.0.2", "a4").status_code == 202
    assert Message.select().where(Message.direction == "in").count() == 4


# --- under real waitress: streams never take the threads webhooks need ---------------------------------------

THREADS = 6


@pytest.fixture
def small_server(services, settings):
    """The app under waitress with few threads; streams capped at half of them."""
    import waitress

    from appliance.app import create_app

    settings.update(widget_streams=THREADS // 2, widget_streams_per_address=50, widget_streams_per_channel=50)
    app = create_app(settings, services)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=THREADS)
    threading.Thread(target=serve, args=(server,), daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}", app
    services.streams.close()  # what SIGTERM does: every open stream ends now
    server.close()


def raw_stream(base, channel_id, session):
    """Open a stream on its own socket; (status line, headers text, socket)."""
    host, port = base.rsplit("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"GET /widget/{channel_id}/events?session={session} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before headers"
        head += chunk
    text = head.decode("latin-1")
    return text.split("\r\n", 1)[0], text, sock


def test_more_streams_than_threads_are_refused_while_webhooks_are_served(small_server, services, tenant, web_channel,
                                                                        fake_whatsapp):
    base, app = small_server
    channel_id = connect(app.test_client(), tenant, fake_whatsapp)
    opened = [raw_stream(base, web_channel.id, f"s{i}") for i in range(THREADS + 2)]
    statuses = [status.split(" ")[1] for status, _, _ in opened]
    assert statuses == ["200"] * (THREADS // 2) + ["429"] * (THREADS // 2 + 2)
    assert all("Retry-After: " in head for status, head, _ in opened if " 429 " in status)
    raw = sample("whatsapp", "text.json")
    for _ in range(5):
        started = time.monotonic()
        response = requests.post(f"{base}/webhooks/whatsapp/{channel_id}", data=raw,
                                 headers=signed_headers("whatsapp", raw), timeout=30)
        assert response.status_code == 200 and time.monotonic() - started < 30
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert " 429 " in raw_stream(base, web_channel.id, "late")[0]  # the first streams are still held
    fake_whatsapp.wait_for(1)
    services.streams.close()  # the held streams end, their slots come back
    for _, _, sock in opened:
        sock.close()
    wait_until(lambda: app.extensions["widget_limits"].streams.used == 0, 30)


def test_stream_ends_after_its_time_and_resumes_with_last_event_id(small_server, settings, client, web_channel):
    base, _ = small_server
    settings["widget_stream_seconds"] = 1.0
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "r1", "text": "Are you open today?"})
    started = time.monotonic()
    first = requests.get(f"{base}/widget/{web_channel.id}/events", params={"session": "r1"}, stream=True, timeout=30)
    lines = list(first.iter_lines(decode_unicode=True))  # ends by itself
    assert time.monotonic() - started < 10
    seen = [json.loads(line[6:])["id"] for line in lines if line.startswith("data: ")]
    assert len(seen) == 1
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "r1", "text": "Do you deliver?"})
    missed = Message.select().where(Message.direction == "out").order_by(Message.id.desc()).get()
    resumed = requests.get(f"{base}/widget/{web_channel.id}/events", params={"session": "r1"},
                           headers={"Last-Event-ID": str(seen[0])}, stream=True, timeout=30)
    events = read_events(resumed.iter_lines(decode_unicode=True))
    resumed.close()
    assert [e["data"]["id"] for e in events if e["event"] == "message"] == [missed.id]


# --- the bubble in a real browser: refused, it comes back by itself and gets the reply it missed -------------

@pytest.mark.skipif(not shutil.which("chromedriver"), reason="test.sh installs chromium and chromium-driver")
def test_bubble_reconnects_after_a_refused_stream_and_gets_the_missed_reply(browser, live_server, services, settings,
                                                                             web_channel):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    settings.update(demo_channel=web_channel.id, widget_streams_per_address=1)
    holder = requests.get(f"{live_server}/widget/{web_channel.id}/events", params={"session": "holder"}, stream=True,
                          timeout=30)  # takes this address's only stream
    assert holder.status_code == 200
    browser.get(live_server + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".apl-bubble"))).click()
    attempts = ("return performance.getEntriesByType('resource').filter(function (e) {"
                " return e.name.indexOf('/events?') >= 0; }).length;")
    wait.until(lambda driver: driver.execute_script(attempts) >= 2)  # refused, and it tried again by itself
    refusals = [e["message"] for e in browser.get_log("browser") if "/events?" in e["message"]]
    assert refusals and all("429" in message for message in refusals)
    box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".apl-form input")))
    box.send_keys("Hello! Do you have red roses?")
    browser.find_element(By.CSS_SELECTOR, ".apl-form button").click()
    reply = wait_until(lambda: Message.get_or_none(Message.direction == "out"))
    services.streams.close()  # every open stream ends (the holder too): the bubble reconnects and resumes
    shown = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".apl-bot[data-message-id]")))
    assert int(shown.get_attribute("data-message-id")) == reply.id and shown.text.startswith(reply.text)
    holder.close()
