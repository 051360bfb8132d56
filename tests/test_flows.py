"""Flows through the real pipeline (the widget and a WhatsApp fake): every step type, asks with validation, re-asks
and fallbacks, versions, delays, time-outs, stop words, schedules and the step budget."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from appliance.assistant import prompts
from appliance import conversations
from appliance.automation import ab, actions, flows, match
from appliance.records import (Channel, Customer, Flow, FlowRun, FlowVersion, InboundEvent, Message,
                               utcnow)
from appliance.responders import Context
from tests.conftest import ask_bubble, needs_chromium, wait_until
from tests.fakes import (USERS, Writer, connect, consumer, fake_whatsapp, fake_zalo,  # noqa: F401  (fixtures)
                         hook_receiver, sample, signed_headers, writer)

HELLO = prompts.SMALLTALK["en"]["greeting"]
BOOKING = {
    "name": "Booking", "triggers": [{"type": "keyword", "keywords": ["đặt lịch", "book"]}], "start": "hi",
    "steps": [
        {"id": "hi", "type": "send", "text": "Let's book a visit.", "next": "phone"},
        {"id": "phone", "type": "ask", "text": "Your phone number?", "field": "phone", "validate": "phone",
         "retries": 1, "retry_text": "That is not a phone number; try 0912 345 678.", "fallback": "human",
         "next": "when"},
        {"id": "when", "type": "ask", "text": "Which day?", "field": "day", "validate": "date", "next": "done"},
        {"id": "done", "type": "send", "text": "Booked, see you then.", "next": "tag"},
        {"id": "tag", "type": "tag", "tag": "booked", "next": "end"},
        {"id": "end", "type": "end"},
        {"id": "human", "type": "handoff", "reason": "no phone number"},
    ]}


def run_of(writer: Writer) -> FlowRun:
    """The customer's newest flow run."""
    return FlowRun.select().where(FlowRun.customer == writer.customer()).order_by(FlowRun.id.desc()).get()


@pytest.fixture
def web(client, tenant):
    return Writer(client, "web", Channel.create(tenant=tenant.id, kind="web", name="Shop chat").id)


def active(tenant_id: str, body: dict) -> Flow:
    return flows.create(tenant_id, body, active=True)


def sent_texts(fake) -> list[str]:
    """What the WhatsApp fake received, as text (a text body, or the interactive body's text)."""
    out = []
    for request in fake.delivered:
        body = request.body
        out.append(body["text"]["body"] if body.get("type") == "text" else body["interactive"]["body"]["text"])
    return out


# --- asks: validation, re-ask, fallback ------------------------------------------------------------------------

def test_a_booking_flow_asks_validates_stores_and_ends(writer, tenant):
    active(tenant.id, BOOKING)
    writer.says("Cho mình đặt lịch nhé")
    assert writer.texts() == ["Let's book a visit.", "Your phone number?"]  # one turn, two messages
    writer.says("0912 345 678")
    assert writer.texts()[-1] == "Which day?"
    writer.says("5/3/2027")
    assert writer.texts()[-1] == "Booked, see you then."
    customer = writer.customer()
    assert customer.custom_fields["phone"] == "+84912345678" and customer.custom_fields["day"] == "2027-03-05"
    assert customer.tags == ["booked"]
    assert (run_of(writer).status, run_of(writer).step) == ("done", "end")
    assert {m.sender for m in Message.select().where(Message.direction == "out")} == {"automation"}
    if writer.kind == "whatsapp":
        assert sent_texts(writer.fake) == writer.texts()  # in order, through the outbox


def test_a_wrong_answer_is_asked_again_then_the_fallback_runs(writer, tenant):
    active(tenant.id, BOOKING)
    writer.says("book")
    writer.says("tomorrow maybe")
    assert writer.texts()[-1] == "That is not a phone number; try 0912 345 678."
    assert run_of(writer).status == "waiting" and run_of(writer).tries == 1
    writer.says("still no number")
    assert run_of(writer).status == "done"
    assert writer.customer().conversations.get().status == "handoff"  # the fallback: a person takes over
    assert "phone" not in writer.customer().custom_fields


def test_an_ask_without_fallback_gives_the_message_back_to_the_assistant(web, tenant):
    active(tenant.id, {"name": "Mail", "triggers": [{"type": "keyword", "keywords": ["newsletter"]}], "start": "mail",
                       "steps": [{"id": "mail", "type": "ask", "text": "Your e-mail?", "validate": "email",
                                  "retries": 0, "field": "email"}]})
    web.says("newsletter")
    web.says("hello")
    assert web.texts() == ["Your e-mail?", HELLO]
    assert run_of(web).status == "failed"


