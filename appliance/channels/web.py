"""The web chat widget channel: messages from the page in, replies streamed back over SSE.

A channel module like the platforms: its "platform" is the open widget streams of this process. A reply reaches
them through the `message.out` event (`WidgetFeed`, subscribed in app.create_services), so an agent's reply and the
bot's go the same way; `send` then only marks the row sent (the widget reads what it missed from the database).
"""
from __future__ import annotations

import json
import queue
import re
import threading
from collections import OrderedDict, defaultdict
from typing import Callable

from appliance import jsonbody
from appliance.channels import Inbound, Outbound
from appliance.errors import AppError

KIND = "web"
FREE_WINDOW = None  # the page may show a reply at any time
LOCAL = True  # nothing goes over the network: no credentials, breaker or rate cap
TEMPLATES = False
PATH = "/widget/{id}.js"  # what the admin pastes: the embed script (the platforms' is /webhooks/<kind>/<id>)

MAX_SESSION = 128
SESSION_PATTERN = re.compile(r"[A-Za-z0-9_-]+")  # ASCII only: isalnum() would let other scripts' digits in
MAX_BODY_BYTES = 1 << 20  # the view's request limit (max_body_bytes) applies first; this bounds other callers


class Streams:
    """In-process fan-out of reply events to the open SSE connections of a widget session."""

    CLOSE = ("close", None)  # what every open stream receives when the appliance stops

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: dict[tuple[str, str], set[queue.Queue]] = defaultdict(set)
        self.closed = False

    def subscribe(self, channel_id: str, session: str) -> queue.Queue:
        """A queue receiving (event, data) for this session until unsubscribed (or CLOSE once stopping)."""
        box: queue.Queue = queue.Queue(maxsize=10_000)
        with self._lock:
            if self.closed:
                box.put_nowait(self.CLOSE)
            else:
                self._subscribers[(channel_id, session)].add(box)
        return box

    def close(self) -> None:
        """End every open stream now (browsers reconnect by themselves), so stopping does not wait for them."""
        with self._lock:
            self.closed = True
            boxes = [box for group in self._subscribers.values() for box in group]
            self._subscribers.clear()
        for box in boxes:
            try:
                box.put_nowait(self.CLOSE)
            except queue.Full:
                pass

    def unsubscribe(self, channel_id: str, session: str, box: queue.Queue) -> None:
        """Stop delivering to `box`."""
        with self._lock:
            boxes = self._subscribers.get((channel_id, session))
            if boxes:
                boxes.discard(box)
                if not boxes:
                    del self._subscribers[(channel_id, session)]

    def publish(self, channel_id: str, session: str, event: str, data: dict) -> int:
        """Send one event to every open stream of the session; returns how many got it."""
        with self._lock:
            boxes = list(self._subscribers.get((channel_id, session), ()))
        for box in boxes:
            try:
                box.put_nowait((event, data))
            except queue.Full:
                pass
        return len(boxes)


def sse(event: str, data: dict, event_id: int | None = None) -> str:
    """One Server-Sent Event frame."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def check_session(session: object) -> str:
    """The widget's session id as sent (message body or stream URL), or a 422 saying what is wrong."""
    if not isinstance(session, str) or not session.strip():
        raise AppError(422, "missing_session", "Include the widget's session id ('session').")
    if len(session) > MAX_SESSION or not SESSION_PATTERN.fullmatch(session):
        raise AppError(422, "invalid_session", "The session id must be 1-128 letters, digits, '-' or '_'.")
    return session


