"""The web chat widget: embed script, message POST (202), SSE stream of replies, and the demo page."""
from __future__ import annotations

import queue
import time
from importlib.resources import files

from flask import Blueprint, Response, render_template_string, request

from appliance.channels.web import Streams, parse_message, sse
from appliance.errors import AppError
from appliance.pipeline import store_events
from appliance.records import Channel, Conversation, Customer, Message
from appliance.web import public_base, services

blueprint = Blueprint("widget", __name__)

STREAM_SECONDS = 300  # a stream ends after this; EventSource reconnects with Last-Event-ID
PING_SECONDS = 15


def _channel(channel_id: str) -> Channel:
    channel = Channel.live(channel_id, "web")
    if channel is None:
        raise AppError(404, "unknown_channel", "This chat widget is not connected; check the embed code in the admin page.")
    return channel


@blueprint.after_request
def _cors(response):
    """The widget runs on the shop's own site: allow cross-origin calls to these public endpoints."""
    if request.path.startswith("/widget/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Last-Event-ID"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


@blueprint.get("/widget/<channel_id>.js")
def embed_script(channel_id: str):
    """One <script> tag embeds the bubble; the script knows its channel and where it came from."""
    channel = _channel(channel_id)
    source = files("appliance.web").joinpath("static/widget.js").read_text(encoding="utf-8")
    script = source.replace("__CHANNEL_ID__", channel.id).replace("__CHANNEL_NAME__", channel.name or "Chat")
    return Response(script, mimetype="application/javascript", headers={"Cache-Control": "no-cache"})


@blueprint.route("/widget/<channel_id>/messages", methods=["OPTIONS"])
@blueprint.route("/widget/<channel_id>/events", methods=["OPTIONS"])
def preflight(channel_id: str):
    return Response(status=204)


@blueprint.post("/widget/<channel_id>/messages")
def post_message(channel_id: str):
    """Store the customer's message durably, queue the answer, return 202 at once."""
    svc = services()
    channel = _channel(channel_id)
    if request.content_length and request.content_length > svc.settings.max_body_bytes:
        raise AppError(413, "too_large", "The message is larger than this appliance accepts.")
    inbound = parse_message(request.get_data(cache=False), svc.settings.widget_max_chars)
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
    """SSE: stored replies after Last-Event-ID, then live tokens, replies and typing notices."""
    svc = services()
    channel = _channel(channel_id)
    session = request.args.get("session", "")
    if not session or len(session) > 128:
        raise AppError(422, "missing_session", "Open the stream with ?session=<the widget's session id>.")
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("since") or 0)
    except ValueError:
        raise AppError(422, "invalid_since", "Last-Event-ID / since must be a message id number.") from None
    box = svc.streams.subscribe(channel.id, session)
    backlog = _stored_replies(channel, session, after)

    def stream():
        try:
            yield ": connected\n\n"
            for message in backlog:
                yield sse("message", message.as_json(), message.id)
            ends = time.monotonic() + STREAM_SECONDS
            while time.monotonic() < ends:
                try:
                    event, data = box.get(timeout=PING_SECONDS)
                except queue.Empty:
                    yield ": ping\n\n"
                    continue
                if (event, data) == Streams.CLOSE:
                    return
                yield sse(event, data, data.get("id") if event == "message" else None)
        finally:
            svc.streams.unsubscribe(channel.id, session, box)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ tenant }} — chat demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1>{{ tenant }}</h1>
<p>This page shows the chat bubble your customers see. Click it in the corner and ask something.</p>
<p>To put it on your own site, paste this before <code>&lt;/body&gt;</code>:</p>
<pre>&lt;script src="{{ base }}/widget/{{ channel }}.js" async&gt;&lt;/script&gt;</pre>
<p><a href="/admin/">Admin page</a></p>
<script src="/widget/{{ channel }}.js" async></script>
</body></html>"""


@blueprint.get("/")
@blueprint.get("/demo")
def demo():
    """The demo page with the bubble of the first web channel (the one ./run.sh creates)."""
    channel = Channel.select().where((Channel.kind == "web") & (Channel.deleted == False)).order_by(Channel.created_at).first()  # noqa: E712
    if channel is None:
        raise AppError(404, "no_widget", "No web chat channel exists yet; run ./run.sh or create one with POST /api/v1/channels.")
    return render_template_string(DEMO_PAGE, tenant=channel.tenant.name, channel=channel.id,
                                  base=public_base())