def test_a_choice_by_button_tap_or_typed_title(writer, tenant):
    active(tenant.id, {"name": "Size", "triggers": [{"type": "keyword", "keywords": ["size"]}], "start": "ask",
                       "steps": [{"id": "ask", "type": "ask", "text": "Which size?", "validate": "choice",
                                  "field": "size", "buttons": [{"id": "S", "title": "Small"},
                                                               {"id": "L", "title": "Large"}], "next": "ok"},
                                 {"id": "ok", "type": "send", "text": "Noted."}]})
    writer.says("size")
    if writer.kind == "whatsapp":
        writer.taps("L", "Large")
        assert writer.fake.delivered[0].body["interactive"]["action"]["buttons"][1]["reply"]["id"] == "L"
    else:
        writer.says("large")  # the widget has no buttons to tap: the title, typed in any case
    assert writer.texts()[-1] == "Noted." and writer.customer().custom_fields["size"] == "L"


def test_a_button_payload_starts_a_flow(client, tenant, fake_whatsapp):
    writer = Writer(client, "whatsapp", connect(client, tenant, fake_whatsapp))
    active(tenant.id, {"name": "Hours", "triggers": [{"type": "payload", "payload": "opening_hours"}],
                       "start": "s", "steps": [{"id": "s", "type": "send", "text": "Open 8:00-21:00 daily."}]})
    writer.taps("opening_hours", "Opening hours")
    assert writer.texts() == ["Open 8:00-21:00 daily."]
    assert sent_texts(fake_whatsapp) == ["Open 8:00-21:00 daily."]


def test_send_steps_with_a_picture_and_a_template_on_whatsapp(client, tenant, fake_whatsapp):
    writer = Writer(client, "whatsapp", connect(client, tenant, fake_whatsapp))
    active(tenant.id, {"name": "Catalogue", "triggers": [{"type": "keyword", "keywords": ["catalogue"]}],
                       "start": "pic", "steps": [
                           {"id": "pic", "type": "send", "text": "This week's bouquet:",
                            "media_url": "https://shop.example/roses.jpg", "next": "tpl"},
                           {"id": "tpl", "type": "send", "template": {"name": "weekly_offer", "language": "vi",
                                                                      "params": ["Lan"]}}]})
    writer.says("catalogue please")
    first, second = fake_whatsapp.wait_for(2)[:2]
    assert first.body["text"]["body"] == "This week's bouquet:\nhttps://shop.example/roses.jpg"
    assert second.body["type"] == "template" and second.body["template"]["name"] == "weekly_offer"
    assert second.body["template"]["language"]["code"] == "vi" and fake_whatsapp.problems == []


def test_a_first_message_event_starts_a_flow_once(web, tenant):
    active(tenant.id, {"name": "Welcome", "triggers": [{"type": "event", "event": "first_message"}], "start": "s",
                       "steps": [{"id": "s", "type": "send", "text": "Welcome to Lan's shop!", "next": "a"},
                                 {"id": "a", "type": "assistant", "next": "q"},
                                 {"id": "q", "type": "ask", "text": "Anything else?"}]})
    web.says("hello")  # the flow's welcome, the assistant's answer where its step is, then the flow's question
    web.says("hello")  # the answer ends the flow without a word: the assistant answers it
    assert web.texts() == ["Welcome to Lan's shop!", HELLO, "Anything else?", HELLO]
    assert run_of(web).status == "done"


def test_a_reopened_conversation_starts_a_flow(web, tenant, services):
    active(tenant.id, {"name": "Back", "triggers": [{"type": "event", "event": "reopened"}], "start": "s",
                       "steps": [{"id": "s", "type": "send", "text": "Welcome back!"}]})
    web.says("hello")
    conversations.close(services, web.customer().conversations.get())
    web.says("hello again")
    web.says("hello")
    assert web.texts() == [HELLO, "Welcome back!", HELLO]


# --- conditions, field and tag steps, jumps ---------------------------------------------------------------------

