"""/api/v1/rules and /api/v1/automation/test: a tenant's automation rules, and what would answer a message.

| method | path                    | does                                                                     |
|--------|-------------------------|--------------------------------------------------------------------------|
| GET    | /rules                  | the tenant's rules in the order they run, with match counts             |
| POST   | /rules                  | a new rule (201); 422 naming the field, e.g. "actions[2].text: ..."      |
| GET    | /rules/<id>             | one rule                                                                 |
| PATCH  | /rules/<id>             | change some fields                                                       |
| PUT    | /rules/<id>             | replace the rule (its id, counts and creation time stay)                 |
| DELETE | /rules/<id>             | remove it (204)                                                          |
| POST   | /rules/reorder          | {"ids": [...]}: every rule once, first runs first (priorities 10, 20...) |
| POST   | /automation/test        | {"text", "channel"?, "customer"?, "payload"?}: what would answer and why |

Every write goes through appliance.automation.rules (checks, the per-tenant cache); another tenant's rule is a 404.
"""
from __future__ import annotations

from flask import Blueprint

from appliance.auth import api_auth, tenant_id_required
from appliance.automation import actions, conditions, match, rules
from appliance.channels import KINDS
from appliance.errors import AppError
from appliance.records import Channel, Customer, Rule, Tenant
from appliance.web import MAX_ROW_ID, services
from appliance.web.api import ADMINS, ANY_ROLE, TEXT, accepts, json_body

blueprint = Blueprint("automation", __name__, url_prefix="/api/v1")

# --- request schemas for openapi.json (rules.check_rule is the real check) ------------------------------------

_STRING = {"type": "string"}
_BUTTONS = {"type": "array", "maxItems": rules.MAX_BUTTONS, "items": {
    "type": "object", "required": ["id", "title"], "additionalProperties": False,
    "properties": {"id": {"type": "string", "maxLength": rules.MAX_BUTTON_ID},
                   "title": {"type": "string", "maxLength": rules.MAX_TITLE}}}}
MATCH_SCHEMA = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": list(rules.MATCH_FIELDS)}, "mode": {"type": "string", "enum": list(match.MODES)},
    "keywords": {"type": "array", "maxItems": rules.MAX_KEYWORDS, "items": {"type": "string",
                                                                            "maxLength": rules.MAX_KEYWORD}},
    "pattern": _STRING, "payload": _STRING, "event": {"type": "string", "enum": list(match.EVENTS)}}}
CONDITION_SCHEMA = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": list(conditions.TYPES)},
    "channels": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
    "tag": _STRING, "present": {"type": "boolean"}, "field": _STRING,
    "op": {"type": "string", "enum": list(conditions.FIELD_OPS)}, "value": {"anyOf": [_STRING, {"type": "number"}]},
    "days": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6}},
    "from": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
    "to": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "inside": {"type": "boolean"}}}
ACTION_SCHEMA = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": list(actions.ACTIONS)}, "text": {"type": "string", "maxLength": rules.MAX_TEXT},
    "buttons": _BUTTONS, "quick_replies": _BUTTONS, "name": _STRING, "language": _STRING,
    "params": {"type": "array"}, "tag": _STRING, "field": _STRING, "value": {}, "reason": _STRING,
    "flow": _STRING, "url": {"type": "string", "format": "uri"}, "secret": {"type": "string", "writeOnly": True},
    "experiment": _STRING, "goal": {"type": "object"}, "variants": {"type": "array"}}}
RULE_SCHEMA = {"name": {"type": "string", "minLength": 1, "maxLength": rules.MAX_NAME}, "enabled": {"type": "boolean"},
               "priority": {"type": "integer", "minimum": 0, "maximum": rules.MAX_PRIORITY},
               "continue": {"type": "boolean"}, "match": MATCH_SCHEMA,
               "conditions": {"type": "array", "maxItems": conditions.MAX_CONDITIONS, "items": CONDITION_SCHEMA},
               "actions": {"type": "array", "minItems": 1, "maxItems": rules.MAX_ACTIONS, "items": ACTION_SCHEMA}}


# --- rules ---------------------------------------------------------------------------------------------------

def _rule(rule_id: str) -> Rule:
    return Rule.get_for_tenant(tenant_id_required(), rule_id[:100], "rule")


@blueprint.get("/rules")
@api_auth(*ANY_ROLE)
def list_rules():
    """The tenant's rules in the order they run, with their match counts."""
    return {"rules": [rules.rule_json(r) for r in Rule.of_tenant(tenant_id_required())]}


