"""Issue 8 (Low list, login half of 7): login limits, sessions that logout ends, security headers, masked bot
tokens, a private data folder, and `appliance token create`."""
import json
import logging
import re
import stat
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest

from appliance.app import Services, create_app
from appliance.auth import check_login, create_user
from appliance.channels import Outbound, telegram
from appliance.channels.platform import Http
from appliance.cli import configure_logging
from appliance.records import Channel
from tests.conftest import admin_login, assert_page_policies, csrf, make_settings, run_cli, wait_until
from tests.fakes import CREDENTIALS, FakePlatform

PASSWORD = "flowers-4-all"


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", login_failures_per_account=3, login_failures_per_address=6)


@pytest.fixture
def owner(tenant):
    return create_user("owner@lan.vn", PASSWORD, "tenant-admin", tenant.tenant)


def app_with(services, **overrides):
    """The app over the same data folder with other settings."""
    settings = make_settings(services.settings.data, **overrides)
    return create_app(settings, Services(settings=settings, vault=services.vault, models=services.models))


def from_address(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# --- login rate limits -----------------------------------------------------------------------------------

def test_wrong_passwords_for_one_account_lock_it_even_for_the_right_password(app, client, owner):
    for _ in range(3):
        assert admin_login(client, "owner@lan.vn", "wrong-password").status_code == 401
    refused = admin_login(client, "Owner@Lan.vn", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json["error"]["code"] == "rate_limited" and "wait" in refused.json["error"]["message"]
    assert client.get("/admin/").status_code == 302
    # the limit is the account's: from another address it is locked too
    assert admin_login(from_address(app, "10.0.0.2"), "owner@lan.vn", PASSWORD).status_code == 429


def test_a_success_clears_the_accounts_failures(client, owner):
    for _ in range(2):
        assert admin_login(client, "owner@lan.vn", "wrong-password").status_code == 401
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302
    for _ in range(2):  # 4 failures in the window, but only 2 since the success
        assert admin_login(client, "owner@lan.vn", "wrong-password").status_code == 401
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_is_limited(app, client, owner):
    for n in range(6):
        assert admin_login(client, f"guess{n}@lan.vn", "wrong-password").status_code == 401
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 429
    assert admin_login(from_address(app, "10.0.0.2"), "owner@lan.vn", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_window(services, owner):
    client = app_with(services, login_failures_per_account=1, login_window_seconds=1).test_client()
    assert admin_login(client, "owner@lan.vn", "wrong-password").status_code == 401
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 429
    wait_until(lambda: admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302, seconds=10, every=0.2)


def test_unknown_and_known_emails_cost_the_same_password_check(owner):
    def seconds(email):
        start = time.perf_counter()
        assert check_login(email, "wrong-password") is None
        return time.perf_counter() - start

    check_login("warm-up@lan.vn", "x")
    known = sorted(seconds("owner@lan.vn") for _ in range(5))[2]
    unknown = sorted(seconds(f"nobody{n}@lan.vn") for n in range(5))[2]
    assert unknown > known * 0.5, (known, unknown)  # without the dummy hash an unknown e-mail answers ~50x faster


# --- password hashes ------------------------------------------------------------------------------------------

def legacy_hash(password: str) -> str:
    """A hash as versions before werkzeug stored it: hashlib.scrypt n=2**14, r=8, p=1, 'scrypt$salt$digest'."""
    import base64
    import hashlib
    import os

    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def stored_hash(email: str) -> str:
    from appliance.records import User

    return User.get(User.email == email).password_hash


def test_new_passwords_are_werkzeug_hashes_with_their_parameters_stored(owner):
    assert stored_hash("owner@lan.vn").startswith("scrypt:32768:8:1$")
    assert check_login("owner@lan.vn", PASSWORD) is not None and check_login("owner@lan.vn", "wrong") is None


def test_an_older_hash_still_signs_in_and_is_rehashed_at_that_login(client, owner):
    from appliance.records import User

    old = legacy_hash(PASSWORD)
    User.set_password_hash(owner.id, old)
    assert admin_login(client, "owner@lan.vn", "wrong-password").status_code == 401
    assert stored_hash("owner@lan.vn") == old  # a failed login changes nothing
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302
    assert stored_hash("owner@lan.vn").startswith("scrypt:32768:8:1$")
    assert client.get("/admin/").status_code == 200  # the re-hash does not end the session it started
    assert check_login("owner@lan.vn", PASSWORD) is not None


# --- sessions ----------------------------------------------------------------------------------------------

def copy_of(app, client):
    other = app.test_client()
    other.set_cookie("appliance_session", client.get_cookie("appliance_session").value)
    return other


def test_logout_ends_every_copy_of_the_session(app, client, owner):
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302
    stolen = copy_of(app, client)
    elsewhere = app.test_client()
    assert admin_login(elsewhere, "owner@lan.vn", PASSWORD).status_code == 302
    assert stolen.get("/admin/").status_code == 200
    page = client.get("/admin/").data
    assert client.post("/admin/logout", data={"csrf": csrf(page)}).status_code == 302
    for old in (client, stolen, elsewhere):
        response = old.get("/admin/")
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302 and client.get("/admin/").status_code == 200


def test_a_session_expires_after_its_lifetime(services, owner):
    client = app_with(services, admin_session_hours=0.001).test_client()  # 3.6 s
    response = admin_login(client, "owner@lan.vn", PASSWORD)
    assert "Expires=" in response.headers["Set-Cookie"]
    # using the page does not extend a login: it ends 3.6 s after signing in
    wait_until(lambda: client.get("/admin/").status_code == 302, seconds=15, every=0.2)


def test_the_cookie_expires_after_admin_session_hours(client, owner):
    cookie = admin_login(client, "owner@lan.vn", PASSWORD).headers["Set-Cookie"]
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    hours = (expires - datetime.now(timezone.utc)).total_seconds() / 3600
    assert 11.9 < hours <= 12.0 and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("public_url, base_url, secure", [
    ("", "http://localhost", False),
    ("https://shop.example", "http://localhost", True),  # TLS ends at a proxy in front of the appliance
    ("", "https://localhost", True),
])
def test_the_cookie_is_secure_when_served_over_https(services, owner, public_url, base_url, secure):
    client = app_with(services, public_url=public_url).test_client()
    token = csrf(client.get("/admin/login", base_url=base_url).data)
    response = client.post("/admin/login", base_url=base_url,
                           data={"email": "owner@lan.vn", "password": PASSWORD, "csrf": token})
    assert response.status_code == 302
    assert ("; Secure" in response.headers["Set-Cookie"]) is secure


# --- security headers --------------------------------------------------------------------------------------

def test_every_html_page_carries_the_security_headers_and_no_inline_script(client, settings, tenant, other_tenant,
                                                                         web_channel):
    settings["demo_channel"] = web_channel.id  # what `appliance init` records: the demo page shows this channel
    create_user("root@lan.vn", PASSWORD, "platform-admin", None)
    assert_page_policies(client.get("/admin/login"))
    assert_page_policies(client.get("/"))
    admin_login(client, "root@lan.vn", PASSWORD)
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and b"data-autosubmit" in dashboard.data  # two tenants: the switcher shows
    assert_page_policies(dashboard)
    missing = client.get("/admin/nothing-here", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert_page_policies(missing)
    script = client.get("/admin/admin.js")
    assert script.status_code == 200 and script.mimetype == "application/javascript" and b"autosubmit" in script.data


def test_other_responses_get_nosniff_and_the_widget_stays_embeddable(client, tenant, web_channel):
    widget = client.get(f"/widget/{web_channel.id}.js")
    assert widget.status_code == 200 and widget.headers["X-Content-Type-Options"] == "nosniff"
    assert widget.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Frame-Options" not in widget.headers and "Content-Security-Policy" not in widget.headers
    for response in (client.get("/healthz"), client.get("/api/v1/channels", headers=tenant.headers),
                     client.get("/api/v1/channels")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- bot tokens in logs ------------------------------------------------------------------------------------

def test_the_bot_token_never_reaches_the_log_even_at_debug(caplog):
    configure_logging()  # what `appliance serve` and every command do at start
    caplog.set_level(logging.DEBUG)
    fake = FakePlatform("telegram")
    try:
        telegram.send(Outbound(to="4242", text="hello"), CREDENTIALS["telegram"], fake.base_url, Http(5.0))
    finally:
        fake.close()
    assert fake.delivered  # the request really went out with the token in its path
    urls = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3") and "sendMessage" in r.getMessage()]
    assert urls and all("/bot123456:***/sendMessage" in line for line in urls)
    secret = CREDENTIALS["telegram"]["bot_token"].split(":")[1]
    assert secret not in caplog.text


# --- data folder modes -------------------------------------------------------------------------------------

def modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_the_data_folder_and_its_files_are_the_owners_only(tmp_path):
    data = tmp_path / "data"
    assert run_cli(data, "init").returncode == 0
    assert run_cli(data, "models", "use", "gemma-3-270m-q4_k_m.gguf").returncode == 0
    found = modes(data)
    assert {"appliance.db", "secret.key", "first-login.txt", "settings.json"} <= set(found)
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != (0o700 if (data / name).is_dir() else 0o600)}
    assert not wrong


def test_doctor_reports_an_open_data_folder_and_start_up_closes_it(tmp_path):
    data = tmp_path / "data"
    assert run_cli(data, "tenant", "create", "Shop").returncode == 0
    data.chmod(0o755)
    assert re.search(r"PROBLEM\s+data folder: .*chmod 700", run_cli(data, "doctor").stdout)
    assert run_cli(data, "tenant", "create", "Shop 2").returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert re.search(r"ok\s+data folder", run_cli(data, "doctor").stdout)


# --- appliance token create --------------------------------------------------------------------------------

def token_create(settings, *args):
    done = run_cli(settings.data, "token", "create", *args)
    assert "Traceback" not in done.stderr
    return done


def test_token_create_makes_working_tokens_for_each_role(client, settings, tenant):
    agent = json.loads(token_create(settings, "--tenant", tenant.id, "--role", "agent", "--json").stdout)
    assert agent["api_token"].startswith("apl_") and agent == {**agent, "role": "agent", "tenant_id": tenant.id}
    headers = {"Authorization": f"Bearer {agent['api_token']}"}
    assert client.get("/api/v1/channels", headers=headers).status_code == 200
    assert client.post("/api/v1/channels", json={"kind": "web"}, headers=headers).status_code == 403

    admin = json.loads(token_create(settings, "--tenant", tenant.id, "--role", "tenant-admin", "--json").stdout)
    made = client.post("/api/v1/channels", json={"kind": "web", "name": "Made by token"},
                       headers={"Authorization": f"Bearer {admin['api_token']}"})
    assert made.status_code == 201 and Channel.get_by_id(made.json["id"]).tenant_id == tenant.id

    platform = token_create(settings, "--role", "platform-admin")
    assert platform.returncode == 0 and "platform-admin" in platform.stdout
    token = re.search(r"apl_\S+", platform.stdout).group(0)
    tenants = client.get("/api/v1/tenants", headers={"Authorization": f"Bearer {token}"})
    assert tenants.status_code == 200 and tenant.id in [t["id"] for t in tenants.json["tenants"]]
    assert client.get("/api/v1/tenants", headers=headers).status_code == 403


@pytest.mark.parametrize("args, needle, code", [
    (("--role", "agent"), "pass --tenant", 1),
    (("--role", "tenant-admin"), "pass --tenant", 1),
    (("--role", "platform-admin", "--tenant", "TENANT"), "leave out --tenant", 1),
    (("--role", "agent", "--tenant", "t_missing"), "No tenant with id t_missing", 1),
    (("--role", "owner", "--tenant", "TENANT"), "invalid choice", 2),  # argparse's own usage error
])
def test_token_create_refuses_bad_input_with_a_sentence(settings, tenant, args, needle, code):
    done = token_create(settings, *[tenant.id if a == "TENANT" else a for a in args])
    assert done.returncode == code and needle in done.stderr and "apl_" not in done.stdout


def test_migration_3_adds_the_session_version_to_an_older_database(tmp_path):
    from appliance.db import database, open_database, schema_version
    from appliance.records import User

    path = tmp_path / "old.db"
    open_database(path)
    create_user("old@lan.vn", PASSWORD, "platform-admin", None)
    database.execute_sql('ALTER TABLE "user" DROP COLUMN "session_version"')  # as a version 2 file had it
    database.execute_sql("PRAGMA user_version = 2")
    open_database(path)
    try:
        assert schema_version(database) >= 3
        user = check_login("old@lan.vn", PASSWORD)
        assert user is not None and user.session_version == 0
        User.end_sessions(user.id)
        assert User.get_by_id(user.id).session_version == 1
    finally:
        database.close()


def test_logout_without_the_csrf_token_is_refused_and_the_session_stays(client, owner):
    assert admin_login(client, "owner@lan.vn", PASSWORD).status_code == 302
    for form in ({}, {"csrf": "forged"}):
        refused = client.post("/admin/logout", data=form)
        assert refused.status_code == 400
        assert client.get("/admin/").status_code == 200  # still signed in: a cross-site form cannot sign anyone out
    page = client.get("/admin/").data
    assert client.post("/admin/logout", data={"csrf": csrf(page)}).status_code == 302
    assert client.get("/admin/").status_code == 302