def parse_message(raw: bytes, max_chars: int, max_bytes: int = MAX_BODY_BYTES) -> Inbound:
    """A widget POST body -> one Inbound text event (a button event with "button"), or a 400/413/422 saying what is
    wrong."""
    body = jsonbody.loads_object(raw, max_bytes, 'Send a JSON object like {"session": "...", "text": "..."}.')
    session, text = check_session(body.get("session")), body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise AppError(422, "empty_text", "Type a message before sending.")
    if len(text) > max_chars:
        raise AppError(413, "text_too_long", f"Messages can be at most {max_chars} characters; shorten it.")
    client_id = body.get("id")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
        raise AppError(422, "invalid_id", "The optional message 'id' must be a string of at most 64 characters.")
    import secrets

    platform_id = f"{session}:{client_id}" if client_id else f"{session}:{secrets.token_hex(8)}"
    button = body.get("button")  # a tapped reply button's id (its title is the text): a rule's payload match
    if button is not None and (not isinstance(button, str) or not 0 < len(button) <= 256):
        raise AppError(422, "invalid_button", "The optional 'button' must be the tapped button's id, a string of at "
                                              "most 256 characters.")
    return Inbound(kind="button" if button else "text", platform_id=platform_id, user_id=session, text=text.strip(),
                   button_id=button)


# --- sending: the open streams of the session ----------------------------------------------------------------

def send(outbound: Outbound, credentials: dict, api_base: str, http) -> str:
    """The widget got the reply from its stream already (WidgetFeed); our ref is the message's id on this channel."""
    return str(outbound.extra.get("ref", ""))


def progress(streams: Streams, channel_id: str, session: str, reply_to: int) -> Callable[[str], None]:
    """Tell the session the bot is typing, and return what streams each piece of its reply as it is written."""
    streams.publish(channel_id, session, "typing", {"reply_to": reply_to})

    def on_token(piece: str) -> None:
        streams.publish(channel_id, session, "token", {"reply_to": reply_to, "text": piece})

    return on_token


class WidgetFeed:
    """The `message.out` subscriber that shows replies in the widget: web conversations only, customer's view only.

    Where a conversation goes (channel, session, whether it is a web one) never changes, so it is looked up once per
    conversation and remembered (a bounded map): a reply costs no query after its conversation's first. A channel's
    kind never changes either and channels are few: a platform channel's replies cost no query at all after its first."""

    CACHE = 10_000

    def __init__(self, streams: Streams):
        self.streams = streams
        self._lock = threading.Lock()
        self._routes: OrderedDict[int, tuple[str, str] | None] = OrderedDict()
        self._kinds: dict[str, str | None] = {}  # channel id -> kind

    def __call__(self, event) -> None:
        """Publish the message to the session's open streams when the conversation is a widget's."""
        from appliance.conversations import STAFF_ONLY

        if self._kind(event.data.get("channel")) not in (KIND, None):
            return
        route = self._route(event.conversation_id)
        if route is not None:
            data = {k: v for k, v in event.data.items() if k not in STAFF_ONLY}
            self.streams.publish(route[0], route[1], "message", data)

    def _route(self, conversation_id: int) -> tuple[str, str] | None:
        with self._lock:
            if conversation_id in self._routes:
                self._routes.move_to_end(conversation_id)
                return self._routes[conversation_id]
        route = _lookup(conversation_id)
        with self._lock:
            self._routes[conversation_id] = route
            while len(self._routes) > self.CACHE:
                self._routes.popitem(last=False)
        return route


    def _kind(self, channel_id: str | None) -> str | None:
        if channel_id is None:
            return None
        if channel_id not in self._kinds:
            self._kinds[channel_id] = _kind_of(channel_id)  # two threads may both look: the same answer
        return self._kinds[channel_id]


def _kind_of(channel_id: str) -> str | None:
    from appliance.records import Channel

    return Channel.select(Channel.kind).where(Channel.id == channel_id).scalar()


def _lookup(conversation_id: int) -> tuple[str, str] | None:
    from appliance.records import Channel, Conversation, Customer

    row = (Conversation.select(Channel.id, Channel.kind, Customer.external_id)
           .join(Channel, on=(Conversation.channel == Channel.id))
           .switch(Conversation).join(Customer, on=(Conversation.customer == Customer.id))
           .where(Conversation.id == conversation_id).tuples().first())
    if row is None or row[1] != KIND:
        return None
    return row[0], row[2]
