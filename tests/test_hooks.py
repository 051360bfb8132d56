"""Outgoing webhooks of the automation (appliance/automation/hooks.py) against a receiver on 127.0.0.1: the signature
of the exact body, retries then failed, the start-up re-queue and the sweep, refused URLs, secrets bound to their
URL, and a reply that never waits for a slow receiver."""
import hashlib
import hmac
import json
import signal
import time
from datetime import timedelta

import pytest

from appliance import conversations, tasks
from appliance.app import create_services
from appliance.auth import create_tenant
from appliance.automation import actions, hooks
from appliance.automation.actions import Turn
from appliance.errors import AppError
from appliance.db import database, open_database
from appliance.records import Channel, Conversation, Customer, HookCall, Message, utcnow
from appliance.worker import requeue
from tests.conftest import free_port, make_settings, post_json, start_server, wait_until
from tests.fakes import consumer, hook_receiver, real_consumer  # noqa: F401  (fixtures)

SECRET = "shop-hook-secret-42"


@pytest.fixture
def customer(tenant, web_channel):
    return Customer.create(tenant=tenant.id, channel=web_channel, external_id="session-1", name="Lan",
                           tags=["vip"], custom_fields={"city": "Hà Nội"})


@pytest.fixture
def conversation(tenant, web_channel, customer):
    return Conversation.create(tenant=tenant.id, channel=web_channel, customer=customer)


@pytest.fixture
def allowed(services, hook_receiver):
    """The platform admin allows the receiver's host (http on 127.0.0.1), as for an in-house service."""
    services.settings["outbound_allow_hosts"] = hook_receiver.host
    services.settings["hook_backoff_seconds"] = 0.05
    return hook_receiver


def webhook(services, url, secret=SECRET):
    return hooks.check_action({"type": "webhook", "url": url, "secret": secret}, services)


def turn_of(services, tenant, customer, conversation, text="Giá hoa hồng bao nhiêu?"):
    return Turn(services, tenant.id, customer, source="rule:rul_test", conversation_id=conversation.id, text=text)


def row(call_id):
    return HookCall.get_by_id(call_id)


def settled(call_id):
    return wait_until(lambda: row(call_id).status in ("sent", "failed") and row(call_id), 30)


def test_a_call_is_signed_over_its_exact_body_and_carries_the_turn(services, tenant, customer, conversation, allowed,
                                                                     consumer):
    action = webhook(services, allowed.url)
    turn = turn_of(services, tenant, customer, conversation)
    actions.apply(turn, action)
    headers, raw = allowed.wait_for(1)[0]
    expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Appliance-Signature"] == f"sha256={expected}"
    assert abs(int(headers["X-Appliance-Timestamp"]) - time.time()) < 60
    body = json.loads(raw)
    assert body["event"] == "automation" and body["source"] == "rule:rul_test"
    assert body["conversation"] == conversation.id and body["message"] == {"text": "Giá hoa hồng bao nhiêu?"}
    assert body["customer"] == {"id": customer.id, "name": "Lan", "tags": ["vip"], "custom_fields": {"city": "Hà Nội"}}
    call = HookCall.get()
    assert settled(call.id).status == "sent" and call.body.encode() == raw
    assert SECRET not in json.dumps(action) and SECRET not in (call.secret or "")


def test_500_and_timeouts_are_retried_then_the_call_fails_with_the_reason(services, tenant, customer, conversation,
                                                                            allowed, consumer):
    services.settings.update(hook_attempts=3, hook_timeout_seconds=0.5)
    allowed.answer(500)
    allowed.answer(200, delay=1.5)  # later than the time-out: an attempt without an answer
    allowed.answer(503)
    call_id = hooks.call(services, tenant.id, webhook(services, allowed.url), turn_of(services, tenant, customer,
                                                                                       conversation))
    call = settled(call_id)
    assert call.status == "failed" and call.attempts == 3
    assert call.error == "gave up after 3 attempts: the receiver answered 503"
    bodies = [raw for _, raw in allowed.calls]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same call each time: receivers dedupe by its id


def test_a_retry_that_succeeds_marks_the_call_sent(services, tenant, customer, conversation, allowed, consumer):
    allowed.answer(429)
    call_id = hooks.call(services, tenant.id, webhook(services, allowed.url), turn_of(services, tenant, customer,
                                                                                       conversation))
    call = settled(call_id)
    assert (call.status, call.attempts, allowed.answered) == ("sent", 2, [429, 200])


def test_a_4xx_answer_fails_at_once(services, tenant, customer, conversation, allowed, consumer):
    allowed.answer(404)
    call_id = hooks.call(services, tenant.id, webhook(services, allowed.url), turn_of(services, tenant, customer,
                                                                                       conversation))
    call = settled(call_id)
    assert (call.status, call.attempts, call.error) == ("failed", 1, "the receiver answered 404")