QUIZ = {"name": "Quiz", "triggers": [{"type": "keyword", "keywords": ["quiz"]}], "start": "is-vip", "steps": [
    {"id": "is-vip", "type": "condition", "branches": [{"if": {"type": "tag", "tag": "vip"}, "next": "hi-vip"}],
     "default": "q"},
    {"id": "hi-vip", "type": "send", "text": "Welcome back, VIP!", "next": "q"},
    {"id": "q", "type": "ask", "text": "How many roses?", "validate": "number", "next": "how-many"},
    {"id": "how-many", "type": "condition", "branches": [
        {"if": {"type": "reply", "op": "equals", "value": "100"}, "next": "wow"},
        {"if": {"type": "channel", "channels": ["web"]}, "next": "web"}], "default": "other"},
    {"id": "wow", "type": "set_field", "field": "wholesale", "value": True, "next": "untag"},
    {"id": "untag", "type": "untag", "tag": "vip", "next": "bye"},
    {"id": "web", "type": "send", "text": "Order them on the site.", "next": "bye"},
    {"id": "other", "type": "jump", "to": "bye"},
    {"id": "bye", "type": "send", "text": "Thanks!"},
]}


def test_conditions_on_tags_the_reply_and_the_channel(writer, tenant):
    active(tenant.id, QUIZ)
    writer.says("quiz")
    assert writer.texts() == ["How many roses?"]  # not a VIP
    writer.says("12")
    # the channel branch on the widget; on WhatsApp the default, a jump
    expected = {"web": ["Order them on the site.", "Thanks!"], "whatsapp": ["Thanks!"]}[writer.kind]
    assert writer.texts()[1:] == expected
    actions.change_tags(actions.Turn(None, tenant.id, writer.customer()), add=["vip"])
    writer.says("quiz")
    assert writer.texts()[-2:] == ["Welcome back, VIP!", "How many roses?"]
    writer.says("100")
    assert writer.texts()[-1] == "Thanks!"
    customer = writer.customer()
    assert customer.custom_fields["wholesale"] is True and customer.tags == []


def test_a_handoff_step_hands_the_conversation_to_a_person(writer, tenant):
    active(tenant.id, {"name": "Human", "triggers": [{"type": "keyword", "keywords": ["complaint"]}], "start": "s",
                       "steps": [{"id": "s", "type": "send", "text": "Sorry! A person will answer.", "next": "h"},
                                 {"id": "h", "type": "handoff", "reason": "complaint"}]})
    writer.says("I have a complaint")
    conversation = writer.customer().conversations.get()
    assert writer.texts() == ["Sorry! A person will answer."] and conversation.status == "handoff"
    writer.says("hello?")
    assert len(writer.texts()) == 1  # the bot is silent while a person has it


def test_an_ab_step_is_sticky_and_counts_the_step_goal(client, tenant):
    channel = Channel.create(tenant=tenant.id, kind="web", name="Shop chat")
    body = {"name": "AB", "triggers": [{"type": "keyword", "keywords": ["offer"]}], "start": "ab",
            "steps": [{"id": "ab", "type": "ab", "experiment": "offer",
                       "variants": [{"name": "A", "weight": 50, "next": "a"},
                                    {"name": "B", "weight": 50, "next": "b"}]},
                      {"id": "a", "type": "ask", "text": "Offer A: 10% off. Want it?", "next": "yes"},
                      {"id": "b", "type": "ask", "text": "Offer B: free delivery. Want it?", "next": "yes"},
                      {"id": "yes", "type": "send", "text": "Great!"}]}
    flow = active(tenant.id, body)
    body["steps"][0]["goal"] = {"type": "step", "flow": flow.id, "step": "yes"}
    flows.update(tenant.id, flow.id, body)
    writers = [Writer(client, "web", channel.id, f"c{n}") for n in range(6)]
    for writer in writers:
        writer.says("offer")
        writer.says("offer")  # the answer to the ask: the flow goes on to "yes" (a goal reached)
        writer.says("offer")  # a new run: the same variant again
    for writer in writers:
        first, _, again = writer.texts()[0], writer.texts()[1], writer.texts()[2]
        assert first in (body["steps"][1]["text"], body["steps"][2]["text"]) and again == first
    [experiment] = ab.results(tenant.id)
    assert experiment["experiment"] == f"flow:{flow.id}:offer"
    assert sum(v["reached"] for v in experiment["variants"]) == 6
    assert sum(v["converted"] for v in experiment["variants"]) == 6


