"""The conversation core: responders in order through the real pipeline (widget and a WhatsApp fake), hand-off that
holds the bot, the one failure policy, the window rule on every outbound message, and the events of each change."""
from __future__ import annotations

import json
import queue
from datetime import timedelta

import pytest

from appliance import conversations
from appliance.assistant import prompts
from appliance.auth import create_user
from appliance.channels import Inbound, Outbound
from appliance.errors import AppError
from appliance.events import NAMES, Event, Events
from appliance.pipeline import MAX_EVENT_ATTEMPTS, handle_event, requeue_unfinished, store_events
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, utcnow
from tests.conftest import configure, conversation_for, make_settings, post_json
from tests.fakes import USERS, Writer, connect, fake_whatsapp, sample, signed_headers, writer  # noqa: F401  (fixtures)

WA_USER = USERS["whatsapp"]  # the sender of the WhatsApp text sample
DONT_KNOW, HANDOFF, HELLO = prompts.DONT_KNOW["en"], prompts.HANDOFF["en"], prompts.SMALLTALK["en"]["greeting"]
# the assistant cannot answer: free-form answers from the cloud, with no cloud configured and no local model to
# fall back on (a model error, as when the cloud is down)
BROKEN_MODEL = {"model": "cloud", "allow_free_form": True, "local_model": "missing.gguf"}


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", cloud_retries=0)


@pytest.fixture
def customer(writer):
    """A customer on the widget, then on WhatsApp (a fake Cloud API on 127.0.0.1)."""
    return writer


# --- responders in order -------------------------------------------------------------------------------

@pytest.mark.parametrize("assistant,text,reply,path,status", [
    ({}, "hello", HELLO, "smalltalk", "open"),  # the assistant answers (small talk)
    ({}, "I want to talk to a human", HANDOFF, "handoff", "handoff"),  # the hand-off responder, before the assistant
    ({"enabled": False}, "Do you sell roses?", HANDOFF, "handoff", "handoff"),  # assistant off: staff answer
    ({"enabled": False}, "hello", HANDOFF, "handoff", "handoff"),  # ... even small talk
    (BROKEN_MODEL, "Do you sell roses?", DONT_KNOW, "fallback", "open"),  # the model fails: the fallback, not silence
    ({**BROKEN_MODEL, "fallback": "handoff"}, "Do you sell roses?", HANDOFF, "handoff", "handoff"),
    ({"fallback": "handoff"}, "Do you sell roses?", HANDOFF, "handoff", "handoff"),  # nothing known: hand off
])
def test_each_responder_case_through_the_real_pipeline(customer, tenant, assistant, text, reply, path, status):
    configure(tenant.id, **assistant)
    customer.says(text)
    [out] = customer.replies()
    assert (out.text, out.path, out.sender, out.status) == (reply, path, "bot", "sent")
    assert customer.conversation().status == status
    assert InboundEvent.get().status == "done"
    if customer.kind == "whatsapp":
        assert customer.fake.delivered[-1].body["text"]["body"] == reply


@pytest.mark.parametrize("held", ["handoff", "assigned"])
def test_a_conversation_held_by_a_person_gets_no_bot_reply(customer, tenant, services, held):
    customer.says("hello")
    conversation = customer.conversation()
    if held == "handoff":
        conversations.handoff(services, conversation, reason="test")
    else:
        agent = create_user("an@shop.vn", "pw-123456-long", "agent", tenant.tenant)
        conversations.assign(services, conversation, agent)
    customer.says("Do you sell roses?")
    assert [m.text for m in customer.replies()] == [HELLO]  # the hello's answer only
    assert InboundEvent.select().where(InboundEvent.status == "done").count() == 2  # handled, deliberately silent
    assert customer.conversation().id == conversation.id  # the same conversation, still held
    assert Message.select().where(Message.direction == "in").count() == 2


def test_hand_off_round_trip_on_whatsapp(client, tenant, services, fake_whatsapp):
    customer = Writer(client, "whatsapp", connect(client, tenant, fake_whatsapp))
    customer.says("Cho mình gặp nhân viên")  # "let me talk to staff"
    conversation = customer.conversation()
    assert conversation.status == "handoff" and customer.replies()[-1].text == prompts.HANDOFF["vi"]
    customer.says("Are you there?")
    assert len(customer.replies()) == 1  # the bot is silent while a person is asked for
    url = f"/api/v1/conversations/{conversation.id}/messages"
    sent = client.post(url, json={"text": "Hi Lan, this is Mai from the shop."}, headers=tenant.headers)
    assert sent.status_code == 201 and sent.get_json()["sender"] == "agent" and sent.get_json()["status"] == "sent"
    assert fake_whatsapp.delivered[-1].body["text"]["body"] == "Hi Lan, this is Mai from the shop."
    conversations.resume_bot(services, conversation)
    customer.says("hello")
    assert [m.sender for m in customer.replies()] == ["bot", "agent", "bot"]
    assert customer.replies()[-1].text == HELLO and customer.conversation().status == "open"


