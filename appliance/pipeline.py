"""Inbound events: stored by the webhooks and the widget, claimed fairly by the workers, each one recorded
(conversations.record_inbound), offered to the responders in order (responders.py) and answered through
conversations.reply. Idempotent end to end; one failure policy for every channel."""
from __future__ import annotations

import itertools
import logging
from datetime import timedelta

from peewee import fn

from appliance import channels, conversations, responders
from appliance.assistant.llm import ModelStopped
from appliance.assistant.prompts import Turn
from appliance.channels import CONVERSATIONAL, Inbound
from appliance.db import database
from appliance.errors import AppError
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, Tenant, encode_json, utcnow

log = logging.getLogger(__name__)


MAX_EVENT_ATTEMPTS = 3  # an event that crashes the pipeline this often is marked failed, not retried for ever


def store_events(channel: Channel, events: list[Inbound]) -> list[int]:
    """Store events in one statement (redeliveries ignored by the unique key); returns the ids of the new ones."""
    if not events:
        return []
    # the dataclass's own field dict: the same JSON as as_json(), no copies
    return InboundEvent.store_new(channel.tenant_id, channel.id,
                                  [(event.platform_id, event.kind, encode_json(event.__dict__)) for event in events])


def _claim(event_id: int):
    """Mark the event as being processed; None if it is gone or finished already."""
    with database.atomic("IMMEDIATE"):
        event = _with_channel(event_id)
        if event is None or event.status in ("done", "skipped", "failed"):
            return None
        event.status, event.attempts = "processing", event.attempts + 1
        InboundEvent.update(status=event.status, attempts=event.attempts).where(InboundEvent.id == event_id).execute()
        return event


def _with_channel(event_id: int):
    """The event with its channel and tenant: one query."""
    return (InboundEvent.select(InboundEvent, Channel, Tenant)
            .join(Channel).switch(InboundEvent).join(Tenant)
            .where(InboundEvent.id == event_id).first())


def _finish(event_id: int, status: str, error: str | None = None) -> None:
    InboundEvent.update(status=status, error=error, processed_at=utcnow()).where(InboundEvent.id == event_id).execute()


def history_of(message: Message, limit: int) -> list[Turn]:
    """The conversation's last `limit` messages before `message`, oldest first."""
    rows = (Message.select().where((Message.conversation == message.conversation_id) & (Message.id < message.id)
                                   & (Message.status != "failed"))
            .order_by(Message.id.desc()).limit(limit))
    return [Turn("customer" if m.direction == "in" else "assistant", m.text) for m in reversed(list(rows))]


def handle_event(services, event_id: int) -> Message | None:
    """Process one stored event; a replayed or duplicate call never produces a second reply."""
    event = _claim(event_id)
    if event is None:
        return None
    return handle_claimed(services, event)


def handle_claimed(services, event: InboundEvent) -> Message | None:
    """Process an event this worker has marked `processing` (loaded with its channel and tenant): record the
    message, ask the responders in order, send what the first one says and do what it asks."""
    inbound = Inbound.from_json(event.payload)
    if inbound.kind not in CONVERSATIONAL:
        handler = EVENT_HANDLERS.get(inbound.kind)
        _finish(event.id, (handler(services, event, inbound) or "done") if handler else "skipped")  # or "waiting"
        return None
    message = conversations.record_inbound(services, event, inbound)
    conversation = message.conversation
    conversation.channel = event.channel  # loaded with the event: the reply needs no query for it
    existing = Message.get_or_none(Message.reply_to == message.id)
    if existing is not None or conversation.status != "open":
        _finish(event.id, "done")  # answered already, or a person has the conversation
        return existing
    response = responders.respond(_context(services, event, conversation, message))
    try:
        out = _act(services, conversation, message, response)
    except AppError as exc:  # the reply may not go: its channel was disconnected meanwhile, or the window closed
        log.info("inbound event %d not answered: %s", event.id, exc.code)
        _give_up(event.id, f"not answered: {exc.code}")
        return None
    _finish(event.id, "done")
    return out


def _context(services, event: InboundEvent, conversation: Conversation, message: Message) -> responders.Context:
    channel = event.channel
    progress = getattr(channels.module(channel.kind), "progress", None)  # the widget shows typing and tokens
    on_token = progress(services.streams, channel.id, conversation.customer.external_id, message.id) if progress else None
    history = history_of(message, max(services.settings.history_length, 50))
    return responders.Context(services, event.tenant, channel, conversation, message, history, on_token)