@blueprint.post("/rules")
@accepts(RULE_SCHEMA, required=("name", "match", "actions"))
@api_auth(*ADMINS)
def post_rule():
    """Create a rule."""
    return rules.rule_json(rules.create(tenant_id_required(), json_body(), services())), 201


@blueprint.get("/rules/<rule_id>")
@api_auth(*ANY_ROLE)
def get_rule(rule_id: str):
    """One rule."""
    return rules.rule_json(_rule(rule_id))


@blueprint.patch("/rules/<rule_id>")
@accepts(RULE_SCHEMA)
@api_auth(*ADMINS)
def patch_rule(rule_id: str):
    """Change some fields of a rule; enabling it clears the reason the appliance disabled it."""
    return rules.rule_json(rules.update(_rule(rule_id), json_body(), partial=True, services=services()))


@blueprint.put("/rules/<rule_id>")
@accepts(RULE_SCHEMA, required=("name", "match", "actions"))
@api_auth(*ADMINS)
def put_rule(rule_id: str):
    """Replace a rule (its id, match counts and creation time stay)."""
    return rules.rule_json(rules.update(_rule(rule_id), json_body(), partial=False, services=services()))


@blueprint.delete("/rules/<rule_id>")
@api_auth(*ADMINS)
def delete_rule(rule_id: str):
    """Remove a rule."""
    rules.delete(_rule(rule_id))
    return "", 204


@blueprint.post("/rules/reorder")
@accepts({"ids": {"type": "array", "items": _STRING}}, required=("ids",))
@api_auth(*ADMINS)
def reorder_rules():
    """Set the order the rules run in: every rule id once, first runs first."""
    body = json_body()
    unknown = sorted(str(k) for k in set(body) - {"ids"})
    if unknown:
        raise AppError(422, "unknown_field", f"{unknown[0]}: not a field here; send {{\"ids\": [...]}}.")
    return {"rules": [rules.rule_json(r) for r in rules.reorder(tenant_id_required(), body.get("ids"))]}


# --- the test box ----------------------------------------------------------------------------------------------

@blueprint.post("/automation/test")
@accepts({"text": TEXT, "channel": {"type": "string", "description": "a channel kind or one of your channel ids"},
          "customer": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
          "payload": {"type": "string", "maxLength": rules.MAX_PAYLOAD}})
@api_auth(*ANY_ROLE)
def test_automation():
    """What would answer a message and why (a dry run: nothing is sent, counted or changed)."""
    tenant_id = tenant_id_required()
    body = json_body()
    unknown = sorted(str(k) for k in set(body) - {"text", "channel", "customer", "payload"})
    if unknown:
        raise AppError(422, "unknown_field", f"{unknown[0]}: not a field here; use text, channel, customer, payload.")
    text, payload = _test_text(body), _test_payload(body)
    customer = _test_customer(tenant_id, body.get("customer"))
    return rules.explain(Tenant.get_by_id(tenant_id), text, _test_channel(tenant_id, body.get("channel")), customer,
                         payload, services=services())


def _test_text(body: dict) -> str:
    text = body.get("text", "")
    limit = services().settings.widget_max_chars
    if not isinstance(text, str) or len(text) > limit or (not text.strip() and body.get("payload") is None):
        raise AppError(422, "invalid_text", f"text: give the customer's message (1-{limit} characters).")
    return text.strip()


def _test_payload(body: dict) -> str | None:
    payload = body.get("payload")
    if payload is not None and (not isinstance(payload, str) or not payload or len(payload) > rules.MAX_PAYLOAD):
        raise AppError(422, "invalid_payload", f"payload: give a button's payload of 1-{rules.MAX_PAYLOAD} characters.")
    return payload


def _test_channel(tenant_id: str, value) -> str | None:
    """A channel kind, given as such or as one of the tenant's channel ids."""
    if value is None:
        return None
    if isinstance(value, str) and value in KINDS:
        return value
    if isinstance(value, str) and len(value) <= 100:
        channel = Channel.get_or_none((Channel.id == value) & (Channel.tenant == tenant_id))
        if channel is not None:
            return channel.kind
    raise AppError(422, "invalid_channel", f"channel: give a channel kind ({', '.join(KINDS)}) or one of your "
                                           "channel ids.")


def _test_customer(tenant_id: str, value) -> Customer | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ROW_ID:
        raise AppError(422, "invalid_customer", "customer: give the id of one of your customers (a whole number).")
    return Customer.get_for_tenant(tenant_id, value, "customer")