def test_a_webhook_step_calls_the_shop_s_address_signed(client, tenant, services, hook_receiver, consumer):
    services.settings["outbound_allow_hosts"] = hook_receiver.host
    web = Writer(client, "web", Channel.create(tenant=tenant.id, kind="web", name="Shop chat").id)
    flow = flows.create(tenant.id, {
        "name": "Order", "triggers": [{"type": "keyword", "keywords": ["order"]}], "start": "phone",
        "steps": [{"id": "phone", "type": "ask", "text": "Your phone?", "validate": "phone", "field": "phone",
                   "next": "hook"},
                  {"id": "hook", "type": "webhook", "url": hook_receiver.url, "secret": "shop-hook-secret-42",
                   "next": "ok"},
                  {"id": "ok", "type": "send", "text": "Order noted."}]}, active=True, services=services)
    assert "secret" not in FlowVersion.definition_of(flow.id, 1)["steps"][1]  # sealed to its URL, never stored
    web.says("I want to order")
    wait_until(lambda: web.texts() == ["Your phone?"], 30)
    web.says("0912345678")
    wait_until(lambda: web.texts()[-1:] == ["Order noted."], 30)
    headers, raw = hook_receiver.wait_for(1)[0]
    body = json.loads(raw)
    assert body["source"] == f"flow:{flow.id}" and body["customer"]["custom_fields"]["phone"] == "+84912345678"
    digest = hmac.new(b"shop-hook-secret-42", raw, hashlib.sha256).hexdigest()
    assert headers["X-Appliance-Signature"] == f"sha256={digest}"


# --- leaving a flow: stop words, time-outs -----------------------------------------------------------------------

@pytest.mark.parametrize("word,answer", [("hủy", flows.STOPPED["vi"]), ("Thoát", flows.STOPPED["vi"]),
                                         ("huy", flows.STOPPED["vi"]), ("STOP", flows.STOPPED["en"]),
                                         ("cancel", flows.STOPPED["en"]), ("thôi hủy đi", flows.STOPPED["vi"])])
def test_a_stop_word_leaves_the_flow(web, tenant, word, answer):
    active(tenant.id, BOOKING)
    web.says("book")
    web.says(word)
    assert web.texts()[-1] == answer and run_of(web).status == "stopped"
    web.says("hello")
    assert web.texts()[-1] == HELLO  # back to normal


@pytest.mark.parametrize("text,language", [("thôi hủy đi", "vi"), ("Hủy đơn nhé shop", "vi"), ("huy", "vi"),
                                           ("cancel my booking please", "en"), ("STOP", "en"),
                                           ("hủy đơn hôm qua giúp mình với", None), ("stop by at 5", None),
                                           ("Huyền", None), ("", None)])
def test_a_stop_word_may_come_with_a_few_words_that_change_nothing(text, language):
    assert flows.stop_word(match.words(text)) == language


@pytest.mark.parametrize("word", ["stop", "Cancel"])
def test_an_english_stop_word_in_a_vietnamese_flow_is_confirmed_in_vietnamese(web, tenant, word):
    active(tenant.id, {**BOOKING, "steps": [{"id": "hi", "type": "ask", "text": "Số điện thoại của bạn là gì?",
                                             "field": "phone", "validate": "phone"}], "start": "hi"})
    web.says("đặt lịch")
    web.says(word)  # Vietnamese customers type "stop" too: the flow's language answers
    assert web.texts()[-1] == flows.STOPPED["vi"] and run_of(web).status == "stopped"


def age(run: FlowRun, minutes: float) -> None:
    """Make the run's last step `minutes` old (as if the customer had been silent that long)."""
    FlowRun.update(updated_at=utcnow() - timedelta(minutes=minutes)).where(FlowRun.id == run.id).execute()


def test_an_unanswered_flow_times_out_and_the_conversation_returns_to_normal(web, tenant, services):
    active(tenant.id, BOOKING)
    web.says("book")
    age(run_of(web), 59)
    assert flows.time_out(services) == 0  # flow_timeout_minutes: 60
    age(run_of(web), 61)
    assert flows.time_out(services) == 1 and run_of(web).status == "timed_out"
    web.says("hello")
    assert web.texts()[-1] == HELLO


def test_a_flow_s_own_timeout_applies_when_the_customer_writes(web, tenant):
    active(tenant.id, {**BOOKING, "timeout_minutes": 5})
    web.says("book")
    age(run_of(web), 6)
    web.says("hello")  # no sweep ran: the run is found expired when the answer comes
    assert web.texts()[-1] == HELLO and run_of(web).status == "timed_out"


