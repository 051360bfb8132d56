"""The outbox: retries with backoff, Retry-After, circuit breaker, rate cap, permanent failures, expired tokens,
Zalo token refresh, windows and templates, statuses out of order, re-queue at start-up, and quiet INFO logs."""
import json
import logging
from datetime import timedelta

import pytest

from appliance import conversations, outbox
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, utcnow
from tests.conftest import make_settings, wait_until
from tests.fakes import (  # noqa: F401  (fixtures)
    CREDENTIALS, connect, consumer, fake_messenger, fake_telegram, fake_whatsapp, fake_zalo, fakes, sample,
    signed_headers,
)

USERS = {"whatsapp": "84901234567", "messenger": "7021234567890123", "zalo": "2512523625412515", "telegram": "123456789"}


@pytest.fixture
def settings(tmp_path):
    """Tiny backoff so retries run in milliseconds; a short send timeout for the timeout cases."""
    return make_settings(tmp_path / "data", outbox_backoff_base=0.01, outbox_backoff_max=0.05, outbox_timeout=0.5,
                         llm_max_tokens=8)


def conversation_for(channel_id: str, kind: str, last_inbound_hours: float = 0.1) -> Conversation:
    channel = Channel.get_by_id(channel_id)
    customer = Customer.create(tenant=channel.tenant_id, channel=channel, external_id=USERS[kind], name="Lan",
                               last_inbound_at=utcnow() - timedelta(hours=last_inbound_hours),
                               custom_fields={"phone": "84901234567"})
    return Conversation.create(tenant=channel.tenant_id, channel=channel, customer=customer)


def queue_reply(services, conversation, text="Hello from the shop", **payload) -> Message:
    message = Message.create(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender="bot",
                             text=text, status="pending", payload=payload or None)
    outbox.hand_over(services, message)
    return Message.get_by_id(message.id)


def make_due(message: Message) -> None:
    Message.update(next_attempt_at=utcnow() - timedelta(seconds=1)).where(Message.id == message.id).execute()


def fresh(message: Message) -> Message:
    return Message.get_by_id(message.id)


# --- retries ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,failures,attempts", [  # a rate limit (Zalo -32, Telegram 429) is not an attempt
    ("whatsapp", [{"status": 500}, {"delay": 1.0}, {"status": 400, "body": {"error": {"code": 131000, "message": "x"}}}], 4),
    ("messenger", [{"status": 503}, {"status": 500}, {"delay": 1.0}], 4),
    ("zalo", [{"status": 502}, {"status": 200, "body": {"error": -32, "message": "rate"}}, {"status": 500}], 3),
    ("telegram", [{"status": 500, "body": {"ok": False, "error_code": 500, "description": "Internal"}},
                  {"status": 429, "body": {"ok": False, "error_code": 429, "parameters": {"retry_after": 0}}}, {"delay": 1.0}], 3),
])
def test_platform_failing_three_times_then_succeeding_delivers_once(kind, failures, attempts, consumer, client, tenant, fakes,
                                                                    services):
    fake = fakes[kind]
    for failure in failures:
        fake.fail(**failure)
    conversation = conversation_for(connect(client, tenant, fake), kind)
    message = queue_reply(services, conversation)
    wait_until(lambda: fresh(message).status == "sent", 60)
    row = fresh(message)
    assert row.attempts == attempts and row.error is None and row.platform_id
    assert len(fake.delivered) == 1 and len(fake.sends) == 4 and fake.problems == []


