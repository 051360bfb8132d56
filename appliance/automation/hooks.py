"""Outgoing webhooks of the automation: a rule's or a flow's {"type": "webhook", "url", "secret"} action.

A call is a HookCall row first (the ledger: huey only rings), stored by the turn and sent by a background task, so a
reply never waits for a tenant's server. The task makes one POST of the row's exact body with

    X-Appliance-Signature: sha256=<hex HMAC-SHA256(secret, body)>
    X-Appliance-Timestamp: <unix seconds of this attempt>

within `hook_timeout_seconds`; a 2xx answer marks it sent. A 5xx, 408, 425 or 429 answer (Retry-After honoured), a
time-out or no connection is tried again after a backoff (`hook_backoff_seconds`, doubling) up to `hook_attempts`
attempts, then the row is failed with the reason; a redirect or another 4xx fails it at once. A restart re-queues the
pending rows (a call cut short by a crash is sent again: receivers dedupe by the body's "id"), and a minutely sweep
rings for pending rows whose task was lost.

The URL must be https to a public address unless the platform admin allows its host (`outbound_allow_hosts`), checked
when the action is saved and again right before each attempt (what a name resolves to may change). The secret is
sealed by the vault bound to the URL it was given with (check_action stores "secret_sealed", never the secret): an
action whose URL is changed without the secret given again is refused, and a sealed secret copied next to another
URL does not open, so a stored secret never travels to an address it was not given for. (An action stored without
any secret, which no check here lets through, is sent without the signature header.)
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

import requests

from appliance import outbound, tasks
from appliance.db import database
from appliance.errors import AppError
from appliance.outbound import UnsafeUrl, Unresolvable, check_url
from appliance.records import Conversation, HookCall, Message, encode_json, new_id, utcnow
from appliance.vault import VaultError

log = logging.getLogger(__name__)

MIN_SECRET, MAX_SECRET = 8, 256
BACKOFF_CAP = 3600.0  # the longest wait between two attempts (seconds)
RETRY_AFTER_CAP = 3600.0
RETRIED = (408, 425, 429)  # and every 5xx
SWEEP_GRACE = timedelta(seconds=30)  # a due row older than this has lost its task
MAX_TEXT = 4000  # characters of the customer's message carried in the body
FIELDS = ("type", "url", "secret", "secret_sealed")


# --- at save ------------------------------------------------------------------------------------------------

def check_action(action: dict, services=None, previous: list | tuple = ()) -> dict:
    """A webhook action ready to store: {"type", "url", "secret_sealed"} with the URL checked now and the secret
    sealed to it; else AppError 422 naming the field. Without a secret, the sealed one of a `previous` action (the
    stored rule's or flow's actions, A/B variants included) with the same URL is kept. `services` defaults to the
    running app's (in a request)."""
    services = services or _app_services()
    unknown = sorted(set(action) - set(FIELDS))
    if unknown:
        raise AppError(422, "invalid_action", f"A webhook action has no field '{unknown[0]}'; give 'url' and "
                                              "'secret'.")
    url = _checked(action.get("url"), services.settings)
    secret, sealed = action.get("secret"), action.get("secret_sealed")
    if secret is not None:
        if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
            raise AppError(422, "invalid_secret", f"Give 'secret' as a text of {MIN_SECRET} to {MAX_SECRET} "
                                                  "characters; the receiver checks each call's signature with it.")
        return {"type": "webhook", "url": url, "secret_sealed": seal(services.vault, url, secret)}
    if sealed is None:
        sealed = next((a.get("secret_sealed") for a in _webhooks(previous) if a.get("url") == url), None)
    if not isinstance(sealed, str) or not _opens(services.vault, url, sealed):
        raise AppError(422, "secret_required", "Give the webhook's 'secret' again: a stored secret only goes to the "
                                               "URL it was given with, and this URL is new.")
    return {"type": "webhook", "url": url, "secret_sealed": sealed}


