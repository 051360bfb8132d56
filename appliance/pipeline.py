"""Inbound event -> customer + conversation -> assistant -> reply in the outbox. Idempotent end to end."""
from __future__ import annotations

import itertools
import logging

from peewee import fn

from appliance.assistant.answer import answer
from appliance.assistant.llm import ModelStopped
from appliance.assistant.prompts import Turn
from appliance.channels import CONVERSATIONAL, Inbound
from appliance.db import database
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


def _record_inbound(event: InboundEvent, inbound: Inbound) -> Message:
    """Customer, open conversation and the inbound message row for the event (once)."""
    with database.atomic("IMMEDIATE"):
        existing = Message.get_or_none(Message.inbound_event == event.id)
        if existing is not None:
            return existing
        now = utcnow()
        customer, created = Customer.get_or_create(channel=event.channel_id, external_id=inbound.user_id, defaults={
            "tenant": event.tenant_id, "name": inbound.user_name, "last_inbound_at": now})
        if not created:  # only the columns that change: no stale copy of the rest is written back
            changes = {Customer.last_inbound_at: now}
            if inbound.user_name and not customer.name:
                changes[Customer.name] = inbound.user_name
            Customer.update(changes).where(Customer.id == customer.id).execute()
        conversation = (Conversation.select()
                        .where((Conversation.customer == customer) & (Conversation.status != "closed"))
                        .order_by(Conversation.id.desc()).first())
        if conversation is None:
            conversation = Conversation.create(tenant=event.tenant_id, channel=event.channel_id, customer=customer,
                                               last_message_at=now)
        else:
            Conversation.update(last_message_at=now).where(Conversation.id == conversation.id).execute()
        return Message.create(tenant=event.tenant_id, conversation=conversation, direction="in", sender="customer",
                              kind=inbound.kind, text=inbound.describe(), inbound_event=event.id,
                              payload={k: v for k, v in inbound.as_json().items() if k != "raw" and v},
                              platform_id=inbound.platform_id)


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
    """Process an event this worker has marked `processing` (loaded with its channel and tenant)."""
    event_id = event.id
    inbound = Inbound.from_json(event.payload)
    if inbound.kind not in CONVERSATIONAL:
        handler = services.event_handlers.get(inbound.kind)
        if handler is None:
            _finish(event_id, "skipped")
            return None
        _finish(event_id, handler(services, event, inbound) or "done")  # "waiting": status before its message
        return None
    message = _record_inbound(event, inbound)
    conversation = message.conversation
    existing = Message.get_or_none(Message.reply_to == message.id)
    if existing is not None or conversation.status != "open":
        _finish(event_id, "done")  # answered already, or a human has the conversation
        return existing
    tenant, channel = event.tenant, event.channel
    session = inbound.user_id
    stream = services.streams

    def on_token(piece: str) -> None:
        if channel.kind == "web":
            stream.publish(channel.id, session, "token", {"reply_to": message.id, "text": piece})

    if channel.kind == "web":
        stream.publish(channel.id, session, "typing", {"reply_to": message.id})
    limit = services.settings.history_length
    reply = answer(services, tenant, history_of(message, max(limit, 50)), message.text, on_token=on_token)
    with database.atomic("IMMEDIATE"):
        existing = Message.get_or_none(Message.reply_to == message.id)
        if existing is not None:
            _finish(event_id, "done")
            return existing
        out = Message.create(tenant=tenant.id, conversation=conversation, direction="out", sender="bot",
                             text=reply.text, reply_to=message.id, status="pending", model=reply.model,
                             tokens_prompt=reply.prompt_tokens, tokens_completion=reply.completion_tokens,
                             latency_ms=reply.latency_ms, sources=reply.sources, path=reply.path,
                             rejected=reply.rejected)
        if reply.action == "handoff":
            Conversation.update(status="handoff").where(Conversation.id == conversation.id).execute()
        _finish(event_id, "done")
    services.deliver(out, in_worker=True)  # already on a worker: no second trip through the queue
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
    except Exception:
        _retry_or_fail(event)
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


def _retry_or_fail(event: InboundEvent) -> None:
    """A crashed event goes back to pending until it has used its attempts; then it is failed (the others go on)."""
    final = event.attempts >= MAX_EVENT_ATTEMPTS
    log.exception("inbound event %d failed (attempt %d)%s", event.id, event.attempts,
                  "; giving up" if final else "; it will be retried")
    InboundEvent.update(status="failed" if final else "pending", error="processing failed; see the log").where(
        InboundEvent.id == event.id).execute()


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


# --- events that are not answered: statuses, follows, reactions (Services.event_handlers) ----------------

def _customer(event: InboundEvent, inbound: Inbound) -> Customer:
    customer, _ = Customer.get_or_create(channel=event.channel_id, external_id=inbound.user_id,
                                         defaults={"tenant": event.tenant_id, "name": inbound.user_name})
    return customer


def on_status(services, event: InboundEvent, inbound: Inbound) -> str:
    """sent / delivered / read / failed for our outbound messages (never backwards)."""
    from appliance.outbox import apply_status

    return apply_status(services, event, inbound)


def on_follow(services, event: InboundEvent, inbound: Inbound) -> str:
    """A user followed the OA / started the bot: the customer exists and is marked as following."""
    if not inbound.user_id:
        return "skipped"
    with database.atomic("IMMEDIATE"):
        customer = _customer(event, inbound)
        customer.custom_fields = {**(customer.custom_fields or {}), "following": inbound.kind == "follow"}
        customer.save()
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


EVENT_HANDLERS = {"status": on_status, "follow": on_follow, "unfollow": on_follow, "reaction": on_reaction}
