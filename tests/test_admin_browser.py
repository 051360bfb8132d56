"""The admin console in a real headless Chromium: sign in, switch to Vietnamese, upload a document and see it
ready, at a 390 px phone width without horizontal scrolling; a white-labelled name and colour on the admin page
and in the widget. Screenshots go to the test's temporary folder."""
import shutil

import pytest

from appliance.auth import create_user
from appliance.records import Document
from tests.conftest import REPO, no_horizontal_scroll, sign_in

pytestmark = pytest.mark.skipif(not shutil.which("chromedriver"), reason="test.sh installs chromium and chromium-driver")
NAME = "Hoa Mai <b>Bot</b>"


def test_sign_in_switch_to_vietnamese_and_upload_a_document(browser, live_server, tenant, web_channel,  # noqa: F811
                                                             settings, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    settings.update(product_name=NAME, accent_colour="#e11d48", demo_channel=web_channel.id)
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    browser.set_window_size(390, 844)
    wait = WebDriverWait(browser, 60)

    browser.get(live_server + "/admin/login")
    browser.find_element(By.ID, "email").send_keys("owner@lan.vn")
    browser.find_element(By.ID, "password").send_keys("flowers-4-all")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.main")))
    assert browser.find_element(By.CSS_SELECTOR, ".brand span").text == NAME  # the name as text, never markup
    header = browser.find_element(By.CSS_SELECTOR, "header.top").value_of_css_property("background-color")
    assert header == "rgba(225, 29, 72, 1)"
    assert no_horizontal_scroll(browser)
    browser.save_screenshot(str(tmp_path / "overview-390.png"))

    Select(browser.find_element(By.ID, "language")).select_by_value("vi")  # admin.js sends the form at once
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "nav.main"), "Tổng quan"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"

    browser.find_element(By.LINK_TEXT, "Kiến thức").click()
    wait.until(ec.presence_of_element_located((By.ID, "f-file")))
    browser.find_element(By.ID, "f-file").send_keys(str(REPO / "tests" / "data" / "shop" / "faq.md"))
    browser.find_element(By.XPATH, "//button[text()='Tải lên']").click()
    ready = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-status=ready]")))
    assert "faq.md" in ready.text and "Sẵn sàng" in ready.text
    document = Document.get(Document.tenant == tenant.id)
    assert ready.get_attribute("data-document") == str(document.id) and str(document.chunks) in ready.text
    assert no_horizontal_scroll(browser)
    browser.save_screenshot(str(tmp_path / "knowledge-vi-390.png"))

    browser.set_window_size(1280, 900)
    browser.get(live_server + "/")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".apl-bubble"))).click()
    foot = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".apl-foot")))
    assert foot.text == NAME
    bubble = browser.find_element(By.CSS_SELECTOR, ".apl-bubble").value_of_css_property("background-color")
    assert bubble == "rgba(225, 29, 72, 1)"
    browser.save_screenshot(str(tmp_path / "widget-white-label.png"))




