"""Zalo Official Account (API v3): X-ZEvent-Signature, events -> Inbound, CS messages, ZNS templates, token refresh."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import replace
from datetime import timedelta
from typing import Callable, Mapping

from appliance.channels import Inbound, Outbound
from appliance.channels.platform import (
    Http, NotFollower, build, OutsideWindow, PayloadError, Permanent, RateLimited, SendError, SignatureError,
    TokenExpired, Transient, by_http_status, clip, load_json, error_code, obj, refusal, text_of,
)

log = logging.getLogger(__name__)

KIND = "zalo"
FREE_WINDOW = timedelta(hours=48)  # free consultation replies within 48 h of the user's last interaction
HARD_WINDOW = timedelta(days=7)  # after 7 days nothing goes through the OA API (-230): ZNS only
MEDIA_EVENTS = {"user_send_image": "image", "user_send_file": "file", "user_send_sticker": "sticker",
                "user_send_gif": "gif", "user_send_audio": "audio", "user_send_video": "video",
                "user_send_link": "link"}


class Refreshable(TokenExpired):
    """-220: the access token expired; the refresh token gets a new one."""


ERRORS: dict[int, type[SendError]] = {
    -216: TokenExpired,  # invalid access token
    -220: Refreshable,  # access token expired
    -124: Refreshable,
    -213: NotFollower,  # the user does not follow the OA
    -230: OutsideWindow,  # no interaction in 7 days
    -32: RateLimited,
    -201: Permanent,  # invalid parameters
    -211: Permanent,  # out of quota
}


def verify_handshake(args: Mapping[str, str], credentials: dict) -> str | None:
    """Zalo has no GET handshake (the domain is verified in the Zalo console)."""
    return None


def check_signature(raw: bytes, headers: Mapping[str, str], credentials: dict) -> None:
    """mac = hex SHA-256(app_id + raw body + body.timestamp + OA secret key): a plain hash, not an HMAC."""
    header = headers.get("X-ZEvent-Signature", "").strip()
    if not header:
        raise SignatureError(missing=True)
    timestamp = _top_level_timestamp(raw)  # the body is parsed only once it is known to come from Zalo
    material = credentials.get("app_id", "").encode() + raw + timestamp + credentials.get("oa_secret_key", "").encode()
    expected = hashlib.sha256(material).hexdigest()
    given = header[4:] if header.startswith("mac=") else header
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise SignatureError(missing=False)


# JSON tokens for a flat scan: a string (its closing quote optional so an unterminated one cannot make the scan
# quadratic), a structural character, or any other run (numbers, true, false, null, junk).
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.S)


def _top_level_timestamp(raw: bytes) -> bytes:
    """The body's top-level "timestamp" as UTF-8 text (as text_of gives it), found without parsing the body.

    Anything odd yields "" or a wrong value, which only makes the signature fail: the scan needs to be exact
    for well-formed bodies, and bounded (linear, no recursion) for every other."""
    depth, previous, key = 0, b"", None
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and previous == b":" and key == b'"timestamp"':
            try:
                return text_of(json.loads(token)).encode()  # one scalar token: small and flat
            except ValueError:  # not JSON, too many digits, or a lone surrogate (UnicodeEncodeError)
                return b""
        elif depth == 1 and previous in (b"{", b","):
            key = token
        previous = token
    return b""


# --- parsing -------------------------------------------------------------------------------------------

def _attachment(body: dict) -> dict:
    attachments = (body.get("message") or {}).get("attachments") or []
    return attachments[0] if attachments and isinstance(attachments[0], dict) else {}


def _text(body: dict, base: dict) -> Inbound:
    return Inbound(kind="text", text=text_of((body.get("message") or {}).get("text")), **base)


def _media(body: dict, base: dict) -> Inbound:
    attachment = _attachment(body)
    payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
    return Inbound(kind="media", text=text_of((body.get("message") or {}).get("text")),
                   media={"type": MEDIA_EVENTS.get(body["event_name"], "attachment"),
                          "url": text_of(payload.get("url")), "thumbnail": payload.get("thumbnail")}, **base)


def _location(body: dict, base: dict) -> Inbound:
    payload = _attachment(body).get("payload") or {}
    point = payload.get("coordinates") or {}
    return Inbound(kind="location", location={"latitude": point.get("latitude"), "longitude": point.get("longitude")},
                   **base)


def _follow(body: dict, base: dict) -> Inbound:
    follower = text_of((body.get("follower") or {}).get("id"))
    return Inbound(kind=body["event_name"], **{**base, "user_id": follower,
                                               "platform_id": f"{body['event_name']}:{follower}:{base['timestamp']}"})


def _seen(body: dict, base: dict) -> Inbound:
    ids = [text_of(i) for i in (body.get("message") or {}).get("msg_ids") or []]
    status = "read" if body["event_name"] == "user_seen_message" else "delivered"
    return Inbound(kind="status", status={"message_id": None, "message_ids": ids, "status": status},
                   **{**base, "platform_id": f"{status}:{base['user_id']}:{base['timestamp']}"})


def _reaction(body: dict, base: dict) -> Inbound:
    message = body.get("message") or {}
    return Inbound(kind="reaction", reaction={"message_id": text_of(message.get("msg_id")),
                                              "emoji": text_of(message.get("react_icon"))},
                   **{**base, "platform_id": f"reaction:{base['user_id']}:{base['timestamp']}"})


EVENTS: dict[str, Callable[[dict, dict], Inbound]] = {
    "user_send_text": _text, "user_send_location": _location, "follow": _follow, "unfollow": _follow,
    "user_seen_message": _seen, "user_received_message": _seen, "user_reacted_message": _reaction,
    **{name: _media for name in MEDIA_EVENTS},
}


def parse(raw: bytes) -> list[Inbound]:
    """One Zalo event -> [Inbound]; echoes of the OA's own messages (oa_send_*) are dropped."""
    body = load_json(raw)
    name = body.get("event_name")
    if not isinstance(name, str) or not name:
        raise PayloadError("a Zalo event needs an event_name")
    if name.startswith("oa_send_"):
        return []
    sender = text_of(obj(body.get("sender")).get("id"))
    stamp = text_of(body.get("timestamp"))
    msg_id = text_of((body.get("message") or {}).get("msg_id")) if isinstance(body.get("message"), dict) else ""
    base = {"platform_id": msg_id or f"{name}:{sender}:{stamp}", "user_id": sender, "timestamp": stamp, "raw": body}
    handler = EVENTS.get(name)
    return [build(handler, body, base) if handler else Inbound(kind="unknown", **base)]


