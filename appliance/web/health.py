"""/healthz and /metrics."""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance import __version__, tasks
from appliance.records import Channel, InboundEvent
from appliance.web import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    """Model state, queue depth, channels needing attention and version; 200 while loading, 503 if broken."""
    svc = services()
    attention = [{"id": c.id, "kind": c.kind, "reason": c.status_reason}
                 for c in Channel.select().where((Channel.status != "active") & (Channel.deleted == False))]  # noqa: E712
    models = svc.models.status
    status = {"ready": "ok", "loading": "loading", "not_loaded": "ok", "disabled": "ok"}.get(models, "error")
    if status == "ok" and attention:
        status = "degraded"
    body = {
        "status": status,
        "version": __version__,
        "model": {"status": models, "name": svc.settings.model, "error": svc.models.error},
        "queue": {"pending_events": InboundEvent.select().where(InboundEvent.status.in_(("pending", "processing"))).count(),
                  "queued_tasks": tasks.huey.pending_count() if not tasks.huey.immediate else 0},
        "channels_needing_attention": attention,
    }
    return jsonify(body), 503 if status == "error" else 200