def test_retries_give_up_after_the_attempt_limit(client, tenant, fake_whatsapp, services):
    services.settings["outbox_max_attempts"] = 2
    fake_whatsapp.fail(times=5, status=500)
    message = queue_reply(services, conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp"))
    assert fresh(message).status == "pending" and fresh(message).attempts == 1
    make_due(message)
    outbox.deliver(services, message.id)
    row = fresh(message)
    assert row.status == "failed" and "gave up after 2 attempts" in row.error and len(fake_whatsapp.sends) == 2


@pytest.mark.parametrize("kind,failure,at_least", [
    ("whatsapp", {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"code": 130429, "message": "Rate limit hit"}}}, 1),
    ("telegram", {"status": 429, "body": {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 2",
                                         "parameters": {"retry_after": 2}}}, 2),
])
def test_rate_limits_honour_retry_after(kind, failure, at_least, client, tenant, fakes, services):
    fake = fakes[kind]
    fake.fail(**failure)
    channel_id = connect(client, tenant, fake)
    message = queue_reply(services, conversation_for(channel_id, kind))
    row = fresh(message)
    assert row.status == "pending" and row.error.startswith("rate_limited") and row.attempts == 0
    assert (row.next_attempt_at - row.updated_at).total_seconds() >= at_least - 0.05
    outbox.deliver(services, message.id)  # not due yet: nothing happens
    assert len(fake.sends) == 1
    make_due(message)
    outbox.deliver(services, message.id)  # due, but the channel is still paused: it waits, unsent
    assert len(fake.sends) == 1 and fresh(message).status == "pending"
    wait_until(lambda: services.outbox.breaker.wait(channel_id) == 0, 10)
    make_due(message)
    outbox.deliver(services, message.id)
    assert fresh(message).status == "sent" and len(fake.delivered) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings):
    settings = make_settings(settings.data, outbox_backoff_base=1.0, outbox_backoff_max=10.0)
    delays = [[outbox.backoff(settings, n) for _ in range(50)] for n in (1, 2, 3, 4, 5, 6)]
    assert all(0.5 <= d <= 1.0 for d in delays[0]) and all(2.0 <= d <= 4.0 for d in delays[2])
    assert all(5.0 <= d <= 10.0 for d in delays[5]) and len(set(delays[1])) > 1


# --- circuit breaker and rate cap ----------------------------------------------------------------------

def test_circuit_breaker_pauses_a_failing_channel_then_probes(client, tenant, fake_whatsapp, fake_telegram, services):
    services.settings.update(outbox_breaker_failures=2, outbox_breaker_seconds=1.0)
    fake_whatsapp.fail(times=2, status=500)
    conversation = conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp")
    first = queue_reply(services, conversation)
    make_due(first)
    outbox.deliver(services, first.id)  # second failure opens the breaker
    assert len(fake_whatsapp.sends) == 2 and fresh(first).status == "pending"
    second = queue_reply(services, conversation)
    row = fresh(second)
    assert row.status == "pending" and row.attempts == 0 and len(fake_whatsapp.sends) == 2  # nothing sent while open
    assert (row.next_attempt_at - utcnow()).total_seconds() > 0.5
    other = queue_reply(services, conversation_for(connect(client, tenant, fake_telegram), "telegram"))
    assert fresh(other).status == "sent"  # the breaker is per channel
    wait_until(lambda: services.outbox.breaker.wait(conversation.channel_id) == 0, 10)  # cool-down over
    make_due(second)
    outbox.deliver(services, second.id)
    assert fresh(second).status == "sent" and services.outbox.breaker.wait(conversation.channel_id) == 0


def test_rate_cap_spaces_sends_on_one_channel(client, tenant, fake_messenger, fake_telegram, services):
    services.settings["outbox_rate_per_second"] = 0.5  # one message every 2 s: the next slot is too far to wait for
    conversation = conversation_for(connect(client, tenant, fake_messenger), "messenger")
    messages = [queue_reply(services, conversation, f"reply {i}") for i in range(3)]
    assert [fresh(m).status for m in messages] == ["sent", "pending", "pending"]
    assert all(fresh(m).next_attempt_at > utcnow() and fresh(m).attempts == 0 for m in messages[1:])
    assert len(fake_messenger.sends) == 1
    services.settings["outbox_rate_per_second"] = 5.0  # a slot 0.2 s away: the worker waits for it
    other = conversation_for(connect(client, tenant, fake_telegram), "telegram")
    assert [fresh(queue_reply(services, other, f"r{i}")).status for i in range(2)] == ["sent", "sent"]


# --- permanent failures, expired tokens, Zalo refresh --------------------------------------------------