def _act(services, conversation: Conversation, message: Message, response) -> Message | None:
    """Send the response's reply (on this worker: no second trip through the queue), then do its action."""
    out = None
    outbound = response.outbound() if response is not None else None
    if outbound is not None:
        sender = response.meta.get("sender", "bot")
        meta = {k: v for k, v in response.meta.items() if k != "sender"}
        out = conversations.reply(services, conversation, outbound, sender, inline=True, reply_to=message.id,
                                  more=response.more, **meta)
    if response is not None and response.action == "handoff":
        conversations.handoff(services, conversation, reason=response.reason)
    return out


# --- the queue: one task answers one event, chosen fairly (huey only rings; these rows are the ledger) -------

_USER = InboundEvent.payload.extract_text("$.user_id")  # the conversation key, with the channel (text, unconverted)
_SCAN = 200  # pending rows read per page while looking for one whose conversation is free


def process_next(services) -> bool:
    """Claim the fairest pending event and handle it; False when none could be taken (or the appliance is stopping)."""
    if services.stopping.is_set():
        return False  # SIGTERM: what is left stays pending for the next start
    event = _claim_next(services.served)
    if event is None:
        return False
    try:
        if _pending():
            services.ring()  # an idle worker may take the next one meanwhile (the bell bounds the queued rings)
        handle_claimed(services, event)
    except ModelStopped:
        _put_back(event)
        return False
    except Exception as exc:
        _retry_or_fail(event, exc)
    if _pending():
        services.ring()  # this conversation's next message may be waiting for this one
    return True


def _pending() -> bool:
    return InboundEvent.select().where(InboundEvent.status == "pending").exists()


def _claim_next(served: dict):
    """Mark the fairest free pending event `processing`: the tenant served least recently first, then its oldest
    event whose conversation has nothing in progress (one at a time per conversation keeps its order)."""
    with database.atomic("IMMEDIATE"):  # one claimer at a time: two workers never take the same conversation
        busy = set(InboundEvent.select(InboundEvent.channel, _USER)
                   .where(InboundEvent.status == "processing").tuples())
        oldest = dict(InboundEvent.select(InboundEvent.tenant, fn.MIN(InboundEvent.id))
                      .where(InboundEvent.status == "pending").group_by(InboundEvent.tenant).tuples())
        for tenant_id in sorted(oldest, key=lambda t: (served.get(t, 0), oldest[t])):
            event_id = _oldest_free(tenant_id, busy)
            if event_id is None:
                continue
            InboundEvent.update(status="processing", attempts=InboundEvent.attempts + 1).where(
                InboundEvent.id == event_id).execute()
            served[tenant_id] = next(_TURNS)
            return _with_channel(event_id)
    return None


_TURNS = itertools.count(1)  # serial of each claim: a tenant's last one says how recently it was served


def _oldest_free(tenant_id: str, busy: set) -> int | None:
    """The tenant's oldest pending event whose conversation (channel, user) has nothing in progress."""
    after = 0
    while True:
        rows = list(InboundEvent.select(InboundEvent.id, InboundEvent.channel, _USER)
                    .where((InboundEvent.tenant == tenant_id) & (InboundEvent.status == "pending")
                           & (InboundEvent.id > after))
                    .order_by(InboundEvent.id).limit(_SCAN).tuples())
        for event_id, channel_id, user in rows:
            if (channel_id, user) not in busy:
                return event_id
        if len(rows) < _SCAN:
            return None
        after = rows[-1][0]


def _retry_or_fail(event: InboundEvent, exc: Exception) -> None:
    """A crashed event goes back to pending until it has used its attempts; then it is failed, once and for good (no
    sweep picks a failed event up again): counted in /healthz and noted on its message in the conversation."""
    final = event.attempts >= MAX_EVENT_ATTEMPTS
    log.exception("inbound event %d failed (attempt %d)%s", event.id, event.attempts,
                  "; giving up" if final else "; it will be retried")
    reason = f"not answered after {event.attempts} attempts ({type(exc).__name__}); see the log"
    if final:
        _give_up(event.id, reason)
    else:
        InboundEvent.update(status="pending", error=reason).where(InboundEvent.id == event.id).execute()


def _give_up(event_id: int, reason: str) -> None:
    """The event ends failed with its reason, noted on its message too (the conversation shows it)."""
    with database.atomic("IMMEDIATE"):
        _finish(event_id, "failed", reason)
        Message.update(error=reason).where(Message.inbound_event == event_id).execute()


