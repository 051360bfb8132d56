"""/api/v1/automation/experiments: the results of the tenant's A/B tests (appliance/automation/ab.py).

| method | path                              | does                                                                 |
|--------|-----------------------------------|----------------------------------------------------------------------|
| GET    | /automation/experiments           | per experiment and variant: reached, converted, rate, z and p        |
|        |   ?experiment=<key>               | only that experiment ("rule:<id>:<name>" or "flow:<id>:<name>")       |
"""
from __future__ import annotations

from flask import Blueprint, request

from appliance.automation import ab
from appliance.auth import api_auth, tenant_id_required
from appliance.errors import AppError
from appliance.web.api import ANY_ROLE, accepts

blueprint = Blueprint("experiments", __name__, url_prefix="/api/v1/automation")
MAX_KEY = 300


@blueprint.get("/experiments")
@accepts(query={"experiment": {"type": "string", "minLength": 1, "maxLength": MAX_KEY}})
@api_auth(*ANY_ROLE)
def list_experiments():
    """A/B test results: per experiment and variant reached, converted, rate, and a z-test against the first."""
    tenant_id = tenant_id_required()
    wanted = request.args.get("experiment")
    if wanted is not None and (not wanted.strip() or len(wanted) > MAX_KEY):
        raise AppError(422, "invalid_experiment", f"'experiment' must be an experiment's key of 1 to {MAX_KEY} "
                                                  "characters, as listed by this endpoint.")
    found = ab.results(tenant_id)
    if wanted is not None:
        found = [item for item in found if item["experiment"] == wanted]
    return {"experiments": found}
