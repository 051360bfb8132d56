"""The inbox API: list and read conversations, hand off, assign, resume the bot, close; and the hand-off round trip
on the WhatsApp fake (customer asks for a human -> bot silent -> agent replies in the window -> resume -> bot again)."""
from datetime import timedelta

import pytest

from appliance.auth import create_user, issue_token
from appliance.records import Channel, Conversation, ConversationEvent, Customer, Message, utcnow
from tests.conftest import HUMAN, assert_error, customer_writes, post_json, say, wait_until
from tests.fakes import connect, fake_whatsapp  # noqa: F401  (fixtures)

def act(client, headers, conversation_id, action, body=None):
    url = f"/api/v1/conversations/{conversation_id}/{action}"
    return post_json(client, url, body or {}, headers) if body is not None else client.post(url, headers=headers)


def listed(client, headers, **query):
    response = client.get("/api/v1/conversations", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(page) -> list[int]:
    return [c["id"] for c in page["conversations"]]


@pytest.fixture
def agent(tenant):
    """An agent of the tenant with an API token of their own."""
    user = create_user("agent@flowers.example", "correct horse", "agent", tenant.tenant)
    return user, {"Authorization": f"Bearer {issue_token('agent', tenant.tenant, user)}"}


# --- listing -----------------------------------------------------------------------------------------------

def test_list_filters_by_status_channel_assignee_and_text(client, tenant, web_channel, agent):
    user, agent_headers = agent
    plain = say(client, web_channel, "plain", "Hello")
    waiting = say(client, web_channel, "waiting", HUMAN)
    taken = say(client, web_channel, "taken", "Do you sell orchids?")
    assert act(client, tenant.headers, taken.id, "assign", {"user_id": user.id}).status_code == 200
    other = Channel.create(tenant=tenant.id, kind="web", name="Second site")
    elsewhere = say(client, other, "elsewhere", "Hello")
    assert ids(listed(client, tenant.headers)) == [elsewhere.id, taken.id, waiting.id, plain.id]  # newest first
    assert ids(listed(client, tenant.headers, status="handoff")) == [waiting.id]
    assert ids(listed(client, tenant.headers, status="assigned")) == [taken.id]
    assert ids(listed(client, tenant.headers, channel=other.id)) == [elsewhere.id]
    assert ids(listed(client, tenant.headers, assigned=str(user.id))) == [taken.id]
    assert ids(listed(client, agent_headers, assigned="me")) == [taken.id]
    assert ids(listed(client, tenant.headers, assigned="none")) == [elsewhere.id, waiting.id, plain.id]
    assert ids(listed(client, tenant.headers, q="orchid")) == [taken.id]
    assert ids(listed(client, tenant.headers, q="orchid", status="open")) == []


def test_list_pages_with_before_and_limit(client, tenant, web_channel):
    made = [say(client, web_channel, f"s{i}", "Hello").id for i in range(5)]
    pages, query = [], {"limit": "2"}
    while True:
        page = listed(client, tenant.headers, **query)
        pages.append(ids(page))
        if page["next"] is None:
            break
        query = {"limit": "2", "before": page["next"]}
    assert pages == [[made[4], made[3]], [made[2], made[1]], [made[0]]]  # newest first, each once
    assert listed(client, tenant.headers, limit="5")["next"] is None


def test_unread_counts_the_customers_messages_since_the_last_reply(client, tenant, web_channel):
    answered = say(client, web_channel, "answered", "Hello")
    waiting = say(client, web_channel, "waiting", HUMAN)  # handed off: the confirmation is the last reply
    say(client, web_channel, "waiting", "Are you there?")
    say(client, web_channel, "waiting", "Hello?")
    page = listed(client, tenant.headers)
    assert {c["id"]: c["unread"] for c in page["conversations"]} == {answered.id: 0, waiting.id: 2}
    assert ids(listed(client, tenant.headers, unread="true")) == [waiting.id]
    assert client.get(f"/api/v1/conversations/{waiting.id}", headers=tenant.headers).get_json()["unread"] == 2
    post_json(client, f"/api/v1/conversations/{waiting.id}/messages", {"text": "Here I am"}, tenant.headers)
    assert ids(listed(client, tenant.headers, unread="true")) == []


def test_one_conversation_has_its_messages_with_statuses_reasons_sources_and_paths(client, tenant, web_channel):
    conversation = say(client, web_channel, "s1", HUMAN)
    body = client.get(f"/api/v1/conversations/{conversation.id}", headers=tenant.headers).get_json()
    assert (body["id"], body["status"], body["customer"]["id"]) == (conversation.id, "handoff", conversation.customer_id)
    asked, confirmed = body["messages"]
    assert (asked["direction"], asked["sender"], asked["text"], asked["status"]) == ("in", "customer", HUMAN, "received")
    assert (confirmed["direction"], confirmed["sender"], confirmed["path"], confirmed["status"]) == (
        "out", "bot", "handoff", "sent")
    assert confirmed["reply_to"] == asked["id"] and confirmed["sources"] == [] and confirmed["error"] is None


# --- state changes -----------------------------------------------------------------------------------------

def test_handoff_assign_resume_and_close(client, tenant, web_channel, agent):
    user, agent_headers = agent
    conversation = say(client, web_channel, "s1", "Hello")
    handed = act(client, agent_headers, conversation.id, "handoff", {"reason": "asked for a refund"})
    assert handed.status_code == 200 and handed.get_json()["status"] == "handoff"
    assigned = act(client, tenant.headers, conversation.id, "assign", {"user_id": user.id})
    assert assigned.get_json()["status"] == "assigned" and assigned.get_json()["assigned_user"] == user.id
    resumed = act(client, agent_headers, conversation.id, "resume-bot")
    assert resumed.get_json()["status"] == "open" and resumed.get_json()["assigned_user"] is None
    closed = act(client, agent_headers, conversation.id, "close")
    assert closed.get_json()["status"] == "closed"
    again = say(client, web_channel, "s1", "Hello again")  # the customer's next message opens a new conversation
    assert again.id != conversation.id and again.status == "open"


@pytest.mark.parametrize("moves, action, code", [
    (["assign"], "handoff", "wrong_state"),  # a person has it already
    (["close"], "handoff", "conversation_closed"),
    (["close"], "assign", "conversation_closed"),
    (["close"], "resume-bot", "conversation_closed"),
])
def test_wrong_state_changes_are_409_with_a_sentence(moves, action, code, client, tenant, web_channel, agent):
    user, _ = agent
    conversation = say(client, web_channel, "s1", "Hello")
    bodies = {"assign": {"user_id": user.id}, "handoff": {}}
    for move in moves:
        assert act(client, tenant.headers, conversation.id, move, bodies.get(move)).status_code == 200
    before = Conversation.get_by_id(conversation.id).status
    events = ConversationEvent.select().count()
    assert_error(act(client, tenant.headers, conversation.id, action, bodies.get(action)), 409, code)
    assert Conversation.get_by_id(conversation.id).status == before and ConversationEvent.select().count() == events


@pytest.mark.parametrize("moves, action, status", [([], "resume-bot", "open"), (["handoff"], "handoff", "handoff"),
                                                   (["close"], "close", "closed")])
def test_asking_for_the_state_it_is_in_changes_nothing(moves, action, status, client, tenant, web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    for move in moves:
        assert act(client, tenant.headers, conversation.id, move).status_code == 200
    events = ConversationEvent.select().count()
    again = act(client, tenant.headers, conversation.id, action)
    assert again.status_code == 200 and again.get_json()["status"] == status
    assert ConversationEvent.select().count() == events  # nothing happened, so nothing is told


def test_assign_takes_only_a_user_of_the_same_tenant(client, tenant, other_tenant, web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    outsider = create_user("spy@other.example", "correct horse", "agent", other_tenant.tenant)
    platform = create_user("root@platform.example", "correct horse", "platform-admin", None)
    for user_id in (outsider.id, platform.id, 10**9):  # a user of another tenant does not exist for this one
        assert_error(act(client, tenant.headers, conversation.id, "assign", {"user_id": user_id}), 404, "not_found")
    for body, code in [({}, "invalid_user_id"), ({"user_id": "1"}, "invalid_user_id"),
                       ({"user_id": True}, "invalid_user_id"), ({"user_id": 2**63}, "invalid_user_id")]:
        assert_error(act(client, tenant.headers, conversation.id, "assign", body), 422, code)
    assert Conversation.get_by_id(conversation.id).assigned_user is None


@pytest.mark.parametrize("method, path, body", [
    ("get", "", None), ("post", "/handoff", {}), ("post", "/assign", {"user_id": 1}), ("post", "/resume-bot", None),
    ("post", "/close", None), ("post", "/messages", {"text": "hi"}),
])
def test_another_tenants_conversation_is_404_everywhere(method, path, body, client, tenant, other_tenant, web_channel):
    conversation = say(client, web_channel, "s1", HUMAN)
    url = f"/api/v1/conversations/{conversation.id}{path}"
    response = getattr(client, method)(url, headers=other_tenant.headers, **({"json": body} if body is not None else {}))
    assert_error(response, 404, "not_found")
    assert Conversation.get_by_id(conversation.id).status == "handoff"
    assert listed(client, other_tenant.headers)["conversations"] == []


@pytest.mark.parametrize("query, code", [
    ({"status": "lost"}, "invalid_status"), ({"limit": "0"}, "invalid_limit"), ({"limit": "201"}, "invalid_limit"),
    ({"limit": "ten"}, "invalid_limit"), ({"before": "yesterday"}, "invalid_before"),
    ({"before": "1-99999999999999999999"}, "invalid_before"), ({"assigned": "bob"}, "invalid_assigned"),
    ({"assigned": str(2**63)}, "invalid_assigned"), ({"unread": "maybe"}, "invalid_unread"),
])
def test_list_refuses_odd_queries_with_422(query, code, client, tenant):
    assert_error(client.get("/api/v1/conversations", query_string=query, headers=tenant.headers), 422, code)


def test_assigned_me_needs_a_token_of_a_user(client, tenant):
    assert_error(client.get("/api/v1/conversations?assigned=me", headers=tenant.headers), 422, "no_user")


def test_handoff_reason_is_checked(client, tenant, web_channel):
    conversation = say(client, web_channel, "s1", "Hello")
    for body in ({"reason": 5}, {"reason": "x" * 501}):
        assert_error(act(client, tenant.headers, conversation.id, "handoff", body), 422, "invalid_reason")
    assert_error(client.post(f"/api/v1/conversations/{conversation.id}/handoff", data=b"{", headers={
        **tenant.headers, "Content-Type": "application/json"}), 400, "invalid_json")
    assert Conversation.get_by_id(conversation.id).status == "open"


# --- the hand-off round trip on WhatsApp ----------------------------------------------------------------------

def bot_reply_to(message: Message) -> Message | None:
    return Message.get_or_none(Message.reply_to == message.id)


def test_handoff_round_trip_on_whatsapp(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    asked = customer_writes(client, channel_id, 1, "I want to talk to a human")
    conversation = asked.conversation
    assert Conversation.get_by_id(conversation.id).status == "handoff"
    confirmation = bot_reply_to(asked)
    assert confirmation.path == "handoff" and fake_whatsapp.wait_for(1)[0].body["text"]["body"] == confirmation.text

    waiting = customer_writes(client, channel_id, 2, "Hello? Is anyone there?")
    assert bot_reply_to(waiting) is None and len(fake_whatsapp.sends) == 1  # the bot stays silent

    agent = post_json(client, f"/api/v1/conversations/{conversation.id}/messages", {"text": "Hi, Lan here. How can I help?"},
                      tenant.headers)
    assert agent.status_code == 201 and agent.get_json()["sender"] == "agent"
    delivered = fake_whatsapp.wait_for(2)[1]
    assert delivered.body["to"] == "84901234567" and delivered.body["text"]["body"] == "Hi, Lan here. How can I help?"
    assert wait_until(lambda: Message.get_by_id(agent.get_json()["id"]).status == "sent")

    resumed = act(client, tenant.headers, conversation.id, "resume-bot")
    assert resumed.status_code == 200 and resumed.get_json()["status"] == "open"
    thanks = customer_writes(client, channel_id, 3, "Thank you")
    answer = bot_reply_to(thanks)
    assert answer is not None and answer.sender == "bot" and answer.conversation_id == conversation.id
    assert fake_whatsapp.wait_for(3)[2].body["text"]["body"] == answer.text


def test_outside_the_window_an_agent_text_is_409_and_a_template_goes(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    conversation = customer_writes(client, channel_id, 1, "I want to talk to a human").conversation
    fake_whatsapp.wait_for(1)
    Customer.update(last_inbound_at=utcnow() - timedelta(hours=25)).where(
        Customer.id == conversation.customer_id).execute()  # the customer last wrote yesterday
    url = f"/api/v1/conversations/{conversation.id}/messages"
    assert_error(post_json(client, url, {"text": "Are you still there?"}, tenant.headers), 409, "outside_window")
    sent = post_json(client, url, {"template": "order_update", "params": ["Lan", "DH-1024"], "language": "vi"},
                     tenant.headers)
    assert sent.status_code == 201 and sent.get_json()["kind"] == "template"
    template = fake_whatsapp.wait_for(2)[1].body
    assert template["type"] == "template" and template["template"]["name"] == "order_update"
    assert [p["text"] for p in template["template"]["components"][0]["parameters"]] == ["Lan", "DH-1024"]
