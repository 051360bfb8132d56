"""What the four platform modules share: send errors, the HTTP call, and Meta's hub handshake and signature.

Each platform maps its own error codes to these classes with a dispatch table; the outbox acts on the class.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import requests

from appliance import jsonbody
from appliance.errors import AppError
from appliance.outbound import retry_after_seconds


class PayloadError(AppError, ValueError):
    """A webhook body that is not what the platform sends (answered with 400); `detail` says what is wrong."""

    status, code = 400, "malformed_payload"

    def __init__(self, detail: str):
        super().__init__(f"The webhook body could not be read: {detail}.")
        self.detail = detail


class SignatureError(AppError):
    """A webhook that the platform did not sign: missing (401) or wrong (403)."""

    def __init__(self, missing: bool):
        super().__init__(401 if missing else 403, "missing_signature" if missing else "invalid_signature",
                         "The webhook signature is missing or does not match this channel's secret.")


class SendError(AppError):
    """A send the platform refused (502); `reason`, also its code, is what the outbox records on the message.

    `platform_code` is the platform's own error code (a number, or a transport label such as "timeout")."""

    status = 502
    reason = "send_failed"

    def __init__(self, message: str, platform_code: Any = None, retry_after: float | None = None):
        super().__init__(self.status, self.reason, message)
        self.platform_code = platform_code
        self.retry_after = retry_after


class Transient(SendError):
    """Worth retrying with backoff: 5xx, timeouts, generic platform errors."""

    reason = "platform_unavailable"


class RateLimited(Transient):
    """The platform asks us to slow down; wait at least `retry_after` seconds when given."""

    reason = "rate_limited"


class Permanent(SendError):
    """Retrying will not help: the user blocked us, is unreachable, or the request is invalid."""

    reason = "undeliverable"


class Blocked(Permanent):
    """The user blocked the bot or page."""

    reason = "blocked"


class NotFollower(Permanent):
    """Zalo: the user does not follow the Official Account."""

    reason = "not_follower"


class OutsideWindow(Permanent):
    """Free-form messages are not allowed any more; only a template may be sent."""

    reason = "outside_window"


class UnsafeDestination(Permanent):
    """The channel's own api_base is no longer a place the appliance sends credentials to (see outbound.py)."""

    reason = "unsafe_api_base"


class TokenExpired(SendError):
    """The channel's token is expired or revoked: the admin must act (or Zalo refreshes it)."""

    reason = "token_expired"


@dataclass(frozen=True)
class Answer:
    """A platform's HTTP answer: status, JSON body (or {}), and the Retry-After header in seconds."""

    status: int
    body: dict
    retry_after: float | None


class Http:
    """One requests.Session with the outbox's timeout; transport failures become `Transient`."""

    def __init__(self, timeout: float, session: requests.Session | None = None):
        self.timeout = timeout
        self.session = session or requests.Session()

    def post(self, url: str, body: dict, headers: Mapping[str, str] | None = None, form: bool = False) -> Answer:
        """POST JSON (or a form) and return the answer; never raises for an HTTP status."""
        try:
            if form:
                response = self.session.post(url, data=body, headers=dict(headers or {}), timeout=self.timeout)
            else:
                response = self.session.post(url, json=body, headers=dict(headers or {}), timeout=self.timeout)
        except requests.Timeout:
            raise Transient("the platform did not answer in time", "timeout") from None
        except requests.RequestException as exc:
            raise Transient(f"could not reach the platform ({type(exc).__name__})", "connection") from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        return Answer(response.status_code, data if isinstance(data, dict) else {},
                      retry_after_seconds(response.headers.get("Retry-After")))


def by_http_status(status: int) -> type[SendError]:
    """The error class for an HTTP status when the platform's own code is unknown."""
    if status == 429:
        return RateLimited
    if status in (401,):
        return TokenExpired
    if status == 403:
        return Blocked
    if status >= 500 or status in (408, 409):
        return Transient
    return Permanent


