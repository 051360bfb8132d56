"""Error shape, bearer auth, tenant scoping, encrypted credentials, the assistant test endpoint."""
import json
import stat

import pytest

from appliance.db import database, schema_version, MIGRATIONS
from appliance.errors import AppError
from appliance.pipeline import store_events
from appliance.channels import Inbound
from appliance.pipeline import handle_event
from tests.conftest import assert_error, post_json


def test_error_shape_is_locked(client, tenant, app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret stack detail")

    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.get("/api/v1/channels"), 401, "unauthorized")
    assert_error(client.get("/api/v1/channels", headers={"Authorization": "Bearer apl_wrong"}), 401, "unauthorized")
    assert_error(client.post("/api/v1/channels", data="{", headers={**tenant.headers, "Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")

    response = client.get("/boom")
    assert_error(response, 500, "internal_error")
    assert b"secret stack detail" not in response.data


def test_app_error_carries_headers(app, client):
    @app.get("/slow-down")
    def slow():
        raise AppError(429, "rate_limited", "Too many messages; wait a minute.", {"Retry-After": "60"})

    response = client.get("/slow-down")
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "60"


def test_healthz_reports_model_and_queue(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["model"]["status"] == "ready"
    assert body["queue"]["pending_events"] == 0 and body["version"]


def test_openapi_lists_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/channels" in spec["paths"] and "/assistant/test" in spec["paths"]


def test_schema_is_at_latest_version(services):
    assert schema_version(database) == MIGRATIONS[-1][0]


SECRET = "EAAG-very-secret-access-token-123456"


def whatsapp_channel(client, tenant):
    return post_json(client, "/api/v1/channels", {
        "kind": "whatsapp", "name": "Main number",
        "credentials": {"phone_number_id": "1055", "access_token": SECRET, "app_secret": "app-secret-xyz",
                        "verify_token": "verify-me"}}, tenant.headers)


def test_credentials_are_encrypted_and_write_only(client, tenant, settings):
    response = whatsapp_channel(client, tenant)
    assert response.status_code == 201
    created = response.get_json()
    assert created["webhook_path"] == f"/webhooks/whatsapp/{created['id']}"
    assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in client.get("/api/v1/channels", headers=tenant.headers).get_data(as_text=True)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in settings.data.glob("appliance.db*"):
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and b"app-secret-xyz" not in raw
    key = settings.data / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32


@pytest.mark.parametrize("body,code", [
    ({"kind": "fax"}, "invalid_kind"),
    ({"kind": "whatsapp", "credentials": {"phone_number_id": "1"}}, "missing_credentials"),
    ({"kind": "telegram", "credentials": "token"}, "invalid_credentials"),
    ({"kind": "web", "api_base": "ftp://x"}, "invalid_api_base"),
])
def test_channel_validation(client, tenant, body, code):
    assert_error(post_json(client, "/api/v1/channels", body, tenant.headers), 422, code)


def test_cross_tenant_requests_are_refused(client, tenant, other_tenant, web_channel, services):
    [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id="s1:1", user_id="s1", text="hi")])
    handle_event(services, event_id)
    mine = client.get("/api/v1/conversations", headers=tenant.headers).get_json()["conversations"]
    assert len(mine) == 1
    conversation_id = mine[0]["id"]
    assert client.get(f"/api/v1/conversations/{conversation_id}", headers=tenant.headers).status_code == 200
    assert client.get("/api/v1/conversations", headers=other_tenant.headers).get_json()["conversations"] == []
    assert_error(client.get(f"/api/v1/conversations/{conversation_id}", headers=other_tenant.headers), 404, "not_found")
    assert_error(client.delete(f"/api/v1/channels/{web_channel.id}", headers=other_tenant.headers), 404, "not_found")
    assert client.get("/api/v1/channels", headers=other_tenant.headers).get_json()["channels"] == []


def test_platform_admin_manages_tenants_and_names_one(client, tenant, admin_headers):
    created = post_json(client, "/api/v1/tenants", {"name": "Spa Bella"}, admin_headers)
    assert created.status_code == 201 and created.get_json()["api_token"].startswith("apl_")
    assert_error(post_json(client, "/api/v1/tenants", {"name": "x"}, tenant.headers), 403, "forbidden")
    assert_error(client.get("/api/v1/channels", headers=admin_headers), 400, "tenant_required")
    scoped = client.get("/api/v1/channels", headers={**admin_headers, "X-Tenant-Id": tenant.id})
    assert scoped.status_code == 200


def test_assistant_settings_roundtrip_and_validation(client, tenant, settings):
    settings["outbound_allow_hosts"] = "127.0.0.1"  # the platform admin allows a local endpoint
    response = client.put("/api/v1/assistant", json={"persona": "You are Lan's florist helper.",
                                                     "cloud": {"base_url": "http://127.0.0.1:9", "api_key": "sk-cloud-999"}},
                          headers=tenant.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["persona"] == "You are Lan's florist helper." and body["cloud"]["api_key_set"] is True
    assert "sk-cloud-999" not in response.get_data(as_text=True)
    assert_error(client.put("/api/v1/assistant", json={"fallback": "pray"}, headers=tenant.headers), 422, "invalid_fallback")
    assert_error(client.put("/api/v1/assistant", json={"colour": "red"}, headers=tenant.headers), 422, "unknown_field")
    assert_error(client.put("/api/v1/assistant", json={"history_length": 1000}, headers=tenant.headers),
                 422, "invalid_history_length")


def test_assistant_test_endpoint_answers_with_token_counts(client, tenant, services):
    from knowledge_helpers import shop_files
    from test_knowledge_answers import configure, ingest_files

    ingest_files(services, tenant.id, shop_files())
    configure(tenant.id, rewrite="always")  # the local model rewords the composed answer: tokens are spent
    response = post_json(client, "/api/v1/assistant/test", {"text": "When do you open?"}, tenant.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["reply"] and body["model"] == "gemma-3-270m-q4_k_m.gguf"
    assert body["tokens"]["prompt"] > 10 and body["tokens"]["completion"] > 0 and body["latency_ms"] >= 0
    assert body["sources"][0]["document"] == "faq.md" and (body["path"] == "model") == (body["rejected"] is None)
    assert_error(post_json(client, "/api/v1/assistant/test", {"text": ""}, tenant.headers), 422, "invalid_text")


def test_metrics_count_messages_and_tokens(client, web_channel, services):
    from knowledge_helpers import shop_files
    from test_knowledge_answers import configure, ingest_files

    ingest_files(services, web_channel.tenant_id, shop_files())
    configure(web_channel.tenant_id, rewrite="always")  # the local model rewords the answer: tokens are spent
    [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id="m:1", user_id="m",
                                                    text="When do you open?")])
    handle_event(services, event_id)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'appliance_inbound_events{status="done"} 1.0' in text
    assert 'appliance_messages_total{direction="out",status="sent"} 1.0' in text
    assert 'appliance_model_tokens_total{kind="completion",provider="local"}' in text
    assert "appliance_model_ready 1.0" in text
