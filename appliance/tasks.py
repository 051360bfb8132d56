"""The huey instance and every background task. Huey is the doorbell, our rows are the ledger."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from huey import SqliteHuey, crontab
from huey.storage import SqliteStorage
from huey.consumer import Consumer, Worker

log = logging.getLogger(__name__)

# Rung by every enqueue in this process: idle workers wake at once instead of at their next poll of the queue file,
# so a webhook's reply starts within milliseconds (the benchmark compares webhook-to-reply with the bare model).
DOORBELL = threading.Event()


class _Worker(Worker):
    """A huey worker that sleeps on the in-process doorbell rather than a plain timeout."""

    def sleep(self):
        """Wait for the next poll, or less if this process enqueues something."""
        if self.delay > self.max_delay:
            self.delay = self.max_delay
        if DOORBELL.wait(self.delay):
            DOORBELL.clear()
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


class _Consumer(Consumer):
    worker_class = _Worker


class _QueueFile(SqliteStorage):
    """huey's SQLite storage with synchronous=NORMAL: in WAL mode that survives power loss without an fsync per
    enqueue (huey offers only FULL or OFF). Huey is the doorbell, our rows are the ledger: a ring lost to a power cut
    is rung again by the start-up re-queue and the minutely sweeps, while an fsync per ring sat on every webhook's
    path (measured: abuse_bench p99 134 ms -> under 100 ms)."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


class _Huey(SqliteHuey):
    """SqliteHuey whose consumer wakes on enqueue (same process); the queue file stays the hand-over."""

    storage_class = _QueueFile

    def create_consumer(self, **options):
        """A consumer whose workers wake on the doorbell."""
        return _Consumer(self, **options)

    def enqueue(self, task):
        """Queue the task, then wake the idle workers of this process."""
        result = super().enqueue(task)
        if not self._immediate:
            DOORBELL.set()
        return result


# Declared in immediate (in-memory) mode; `use_queue_file` points it at the data folder at start-up.
huey = _Huey("appliance", immediate=True, results=False)
_services = None


def bind(services) -> None:
    """Give the tasks the running appliance's collaborators (settings, models, streams)."""
    global _services
    _services = services


def use_queue_file(path: Path | None) -> None:
    """Use a durable SQLite queue file (its own file, not the main database); None = immediate mode."""
    if path is None:
        huey.immediate = True
        return
    huey.storage_kwargs = {"filename": str(path)}  # synchronous=NORMAL (see _QueueFile)
    huey._immediate = True  # force the storage to be recreated for the new file
    huey.immediate = False


@huey.task(retries=0)
def process_next() -> None:
    """The doorbell: answer the fairest pending inbound event (one), ringing again while more wait.

    Never retried by huey: the event rows carry the attempts (pipeline.MAX_EVENT_ATTEMPTS), and a failed event
    stays failed; the minutely sweep rings for pending ones only."""
    from appliance.pipeline import process_next as answer_one

    _services.bell_answered()
    answer_one(_services)


@huey.task(retries=0)
def deliver_message(message_id: int) -> None:
    """Deliver one outbound message through its channel (the outbox)."""
    from appliance.outbox import deliver

    deliver(_services, message_id)


@huey.periodic_task(crontab(minute="*"))
def kick_outbox() -> None:
    """Safety net: queue outbound rows whose delivery task was lost."""
    from appliance.outbox import kick_overdue

    if _services is not None:
        kick_overdue(_services)


@huey.periodic_task(crontab(minute="*"))
def kick_inbound() -> None:
    """Safety net: ring for pending inbound events even if the bell counts rings that were lost."""
    from appliance.records import InboundEvent

    if _services is not None and InboundEvent.select().where(InboundEvent.status == "pending").exists():
        _services.ring(always=True)


@huey.task(retries=0)
def send_hook(call_id: int) -> None:
    """One attempt of an automation's outgoing webhook call (its HookCall row is the ledger and counts attempts)."""
    from appliance.automation.hooks import send

    send(_services, call_id)


@huey.periodic_task(crontab(minute="*"))
def kick_hooks() -> None:
    """Safety net: ring for pending webhook calls whose task was lost."""
    from appliance.automation.hooks import kick_overdue

    if _services is not None:
        kick_overdue(_services)


@huey.periodic_task(crontab(minute="17"))
def prune_events() -> None:
    """Hourly: forget conversation events older or more than the admin streams keep to resume from."""
    from appliance.web.events import prune

    if _services is not None:
        prune(_services.settings)


@huey.periodic_task(crontab(minute="*/5"))
def close_idle_conversations() -> None:
    """Close conversations idle longer than the conversation_idle_hours setting."""
    from appliance.conversations import auto_close

    if _services is not None:
        auto_close(_services)


# --- flows: delays, time-outs, schedules (FlowRun rows are the ledger) ----------------------------------

@huey.task(retries=0)
def resume_flow(run_id: int) -> None:
    """A flow's delay is over: its run takes its next steps (a lost ring is caught by the sweep below)."""
    from appliance.automation.flows import resume

    resume(_services, run_id)


@huey.periodic_task(crontab(minute="*"))
def flow_sweep() -> None:
    """Every minute: resume delayed runs that are due, end unanswered ones, start scheduled flows."""
    from appliance.automation import flows

    if _services is not None:
        flows.recover(_services)
        flows.resume_due(_services)
        flows.time_out(_services)
        flows.run_schedules(_services)


# --- knowledge base ------------------------------------------------------------------------

@huey.task(retries=0)
def ingest_document(document_id: int) -> None:
    """Extract, chunk, embed and index one uploaded document (its Document row is the ledger)."""
    from appliance.assistant.ingest import process

    process(_services, document_id)