def test_calls_left_by_a_crash_are_sent_after_a_restart(services, tenant, customer, conversation, allowed):
    # stored while no worker runs (immediate mode: nothing is sent on the turn's thread), one of them cut short mid-send
    turn = turn_of(services, tenant, customer, conversation)
    first = hooks.call(services, tenant.id, webhook(services, allowed.url), turn)
    second = hooks.call(services, tenant.id, webhook(services, allowed.url), turn)
    HookCall.update(status="sending", attempts=1).where(HookCall.id == first).execute()
    assert [row(first).status, row(second).status] == ["sending", "pending"]
    restarted = real_consumer(services.settings, workers=2)  # the worker of a restarted appliance
    next(restarted)
    try:
        requeue(services)  # what `appliance serve` does at start-up
        assert settled(first).status == "sent" and settled(second).status == "sent"
        assert len(allowed.calls) == 2 and row(first).attempts == 2
    finally:
        next(restarted, None)


def test_the_sweep_rings_for_a_call_whose_task_was_lost(services, tenant, allowed, consumer):
    lost = HookCall.create(tenant=tenant.id, url=allowed.url, secret=hooks.seal(services.vault, allowed.url, SECRET),
                           body='{"event":"automation"}', next_attempt_at=utcnow() - timedelta(minutes=2))
    assert hooks.kick_overdue(services) == 1
    assert settled(lost.id).status == "sent"
    headers, raw = allowed.calls[0]
    assert raw == b'{"event":"automation"}'


@pytest.mark.parametrize("url", [
    "http://example.com/hook",  # not https
    "https://127.0.0.1/hook",  # loopback
    "https://10.1.2.3/hook",  # private
    "https://169.254.169.254/latest",  # link-local (cloud metadata)
    "https://[::1]/hook",
    "https://localhost/hook",  # a name resolving to loopback
    "https://user:pw@example.com/hook",  # credentials in the URL
    "ftp://example.com/hook",
    "not a url",
])
def test_private_http_or_odd_urls_are_refused_at_save(services, url):
    with pytest.raises(AppError) as info:
        webhook(services, url)
    assert (info.value.status, info.value.code) == (422, "invalid_url")


@pytest.mark.parametrize("action,code", [
    ({"type": "webhook", "url": "RECEIVER"}, "secret_required"),
    ({"type": "webhook", "url": "RECEIVER", "secret": "short"}, "invalid_secret"),
    ({"type": "webhook", "url": "RECEIVER", "secret": ["x" * 20]}, "invalid_secret"),
    ({"type": "webhook", "url": "RECEIVER", "secret": SECRET, "headers": {"A": "b"}}, "invalid_action"),
    ({"type": "webhook", "url": None, "secret": SECRET}, "invalid_url"),
])
def test_webhook_actions_are_checked_at_save(services, allowed, action, code):
    action = {**action, "url": allowed.url if action["url"] == "RECEIVER" else action["url"]}
    with pytest.raises(AppError) as info:
        hooks.check_action(action, services)
    assert (info.value.status, info.value.code) == (422, code)


def test_a_url_no_longer_allowed_is_refused_right_before_sending(services, tenant, customer, conversation, allowed,
                                                                  consumer):
    action = webhook(services, allowed.url)
    services.settings["outbound_allow_hosts"] = ""  # the platform admin withdrew the permission meanwhile
    call_id = hooks.call(services, tenant.id, action, turn_of(services, tenant, customer, conversation))
    call = settled(call_id)
    assert call.status == "failed" and call.error.startswith("refused: 'url' must use https://")
    assert allowed.calls == []


def test_a_stored_secret_never_goes_to_a_changed_url(services, tenant, customer, conversation, allowed, consumer):
    action = webhook(services, allowed.url)
    assert hooks.check_action(action, services) == action  # saved again unchanged: the sealed secret stays
    elsewhere = allowed.url.replace("/hooks/shop", "/hooks/other")
    with pytest.raises(AppError) as info:
        hooks.check_action({**action, "url": elsewhere}, services)
    assert info.value.code == "secret_required"
    # saved again without the secret: the stored action's sealed secret is kept for the same URL, not for another
    stored = [{"type": "reply", "text": "hi"}, {"type": "ab", "variants": [{"name": "a", "actions": [action]}]}]
    assert hooks.check_action({"type": "webhook", "url": allowed.url}, services, previous=stored) == action
    with pytest.raises(AppError) as info:
        hooks.check_action({"type": "webhook", "url": elsewhere}, services, previous=stored)
    assert info.value.code == "secret_required"
    # and a sealed secret put next to another URL by hand does not open there: the call fails unsigned and unsent
    call_id = hooks.call(services, tenant.id, {**action, "url": elsewhere}, turn_of(services, tenant, customer,
                                                                                     conversation))
    call = settled(call_id)
    assert call.status == "failed" and "signing secret cannot be read" in call.error and allowed.calls == []


