"""White-label (issue 11): a reseller's product name, logo and accent colour on the admin, login and demo pages and
in the widget's config; hostile values are refused by the settings table or escaped by the pages."""
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from appliance.app import Services, create_app
from appliance.auth import create_user
from appliance.config import ConfigError, load_settings
from tests.conftest import make_settings
from tests.test_core_admin import login
from tests.test_core_cli import run

HOSTILE_NAME = '<script>alert("brand")</script>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NO_DATA = Path("/nonexistent-unused")  # no settings.json to read
QUICK = hypothesis_settings(derandomize=True, max_examples=300, deadline=None, database=None)


def branded(services, **values):
    """The app over the same data folder with these white-label settings."""
    settings = make_settings(services.settings.data, **values)
    app = create_app(settings, Services(settings=settings, vault=services.vault, models=services.models))
    app.testing = True
    return app, settings


@pytest.mark.parametrize("name, value", [
    ("accent_colour", "red;}"), ("accent_colour", "#12345g"), ("accent_colour", "#1f6feb;background:url(x)"),
    ("accent_colour", "javascript:alert(1)"), ("accent_colour", ""),
    ("logo_file", "../secret.key"), ("logo_file", "/etc/passwd.png"), ("logo_file", "brand/../../x.png"),
    ("logo_file", "brand/logo.svg"), ("logo_file", "secret.key"),
    ("product_name", ""), ("product_name", "x" * 61), ("product_name", "Shop\nX-Injected: 1"),
])
def test_hostile_white_label_values_stop_start_up_with_a_sentence(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        make_settings(tmp_path, **{name: value})


def test_the_product_name_and_colour_show_on_the_login_admin_and_demo_pages(services, tenant, web_channel):
    app, settings = branded(services, product_name="Hoa Mai Bot", accent_colour="#E11D48", demo_channel=web_channel.id)
    client = app.test_client()
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    login_page = client.get("/admin/login").get_data(as_text=True)
    demo = client.get("/").get_data(as_text=True)
    login(client, "owner@lan.vn", "flowers-4-all")
    admin = client.get("/admin/").get_data(as_text=True)
    for page in (login_page, admin, demo):
        assert "Hoa Mai Bot" in page and "#e11d48" in page and "Appliance" not in page
    config = client.get(f"/widget/{web_channel.id}/config").get_json()
    assert config["product"] == "Hoa Mai Bot" and config["accent"] == "#e11d48" and config["logo"] is None


def test_a_hostile_product_name_is_escaped_on_every_page_and_plain_data_in_the_widget(services, tenant, web_channel):
    app, _ = branded(services, product_name=HOSTILE_NAME, demo_channel=web_channel.id)
    client = app.test_client()
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    pages = [client.get("/admin/login"), client.get("/")]
    login(client, "owner@lan.vn", "flowers-4-all")
    pages += [client.get("/admin/"), client.get(f"/admin/t/{tenant.id}/knowledge"),
              client.get("/admin/nothing", headers={"Accept": "text/html"})]
    for response in pages:
        page = response.get_data(as_text=True)
        assert HOSTILE_NAME not in page and "&lt;script&gt;alert(&#34;brand&#34;)&lt;/script&gt;" in page
    config = client.get(f"/widget/{web_channel.id}/config")
    assert config.mimetype == "application/json" and json.loads(config.data)["product"] == HOSTILE_NAME
    assert config.headers["X-Content-Type-Options"] == "nosniff"  # data, never a page; the widget shows it as text


def test_the_logo_is_served_from_the_data_folder_and_named_in_the_widget_config(services, tenant, web_channel):
    folder = services.settings.data / "brand"
    folder.mkdir()
    (folder / "logo.png").write_bytes(PNG)
    app, _ = branded(services, logo_file="brand/logo.png", public_url="https://shop.example.com")
    client = app.test_client()
    logo = client.get("/brand/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == PNG
    assert client.get(f"/widget/{web_channel.id}/config").get_json()["logo"] == "https://shop.example.com/brand/logo"
    assert 'src="https://shop.example.com/brand/logo"' in client.get("/admin/login").get_data(as_text=True)
    (folder / "logo.png").unlink()
    assert client.get("/brand/logo").status_code == 404
    assert client.get(f"/widget/{web_channel.id}/config").get_json()["logo"] is None


def test_no_customer_facing_text_names_the_appliance(client, web_channel, settings):
    settings["product_name"] = "Hoa Mai Bot"
    settings["demo_channel"] = web_channel.id
    for url in ("/admin/login", "/", f"/widget/{web_channel.id}/config"):
        assert "Appliance" not in client.get(url).get_data(as_text=True), url


def test_the_settings_command_checks_and_stores_a_white_label_value(tmp_path):
    refused = run(tmp_path, "settings", "--set", "accent_colour=red;}")
    assert refused.returncode == 2 and "hex colour" in refused.stderr
    assert not (tmp_path / "settings.json").exists()
    stored = run(tmp_path, "settings", "--set", "product_name=Hoa Mai Bot")
    assert stored.returncode == 0, stored.stderr
    assert json.loads((tmp_path / "settings.json").read_text())["product_name"] == "Hoa Mai Bot"
    assert make_settings(tmp_path).product_name == "Hoa Mai Bot"
    assert run(tmp_path, "settings", "--set", "no_such=1").returncode == 2



@QUICK
@given(st.text(max_size=40))
def test_a_colour_is_a_hex_colour_or_refused(text):
    try:
        value = load_settings({"data": NO_DATA, "accent_colour": text}, environ={}).accent_colour
    except ConfigError:
        return
    assert re.fullmatch(r"#[0-9a-f]{3}|#[0-9a-f]{6}", value)


@QUICK
@given(st.text(alphabet=st.sampled_from("ab./\\\\:~%$ .png"), max_size=30) | st.text(max_size=30))
def test_a_logo_path_stays_inside_the_data_folder_or_is_refused(tmp_path_factory, text):
    try:
        value = load_settings({"data": NO_DATA, "logo_file": text}, environ={}).logo_file
    except ConfigError:
        return
    data = tmp_path_factory.getbasetemp() / "data"
    assert value == "" or (data / value).resolve().is_relative_to(data.resolve())


@QUICK
@given(st.text(max_size=80))
def test_a_product_name_is_printable_text_or_refused(text):
    try:
        value = load_settings({"data": NO_DATA, "product_name": text}, environ={}).product_name
    except ConfigError:
        return
    assert 1 <= len(value) <= 60 and value.isprintable()
