"""Delivery of outbound messages. Every reply is a row first; a task sends it through its channel.

The Message row is the ledger (status, attempts, next_attempt_at, error, platform_id); huey only rings the bell.
Retries back off exponentially with jitter and pause a channel whose platform keeps failing (circuit breaker, one
probe at a time); a 429 pauses the channel for Retry-After without counting as an attempt, and a reply gives up by
age; a per-channel rate cap spaces sends; platform windows decide when only a template may go. Sends carry our id
(`ref`) where the platform hands it back on its statuses (WhatsApp, Messenger), so a send whose answer was lost to a
crash or timeout is confirmed by that status rather than sent again.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from appliance import channels, conversations, tasks
from appliance.channels import PLATFORMS, Inbound, Outbound
from appliance.channels.platform import (
    Http, OutsideWindow, Permanent, RateLimited, SendError, TokenExpired, Transient, UnsafeDestination,
)
from appliance.db import database
from appliance import outbound
from appliance.outbound import UnsafeUrl, Unresolvable, check_url
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, utcnow
from appliance.vault import VaultError

log = logging.getLogger(__name__)

REF_PREFIX = "appliance:"  # our id for a send, given to platforms that hand it back on its status webhooks
RANK = {"pending": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 3}


def api_base(settings, channel: Channel) -> str:
    """The platform's setting, or the channel's own api_base checked again now (what its host resolves to may change)."""
    if not channel.api_base:
        return settings[f"{channel.kind}_api_base"]
    try:
        return check_url(channel.api_base, settings.get("outbound_allow_hosts", ""))
    except Unresolvable as exc:
        raise Transient(str(exc), "dns") from None
    except UnsafeUrl as exc:
        raise UnsafeDestination(str(exc)) from None


class Breaker:
    """Per-channel pauses: a circuit breaker after N consecutive failures, and a pause when the platform says 429.

    Once an open breaker's cool-down is over, one send at a time goes through as the probe; its failure re-opens the
    breaker for a cool-down from then, while failures of sends that started before it opened change nothing.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open: set[str] = set()  # tripped: only probes until a send succeeds
        self._until: dict[str, float] = {}  # monotonic time before which nothing is sent (cool-down or Retry-After)
        self._probing: set[str] = set()
        self._limited: dict[str, int] = {}  # consecutive rate limits, for the backoff when no Retry-After came

    def admit(self, channel_id: str, probe_wait: float) -> tuple[float, bool]:
        """(seconds to wait, 0 = send now; whether this send is the one probe of an open breaker)."""
        with self._lock:
            wait = self._until.get(channel_id, 0.0) - time.monotonic()
            if wait > 0:
                return wait, False
            if channel_id not in self._open:
                return 0.0, False
            if channel_id in self._probing:
                return probe_wait, False  # another worker's probe is out: look again once it must have an answer
            self._probing.add(channel_id)
            return 0.0, True

    def probe_done(self, channel_id: str) -> None:
        """The probe's attempt ended, whatever its outcome: the next one may go when the channel is not paused."""
        with self._lock:
            self._probing.discard(channel_id)

    def wait(self, channel_id: str) -> float:
        """Seconds until the channel's pause ends (0 = not paused)."""
        with self._lock:
            return max(0.0, self._until.get(channel_id, 0.0) - time.monotonic())

    def failure(self, channel_id: str, threshold: int, cooldown: float, probe: bool = False) -> bool:
        """Count a failed send; True when this opens the breaker, or a failed probe re-opens it from now."""
        with self._lock:
            now = time.monotonic()
            if probe and channel_id in self._open:
                self._until[channel_id] = now + cooldown
                return True
            if channel_id in self._open:
                return False  # a send that started before the breaker opened: the pause stays as it was
            count = self._failures.get(channel_id, 0) + 1
            self._failures[channel_id] = count
            if count >= threshold:
                self._open.add(channel_id)
                self._until[channel_id] = max(self._until.get(channel_id, 0.0), now + cooldown)
                return True
            return False

    def rate_limited(self, channel_id: str, retry_after: float | None, backoff_for: Callable[[int], float]) -> float:
        """Pause the channel for Retry-After (or a growing backoff without one); the seconds it is paused for."""
        with self._lock:
            count = self._limited.get(channel_id, 0) + 1
            self._limited[channel_id] = count
            now = time.monotonic()
            delay = retry_after if retry_after is not None else backoff_for(count)
            self._until[channel_id] = max(self._until.get(channel_id, 0.0), now + delay)
            return self._until[channel_id] - now

    def clean(self, channel_id: str) -> bool:
        """No failure or pause since the last success: worth sending to at once rather than through the queue."""
        with self._lock:
            return channel_id not in self._failures and channel_id not in self._until

    def success(self, channel_id: str) -> None:
        """A send went through: the channel is healthy again."""
        with self._lock:
            for state in (self._failures, self._until, self._limited):
                state.pop(channel_id, None)
            self._open.discard(channel_id)

    def paused(self) -> int:
        """How many channels are paused now or have an open breaker."""
        with self._lock:
            now = time.monotonic()
            return len(self._open | {channel for channel, until in self._until.items() if until > now})


