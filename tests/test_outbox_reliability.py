"""Outbox reliability: no second copy after a crash or timeout where the platform confirms sends, 429 storms that
pause a channel without losing replies, one breaker probe at a time, and /healthz showing trouble in counts only."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from appliance import outbox, tasks
from appliance.app import Services, create_app
from appliance.outbox import OutboxState
from appliance.records import Channel, Message, utcnow
from appliance.vault import Vault
from tests.conftest import make_settings, wait_until
from tests.fakes import (  # noqa: F401  (fixtures)
    connect, consumer, fake_messenger, fake_telegram, fake_whatsapp, fake_zalo, fakes, sample, signed_headers,
)
from tests.test_outbox import USERS, conversation_for, fresh, make_due, queue_reply

RATE_LIMIT = {"status": 429, "headers": {"Retry-After": "0.3"},
              "body": {"error": {"code": 130429, "message": "Rate limit hit"}}}


@pytest.fixture
def settings(tmp_path):
    """Tiny backoff; a short send timeout for the timeout cases."""
    return make_settings(tmp_path / "data", outbox_backoff_base=0.01, outbox_backoff_max=0.05, outbox_timeout=0.5,
                         llm_max_tokens=8)


def new_reply(conversation, text="Hello from the shop") -> Message:
    return Message.create(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender="bot",
                          text=text, status="pending")


def confirm(client, channel_id: str, kind: str, request, status: str = "delivered") -> None:
    """The platform's own word on a send it took, carrying our ref: WhatsApp's status webhook, Messenger's echo."""
    if kind == "whatsapp":
        body = json.loads(sample("whatsapp", f"status_{status}.json"))
        item = body["entry"][0]["changes"][0]["value"]["statuses"][0]
        item.update(id=request.message_id, biz_opaque_callback_data=request.body["biz_opaque_callback_data"])
    else:
        body = json.loads(sample("messenger", "echo.json"))
        item = body["entry"][0]["messaging"][0]
        item["recipient"]["id"] = USERS["messenger"]
        item["message"].update(mid=request.message_id, metadata=request.body["message"]["metadata"])
    raw = json.dumps(body).encode()
    response = client.post(f"/webhooks/{kind}/{channel_id}", data=raw, headers=signed_headers(kind, raw))
    assert response.status_code == 200, response.get_json()


CONFIRMED = {"whatsapp": "delivered", "messenger": "sent"}  # a status webhook / an echo


def start_send(services, message: Message, fake) -> threading.Thread:
    """Deliver in a worker thread whose send hangs at the platform; returns once the row is `sending` there."""
    before = len(fake.sends)
    fake.hang()
    worker = threading.Thread(target=outbox.hand_over, args=(services, message), daemon=True)
    worker.start()
    wait_until(lambda: len(fake.sends) > before and fresh(message).status == "sending", 10)
    return worker


def restart(settings, old: Services):
    """What a new process does after a kill -9: new in-memory state, the start-up re-queue, a new app."""
    new = Services(settings=settings, vault=Vault.open(settings.data), models=old.models)
    tasks.bind(new)
    app = create_app(settings, new)
    app.testing = True
    outbox.requeue_pending(new)
    return new, app.test_client()


# --- item 8: a send cut short is not repeated where the platform confirms it ------------------------------

@pytest.mark.parametrize("kind", ["whatsapp", "messenger"])
def test_a_send_cut_short_by_a_crash_is_confirmed_by_the_platform_not_sent_again(kind, client, tenant, fakes, services, settings):
    fake = fakes[kind]
    services.outbox = OutboxState(60.0)  # the dying process's send never times out: it is killed first
    channel_id = connect(client, tenant, fake)
    message = new_reply(conversation_for(channel_id, kind))
    dying = start_send(services, message, fake)
    new, client = restart(settings, services)
    row = fresh(message)
    assert row.status == "pending" and row.next_attempt_at >= utcnow() + timedelta(seconds=100)  # the grace period
    assert len(fake.sends) == 1
    confirm(client, channel_id, kind, fake.sends[0])
    row = fresh(message)
    assert row.status == CONFIRMED[kind] and row.platform_id == fake.sends[0].message_id and row.error is None
    make_due(message)
    outbox.deliver(new, message.id)
    fake.release()  # the killed process's connection drops
    dying.join(10)
    assert fresh(message).status == CONFIRMED[kind] and len(fake.taken) == 1 and len(fake.sends) == 1


