"""The admin console in English and Vietnamese: no template text outside `_()`, every message translated, the
language chosen per user (default: the browser's), dates, numbers and money in the reader's locale."""
import ast
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from appliance.auth import create_user
from appliance.records import User
from appliance.web import i18n
from tests.test_core_admin import csrf, login

WEB = Path(__file__).resolve().parent.parent / "appliance" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
MARK = "\0"  # stands for a Jinja expression or tag: its output is data or a translation, not a literal
LETTER = re.compile(r"[^\W\d_]")
VISIBLE_ATTRIBUTES = ("placeholder", "title", "alt", "aria-label")


class Literals(HTMLParser):
    """Text a reader would see that is written in the template itself (not inside code or pre, not a style)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.skipping = [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("code", "pre", "style", "script"):
            self.skipping.append(tag)
        for name, value in attrs:
            shown = name in VISIBLE_ATTRIBUTES or (name == "value" and dict(attrs).get("type") in ("submit", "button"))
            if shown and value and LETTER.search(value.replace(MARK, "")):
                self.found.append(f'{tag} {name}="{value}"')

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping and LETTER.search(data.replace(MARK, "")):
            self.found.append(data.strip().replace(MARK, "{{…}}"))


def untranslated(source: str) -> list[str]:
    """The literal visible texts of a template, each Jinja construct replaced by a mark."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    text = re.sub(MARK + "+", MARK, "".join(value if kind == "data" else MARK for _, kind, value in env.lex(source)))
    parser = Literals()
    parser.feed(text)
    return parser.found


