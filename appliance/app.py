"""create_app(settings): database, vault, models, queue and blueprints. Nothing else."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from flask import Flask
from flask import request as flask_request
from flask.sessions import SecureCookieSessionInterface

from appliance import tasks
from appliance.automation import ab
from appliance.automation import flows as automation_flows  # appliance.web.flows is the API of the same name
from appliance.assistant.llm import Models
from appliance.channels.web import Streams, WidgetFeed
from appliance.config import Settings
from appliance.db import open_database
from appliance.errors import register_error_handlers
from appliance.events import Events
from appliance.outbox import OutboxState
from appliance.vault import Vault
from appliance.web.events import keep as keep_event

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The running appliance's collaborators, passed to views (app.extensions) and tasks (tasks.bind).

    What it holds, nothing more: settings, the key, the models, the widget streams, the event registry, the outbox's
    in-process state, the stop signal and the worker doorbell. How a message is delivered is the outbox's business."""

    settings: Settings
    vault: Vault
    models: Models
    streams: Streams = field(default_factory=Streams)
    admin_streams: Streams = field(default_factory=Streams)  # (tenant id, "events") -> the admin pages' event streams
    events: Events = field(default_factory=Events)
    outbox: OutboxState | None = None  # circuit breakers, rate caps, the HTTP session
    stopping: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: long tasks stop early
    served: dict = field(default_factory=dict)  # tenant id -> serial of its last claimed event (round-robin)
    _bell: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rings: int = 0  # `process_next` tasks queued and not yet started
    _draining: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self):
        self.stopping = self.models.stopping  # the same event: on SIGTERM the model abandons the replies in progress
        if self.outbox is None:
            self.outbox = OutboxState(self.settings.get("outbox_timeout", 10.0))
        subscribe_all(self)

    def enqueue_event(self, event_id: int) -> None:
        """Ring the doorbell for a stored inbound event (the widget's)."""
        self.ring()

    def enqueue_events(self, event_ids: list[int]) -> None:
        """Ring the doorbell for stored inbound events (a webhook's)."""
        if event_ids:
            self.ring()

    def ring(self, always: bool = False) -> None:
        """Queue one `process_next` task, unless one per worker is queued already: each answers the fairest pending
        event and rings again, so a newcomer never waits behind a queue of a backlog's tasks."""
        if tasks.huey.immediate:
            self._drain()
            return
        with self._bell:
            if self._rings >= self.settings.worker_threads and not always:
                return
            self._rings += 1
        try:
            tasks.process_next()
        except Exception:
            self.bell_answered()  # the ring did not get through: let the next one try again
            raise

    def bell_answered(self) -> None:
        """A `process_next` task started: one queued ring fewer."""
        with self._bell:
            self._rings = max(self._rings - 1, 0)  # tasks left in the queue file by a previous run were not counted

    def _drain(self) -> None:
        """Immediate mode (tests, one-shot commands): answer everything now, in this thread, without recursing."""
        from appliance.pipeline import process_next

        if getattr(self._draining, "active", False):
            return  # rung from inside the loop below: it carries on by itself
        self._draining.active = True
        try:
            while process_next(self):
                pass
        finally:
            self._draining.active = False


def subscribe_all(services: Services) -> None:
    """Every receiver of conversation events, registered here and nowhere else (see appliance/events.py)."""
    services.events.subscribe("message.out", WidgetFeed(services.streams))  # replies appear in the chat bubble
    services.events.subscribe("*", partial(keep_event, services))  # stored for the admin streams, then fanned out
    for name in ("conversation.handoff", "conversation.assigned"):  # a person took over: A/B no_handoff goals lost,
        services.events.subscribe(name, ab.on_handoff)             # and the question a flow waits on is ended
        services.events.subscribe(name, automation_flows.on_handoff)


def create_services(settings) -> Services:
    """Open the data folder: database, key file and queue file. Models are loaded later (or lazily)."""
    data = settings.data
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        data.chmod(0o700)  # credentials, conversations and the key live here: the owner only, also for older installs
    except OSError as exc:  # a folder someone else owns: `appliance doctor` reports its mode
        log.warning("could not make the data folder %s private: %s", data, exc)
    open_database(data / "appliance.db")
    services = Services(settings=settings, vault=Vault.open(data), models=Models(settings))
    tasks.bind(services)
    return services


class AdminSessions(SecureCookieSessionInterface):
    """Cookie sessions for the admin pages only: webhooks, the widget and the API never parse or sign a cookie."""

    def open_session(self, app, request):
        if not request.path.startswith("/admin"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app) -> bool:
        """Secure when the public URL is https, or when this request came over https (a TLS proxy or server)."""
        return app.config["SESSION_COOKIE_SECURE"] or flask_request.is_secure


# No inline script anywhere (scripts are files of our own); inline styles stay allowed because the widget injects
# a <style> element and the pages carry one.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _security_headers(response):
    """nosniff everywhere; the page policies on HTML (admin, login, demo, error pages), not on the widget's script."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def create_app(settings, services: Services | None = None) -> Flask:
    """The Flask app for these settings."""
    from appliance.web import (RowId, admin, admin_assistant, admin_automation, admin_channels,  # noqa: F401
                               admin_inbox, admin_knowledge, admin_setup, admin_users, api, automation, brand,
                               conversations, events, experiments, flows, health, i18n, knowledge, packs, webhooks,
                               widget)

    services = services or create_services(settings)
    app = Flask(__name__, static_folder=None)
    app.url_map.converters["int"] = RowId  # before the blueprints add their rules
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.upload_max_bytes)
    app.config.update(SECRET_KEY=services.vault.derive("admin-session-cookie"), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="appliance_session",
                      SESSION_COOKIE_SECURE=settings.public_url.lower().startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.admin_session_hours))
    app.session_interface = AdminSessions()
    app.after_request(_security_headers)
    app.extensions["appliance"] = services
    register_error_handlers(app)
    i18n.install(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(widget.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(admin.blueprint)  # with the admin_* areas' pages (imported above)
    app.register_blueprint(brand.blueprint)
    app.register_blueprint(knowledge.blueprint)
    app.register_blueprint(conversations.blueprint)
    app.register_blueprint(events.blueprint)
    app.register_blueprint(automation.blueprint)
    app.register_blueprint(experiments.blueprint)
    app.register_blueprint(flows.blueprint)
    app.register_blueprint(packs.blueprint)
    return app