def _webhooks(items) -> list[dict]:
    """The webhook actions among stored actions or steps, and inside their A/B variants."""
    found = []
    for item in items or ():
        if isinstance(item, dict) and item.get("type") == "webhook":
            found.append(item)
        elif isinstance(item, dict) and item.get("type") == "ab":
            for variant in item.get("variants") or ():
                found += _webhooks(variant.get("actions") if isinstance(variant, dict) else ())
    return found


def _checked(url, settings) -> str:
    """The URL as given (stripped) when it is safe to call, else UnsafeUrl (422 invalid_url) with a sentence."""
    check_url(url, settings.get("outbound_allow_hosts", ""), "url")
    return url.strip()


def seal(vault, url: str, secret: str) -> str:
    """The secret sealed by the vault for this URL only."""
    return vault.encrypt(secret, _context(url))


def _opens(vault, url: str, sealed: str) -> bool:
    try:
        vault.decrypt(sealed, _context(url))
    except VaultError:
        return False
    return True


def _context(url: str) -> str:
    return f"hook:{url}"


def _app_services():
    from appliance.web import services

    return services()


# --- at the turn --------------------------------------------------------------------------------------------

def call(services, tenant_id: str, action: dict, turn) -> int:
    """Store one call of a webhook action for this turn and ring the sender task; never sends here (the reply does
    not wait). The id of the HookCall row."""
    sealed = action.get("secret_sealed")
    if sealed is None and action.get("secret"):  # an action stored without check_action: sealed now, to its URL
        sealed = seal(services.vault, action["url"], action["secret"])
    body = encode_json(body_of(turn))
    with database.atomic():
        row = HookCall.create(tenant=tenant_id, url=action["url"], secret=sealed, body=body)
    turn.note(f"webhook call {row.id} queued")
    # inside a caller's transaction the row is not visible to the task yet: ring a moment later (the sweep backs it)
    ring(row.id, 1.0 if database.in_transaction() else 0.0)
    return row.id


def body_of(turn) -> dict:
    """What a call tells the receiver: the event, where it came from, the conversation, the customer and message.

    A turn that does not name its conversation or message (a flow resumed by a timer) gets the customer's latest
    conversation and the customer's last message in it."""
    customer = turn.customer
    conversation_id, text = turn.conversation_id, turn.text
    if conversation_id is None:
        conversation_id = (Conversation.select(Conversation.id).where(Conversation.customer == customer.id)
                           .order_by(Conversation.id.desc()).scalar())
    if not text and conversation_id is not None:
        text = (Message.select(Message.text).where((Message.conversation == conversation_id)
                                                   & (Message.direction == "in"))
                .order_by(Message.id.desc()).scalar()) or ""
    return {"event": "automation", "id": new_id("hk"), "tenant": turn.tenant_id, "source": turn.source or None,
            "conversation": conversation_id,
            "customer": {"id": customer.id, "name": customer.name, "tags": list(customer.tags or []),
                         "custom_fields": dict(customer.custom_fields or {})},
            "message": {"text": text[:MAX_TEXT]},
            "time": utcnow().isoformat(timespec="seconds") + "Z"}


def ring(call_id: int, delay: float = 0.0) -> None:
    """Queue the sender task for a committed row. Not in immediate mode (one-shot commands, tests without a worker):
    there the task would run on the caller's thread, the reply's, so the row waits for a worker's start-up re-queue
    or sweep instead."""
    if tasks.huey.immediate:
        return
    if delay > 0:
        tasks.send_hook.schedule(args=(call_id,), delay=delay)
    else:
        tasks.send_hook(call_id)


# --- the sender task ----------------------------------------------------------------------------------------

def send(services, call_id: int) -> None:
    """One attempt of a pending call that is due (any other row is left alone); the row records the outcome."""
    row = HookCall.claim(call_id)
    if row is None:
        return
    try:
        outcome, reason, wait = _attempt(services, row)
    except Exception as exc:  # a bug must not leave the row "sending" for ever
        log.exception("webhook call %d failed unexpectedly", row.id)
        outcome, reason, wait = "retry", f"internal error ({type(exc).__name__})", None
    _settle(services, row, outcome, reason, wait)


