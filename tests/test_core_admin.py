"""Admin page: login with CSRF-protected forms, tenant-scoped dashboard."""
from appliance.auth import create_user
from appliance.records import Channel
from tests.conftest import admin_login, csrf


def test_dashboard_needs_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_login_without_csrf_is_refused(client, tenant):
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    response = client.post("/admin/login", data={"email": "owner@lan.vn", "password": "flowers-4-all"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_wrong_password_explains(client, tenant):
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    response = admin_login(client, "owner@lan.vn", "nope-nope-nope")
    assert response.status_code == 401 and b"do not match" in response.data


def test_tenant_admin_sees_only_own_tenant(client, tenant, other_tenant, web_channel):
    Channel.create(tenant=other_tenant.id, kind="web", name="Other chat")
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    assert admin_login(client, "owner@lan.vn", "flowers-4-all").status_code == 302
    page = client.get("/admin/").data
    assert web_channel.id.encode() in page and b"Lan&#39;s Flower Shop" in page
    assert b"Other chat" not in page and b"Other Shop" not in page
    foreign = client.get(f"/admin/?tenant={other_tenant.id}").data
    assert b"Other chat" not in foreign


def test_platform_admin_switches_tenants(client, tenant, other_tenant):
    Channel.create(tenant=other_tenant.id, kind="telegram", name="Other bot")
    create_user("root@appliance.local", "platform-pass-1", "platform-admin", None)
    admin_login(client, "root@appliance.local", "platform-pass-1")
    page = client.get(f"/admin/?tenant={other_tenant.id}").data
    assert b"Other bot" in page and b"/webhooks/telegram/" in page


def test_the_session_cookie_is_only_read_and_written_under_admin(client, tenant, web_channel):
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    response = admin_login(client, "owner@lan.vn", "flowers-4-all")
    assert response.status_code == 302 and "appliance_session=" in response.headers["Set-Cookie"]
    assert client.get("/admin/").status_code == 200  # the cookie is honoured where it belongs
    for response in (client.get("/api/v1/channels", headers=tenant.headers), client.get("/healthz"),
                     client.post(f"/widget/{web_channel.id}/messages", json={"session": "s1", "text": "hi"})):
        assert response.status_code < 300 and "Set-Cookie" not in response.headers
    # the API does not take the admin's cookie as a login: bearer tokens only
    assert client.get("/api/v1/channels").status_code == 401
