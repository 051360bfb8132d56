"""Facebook Messenger: hub handshake, X-Hub-Signature-256, page webhooks -> Inbound, Send API -> mid."""
from __future__ import annotations

from datetime import timedelta
from typing import Mapping

from appliance.channels import Inbound, Outbound
from appliance.channels.platform import (
    Blocked, Http, build, OutsideWindow, PayloadError, Permanent, RateLimited, TokenExpired, Transient,
    check_hub_signature, clip, graph_send, hub_challenge, items, load_json, obj, text_of, whole_number,
)

KIND = "messenger"
FREE_WINDOW = timedelta(hours=24)  # standard messaging window; after it only a MESSAGE_TAG send
HARD_WINDOW = FREE_WINDOW
TAGS = ("CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT")

ERRORS = {
    190: TokenExpired,
    10: OutsideWindow,  # subcode 2018278: outside the 24 h window
    551: Permanent,  # this person is not available right now
    200: Blocked,  # permissions / user blocked the page
    100: Permanent,  # invalid parameter (e.g. unknown PSID)
    4: RateLimited,
    32: RateLimited,
    613: RateLimited,
    2: Transient,
    1200: Transient,
}
MEDIA = ("image", "video", "audio", "file")
MAX_WATERMARK = 253_402_300_799_999  # 9999-12-31 in ms since the epoch: the latest time a datetime can hold


def verify_handshake(args: Mapping[str, str], credentials: dict) -> str | None:
    """The hub.challenge to echo back when the verify token matches; None for a 403."""
    return hub_challenge(args, credentials.get("verify_token", ""))


def check_signature(raw: bytes, headers: Mapping[str, str], credentials: dict) -> None:
    """Raise SignatureError unless Meta signed these exact bytes with the app secret."""
    check_hub_signature(raw, headers, credentials.get("app_secret", ""))


def _message(item: dict, base: dict) -> Inbound | None:
    message = item["message"]
    if message.get("is_echo"):
        return _echo(message, item, base)
    base = {**base, "platform_id": text_of(message.get("mid")) or base["platform_id"]}
    text = text_of(message.get("text"))
    if isinstance(message.get("quick_reply"), dict):
        return Inbound(kind="button", button_id=text_of(message["quick_reply"].get("payload")), text=text, **base)
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    if attachments:
        first = attachments[0]
        payload = first.get("payload") if isinstance(first.get("payload"), dict) else {}
        if first.get("type") == "location":
            point = payload.get("coordinates") or {}
            return Inbound(kind="location", location={"latitude": point.get("lat"), "longitude": point.get("long")},
                           text=text, **base)
        kind = first.get("type") if first.get("type") in MEDIA else "attachment"
        return Inbound(kind="media", media={"type": kind, "url": text_of(payload.get("url"))}, text=text, **base)
    return Inbound(kind="text" if text else "unknown", text=text, **base)


def _echo(message: dict, item: dict, base: dict) -> Inbound | None:
    """A page message echoed back: a "sent" status when it is ours (it carries our metadata), else dropped."""
    ref = text_of(message.get("metadata"))
    if not ref or not message.get("mid"):
        return None  # sent by a person from the page inbox, or by another app
    mid = text_of(message["mid"])
    return Inbound(kind="status", status={"message_id": mid, "status": "sent", "ref": ref},
                   **{**base, "platform_id": f"{mid}:echo", "user_id": text_of((item.get("recipient") or {}).get("id"))})


def _postback(item: dict, base: dict) -> Inbound:
    postback = item["postback"]
    base = {**base, "platform_id": text_of(postback.get("mid")) or base["platform_id"]}
    return Inbound(kind="button", button_id=text_of(postback.get("payload")), text=text_of(postback.get("title")),
                   **base)


def _delivery(item: dict, base: dict) -> Inbound:
    delivery = item["delivery"]
    mids = [text_of(m) for m in delivery.get("mids") or []]
    return Inbound(kind="status", status={"message_id": None, "message_ids": mids, "status": "delivered",
                                          "watermark": _watermark(delivery)}, **base)