def _attempt(services, row: HookCall) -> tuple[str, str, float | None]:
    """("sent" | "retry" | "failed", the reason, Retry-After seconds or None)."""
    settings = services.settings
    try:
        _checked(row.url, settings)
    except Unresolvable as exc:
        return "retry", exc.message, None
    except UnsafeUrl as exc:
        return "failed", f"refused: {exc.message}", None
    try:
        secret = services.vault.decrypt(row.secret, _context(row.url)) if row.secret else None
    except VaultError:
        return "failed", "the signing secret cannot be read (the key file changed); save the action's secret again", None
    raw = row.body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "Appliance-Webhook/1",
               "X-Appliance-Timestamp": str(int(time.time()))}
    if secret:
        headers["X-Appliance-Signature"] = "sha256=" + signature(secret, raw)
    timeout = settings.hook_timeout_seconds
    try:
        response = services.outbox.http.session.post(row.url, data=raw, headers=headers, timeout=timeout,
                                                     allow_redirects=False, stream=True)
    except requests.Timeout:
        return "retry", f"the receiver did not answer within {timeout:g} seconds", None
    except requests.RequestException as exc:
        return "retry", f"could not reach the receiver ({type(exc).__name__})", None
    with response:  # the answer's body is never read: a receiver cannot make us download anything
        status = response.status_code
        wait = outbound.retry_after_seconds(response.headers.get("Retry-After"))
    if 200 <= status < 300:
        return "sent", f"answered {status}", None
    if status >= 500 or status in RETRIED:
        return "retry", f"the receiver answered {status}", wait
    if 300 <= status < 400:
        return "failed", f"the receiver answered {status} (a redirect); give the final URL", None
    return "failed", f"the receiver answered {status}", None


def signature(secret: str, raw: bytes) -> str:
    """The hex HMAC-SHA256 of the exact body bytes with the secret: what X-Appliance-Signature carries."""
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def _settle(services, row: HookCall, outcome: str, reason: str, wait: float | None) -> None:
    settings, host = services.settings, urlsplit(row.url).hostname
    if outcome == "sent":
        HookCall.settle(row.id, status="sent", error=None)
        log.info("webhook call %d of %s to %s sent (attempt %d)", row.id, row.tenant_id, host, row.attempts)
        return
    if outcome == "retry" and row.attempts < settings.hook_attempts:
        delay = outbound.backoff(row.attempts, settings.hook_backoff_seconds, BACKOFF_CAP)
        if wait is not None:
            delay = max(delay, min(wait, RETRY_AFTER_CAP))
        HookCall.settle(row.id, status="pending", error=reason, next_attempt_at=utcnow() + timedelta(seconds=delay))
        log.info("webhook call %d of %s to %s: %s; attempt %d of %d again in %.1fs", row.id, row.tenant_id, host,
                 reason, row.attempts + 1, settings.hook_attempts, delay)
        ring(row.id, delay)
        return
    if outcome == "retry":
        reason = f"gave up after {row.attempts} attempts: {reason}"
    HookCall.settle(row.id, status="failed", error=reason)
    log.warning("webhook call %d of %s to %s failed: %s", row.id, row.tenant_id, host, reason)


# --- start-up and the safety net ----------------------------------------------------------------------------

def requeue(services) -> int:
    """At start-up: calls cut short by a stop or crash ("sending") are pending again, and every pending call is
    rung for at its due time; how many."""
    HookCall.update(status="pending").where(HookCall.status == "sending").execute()
    now = utcnow()
    rows = HookCall.pending_due(now + timedelta(days=3650))
    for call_id, due in rows:
        ring(call_id, max(0.0, (due - now).total_seconds()))
    if rows:
        log.info("re-queued %d outgoing webhook calls", len(rows))
    return len(rows)


def kick_overdue(services) -> int:
    """Ring for pending calls due a while ago (their task was lost); the minutely safety net. How many."""
    rows = HookCall.pending_due(utcnow() - SWEEP_GRACE)
    for call_id, _ in rows:
        ring(call_id)
    return len(rows)