def test_rate_limit_then_the_wizard_end_to_end_and_an_agent_refused(browser, live_server, tenant,  # noqa: F811
                                                                     settings, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    settings["login_failures_per_account"] = 2
    create_user("locked@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    create_user("agent@lan.vn", "flowers-4-all", "agent", tenant.tenant)
    wait = WebDriverWait(browser, 60)
    shot = iter(range(100))

    def screenshot(name: str) -> None:
        browser.save_screenshot(str(tmp_path / f"{next(shot):02d}-{name}.png"))

    def go(by: str, value: str) -> None:
        """Click a link or button and wait until the page it leads to has replaced this one."""
        page = browser.find_element(By.TAG_NAME, "html")
        wait.until(ec.element_to_be_clickable((by, value))).click()
        wait.until(ec.staleness_of(page))

    for _ in range(2):
        sign_in(browser, live_server, "locked@lan.vn", "wrong-password")
        assert "do not match" in browser.find_element(By.CSS_SELECTOR, "main").text
    sign_in(browser, live_server, "locked@lan.vn", "flowers-4-all")  # the right one, but too late
    assert "Too many wrong passwords" in browser.find_element(By.TAG_NAME, "body").text
    screenshot("login-rate-limited")

    sign_in(browser, live_server, "owner@lan.vn", "flowers-4-all")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.main")))
    go(By.LINK_TEXT, "Continue the set-up")
    screenshot("setup-channel")
    go(By.LINK_TEXT, "WhatsApp")
    for name, value in (("phone_number_id", "1098765"), ("access_token", "EAAG-token"), ("app_secret", "s3cret")):
        browser.find_element(By.ID, f"f-{name}").send_keys(value)
    verify_token = browser.find_element(By.ID, "f-verify_token").get_attribute("value")
    screenshot("connect-whatsapp")
    go(By.XPATH, "//button[text()='Connect']")
    webhook = browser.find_element(By.ID, "webhook-url").get_attribute("value")
    assert webhook.startswith(live_server + "/webhooks/whatsapp/ch_")
    assert browser.find_element(By.ID, "verify-token").get_attribute("value") == verify_token
    screenshot("whatsapp-connected")
    go(By.XPATH, "//button[text()='Check the webhook']")
    flash = browser.find_element(By.CSS_SELECTOR, ".flash")
    assert "answered the handshake" in flash.text and "flash-ok" in flash.get_attribute("class")
    screenshot("handshake-checked")

    go(By.LINK_TEXT, "Next step")
    browser.find_element(By.ID, "f-file").send_keys(str(REPO / "tests" / "data" / "shop" / "faq.md"))
    go(By.XPATH, "//button[text()='Upload']")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-status=ready]")))
    screenshot("setup-documents")
    go(By.LINK_TEXT, "Next step")
    screenshot("setup-model")
    go(By.XPATH, "//button[text()='Save and continue']")
    browser.find_element(By.ID, "f-text").send_keys("What are your opening hours?")
    go(By.XPATH, "//button[text()='Ask']")
    trial = browser.find_element(By.CSS_SELECTOR, ".trial")
    assert "faq.md" in trial.text and "Made by: extract" in trial.text
    screenshot("setup-test-chat")
    go(By.LINK_TEXT, "Next step")
    go(By.XPATH, "//button[text()='Finish']")
    assert "is set up" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    screenshot("overview-after-setup")
    browser.set_window_size(390, 844)
    for area in ("knowledge", "assistant", "channels", "channels/new/whatsapp", "users", "setup/model"):
        browser.get(f"{live_server}/admin/t/{tenant.id}/{area}")
        assert no_horizontal_scroll(browser), area
        screenshot(area.replace("/", "-") + "-390")
    browser.set_window_size(1000, 800)

    browser.delete_all_cookies()
    sign_in(browser, live_server, "agent@lan.vn", "flowers-4-all")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.main")))
    browser.get(f"{live_server}/admin/t/{tenant.id}/knowledge")
    assert "This page is for admins" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("agent-refused")


def test_the_rules_test_box_shows_the_matching_rule_and_why(browser, live_server, tenant, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from appliance.automation import rules

    hours = rules.create(tenant.id, {"name": "Opening hours",
                                     "match": {"type": "keyword", "keywords": ["giờ mở cửa"]},
                                     "conditions": [{"type": "channel", "channels": ["zalo"]}],
                                     "actions": [{"type": "reply", "text": "Shop mở cửa 8:00-21:00."}]})
    price = rules.create(tenant.id, {"name": "Price <question>", "match": {"type": "keyword", "keywords": ["giá"]},
                                     "actions": [{"type": "reply", "text": "Bó hồng đỏ 350.000đ."}]})
    create_user("owner@lan.vn", "flowers-4-all", "tenant-admin", tenant.tenant)
    browser.set_window_size(390, 844)
    wait = WebDriverWait(browser, 60)
    sign_in(browser, live_server, "owner@lan.vn", "flowers-4-all")
    browser.find_element(By.LINK_TEXT, "Rules").click()
    wait.until(ec.presence_of_element_located((By.ID, "f-text"))).send_keys("Giá bó hồng bao nhiêu vậy?")
    browser.find_element(By.ID, "test-button").click()
    result = wait.until(ec.presence_of_element_located((By.ID, "explained")))
    assert result.get_attribute("data-answered-by") == "rule"
    assert result.find_element(By.CSS_SELECTOR, "a[data-rule]").text == "Price <question>"  # text, never markup
    assert result.find_element(By.CSS_SELECTOR, "a[data-rule]").get_attribute("data-rule") == price.id
    why = [li.text for li in result.find_elements(By.CSS_SELECTOR, "[data-why] li")]
    assert why[0] == "rule 'Price <question>' matched: keyword 'giá' (contains)"
    replies = [li.text for li in result.find_elements(By.CSS_SELECTOR, "[data-replies] li")]
    assert replies == ["Bó hồng đỏ 350.000đ."]
    assert no_horizontal_scroll(browser)
    browser.save_screenshot(str(tmp_path / "rules-test-box-390.png"))

    # the opening-hours rule is for Zalo only: on the web chat the test box says why it did not answer
    box = browser.find_element(By.ID, "f-text")
    box.clear()
    box.send_keys("Giờ mở cửa?")
    Select(browser.find_element(By.ID, "f-channel")).select_by_value("web")
    browser.find_element(By.ID, "test-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "explained"), "but"))
    result = browser.find_element(By.ID, "explained")
    assert result.get_attribute("data-answered-by") == "assistant"
    assert "rule 'Opening hours' matched (keyword 'giờ mở cửa' (contains)) but" in result.text

    # moving a rule up with its button changes which runs first
    browser.set_window_size(1280, 900)
    first = browser.find_element(By.CSS_SELECTOR, "#rules tbody tr")
    up = f"tr[data-rule='{price.id}'] button[aria-label='Move Price <question> up']"
    browser.find_element(By.CSS_SELECTOR, up).click()
    wait.until(ec.staleness_of(first))
    rows = browser.find_elements(By.CSS_SELECTOR, "#rules tbody tr")
    assert [row.get_attribute("data-rule") for row in rows] == [price.id, hours.id]
    browser.save_screenshot(str(tmp_path / "rules-reordered.png"))

    # a new rule through the form: choosing "a pattern" shows the pattern field only, then the test box finds it
    browser.find_element(By.LINK_TEXT, "New rule").click()
    Select(wait.until(ec.presence_of_element_located((By.ID, "f-match_type")))).select_by_value("regex")
    assert not browser.find_element(By.ID, "f-keywords").is_displayed()
    browser.find_element(By.ID, "f-name").send_keys("Greeting")
    browser.find_element(By.ID, "f-pattern").send_keys("^(hi|hello)$")
    browser.find_element(By.ID, "f-reply").send_keys("Xin chào! Shop giúp gì được ạ?")
    table = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "#rule-form button[type=submit]").click()
    wait.until(ec.staleness_of(table))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#rules tbody tr")) == 3
    browser.find_element(By.ID, "f-text").send_keys("hello")
    browser.find_element(By.ID, "test-button").click()
    link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#explained a[data-rule]")))
    assert link.text == "Greeting"
    reply = browser.find_element(By.CSS_SELECTOR, "#explained [data-replies] li")
    assert reply.text == "Xin chào! Shop giúp gì được ạ?"

    # the rule form, the flows list and a flow with the checker's problems fit a phone
    from appliance.automation import flows
    booking = flows.create(tenant.id, {"name": "Booking", "start": "ask", "steps": [
        {"id": "ask", "type": "ask", "text": "Which day?", "field": "date", "validate": "date"}]})
    browser.set_window_size(390, 844)
    for page in ("rules/new", "flows", f"flows/{booking.id}"):
        browser.get(f"{live_server}/admin/t/{tenant.id}/{page}")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "main section")))
        assert no_horizontal_scroll(browser), page
    browser.save_screenshot(str(tmp_path / "flow-390.png"))