def test_a_confirmation_still_queued_behind_a_backlog_stops_the_resend(client, tenant, fake_whatsapp, services, settings):
    from appliance.channels import whatsapp
    from appliance.pipeline import store_events
    from appliance.records import Channel

    services.outbox = OutboxState(60.0)
    channel_id = connect(client, tenant, fake_whatsapp)
    message = new_reply(conversation_for(channel_id, "whatsapp"))
    dying = start_send(services, message, fake_whatsapp)
    new, client = restart(settings, services)
    sent = fake_whatsapp.sends[0]
    body = json.loads(sample("whatsapp", "status_delivered.json"))
    body["entry"][0]["changes"][0]["value"]["statuses"][0].update(
        id=sent.message_id, biz_opaque_callback_data=sent.body["biz_opaque_callback_data"])
    # the status webhook was stored (200 to Meta) but waits its turn behind other customers' answers
    assert store_events(Channel.get_by_id(channel_id), whatsapp.parse(json.dumps(body).encode()))
    make_due(message)  # the grace period ran out before the worker reached that status
    outbox.deliver(new, message.id)
    row = fresh(message)
    assert row.status == "delivered" and row.platform_id == sent.message_id
    fake_whatsapp.release()
    dying.join(10)
    assert len(fake_whatsapp.taken) == 1 and len(fake_whatsapp.sends) == 1


def test_without_a_confirmation_in_the_grace_period_the_reply_is_sent_again_once(client, tenant, fake_whatsapp, services, settings):
    services.outbox = OutboxState(60.0)
    channel_id = connect(client, tenant, fake_whatsapp)
    message = new_reply(conversation_for(channel_id, "whatsapp"))
    dying = start_send(services, message, fake_whatsapp)
    new, client = restart(settings, services)
    make_due(message)  # the grace period is over and no status came
    outbox.deliver(new, message.id)
    row = fresh(message)
    first, second = fake_whatsapp.sends
    assert row.status == "sent" and row.platform_id == second.message_id and len(fake_whatsapp.taken) == 2
    assert first.body["biz_opaque_callback_data"] == second.body["biz_opaque_callback_data"] == f"appliance:{message.id}"
    confirm(client, channel_id, "whatsapp", first)  # the first copy's late status: a duplicate, changes nothing
    assert fresh(message).status == "sent" and fresh(message).platform_id == second.message_id
    fake_whatsapp.release()
    dying.join(10)


def test_telegram_is_at_least_once_after_a_crash_mid_send(client, tenant, fake_telegram, services, settings):
    services.outbox = OutboxState(60.0)
    message = new_reply(conversation_for(connect(client, tenant, fake_telegram), "telegram"))
    dying = start_send(services, message, fake_telegram)
    restart(settings, services)  # no way to ask Telegram whether it took the send: it goes again at once
    row = fresh(message)
    assert row.status == "sent" and row.platform_id == fake_telegram.sends[1].message_id
    fake_telegram.release()
    dying.join(10)
    assert len(fake_telegram.sends) == 2 and len(fake_telegram.taken) == 2 and fresh(message).status == "sent"


@pytest.mark.parametrize("kind", ["whatsapp", "messenger"])
def test_a_timed_out_send_that_reached_the_platform_is_not_left_failed(kind, client, tenant, fakes, services):
    services.settings["outbox_max_attempts"] = 1
    fake = fakes[kind]
    fake.fail(delay=2.0)  # taken, but the answer comes after our 0.5 s timeout
    channel_id = connect(client, tenant, fake)
    message = queue_reply(services, conversation_for(channel_id, kind))
    assert message.status == "failed" and "did not answer in time" in message.error
    confirm(client, channel_id, kind, fake.sends[0])
    row = fresh(message)
    assert row.status == CONFIRMED[kind] and row.platform_id == fake.sends[0].message_id and row.error is None


