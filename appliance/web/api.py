"""The JSON API under /api/v1: bearer tokens, every query scoped to the caller's tenant."""
from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, g, jsonify, request

from appliance import jsonbody
from appliance.assistant.answer import answer, assistant_config
from appliance.assistant.cloud import CLOUD_FIELDS, CLOUD_TIMEOUT, cloud_timeout_ok
from appliance.assistant.llm import DEFAULT_MODEL, ModelError, is_model_name, list_models
from appliance.assistant.prompts import DEFAULT_ASSISTANT
from appliance.auth import api_auth, create_tenant, tenant_id_required
from appliance import channels, conversations
from appliance.channels import CREDENTIAL_FIELDS, Outbound
from appliance.errors import AppError
from appliance.outbound import check_url
from appliance.outbox import api_base as channel_api_base
from appliance.conversations import message_json
from appliance.records import Channel, Conversation, Message, Tenant
from appliance.web import MAX_ROW_ID, public_base, read_body, services

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
ADMINS = ("platform-admin", "tenant-admin")
ANY_ROLE = ("platform-admin", "tenant-admin", "agent")


JSON_HINT = "Send a JSON object with Content-Type: application/json."


def json_body() -> dict:
    """The request's JSON object (read by the one safe JSON reader), or a 400 saying what to send."""
    if not request.is_json:
        raise AppError(400, "invalid_json", JSON_HINT)
    return jsonbody.loads_object(read_body(), services().settings.max_body_bytes, JSON_HINT)


# --- request schemas for openapi.json (the views check every field themselves; these describe them) ------

TEXT = {"type": "string", "minLength": 1}


def accepts(body: dict | None = None, required: tuple[str, ...] = (), content: str = "application/json",
            query: dict | None = None):
    """Describe a view's request for openapi.json: its body's fields (an object) and its query parameters."""
    schema = None if body is None else {"type": "object", "properties": body,
                                        **({"required": list(required)} if required else {})}

    def mark(view):
        view.openapi_request = {"query": query or {}, "content": content, "body": schema}
        return view

    return mark


