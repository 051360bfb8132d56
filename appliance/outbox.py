"""Delivery of outbound messages. Every reply is a row first; this sends it through its channel."""
from __future__ import annotations

import logging

from appliance.records import Channel, Message, utcnow

log = logging.getLogger(__name__)


def deliver(services, message_id: int) -> None:
    """Send one pending outbound message; a message already sent is left alone."""
    message = Message.get_or_none(Message.id == message_id)
    if message is None or message.direction != "out" or message.status != "pending":
        return
    conversation = message.conversation
    channel = Channel.get_by_id(conversation.channel_id)
    if channel.kind == "web":
        _deliver_web(services, channel, message)
        return
    raise NotImplementedError(f"delivery for {channel.kind} channels")


def _deliver_web(services, channel: Channel, message: Message) -> None:
    """The widget reads replies from the database and the stream; delivery is marking it sent and publishing."""
    message.status, message.updated_at = "sent", utcnow()
    Message.update(status=message.status, updated_at=message.updated_at).where(Message.id == message.id).execute()
    session = message.conversation.customer.external_id
    services.streams.publish(channel.id, session, "message", message.as_json())