def _read(item: dict, base: dict) -> Inbound:
    return Inbound(kind="status", status={"message_id": None, "status": "read", "watermark": _watermark(item["read"])},
                   **base)


def _watermark(status: dict) -> int | None:
    """The watermark (ms since the epoch) or None; another value makes the event `unknown` here, at parse time,
    so the outbox only ever sees a time it can compare."""
    value = status.get("watermark")
    return None if value is None else whole_number(value, MAX_WATERMARK)


def _reaction(item: dict, base: dict) -> Inbound:
    reaction = item["reaction"]
    emoji = "" if reaction.get("action") == "unreact" else text_of(reaction.get("emoji"))
    return Inbound(kind="reaction", reaction={"message_id": text_of(reaction.get("mid")), "emoji": emoji}, **base)


def _optin(item: dict, base: dict) -> Inbound:
    """The person agreed to messages from the page (messaging_optins); `ref` says which plugin or request."""
    optin = item["optin"]
    return Inbound(kind="opt_in", text=text_of(optin.get("ref") or optin.get("payload")), **base)


ITEM_TYPES = {"optin": _optin, "message": _message, "postback": _postback, "delivery": _delivery, "read": _read,
              "reaction": _reaction}


def parse(raw: bytes) -> list[Inbound]:
    """Every messaging item of every entry; echoes dropped, unknown items kept as `unknown`."""
    body = load_json(raw)
    if body.get("object") not in (None, "page"):
        raise PayloadError("not a page webhook")
    events: list[Inbound] = []
    for entry in items(body, "entry"):
        for item in items(entry, "messaging"):
            sender = text_of(obj(item.get("sender")).get("id"))
            name = next((n for n in ITEM_TYPES if isinstance(item.get(n), dict)), None)
            stamp = text_of(item.get("timestamp"))
            extra = (item.get(name) or {}).get("watermark", "") if name in ("delivery", "read") else ""
            base = {"platform_id": f"{name or 'unknown'}:{sender}:{stamp}{':' + str(extra) if extra else ''}",
                    "user_id": sender, "timestamp": stamp, "raw": item}
            event = build(ITEM_TYPES[name], item, base) if name else Inbound(kind="unknown", **base)
            if event is not None:
                events.append(event)
    return events


def render(outbound: Outbound) -> dict:
    """The Send API body: text with up to 13 quick replies; a template is a MESSAGE_TAG send."""
    message: dict = {"text": clip(outbound.text, 2000)}
    if outbound.buttons:
        message["quick_replies"] = [{"content_type": "text", "title": clip(text_of(b["title"]), 20),
                                     "payload": clip(text_of(b["id"]), 1000)} for b in outbound.buttons[:13]]
    body = {"recipient": {"id": outbound.to}, "messaging_type": "RESPONSE", "message": message}
    if outbound.template:
        tag = outbound.template.get("name", "").upper()
        body.update(messaging_type="MESSAGE_TAG", tag=tag if tag in TAGS else "ACCOUNT_UPDATE")
        if not outbound.text:
            message["text"] = clip(" ".join(text_of(p) for p in outbound.template.get("params") or []), 2000)
    return body


# The echo of a send (message_echoes) carries back its message.metadata: the outbox puts its own id for the message
# there (Outbound.extra["ref"]), so a send whose answer was lost (crash, timeout) is recognised, not repeated.
CONFIRMS_SENDS = True


def send(outbound: Outbound, credentials: dict, api_base: str, http: Http) -> str:
    """Send one message with the page token; returns its mid or raises the SendError for the platform's code."""
    url = f"{api_base.rstrip('/')}/me/messages"
    body = render(outbound)
    if outbound.extra.get("ref"):
        body["message"]["metadata"] = clip(text_of(outbound.extra["ref"]), 1000)
    return graph_send(http, url, body, credentials["page_access_token"], ERRORS, lambda sent: sent.get("message_id"))
