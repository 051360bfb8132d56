"""The cloud fallback: any OpenAI-compatible /v1/chat/completions endpoint, with the tenant's key or the platform's."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

import requests

from appliance.assistant.llm import Generation, ModelError
from appliance.outbound import UnsafeUrl, backoff, check_url, retry_after_seconds
from appliance.records import PlatformSecret, Tenant, utcnow

log = logging.getLogger(__name__)

PLATFORM_KEY = "cloud_api_key"
_RETRY_STATUSES = (408, 409, 425, 429, 500, 502, 503, 504)


class CloudError(ModelError):
    """The cloud model could not answer; the message says what to fix."""


@dataclass(frozen=True)
class CloudEndpoint:
    """Where and how to reach a cloud model. `repr` leaves the key out so it never reaches a log."""

    base_url: str
    api_key: str
    model: str
    connect_timeout: float = 5.0
    timeout: float = 60.0
    retries: int = 2
    max_tokens: int = 256
    owner: str = "tenant"  # tenant | platform

    def __repr__(self) -> str:
        return f"CloudEndpoint({self.base_url!r}, model={self.model!r}, owner={self.owner!r})"

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        if not base.endswith("/v1") and "/v1/" not in base + "/":
            base += "/v1"
        return base + "/chat/completions"


def set_platform_key(vault, api_key: str | None) -> None:
    """Store (or with None remove) the platform's cloud API key, encrypted with the vault."""
    if not api_key:
        PlatformSecret.delete().where(PlatformSecret.name == PLATFORM_KEY).execute()
        return
    PlatformSecret.insert(name=PLATFORM_KEY, value=vault.encrypt(api_key, f"platform:{PLATFORM_KEY}"),
                          updated_at=utcnow()).on_conflict_replace().execute()


def platform_key(vault) -> str | None:
    """The platform's cloud API key, decrypted, or None."""
    row = PlatformSecret.get_or_none(PlatformSecret.name == PLATFORM_KEY)
    return vault.decrypt(row.value, f"platform:{PLATFORM_KEY}") if row else None


CLOUD_FIELDS = ("base_url", "api_key", "model", "timeout")  # what a tenant may set under "cloud"
CLOUD_TIMEOUT = (1.0, 600.0)  # seconds a tenant may give as its cloud timeout
_WARNED: set[tuple[str, str]] = set()  # (tenant, problem) already logged: a bad stored value is logged once


def cloud_timeout_ok(value) -> bool:
    """True for a finite number of seconds within CLOUD_TIMEOUT (not a bool, a string or Infinity)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and CLOUD_TIMEOUT[0] <= value <= CLOUD_TIMEOUT[1])


def _warn_once(tenant_id: str, problem: str) -> None:
    if (tenant_id, problem) not in _WARNED:
        _WARNED.add((tenant_id, problem))
        log.warning("tenant %s: the stored cloud %s is not usable; using the default instead", tenant_id, problem)


def _stored(tenant_id: str, cloud) -> dict:
    """The tenant's stored cloud settings with unusable values (stored before they were checked) left out."""
    if not isinstance(cloud, dict):
        if cloud:
            _warn_once(tenant_id, "settings")
        return {}
    usable = {}
    for name, ok in (("base_url", lambda v: isinstance(v, str) and v.strip()),
                     ("model", lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 200),
                     ("timeout", cloud_timeout_ok)):
        value = cloud.get(name)
        if value is None or value == "":
            continue
        if ok(value):
            usable[name] = value
        else:
            _warn_once(tenant_id, name)
    return usable