class RateCap:
    """Spaces sends on one channel to at most `rate` a second by reserving time slots."""

    def __init__(self):
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, channel_id: str, rate: float, max_wait: float) -> tuple[bool, float]:
        """(reserved, seconds to wait). A slot further than max_wait away is not reserved."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(channel_id, 0.0))
            wait = slot - now
            if wait > max_wait:
                return False, wait
            self._next[channel_id] = slot + 1.0 / rate
            return True, wait


class OutboxState:
    """In-process delivery state shared by the worker threads: breakers, rate caps, one HTTP session."""

    def __init__(self, timeout: float):
        self.breaker = Breaker()
        self.rate = RateCap()
        self.http = Http(timeout)
        self.refresh_lock = threading.Lock()


def backoff(settings, attempts: int) -> float:
    """The outbox's retry delay: outbound.backoff with the outbox_backoff_* settings."""
    return outbound.backoff(attempts, settings.outbox_backoff_base, settings.outbox_backoff_max)


# --- the delivery task ---------------------------------------------------------------------------------

def hand_over(services, message: Message, channel: Channel | None = None, inline: bool = False) -> None:
    """Deliver a committed outbound row: at once for a local channel (the widget), and for a platform from a worker
    thread (`inline`) while its channel sends cleanly (a failing one would hold the worker up to the send timeout);
    otherwise a task sends it. Retries are always scheduled tasks."""
    channel = channel or message.conversation.channel
    local = getattr(channels.module(channel.kind), "LOCAL", False)
    if local or (inline and services.outbox.breaker.clean(channel.id)):
        _deliver_written(services, message)
    else:
        tasks.deliver_message(message.id)


def _deliver_written(services, message: Message) -> None:
    """`deliver` for a row this thread has just written, with its conversation and customer in hand: only the channel
    is read again (it may have been disconnected or given new credentials while the reply was made). Building the
    four-table read of `deliver` cost more than the rest of a send's queries together."""
    conversation = message.conversation
    channel = Channel.get_or_none(Channel.id == conversation.channel_id)
    if channel is not None:
        conversation.channel = channel
        _deliver(services, message)


def schedule(message_id: int, delay: float) -> None:
    """Ring the outbox's bell for a row now or in `delay` seconds (a retry)."""
    if delay > 0:
        tasks.deliver_message.schedule(args=(message_id,), delay=delay)
    else:
        tasks.deliver_message(message_id)


def deliver(services, message_id: int) -> None:
    """Try to send one pending outbound message that is due; any other row is left alone."""
    message = (Message.select(Message, Conversation, Channel, Customer)  # one query for the row and its relations
               .join(Conversation).join(Channel, on=(Conversation.channel == Channel.id))
               .switch(Conversation).join(Customer, on=(Conversation.customer == Customer.id))
               .where(Message.id == message_id).first())
    if message is not None:
        _deliver(services, message)


