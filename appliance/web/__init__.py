"""HTTP surface: health, webhooks, widget, JSON API, admin page."""
from flask import current_app, request


def services():
    """The running appliance's Services."""
    return current_app.extensions["appliance"]


def public_base() -> str:
    """Base URL for links shown to people: the public_url setting, else the address this request came to."""
    return services().settings.public_url.rstrip("/") or request.host_url.rstrip("/")