def endpoint_for(services, tenant: Tenant, config: dict) -> CloudEndpoint | None:
    """The tenant's own endpoint and key if set, else the platform's; None when neither is configured.

    The tenant's base_url is checked again here, right before use: what its host resolves to may have changed."""
    settings = services.settings
    cloud = _stored(tenant.id, config.get("cloud"))
    timing = dict(connect_timeout=settings.cloud_connect_timeout, retries=settings.cloud_retries,
                  max_tokens=settings.cloud_max_tokens)
    if tenant.assistant_secret and cloud.get("base_url"):
        try:
            base_url = check_url(cloud["base_url"], settings.get("outbound_allow_hosts", ""), "base_url")
        except UnsafeUrl as exc:
            raise CloudError(f"The assistant's cloud base_url is not used: {exc}") from None
        key = services.vault.decrypt(tenant.assistant_secret, f"assistant:{tenant.id}")
        return CloudEndpoint(base_url, key, cloud.get("model") or "default",
                             timeout=float(cloud.get("timeout") or settings.cloud_timeout), owner="tenant", **timing)
    key = platform_key(services.vault)
    if key and settings.cloud_base_url:
        return CloudEndpoint(settings.cloud_base_url, key, settings.cloud_model or "default",
                             timeout=settings.cloud_timeout, owner="platform", **timing)
    return None


def chat(endpoint: CloudEndpoint, messages: list[dict], on_token: Callable[[str], None] | None = None,
         session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> Generation:
    """One chat completion with timeouts and retries (connection errors, timeouts, 429 and 5xx)."""
    started = time.monotonic()
    http = session or requests
    body = {"model": endpoint.model, "messages": messages, "max_tokens": endpoint.max_tokens, "temperature": 0.2,
            "stream": False}
    headers = {"Authorization": f"Bearer {endpoint.api_key}", "Content-Type": "application/json"}
    problem, wait = "no attempt was made", 0.0
    for attempt in range(endpoint.retries + 1):
        if attempt:
            sleep(wait or backoff(attempt, 0.5, 8.0))  # Retry-After if the server said, else backoff
            wait = 0.0
        try:
            response = http.post(endpoint.url, json=body, headers=headers,
                                 timeout=(endpoint.connect_timeout, endpoint.timeout))
        except requests.Timeout:
            problem = f"the cloud endpoint {endpoint.base_url} did not answer within {endpoint.timeout:g} s"
            continue
        except requests.ConnectionError:
            problem = f"the cloud endpoint {endpoint.base_url} cannot be reached (is the address right and the service up?)"
            continue
        except requests.RequestException as exc:
            raise CloudError(f"The cloud request to {endpoint.base_url} failed: {type(exc).__name__}.") from None
        if response.status_code in _RETRY_STATUSES:
            problem = f"the cloud endpoint answered HTTP {response.status_code}"
            wait = min(retry_after_seconds(response.headers.get("Retry-After")) or 0.0, 30.0)
            continue
        if response.status_code in (401, 403):
            raise CloudError(f"The cloud endpoint {endpoint.base_url} refused the {endpoint.owner}'s API key "
                             f"(HTTP {response.status_code}); check the key in the assistant settings.")
        if response.status_code == 404:
            raise CloudError(f"The cloud endpoint has no {endpoint.url} or no model {endpoint.model!r} (HTTP 404); "
                             "check the base URL (it usually ends in /v1) and the model name.")
        if response.status_code >= 400:
            raise CloudError(f"The cloud endpoint rejected the request with HTTP {response.status_code}.")
        return _generation(endpoint, response, started, on_token)
    raise CloudError(f"The cloud model gave no answer after {endpoint.retries + 1} attempts: {problem}.")


def _generation(endpoint: CloudEndpoint, response, started: float, on_token) -> Generation:
    try:
        data = response.json()
        text = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise CloudError(f"The cloud endpoint {endpoint.base_url} answered, but not in the OpenAI chat format; "
                         "check that the base URL points at an OpenAI-compatible API.") from None
    text = text.strip()
    usage = data.get("usage") or {}
    if on_token and text:
        on_token(text)
    return Generation(text=text, model=str(data.get("model") or endpoint.model), provider="cloud",
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      latency_ms=int((time.monotonic() - started) * 1000), extra={"owner": endpoint.owner})
