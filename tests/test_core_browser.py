"""The demo page and chat bubble in a real headless Chromium: a customer types, the bot's reply streams in."""


from appliance.records import Message
from tests.conftest import ask_bubble, needs_chromium

pytestmark = needs_chromium


def test_customer_chats_through_the_bubble(browser, live_server, web_channel, settings, tmp_path):
    from selenium.webdriver.common.by import By

    settings["demo_channel"] = web_channel.id  # what `appliance init` records for the demo shop
    reply = ask_bubble(browser, live_server + "/", "Hello! Do you have red roses?", 60)
    browser.save_screenshot(str(tmp_path / "widget.png"))
    stored = Message.get_by_id(int(reply.get_attribute("data-message-id")))
    assert stored.direction == "out" and stored.text and reply.text.startswith(stored.text)
    assert browser.find_element(By.CSS_SELECTOR, ".apl-me").text == "Hello! Do you have red roses?"
    assert Message.select().where(Message.direction == "in").get().text == "Hello! Do you have red roses?"