# --- versions ------------------------------------------------------------------------------------------------------

def test_a_running_customer_finishes_on_their_version(client, tenant):
    channel = Channel.create(tenant=tenant.id, kind="web", name="Shop chat")
    early, late = Writer(client, "web", channel.id, "early"), Writer(client, "web", channel.id, "late")
    flow = active(tenant.id, BOOKING)
    early.says("book")
    steps = [dict(s, text="Which day suits you?") if s["id"] == "when" else s for s in BOOKING["steps"]]
    flow = flows.update(tenant.id, flow.id, {**BOOKING, "steps": steps})
    assert flow.version == 2
    early.says("0912345678")
    assert early.texts()[-1] == "Which day?" and run_of(early).version == 1
    late.says("book")
    late.says("0912345678")
    assert late.texts()[-1] == "Which day suits you?" and run_of(late).version == 2


def test_a_deactivated_flow_starts_no_run_but_lets_running_customers_finish(web, tenant):
    flow = active(tenant.id, BOOKING)
    web.says("book")
    flows.deactivate(tenant.id, flow.id)
    web.says("0912345678")
    assert web.texts()[-1] == "Which day?"
    web.says("hủy")
    web.says("book")
    assert web.texts()[-1] != "Let's book a visit." and run_of(web).status == "stopped"


# --- delays: a real consumer rings when the delay is over -------------------------------------------------------

def test_a_delay_resumes_the_flow_and_sends_the_next_messages(client, tenant, consumer):
    web = Writer(client, "web", Channel.create(tenant=tenant.id, kind="web", name="Shop chat").id)
    active(tenant.id, {"name": "Later", "triggers": [{"type": "keyword", "keywords": ["remind"]}], "start": "s",
                       "steps": [{"id": "s", "type": "send", "text": "I will remind you.", "next": "d"},
                                 {"id": "d", "type": "delay", "seconds": 3, "next": "r"},
                                 {"id": "r", "type": "send", "text": "Reminder: your roses are ready.", "next": "q"},
                                 {"id": "q", "type": "ask", "text": "Pick them up today?", "next": "e"},
                                 {"id": "e", "type": "end"}]})
    web.says("remind me")
    wait_until(lambda: len(web.texts()) == 3, 60)
    first, reminder, question = Message.select().where(Message.direction == "out").order_by(Message.id)
    assert [m.text for m in (first, reminder, question)] == [
        "I will remind you.", "Reminder: your roses are ready.", "Pick them up today?"]
    assert (reminder.created_at - first.created_at).total_seconds() >= 3  # sent when the delay was over
    assert run_of(web).status == "waiting" and run_of(web).step == "q"


def test_a_due_delay_is_resumed_by_the_sweep_once(web, tenant, services):
    active(tenant.id, {"name": "Later", "triggers": [{"type": "keyword", "keywords": ["remind"]}], "start": "ok",
                       "steps": [{"id": "ok", "type": "send", "text": "Sure.", "next": "d"},
                                 {"id": "d", "type": "delay", "seconds": 3600, "next": "r"},
                                 {"id": "r", "type": "send", "text": "Reminder!"}]})
    web.says("remind me")
    assert flows.resume_due(services) == 0  # not due yet (the huey ring waits in memory in immediate mode)
    FlowRun.update(resume_at=utcnow()).where(FlowRun.id == run_of(web).id).execute()
    assert flows.resume_due(services) == 1 and flows.resume_due(services) == 0
    assert web.texts() == ["Sure.", "Reminder!"] and run_of(web).status == "done"


def test_an_answer_followed_by_a_delay_is_not_answered_again_by_the_assistant(web, tenant, services):
    active(tenant.id, {"name": "Later", "triggers": [{"type": "keyword", "keywords": ["remind"]}], "start": "q",
                       "steps": [{"id": "q", "type": "ask", "text": "Remind you tomorrow?", "validate": "choice",
                                  "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
                                  "next": "d"},
                                 {"id": "d", "type": "delay", "seconds": 3600, "next": "r"},
                                 {"id": "r", "type": "send", "text": "Reminder!"}]})
    web.says("remind me")
    web.says("1")  # the first button: the flow takes it, and has nothing to say until the delay is over
    assert web.texts() == ["Remind you tomorrow?"] and run_of(web).status == "delayed"
    assert InboundEvent.select().where(InboundEvent.status != "done").count() == 0
    FlowRun.update(resume_at=utcnow()).where(FlowRun.id == run_of(web).id).execute()
    assert flows.resume_due(services) == 1
    assert web.texts() == ["Remind you tomorrow?", "Reminder!"]


