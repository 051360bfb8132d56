"""The web chat widget: the static embed script, its JSON config, message POST (202), SSE stream of replies, demo page.

Everything here is public (no login), so every endpoint is bounded: message rates per session and per address,
and open streams in total, per channel and per address, each refused with 429 + Retry-After. A stream holds a
web server thread, so streams end after `widget_stream_seconds` and the widget resumes from the last reply it saw.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass
from importlib.resources import files
from typing import Iterator

from flask import Blueprint, Response, current_app, render_template, request

from appliance.channels.web import check_session, parse_message, sse
from appliance.config import stream_caps
from appliance.conversations import message_json
from appliance.errors import AppError
from appliance.limits import RateLimit, Slots, too_many
from appliance.pipeline import store_events
from appliance.records import Channel, Conversation, Customer, Message
from appliance.web import client_address, public_base, services
from appliance.web.brand import brand
from appliance.web.i18n import gettext
from appliance.web.sse import hold, live, resume_after

blueprint = Blueprint("widget", __name__)

SESSION_WINDOW_SECONDS = 10
ADDRESS_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class WidgetLimits:
    """The public widget's limits for one app, built from its settings."""

    streams: Slots
    per_session: RateLimit
    per_address: RateLimit


@blueprint.record_once
def _make_limits(state) -> None:
    settings = state.app.extensions["appliance"].settings
    state.app.extensions["widget_limits"] = WidgetLimits(
        streams=Slots(stream_caps(settings)[0]),
        per_session=RateLimit(settings.widget_session_messages, SESSION_WINDOW_SECONDS),
        per_address=RateLimit(settings.widget_address_messages, ADDRESS_WINDOW_SECONDS))


def _limits() -> WidgetLimits:
    return current_app.extensions["widget_limits"]


def _channel(channel_id: str) -> Channel:
    channel = Channel.live(channel_id, "web")
    if channel is None:
        raise AppError(404, "unknown_channel", "This chat widget is not connected; check the embed code in the admin page.")
    return channel


@blueprint.after_request
def _public_headers(response):
    """The widget runs on the shop's own site: allow cross-origin calls; never let a browser sniff a type."""
    if request.path.startswith("/widget/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Last-Event-ID"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/widget/<channel_id>.js")
def embed_script(channel_id: str):
    """One <script> tag embeds the bubble; the script is the same file for every channel (it reads its own src)."""
    _channel(channel_id)
    script = files("appliance.web").joinpath("static/widget.js").read_bytes()
    return Response(script, mimetype="application/javascript", headers={"Cache-Control": "no-cache"})


@blueprint.get("/widget/<channel_id>/config")
def widget_config(channel_id: str):
    """What the bubble shows, as JSON (never pasted into the script)."""
    channel = _channel(channel_id)
    look = brand()
    body = {"channel": channel.id, "title": channel.name or gettext("Chat"),
            "max_chars": services().settings.widget_max_chars, "product": look["name"], "accent": look["accent"],
            "logo": look["logo"], "texts": _texts()}
    return body, 200, {"Vary": "Accept-Language"}


def _texts() -> dict[str, str]:
    """The bubble's own words in the visitor's language (their browser's Accept-Language)."""
    return {"open": gettext("Open chat"), "placeholder": gettext("Type your message…"), "send": gettext("Send"),
            "failed": gettext("Could not send."),
            "unreachable": gettext("Could not reach the shop's chat; try again.")}


@blueprint.route("/widget/<channel_id>/messages", methods=["OPTIONS"])
@blueprint.route("/widget/<channel_id>/events", methods=["OPTIONS"])
@blueprint.route("/widget/<channel_id>/config", methods=["OPTIONS"])
def preflight(channel_id: str):
    return Response(status=204)


@blueprint.post("/widget/<channel_id>/messages")
def post_message(channel_id: str):
    """Store the customer's message durably, queue the answer, return 202 at once."""
    svc = services()
    channel = _channel(channel_id)
    wait = _limits().per_address.hit(client_address())
    if wait:
        raise too_many(wait, "Too many chat messages came from this address; wait a minute and send again.")
    if request.content_length and request.content_length > svc.settings.max_body_bytes:
        raise AppError(413, "too_large", "The message is larger than this appliance accepts.")
    inbound = parse_message(request.get_data(cache=False), svc.settings.widget_max_chars, svc.settings.max_body_bytes)
    wait = _limits().per_session.hit(f"{channel.id}:{inbound.user_id}")
    if wait:
        raise too_many(wait, "You are sending messages very fast; wait a few seconds and send again.")
    new_ids = store_events(channel, [inbound])
    for event_id in new_ids:
        svc.enqueue_event(event_id)
    return {"id": inbound.platform_id, "status": "queued" if new_ids else "duplicate"}, 202


def _stored_replies(channel: Channel, session: str, after: int) -> list[Message]:
    customer = Customer.get_or_none((Customer.channel == channel.id) & (Customer.external_id == session))
    if customer is None:
        return []
    return list(Message.select().join(Conversation)
                .where((Conversation.customer == customer) & (Message.direction == "out")
                       & (Message.status != "pending") & (Message.id > after))
                .order_by(Message.id))


@blueprint.get("/widget/<channel_id>/events")
def events(channel_id: str):
    """SSE: stored replies after Last-Event-ID / since, then live tokens, replies and typing notices, for a while."""
    svc = services()
    channel = _channel(channel_id)
    session = check_session(request.args.get("session"))
    after = resume_after() or 0
    keys = {f"channel:{channel.id}": svc.settings.widget_streams_per_channel,
            f"address:{client_address()}": svc.settings.widget_streams_per_address}

    def frames(box: queue.Queue) -> Iterator[str]:
        backlog = _stored_replies(channel, session, after)  # read after subscribing: nothing falls in between
        return _stream(box, backlog, svc.settings.widget_stream_seconds)

    return hold(_limits().streams, keys, "Too many chats are open right now; the chat reconnects by itself in a few "
                "seconds.", svc.streams, (channel.id, session), frames)


def _stream(box: queue.Queue, backlog: list[Message], seconds: float) -> Iterator[str]:
    yield ": connected\n\n"
    for message in backlog:
        yield sse("message", message_json(message, for_customer=True), message.id)
    yield from live(box, seconds, lambda event, data: sse(event, data, data.get("id") if event == "message" else None))


@blueprint.get("/")
@blueprint.get("/demo")
def demo():
    """The demo page with the bubble of the demo shop's web channel (the `demo_channel` setting), while it exists."""
    demo_id = services().settings.demo_channel
    channel = Channel.live(demo_id, "web") if demo_id else None
    if channel is None:
        raise AppError(404, "no_demo", "This appliance shows no demo chat; the admin page is at /admin/.")
    return render_template("demo.html", tenant=channel.tenant.name, channel=channel.id, base=public_base())
