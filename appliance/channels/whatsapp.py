"""WhatsApp Cloud API: hub handshake, X-Hub-Signature-256, webhook payloads -> Inbound, sends -> wamid."""
from __future__ import annotations

from datetime import timedelta
from typing import Callable, Mapping

from appliance.channels import Inbound, Outbound
from appliance.channels.platform import (
    Http, OutsideWindow, build, PayloadError, Permanent, RateLimited, TokenExpired, Transient,
    check_hub_signature, clip, graph_send, hub_challenge, items, load_json, obj, text_of,
)

KIND = "whatsapp"
FREE_WINDOW = timedelta(hours=24)  # free-form replies only within 24 h of the customer's last message
HARD_WINDOW = FREE_WINDOW
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")

ERRORS = {
    131047: OutsideWindow,  # more than 24 h since the customer's last message: send a template
    130429: RateLimited,  # throughput limit
    131056: RateLimited,  # too many messages to one user
    131026: Permanent,  # undeliverable (not on WhatsApp, old app, blocked)
    190: TokenExpired,
    131000: Transient,
    1: Transient,
    2: Transient,
    4: RateLimited,
    80007: RateLimited,
}


def verify_handshake(args: Mapping[str, str], credentials: dict) -> str | None:
    """The hub.challenge to echo back when the verify token matches; None for a 403."""
    return hub_challenge(args, credentials.get("verify_token", ""))


def check_signature(raw: bytes, headers: Mapping[str, str], credentials: dict) -> None:
    """Raise SignatureError unless Meta signed these exact bytes with the app secret."""
    check_hub_signature(raw, headers, credentials.get("app_secret", ""))


# --- parsing -------------------------------------------------------------------------------------------

def _text(message: dict, base: dict) -> Inbound:
    return Inbound(kind="text", text=text_of((message.get("text") or {}).get("body")), **base)


def _media(message: dict, base: dict) -> Inbound:
    kind = message.get("type")
    media = message.get(kind) or {}
    return Inbound(kind="media", text=text_of(media.get("caption")),
                   media={"type": kind, "id": text_of(media.get("id")), "mime_type": media.get("mime_type")}, **base)


def _interactive(message: dict, base: dict) -> Inbound:
    interactive = message.get("interactive") or {}
    reply = interactive.get("button_reply") or interactive.get("list_reply")
    if not isinstance(reply, dict) or not reply.get("id"):  # e.g. nfm_reply (flows): not a button tap
        return _unknown(message, base)
    return Inbound(kind="button", button_id=text_of(reply.get("id")), text=text_of(reply.get("title")), **base)


def _template_button(message: dict, base: dict) -> Inbound:
    button = message.get("button") or {}
    return Inbound(kind="button", button_id=text_of(button.get("payload")), text=text_of(button.get("text")), **base)


def _location(message: dict, base: dict) -> Inbound:
    place = message.get("location") or {}
    return Inbound(kind="location", location={k: place.get(k) for k in ("latitude", "longitude", "name", "address")},
                   **base)


def _reaction(message: dict, base: dict) -> Inbound:
    reaction = message.get("reaction") or {}
    return Inbound(kind="reaction", reaction={"message_id": text_of(reaction.get("message_id")),
                                              "emoji": text_of(reaction.get("emoji"))}, **base)


def _contacts(message: dict, base: dict) -> Inbound:
    return Inbound(kind="media", media={"type": "contacts", "count": len(message.get("contacts") or [])}, **base)


def _unknown(message: dict, base: dict) -> Inbound:
    return Inbound(kind="unknown", **base)


MESSAGE_TYPES: dict[str, Callable[[dict, dict], Inbound]] = {
    "text": _text, "interactive": _interactive, "button": _template_button, "location": _location,
    "reaction": _reaction, "contacts": _contacts, **{t: _media for t in MEDIA_TYPES},
}


def _status(status: dict) -> Inbound:
    errors = status.get("errors")
    error = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
    name = text_of(status.get("status"))
    ref = text_of(status.get("biz_opaque_callback_data"))  # our id for the send, given back on its statuses
    return Inbound(kind="status", platform_id=f"{text_of(status.get('id'))}:{name}",
                   user_id=text_of(status.get("recipient_id")), timestamp=text_of(status.get("timestamp")),
                   status={"message_id": text_of(status.get("id")), "status": name,
                           "error": f"{error.get('code')}: {error.get('title') or error.get('message')}" if error else None,
                           **({"ref": ref} if ref else {})},
                   raw=status)