# --- one failure policy ------------------------------------------------------------------------------------

def test_an_event_reaching_its_attempt_limit_ends_failed_once_and_shows_in_healthz(client, tenant, services,
                                                                                  fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    broken = InboundEvent.create(tenant=tenant.id, channel=channel_id, platform_id="wamid.broken", kind="text",
                                 payload=["a row no version of the appliance can read"])
    services.enqueue_events([broken.id])  # immediate mode: the ring drains the queue in this thread
    broken = InboundEvent.get_by_id(broken.id)
    assert (broken.status, broken.attempts) == ("failed", MAX_EVENT_ATTEMPTS)
    assert broken.error.startswith(f"not answered after {MAX_EVENT_ATTEMPTS} attempts")
    health = client.get("/healthz").get_json()
    assert health["queue"]["failed_events"] == 1 and health["queue"]["failed_events_last_hour"] == 1
    assert health["status"] == "degraded" and health["queue"]["pending_events"] == 0
    requeue_unfinished(services)  # a restart, and the sweep: a failed event is not taken again
    services.ring(always=True)
    assert InboundEvent.get_by_id(broken.id).attempts == MAX_EVENT_ATTEMPTS


def test_a_widget_message_whose_answer_raises_gets_the_fallback(client, tenant, services, web_channel):
    configure(tenant.id, **BROKEN_MODEL)
    response = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "Any roses?"})
    assert response.status_code == 202
    [reply] = Message.select().where(Message.direction == "out")
    assert (reply.text, reply.path, reply.status) == (DONT_KNOW, "fallback", "sent")
    assert InboundEvent.get().status == "done"


# --- the window rule and templates: one place for bot and staff ----------------------------------------------

@pytest.mark.parametrize("sender", ["bot", "agent"])
def test_outside_the_window_text_is_refused_for_bot_and_staff_alike(client, tenant, services, fake_whatsapp, sender):
    conversation = conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp", 30)
    with pytest.raises(AppError) as refused:
        conversations.reply(services, conversation, Outbound(to="", text="Still there?"), sender)
    assert (refused.value.status, refused.value.code) == (409, "outside_window")
    assert Message.select().count() == 0 and fake_whatsapp.requests == []


def test_outside_the_window_the_channels_window_template_carries_the_text(client, tenant, services, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp, window_template="reply_later", template_language="vi")
    conversation = conversation_for(channel_id, "whatsapp", 30)
    message = conversations.reply(services, conversation, Outbound(to="", text="Hoa hồng còn ạ"), "agent")
    assert Message.get_by_id(message.id).status == "sent" and message.kind == "template"
    template = fake_whatsapp.delivered[-1].body["template"]
    assert template["name"] == "reply_later" and template["components"][0]["parameters"][0]["text"] == "Hoa hồng còn ạ"


def test_templates_on_the_widget_are_refused(client, tenant, services, web_channel):
    conversation = Conversation.create(tenant=tenant.id, channel=web_channel, customer=Customer.create(
        tenant=tenant.id, channel=web_channel, external_id="s-9"))
    url = f"/api/v1/conversations/{conversation.id}/messages"
    refused = client.post(url, json={"template": "hello", "params": []}, headers=tenant.headers)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "templates_unsupported"


def test_one_bot_reply_per_customer_message(client, tenant, services, web_channel):
    [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id="s:1", user_id="s", text="hi")])
    services.enqueue_events([event_id])
    inbound = Message.get(Message.direction == "in")
    again = conversations.reply(services, inbound.conversation, Outbound(to="", text="twice?"), "bot",
                                reply_to=inbound.id)
    assert again.text == HELLO and Message.select().where(Message.direction == "out").count() == 1