def _deliver(services, message: Message) -> None:
    if message.direction != "out" or message.status != "pending":
        return
    channel = message.conversation.channel
    module = channels.module(channel.kind)
    if getattr(module, "LOCAL", False):
        return _deliver_local(services, channel, module, message)
    if message.attempts and not message.platform_id and _confirmed_while_queued(services, channel, message):
        return
    if not _claim(message):
        return
    try:
        _attempt(services, channel, message)
    except VaultError as exc:  # the key file does not open the credentials: retried (and given up by age) until fixed
        log.warning("message %d: the credentials of %s channel %s cannot be decrypted", message.id, channel.kind,
                    channel.id)
        _retry(services, message, exc.code, exc.message, backoff(services.settings, message.attempts + 1))
    except Exception as exc:  # a bug must not leave the row in "sending" for ever
        log.exception("delivery of message %d failed unexpectedly", message.id)
        _retry(services, message, "internal_error", type(exc).__name__, backoff(services.settings, message.attempts))


def _deliver_local(services, channel: Channel, module, message: Message) -> None:
    """A channel without a network (the widget): one send, no claim, pause, rate cap or retry; sent in one UPDATE."""
    if channel.deleted:
        values = {"status": "failed", "error": "channel_deleted: the channel was disconnected"}
    else:
        platform_id = module.send(_outbound(services, channel, message, {}), {}, "", None)
        values = {"status": "sent", "platform_id": platform_id}
    values["updated_at"] = utcnow()
    if Message.update(values).where((Message.id == message.id) & (Message.status == "pending")).execute():
        for name, value in values.items():
            setattr(message, name, value)
        conversations.message_status(services, message)


def _claim(message: Message) -> bool:
    """pending and due -> sending in one conditional UPDATE, so two tasks never send the same row."""
    now = utcnow()
    due = Message.next_attempt_at.is_null() | (Message.next_attempt_at <= now + timedelta(milliseconds=50))
    claimed = Message.update(status="sending", updated_at=now).where(
        (Message.id == message.id) & (Message.status == "pending") & due).execute()
    if claimed:
        message.status, message.updated_at = "sending", now
    return bool(claimed)  # else gone, taken by another task, or not due (its scheduled task will come)


def _attempt(services, channel: Channel, message: Message) -> None:
    settings, state = services.settings, services.outbox
    if channel.deleted or not channel.credentials:
        return _fail(services, message, "channel_deleted", "the channel was disconnected")
    if channel.status != "active":
        return _fail(services, message, "channel_needs_attention", channel.status_reason or "the channel needs attention")
    wait, probe = state.breaker.admit(channel.id, settings.outbox_timeout)
    if wait > 0:
        return _release(services, message, wait)
    try:
        _attempt_send(services, channel, message, probe)
    finally:
        if probe:
            state.breaker.probe_done(channel.id)


def _attempt_send(services, channel: Channel, message: Message, probe: bool) -> None:
    settings, state = services.settings, services.outbox
    reserved, wait = state.rate.reserve(channel.id, settings.outbox_rate_per_second, 1.0)
    if not reserved:
        return _release(services, message, wait)
    if wait > 0:
        time.sleep(wait)
    credentials = services.vault.open_credentials(channel.id, channel.credentials)
    customer = message.conversation.customer
    outbound = _outbound(services, channel, message, credentials)
    if outbound is None:
        return _fail(services, message, "outside_window", "only a template may be sent outside the platform's window")
    module = channels.module(channel.kind)
    Message.update(attempts=Message.attempts + 1).where(Message.id == message.id).execute()
    message.attempts += 1
    try:
        platform_id = _send(services, channel, module, outbound, credentials)
    except OutsideWindow as exc:
        fallback = conversations.window_template(credentials, outbound, customer)
        if fallback is None:
            return _fail(services, message, exc.reason, str(exc))
        try:
            platform_id = _send(services, channel, module, fallback, credentials)
        except SendError as again:
            return _failed_send(services, channel, message, again, probe)
        Message.update(payload={**(message.payload or {}), "template": fallback.template}).where(
            Message.id == message.id).execute()
    except SendError as exc:
        return _failed_send(services, channel, message, exc, probe)
    _sent(services, channel, message, platform_id)


def _send(services, channel, module, outbound: Outbound, credentials: dict) -> str:
    """One send; a Zalo token that expired is refreshed once and the send repeated."""
    base = api_base(services.settings, channel)
    try:
        return module.send(outbound, credentials, base, services.outbox.http)
    except TokenExpired as exc:
        refreshable = getattr(module, "Refreshable", None)
        if refreshable is None or not isinstance(exc, refreshable):
            raise
        with services.outbox.refresh_lock:  # refresh tokens are single-use: one refresh per expiry, not per worker
            fresh = module.renew(services, channel, credentials, services.outbox.http)
        credentials.update(fresh)
        return module.send(outbound, fresh, base, services.outbox.http)