def parse(raw: bytes) -> list[Inbound]:
    """Every message and status in a webhook POST (entries, changes and batches all looped over)."""
    body = load_json(raw)
    if body.get("object") not in (None, "whatsapp_business_account"):
        raise PayloadError("not a WhatsApp Business Account webhook")
    events: list[Inbound] = []
    for entry in items(body, "entry"):
        for change in items(entry, "changes"):
            value = change.get("value")
            if change.get("field", "messages") != "messages" or not isinstance(value, dict):
                continue
            names = {text_of(c.get("wa_id")): text_of(obj(c.get("profile")).get("name"))
                     for c in items(value, "contacts")}
            for message in items(value, "messages"):
                if not message.get("id"):
                    continue
                sender = text_of(message.get("from"))
                base = {"platform_id": text_of(message["id"]), "user_id": sender, "user_name": names.get(sender, ""),
                        "timestamp": text_of(message.get("timestamp")), "raw": message}
                handler = MESSAGE_TYPES.get(message["type"]) if isinstance(message.get("type"), str) else None
                events.append(build(handler or _unknown, message, base))
            events += [_status(status) for status in items(value, "statuses") if status.get("id")]
    return events


# --- sending -------------------------------------------------------------------------------------------

def render(outbound: Outbound) -> dict:
    """The Cloud API body for a reply: text, reply buttons (≤ 3), a list (≤ 10 rows) or a template."""
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": outbound.to}
    if outbound.template:
        template = outbound.template
        params = [{"type": "text", "text": text_of(p)} for p in template.get("params") or []]
        body.update(type="template", template={
            "name": template["name"], "language": {"code": template.get("language") or "en_US"},
            "components": [{"type": "body", "parameters": params}] if params else []})
    elif outbound.buttons and len(outbound.buttons) <= 3:
        buttons = [{"type": "reply", "reply": {"id": clip(text_of(b["id"]), 256), "title": clip(text_of(b["title"]), 20)}}
                   for b in outbound.buttons]
        body.update(type="interactive", interactive={
            "type": "button", "body": {"text": clip(outbound.text, 1024)}, "action": {"buttons": buttons}})
    elif outbound.buttons:
        rows = [{"id": clip(text_of(b["id"]), 200), "title": clip(text_of(b["title"]), 24),
                 **({"description": clip(text_of(b["description"]), 72)} if b.get("description") else {})}
                for b in outbound.buttons[:10]]
        body.update(type="interactive", interactive={
            "type": "list", "body": {"text": clip(outbound.text, 1024)},
            "action": {"button": clip(outbound.extra.get("list_button", "Options"), 20),
                       "sections": [{"title": clip(outbound.extra.get("list_title", "Options"), 24), "rows": rows}]}})
    else:
        body.update(type="text", text={"body": clip(outbound.text, 4096), "preview_url": False})
    return body


# Every status webhook of a send carries back its biz_opaque_callback_data: the outbox puts its own id for the
# message there (Outbound.extra["ref"]), so a send whose answer was lost (crash, timeout) is recognised, not repeated.
CONFIRMS_SENDS = True


def send(outbound: Outbound, credentials: dict, api_base: str, http: Http) -> str:
    """Send one message; returns its wamid or raises the SendError for the platform's code."""
    url = f"{api_base.rstrip('/')}/{credentials['phone_number_id']}/messages"
    body = render(outbound)
    if outbound.extra.get("ref"):
        body["biz_opaque_callback_data"] = clip(text_of(outbound.extra["ref"]), 512)
    return graph_send(http, url, body, credentials["access_token"], ERRORS, _wamid)


def _wamid(sent: dict):
    """The id of a message the Cloud API accepted: {"messages": [{"id": "wamid..."}]}."""
    messages = sent.get("messages")
    return messages[0].get("id") if isinstance(messages, list) and messages and isinstance(messages[0], dict) else None
