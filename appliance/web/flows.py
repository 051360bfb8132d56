"""/api/v1/flows: a tenant's flows, their versions, activation, import and export.

| method | path                        | does                                                              |
|--------|-----------------------------|-------------------------------------------------------------------|
| GET    | /flows                      | the flows with active, version, runs (in all) and running counts  |
| POST   | /flows                      | a flow {"name", "triggers", "start", "steps", ...} -> 201          |
| GET    | /flows/<id>                 | one flow with its current definition and its versions            |
| PUT    | /flows/<id>                 | an edit: a new version (running customers finish on theirs)      |
| DELETE | /flows/<id>                 | remove it, its versions and runs                                  |
| POST   | /flows/<id>/activate        | its triggers start runs                                           |
| POST   | /flows/<id>/deactivate      | no new runs; running customers finish                             |
| GET    | /flows/<id>/export          | {"format": "appliance-flow-1", "flow": {...}}                     |
| POST   | /flows/import               | an exported document -> a new inactive flow, 201                  |

An invalid flow is a 422 {"error": {"code": "invalid_flow", "message", "problems": [{"step", "message"}]}}.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from appliance.auth import api_auth, tenant_id_required
from appliance.automation import flows
from appliance.automation.flow_check import MAX_STEPS
from appliance.records import Flow, FlowRun
from appliance.web import services
from appliance.web.api import ADMINS, ANY_ROLE, TEXT, accepts, json_body

blueprint = Blueprint("flows", __name__, url_prefix="/api/v1/flows")

OBJECT = {"type": "object"}
FLOW_BODY = {"name": TEXT, "start": TEXT, "active": {"type": "boolean"},
             "timeout_minutes": {"type": "number", "minimum": 1},
             "triggers": {"type": "array", "maxItems": 20, "items": OBJECT},
             "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS,
                       "items": {"type": "object", "required": ["id", "type"],
                                 "properties": {"id": TEXT, "type": TEXT}}}}


@blueprint.errorhandler(flows.FlowInvalid)
def _invalid(exc: flows.FlowInvalid):
    """The one error shape, with the problems that name their steps."""
    response = jsonify({"error": {"code": exc.code, "message": exc.message, "problems": exc.problems}})
    response.status_code = exc.status
    return response


@blueprint.get("")
@api_auth(*ANY_ROLE)
def list_flows():
    """The tenant's flows, oldest first, with their run counts."""
    tenant_id = tenant_id_required()
    counts = FlowRun.counts(tenant_id)
    return {"flows": [flows.flow_json(row, counts.get(row.id)) for row in Flow.of_tenant(tenant_id)]}


@blueprint.post("")
@accepts(FLOW_BODY, required=("name", "start", "steps"))
@api_auth(*ADMINS)
def post_flow():
    """Create a flow (inactive unless "active": true)."""
    body = json_body()
    row = flows.create(tenant_id_required(), body, active=body.get("active") is True, services=services())
    return flows.flow_json(row, detail=True), 201


@blueprint.get("/<flow_id>")
@api_auth(*ANY_ROLE)
def get_flow(flow_id: str):
    """One flow: its current definition and its versions, newest first."""
    tenant_id = tenant_id_required()
    row = Flow.get_for_tenant(tenant_id, flow_id, "flow")
    return flows.flow_json(row, FlowRun.counts(tenant_id).get(row.id), detail=True)


@blueprint.put("/<flow_id>")
@accepts(FLOW_BODY, required=("name", "start", "steps"))
@api_auth(*ADMINS)
def put_flow(flow_id: str):
    """Save an edit as a new version; customers in the flow finish on the version they started."""
    tenant_id = tenant_id_required()
    row = flows.update(tenant_id, flow_id, json_body(), services())
    return flows.flow_json(row, FlowRun.counts(tenant_id).get(row.id), detail=True)


@blueprint.delete("/<flow_id>")
@api_auth(*ADMINS)
def delete_flow(flow_id: str):
    """Remove a flow, its versions and its runs."""
    flows.delete(tenant_id_required(), flow_id)
    return {"deleted": flow_id}


@blueprint.post("/<flow_id>/activate")
@api_auth(*ADMINS)
def activate_flow(flow_id: str):
    """Switch the flow on: its triggers start runs."""
    return flows.flow_json(flows.activate(tenant_id_required(), flow_id))


@blueprint.post("/<flow_id>/deactivate")
@api_auth(*ADMINS)
def deactivate_flow(flow_id: str):
    """Switch the flow off: no new runs; customers in it finish."""
    return flows.flow_json(flows.deactivate(tenant_id_required(), flow_id))


@blueprint.get("/<flow_id>/export")
@api_auth(*ANY_ROLE)
def export_flow(flow_id: str):
    """The flow's current version as a document POST /flows/import takes."""
    return flows.export(tenant_id_required(), flow_id)


@blueprint.post("/import")
@accepts({"format": {"type": "string", "enum": [flows.EXPORT_FORMAT]}, "flow": OBJECT}, required=("format", "flow"))
@api_auth(*ADMINS)
def import_flow():
    """A new, inactive flow from an exported document."""
    return flows.flow_json(flows.import_flow(tenant_id_required(), json_body(), services()), detail=True), 201