def test_an_event_tried_again_is_recorded_once_and_answered_once(services, web_channel):
    [event_id] = store_events(web_channel, [Inbound(kind="text", platform_id="s:1", user_id="s", text="hi")])
    event = InboundEvent.get_by_id(event_id)
    # a try that died after recording the message: the next one finds it (unique per event) and answers it
    first, new = conversations.record_inbound(services, event, Inbound.from_json(event.payload))
    again, new_again = conversations.record_inbound(services, event, Inbound.from_json(event.payload))
    assert new and not new_again and again.id == first.id
    handle_event(services, event_id)
    InboundEvent.update(status="pending").where(InboundEvent.id == event_id).execute()  # and a replay after the reply
    handle_event(services, event_id)
    assert [m.id for m in Message.select().where(Message.direction == "in")] == [first.id]
    assert [(m.reply_to_id, m.text) for m in Message.select().where(Message.direction == "out")] == [(first.id, HELLO)]
    assert Customer.select().count() == 1 and Conversation.select().count() == 1


# --- states and their events --------------------------------------------------------------------------------

@pytest.fixture
def received(services):
    """Every conversation event of the app, in order (receivers run synchronously after each write)."""
    box: queue.Queue = queue.Queue()
    services.events.subscribe("*", box.put)
    return box


def names(box: queue.Queue) -> list[str]:
    """The names of the events received so far."""
    seen = []
    while not box.empty():
        seen.append(box.get_nowait().name)
    return seen


def test_each_change_emits_its_named_event(client, tenant, services, web_channel, received):
    agent = create_user("mai@shop.vn", "pw-123456-long", "agent", tenant.tenant)
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello"})
    assert names(received) == ["message.in", "message.out", "message.status"]  # in, the reply, then it was sent
    conversation = Conversation.get()
    conversations.handoff(services, conversation, reason="asked for a person")
    conversations.assign(services, conversation, agent)
    conversations.resume_bot(services, conversation, by_user=agent)
    conversations.close(services, conversation, by_user=agent)
    assert names(received) == ["conversation.handoff", "conversation.assigned", "conversation.resumed",
                               "conversation.closed"]


def test_event_data_is_the_api_shape_scoped_to_its_tenant(client, tenant, services, web_channel, received):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello"})
    inbound, out, status = (received.get_nowait() for _ in range(3))
    conversation = Conversation.get()
    assert {e.tenant_id for e in (inbound, out, status)} == {tenant.id}
    assert {e.conversation_id for e in (inbound, out, status)} == {conversation.id}
    came_in = Message.get(Message.direction == "in")
    assert inbound.data == {**conversations.message_json(came_in),  # the API shape, plus the conversation's state
                            "customer": {"id": conversation.customer_id, "name": conversation.customer.name},
                            "channel": web_channel.id, "conversation_status": "open", "assigned_user": None}
    assert (out.data["sender"], out.data["status"], status.data["status"]) == ("bot", "pending", "sent")
    closed = conversations.close(services, conversation)
    event = received.get_nowait()
    assert event.data == conversations.conversation_json(closed) and event.data["status"] == "closed"


def test_a_platform_status_is_a_message_status_event(client, tenant, services, fake_whatsapp, received):
    customer = Writer(client, "whatsapp", connect(client, tenant, fake_whatsapp))
    customer.says("hello")
    [reply] = customer.replies()
    assert names(received) == ["message.in", "message.out", "message.status"]  # in, the reply, sent
    body = json.loads(sample("whatsapp", "status_delivered.json"))
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = reply.platform_id
    raw = json.dumps(body).encode()
    assert client.post(f"/webhooks/whatsapp/{customer.channel_id}", data=raw,
                       headers=signed_headers("whatsapp", raw)).status_code == 200
    event = received.get_nowait()
    assert (event.name, event.data["id"], event.data["status"]) == ("message.status", reply.id, "delivered")
    assert received.empty()


def test_a_hand_off_by_a_responder_says_why(client, tenant, services, web_channel, received):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "talk to a human please"})
    *_, handoff = (received.get_nowait() for _ in range(4))  # in, out, status (sent), then the hand-off
    assert (handoff.name, handoff.data["status"]) == ("conversation.handoff", "handoff")
    assert handoff.data["reason"] == "the customer asked for a person"


def test_a_change_that_changes_nothing_emits_nothing(client, tenant, services, web_channel, received):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello"})
    names(received)
    conversation = Conversation.get()
    assert conversations.resume_bot(services, conversation).status == "open"  # open already
    conversations.close(services, conversation)
    conversations.close(services, conversation)
    assert names(received) == ["conversation.closed"]
    with pytest.raises(AppError) as refused:
        conversations.handoff(services, Conversation.get_by_id(conversation.id))
    assert (refused.value.status, refused.value.code) == (409, "conversation_closed")


