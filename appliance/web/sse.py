"""Server-Sent Event streams (the widget's and the admin page's): each holds a web server thread, so each is capped
(429 + Retry-After when full), ends after a while, and is resumed by the client from the last id it saw."""
from __future__ import annotations

import queue
import random
import re
import time
from typing import Callable, Iterator

from flask import Response, request

from appliance.channels.web import Streams
from appliance.errors import AppError
from appliance.limits import Slots, too_many

PING_SECONDS = 15
# Retry-After for a refused stream, spread out: when every stream slot is taken, refused clients coming back every few
# seconds would spend the threads' time on refusals (measured: webhook acks fell to 0.46 of idle with 200 clients);
# spread over 10-30 s they come back when held streams have ended and what they missed waits stored
RETRY_SECONDS = (10.0, 30.0)
EVENT_ID = re.compile(r"[0-9]{1,19}")
MAX_EVENT_ID = 2**63  # SQLite integers are signed 64-bit

Frame = Callable[[str, dict], "str | None"]


def _event_id(raw: str) -> int:
    if not EVENT_ID.fullmatch(raw) or int(raw) >= MAX_EVENT_ID:
        raise AppError(422, "invalid_since", "Last-Event-ID / since must be the id of an event (a whole number).")
    return int(raw)


def resume_after() -> int | None:
    """Where the client left off: the newer of Last-Event-ID (browser reconnect) and ?since= (explicit); None if
    it sent neither."""
    marks = [_event_id(mark) for mark in (request.headers.get("Last-Event-ID"), request.args.get("since")) if mark]
    return max(marks) if marks else None


def hold(slots: Slots, keys: dict[str, int], refusal: str, streams: Streams, key: tuple[str, str],
         frames: Callable[[queue.Queue], Iterator[str]]) -> Response:
    """An event-stream response holding one of `slots` (else a 429 saying `refusal`) and a subscription to `streams`
    at `key`; both are given back when the server closes the response, even if it never started."""
    if not slots.acquire(keys):
        raise too_many(random.uniform(*RETRY_SECONDS), refusal)
    try:
        box = streams.subscribe(*key)
        body = frames(box)
    except BaseException:
        slots.release(keys)
        raise

    def closed() -> None:
        streams.unsubscribe(*key, box)
        slots.release(keys)

    response = Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache",
                                                                     "X-Accel-Buffering": "no"})
    response.call_on_close(closed)
    return response


def live(box: queue.Queue, seconds: float, frame: Frame) -> Iterator[str]:
    """Frames for what arrives in `box` for `seconds` (a ping comment when idle, so proxies keep the connection);
    ends early when the appliance stops. `frame` turns (event, data) into a frame, or None to skip it."""
    ends = time.monotonic() + seconds
    while (left := ends - time.monotonic()) > 0:
        try:
            event, data = box.get(timeout=min(PING_SECONDS, left))
        except queue.Empty:
            yield ": ping\n\n"
            continue
        if (event, data) == Streams.CLOSE:
            return
        text = frame(event, data)
        if text:
            yield text
