"""HTTP surface: health, webhooks, widget, JSON API, admin page."""
from flask import current_app


def services():
    """The running appliance's Services."""
    return current_app.extensions["appliance"]
