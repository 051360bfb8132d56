"""The one write path of conversations: inbound messages, outbound ones, and a conversation's state.

States: open (the bot answers) -> handoff (waiting for a person; the bot is silent) -> assigned (a person has it;
the bot is silent) -> closed. `resume_bot` returns a handed-off or assigned conversation to open; a customer who
writes after `closed` starts a new conversation. Every change emits a named event (appliance/events.py) after its
transaction committed (so call these outside any transaction of your own); the API shapes of conversations and
messages live here so the API and the events agree.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from appliance import channels
from appliance.channels import Inbound, Outbound
from appliance.db import database
from appliance.errors import AppError
from appliance.events import Event
from appliance.records import Channel, Conversation, Customer, InboundEvent, Message, User, utcnow

log = logging.getLogger(__name__)

STATUSES = ("open", "handoff", "assigned", "closed")
HELD = ("handoff", "assigned")  # a person has (or is asked to take) the conversation: the bot stays silent
SENDERS = ("bot", "agent", "automation")
STAFF_ONLY = ("error", "model", "tokens", "sources", "path", "rejected")  # never in the customer's widget


# --- API shapes ----------------------------------------------------------------------------------------

def message_json(m: Message, for_customer: bool = False) -> dict:
    """The API shape of a message; `for_customer` leaves out what only staff see (sources, model, path)."""
    data = {
        "id": m.id,
        "conversation": m.conversation_id,
        "direction": m.direction,
        "sender": m.sender,
        "reply_to": m.reply_to_id,
        "kind": m.kind,
        "text": m.text,
        "status": m.status,
        "error": m.error,
        "model": m.model,
        "tokens": {"prompt": m.tokens_prompt, "completion": m.tokens_completion},
        "sources": m.sources or [],
        "path": m.path,
        "rejected": m.rejected,
        "created_at": m.created_at.isoformat() + "Z",
    }
    return {k: v for k, v in data.items() if k not in STAFF_ONLY} if for_customer else data


def conversation_json(c: Conversation, with_messages: bool = False) -> dict:
    """The API shape of a conversation (with its messages, oldest first, when asked)."""
    data = {"id": c.id, "channel": c.channel_id, "status": c.status,
            "customer": {"id": c.customer_id, "name": c.customer.name},
            "assigned_user": c.assigned_user_id, "last_message_at": c.last_message_at.isoformat() + "Z"}
    if with_messages:
        data["messages"] = [message_json(m) for m in c.messages.order_by(Message.id)]
    return data


def _emit_message(services, name: str, message: Message) -> None:
    if services.events.wanted(name):
        # the conversation's customer and state ride along: an inbox page shows and filters a new conversation by them
        c = message.conversation
        data = {**message_json(message), "customer": {"id": c.customer_id, "name": c.customer.name},
                "channel": c.channel_id, "conversation_status": c.status, "assigned_user": c.assigned_user_id}
        services.events.emit(Event(name, message.tenant_id, message.conversation_id, data))


def _emit_conversation(services, name: str, conversation: Conversation, **extra) -> None:
    if services.events.wanted(name):
        data = {**conversation_json(conversation), **extra}
        services.events.emit(Event(name, conversation.tenant_id, conversation.id, data))


def message_status(services, message: Message) -> None:
    """Tell the subscribers an outbound message's delivery status changed (the outbox calls this)."""
    _emit_message(services, "message.status", message)


# --- inbound -------------------------------------------------------------------------------------------

def record_inbound(services, event: InboundEvent, inbound: Inbound) -> Message:
    """The customer, their conversation and the inbound message for a stored event (once: a replay returns it)."""
    with database.atomic("IMMEDIATE"):
        existing = Message.get_or_none(Message.inbound_event == event.id)
        if existing is not None:
            return existing
        now = utcnow()
        customer = _customer(event, inbound, now)
        conversation = (Conversation.select()
                        .where((Conversation.customer == customer) & (Conversation.status != "closed"))
                        .order_by(Conversation.id.desc()).first())
        if conversation is None:
            conversation = Conversation.create(tenant=event.tenant_id, channel=event.channel_id, customer=customer,
                                               last_message_at=now)
        else:
            Conversation.update(last_message_at=now).where(Conversation.id == conversation.id).execute()
            conversation.last_message_at = now
        conversation.customer = customer
        message = Message.create(tenant=event.tenant_id, conversation=conversation, direction="in",
                                 sender="customer", kind=inbound.kind, text=inbound.describe(),
                                 inbound_event=event.id, platform_id=inbound.platform_id,
                                 payload={k: v for k, v in inbound.as_json().items() if k != "raw" and v})
    _emit_message(services, "message.in", message)
    return message


