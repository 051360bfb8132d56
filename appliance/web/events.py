"""GET /api/v1/events: a tenant's conversation events as Server-Sent Events, for the admin page.

One subscriber (`keep`, registered in create_services for every event name) stores each event, so its row id is the
SSE `id:` a reconnecting page resumes from (Last-Event-ID or ?since=), and hands it to the open streams of that
tenant only. A stream holds a web server thread, so streams are capped like the widget's (`admin_streams` in total,
`admin_streams_per_tenant`), end after `admin_stream_seconds`, and are resumed by the page.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

from flask import Blueprint, Response, current_app

from appliance.auth import api_auth, tenant_id_required
from appliance.channels.web import sse
from appliance.config import stream_caps
from appliance.events import Event
from appliance.limits import Slots
from appliance.records import ConversationEvent, utcnow
from appliance.web import services
from appliance.web.api import ANY_ROLE, accepts
from appliance.web.sse import hold, live, resume_after

blueprint = Blueprint("events", __name__, url_prefix="/api/v1")
FEED = "events"  # the second half of a tenant's key in Services.admin_streams (the first is the tenant id)
PAGE = 500  # stored events read per query while replaying


def event_json(row: ConversationEvent) -> dict:
    """The data of one SSE frame: the event's id, conversation, time and what the write path said."""
    return {"id": row.id, "conversation_id": row.conversation_id, "at": row.created_at.isoformat() + "Z",
            "data": row.data}


def keep(services, event: Event) -> None:
    """Store one conversation event and hand it to its tenant's open admin streams (the subscriber of every name)."""
    row = ConversationEvent.create(tenant=event.tenant_id, conversation=event.conversation_id, name=event.name,
                                   data=event.data)
    services.admin_streams.publish(event.tenant_id, FEED, event.name, event_json(row))


def prune(settings) -> int:
    """Forget events older than `admin_events_keep_days`, and the oldest past `admin_events_keep_rows`."""
    before = utcnow() - timedelta(days=settings.admin_events_keep_days)
    return ConversationEvent.prune(before, settings.admin_events_keep_rows)


@blueprint.record_once
def _make_slots(state) -> None:
    state.app.extensions["admin_stream_slots"] = Slots(stream_caps(state.app.extensions["appliance"].settings)[1])


@dataclass(frozen=True)
class Start:
    """Where a stream starts: replay after `after` (None: live only), and whether the page must reload first."""

    after: int | None
    reset: bool


def _start(mark: int | None) -> Start:
    """A mark older than what is kept, or newer than any id given, cannot be resumed exactly: the page reloads."""
    if mark is None:
        return Start(None, False)
    oldest, last = ConversationEvent.bounds()
    if mark > last:
        return Start(None, True)
    return Start(mark, 0 < mark < oldest - 1)


@blueprint.get("/events")
@accepts(query={"since": {"type": "string", "pattern": "^[0-9]{1,19}$"}})
@api_auth(*ANY_ROLE)
def events():
    """SSE of the tenant's conversation events; Last-Event-ID (or ?since=) replays the ones after it."""
    return tenant_stream(tenant_id_required())


def tenant_stream(tenant_id: str) -> Response:
    """The event-stream response of one tenant's conversation events, resumed from Last-Event-ID (or ?since=) and
    capped per tenant: the API's and the admin Inbox page's (cookie-authenticated) share the slots."""
    svc = services()
    start = _start(resume_after())
    keys = {f"tenant:{tenant_id}": svc.settings.admin_streams_per_tenant}
    return hold(current_app.extensions["admin_stream_slots"], keys,
                "Too many admin pages are following events right now; the page reconnects by itself shortly.",
                svc.admin_streams, (tenant_id, FEED),
                lambda box: _frames(box, tenant_id, start, svc.settings.admin_stream_seconds))


def _frames(box: queue.Queue, tenant_id: str, start: Start, seconds: float) -> Iterator[str]:
    yield ": connected\n\n"
    if start.reset:
        yield sse("reset", {"message": "Some events are no longer kept; reload the conversations."})
    if start.after is None:
        last = ConversationEvent.latest_id(tenant_id)
    else:
        last = start.after
        while rows := ConversationEvent.after(tenant_id, last, PAGE):
            for row in rows:
                yield sse(row.name, event_json(row), row.id)
            last = rows[-1].id
    # the id makes a reconnect without any event in between resume from here, not from nothing
    yield sse("ready", {"last_event_id": last}, last)
    # events stored before `last` may also be in the box (subscribed first): the replay or the page has them
    yield from live(box, seconds, lambda name, data: sse(name, data, data["id"]) if data["id"] > last else None)