def test_a_person_taking_over_ends_the_question_the_flow_waited_on(web, tenant, services):
    active(tenant.id, BOOKING)
    web.says("đặt lịch")
    assert run_of(web).status == "waiting" and run_of(web).step == "phone"
    web.says("talk to a human")  # answered by the request for a person, before the flow
    assert run_of(web).status == "stopped"
    conversations.resume_bot(services, web.customer().conversations.get())
    web.says("0912 345 678")  # long after, to the bot again: not the answer to the old question
    assert "Which day?" not in web.texts()


# --- schedules, rules' start_flow, the step budget ---------------------------------------------------------------

def test_a_scheduled_flow_starts_for_tagged_customers_once_per_minute(client, tenant, services):
    channel = Channel.create(tenant=tenant.id, kind="web", name="Shop chat")
    vip, other = Writer(client, "web", channel.id, "vip"), Writer(client, "web", channel.id, "other")
    for writer in (vip, other):
        writer.says("hello")
    actions.change_tags(actions.Turn(None, tenant.id, vip.customer()), add=["vip"])
    active(tenant.id, {"name": "Monday", "triggers": [{"type": "schedule", "cron": "* * * * *", "tag": "vip"}],
                       "start": "s", "steps": [{"id": "s", "type": "send", "text": "New roses this week!"}]})
    assert flows.run_schedules(services) == 1
    assert flows.run_schedules(services) == 0  # the same minute: the flow's row says it ran
    assert vip.texts() == [HELLO, "New roses this week!"] and other.texts() == [HELLO]


def test_a_rule_s_start_flow_adds_the_first_messages_to_its_turn(web, tenant, services):
    flow = active(tenant.id, BOOKING)
    web.says("hello")
    conversation = web.customer().conversations.get()
    message = Message.select().where(Message.direction == "in").get()
    context = Context(services, tenant.tenant, conversation.channel, conversation, message, [])
    turn = actions.Turn(services, tenant.id, web.customer())
    assert flows.start(turn, flow.id, context) == "waiting"
    assert [o.text for o in turn.outbounds] == ["Let's book a visit.", "Your phone number?"]
    dry = actions.Turn(services, tenant.id, web.customer(), dry_run=True)
    assert flows.start(dry, flow.id, context) == "waiting" and FlowRun.select().count() == 1  # a dry run stores none
    assert flows.start(turn, "flw_missing", context) is None


def test_a_loop_that_slipped_past_the_check_stops_at_the_step_budget(web, tenant):
    flow = Flow.create(tenant=tenant.id, name="Loop", active=True)
    FlowVersion.create(flow=flow, version=1, definition={
        "triggers": [{"type": "keyword", "mode": "contains", "keywords": ["loop"]}], "start": "a",
        "steps": [{"id": "a", "type": "tag", "tag": "x", "next": "b"}, {"id": "b", "type": "jump", "to": "a"}]})
    web.says("loop")
    assert run_of(web).status == "failed" and "steps without waiting" in run_of(web).error
    assert InboundEvent.get().status == "done"
    assert len(web.texts()) == 1  # the rest of the chain answered after the flow gave up


def test_a_turn_cut_off_before_its_reply_gives_the_same_messages_when_answered_again(web, tenant, services):
    """The worker died after the turn's rows were written and before its reply was stored: the event is answered
    again, and the customer gets the messages of that turn, not a second step."""
    from appliance import conversations, pipeline, responders
    from appliance.channels import Inbound

    active(tenant.id, BOOKING)
    web.says("book")
    channel = Channel.get_by_id(web.channel_id)
    [event_id] = pipeline.store_events(channel, [Inbound(kind="text", platform_id="visitor-1:cut", user_id="visitor-1",
                                                         text="0912345678")])
    event = InboundEvent.select(InboundEvent, Channel).join(Channel).where(InboundEvent.id == event_id).get()
    message, _ = conversations.record_inbound(services, event, Inbound.from_json(event.payload))
    conversation = message.conversation
    context = responders.Context(services, tenant.tenant, channel, conversation, message, [])
    assert responders.respond(context).text == "Which day?"  # the turn ran; then the process died
    assert run_of(web).step == "when"
    pipeline.handle_event(services, event_id)  # answered again after the restart
    assert web.texts() == ["Let's book a visit.", "Your phone number?", "Which day?"]
    assert (run_of(web).step, run_of(web).status, run_of(web).tries) == ("when", "waiting", 0)


