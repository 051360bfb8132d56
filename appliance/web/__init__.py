"""HTTP surface: health, webhooks, widget, JSON API, admin page."""
from flask import current_app, request
from werkzeug.routing import IntegerConverter


def services():
    """The running appliance's Services."""
    return current_app.extensions["appliance"]


def public_base() -> str:
    """Base URL for links shown to people: the public_url setting, else the address this request came to."""
    return services().settings.public_url.rstrip("/") or request.host_url.rstrip("/")


class RowId(IntegerConverter):
    """`<int:...>` in our routes: a whole number SQLite can hold, so a larger one is a 404, not an OverflowError."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)