# The webhook view applies the max_body_bytes setting before parsing; this only bounds other callers (tests, CLI).
PARSE_MAX_BYTES = 1 << 30


def load_json(raw: bytes, max_bytes: int = PARSE_MAX_BYTES) -> dict:
    """The webhook body as a JSON object (read by the one safe JSON reader), or PayloadError."""
    try:
        return jsonbody.loads_object(raw, max_bytes, "The body is not a JSON object.")
    except jsonbody.JsonBodyError as exc:  # a webhook's one code for every unreadable body
        raise PayloadError(exc.message[0].lower() + exc.message[1:].rstrip(".")) from None  # PayloadError adds "."


def items(parent: Any, key: str) -> list[dict]:
    """parent[key] as a list of objects (missing -> []); anything else is a malformed payload."""
    if not isinstance(parent, dict):
        raise PayloadError(f"expected an object around '{key}'")
    value = parent.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadError(f"'{key}' must be a list of objects")
    return value


SHAPE_ERRORS = (AttributeError, TypeError, KeyError, ValueError, IndexError)


def build(builder: Callable[[dict, dict], Any], item: dict, base: dict):
    """builder(item, base); an item of an unexpected shape becomes an `unknown` event (stored, skipped)."""
    from appliance.channels import Inbound

    try:
        return builder(item, base)
    except SHAPE_ERRORS:
        return Inbound(kind="unknown", **base)


def obj(value: Any) -> dict:
    """A platform field that should be an object: itself, or {} when missing or of another type."""
    return value if isinstance(value, dict) else {}


def whole_number(value: Any, limit: int) -> int:
    """A platform number field that must be a whole number in 0..limit; ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"expected a whole number from 0 to {limit}")
    return value


def text_of(value: Any) -> str:
    """A platform string field, tolerating numbers and missing values."""
    return "" if value is None else str(value)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Meta (WhatsApp and Messenger): the hub handshake and X-Hub-Signature-256 ---------------------------

def hub_challenge(args: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo when the GET carries subscribe + our verify token; None otherwise."""
    given = args.get("hub.verify_token", "")
    if args.get("hub.mode") != "subscribe" or not verify_token:
        return None
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return args.get("hub.challenge", "")


def check_hub_signature(raw: bytes, headers: Mapping[str, str], app_secret: str) -> None:
    """X-Hub-Signature-256 must be sha256=HMAC(app secret, the raw bytes as sent)."""
    header = headers.get("X-Hub-Signature-256", "")
    if not header:
        raise SignatureError(missing=True)
    expected = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
        raise SignatureError(missing=False)


def graph_error(answer: Answer, table: Mapping[int, type[SendError]]) -> SendError:
    """The error for a Graph API failure body {"error": {"code", ...}}: its class by code, our own sentence."""
    error = answer.body.get("error") if isinstance(answer.body.get("error"), dict) else {}
    code = error_code(error.get("code"))
    cls = table.get(code) or by_http_status(answer.status)
    return cls(refusal("The platform", code, answer.status), code, answer.retry_after)


def graph_send(http: Http, url: str, body: dict, token: str, table: Mapping[int, type[SendError]],
               sent_id: Callable[[dict], Any]) -> str:
    """POST one message to a Graph API (WhatsApp, Messenger) with a bearer token: the id `sent_id` finds in the
    answer, or the SendError for the platform's code."""
    answer = http.post(url, body, {"Authorization": f"Bearer {token}"})
    platform_id = sent_id(answer.body) if answer.status == 200 else None
    if platform_id:
        return text_of(platform_id)
    raise graph_error(answer, table)


def error_code(value: Any) -> int | None:
    """A platform's error code when it is a number, else None (any text from outside stays outside)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    return None


def refusal(who: str, code: int | None, status: int) -> str:
    """Our sentence for a refused call: the platform's numeric code and HTTP status, never its own words.

    A tenant can point api_base at any server it likes; echoing that server's text would turn errors into a scanner."""
    return f"{who} refused the request ({'error code ' + str(code) + ', ' if code is not None else ''}HTTP {status})"