def _text(body: dict, name: str, limit: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AppError(422, f"invalid_{name}", f"Give '{name}' as a non-empty string.")
    if len(value) > limit:
        raise AppError(413, f"{name}_too_long", f"'{name}' can be at most {limit} characters.")
    return value.strip()


# --- tenants (platform admin) ---------------------------------------------------------------

@blueprint.post("/tenants")
@accepts({"name": TEXT}, required=("name",))
@api_auth("platform-admin")
def post_tenant():
    """Create a tenant and its first API token."""
    tenant, token = create_tenant(_text(json_body(), "name", 200))
    return {"tenant_id": tenant.id, "name": tenant.name, "api_token": token}, 201


@blueprint.get("/tenants")
@api_auth("platform-admin")
def list_tenants():
    return {"tenants": [{"id": t.id, "name": t.name} for t in Tenant.select().order_by(Tenant.created_at)]}


# --- channels ------------------------------------------------------------------------------

def channel_json(channel: Channel) -> dict:
    return {"id": channel.id, "kind": channel.kind, "name": channel.name, "webhook_path": channel.webhook_path,
            "webhook_url": public_base() + channel.webhook_path, "api_base": channel.api_base,
            "status": channel.status, "status_reason": channel.status_reason}


CHANNEL_FIELDS = {"name": TEXT, "api_base": {"type": "string", "format": "uri"},
                  "credentials": {"type": "object", "additionalProperties": {"type": "string"}}}


@blueprint.post("/channels")
@accepts({"kind": {"type": "string", "enum": list(CREDENTIAL_FIELDS)}, **CHANNEL_FIELDS}, required=("kind",))
@api_auth(*ADMINS)
def post_channel():
    """Connect a channel; credentials are checked for completeness, encrypted, and never returned."""
    return connect_channel(tenant_id_required(), json_body()), 201


def connect_channel(tenant_id: str, body: dict) -> dict:
    """Connect a channel from a request body (the API's or the admin form's); its JSON."""
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in CREDENTIAL_FIELDS:
        raise AppError(422, "invalid_kind", f"'kind' must be one of {', '.join(CREDENTIAL_FIELDS)}.")
    name = _text(body, "name", 200, required=False) or kind
    credentials = _credentials(kind, body.get("credentials") or {})
    channel = Channel(tenant=tenant_id, kind=kind, name=name, api_base=_api_base(body))
    return _save_channel(channel, credentials, force_insert=True)


@blueprint.patch("/channels/<channel_id>")
@accepts(CHANNEL_FIELDS)
@api_auth(*ADMINS)
def patch_channel(channel_id: str):
    """Change a channel in place: its name, api_base or some credentials; the id and webhook URL stay.

    New credentials (a new token after `needs_attention`) make the channel active again."""
    return change_channel(tenant_id_required(), channel_id, json_body())


def change_channel(tenant_id: str, channel_id: str, body: dict) -> dict:
    """Change a live channel from a request body (the API's or the admin form's); its JSON."""
    channel = Channel.get_for_tenant(tenant_id, channel_id, "channel")
    if channel.deleted:
        raise AppError(404, "not_found", f"No channel with id {channel_id} in this tenant.")
    unknown = sorted(set(body) - {"name", "api_base", "credentials"})
    if unknown:
        raise AppError(422, "unknown_field", f"'{unknown[0]}' cannot be changed; use name, api_base or credentials.")
    if "name" in body:
        channel.name = _text(body, "name", 200)
    moved = False
    if "api_base" in body:
        api_base = _api_base(body)
        moved = api_base is not None and api_base != channel.api_base
        channel.api_base = api_base
    if moved and "credentials" not in body:
        raise AppError(422, "credentials_required", "Changing 'api_base' needs the channel's credentials again in the "
                       "same request, so stored secrets never go to a new address unasked.")
    credentials = None
    if "credentials" in body:
        current = None
        if not moved and channel.credentials:  # a new address gets only what was sent with it
            current = services().vault.open_credentials(channel.id, channel.credentials)
        credentials = _credentials(channel.kind, body["credentials"], current)
        channel.status, channel.status_reason = "active", None
    body = _save_channel(channel, credentials)
    if credentials is not None:
        services().outbox.breaker.success(channel.id)  # new credentials: a paused channel gets a fresh start too
    return body


def _credentials(kind: str, given, current: dict | None = None) -> dict:
    """The credentials to store: `given` over `current` (null removes an optional one), each required one present."""
    if not isinstance(given, dict):
        raise AppError(422, "invalid_credentials", "'credentials' must be an object.")
    merged = dict(current or {})
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, str):
            merged[key] = value
        else:
            raise AppError(422, "invalid_credentials", f"Credential '{key}' must be a string (or null to remove it).")
    missing = [f for f in CREDENTIAL_FIELDS[kind] if not merged.get(f)]
    if missing:
        raise AppError(422, "missing_credentials", f"A {kind} channel needs these credentials: {', '.join(missing)}.")
    module = channels.module(kind)
    if hasattr(module, "check_credentials"):
        module.check_credentials(merged)
    return merged


def _api_base(body: dict) -> str | None:
    """The channel's own platform URL (null: the platform's), https to a public address unless the admin allows it."""
    api_base = body.get("api_base")
    if api_base is None:
        return None
    return check_url(api_base, services().settings.outbound_allow_hosts, "api_base")  # else 422 invalid_api_base


def _save_channel(channel: Channel, credentials: dict | None, force_insert: bool = False) -> dict:
    """Encrypt new credentials (a channel that registers its webhook, Telegram, does so with them first) and save."""
    webhook = None
    module = channels.module(channel.kind)
    if credentials is not None:
        if hasattr(module, "connect"):
            webhook = module.connect(public_base() + channel.webhook_path, credentials,
                                     channel_api_base(services().settings, channel), services().outbox.http)
        channel.credentials = services().vault.seal_credentials(channel.id, credentials) if credentials else None
    channel.save(force_insert=force_insert)
    body = channel_json(channel)
    if webhook is not None:
        body["webhook"] = webhook
    return body


@blueprint.get("/channels")
@api_auth(*ANY_ROLE)
def list_channels():
    return {"channels": [channel_json(c) for c in Channel.live_of(tenant_id_required())]}


@blueprint.delete("/channels/<channel_id>")
@api_auth(*ADMINS)
def delete_channel(channel_id: str):
    """Disconnect a channel: its webhooks stop answering, its history stays."""
    disconnect_channel(tenant_id_required(), channel_id)
    return "", 204


def disconnect_channel(tenant_id: str, channel_id: str) -> None:
    """Disconnect a tenant's channel (the platform's own clean-up first, e.g. Telegram's deleteWebhook) and forget
    its credentials."""
    channel = Channel.get_for_tenant(tenant_id, channel_id, "channel")
    module = channels.module(channel.kind)
    if hasattr(module, "disconnect") and channel.credentials and not channel.deleted:
        credentials = services().vault.open_credentials(channel.id, channel.credentials)
        module.disconnect(channel.id, credentials, channel_api_base(services().settings, channel),
                          services().outbox.http)
    channel.deleted = True
    channel.credentials = None
    channel.save()