def _outbound(services, channel, message: Message, credentials: dict) -> Outbound | None:
    """The Outbound for a row (the channel module adds what its platform needs); a free-form reply whose window closed
    while it waited becomes the channel's window template, or None when there is none."""
    payload = message.payload or {}
    template = payload.get("template")
    customer = message.conversation.customer
    module = channels.module(channel.kind)
    extra: dict = {"ref": f"{REF_PREFIX}{message.id}"}
    if message.reply_to_id and hasattr(module, "reply_extra"):
        event = message.reply_to.inbound_event
        if event is not None:
            extra.update(module.reply_extra(Inbound.from_json(event.payload)))
    text = payload.get("template_text", "") if template else message.text
    outbound = Outbound(to=customer.external_id, text=text, buttons=payload.get("buttons") or [],
                        template=template, extra=extra)
    if hasattr(module, "prepare"):
        outbound = module.prepare(outbound, customer, services.settings)
    if template or conversations.window_open(channel.kind, customer.last_inbound_at):
        return outbound
    return conversations.window_template(credentials, outbound, customer)


def _failed_send(services, channel: Channel, message: Message, exc: SendError, probe: bool = False) -> None:
    settings, state = services.settings, services.outbox
    if isinstance(exc, TokenExpired):
        Channel.update(status="needs_attention", status_reason=f"{exc.reason}: {exc}"[:500]).where(
            Channel.id == channel.id).execute()
        log.warning("%s channel %s needs attention: its token was refused (code %s)", channel.kind, channel.id,
                    exc.platform_code)
        return _fail(services, message, exc.reason, str(exc))
    if isinstance(exc, Permanent):
        return _fail(services, message, exc.reason, str(exc))
    if isinstance(exc, RateLimited):
        return _rate_limited(services, channel, message, exc)
    delay = backoff(settings, message.attempts)
    if state.breaker.failure(channel.id, settings.outbox_breaker_failures, settings.outbox_breaker_seconds, probe):
        log.warning("%s channel %s paused for %.1fs after repeated failures", channel.kind, channel.id,
                    settings.outbox_breaker_seconds)
    _retry(services, message, exc.reason, str(exc), max(delay, state.breaker.wait(channel.id)))


def _rate_limited(services, channel: Channel, message: Message, exc: RateLimited) -> None:
    """The platform asks us to slow down: pause the whole channel, and this try does not count as an attempt."""
    pause = services.outbox.breaker.rate_limited(channel.id, exc.retry_after,
                                                 lambda count: backoff(services.settings, count))
    Message.update(attempts=Message.attempts - 1).where(Message.id == message.id).execute()
    message.attempts -= 1
    log.info("%s channel %s rate limited: paused for %.1fs", channel.kind, channel.id, pause)
    _release(services, message, pause, exc.reason, str(exc))


def _retry(services, message: Message, reason: str, detail: str, delay: float) -> None:
    if message.attempts >= services.settings.outbox_max_attempts:
        return _fail(services, message, reason, f"gave up after {message.attempts} attempts: {detail}")
    log.info("message %d: %s, attempt %d, retrying in %.2fs", message.id, reason, message.attempts, delay)
    _release(services, message, delay, reason, detail)


def _release(services, message: Message, delay: float, reason: str | None = None, detail: str = "") -> None:
    """Back to pending, due in `delay` seconds, with a task scheduled for then; failed once it is too old to send.

    Only a row this attempt still holds ("sending") is touched: a status webhook may have confirmed it meanwhile."""
    hours = services.settings.outbox_give_up_hours
    if utcnow() - message.created_at >= timedelta(hours=hours):
        return _fail(services, message, reason or "expired", f"not sent within {hours:g} hours{': ' + detail if detail else ''}")
    values = {"status": "pending", "next_attempt_at": utcnow() + timedelta(seconds=delay), "updated_at": utcnow()}
    if reason is not None:
        values["error"] = f"{reason}: {detail}"[:1000]
    if Message.update(**values).where((Message.id == message.id) & (Message.status == "sending")).execute():
        schedule(message.id, delay)