def message_ids() -> set[str]:
    """Every `_()` id of the templates and every gettext() id of the web package."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    ids = {m for path in TEMPLATES for _, _, m in env.extract_translations(path.read_text()) if isinstance(m, str)}
    for path in WEB.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "gettext"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                ids.add(node.args[0].value)
    return ids


def test_the_checker_finds_literals_and_lets_translations_through():
    assert untranslated('<p>Hello {{ name }}</p><input placeholder="Your name">') == [
        "Hello {{…}}", 'input placeholder="Your name"']
    assert untranslated('<p>{{ _("Hello") }} · {{ n }} %</p><code>&lt;script src="x"&gt;</code>'
                        '<input placeholder="{{ _(\'Name\') }}">') == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_template_holds_an_untranslated_literal(template):
    assert untranslated(template.read_text()) == []


def test_every_message_has_a_vietnamese_text_with_the_same_placeholders():
    ids = message_ids()
    assert len(ids) > 150  # the extraction found the console's messages
    missing = sorted(m for m in ids if not i18n.VI.get(m))
    assert missing == []
    for message in ids:
        assert sorted(re.findall(r"%\(\w+\)s", message)) == sorted(re.findall(r"%\(\w+\)s", i18n.VI[message])), message


def test_the_login_page_follows_the_browser_language(client):
    english = client.get("/admin/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    vietnamese = client.get("/admin/login", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert "Password" in english and '<html lang="en">' in english
    assert "Mật khẩu" in vietnamese and '<html lang="vi">' in vietnamese and "Password" not in vietnamese
    assert "Mật khẩu" not in client.get("/admin/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_a_user_s_language_is_stored_and_beats_the_browser(client, tenant):
    owner = create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    login(client, "owner@lan.vn", "flowers-4-all")
    english = client.get("/admin/", headers={"Accept-Language": "en"})
    assert b"Latest conversations" in english.data
    changed = client.post("/admin/language", data={"language": "vi", "next": "/admin/", "csrf": csrf(english.data)})
    assert changed.status_code == 302 and changed.headers["Location"] == "/admin/"
    assert User.get_by_id(owner.id).language == "vi"
    page = client.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Hội thoại gần đây" in page and "Latest conversations" not in page
    # another browser, same user: the stored choice follows them
    other = client.application.test_client()
    login(other, "owner@lan.vn", "flowers-4-all")
    assert "Hội thoại gần đây" in other.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)


@pytest.mark.parametrize("given", ["fr", "", "<script>", "vi\x00"])
def test_an_unknown_language_means_the_browser_s(client, tenant, given):
    owner = create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    login(client, "owner@lan.vn", "flowers-4-all")
    token = csrf(client.get("/admin/").data)
    client.post("/admin/language", data={"language": given, "csrf": token})
    assert User.get_by_id(owner.id).language == ""
    assert "Hội thoại gần đây" in client.get("/admin/", headers={"Accept-Language": "vi"}).get_data(as_text=True)


def test_changing_the_language_needs_the_csrf_token(client, tenant):
    owner = create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    login(client, "owner@lan.vn", "flowers-4-all")
    assert client.post("/admin/language", data={"language": "vi"}).status_code == 400
    assert User.get_by_id(owner.id).language == ""


def test_the_next_page_after_a_language_change_stays_on_the_admin_pages(client):
    token = csrf(client.get("/admin/login").data)
    for target in ("https://evil.example/", "//evil.example/admin/", "/api/v1/channels"):
        response = client.post("/admin/language", data={"language": "vi", "next": target, "csrf": token})
        assert response.headers["Location"] == "/admin/"


def in_language(app, language: str, call):
    with app.test_request_context(headers={"Accept-Language": language}):
        return call()


@pytest.mark.parametrize("language, date, money, number", [
    ("en", "5 Mar 2026, 14:07", "690,000 VND", "1,234.50"),
    ("vi", "05/03/2026 14:07", "690.000đ", "1.234,50"),
])
def test_dates_numbers_and_money_in_the_reader_s_locale(app, language, date, money, number):
    when = datetime(2026, 3, 5, 14, 7)
    assert in_language(app, language, lambda: i18n.format_datetime(when)) == date
    assert in_language(app, language, lambda: i18n.format_money(690000)) == money
    assert in_language(app, language, lambda: i18n.format_number(1234.5, 2)) == number


def test_dates_are_shown_in_the_appliance_s_time_zone(app):
    when = datetime(2026, 3, 5, 20, 30)  # stored in UTC
    assert in_language(app, "vi", lambda: i18n.format_datetime(when, "Asia/Ho_Chi_Minh")) == "06/03/2026 03:30"


def test_migration_11_adds_the_language_to_an_older_database(tmp_path):
    from appliance.db import database, open_database, schema_version

    path = tmp_path / "old.db"
    open_database(path)
    create_user("old@lan.vn", "flowers-4-all", "platform-admin", None)
    database.execute_sql('ALTER TABLE "user" DROP COLUMN "language"')  # as a version 10 file had it
    database.execute_sql("PRAGMA user_version = 10")
    open_database(path)
    try:
        assert schema_version(database) >= 11
        user = User.get(User.email == "old@lan.vn")
        assert user.language == ""
        User.update(language="vi").where(User.id == user.id).execute()
        assert User.get_by_id(user.id).language == "vi"
    finally:
        database.close()


def test_the_widget_speaks_the_visitor_s_language(client, web_channel):
    url = f"/widget/{web_channel.id}/config"
    english = client.get(url, headers={"Accept-Language": "en-US"})
    vietnamese = client.get(url, headers={"Accept-Language": "vi-VN,vi;q=0.9"}).get_json()
    assert english.get_json()["texts"]["send"] == "Send" and vietnamese["texts"]["send"] == "Gửi"
    assert vietnamese["texts"]["placeholder"] == "Nhập tin nhắn…"
    assert english.headers["Vary"] == "Accept-Language"  # a cache must not give one visitor another's language


def test_a_language_chosen_on_the_login_page_is_kept_for_the_user(client, tenant):
    owner = create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    token = csrf(client.get("/admin/login").data)
    client.post("/admin/language", data={"language": "vi", "next": "/admin/login", "csrf": token})
    assert "Mật khẩu" in client.get("/admin/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    login(client, "owner@lan.vn", "flowers-4-all")
    assert User.get_by_id(owner.id).language == "vi"
