"""Channel set-up through the API: Telegram's setWebhook on connect (refused, failing, no https) and PATCH."""
import json

from appliance.records import Channel, Conversation
from tests.conftest import conversation_for, free_port, fresh, queue_reply
from tests.fakes import CREDENTIALS, allow_fakes, connect, fake_telegram, fake_whatsapp  # noqa: F401  (fixtures)

HTTPS = "https://shop.example"


def connect_telegram(client, tenant, api_base: str, base_url: str = HTTPS, **credentials):
    allow_fakes(client)
    body = {"kind": "telegram", "name": "bot", "credentials": {**CREDENTIALS["telegram"], **credentials},
            "api_base": api_base}
    return client.post("/api/v1/channels", json=body, headers=tenant.headers, base_url=base_url)


def test_connecting_telegram_registers_the_webhook_with_the_secret_token(client, tenant, fake_telegram):
    response = connect_telegram(client, tenant, fake_telegram.base_url)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["webhook"] == {"registered": True}
    assert created["webhook_url"] == f"{HTTPS}/webhooks/telegram/{created['id']}"
    [call] = fake_telegram.requests
    assert call.path == f"/bot{CREDENTIALS['telegram']['bot_token']}/setWebhook"
    assert call.body == {"url": created["webhook_url"], "secret_token": CREDENTIALS["telegram"]["secret_token"],
                         "allowed_updates": ["message", "callback_query", "my_chat_member", "message_reaction"]}
    assert fake_telegram.problems == []


def test_a_refused_bot_token_is_422_and_nothing_is_saved(client, tenant, fake_telegram):
    response = connect_telegram(client, tenant, fake_telegram.base_url, bot_token="999:wrong")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_credentials"
    assert "BotFather" in response.get_json()["error"]["message"]
    assert Channel.select().count() == 0


def test_without_https_or_when_telegram_is_down_the_channel_is_saved_and_says_why(client, tenant, fake_telegram):
    plain = connect_telegram(client, tenant, fake_telegram.base_url, base_url="http://127.0.0.1:8080")
    assert plain.status_code == 201
    assert plain.get_json()["webhook"]["registered"] is False and "public_url" in plain.get_json()["webhook"]["reason"]
    assert fake_telegram.requests == []  # Telegram refuses http URLs: we do not even ask

    down = connect_telegram(client, tenant, f"http://127.0.0.1:{free_port()}")
    assert down.status_code == 201
    assert down.get_json()["webhook"]["registered"] is False and "could not reach" in down.get_json()["webhook"]["reason"]
    assert Channel.select().where(Channel.kind == "telegram").count() == 2


def test_a_malformed_telegram_secret_token_is_refused(client, tenant, fake_telegram):
    response = connect_telegram(client, tenant, fake_telegram.base_url, secret_token="has spaces & symbols")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_credentials"
    assert fake_telegram.requests == [] and Channel.select().count() == 0


# --- PATCH /channels/<id>: a new token without a new webhook URL ------------------------------------------

def test_a_new_token_brings_a_channel_needing_attention_back_and_keeps_the_rest(client, tenant, fake_whatsapp, services):

    fake_whatsapp.fail(status=401, body={"error": {"code": 190, "message": "Session has expired"}})
    channel_id = connect(client, tenant, fake_whatsapp)
    queue_reply(services, conversation_for(channel_id, "whatsapp"))
    assert Channel.get_by_id(channel_id).status == "needs_attention"

    fake_whatsapp.credentials["access_token"] = "EAAG-new-token"
    response = client.patch(f"/api/v1/channels/{channel_id}", json={"credentials": {"access_token": "EAAG-new-token"}},
                            headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "active" and body["status_reason"] is None and body["id"] == channel_id
    assert "EAAG-new-token" not in json.dumps(body) and "EAAG-new-token" not in Channel.get_by_id(channel_id).credentials
    later = queue_reply(services, Conversation.get(Conversation.channel == channel_id))
    assert fresh(later).status == "sent"  # phone_number_id and the rest were kept
    assert fake_whatsapp.sends[-1].headers["Authorization"] == "Bearer EAAG-new-token"
    assert fake_whatsapp.problems == []


def test_patch_renames_and_validates(client, tenant, other_tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    url = f"/api/v1/channels/{channel_id}"
    renamed = client.patch(url, json={"name": "Front desk"}, headers=tenant.headers)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Front desk"
    cases = [
        ({"credentials": {"access_token": ""}}, 422, "missing_credentials"),
        ({"credentials": {"app_secret": None}}, 422, "missing_credentials"),
        ({"credentials": "token"}, 422, "invalid_credentials"),
        ({"kind": "telegram"}, 422, "unknown_field"),
        ({"api_base": "ftp://x"}, 422, "invalid_api_base"),
        ({"name": ""}, 422, None),
    ]
    for body, status, code in cases:
        response = client.patch(url, json=body, headers=tenant.headers)
        assert response.status_code == status, (body, response.get_json())
        assert code is None or response.get_json()["error"]["code"] == code
    assert client.patch(url, data="{", headers={**tenant.headers, "Content-Type": "application/json"}).status_code == 400
    assert client.patch(url, json={"name": "x"}, headers=other_tenant.headers).status_code == 404
    assert client.patch(url, json={"name": "x"}).status_code == 401
    client.delete(url, headers=tenant.headers)
    assert client.patch(url, json={"name": "x"}, headers=tenant.headers).status_code == 404
    assert Channel.get_by_id(channel_id).name == "Front desk"


def test_patching_telegram_credentials_registers_the_webhook_again(client, tenant, fake_telegram):
    created = connect_telegram(client, tenant, fake_telegram.base_url).get_json()
    fake_telegram.credentials["secret_token"] = "rotated-secret"
    response = client.patch(f"/api/v1/channels/{created['id']}", json={"credentials": {"secret_token": "rotated-secret"}},
                            headers=tenant.headers, base_url=HTTPS)
    assert response.status_code == 200 and response.get_json()["webhook"] == {"registered": True}
    assert [r.body["secret_token"] for r in fake_telegram.requests] == ["tg-secret-token", "rotated-secret"]
    refused = client.patch(f"/api/v1/channels/{created['id']}", json={"credentials": {"bot_token": "1:bad"}},
                           headers=tenant.headers, base_url=HTTPS)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "invalid_credentials"


def test_disconnecting_telegram_deletes_its_webhook_even_when_telegram_is_down(client, tenant, fake_telegram):
    channel_id = connect_telegram(client, tenant, fake_telegram.base_url).get_json()["id"]
    assert client.delete(f"/api/v1/channels/{channel_id}", headers=tenant.headers).status_code == 204
    assert fake_telegram.requests[-1].path == f"/bot{CREDENTIALS['telegram']['bot_token']}/deleteWebhook"
    assert fake_telegram.problems == []
    assert client.delete(f"/api/v1/channels/{channel_id}", headers=tenant.headers).status_code == 204  # once is enough
    assert len([r for r in fake_telegram.requests if r.path.endswith("/deleteWebhook")]) == 1

    down = connect_telegram(client, tenant, f"http://127.0.0.1:{free_port()}").get_json()["id"]
    assert client.delete(f"/api/v1/channels/{down}", headers=tenant.headers).status_code == 204
    assert Channel.get_by_id(down).deleted and Channel.get_by_id(down).credentials is None
