"""The demo page and chat bubble in a real headless Chromium: a customer types, the bot's reply streams in."""
import shutil

import pytest

from appliance.records import Message

pytestmark = pytest.mark.skipif(not shutil.which("chromedriver"), reason="test.sh installs chromium and chromium-driver")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def ask_bubble(browser, page: str, text: str, seconds: float):
    """Open the page, click the bubble, send `text`; the bot's reply element once it is stored."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page)
    wait = WebDriverWait(browser, seconds)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".apl-bubble"))).click()
    box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".apl-form input")))
    box.send_keys(text)
    browser.find_element(By.CSS_SELECTOR, ".apl-form button").click()
    return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".apl-bot[data-message-id]")))


def test_customer_chats_through_the_bubble(browser, live_server, web_channel, settings, tmp_path):
    from selenium.webdriver.common.by import By

    settings["demo_channel"] = web_channel.id  # what `appliance init` records for the demo shop
    reply = ask_bubble(browser, live_server + "/", "Hello! Do you have red roses?", 60)
    browser.save_screenshot(str(tmp_path / "widget.png"))
    stored = Message.get_by_id(int(reply.get_attribute("data-message-id")))
    assert stored.direction == "out" and stored.text and reply.text.startswith(stored.text)
    assert browser.find_element(By.CSS_SELECTOR, ".apl-me").text == "Hello! Do you have red roses?"
    assert Message.select().where(Message.direction == "in").get().text == "Hello! Do you have red roses?"
