"""/healthz and /metrics."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance import __version__, outbox, tasks
from appliance.pipeline import failed_figures
from appliance.records import Channel, InboundEvent
from appliance.web import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    """Model state, queue depth, outbox figures and version; "degraded" when sends are in trouble; 503 if broken.

    Nobody logs in to read it: counts only, never a tenant's channel ids or a text that came from a platform."""
    svc = services()
    attention = Channel.select().where((Channel.status != "active") & (Channel.deleted == False)).count()  # noqa: E712
    sends = {**outbox.figures(svc), "channels_needing_attention": attention}
    failed = failed_figures()
    models = svc.models.status
    status = {"ready": "ok", "loading": "loading", "not_loaded": "ok", "disabled": "ok"}.get(models, "error")
    if status == "ok" and (sends["channels_paused"] or sends["channels_needing_attention"] or sends["failed_last_hour"]
                           or failed["failed_events_last_hour"]):
        status = "degraded"
    body = {
        "status": status,
        "version": __version__,
        "model": {"status": models, "name": svc.settings.model, "error": svc.models.error},
        "queue": {"pending_events": InboundEvent.select().where(InboundEvent.status.in_(("pending", "processing"))).count(),
                  "queued_tasks": tasks.huey.pending_count() if not tasks.huey.immediate else 0, **failed},
        "outbox": sends,
    }
    return jsonify(body), 503 if status == "error" else 200


class _DatabaseCollector:
    """Figures read from our own rows at scrape time, so they are right across restarts."""

    def __init__(self, services):
        self.services = services

    def collect(self):
        from peewee import fn
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from appliance.records import Message, Usage

        events = GaugeMetricFamily("appliance_inbound_events", "Stored inbound events by status.", labels=["status"])
        for status, count in (InboundEvent.select(InboundEvent.status, fn.COUNT(InboundEvent.id))
                              .group_by(InboundEvent.status).tuples()):
            events.add_metric([status], count)
        yield events
        messages = CounterMetricFamily("appliance_messages", "Messages by direction and status.",
                                       labels=["direction", "status"])
        for direction, status, count in (Message.select(Message.direction, Message.status, fn.COUNT(Message.id))
                                         .group_by(Message.direction, Message.status).tuples()):
            messages.add_metric([direction, status], count)
        yield messages
        tokens = CounterMetricFamily("appliance_model_tokens", "Model tokens spent.", labels=["provider", "kind"])
        for provider, prompt, completion in (Usage.select(Usage.provider, fn.SUM(Usage.prompt_tokens),
                                                          fn.SUM(Usage.completion_tokens))
                                             .group_by(Usage.provider).tuples()):
            tokens.add_metric([provider, "prompt"], prompt or 0)
            tokens.add_metric([provider, "completion"], completion or 0)
        yield tokens
        ready = GaugeMetricFamily("appliance_model_ready", "1 when the local model is loaded.")
        ready.add_metric([], 1 if self.services.models.status == "ready" else 0)
        yield ready


@blueprint.get("/metrics")
def metrics():
    """Prometheus text format (prometheus_client renders it; the figures come from our rows)."""
    from flask import Response
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector(services()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