def open_conversation(services, tenant_id: str, channel: Channel, customer: Customer) -> Conversation:
    """The customer's conversation that is not closed, or a new one: where an automation speaks first (a follow)."""
    with database.atomic("IMMEDIATE"):
        conversation = Conversation.open_of(customer.id)
        if conversation is None:
            conversation = Conversation.create(tenant=tenant_id, channel=channel, customer=customer,
                                               last_message_at=utcnow())
    conversation.channel, conversation.customer = channel, customer
    return conversation


def _customer(event: InboundEvent, inbound: Inbound, now: datetime) -> Customer:
    customer, created = Customer.get_or_create(channel=event.channel_id, external_id=inbound.user_id, defaults={
        "tenant": event.tenant_id, "name": inbound.user_name, "last_inbound_at": now})
    if not created:  # only the columns that change: no stale copy of the rest is written back
        changes = {Customer.last_inbound_at: now}
        if inbound.user_name and not customer.name:
            changes[Customer.name] = inbound.user_name
            customer.name = inbound.user_name
        Customer.update(changes).where(Customer.id == customer.id).execute()
        customer.last_inbound_at = now
    return customer


# --- outbound ------------------------------------------------------------------------------------------

def window_open(kind: str, last_inbound_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a free-form message may still go to this customer (24 h WhatsApp/Messenger, 48 h Zalo)."""
    window = getattr(channels.module(kind), "FREE_WINDOW", None)
    if window is None:
        return True
    return last_inbound_at is not None and (now or utcnow()) - last_inbound_at < window


def window_template(credentials: dict, outbound: Outbound, customer: Customer) -> Outbound | None:
    """The channel's `window_template` (a credential) carrying the text as its one parameter, if one is configured:
    what goes instead of free text once only a template may be sent."""
    name = credentials.get("window_template")
    if not name or outbound.template:
        return None
    template = {"name": name, "language": credentials.get("template_language") or "en_US", "params": [outbound.text],
                "phone": (customer.custom_fields or {}).get("phone", "")}  # Zalo ZNS goes to the phone number
    return Outbound(to=outbound.to, template=template, extra=outbound.extra)


def reply(services, conversation: Conversation, outbound: Outbound, sender: str, inline: bool = False,
          more: tuple[Outbound, ...] = (), **meta) -> Message:
    """Queue a message to the conversation's customer (`outbound.to` is ignored: it is the customer) and hand it to
    the outbox; `inline` (a worker thread) sends it at once while its channel is healthy.

    Outside the platform's free window a text goes as the channel's window template, or is refused with a 409
    `outside_window`. `more`: further messages of the same turn (a flow's send then ask), stored in the same
    transaction, so a crash sends all or none. meta: reply_to (one reply per inbound message: a second call returns
    the first), model, tokens {"prompt", "completion"}, latency_ms, sources, path, rejected."""
    from appliance import outbox

    if sender not in SENDERS:
        raise ValueError(f"sender must be one of {SENDERS}")
    channel, customer = _destination(conversation)
    outbounds = [_allowed(services, channel, customer, o) for o in (outbound, *more)]
    reply_to = meta.get("reply_to")
    reply_to_id = reply_to.id if isinstance(reply_to, Message) else reply_to
    with database.atomic("IMMEDIATE"):
        if reply_to_id is not None:
            existing = Message.get_or_none(Message.reply_to == reply_to_id)
            if existing is not None:
                return existing
        rows = [Message.create(**_row(conversation, o, sender, reply_to_id if n == 0 else None, meta))
                for n, o in enumerate(outbounds)]
    for message in rows:
        message.conversation = conversation
        _emit_message(services, "message.out", message)
        outbox.hand_over(services, message, channel, inline)
    return rows[0]


def _destination(conversation: Conversation) -> tuple[Channel, Customer]:
    channel = conversation.channel
    if channel.deleted:
        raise AppError(409, "channel_disconnected", "This conversation's channel was disconnected.")
    return channel, conversation.customer


def _allowed(services, channel: Channel, customer: Customer, outbound: Outbound) -> Outbound:
    """The outbound as it may go now: templates only where the channel has them, free text only inside the window."""
    module = channels.module(channel.kind)
    if outbound.template and not getattr(module, "TEMPLATES", True):
        raise AppError(422, "templates_unsupported", f"A {channel.kind} channel has no templates; send 'text' instead.")
    if outbound.template or window_open(channel.kind, customer.last_inbound_at):
        return outbound
    credentials = (services.vault.open_credentials(channel.id, channel.credentials)
                   if channel.credentials else {})
    fallback = window_template(credentials, outbound, customer)
    if fallback is None:
        raise AppError(409, "outside_window", f"The customer last wrote more than the {channel.kind} window ago; "
                                              "only a template may be sent now.")
    return Outbound(to=fallback.to, text=outbound.text, template=fallback.template, extra=fallback.extra)


def _row(conversation: Conversation, outbound: Outbound, sender: str, reply_to_id, meta: dict) -> dict:
    template = outbound.template
    payload = {k: v for k, v in {"buttons": outbound.buttons, "template": template,
                                 "template_text": outbound.text if template else None}.items() if v}
    tokens = meta.get("tokens") or {}
    return dict(tenant=conversation.tenant_id, conversation=conversation, direction="out", sender=sender,
                kind="template" if template else "text", text=outbound.text or (template or {}).get("name", ""),
                payload=payload or None, status="pending", reply_to=reply_to_id, model=meta.get("model"),
                tokens_prompt=tokens.get("prompt", 0), tokens_completion=tokens.get("completion", 0),
                latency_ms=meta.get("latency_ms", 0), sources=meta.get("sources"), path=meta.get("path"),
                rejected=meta.get("rejected"))


# --- state -----------------------------------------------------------------------------------------------

def _move(services, conversation: Conversation, to: str, allowed_from: tuple[str, ...], event: str,
          by_user=None, assigned_user=None, **extra) -> Conversation:
    """Change the state with one conditional UPDATE (two staff racing cannot both win), then emit `event`."""
    if conversation.status == "closed" and to != "closed":
        raise AppError(409, "conversation_closed", "This conversation is closed; it starts again when the customer "
                                                   "writes.")
    values = {"status": to, "assigned_user": assigned_user}
    changed = Conversation.update(values).where(
        (Conversation.id == conversation.id) & Conversation.status.in_(allowed_from)).execute()
    fresh = Conversation.get_by_id(conversation.id)
    if not changed:
        return fresh  # already there (or another request moved it first): nothing happened, nothing to tell
    log.info("conversation %d: %s -> %s", conversation.id, conversation.status, to)
    by = {"by_user": by_user.id} if by_user is not None else {}
    _emit_conversation(services, event, fresh, **by, **extra)
    return fresh


def handoff(services, conversation: Conversation, reason: str = "", by_user=None) -> Conversation:
    """Ask for a person: the bot stops answering until someone resumes it."""
    return _move(services, conversation, "handoff", ("open",), "conversation.handoff", by_user,
                 reason=reason or None)


def assign(services, conversation: Conversation, user: User, by_user=None) -> Conversation:
    """Give the conversation to a user of the same tenant; the bot stays silent while they have it."""
    if user is None or user.tenant_id != conversation.tenant_id:
        raise AppError(404, "not_found", "No such user in this tenant.")
    if conversation.status == "assigned" and conversation.assigned_user_id == user.id:
        return conversation
    return _move(services, conversation, "assigned", ("open", "handoff", "assigned"), "conversation.assigned",
                 by_user, assigned_user=user.id)


def resume_bot(services, conversation: Conversation, by_user=None) -> Conversation:
    """Give the conversation back to the bot (open, nobody assigned)."""
    return _move(services, conversation, "open", HELD, "conversation.resumed", by_user)


def close(services, conversation: Conversation, by_user=None) -> Conversation:
    """Close the conversation; the customer's next message starts a new one."""
    return _move(services, conversation, "closed", ("open",) + HELD, "conversation.closed", by_user)


def auto_close(services, now: datetime | None = None) -> int:
    """Close conversations idle longer than the `conversation_idle_hours` setting (0: never); how many were closed."""
    hours = services.settings.get("conversation_idle_hours", 0)
    if not hours:
        return 0
    limit = (now or utcnow()) - timedelta(hours=hours)
    idle = list(Conversation.select().where((Conversation.status != "closed") & (Conversation.last_message_at < limit)))
    closed = 0
    for conversation in idle:
        if close(services, conversation).status == "closed":
            closed += 1
    return closed
