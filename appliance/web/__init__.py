"""HTTP surface: health, webhooks, widget, JSON API, admin page."""
from flask import current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from appliance.errors import AppError

MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer


def services():
    """The running appliance's Services."""
    return current_app.extensions["appliance"]


def client_address() -> str:
    """Who is asking, for per-address limits: the peer, or what the trusted proxy named (waitress sets it)."""
    return request.remote_addr or "unknown"


def read_body() -> bytes:
    """The request body for every JSON endpoint (webhooks, widget, API), at most the max_body_bytes setting.

    A declared length over the limit is a 413 before anything is read; a body without one (chunked) is read up to one
    byte past the limit, never further. Uploads (multipart, upload_max_bytes) are the one other body."""
    limit = services().settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    return raw


def too_large(limit: int) -> AppError:
    """The one 413 for a request body."""
    return AppError(413, "too_large", f"The request body can be at most {limit} bytes; send less.")


def public_base() -> str:
    """Base URL for links shown to people: the public_url setting, else the address this request came to."""
    return services().settings.public_url.rstrip("/") or request.host_url.rstrip("/")


class RowId(IntegerConverter):
    """`<int:...>` in our routes: an id larger than SQLite can hold names no row, so it is a 404, not an OverflowError.

    NotFound, not ValidationError: "no rule matched" would make werkzeug answer 405 where a sibling rule has
    another method."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ROW_ID:
            raise NotFound()
        return number
