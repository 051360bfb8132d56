"""The admin Inbox page: the list with unread counts and filters, the conversation view (customer card, delivery
statuses, the bot's reasons), the reply box and its window template, the take over / hand back / assign / close
buttons through the write path, and the cookie-authenticated event stream with the API stream's caps."""
import html
import json
import re
import time
from datetime import timedelta

import pytest

from appliance import conversations
from appliance.auth import create_user
from appliance.records import Conversation, Customer, Message, User, utcnow
from tests.conftest import (HUMAN, OWNER_PASSWORD, assert_page_policies, conversation_for, customer_writes, form_post,
                            form_token, needs_chromium, no_horizontal_scroll, say, sign_in, signed_in)
from tests.fakes import connect, fake_whatsapp  # noqa: F401  (fixture)

HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_TEXT = '<img src=x onerror=alert(1)>"</p>'


@pytest.fixture
def agent(app, tenant):
    """A browser with the tenant's agent signed in: (test client, user)."""
    browser = signed_in(app, "agent@flowers.example", "agent", tenant.tenant)
    return browser, User.get(User.email == "agent@flowers.example")


def listed(page: bytes) -> list[int]:
    return [int(i) for i in re.findall(rb'<li data-conversation="(\d+)"', page)]


def unread(page: bytes, conversation_id: int) -> str:
    row = re.search(rb'<li data-conversation="%d">.*?data-unread( hidden)?>(\d+)<' % conversation_id, page, re.S)
    return "" if row[1] else row[2].decode()


def flashes(page: bytes) -> list[str]:
    return [html.unescape(m.decode()) for m in re.findall(rb'<div class="flash flash-\w+" role="status">([^<]*)</div>', page)]


def url(tenant, conversation, action=""):
    return f"/admin/t/{tenant.id}/inbox/{conversation.id}" + (f"/{action}" if action else "")


# --- the list ----------------------------------------------------------------------------------------------

def test_an_agent_sees_conversations_newest_first_with_unread_counts(agent, client, tenant, web_channel, services):
    browser, _ = agent
    answered = say(client, web_channel, "answered", "Hello")
    waiting = say(client, web_channel, "waiting", HUMAN)  # handed off: the bot's confirmation is the last reply
    say(client, web_channel, "waiting", "Are you there?")
    say(client, web_channel, "waiting", "Hello?")
    response = browser.get(f"/admin/t/{tenant.id}/inbox")
    assert response.status_code == 200
    assert_page_policies(response)
    assert listed(response.data) == [waiting.id, answered.id]
    assert (unread(response.data, waiting.id), unread(response.data, answered.id)) == ("2", "")
    assert b"Hello?" in response.data  # the newest message of each conversation


def test_filters_by_status_channel_and_assigned_to_me(agent, client, tenant, web_channel, services):
    browser, user = agent
    plain = say(client, web_channel, "plain", "Hello")
    waiting = say(client, web_channel, "waiting", HUMAN)
    mine = say(client, web_channel, "mine", "Do you sell orchids?")
    conversations.assign(services, mine, user)
    inbox = f"/admin/t/{tenant.id}/inbox"
    assert listed(browser.get(inbox, query_string={"status": "handoff"}).data) == [waiting.id]
    assert listed(browser.get(inbox, query_string={"mine": "1"}).data) == [mine.id]
    assert listed(browser.get(inbox, query_string={"channel": web_channel.id}).data) == [mine.id, waiting.id, plain.id]
    assert listed(browser.get(inbox, query_string={"channel": "elsewhere"}).data) == []
    refused = browser.get(inbox, query_string={"status": "<b>bogus</b>"})  # hand-edited: all, and why
    assert listed(refused.data) == [mine.id, waiting.id, plain.id] and b"<b>bogus" not in refused.data
    assert any("status" in text for text in flashes(refused.data))


@pytest.mark.parametrize("query", [{"before": "abc"}, {"before": "9" * 40 + "-1"}, {"before": "1-" + "9" * 30},
                                   {"status": "x" * 5000}, {"channel": "<script>" * 500}, {"mine": "<b>"}])
def test_hand_edited_filters_show_the_whole_list_or_nothing_never_an_error(agent, client, tenant, web_channel, query):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", "Hello")
    response = browser.get(f"/admin/t/{tenant.id}/inbox", query_string=query)
    assert response.status_code == 200 and b"<script><script>" not in response.data and b"<b>" not in response.data
    expected = [] if "channel" in query or "mine" in query else [conversation.id]  # nothing there, nothing mine
    assert listed(response.data) == expected