def test_assign_only_to_a_user_of_the_same_tenant(client, tenant, other_tenant, services, web_channel):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello"})
    stranger = create_user("x@other.vn", "pw-123456-long", "agent", other_tenant.tenant)
    with pytest.raises(AppError) as refused:
        conversations.assign(services, Conversation.get(), stranger)
    assert refused.value.status == 404 and Conversation.get().status == "open"


def test_a_closed_conversation_restarts_when_the_customer_writes(client, tenant, services, web_channel, received):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello", "id": "1"})
    first = Conversation.get()
    conversations.close(services, first)
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello", "id": "2"})
    second = Conversation.select().order_by(Conversation.id.desc()).get()
    assert second.id != first.id and second.status == "open"
    assert Message.select().where((Message.conversation == second) & (Message.direction == "out")).count() == 1


def test_auto_close_closes_idle_conversations_only(client, tenant, services, web_channel, received):
    for session in ("idle", "busy"):
        post_json(client, f"/widget/{web_channel.id}/messages", {"session": session, "text": "hello"})
    idle = Conversation.select().join(Customer).where(Customer.external_id == "idle").get()
    Conversation.update(last_message_at=utcnow() - timedelta(hours=services.settings.conversation_idle_hours + 1)).where(
        Conversation.id == idle.id).execute()
    names(received)
    assert conversations.auto_close(services) == 1
    assert [e.conversation_id for e in [received.get_nowait()]] == [idle.id]
    assert {c.status for c in Conversation.select()} == {"closed", "open"}
    services.settings["conversation_idle_hours"] = 0  # never
    Conversation.update(last_message_at=utcnow() - timedelta(days=365)).execute()
    assert conversations.auto_close(services) == 0


# --- the registry ------------------------------------------------------------------------------------------

def test_a_receiver_that_raises_never_breaks_the_write_or_the_other_receivers(caplog):
    events, got = Events(), []

    def broken(event):
        raise RuntimeError("boom")

    events.subscribe("message.in", broken)
    events.subscribe("*", got.append)
    event = Event("message.in", "t_1", 1, {"id": 1})
    events.emit(event)
    assert got == [event] and "a receiver of message.in failed" in caplog.text
    with pytest.raises(ValueError):
        events.subscribe("message.typo", got.append)
    assert events.wanted("conversation.closed") and not Events().wanted("conversation.closed")
    assert set(NAMES) >= {"message.in", "message.out", "message.status", "conversation.handoff",
                          "conversation.assigned", "conversation.resumed", "conversation.closed"}


# --- web is a channel like the others --------------------------------------------------------------------------

def test_an_agent_reply_reaches_the_open_widget_stream_without_staff_fields(client, tenant, services, web_channel):
    post_json(client, f"/widget/{web_channel.id}/messages", {"session": "s-1", "text": "hello"})
    conversation = Conversation.get()
    box = services.streams.subscribe(web_channel.id, "s-1")  # what GET /widget/<id>/events reads from
    sent = client.post(f"/api/v1/conversations/{conversation.id}/messages", json={"text": "Mai here, hi!"},
                       headers=tenant.headers)
    assert sent.status_code == 201 and sent.get_json()["status"] == "sent"
    event, data = box.get(timeout=5)
    assert (event, data["text"], data["sender"], data["id"]) == ("message", "Mai here, hi!", "agent", sent.get_json()["id"])
    assert {"model", "sources", "path", "rejected", "error", "tokens"}.isdisjoint(data)


def test_an_event_of_a_channel_disconnected_meanwhile_ends_failed_with_its_reason(client, tenant, services,
                                                                                   fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    [event_id] = store_events(Channel.get_by_id(channel_id),
                              [Inbound(kind="text", platform_id="wamid.late", user_id=WA_USER, text="hello")])
    assert client.delete(f"/api/v1/channels/{channel_id}", headers=tenant.headers).status_code == 204
    services.enqueue_events([event_id])
    event = InboundEvent.get_by_id(event_id)
    assert (event.status, event.error, event.attempts) == ("failed", "not answered: channel_disconnected", 1)
    assert Message.get(Message.inbound_event == event_id).error == "not answered: channel_disconnected"
    assert fake_whatsapp.requests == [] and client.get("/healthz").get_json()["queue"]["failed_events"] == 1