@pytest.mark.parametrize("kind,failure,reason", [
    ("whatsapp", {"status": 400, "body": {"error": {"code": 131026, "message": "Message undeliverable"}}}, "undeliverable"),
    ("messenger", {"status": 400, "body": {"error": {"code": 551, "message": "This person isn't available right now."}}}, "undeliverable"),
    ("zalo", {"status": 200, "body": {"error": -213, "message": "User has not followed OA"}}, "not_follower"),
    ("zalo", {"status": 200, "body": {"error": -230, "message": "User has not interacted with the OA in 7 days"}}, "outside_window"),
    ("messenger", {"status": 400, "body": {"error": {"code": 10, "error_subcode": 2018278, "message": "outside of allowed window"}}},
     "outside_window"),
    ("telegram", {"status": 403, "body": {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}}, "blocked"),
])
def test_permanent_errors_fail_the_message_with_the_reason(kind, failure, reason, client, tenant, fakes, services):
    fakes[kind].fail(**failure)
    message = queue_reply(services, conversation_for(connect(client, tenant, fakes[kind]), kind))
    row = fresh(message)
    assert row.status == "failed" and row.error.startswith(reason) and row.attempts == 1
    assert Channel.get_by_id(row.conversation.channel_id).status == "active"


@pytest.mark.parametrize("kind,failure", [
    ("whatsapp", {"status": 401, "body": {"error": {"code": 190, "message": "Error validating access token: Session has expired"}}}),
    ("zalo", {"status": 200, "body": {"error": -216, "message": "Access token is invalid"}}),
    ("telegram", {"status": 401, "body": {"ok": False, "error_code": 401, "description": "Unauthorized"}}),
])
def test_expired_token_marks_the_channel_as_needing_attention(kind, failure, client, tenant, fakes, services):
    fakes[kind].fail(**failure)
    channel_id = connect(client, tenant, fakes[kind])
    message = queue_reply(services, conversation_for(channel_id, kind))
    assert fresh(message).status == "failed" and fresh(message).error.startswith("token_expired")
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded" and health["outbox"]["channels_needing_attention"] == 1
    listed = client.get("/api/v1/channels", headers=tenant.headers).get_json()["channels"]
    assert next(c for c in listed if c["id"] == channel_id)["status"] == "needs_attention"
    later = queue_reply(services, Conversation.get(Conversation.channel == channel_id))
    assert fresh(later).status == "failed" and fresh(later).error.startswith("channel_needs_attention")
    assert len(fakes[kind].sends) == 1


def test_zalo_refreshes_an_expired_token_once_and_keeps_the_new_one(client, tenant, fake_zalo, services):
    services.settings["zalo_oauth_base"] = fake_zalo.base_url
    channel_id = connect(client, tenant, fake_zalo)
    fake_zalo.credentials["access_token"] = "zalo-access-rotated"  # ours expired: Zalo answers -220
    conversation = conversation_for(channel_id, "zalo")
    first = queue_reply(services, conversation)
    assert fresh(first).status == "sent" and fake_zalo.refreshes == 1
    refresh = next(r for r in fake_zalo.requests if r.path == "/v4/oa/access_token")
    assert refresh.body == {"refresh_token": "zalo-refresh-1", "app_id": CREDENTIALS["zalo"]["app_id"], "grant_type": "refresh_token"}
    stored = services.vault.decrypt(Channel.get_by_id(channel_id).credentials, f"channel:{channel_id}")
    assert stored["access_token"] == "zalo-access-2" and stored["refresh_token"] == "zalo-refresh-2"
    second = queue_reply(services, conversation)
    assert fresh(second).status == "sent" and fake_zalo.refreshes == 1
    assert fake_zalo.sends[-1].headers["access_token"] == "zalo-access-2"
    # a worker that read the old token before the refresh uses the stored new one: no second (single-use) refresh
    from appliance.channels import Outbound, zalo

    stale = {**CREDENTIALS["zalo"]}
    outbox._send(services, Channel.get_by_id(channel_id), zalo, Outbound(to=USERS["zalo"], text="hi"), stale)
    assert fake_zalo.refreshes == 1 and stale["access_token"] == "zalo-access-2"
    assert fake_zalo.delivered[-1].headers["access_token"] == "zalo-access-2"


# --- windows and templates -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,hours,open_", [
    ("whatsapp", 23.9, True), ("whatsapp", 24.1, False), ("messenger", 25, False), ("zalo", 47, True),
    ("zalo", 49, False), ("zalo", 24 * 8, False), ("telegram", 24 * 30, True), ("web", 24 * 30, True),
])
def test_windows(kind, hours, open_):
    now = utcnow()
    assert conversations.window_open(kind, now - timedelta(hours=hours), now) is open_


