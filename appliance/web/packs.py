"""/api/v1/automation/packs: the starter packs (appliance/automation/packs) and installing one for the caller's tenant.

| method | path                          | does                                                                     |
|--------|-------------------------------|--------------------------------------------------------------------------|
| GET    | /automation/packs             | the packs: name, title, description (?language=vi|en), values to give     |
| POST   | /automation/packs/<name>      | {"values"?} -> 201 with the ids created (200 when all were there already) |
"""
from __future__ import annotations

from flask import Blueprint, request

from appliance.auth import api_auth, tenant_id_required
from appliance.automation import packs
from appliance.records import Tenant
from appliance.web import services
from appliance.web.api import ADMINS, ANY_ROLE, accepts, json_body

blueprint = Blueprint("packs", __name__, url_prefix="/api/v1/automation/packs")


@blueprint.get("")
@accepts(query={"language": {"type": "string", "enum": list(packs.LANGUAGES)}})
@api_auth(*ANY_ROLE)
def list_packs():
    """The starter packs there are, with the values an owner may fill in when installing one."""
    return {"packs": packs.available(request.args.get("language", "en"))}


@blueprint.post("/<name>")
@accepts({"values": {"type": "object", "additionalProperties": {"type": "string", "maxLength": packs.MAX_VALUE}}})
@api_auth(*ADMINS)
def install_pack(name: str):
    """Install a starter pack's rules and flows for this tenant; installing again adds only what is missing."""
    tenant = Tenant.get_by_id(tenant_id_required())
    packs.load(name)  # an unknown pack is a 404 before the body is read
    body = json_body() if request.content_length or request.is_json else {}
    installed = packs.install(tenant, name, services(), body.get("values"))
    return installed, 201 if installed["rules"] or installed["flows"] else 200