def test_the_list_pages_with_older_conversations(agent, client, tenant, web_channel):
    browser, _ = agent
    made = []  # more than a page (the API's 50), made directly: the widget limits messages per address
    for i in range(52):
        customer = Customer.create(tenant=tenant.id, channel=web_channel, external_id=f"s{i}", name=f"Customer {i}")
        made.append(Conversation.create(tenant=tenant.id, channel=web_channel, customer=customer,
                                        last_message_at=utcnow() - timedelta(minutes=60 - i)).id)
    first = browser.get(f"/admin/t/{tenant.id}/inbox")
    assert listed(first.data) == made[::-1][:50]
    older = re.search(rb'href="(/admin/t/[^"]+before=[^"]+)"', first.data)[1].decode().replace("&amp;", "&")
    assert listed(browser.get(older).data) == [made[1], made[0]]


# --- who may see it ----------------------------------------------------------------------------------------

def test_another_tenants_staff_get_404_for_the_inbox_its_conversations_and_events(app, client, tenant, other_tenant,
                                                                                   web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    outsider = signed_in(app, "agent@other.example", "agent", other_tenant.tenant)
    for path in (f"/admin/t/{tenant.id}/inbox", url(tenant, conversation), url(tenant, conversation, "actions"),
                 f"/admin/t/{tenant.id}/events"):
        assert outsider.get(path).status_code == 404
    # their own tenant's URL with this tenant's conversation id: no such conversation there
    assert outsider.get(url(other_tenant, conversation)).status_code == 404
    token = form_token(outsider)
    taken = outsider.post(url(tenant, conversation, "take"), data={"csrf": token})
    assert taken.status_code == 404 and Conversation.get_by_id(conversation.id).status == "open"


def test_signed_out_visitors_go_to_the_login_page(client, tenant, web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    for path in (f"/admin/t/{tenant.id}/inbox", url(tenant, conversation), url(tenant, conversation, "actions"),
                 f"/admin/t/{tenant.id}/events"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_platform_admin_uses_any_tenants_inbox_and_assigns_to_its_staff(app, client, tenant, web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    agent = create_user("agent@flowers.example", OWNER_PASSWORD, "agent", tenant.tenant)
    platform = signed_in(app, "root@reseller.example", "platform-admin")
    assert listed(platform.get(f"/admin/t/{tenant.id}/inbox").data) == [conversation.id]
    assert ">Take over</button>" not in platform.get(url(tenant, conversation)).get_data(as_text=True)
    taken = form_post(platform, url(tenant, conversation, "take"), follow_redirects=True)
    assert flashes(taken.data) == ["Only the shop's staff can take a conversation over; assign it to one of them."]
    form_post(platform, url(tenant, conversation, "assign"), {"user_id": str(agent.id)})
    assert Conversation.get_by_id(conversation.id).assigned_user_id == agent.id


# --- the conversation view ---------------------------------------------------------------------------------

def test_hostile_customer_names_and_texts_are_shown_as_text(agent, client, tenant, web_channel):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", HOSTILE_TEXT)
    Customer.update(name=HOSTILE_NAME).where(Customer.id == conversation.customer_id).execute()
    listing, view = browser.get(f"/admin/t/{tenant.id}/inbox"), browser.get(url(tenant, conversation))
    assert_page_policies(listing)  # (the view's text has "onerror=" in it, as text: the check would see it)
    assert "script-src 'self';" in view.headers["Content-Security-Policy"]
    for page in (listing, view):
        assert HOSTILE_NAME.encode() not in page.data and b"<img src=x" not in page.data
        assert b"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in page.data
    assert b"&lt;img src=x onerror=alert(1)&gt;&#34;&lt;/p&gt;" in view.data


def test_the_view_shows_the_customer_statuses_failures_and_why_the_bot_answered(agent, client, tenant, web_channel):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", HUMAN)
    failed = Message.create(tenant=tenant.id, conversation=conversation, direction="out", sender="agent",
                            text="Sorry", status="failed", error="The platform refused the token (190).")
    page = browser.get(url(tenant, conversation)).data.decode()
    assert "First seen" in page and "web · Shop chat" in page and "Waiting for a person" in page
    asked, confirmed = Message.select().where(Message.conversation == conversation).order_by(Message.id)[:2]
    assert re.search(rf'data-message="{asked.id}">.*?data-status="received">Received<', page, re.S)
    assert re.search(rf'data-message="{confirmed.id}">.*?data-status="sent">Sent<.*?<details><summary>Why did the '
                     r'bot say this\?</summary>\s*<p>Made by: handoff[ <]', page, re.S)
    assert re.search(rf'data-message="{failed.id}">.*?data-status="failed">Failed</span> <span class="error" '
                     r'data-error>The platform refused the token \(190\).<', page, re.S)


def test_the_view_in_vietnamese(agent, client, tenant, web_channel):
    browser, user = agent
    User.update(language="vi").where(User.id == user.id).execute()
    conversation = say(client, web_channel, "s1", HUMAN)
    page = browser.get(url(tenant, conversation)).data.decode()
    assert "Vì sao trợ lý trả lời như vậy?" in page and "Tiếp nhận" in page and "Đang chờ nhân viên" in page


# --- replying ----------------------------------------------------------------------------------------------

def test_a_reply_goes_through_the_write_path_as_the_staffs(agent, client, tenant, web_channel):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", HUMAN)
    sent = form_post(browser, url(tenant, conversation, "reply"), {"text": "  Lan here, how can I help?  "})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(url(tenant, conversation))
    reply = Message.select().where(Message.sender == "agent").get()
    assert (reply.text, reply.conversation_id, reply.direction) == ("Lan here, how can I help?", conversation.id, "out")
    page = browser.get(url(tenant, conversation)).data.decode()
    assert re.search(rf'data-message="{reply.id}">.*?Staff</span>.*?data-status="{reply.status}"', page, re.S)


@pytest.mark.parametrize("text", ["", "   ", "x" * 4097])
def test_an_empty_or_oversized_reply_is_refused_with_a_sentence(agent, client, tenant, web_channel, text):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", HUMAN)
    refused = form_post(browser, url(tenant, conversation, "reply"), {"text": text}, follow_redirects=True)
    assert flashes(refused.data) == ["Write a reply of 1 to 4096 characters."]
    assert Message.select().where(Message.sender == "agent").count() == 0


def test_outside_the_window_the_form_offers_the_channels_template(agent, client, tenant, fake_whatsapp):
    browser, _ = agent
    channel_id = connect(client, tenant, fake_whatsapp, window_template="reply_later", template_language="vi")
    conversation = conversation_for(channel_id, "whatsapp", 30)
    page = browser.get(url(tenant, conversation)).data.decode()
    assert "data-window-closed" in page and "your text goes as the template reply_later" in page
    assert ">Send as template reply_later</button>" in page
    form_post(browser, url(tenant, conversation, "reply"), {"text": "Hoa hồng còn ạ"})
    message = Message.get(Message.sender == "agent")
    assert message.kind == "template" and Message.get_by_id(message.id).status == "sent"
    assert fake_whatsapp.delivered[-1].body["template"]["name"] == "reply_later"


def test_outside_the_window_without_a_template_the_page_says_why_and_offers_no_box(agent, client, tenant,
                                                                                   fake_whatsapp):
    browser, _ = agent
    conversation = conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp", 30)
    page = browser.get(url(tenant, conversation)).data.decode()
    assert "this channel has none set up. Add a window template under Channels" in page
    assert 'name="text"' not in page
    refused = form_post(browser, url(tenant, conversation, "reply"), {"text": "Still there?"}, follow_redirects=True)
    assert flashes(refused.data)[0].startswith("The reply was not sent: The customer last wrote more than")
    assert fake_whatsapp.requests == []


# --- the buttons -------------------------------------------------------------------------------------------

def test_take_over_hand_back_assign_and_close(agent, client, tenant, web_channel):
    browser, user = agent
    owner = create_user("owner@lan.vn", OWNER_PASSWORD, "tenant-admin", tenant.tenant)
    conversation = say(client, web_channel, "s1", "Hello")

    def press(action, **form):
        page = form_post(browser, url(tenant, conversation, action), form, follow_redirects=True)
        return flashes(page.data), Conversation.get_by_id(conversation.id)

    said, now = press("take")
    assert said == ["You have this conversation now; the bot stays silent."]
    assert (now.status, now.assigned_user_id) == ("assigned", user.id)
    said, now = press("assign", user_id=str(owner.id))
    assert said == ["owner@lan.vn has this conversation now."] and now.assigned_user_id == owner.id
    said, now = press("resume")
    assert said == ["The bot answers this customer again."] and (now.status, now.assigned_user_id) == ("open", None)
    said, now = press("close")
    assert said == ["The conversation is closed."] and now.status == "closed"


def test_the_buttons_fragment_fits_the_conversations_state_now(agent, client, tenant, web_channel, services):
    browser, user = agent
    conversation = say(client, web_channel, "s1", "Hello")

    def buttons() -> list[str]:
        fragment = browser.get(url(tenant, conversation, "actions"))
        assert fragment.status_code == 200 and b"<html" not in fragment.data
        return re.findall(r'<button type="submit"[^>]*>([^<]+)<', fragment.data.decode())

    assert buttons() == ["Take over", "Assign", "Close"]
    token = f'name="csrf" value="{form_token(browser)}"'.encode()
    assert token in browser.get(url(tenant, conversation, "actions")).data  # the forms work as they are
    conversations.assign(services, conversation, user)
    assert buttons() == ["Hand back to the bot", "Assign", "Close"]
    conversations.close(services, Conversation.get_by_id(conversation.id))
    assert buttons() == []


@pytest.mark.parametrize("start, action, sentence", [
    ("open", "resume", "Nothing changed: the bot has it."),
    ("closed", "take", "Nothing changed: it is closed; it starts again when the customer writes."),
    ("closed", "close", "Nothing changed: it is closed; it starts again when the customer writes."),
    ("closed", "resume", "Nothing changed: it is closed; it starts again when the customer writes."),
])
def test_a_button_pressed_in_the_wrong_state_says_why_nothing_changed(agent, client, tenant, web_channel, services,
                                                                     start, action, sentence):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", "Hello")
    if start == "closed":
        conversations.close(services, conversation)
    page = form_post(browser, url(tenant, conversation, action), follow_redirects=True)
    assert flashes(page.data) == [sentence] and Conversation.get_by_id(conversation.id).status == start


@pytest.mark.parametrize("user_id", ["", "abc", "99999", "9" * 30])
def test_assigning_to_nobody_or_an_unknown_user_is_refused(agent, client, tenant, web_channel, user_id):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", "Hello")
    page = form_post(browser, url(tenant, conversation, "assign"), {"user_id": user_id}, follow_redirects=True)
    assert flashes(page.data) == ["Choose a user of this shop."]
    assert Conversation.get_by_id(conversation.id).status == "open"


def test_assigning_to_another_tenants_user_is_refused(agent, client, tenant, other_tenant, web_channel):
    browser, _ = agent
    stranger = create_user("agent@other.example", OWNER_PASSWORD, "agent", other_tenant.tenant)
    conversation = say(client, web_channel, "s1", "Hello")
    page = form_post(browser, url(tenant, conversation, "assign"), {"user_id": str(stranger.id)},
                     follow_redirects=True)
    assert flashes(page.data) == ["Choose a user of this shop."]
    assert Conversation.get_by_id(conversation.id).assigned_user_id is None


@pytest.mark.parametrize("action, form", [("reply", {"text": "hi"}), ("take", {}), ("assign", {"user_id": "1"}),
                                          ("resume", {}), ("close", {})])
@pytest.mark.parametrize("token", [None, "forged"])
def test_every_form_needs_the_sessions_csrf_token(agent, client, tenant, web_channel, services, action, form, token):
    browser, _ = agent
    conversation = say(client, web_channel, "s1", HUMAN)  # handoff: every button could act
    data = {**form, **({"csrf": token} if token else {})}
    assert browser.post(url(tenant, conversation, action), data=data).status_code == 400
    assert Conversation.get_by_id(conversation.id).status == "handoff"
    assert Message.select().where(Message.sender == "agent").count() == 0


# --- the live stream ---------------------------------------------------------------------------------------

def test_the_page_stream_is_the_tenants_events_by_cookie_with_the_apis_caps(tenant, settings, services):
    from appliance.app import create_app

    settings.update(admin_streams=4, admin_streams_per_tenant=2)  # read when the app is made
    app = create_app(settings, services)
    browser, client = signed_in(app, "agent@flowers.example", "agent", tenant.tenant), app.test_client()
    events = f"/admin/t/{tenant.id}/events"
    held = [browser.get(events, buffered=False) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    assert held[0].mimetype == "text/event-stream" and next(held[0].response) == b": connected\n\n"
    refused = browser.get(events)
    assert refused.status_code == 429 and 10 <= int(refused.headers["Retry-After"]) <= 30
    api = client.get("/api/v1/events", headers=tenant.headers)  # the API's stream shares the tenant's slots
    assert api.status_code == 429
    held[0].close()
    assert browser.get(events, buffered=False).status_code == 200


def replayed_frames(browser, tenant) -> str:
    """The page stream's frames from the first kept event up to its `ready` mark."""
    stream = browser.get(f"/admin/t/{tenant.id}/events", headers={"Last-Event-ID": "0"}, buffered=False)
    frames = ""
    for chunk in stream.response:
        frames += chunk if isinstance(chunk, str) else chunk.decode()
        if "event: ready" in frames:
            break
    stream.close()
    return frames


def test_the_page_stream_replays_after_last_event_id(agent, client, tenant, web_channel):
    browser, _ = agent
    say(client, web_channel, "s1", "Hello")
    frames = replayed_frames(browser, tenant)
    assert "event: message.in" in frames and '"text": "Hello"' in frames
    assert browser.get(f"/admin/t/{tenant.id}/events", query_string={"since": "x"}).status_code == 422


def test_message_events_carry_the_customer_and_the_conversations_state(agent, client, tenant, fake_whatsapp):
    browser, _ = agent
    channel_id = connect(client, tenant, fake_whatsapp)
    hello = customer_writes(client, channel_id, 1, "Xin chào")
    frames = replayed_frames(browser, tenant)
    came_in = json.loads(re.search(r"event: message.in\ndata: (.*)\n", frames)[1])["data"]
    assert came_in["text"] == "Xin chào" and came_in["customer"] == {"id": hello.conversation.customer_id, "name": "Lan"}
    assert (came_in["channel"], came_in["conversation_status"], came_in["assigned_user"]) == (channel_id, "open", None)


# --- in a real browser -------------------------------------------------------------------------------------

def widget_says(base: str, channel, session: str, text: str) -> None:
    """A customer writes in the web chat (its HTTP endpoint, as the widget sends it)."""
    import requests

    response = requests.post(f"{base}/widget/{channel.id}/messages", json={"session": session, "text": text},
                             timeout=60)
    assert response.status_code == 202, response.text


@needs_chromium
def test_an_open_inbox_follows_customers_live_and_the_agent_takes_over_and_replies(browser, live_server, tenant,
                                                                                   web_channel, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait


    create_user("agent@lan.vn", OWNER_PASSWORD, "agent", tenant.tenant)
    widget_says(live_server, web_channel, "anh", "Hello")
    first = Conversation.get()
    browser.set_window_size(390, 844)
    wait = WebDriverWait(browser, 30)
    sign_in(browser, live_server, "agent@lan.vn", OWNER_PASSWORD)
    browser.get(f"{live_server}/admin/t/{tenant.id}/inbox")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-inbox][data-live=ready]")))
    page = browser.find_element(By.TAG_NAME, "html")

    def rows() -> list[str]:
        return [li.get_attribute("data-conversation") for li in browser.find_elements(By.CSS_SELECTOR, "[data-inbox] li")]

    widget_says(live_server, web_channel, "binh", HOSTILE_TEXT)  # a new customer: on top, without a reload
    second = Conversation.select().order_by(Conversation.id.desc()).get()
    wait.until(lambda _: rows() == [str(second.id), str(first.id)])
    widget_says(live_server, web_channel, "anh", HUMAN)  # the first one again: back on top
    wait.until(lambda _: rows() == [str(first.id), str(second.id)])
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-inbox] img")  # the customer's "<img>" stayed text
    assert no_horizontal_scroll(browser)
    browser.save_screenshot(str(tmp_path / "inbox-390.png"))

    browser.find_element(By.CSS_SELECTOR, f'li[data-conversation="{first.id}"] a').click()
    wait.until(ec.staleness_of(page))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    page = browser.find_element(By.TAG_NAME, "html")
    widget_says(live_server, web_channel, "anh", "Are you there? <b>please</b>")
    asked = wait.until(ec.presence_of_element_located((By.XPATH, "//li[@data-message][last()]//p[@class='text']")))
    wait.until(lambda _: asked.text == "Are you there? <b>please</b>")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-messages] b")
    assert page.is_displayed()  # the same page: no reload brought it

    browser.find_element(By.XPATH, "//button[text()='Take over']").click()
    wait.until(ec.staleness_of(page))
    assert Conversation.get_by_id(first.id).status == "assigned"
    browser.find_element(By.ID, "f-text").send_keys("Yes, Lan here. How can I help?")
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, "//button[text()='Send']").click()
    wait.until(ec.staleness_of(page))
    reply = Message.get(Message.sender == "agent")
    shown = browser.find_element(By.CSS_SELECTOR, f'li[data-message="{reply.id}"]')
    assert "Yes, Lan here. How can I help?" in shown.text and "Staff" in shown.text
    wait.until(lambda _: shown.find_element(By.CSS_SELECTOR, "[data-status]").get_attribute("data-status") == "sent")
    assert shown.find_element(By.CSS_SELECTOR, "[data-status]").text == "Sent"
    assert no_horizontal_scroll(browser)
    browser.save_screenshot(str(tmp_path / "conversation-390.png"))

    browser.get(f"{live_server}/admin/t/{tenant.id}/inbox")  # the agent has it: the bot is silent, unread counts up
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-inbox][data-live=ready]")))
    badge = browser.find_element(By.CSS_SELECTOR, f'li[data-conversation="{first.id}"] [data-unread]')
    assert not badge.is_displayed()
    widget_says(live_server, web_channel, "anh", "Thanks!")
    widget_says(live_server, web_channel, "anh", "One more thing")
    wait.until(lambda _: badge.is_displayed() and badge.text == "2")
    assert "One more thing" in browser.find_element(By.CSS_SELECTOR, f'li[data-conversation="{first.id}"]').text
    delays = []  # issue 11's target: a customer message on an open inbox page within 1 s p95 (printed, not asserted)
    row = browser.find_element(By.CSS_SELECTOR, f'li[data-conversation="{first.id}"] [data-last]')
    for n in range(5):
        started = time.perf_counter()
        widget_says(live_server, web_channel, "anh", f"Question {n}")
        wait.until(lambda _: row.text == f"Question {n}")
        delays.append(time.perf_counter() - started)
    print(f"customer message to the open inbox page: slowest of 5 {max(delays) * 1000:.0f} ms")


def agent_opens_a_whatsapp_conversation(browser, live_server, client, tenant, fake_whatsapp):
    """A WhatsApp customer says hello; an agent signs in and has the conversation open and live: (channel id, hello message, wait)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    channel_id = connect(client, tenant, fake_whatsapp)
    hello = customer_writes(client, channel_id, 1, "Xin chào")
    create_user("agent@lan.vn", OWNER_PASSWORD, "agent", tenant.tenant)
    wait = WebDriverWait(browser, 30)
    sign_in(browser, live_server, "agent@lan.vn", OWNER_PASSWORD)
    browser.get(f"{live_server}{url(tenant, hello.conversation)}")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    return channel_id, hello, wait


@needs_chromium
def test_whatsapp_messages_and_delivery_statuses_reach_the_open_conversation(browser, live_server, client, tenant,
                                                                             fake_whatsapp):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    from tests.fakes import sample, signed_headers

    channel_id, _, wait = agent_opens_a_whatsapp_conversation(browser, live_server, client, tenant, fake_whatsapp)
    page = browser.find_element(By.TAG_NAME, "html")

    asked = customer_writes(client, channel_id, 2, "Còn hoa hồng không?")  # through the fake platform's webhook
    answer = Message.get(Message.reply_to == asked.id)
    shown = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'li[data-message="{answer.id}"]')))
    assert browser.find_element(By.CSS_SELECTOR, f'li[data-message="{asked.id}"] .text').text == "Còn hoa hồng không?"
    status = shown.find_element(By.CSS_SELECTOR, "[data-status]")
    wait.until(lambda _: status.get_attribute("data-status") == "sent")
    for name, label in (("status_delivered.json", "Delivered"), ("status_read.json", "Read")):
        raw = sample("whatsapp", name).replace(b"wamid.OUT1", answer.platform_id.encode())
        assert client.post(f"/webhooks/whatsapp/{channel_id}", data=raw,
                           headers=signed_headers("whatsapp", raw)).status_code == 200
        wait.until(lambda _: status.text == label)
    assert page.is_displayed()  # the same page all along


@needs_chromium
def test_the_agent_answers_a_whatsapp_customer_and_hands_back_to_the_bot(browser, live_server, client, tenant,
                                                                        fake_whatsapp, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    channel_id, hello, wait = agent_opens_a_whatsapp_conversation(browser, live_server, client, tenant, fake_whatsapp)

    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, "//button[text()='Take over']").click()
    wait.until(ec.staleness_of(page))
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "f-text").send_keys("Dạ, shop còn hoa hồng ạ.")
    sends = len(fake_whatsapp.delivered)
    browser.find_element(By.XPATH, "//button[text()='Send']").click()
    wait.until(ec.staleness_of(page))
    sent = fake_whatsapp.wait_for(sends + 1)[-1].body
    assert (sent["to"], sent["text"]["body"]) == ("84901234567", "Dạ, shop còn hoa hồng ạ.")
    browser.save_screenshot(str(tmp_path / "whatsapp-agent-replied.png"))

    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, "//button[text()='Hand back to the bot']").click()
    wait.until(ec.staleness_of(page))
    assert Conversation.get_by_id(hello.conversation_id).status == "open"
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    page = browser.find_element(By.TAG_NAME, "html")
    asked = customer_writes(client, channel_id, 2, "Bao nhiêu tiền?")
    answer = Message.get(Message.reply_to == asked.id)
    assert answer.sender == "bot"
    shown = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'li[data-message="{answer.id}"]')))
    wait.until(lambda _: shown.find_element(By.CSS_SELECTOR, ".text").text == answer.text.strip())
    assert "Bot" in shown.find_element(By.CSS_SELECTOR, ".sender").text
    assert page.is_displayed()  # the bot's reply came live, without a reload
    browser.save_screenshot(str(tmp_path / "whatsapp-handed-back.png"))


@needs_chromium
def test_a_filtered_inbox_adds_new_conversations_by_name_and_the_open_one_redraws_its_buttons(
        browser, live_server, client, tenant, web_channel, fake_whatsapp, services, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    channel_id = connect(client, tenant, fake_whatsapp)
    owner = create_user("owner@lan.vn", OWNER_PASSWORD, "tenant-admin", tenant.tenant)
    create_user("agent@lan.vn", OWNER_PASSWORD, "agent", tenant.tenant)
    wait = WebDriverWait(browser, 30)
    sign_in(browser, live_server, "agent@lan.vn", OWNER_PASSWORD)
    browser.get(f"{live_server}/admin/t/{tenant.id}/inbox?channel={channel_id}")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-inbox][data-live=ready]")))

    widget_says(live_server, web_channel, "web", "Hello from the web")  # another channel: not in this list
    hello = customer_writes(client, channel_id, 1, "Xin chào")
    row = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f'li[data-conversation="{hello.conversation_id}"] .who')))
    wait.until(lambda _: row.text == "Lan")  # the customer's name at once, not "New conversation"
    web = Conversation.get(Conversation.channel != channel_id)
    assert not browser.find_elements(By.CSS_SELECTOR, f'li[data-conversation="{web.id}"]')
    browser.save_screenshot(str(tmp_path / "inbox-filtered-live.png"))

    browser.get(f"{live_server}{url(tenant, hello.conversation)}")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    page = browser.find_element(By.TAG_NAME, "html")

    def buttons() -> list[str]:  # read at once: a redraw replaces the elements
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('[data-actions] button'), b => b.textContent)")

    assert buttons() == ["Take over", "Assign", "Close"]
    conversations.assign(services, Conversation.get_by_id(hello.conversation_id), owner)  # someone else, elsewhere
    wait.until(lambda _: buttons() == ["Take over", "Hand back to the bot", "Assign", "Close"])
    assert browser.find_element(By.CSS_SELECTOR, "[data-open-conversation] [data-state]").text == "A person answers"
    browser.save_screenshot(str(tmp_path / "conversation-redrawn.png"))
    browser.find_element(By.XPATH, "//button[text()='Hand back to the bot']").click()  # the redrawn form works
    wait.until(ec.staleness_of(page))
    assert Conversation.get_by_id(hello.conversation_id).status == "open"
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-open-conversation][data-live=ready]")))
    conversations.close(services, Conversation.get_by_id(hello.conversation_id))
    wait.until(lambda _: buttons() == [] and "closed" in browser.execute_script(
        "return document.querySelector('[data-actions]').textContent"))