# --- assistant -----------------------------------------------------------------------------

ASSISTANT_FIELDS = {
    "enabled": bool, "persona": str, "tone": str, "language": str, "instructions": str, "model": str,
    "local_model": str, "cloud": dict, "cloud_policy": str, "fallback": str, "history_length": int,
    "rewrite": str, "allow_free_form": bool, "smalltalk": dict, "min_similarity": float,
}
CHOICES = {"model": ("local", "cloud"), "cloud_policy": ("never", "on_failure", "always"),
           "fallback": ("dont_know", "handoff", "cloud"), "rewrite": ("auto", "always", "never")}
SMALLTALK_LANGUAGES = ("vi", "en")
SMALLTALK_KINDS = ("greeting", "thanks", "goodbye", "fallback")


def _assistant_json(tenant: Tenant) -> dict:
    config = assistant_config(tenant)
    cloud = dict(config.get("cloud") or {})
    cloud["api_key_set"] = bool(tenant.assistant_secret)
    return {**config, "cloud": cloud}


@blueprint.get("/assistant")
@api_auth(*ANY_ROLE)
def get_assistant():
    return _assistant_json(Tenant.get_by_id(tenant_id_required()))


def _assistant_schema() -> dict:
    """ASSISTANT_FIELDS and CHOICES as JSON schema properties."""
    types = {bool: "boolean", str: "string", int: "integer", dict: "object", float: "number"}
    fields = {name: {"type": types[kind]} for name, kind in ASSISTANT_FIELDS.items()}
    for name, choices in CHOICES.items():
        fields[name]["enum"] = list(choices)
    fields["history_length"].update(minimum=0, maximum=200)
    fields["min_similarity"].update(nullable=True, minimum=0, maximum=1)
    fields["cloud"]["properties"] = {"base_url": {"type": "string", "format": "uri"}, "model": TEXT,
                                     "timeout": {"type": "number"}, "api_key": {"type": "string"}}
    replies = {"type": "object", "properties": {kind: {"type": "string", "maxLength": 500} for kind in SMALLTALK_KINDS},
               "additionalProperties": False}
    fields["smalltalk"].update(properties={lang: replies for lang in SMALLTALK_LANGUAGES}, additionalProperties=False)
    return fields


def _min_similarity(value) -> float | None:
    """The tenant's relevance threshold, checked: a number from 0 to 1, or None for the appliance's setting."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:  # NaN fails the range
        raise AppError(422, "invalid_min_similarity", "'min_similarity' must be a number from 0 to 1, or null for "
                       "the appliance's setting.")
    return float(value)


def _smalltalk(value: dict) -> dict:
    """The tenant's own small-talk replies, {"vi": {"greeting": ...}, "en": {...}}, checked."""
    checked = {}
    for language, replies in value.items():
        if language not in SMALLTALK_LANGUAGES or not isinstance(replies, dict):
            raise AppError(422, "invalid_smalltalk", "'smalltalk' takes {\"vi\": {...}, \"en\": {...}} with "
                           f"replies for {', '.join(SMALLTALK_KINDS)}.")
        for kind, text in replies.items():
            if kind not in SMALLTALK_KINDS or not isinstance(text, str) or len(text) > 500:
                raise AppError(422, "invalid_smalltalk", f"'smalltalk.{language}.{kind}' must be one of "
                               f"{', '.join(SMALLTALK_KINDS)} with a text of at most 500 characters.")
        checked[language] = {kind: text.strip() for kind, text in replies.items() if text.strip()}
    return checked


def _check_free_form(config: dict) -> None:
    """Free-form answers only from an instruct model: the cloud, or a local GGUF with a chat template."""
    if not config.get("allow_free_form") or config.get("model") == "cloud" or config.get("cloud_policy") == "always":
        return
    try:
        model = (services().models.get(config["local_model"]) if config.get("local_model")
                 else services().models.local())
    except ModelError as exc:
        raise AppError(422, "invalid_allow_free_form", f"Free-form answers need a working instruct model ({exc}).") from None
    if model.profile != "chat":
        raise AppError(422, "invalid_allow_free_form", f"{model.name} is a base (completion) model: it would invent "
                       "answers. Use an instruct model (one with a chat template) or the cloud model to allow "
                       "free-form answers.")


