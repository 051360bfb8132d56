"""Telegram Bot API: secret-token header, updates -> Inbound, sendMessage with inline keyboards."""
from __future__ import annotations

import hmac
import logging
import re
from typing import Callable, Mapping

from appliance.channels import Inbound, Outbound
from appliance.channels.platform import (
    Blocked, Http, build, PayloadError, Permanent, RateLimited, SendError, SignatureError, TokenExpired, Transient,
    by_http_status, clip, load_json, error_code, refusal, text_of, whole_number,
)

log = logging.getLogger(__name__)

KIND = "telegram"
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token
FREE_WINDOW = None  # a bot may write to a chat that started it at any time
HARD_WINDOW = None
MAX_UPDATE_ID = 2**63 - 1
MEDIA = ("photo", "document", "audio", "video", "voice", "sticker", "animation", "video_note")

ERRORS: dict[int, type[SendError]] = {
    429: RateLimited,  # parameters.retry_after says how long
    403: Blocked,  # bot was blocked by the user / kicked
    401: TokenExpired,  # the bot token was revoked
    400: Permanent,  # chat not found, bad request
    404: TokenExpired,  # wrong token in the URL
    500: Transient,
    502: Transient,
}


def verify_handshake(args: Mapping[str, str], credentials: dict) -> str | None:
    """Telegram has no GET handshake (setWebhook registers the URL)."""
    return None


def check_signature(raw: bytes, headers: Mapping[str, str], credentials: dict) -> None:
    """X-Telegram-Bot-Api-Secret-Token must equal the secret token given to setWebhook."""
    given = headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not given:
        raise SignatureError(missing=True)
    if not hmac.compare_digest(given.encode(), credentials.get("secret_token", "").encode()):
        raise SignatureError(missing=False)


def _message(message: dict, base: dict) -> Inbound:
    chat = message.get("chat") or {}
    sender = message.get("from") or {}
    base = {**base, "user_id": text_of(chat.get("id") or sender.get("id")), "user_name": text_of(sender.get("first_name")),
            "timestamp": text_of(message.get("date"))}
    media = next((m for m in MEDIA if message.get(m)), None)
    if media:
        item = message[media][-1] if isinstance(message[media], list) else message[media]  # photo: largest size last
        kind = "image" if media == "photo" else media
        return Inbound(kind="media", text=text_of(message.get("caption")),
                       media={"type": kind, "id": text_of((item or {}).get("file_id"))}, **base)
    if isinstance(message.get("location"), dict):
        point = message["location"]
        return Inbound(kind="location", location={"latitude": point.get("latitude"), "longitude": point.get("longitude")},
                       **base)
    if "text" in message:
        return Inbound(kind="text", text=text_of(message.get("text")), **base)
    return Inbound(kind="unknown", **base)


def _callback(query: dict, base: dict) -> Inbound:
    chat = ((query.get("message") or {}).get("chat") or {})
    sender = query.get("from") or {}
    return Inbound(kind="button", button_id=text_of(query.get("data")), text=text_of(query.get("data")),
                   user_id=text_of(chat.get("id") or sender.get("id")), user_name=text_of(sender.get("first_name")),
                   **base)


def _member(update: dict, base: dict) -> Inbound:
    change = update["my_chat_member"]
    left = (change.get("new_chat_member") or {}).get("status") in ("kicked", "left")
    return Inbound(kind="unfollow" if left else "follow", user_id=text_of((change.get("chat") or {}).get("id")),
                   timestamp=text_of(change.get("date")), **base)


def _reaction(update: dict, base: dict) -> Inbound:
    change = update["message_reaction"]
    emoji = next((r.get("emoji") for r in change.get("new_reaction") or [] if isinstance(r, dict)), "")
    return Inbound(kind="reaction", user_id=text_of((change.get("chat") or {}).get("id")),
                   reaction={"message_id": text_of(change.get("message_id")), "emoji": text_of(emoji)}, **base)


UPDATES: dict[str, Callable[[dict, dict], Inbound]] = {
    "message": lambda u, b: _message(u["message"], b),
    "callback_query": lambda u, b: _callback(u["callback_query"], b),
    "my_chat_member": _member,
    "message_reaction": _reaction,
}


def parse(raw: bytes) -> list[Inbound]:
    """One update -> [Inbound]; deduplicated on update_id."""
    update = load_json(raw)
    try:  # the deduplication key: a whole number, as Telegram sends it
        update_id = whole_number(update.get("update_id"), MAX_UPDATE_ID)
    except ValueError:
        raise PayloadError("a Telegram update needs a whole-number update_id") from None
    base = {"platform_id": str(update_id), "raw": update}
    name = next((n for n in UPDATES if isinstance(update.get(n), dict)), None)
    return [build(UPDATES[name], update, base) if name else Inbound(kind="unknown", **base)]