def failed_figures(hours: float = 1.0) -> dict:
    """Counts for /healthz: inbound events that ended failed, in all and in the last `hours`."""
    failed = InboundEvent.select().where(InboundEvent.status == "failed")
    since = utcnow() - timedelta(hours=hours)
    return {"failed_events": failed.count(),
            "failed_events_last_hour": failed.where(InboundEvent.processed_at >= since).count()}


def _put_back(event: InboundEvent) -> None:
    """SIGTERM interrupted the answer: the event waits for the next start, and this try does not count."""
    log.info("inbound event %d stays pending: the appliance is stopping", event.id)
    InboundEvent.update(status="pending", attempts=InboundEvent.attempts - 1).where(InboundEvent.id == event.id).execute()


def requeue_unfinished(services) -> int:
    """At start-up: events a crash left `processing` go back to pending, and the bell rings for all pending ones."""
    count = InboundEvent.select().where(InboundEvent.status.in_(("pending", "processing"))).count()
    InboundEvent.update(status="pending").where(InboundEvent.status == "processing").execute()
    if count:
        log.info("%d unfinished inbound events are pending", count)
        services.ring()
    return count


# --- events that are not answered: statuses, follows, reactions (EVENT_HANDLERS) ----------------------------

def _customer(event: InboundEvent, inbound: Inbound) -> Customer:
    customer, _ = Customer.get_or_create(channel=event.channel_id, external_id=inbound.user_id,
                                         defaults={"tenant": event.tenant_id, "name": inbound.user_name})
    return customer


def on_status(services, event: InboundEvent, inbound: Inbound) -> str:
    """sent / delivered / read / failed for our outbound messages (never backwards)."""
    from appliance.outbox import apply_status

    return apply_status(services, event, inbound)


def on_follow(services, event: InboundEvent, inbound: Inbound) -> str:
    """A user followed the OA / started the bot (or left): the customer exists and is marked as following, then the
    tenant's follow flow, or else its follow / unfollow rules, run (a welcome goes through conversations.reply)."""
    from appliance.automation import flows, rules

    if not inbound.user_id:
        return "skipped"
    with database.atomic("IMMEDIATE"):
        customer = _customer(event, inbound)
        customer.custom_fields = {**(customer.custom_fields or {}), "following": inbound.kind == "follow"}
        if inbound.kind == "follow":
            customer.last_inbound_at = utcnow()  # following is the user's own act: the platform lets us answer it
        customer.save()
    if not flows.on_event(services, event, inbound.kind, customer):  # a flow's event trigger first, as in the chain
        rules.on_event(services, event, inbound.kind, customer)
    return "done"


def on_opt_in(services, event: InboundEvent, inbound: Inbound) -> str:
    """The customer agreed to receive messages (Messenger's opt-in): consent is recorded, then an opt_in flow or else
    the opt_in rules run."""
    from appliance.automation import flows, rules

    if not inbound.user_id:
        return "skipped"  # a checkbox opt-in names only a user_ref, nobody we can write to yet
    with database.atomic("IMMEDIATE"):
        customer = _customer(event, inbound)
        Customer.update(consent="opted_in", last_inbound_at=utcnow()).where(Customer.id == customer.id).execute()
        customer.consent, customer.last_inbound_at = "opted_in", utcnow()
    if not flows.on_event(services, event, "opt_in", customer):
        rules.on_event(services, event, "opt_in", customer)
    return "done"


def on_reaction(services, event: InboundEvent, inbound: Inbound) -> str:
    """A reaction (or its removal: empty emoji) on one of the conversation's messages."""
    target = (inbound.reaction or {}).get("message_id")
    message = (Message.select().join(Conversation)
               .where((Conversation.channel == event.channel_id) & (Message.platform_id == target)).first()
               if target else None)
    if message is None:
        return "skipped"
    payload = dict(message.payload or {})
    emoji = (inbound.reaction or {}).get("emoji")
    if emoji:
        payload["reaction"] = emoji
    else:
        payload.pop("reaction", None)
    Message.update(payload=payload).where(Message.id == message.id).execute()
    return "done"


EVENT_HANDLERS = {"status": on_status, "follow": on_follow, "unfollow": on_follow, "reaction": on_reaction,
                  "opt_in": on_opt_in}
