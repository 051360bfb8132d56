"""HTTP surface: health, webhooks, widget, JSON API, admin page."""
from flask import current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer


def services():
    """The running appliance's Services."""
    return current_app.extensions["appliance"]


def client_address() -> str:
    """Who is asking, for per-address limits: the peer, or what the trusted proxy named (waitress sets it)."""
    return request.remote_addr or "unknown"


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
