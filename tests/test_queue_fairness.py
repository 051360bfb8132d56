"""The queue: one task answers one event, tenants take turns, a conversation keeps its order, stopping is quick."""
import signal
import time

from appliance import tasks
from appliance.app import create_services
from appliance.auth import create_tenant
from appliance.db import database, open_database
from appliance.channels import Inbound
from appliance.pipeline import MAX_EVENT_ATTEMPTS, requeue_unfinished, store_events
from appliance.records import Channel, Conversation, InboundEvent, Message, Tenant
from tests.conftest import free_port, health_of, make_settings, start_server, wait_until
from tests.fakes import connect, consumer, fake_telegram, start_consumer  # noqa: F401  (fixtures)

WORKERS = 2  # the consumer fixture's threads


def burst(channel: Channel, count: int, users: int | None = None, same: bool = False) -> list[int]:
    """Store `count` questions on `channel` from `users` customers (default one each): distinct ones need the model
    each, the `same` one is answered from the answer cache after its first reply (a backlog that drains in seconds)."""
    users = users or count
    events = [Inbound(kind="text", platform_id=f"burst-{i}", user_id=f"user-{i % users}",
                      text="Do you deliver roses on Sunday?" if same else
                      f"Question {i}: do you have {i} red roses for delivery on day {i % 28 + 1}?")
              for i in range(count)]
    return store_events(channel, events)


ROSES_FAQ = b"""## Do you deliver roses?
Yes, we deliver red roses every day, Sunday included; a dozen red roses costs 25 dollars.
"""


def rewording(services, tenant_id: str) -> None:
    """Give the tenant a document its questions are about, and have the local model reword every answer (answers
    are composed from the documents; the model is what makes a reply take time, as on a real shop)."""
    from appliance.assistant.ingest import process, store_upload

    document, _ = store_upload(services.settings, tenant_id, "roses.md", ROSES_FAQ)
    assert process(services, document.id).status == "ready"
    Tenant.update(assistant={"rewrite": "always"}).where(Tenant.id == tenant_id).execute()


def replies_of(tenant_id: str) -> list[Message]:
    return list(Message.select().where((Message.tenant == tenant_id) & (Message.direction == "out"))
                .order_by(Message.id))


def pending_of(tenant_id: str) -> int:
    return InboundEvent.select().where((InboundEvent.tenant == tenant_id) & (InboundEvent.status == "pending")).count()


def test_a_burst_on_one_tenant_delays_another_tenants_first_reply_by_at_most_the_running_answers(
        consumer, client, services, tenant, other_tenant, fake_telegram):
    busy = Channel.get_by_id(connect(client, tenant, fake_telegram))
    rewording(services, tenant.id)
    services.enqueue_events(burst(busy, 60))
    wait_until(lambda: len(replies_of(tenant.id)) >= 2, 60)  # the backlog is being worked on
    widget = Channel.create(tenant=other_tenant.id, kind="web", name="Other chat")
    answered_before = len(replies_of(tenant.id))

    response = client.post(f"/widget/{widget.id}/messages", json={"session": "b1", "text": "Are you open on Sunday?"})

    assert response.status_code == 202
    reply = wait_until(lambda: replies_of(other_tenant.id), 60)[0]
    overtaking = [m for m in replies_of(tenant.id) if m.id < reply.id][answered_before:]
    assert len(overtaking) <= 2 * WORKERS
    assert pending_of(tenant.id) > 0  # B did not wait for A's backlog
    assert len(fake_telegram.delivered) >= answered_before  # A's replies went out as they were made


def test_a_burst_queues_at_most_one_task_per_worker(services, settings, web_channel):
    tasks.use_queue_file(settings.data / "queue.db")  # durable queue, no consumer: the rings stay queued
    try:
        for event_id in burst(web_channel, 40):
            services.enqueue_event(event_id)  # what the widget does for each message
        assert tasks.huey.pending_count() == settings.worker_threads
        assert pending_of(web_channel.tenant_id) == 40
    finally:
        tasks.huey.flush()
        tasks.huey.storage.close()
        tasks.use_queue_file(None)


def test_tenants_take_turns_and_each_tenants_oldest_event_goes_first(services, tenant, other_tenant, web_channel):
    first = burst(web_channel, 3, same=True)  # stored before the other tenant's: a FIFO would answer them all first
    second = burst(Channel.create(tenant=other_tenant.id, kind="web", name="Other chat"), 3, same=True)

    services.enqueue_events(first + second)  # immediate mode: the ring drains the queue in this thread

    answered = [m.reply_to.inbound_event_id for m in Message.select().where(Message.direction == "out")
                .order_by(Message.id)]
    assert answered == [first[0], second[0], first[1], second[1], first[2], second[2]]