def render(outbound: Outbound) -> dict:
    """sendMessage body: text (≤ 4096) and an inline keyboard, one button a row (callback_data ≤ 64 bytes)."""
    body: dict = {"chat_id": outbound.to, "text": clip(outbound.text, 4096)}
    if outbound.template and not outbound.text:
        body["text"] = clip(" ".join(text_of(p) for p in outbound.template.get("params") or []), 4096)
    if outbound.buttons:
        body["reply_markup"] = {"inline_keyboard": [[{
            "text": clip(text_of(b["title"]), 64),
            "callback_data": text_of(b["id"]).encode()[:64].decode("utf-8", "ignore")}] for b in outbound.buttons]}
    return body


def _call(http: Http, base: str, token: str, method: str, body: dict) -> dict:
    answer = http.post(f"{base.rstrip('/')}/bot{token}/{method}", body)
    if answer.status == 200 and answer.body.get("ok"):
        return answer.body.get("result") or {}
    code = error_code(answer.body.get("error_code")) or answer.status
    retry_after = (answer.body.get("parameters") or {}).get("retry_after") or answer.retry_after
    cls = ERRORS.get(code) or by_http_status(answer.status)
    raise cls(refusal("Telegram", code, answer.status), code, retry_after)


def send(outbound: Outbound, credentials: dict, api_base: str, http: Http) -> str:
    """Answer a pending button tap (if any), then sendMessage; returns the message_id."""
    token = credentials["bot_token"]
    callback = outbound.extra.get("callback_query_id")
    if callback:
        try:
            _call(http, api_base, token, "answerCallbackQuery", {"callback_query_id": callback})
        except Permanent:
            pass  # the spinner times out by itself; the reply still matters
    return text_of(_call(http, api_base, token, "sendMessage", render(outbound)).get("message_id"))


def register_webhook(url: str, credentials: dict, api_base: str, http: Http) -> None:
    """setWebhook: Telegram then POSTs the update kinds we parse to `url`, each with the channel's secret token."""
    _call(http, api_base, credentials["bot_token"], "setWebhook",
          {"url": url, "secret_token": credentials["secret_token"], "allowed_updates": list(UPDATES)})


def unregister_webhook(credentials: dict, api_base: str, http: Http) -> None:
    """deleteWebhook: Telegram stops posting to a channel that was disconnected."""
    _call(http, api_base, credentials["bot_token"], "deleteWebhook", {})


def reply_extra(inbound: Inbound) -> dict:
    """What a reply to this inbound needs: the callback query to answer."""
    query = inbound.raw.get("callback_query") if inbound.raw else None
    return {"callback_query_id": text_of(query.get("id"))} if isinstance(query, dict) and query.get("id") else {}


# --- connecting a channel: Telegram posts updates only to a URL registered with setWebhook ---------------------

def check_credentials(credentials: dict) -> None:
    """A 422 for a secret_token setWebhook would refuse."""
    from appliance.errors import AppError

    if not SECRET_TOKEN.fullmatch(credentials["secret_token"]):
        raise AppError(422, "invalid_credentials", "A Telegram secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -.")


def connect(webhook_url: str, credentials: dict, api_base: str, http: Http) -> dict:
    """setWebhook with a channel's new credentials: {"registered": bool, "reason"?}; a refused token is a 422."""
    from appliance.errors import AppError

    if not webhook_url.startswith("https://"):
        return {"registered": False, "reason": "Telegram delivers updates only to https URLs: set the public_url "
                "setting to this appliance's https address and send the credentials again (PATCH /channels/<id>), "
                "or call setWebhook yourself with webhook_url and the channel's secret_token."}
    try:
        register_webhook(webhook_url, credentials, api_base, http)
    except TokenExpired:
        raise AppError(422, "invalid_credentials",
                       "Telegram refused this bot token; copy it again from @BotFather.") from None
    except SendError as exc:
        return {"registered": False, "reason": f"Telegram did not take the webhook ({exc}); the channel is saved: "
                "send its credentials again (PATCH /channels/<id>) to retry."}
    return {"registered": True}


def disconnect(channel_id: str, credentials: dict, api_base: str, http: Http) -> None:
    """Best effort: ask Telegram to stop posting to the webhook (else it retries the dead URL for a day)."""
    try:
        unregister_webhook(credentials, api_base, http)
    except SendError as exc:
        log.info("deleteWebhook for telegram channel %s failed (%s); disconnecting anyway", channel_id, exc.reason)