@blueprint.put("/assistant")
@accepts(_assistant_schema())
@api_auth(*ADMINS)
def put_assistant():
    """Change the assistant; the cloud api_key is write-only and encrypted."""
    return change_assistant(Tenant.get_by_id(tenant_id_required()), json_body())


def change_assistant(tenant: Tenant, body: dict) -> dict:
    """Check and store assistant settings from a request body (the API's or the admin form's); the new settings."""
    config = dict(tenant.assistant or {})
    for name, value in body.items():
        kind = ASSISTANT_FIELDS.get(name)
        if kind is None:
            raise AppError(422, "unknown_field", f"'{name}' is not an assistant setting; use {', '.join(ASSISTANT_FIELDS)}.")
        if name == "min_similarity":
            config[name] = _min_similarity(value)
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise AppError(422, f"invalid_{name}", f"'{name}' must be a {kind.__name__}.")
        if name in CHOICES and value not in CHOICES[name]:
            raise AppError(422, f"invalid_{name}", f"'{name}' must be one of {', '.join(CHOICES[name])}.")
        if isinstance(value, str) and len(value) > 4000:
            raise AppError(413, f"{name}_too_long", f"'{name}' can be at most 4000 characters.")
        if name == "history_length" and not 0 <= value <= 200:
            raise AppError(422, "invalid_history_length", "'history_length' must be between 0 and 200.")
        if name == "cloud":
            value = _cloud_settings(tenant, value)
        if name == "local_model":
            value = _local_model(value)
        if name == "smalltalk":
            value = _smalltalk(value)
        config[name] = value
    _check_free_form({**DEFAULT_ASSISTANT, **config})
    tenant.assistant = config
    tenant.save()
    return _assistant_json(tenant)


def _cloud_settings(tenant: Tenant, given: dict) -> dict:
    """The cloud settings to store, each checked; the api_key goes encrypted onto the tenant, not into the dict."""
    unknown = sorted(set(given) - set(CLOUD_FIELDS))
    if unknown:
        raise AppError(422, "unknown_field", f"'cloud.{unknown[0]}' is not a cloud setting; use {', '.join(CLOUD_FIELDS)}.")
    cloud: dict = {}
    if given.get("base_url") not in (None, ""):
        cloud["base_url"] = check_url(given["base_url"], services().settings.outbound_allow_hosts, "base_url")
    model = given.get("model")
    if model is not None:
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise AppError(422, "invalid_model", "'cloud.model' must be a model name of 1-200 characters.")
        cloud["model"] = model.strip()
    timeout = given.get("timeout")
    if timeout is not None:
        if not cloud_timeout_ok(timeout):
            raise AppError(422, "invalid_timeout", "'cloud.timeout' must be a number of seconds between "
                           f"{CLOUD_TIMEOUT[0]:g} and {CLOUD_TIMEOUT[1]:g}.")
        cloud["timeout"] = float(timeout)
    api_key = given.get("api_key")
    if api_key is not None and (not isinstance(api_key, str) or len(api_key) > 4000):
        raise AppError(422, "invalid_api_key", "'cloud.api_key' must be a string of at most 4000 characters.")
    stored = (tenant.assistant or {}).get("cloud") or {}
    if cloud.get("base_url") and cloud["base_url"] != stored.get("base_url") and api_key is None \
            and tenant.assistant_secret:
        raise AppError(422, "credentials_required", "Changing 'cloud.base_url' needs 'cloud.api_key' again in the same "
                       "request, so the stored key never goes to a new address unasked.")
    if api_key is not None:
        tenant.assistant_secret = services().vault.encrypt(api_key, f"assistant:{tenant.id}") if api_key else None
    return cloud


def _local_model(name: str) -> str:
    """A GGUF file name from the models folder (empty: the appliance default); never a path."""
    if not name:
        return ""
    settings = services().settings
    if not is_model_name(name) or (name not in {p.name for p in list_models(settings.models)}
                                   and name != DEFAULT_MODEL):
        raise AppError(422, "invalid_local_model", "'local_model' must be the file name of a .gguf model in the "
                       "models folder (see `appliance models list`), without any folder in front of it.")
    return name


@blueprint.post("/assistant/test")
@accepts({"text": TEXT}, required=("text",))
@api_auth(*ANY_ROLE)
def test_assistant():
    """Ask the tenant's assistant one question, outside any conversation."""
    return ask_assistant(Tenant.get_by_id(tenant_id_required()), json_body())