def test_a_conversations_messages_are_answered_one_at_a_time_in_order(consumer, services, tenant, web_channel):
    ids = burst(web_channel, 4, users=1)  # one customer, four messages, two idle workers
    services.enqueue_events(ids)

    wait_until(lambda: len(replies_of(tenant.id)) == 4, 60)

    conversation = Conversation.get()
    rows = list(Message.select().where(Message.conversation == conversation).order_by(Message.id))
    assert [m.direction for m in rows] == ["in", "out"] * 4  # each answered before the next was taken
    assert [m.reply_to_id for m in rows[1::2]] == [m.id for m in rows[0::2]]
    assert [m.inbound_event_id for m in rows[0::2]] == ids


def test_an_event_that_keeps_failing_is_marked_failed_after_its_attempts_and_the_others_are_answered_once(
        services, tenant, web_channel):
    good = burst(web_channel, 3)
    broken = InboundEvent.create(tenant=tenant.id, channel=web_channel, platform_id="broken", kind="text",
                                 payload=["a row no version of the appliance can read"])

    services.enqueue_events([broken.id])  # immediate mode: the ring drains the queue in this thread

    broken = InboundEvent.get_by_id(broken.id)
    assert (broken.status, broken.attempts) == ("failed", MAX_EVENT_ATTEMPTS)
    events = {e.id: e for e in InboundEvent.select().where(InboundEvent.id.in_(good))}
    assert [(events[i].status, events[i].attempts) for i in good] == [("done", 1)] * 3
    assert sorted(m.reply_to.inbound_event_id for m in replies_of(tenant.id)) == good


def test_stopping_leaves_the_backlog_pending_and_the_next_start_answers_each_event_once(
        consumer, services, tenant, web_channel):
    rewording(services, tenant.id)
    ids = burst(web_channel, 24, same=True)
    services.enqueue_events(ids)
    wait_until(lambda: InboundEvent.select().where(InboundEvent.status == "processing").exists(), 60, 0.01)

    started = time.monotonic()
    services.stopping.set()  # what SIGTERM does before stopping the consumer
    try:
        consumer.stop(graceful=True)
    finally:
        stopped, _ = time.monotonic(), services.stopping.clear()  # the event is the shared model's too

    # a backlog of 24 would take minutes to drain; the bound leaves room for one prompt evaluation that llama.cpp
    # cannot interrupt on a busy machine (the benchmark measures the real figure)
    assert stopped - started < 10
    assert InboundEvent.select().where(InboundEvent.status == "processing").count() == 0
    left = pending_of(tenant.id)
    assert left > 0 and left + len(replies_of(tenant.id)) == len(ids)
    assert {e.attempts for e in InboundEvent.select().where(InboundEvent.status == "pending")} == {0}  # not a failure

    again = start_consumer(WORKERS)  # a new start
    try:
        requeue_unfinished(services)
        wait_until(lambda: pending_of(tenant.id) == 0 and len(replies_of(tenant.id)) >= len(ids), 90)
    finally:
        again.stop(graceful=True)
    replies = replies_of(tenant.id)
    assert sorted(m.reply_to.inbound_event_id for m in replies) == ids  # each event answered exactly once
    assert {e.status for e in InboundEvent.select()} == {"done"}


def test_sigterm_under_a_backlog_stops_within_seconds_leaving_the_rest_pending(tmp_path):
    data = tmp_path / "data"
    services = create_services(make_settings(data, load_models=False))
    tenant, _ = create_tenant("Burst Shop")
    rewording(services, tenant.id)
    ids = burst(Channel.create(tenant=tenant, kind="web", name="chat"), 200)
    database.close()
    port = free_port()
    server = start_server(data, port)
    try:  # the start-up rings for the stored backlog; wait until it is being answered
        wait_until(lambda: ((health_of(port) or {}).get("queue") or {}).get("pending_events", len(ids)) < len(ids),
                   90, 0.2)
    finally:
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output, stopped = read_until_exit(server, "INFO appliance.worker: stopped")
    assert server.returncode == 0, output
    assert stopped - stopping < 10, output  # the running answers were abandoned, not the backlog drained (200 answers)
    assert time.monotonic() - stopping < 10, output  # serve skips the interpreter's slow teardown
    assert "stay pending for the next start" in output
    open_database(data / "appliance.db")
    try:
        statuses = [e.status for e in InboundEvent.select().order_by(InboundEvent.id)]
        assert "processing" not in statuses and statuses.count("pending") > 0
        assert statuses.count("done") == len(replies_of(tenant.id))
    finally:
        database.close()


def read_until_exit(server, line: str) -> tuple[str, float]:
    """The server's output until it exits, and when `line` was printed."""
    seen, lines = None, []
    for text in server.stdout:
        lines.append(text)
        if seen is None and line in text:
            seen = time.monotonic()
    server.wait(60)
    return "".join(lines), seen or float("inf")