def _fail(services, message: Message, reason: str, detail: str) -> None:
    log.info("message %d failed: %s", message.id, reason)
    message.status, message.error, message.updated_at = "failed", f"{reason}: {detail}"[:1000], utcnow()
    if Message.update(status=message.status, error=message.error, next_attempt_at=None,
                      updated_at=message.updated_at).where(
            (Message.id == message.id) & (Message.status == "sending")).execute():
        conversations.message_status(services, message)


def _sent(services, channel: Channel, message: Message, platform_id: str) -> None:
    services.outbox.breaker.success(channel.id)
    message.status, message.platform_id, message.error, message.updated_at = "sent", platform_id, None, utcnow()
    with database.atomic("IMMEDIATE"):
        sent = Message.update(status="sent", platform_id=platform_id, error=None, next_attempt_at=None,
                              updated_at=message.updated_at).where(
            (Message.id == message.id) & (Message.status == "sending")).execute()
        waiting = InboundEvent.waiting_for(channel.id, platform_id)
    if sent:
        conversations.message_status(services, message)
    for event in waiting:  # a status webhook that came before the send answered
        if apply_status(services, event, Inbound.from_json(event.payload)) != "waiting":
            InboundEvent.update(status="done", processed_at=utcnow()).where(InboundEvent.id == event.id).execute()
    log.info("message %d sent on %s channel %s", message.id, channel.kind, channel.id)


# --- statuses from the platforms -----------------------------------------------------------------------

def advance(services, message_id: int, status: str, error: str | None = None) -> bool:
    """Move an outbound message forward (sent < delivered < read); never backwards, failed only before delivery."""
    if status == "failed":
        lower = ("pending", "sending", "sent")
        values = {"status": "failed", "error": error or "failed: the platform reported a failure"}
    elif status in RANK:
        lower = tuple(name for name, rank in RANK.items() if rank < RANK[status])
        values = {"status": "read" if status == "played" else status}
    else:
        return False
    moved = bool(Message.update(**values, updated_at=utcnow()).where(
        (Message.id == message_id) & (Message.status.in_(lower))).execute())
    if moved and services.events.wanted("message.status"):
        conversations.message_status(services, Message.get_by_id(message_id))
    return moved


def apply_status(services, event: InboundEvent, inbound: Inbound) -> str:
    """A sent/delivered/read/failed status for our messages; "waiting" when the message is not known yet."""
    status = inbound.status or {}
    ids = [status["message_id"]] if status.get("message_id") else list(status.get("message_ids") or [])
    outbound = (Message.select(Message.id).join(Conversation)
                .where((Conversation.channel == event.channel_id) & (Message.direction == "out")))
    if ids:
        rows = list(outbound.where(Message.platform_id.in_(ids)))
        if not rows and ref_message_id(status.get("ref")) is not None:
            return _confirm(services, event, status)
        if not rows and status.get("message_id"):
            return "waiting"
    elif status.get("watermark"):  # Messenger: everything sent before the watermark
        until = datetime.fromtimestamp(int(status["watermark"]) / 1000, timezone.utc).replace(tzinfo=None)
        rows = list(outbound.join(Customer, on=(Conversation.customer == Customer.id)).where(
            (Customer.external_id == inbound.user_id) & (Message.created_at <= until)
            & (Message.status.in_(("sent", "delivered")))))
    else:
        rows = []
    for row in rows:
        advance(services, row.id, status.get("status", ""), status.get("error"))
    return "done"


def ref_message_id(ref) -> int | None:
    """Our message id from the ref a platform echoed back ("appliance:42"), or None when it is not ours."""
    found = re.fullmatch(rf"{REF_PREFIX}(\d{{1,18}})", ref or "", re.ASCII) if isinstance(ref, str) else None
    return int(found.group(1)) if found else None