def test_a_dry_run_stores_no_call(services, tenant, customer, conversation, allowed):
    turn = Turn(services, tenant.id, customer, dry_run=True)
    actions.apply(turn, webhook(services, allowed.url))
    assert turn.why == ["webhook"] and HookCall.select().count() == 0


def test_a_reply_does_not_wait_for_a_slow_receiver(services, tenant, customer, conversation, allowed, consumer):
    allowed.hold()  # the receiver takes the call and answers only when released
    turn = turn_of(services, tenant, customer, conversation)
    actions.apply(turn, webhook(services, allowed.url))
    actions.apply(turn, {"type": "reply", "text": "Hoa hồng 50.000đ một bông."})
    reply = conversations.reply(services, conversation, turn.outbounds[0], "automation")
    allowed.wait_for(1)
    # the reply went out (the widget sends at once) while the receiver still holds its answer
    assert Message.get_by_id(reply.id).status == "sent" and allowed.answered == []
    assert row(HookCall.get().id).status == "sending"
    allowed.release()
    assert settled(HookCall.get().id).status == "sent"


def test_no_secret_or_message_text_at_info(services, tenant, customer, conversation, allowed, consumer, caplog):
    caplog.set_level("INFO")
    allowed.answer(500)
    call_id = hooks.call(services, tenant.id, webhook(services, allowed.url),
                         turn_of(services, tenant, customer, conversation, text="số điện thoại 0912345678"))
    assert settled(call_id).status == "sent"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelname != "DEBUG")
    assert "webhook call" in logged and SECRET not in logged and "0912345678" not in logged and "/hooks/shop" not in logged


def test_a_rules_webhook_through_the_pipeline_never_holds_the_reply(client, services, tenant, web_channel, allowed,
                                                                     consumer):
    rule = {"name": "price", "match": {"type": "keyword", "mode": "contains", "keywords": ["giá"]},
            "actions": [{"type": "webhook", "url": allowed.url, "secret": SECRET},
                        {"type": "reply", "text": "Hoa hồng 50.000đ một bông."}]}
    assert post_json(client, "/api/v1/rules", rule, tenant.headers).status_code == 201
    allowed.hold()
    response = post_json(client, f"/widget/{web_channel.id}/messages", {"session": "visitor-1", "text": "Giá bao nhiêu?"})
    assert response.status_code == 202
    reply = wait_until(lambda: Message.get_or_none((Message.direction == "out") & (Message.status == "sent")), 30)
    headers, raw = allowed.wait_for(1)[0]
    assert reply.text == "Hoa hồng 50.000đ một bông." and allowed.answered == []  # the receiver has not answered yet
    body = json.loads(raw)
    assert body["source"].startswith("rule:") and body["customer"]["id"] == reply.conversation.customer_id
    assert body["conversation"] == reply.conversation_id and body["message"] == {"text": "Giá bao nhiêu?"}
    assert headers["X-Appliance-Signature"] == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    allowed.release()
    assert settled(HookCall.get().id).status == "sent"


def test_a_real_server_sends_the_calls_a_killed_one_left(tmp_path, monkeypatch, hook_receiver):
    """What a kill -9 leaves: a call whose queued task is gone and a call cut short mid-send. The next
    `appliance serve` sends both, signed."""
    data = tmp_path / "data"
    settings = make_settings(data, load_models=False, outbound_allow_hosts=hook_receiver.host)
    services = create_services(settings)
    tasks.use_queue_file(data / "queue.db")
    try:
        tenant, _ = create_tenant("Restart Shop")
        channel = Channel.create(tenant=tenant, kind="web", name="chat")
        customer = Customer.create(tenant=tenant, channel=channel, external_id="s1", name="Lan")
        action = webhook(services, hook_receiver.url)
        turn = Turn(services, tenant.id, customer, source="rule:rul_restart", text="Còn hàng không?")
        lost, cut = hooks.call(services, tenant.id, action, turn), hooks.call(services, tenant.id, action, turn)
        assert tasks.huey.pending_count() == 2
        while tasks.huey.dequeue() is not None:  # the rings are gone with the killed process
            pass
        HookCall.update(status="sending", attempts=1).where(HookCall.id == cut).execute()  # killed mid-send
    finally:
        tasks.huey.storage.close()
        tasks.use_queue_file(None)
        database.close()
    monkeypatch.setenv("APPLIANCE_OUTBOUND_ALLOW_HOSTS", hook_receiver.host)
    server = start_server(data, free_port())
    try:
        calls = hook_receiver.wait_for(2, 90)
        assert len(calls) == 2
        for headers, raw in calls:
            assert headers["X-Appliance-Signature"] == "sha256=" + hmac.new(SECRET.encode(), raw,
                                                                             hashlib.sha256).hexdigest()
        assert {json.loads(raw)["message"]["text"] for _, raw in calls} == {"Còn hàng không?"}
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    open_database(data / "appliance.db")
    try:
        assert [(c.id, c.status) for c in HookCall.select().order_by(HookCall.id)] == [(lost, "sent"), (cut, "sent")]
    finally:
        database.close()
