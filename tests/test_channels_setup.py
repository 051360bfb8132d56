"""Channel set-up through the API: Telegram's setWebhook on connect, with its refusal and failure cases."""
from appliance.records import Channel
from tests.conftest import free_port
from tests.fakes import CREDENTIALS, fake_telegram  # noqa: F401  (fixture)

HTTPS = "https://shop.example"


def connect_telegram(client, tenant, api_base: str, base_url: str = HTTPS, **credentials):
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