def _confirm(services, event: InboundEvent, status: dict) -> str:
    """A status naming our message by its ref: a send whose answer never came (crash, timeout) did reach the platform.

    It takes the platform's id and status, and no resend happens; a row that has an id already got it from another
    send (a resend after the grace period), so this status is of a duplicate and changes nothing."""
    name = status.get("status")
    if name == "failed":
        values = {"status": "failed", "error": status.get("error") or "failed: the platform reported a failure"}
    elif name in RANK and RANK[name] > 0:
        values = {"status": "read" if name == "played" else name, "error": None}
    else:
        return "done"
    message_id = ref_message_id(status["ref"])
    ours = (Message.select(Message.id).join(Conversation)
            .where((Conversation.channel == event.channel_id) & (Message.id == message_id)))
    confirmed = Message.update(**values, platform_id=status["message_id"], next_attempt_at=None, updated_at=utcnow()).where(
        Message.id.in_(ours) & (Message.direction == "out") & Message.platform_id.is_null()
        & Message.status.in_(("pending", "sending", "failed"))).execute()
    if confirmed:
        log.info("message %d: the platform reports a send whose answer was lost as %s", message_id, name)
        if services.events.wanted("message.status"):
            conversations.message_status(services, Message.get_by_id(message_id))
    return "done"


def _confirmed_while_queued(services, channel: Channel, message: Message) -> bool:
    """Before a send is made again: a status naming it by its ref may be stored and still waiting its turn behind
    a backlog of answers; apply it now, so a send that did reach the platform is not made twice."""
    if not getattr(channels.module(channel.kind), "CONFIRMS_SENDS", False):
        return False
    for event in InboundEvent.waiting_status(channel.id, f"{REF_PREFIX}{message.id}"):
        _confirm(services, event, Inbound.from_json(event.payload).status or {})
    return Message.select().where((Message.id == message.id) & Message.platform_id.is_null(False)).exists()


# --- start-up and the safety net -----------------------------------------------------------------------

def requeue_pending(services) -> int:
    """At start-up: rows left "sending" by a crash go back to pending and every pending row gets its task again.

    On platforms that confirm sends (status webhooks or echoes carry our ref) a row cut short waits a grace period
    first: the platform may have taken it, and its status then marks it sent instead of a second copy going out."""
    grace = services.settings.outbox_crash_grace_seconds
    confirming = [kind for kind in PLATFORMS if getattr(channels.module(kind), "CONFIRMS_SENDS", False)]
    cut_short = (Message.select(Message.id).join(Conversation).join(Channel, on=(Conversation.channel == Channel.id))
                 .where((Message.direction == "out") & (Message.status == "sending") & Channel.kind.in_(confirming)))
    waiting = Message.update(status="pending", next_attempt_at=utcnow() + timedelta(seconds=grace)).where(
        Message.id.in_(cut_short)).execute()
    Message.update(status="pending").where((Message.direction == "out") & (Message.status == "sending")).execute()
    rows = list(Message.select(Message.id, Message.next_attempt_at)
                .where((Message.direction == "out") & (Message.status == "pending")).order_by(Message.id))
    now = utcnow()
    for row in rows:
        delay = max(0.0, (row.next_attempt_at - now).total_seconds()) if row.next_attempt_at else 0.0
        schedule(row.id, delay)
    if rows:
        log.info("re-queued %d unsent outbound messages (%d cut short by a stop wait %.0fs for the platform's status)",
                 len(rows), waiting, grace)
    return len(rows)


def kick_overdue(services, grace_seconds: float = 60.0) -> int:
    """Queue pending rows whose due time passed long ago (their task was lost); a periodic safety net."""
    limit = utcnow() - timedelta(seconds=grace_seconds)
    rows = list(Message.select(Message.id).where(
        (Message.direction == "out") & (Message.status == "pending")
        & ((Message.next_attempt_at <= limit) | (Message.next_attempt_at.is_null() & (Message.created_at <= limit)))))
    for row in rows:
        schedule(row.id, 0)
    return len(rows)


def figures(services) -> dict:
    """Counts for /healthz (no ids or texts: it is public): replies waiting, failed in the last hour, channels paused."""
    outbound = Message.select().where(Message.direction == "out")
    hour_ago = utcnow() - timedelta(hours=1)
    return {"pending": outbound.where(Message.status.in_(("pending", "sending"))).count(),
            "failed_last_hour": outbound.where((Message.status == "failed") & (Message.updated_at >= hour_ago)).count(),
            "channels_paused": services.outbox.breaker.paused()}