def test_whatsapp_131047_takes_the_template_path(client, tenant, fake_whatsapp, services):
    fake_whatsapp.fail(status=400, when=lambda body: body.get("type") == "text", body={"error": {
        "code": 131047, "message": "Re-engagement message", "error_data": {"details": "More than 24 hours have passed"}}})
    channel_id = connect(client, tenant, fake_whatsapp)
    conversation = conversation_for(channel_id, "whatsapp", last_inbound_hours=23.99)
    reply = queue_reply(services, conversation)
    assert fresh(reply).status == "failed" and fresh(reply).error.startswith("outside_window")
    # the window has closed: free text is refused by the API, a template goes through
    Customer.update(last_inbound_at=utcnow() - timedelta(hours=30)).execute()
    url = f"/api/v1/conversations/{conversation.id}/messages"
    refused = client.post(url, json={"text": "Are you still there?"}, headers=tenant.headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "outside_window"
    sent = client.post(url, json={"template": "follow_up", "params": ["Lan"], "language": "vi"}, headers=tenant.headers)
    assert sent.status_code == 201 and sent.get_json()["status"] == "sent"
    assert fake_whatsapp.delivered[-1].body == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "84901234567", "type": "template",
        "biz_opaque_callback_data": f"appliance:{sent.get_json()['id']}",
        "template": {"name": "follow_up", "language": {"code": "vi"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Lan"}]}]}}
    assert fake_whatsapp.problems == []


def test_131047_with_a_configured_window_template_resends_as_that_template(client, tenant, fake_whatsapp, services):
    fake_whatsapp.fail(status=400, when=lambda body: body.get("type") == "text",
                       body={"error": {"code": 131047, "message": "Re-engagement message"}})
    channel_id = connect(client, tenant, fake_whatsapp, window_template="reply_later", template_language="en")
    reply = queue_reply(services, conversation_for(channel_id, "whatsapp"), "Yes, we have roses")
    row = fresh(reply)
    assert row.status == "sent" and row.payload["template"]["name"] == "reply_later"
    template = fake_whatsapp.delivered[-1].body["template"]
    assert template["name"] == "reply_later" and template["components"][0]["parameters"][0]["text"] == "Yes, we have roses"


def test_outside_the_window_a_bot_reply_is_refused_before_calling_the_platform(client, tenant, fake_messenger, services):
    conversation = conversation_for(connect(client, tenant, fake_messenger), "messenger", last_inbound_hours=30)
    reply = queue_reply(services, conversation)
    assert fresh(reply).status == "failed" and fresh(reply).error.startswith("outside_window")
    assert fake_messenger.requests == []


def test_zalo_outside_48h_needs_zns(client, tenant, fake_zalo, services):
    services.settings["zalo_zns_base"] = fake_zalo.base_url
    conversation = conversation_for(connect(client, tenant, fake_zalo), "zalo", last_inbound_hours=72)
    url = f"/api/v1/conversations/{conversation.id}/messages"
    assert client.post(url, json={"text": "hi"}, headers=tenant.headers).status_code == 409
    sent = client.post(url, json={"template": "231456", "params": {"customer_name": "Lan", "order": "42"}}, headers=tenant.headers)
    assert sent.status_code == 201 and sent.get_json()["status"] == "sent"
    zns = fake_zalo.delivered[-1]
    assert zns.path == "/message/template" and zns.body["phone"] == "84901234567"
    assert zns.body["template_id"] == "231456" and zns.body["template_data"] == {"customer_name": "Lan", "order": "42"}


@pytest.mark.parametrize("kind", ["whatsapp", "messenger", "telegram"])
def test_agent_messages_with_buttons_use_the_native_form(kind, client, tenant, fakes, services):
    conversation = conversation_for(connect(client, tenant, fakes[kind]), kind)
    buttons = [{"id": "hours", "title": "Opening hours"}, {"id": "menu", "title": "See the menu"}]
    response = client.post(f"/api/v1/conversations/{conversation.id}/messages",
                           json={"text": "How can I help?", "buttons": buttons}, headers=tenant.headers)
    assert response.status_code == 201
    body = fakes[kind].delivered[-1].body
    if kind == "whatsapp":
        assert body["interactive"]["action"]["buttons"][0] == {"type": "reply", "reply": {"id": "hours", "title": "Opening hours"}}
    elif kind == "messenger":
        assert body["message"]["quick_replies"][1] == {"content_type": "text", "title": "See the menu", "payload": "menu"}
    else:
        assert body["reply_markup"]["inline_keyboard"] == [[{"text": "Opening hours", "callback_data": "hours"}],
                                                           [{"text": "See the menu", "callback_data": "menu"}]]
    assert fakes[kind].problems == []


def test_conversation_message_validation(client, tenant, other_tenant, fake_telegram):
    conversation = conversation_for(connect(client, tenant, fake_telegram), "telegram")
    url = f"/api/v1/conversations/{conversation.id}/messages"
    assert client.post(url, json={}, headers=tenant.headers).status_code == 422
    assert client.post(url, json={"text": "x", "buttons": [{"id": 1}]}, headers=tenant.headers).status_code == 422
    assert client.post(url, json={"text": "hi"}, headers=other_tenant.headers).status_code == 404


# --- statuses ------------------------------------------------------------------------------------------

def post_status(client, channel_id, name, wamid):
    raw = sample("whatsapp", name).replace(b"wamid.OUT1", wamid.encode())
    assert client.post(f"/webhooks/whatsapp/{channel_id}", data=raw, headers=signed_headers("whatsapp", raw)).status_code == 200


def test_whatsapp_statuses_out_of_order_never_go_backwards(client, tenant, fake_whatsapp, services):
    channel_id = connect(client, tenant, fake_whatsapp)
    message = queue_reply(services, conversation_for(channel_id, "whatsapp"))
    wamid = fresh(message).platform_id
    post_status(client, channel_id, "status_read.json", wamid)
    assert fresh(message).status == "read"
    for name in ("status_delivered.json", "status_sent.json", "status_failed.json", "status_read.json"):
        post_status(client, channel_id, name, wamid)
        assert fresh(message).status == "read"
    assert InboundEvent.select().where(InboundEvent.kind == "status").count() == 4  # the repeated read was a duplicate


def test_delivered_then_failed_and_a_status_before_the_send_answered(client, tenant, fake_whatsapp, services):
    channel_id = connect(client, tenant, fake_whatsapp)
    conversation = conversation_for(channel_id, "whatsapp")
    first = queue_reply(services, conversation)
    post_status(client, channel_id, "status_failed.json", fresh(first).platform_id)
    assert fresh(first).status == "failed" and "131026" in fresh(first).error
    # the webhook says "delivered" for wamid.FAKE2 before our send of it has returned
    post_status(client, channel_id, "status_delivered.json", "wamid.FAKE2")
    assert InboundEvent.get(InboundEvent.platform_id == "wamid.FAKE2:delivered").status == "waiting"
    second = queue_reply(services, conversation)
    assert fresh(second).platform_id == "wamid.FAKE2" and fresh(second).status == "delivered"
    assert InboundEvent.get(InboundEvent.platform_id == "wamid.FAKE2:delivered").status == "done"


def test_messenger_watermarks_and_zalo_seen_ids(client, tenant, fake_messenger, fake_zalo, services):
    fb = connect(client, tenant, fake_messenger)
    message = queue_reply(services, conversation_for(fb, "messenger"))
    Message.update(created_at=utcnow() - timedelta(days=1)).where(Message.id == message.id).execute()
    for name, expected in (("read.json", "read"), ("delivery.json", "read")):
        raw = sample("messenger", name).replace(b"1763790009000", str(int(utcnow().timestamp() * 1000) + 10**7).encode())
        raw = raw.replace(b"m_OUT1", fresh(message).platform_id.encode())
        assert client.post(f"/webhooks/messenger/{fb}", data=raw, headers=signed_headers("messenger", raw)).status_code == 200
        assert fresh(message).status == expected
    za = connect(client, tenant, fake_zalo)
    zmessage = queue_reply(services, conversation_for(za, "zalo"))
    raw = sample("zalo", "user_seen_message.json").replace(b"zmsg.OUT1", fresh(zmessage).platform_id.encode())
    assert client.post(f"/webhooks/zalo/{za}", data=raw, headers=signed_headers("zalo", raw)).status_code == 200
    assert fresh(zmessage).status == "read"


def test_follow_unfollow_and_reactions(client, tenant, fake_zalo, fake_whatsapp, services):
    za = connect(client, tenant, fake_zalo)
    for name, following in (("follow.json", True), ("unfollow.json", False)):
        raw = sample("zalo", name)
        assert client.post(f"/webhooks/zalo/{za}", data=raw, headers=signed_headers("zalo", raw)).status_code == 200
        assert Customer.get(Customer.external_id == USERS["zalo"]).custom_fields["following"] is following
    wa = connect(client, tenant, fake_whatsapp)
    message = queue_reply(services, conversation_for(wa, "whatsapp"))
    for name, emoji in (("reaction.json", "\U0001F44D"), ("unreaction.json", None)):
        raw = sample("whatsapp", name).replace(b"wamid.OUT1", fresh(message).platform_id.encode())
        assert client.post(f"/webhooks/whatsapp/{wa}", data=raw, headers=signed_headers("whatsapp", raw)).status_code == 200
        assert (fresh(message).payload or {}).get("reaction") == emoji
    assert Message.select().where(Message.direction == "out").count() == 1  # none of these is answered


# --- start-up, safety net, logs ------------------------------------------------------------------------

def test_unsent_rows_are_requeued_at_start_up(client, tenant, fake_telegram, services):
    conversation = conversation_for(connect(client, tenant, fake_telegram), "telegram")
    rows = [Message.create(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender="bot",
                           text=f"lost {i}", status=status) for i, status in enumerate(("pending", "sending"))]
    later = Message.create(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender="bot",
                           text="later", status="pending", next_attempt_at=utcnow() + timedelta(hours=1))
    assert outbox.requeue_pending(services) == 3
    assert [fresh(m).status for m in rows] == ["sent", "sent"] and fresh(later).status == "pending"
    assert len(fake_telegram.delivered) == 2
    Message.update(next_attempt_at=utcnow() - timedelta(hours=1)).where(Message.id == later.id).execute()
    assert outbox.kick_overdue(services) == 1 and fresh(later).status == "sent"


def test_no_phone_number_message_text_or_secret_reaches_info_logs(client, tenant, fake_whatsapp, services, caplog):
    caplog.set_level(logging.INFO)
    channel_id = connect(client, tenant, fake_whatsapp)
    fake_whatsapp.fail(status=400, body={"error": {"code": 131026, "message": "Undeliverable to 84901234567"}})
    raw = sample("whatsapp", "text.json")
    assert client.post(f"/webhooks/whatsapp/{channel_id}", data=raw, headers=signed_headers("whatsapp", raw)).status_code == 200
    reply = Message.get(Message.direction == "out")
    assert reply.status == "failed"
    bad = client.post(f"/webhooks/whatsapp/{channel_id}", data=raw, headers={"X-Hub-Signature-256": "sha256=00"})
    assert bad.status_code == 403
    post_status(client, channel_id, "status_read.json", "wamid.unknown")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "webhook whatsapp" in logged  # the log does say what happened
    forbidden = ["84901234567", "901234567", "Lan Nguy", "sell roses", reply.text] + list(CREDENTIALS["whatsapp"].values())
    assert [word for word in forbidden if word and word in logged] == []
    assert json.loads(raw)  # the sample did carry them


def test_zalo_after_seven_days_falls_back_to_the_channels_zns_template(client, tenant, fake_zalo, services):
    services.settings["zalo_zns_base"] = fake_zalo.base_url
    fake_zalo.fail(status=200, when=lambda body: "recipient" in body,
                   body={"error": -230, "message": "User has not interacted with the OA in the last 7 days"})
    channel_id = connect(client, tenant, fake_zalo, window_template="231456")
    reply = queue_reply(services, conversation_for(channel_id, "zalo"), "Your order is ready")
    assert fresh(reply).status == "sent" and fresh(reply).platform_id.startswith("zmsg.")
    zns = fake_zalo.delivered[-1]
    assert zns.path == "/message/template" and zns.body["phone"] == "84901234567"
    assert zns.body["template_id"] == "231456" and zns.body["template_data"] == {"p1": "Your order is ready"}