def test_a_confirmation_of_a_pending_retry_cancels_the_resend(client, tenant, fake_whatsapp, services):
    fake_whatsapp.fail(delay=2.0)
    channel_id = connect(client, tenant, fake_whatsapp)
    message = queue_reply(services, conversation_for(channel_id, "whatsapp"))
    assert message.status == "pending" and message.attempts == 1
    confirm(client, channel_id, "whatsapp", fake_whatsapp.sends[0], "sent")
    make_due(message)
    outbox.deliver(services, message.id)
    assert fresh(message).status == "sent" and len(fake_whatsapp.sends) == 1


def test_a_ref_from_another_channel_changes_nothing(client, tenant, other_tenant, fake_whatsapp, services):
    fake_whatsapp.fail(delay=2.0)
    channel_id = connect(client, tenant, fake_whatsapp)
    message = queue_reply(services, conversation_for(channel_id, "whatsapp"))
    other = connect(client, other_tenant, fake_whatsapp, phone_number_id="106540352242999")
    confirm(client, other, "whatsapp", fake_whatsapp.sends[0])
    assert fresh(message).status == "pending" and fresh(message).platform_id is None


# --- item 9: 429 pauses the channel, costs no attempt, and gives up by age ----------------------------------

def test_a_429_pauses_the_whole_channel_without_spending_an_attempt(client, tenant, fake_whatsapp, services):
    services.settings["outbox_max_attempts"] = 1
    fake_whatsapp.fail(**{**RATE_LIMIT, "headers": {"Retry-After": "1"}})
    channel_id = connect(client, tenant, fake_whatsapp)
    conversation = conversation_for(channel_id, "whatsapp")
    first = queue_reply(services, conversation, "first")
    second = queue_reply(services, conversation, "second")
    assert [(m.status, m.attempts) for m in (first, second)] == [("pending", 0), ("pending", 0)]
    assert first.error.startswith("rate_limited") and len(fake_whatsapp.sends) == 1  # the second waited, unsent
    assert second.next_attempt_at >= utcnow() + timedelta(seconds=0.5)
    wait_until(lambda: services.outbox.breaker.wait(channel_id) == 0, 10)
    for message in (first, second):
        make_due(message)
        outbox.deliver(services, message.id)
    assert [(fresh(m).status, fresh(m).attempts) for m in (first, second)] == [("sent", 1), ("sent", 1)]


def test_a_429_storm_delivers_every_reply_once(consumer, client, tenant, fake_whatsapp, services):
    services.settings["outbox_max_attempts"] = 1  # a single real failure would fail a reply: 429s must not count
    fake_whatsapp.fail(times=8, **RATE_LIMIT)
    conversation = conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp")
    messages = [queue_reply(services, conversation, f"reply {i}") for i in range(10)]
    wait_until(lambda: all(fresh(m).status == "sent" for m in messages) or
               any(fresh(m).status == "failed" for m in messages), 60)
    assert [(fresh(m).status, fresh(m).attempts) for m in messages] == [("sent", 1)] * 10
    assert sorted(r.body["text"]["body"] for r in fake_whatsapp.taken) == sorted(f"reply {i}" for i in range(10))
    assert sum(r.answered == 429 for r in fake_whatsapp.sends) == 8