# --- sending -------------------------------------------------------------------------------------------

def render(outbound: Outbound) -> dict:
    """The v3 CS message body: text (≤ 2000), with up to 5 query buttons when given."""
    message: dict = {"text": clip(outbound.text, 2000)}
    if outbound.buttons:
        message["attachment"] = {"type": "template", "payload": {"buttons": [
            {"title": clip(text_of(b["title"]), 100), "type": "oa.query.hide", "payload": text_of(b["id"])}
            for b in outbound.buttons[:5]]}}
    return {"recipient": {"user_id": outbound.to}, "message": message}


def render_zns(outbound: Outbound) -> dict:
    """A ZNS template send to the customer's phone number."""
    template = outbound.template or {}
    params = template.get("params") or {}
    if isinstance(params, list):
        params = {f"p{i + 1}": value for i, value in enumerate(params)}
    return {"phone": text_of(template.get("phone")), "template_id": text_of(template["name"]),
            "template_data": params, "tracking_id": text_of(outbound.extra.get("tracking_id"))}


def _check(answer, key: str) -> str:
    code = answer.body.get("error")
    if answer.status == 200 and code == 0:
        return text_of((answer.body.get("data") or {}).get(key))
    if isinstance(code, int) and code:
        cls = ERRORS.get(code) or (by_http_status(answer.status) if answer.status != 200 else Transient)
        raise cls(refusal("Zalo", code, answer.status), code, answer.retry_after)
    raise by_http_status(answer.status)(f"HTTP {answer.status}", answer.status, answer.retry_after)


def prepare(outbound: Outbound, customer, settings) -> Outbound:
    """A ZNS template goes to the customer's phone number (a custom field) through the ZNS endpoint."""
    template = outbound.template
    if template and not template.get("phone"):
        template = {**template, "phone": (customer.custom_fields or {}).get("phone", "")}
    return replace(outbound, template=template, extra={**outbound.extra, "zns_base": settings.zalo_zns_base})


def send(outbound: Outbound, credentials: dict, api_base: str, http: Http) -> str:
    """Send a CS message (or a ZNS template); Zalo reports failures as negative codes even with HTTP 200."""
    headers = {"access_token": credentials["access_token"]}
    if outbound.template:
        base = outbound.extra.get("zns_base") or "https://business.openapi.zalo.me"
        return _check(http.post(f"{base.rstrip('/')}/message/template", render_zns(outbound), headers), "msg_id")
    return _check(http.post(f"{api_base.rstrip('/')}/v3.0/oa/message/cs", render(outbound), headers), "message_id")


def refresh(credentials: dict, oauth_base: str, http: Http) -> dict:
    """New credentials from the (single-use) refresh token; TokenExpired if there is none or it is refused."""
    if not credentials.get("refresh_token") or not credentials.get("app_secret"):
        raise TokenExpired("the access token expired and no refresh_token/app_secret is stored", -220)
    answer = http.post(f"{oauth_base.rstrip('/')}/v4/oa/access_token",
                       {"refresh_token": credentials["refresh_token"], "app_id": credentials.get("app_id", ""),
                        "grant_type": "refresh_token"}, {"secret_key": credentials["app_secret"]}, form=True)
    token = answer.body.get("access_token")
    if answer.status != 200 or not token:
        code = error_code(answer.body.get("error"))
        raise TokenExpired(refusal("Zalo (token refresh)", code, answer.status), code)
    return {**credentials, "access_token": text_of(token),
            "refresh_token": text_of(answer.body.get("refresh_token") or credentials["refresh_token"])}


def renew(services, channel, credentials: dict, http: Http) -> dict:
    """Fresh credentials after the access token expired (the caller holds the outbox's refresh lock): another
    worker's refresh when it stored one meanwhile (refresh tokens are single-use), else our own, stored."""
    from appliance.records import Channel

    stored = Channel.get_by_id(channel.id).credentials
    fresh = services.vault.decrypt(stored, f"channel:{channel.id}") if stored else credentials
    if fresh.get("access_token") != credentials.get("access_token"):
        return fresh
    fresh = refresh(credentials, services.settings.zalo_oauth_base, http)
    Channel.update(credentials=services.vault.encrypt(fresh, f"channel:{channel.id}")).where(
        Channel.id == channel.id).execute()
    log.info("refreshed the access token of zalo channel %s", channel.id)
    return fresh