def ask_assistant(tenant: Tenant, body: dict) -> dict:
    """One question to the tenant's assistant from a request body ({"text"}): reply, sources, path, model, timing."""
    text = _text(body, "text", services().settings.widget_max_chars)
    started = time.monotonic()
    reply = answer(services(), tenant, [], text)  # a ModelError is a 503 model_unavailable
    return {"reply": reply.text, "sources": reply.sources, "model": reply.model, "path": reply.path,
            "rejected": reply.rejected,
            "tokens": {"prompt": reply.prompt_tokens, "completion": reply.completion_tokens},
            "latency_ms": int((time.monotonic() - started) * 1000)}


# --- conversations -------------------------------------------------------------------------

def _buttons(body: dict) -> list[dict]:
    buttons = body.get("buttons") or []
    if not isinstance(buttons, list) or len(buttons) > 13 or not all(
            isinstance(b, dict) and isinstance(b.get("id"), str) and b["id"] and isinstance(b.get("title"), str)
            and b["title"] for b in buttons):
        raise AppError(422, "invalid_buttons", "'buttons' must be a list of at most 13 objects with 'id' and 'title'.")
    return [{k: b[k] for k in ("id", "title", "description") if isinstance(b.get(k), str)} for b in buttons]


def _template(body: dict) -> dict | None:
    name = body.get("template")
    if name is None:
        return None
    params = body.get("params", [])
    if not isinstance(name, str) or not name.strip() or not isinstance(params, (list, dict)):
        raise AppError(422, "invalid_template", "Give 'template' as a name and 'params' as a list (or an object for Zalo ZNS).")
    language, phone = body.get("language") or "en_US", body.get("phone")
    if not isinstance(language, str) or (phone is not None and not isinstance(phone, str)):
        raise AppError(422, "invalid_template", "Give the template's 'language' and 'phone' as strings.")
    return {"name": name.strip(), "language": language, "params": params, **({"phone": phone} if phone else {})}


@blueprint.post("/conversations/<int:conversation_id>/messages")
@accepts({"text": TEXT, "buttons": {"type": "array", "maxItems": 13, "items": {
    "type": "object", "required": ["id", "title"],
    "properties": {"id": TEXT, "title": TEXT, "description": {"type": "string"}}}},
    "template": TEXT, "params": {"anyOf": [{"type": "array"}, {"type": "object"}]}, "language": {"type": "string"},
    "phone": {"type": "string"}})
@api_auth(*ANY_ROLE)
def post_conversation_message(conversation_id: int):
    """Send a message (text, optional buttons) or a template to the customer; 409 outside_window for text."""
    conversation = Conversation.get_for_tenant(tenant_id_required(), conversation_id, "conversation")
    body = json_body()
    template = _template(body)
    text = _text(body, "text", 4096, required=template is None) or ""
    outbound = Outbound(to="", text=text, buttons=_buttons(body), template=template)
    message = conversations.reply(services(), conversation, outbound, "agent")
    return message_json(Message.get_by_id(message.id)), 201


# --- description ---------------------------------------------------------------------------

_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # <name> or <converter(args):name>
_PATH_TYPES = {"int": {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID}}


def _operation(rule, view) -> dict:
    """One OpenAPI operation: summary, security, path and query parameters, request body."""
    described = getattr(view, "openapi_request", {})
    parameters = [{"name": name, "in": "path", "required": True, "schema": _PATH_TYPES.get(kind, {"type": "string"})}
                  for kind, name in _ARGUMENT.findall(rule.rule)]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in described.get("query", {}).items()]
    operation = {
        "summary": (view.__doc__ or rule.endpoint).strip().splitlines()[0],
        "security": [] if rule.endpoint == "api.openapi" else [{"bearer": []}],
        "responses": {"200": {"description": "OK"}, "default": {"$ref": "#/components/responses/Error"}},
    }
    if parameters:
        operation["parameters"] = parameters
    if described.get("body") is not None:
        operation["requestBody"] = {"required": True, "content": {described["content"]: {"schema": described["body"]}}}
    return operation


@blueprint.get("/openapi.json")
def openapi():
    """OpenAPI 3 description, generated from the registered routes and their `accepts` schemas."""
    from flask import current_app

    paths: dict = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule.rule[len("/api/v1"):])
        view = current_app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, view)
    return jsonify({
        "openapi": "3.0.3",
        "info": {"title": "Appliance API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}}}}}}}},
        },
    })