def test_a_reply_rate_limited_past_the_give_up_age_fails(client, tenant, fake_whatsapp, services):
    services.settings["outbox_give_up_hours"] = 1.0
    fake_whatsapp.fail(**RATE_LIMIT)
    message = new_reply(conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp"))
    Message.update(created_at=utcnow() - timedelta(hours=2)).where(Message.id == message.id).execute()
    outbox.hand_over(services, Message.get_by_id(message.id))
    row = fresh(message)
    assert row.status == "failed" and row.error.startswith("rate_limited: not sent within 1 hours")


# --- item 11: one probe at a time; a pause counted from the last probe --------------------------------------

def test_an_open_breaker_lets_one_probe_through_and_reopens_from_its_failure(client, tenant, fake_whatsapp, services):
    services.settings.update(outbox_breaker_failures=1, outbox_breaker_seconds=2.0, outbox_timeout=60.0)
    services.outbox = OutboxState(60.0)
    channel_id = connect(client, tenant, fake_whatsapp)
    conversation = conversation_for(channel_id, "whatsapp")
    slow, failing = new_reply(conversation, "slow"), new_reply(conversation, "failing")
    in_flight = start_send(services, slow, fake_whatsapp)  # admitted while the breaker was closed
    fake_whatsapp.fail(status=500)
    outbox.hand_over(services, failing)  # opens the breaker for 2 s
    opened = services.outbox.breaker.wait(channel_id)
    assert fresh(failing).status == "pending" and 1.0 < opened <= 2.0
    wait_until(lambda: services.outbox.breaker.wait(channel_id) < opened - 0.5, 10)
    fake_whatsapp.release()
    in_flight.join(10)  # the older send fails while the breaker is open: the pause is not extended
    assert fresh(slow).status == "pending" and services.outbox.breaker.wait(channel_id) < opened - 0.5
    wait_until(lambda: services.outbox.breaker.wait(channel_id) == 0, 10)
    services.settings["outbox_breaker_seconds"] = 30.0
    make_due(slow)
    probe = start_send(services, slow, fake_whatsapp)
    make_due(failing)
    sends = len(fake_whatsapp.sends)
    outbox.hand_over(services, fresh(failing))  # a second worker while the probe is out: it waits
    row = fresh(failing)
    assert len(fake_whatsapp.sends) == sends and row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=50)  # look again when the probe must have an answer
    fake_whatsapp.release()
    probe.join(10)
    assert 25 < services.outbox.breaker.wait(channel_id) <= 30  # the failed probe re-opened it from then
    assert client.get("/healthz").get_json()["outbox"]["channels_paused"] == 1


# --- item 11: /healthz -------------------------------------------------------------------------------------

def test_healthz_shows_outbox_trouble_in_counts_only(client, tenant, other_tenant, fake_whatsapp, fake_telegram, services):
    services.settings.update(outbox_breaker_failures=1, outbox_breaker_seconds=60.0)
    assert client.get("/healthz").get_json()["outbox"] == {
        "pending": 0, "failed_last_hour": 0, "channels_paused": 0, "channels_needing_attention": 0}
    secret = "Session has expired for 84901234567 at http://10.0.0.7/internal"
    fake_whatsapp.fail(status=401, body={"error": {"code": 190, "message": secret}})
    broken = connect(client, tenant, fake_whatsapp)
    failed = queue_reply(services, conversation_for(broken, "whatsapp"))
    fake_telegram.fail(status=500, body={"ok": False, "error_code": 500, "description": "db01 is down"})
    paused = connect(client, other_tenant, fake_telegram)
    waiting = queue_reply(services, conversation_for(paused, "telegram"))
    assert failed.status == "failed" and waiting.status == "pending"
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["outbox"] == {"pending": 1, "failed_last_hour": 1, "channels_paused": 1, "channels_needing_attention": 1}
    text = response.get_data(as_text=True)
    leaked = [word for word in (broken, paused, tenant.id, other_tenant.id, "expired", "10.0.0.7", "db01", "84901234567")
              if str(word) in text]
    assert leaked == []


def test_healthz_is_ok_again_when_the_failures_are_older_than_an_hour(client, tenant, fake_whatsapp, services):
    fake_whatsapp.fail(status=400, body={"error": {"code": 131026, "message": "Message undeliverable"}})
    message = queue_reply(services, conversation_for(connect(client, tenant, fake_whatsapp), "whatsapp"))
    assert message.status == "failed" and client.get("/healthz").get_json()["status"] == "degraded"
    Message.update(updated_at=utcnow() - timedelta(minutes=61)).where(Message.id == message.id).execute()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["outbox"]["failed_last_hour"] == 0
    assert Channel.get_by_id(message.conversation.channel_id).status == "active"
