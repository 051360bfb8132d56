"""The admin console in a real headless Chromium: sign in, switch to Vietnamese, upload a document and see it
ready, at a 390 px phone width without horizontal scrolling; a white-labelled name and colour on the admin page
and in the widget. Screenshots go to the test's temporary folder."""
import shutil

import pytest

from appliance.auth import create_user
from appliance.records import Document
from tests.conftest import REPO
from tests.test_core_browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not shutil.which("chromedriver"), reason="test.sh installs chromium and chromium-driver")
NAME = "Hoa Mai <b>Bot</b>"


def no_horizontal_scroll(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


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
    assert header in ("rgba(225, 29, 72, 1)", "rgb(225, 29, 72)")
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
    assert bubble in ("rgba(225, 29, 72, 1)", "rgb(225, 29, 72)")
    browser.save_screenshot(str(tmp_path / "widget-white-label.png"))