def test_a_resume_cut_off_by_a_crash_is_taken_again_from_its_step(web, tenant, services):
    """A crash in the middle of a resumed delay leaves the run "running" at the step after the delay (its messages
    unsent): the sweep (or the next start) makes it due again and the messages go."""
    active(tenant.id, {"name": "Later", "triggers": [{"type": "keyword", "keywords": ["remind"]}], "start": "ok",
                       "steps": [{"id": "ok", "type": "send", "text": "Sure.", "next": "d"},
                                 {"id": "d", "type": "delay", "seconds": 60, "next": "q"},
                                 {"id": "q", "type": "ask", "text": "Still want the roses?"}]})
    web.says("remind me")
    FlowRun.update(status="running", updated_at=utcnow() - timedelta(minutes=3)).where(
        FlowRun.id == run_of(web).id).execute()  # the row as the crash left it
    assert flows.recover(services) == 1 and flows.resume_due(services) == 1
    assert web.texts() == ["Sure.", "Still want the roses?"]
    assert (run_of(web).status, run_of(web).step) == ("waiting", "q")


def test_a_follow_starts_a_flow_and_its_answer_continues_it(client, tenant, fake_zalo):
    channel_id = connect(client, tenant, fake_zalo)
    active(tenant.id, {"name": "Hello follower", "triggers": [{"type": "event", "event": "follow"}], "start": "ask",
                       "steps": [{"id": "ask", "type": "ask", "text": "Chào bạn! Bạn ở thành phố nào?", "field": "city",
                                  "next": "ok"},
                                 {"id": "ok", "type": "send", "text": "Cảm ơn bạn!"}]})
    raw = sample("zalo", "follow.json")
    assert client.post(f"/webhooks/zalo/{channel_id}", data=raw, headers=signed_headers("zalo", raw)).status_code == 200
    [welcome] = fake_zalo.wait_for(1)
    assert welcome.body["message"]["text"] == "Chào bạn! Bạn ở thành phố nào?"
    run = FlowRun.get()
    assert (run.status, run.step, run.customer.external_id) == ("waiting", "ask", USERS["zalo"])
    body = json.loads(sample("zalo", "user_send_text.json"))
    body["message"]["text"] = "Hà Nội"
    raw = json.dumps(body).encode()
    assert client.post(f"/webhooks/zalo/{channel_id}", data=raw, headers=signed_headers("zalo", raw)).status_code == 200
    assert fake_zalo.wait_for(2)[1].body["message"]["text"] == "Cảm ơn bạn!"
    assert FlowRun.get().status == "done" and Customer.get_by_id(run.customer_id).custom_fields["city"] == "Hà Nội"


CHOOSE = {
    "name": "Pick-up", "triggers": [{"type": "keyword", "keywords": ["order"]}], "start": "how",
    "steps": [
        {"id": "how", "type": "ask", "text": "How would you like to get it?", "field": "how", "validate": "choice",
         "buttons": [{"id": "deliver", "title": "Delivery"}, {"id": "pickup", "title": "Pick up at the shop"}],
         "next": "done"},
        {"id": "done", "type": "send", "text": "Noted, thank you."},
    ]}


@needs_chromium
def test_a_choice_asked_in_the_widget_shows_its_buttons_and_a_tap_answers_it(browser, live_server, tenant,
                                                                              web_channel, settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    active(tenant.id, CHOOSE)
    settings["demo_channel"] = web_channel.id
    asked = ask_bubble(browser, live_server + "/", "I want to order", 60)
    assert asked.text == "How would you like to get it?"
    wait = WebDriverWait(browser, 30)
    buttons = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, ".apl-btns button")))
    assert [b.text for b in buttons] == ["Delivery", "Pick up at the shop"]
    buttons[1].click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".apl-log"), "Noted, thank you."))
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".apl-me")] == ["I want to order",
                                                                                 "Pick up at the shop"]
    assert Customer.get(Customer.external_id != "").custom_fields["how"] == "pickup"
    assert browser.find_elements(By.CSS_SELECTOR, ".apl-btns") == []  # a tapped choice is gone
