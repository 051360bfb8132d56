"""The one registry of conversation events: conversations.py emits them, features that react subscribe.

Modelled on isso's `Signal` and Datasette's `track_event`: a name, the tenant and conversation it concerns, and the
message or conversation as the API shows it. Every subscriber is registered in one place (`app.create_services`);
receivers run synchronously in the thread that made the change, after its transaction committed, so they must be
quick (hand anything slow to a queue) and a receiver that raises is logged and never undoes or breaks the write.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

NAMES = ("message.in", "message.out", "message.status", "conversation.handoff", "conversation.assigned",
         "conversation.resumed", "conversation.closed")
ANY = "*"


@dataclass(frozen=True)
class Event:
    """One change: `data` is JSON-able (message.* -> the message, conversation.* -> the conversation, API shapes),
    shared by every receiver, so a receiver copies it before changing anything."""

    name: str
    tenant_id: str
    conversation_id: int
    data: dict


Receiver = Callable[[Event], None]


class Events:
    """Receivers by event name ("*" receives every event); emitting to nobody costs a dict lookup."""

    def __init__(self):
        self._lock = threading.Lock()
        self._receivers: dict[str, tuple[Receiver, ...]] = {}  # replaced, never mutated: emit reads without the lock

    def subscribe(self, name: str, receiver: Receiver) -> None:
        """Call `receiver(event)` for every event called `name` (one of NAMES, or "*" for all)."""
        if name != ANY and name not in NAMES:
            raise ValueError(f"unknown event name {name!r}; use one of {', '.join(NAMES)} or '*'")
        with self._lock:
            receivers = dict(self._receivers)
            receivers[name] = receivers.get(name, ()) + (receiver,)
            self._receivers = receivers

    def unsubscribe(self, name: str, receiver: Receiver) -> None:
        """Stop calling `receiver` for `name` (an admin stream that closed)."""
        with self._lock:
            receivers = dict(self._receivers)
            receivers[name] = tuple(r for r in receivers.get(name, ()) if r is not receiver)
            self._receivers = receivers

    def wanted(self, name: str) -> bool:
        """Whether anyone listens to `name`: callers skip building an event's data when nobody does."""
        receivers = self._receivers
        return bool(receivers.get(name) or receivers.get(ANY))

    def emit(self, event: Event) -> None:
        """Call every receiver of the event now; one that raises is logged and the others still run."""
        receivers = self._receivers
        for receiver in receivers.get(event.name, ()) + receivers.get(ANY, ()):
            try:
                receiver(event)
            except Exception:
                log.exception("a receiver of %s failed (conversation %s)", event.name, event.conversation_id)
