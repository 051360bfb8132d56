"""The one settings table: name, default, type and help; APPLIANCE_* environment overrides."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Any, Callable, Mapping

from appliance.errors import AppError


class ConfigError(AppError):
    """A setting has a value the appliance cannot use; the message says how to fix it."""

    status, code = 500, "invalid_setting"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: Callable[[str], Any]
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _path(text: str) -> Path:
    return Path(str(text)).expanduser()


def _hex_colour(text: str) -> str:
    """A CSS hex colour (#rgb or #rrggbb): it goes into style sheets, so nothing else is accepted."""
    value = str(text).strip()
    if not re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", value):
        raise ValueError("expected a hex colour such as #1f6feb")
    return value.lower()


def _product_name(text: str) -> str:
    """A product name to show people: 1-60 printable characters (pages escape it; it is never code)."""
    value = str(text).strip()
    if not 1 <= len(value) <= 60 or any(not ch.isprintable() for ch in value):
        raise ValueError("expected 1 to 60 printable characters")
    return value


LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".webp": "image/webp"}  # no SVG: an SVG file can carry script


def _logo_file(text: str) -> str:
    """A picture's path inside the data folder (relative, no '..'), or empty for none."""
    value = str(text).strip()
    if not value:
        return ""
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or path.suffix.lower() not in LOGO_TYPES:
        raise ValueError("expected a .png, .jpg, .gif or .webp file inside the data folder, "
                         "given relative to it (such as brand/logo.png)")
    return str(path)


def _timezone(text: str) -> str:
    value = str(text).strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected a time zone name such as Asia/Ho_Chi_Minh or UTC") from None
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("data", "./data", _path, "Folder for the database, queue, key file, indexes and uploads."),
    Setting("models", "./models", _path, "Folder holding GGUF model files; the default model is assembled here on first run."),
    Setting("host", "127.0.0.1", str, "Address the web server listens on (0.0.0.0 for all interfaces)."),
    Setting("port", 8080, int, "TCP port of the web server.", 0, 65535),
    Setting("public_url", "", str, "Public base URL (https://...) used to show webhook URLs; empty means http://host:port."),
    Setting("trusted_proxy", "", str, "Address of a reverse proxy in front of the appliance (e.g. 127.0.0.1): its X-Forwarded-For and X-Forwarded-Proto then name the client's address (rate limits) and https (Secure cookies). Empty: no proxy is trusted and those headers are dropped."),
    Setting("http_connections", 500, int, "Most open HTTP connections (idle keep-alive ones included); past it new ones wait. Kept under 1000 (the server's select() limit).", 50, 1000),
    Setting("http_threads", 24, int, "Web server threads; each open widget event stream holds one.", 4, 512),
    Setting("worker_threads", 2, int, "Background worker threads running queued tasks.", 1, 32),
    Setting("load_models", True, _bool, "Load the local language model and embedder at start (false only for tests and tools)."),
    Setting("model", "gemma-3-270m-q4_k_m.gguf", str, "Default GGUF file name in the models folder (see `appliance models list`)."),
    Setting("llm_threads", 2, int, "CPU threads for the local model (llama.cpp defaults to half the cores).", 1, 256),
    Setting("llm_context", 2048, int, "Context window of the local model in tokens.", 256, 131072),
    Setting("llm_max_tokens", 96, int, "Most tokens the local model generates for one reply.", 1, 4096),
    Setting("llm_timeout", 60.0, float, "Seconds a local reply may take before the fallback policy applies.", 1, 3600),
    Setting("torch_threads", 1, int, "CPU threads for the embedder, so it does not fight the model.", 1, 256),
    Setting("history_length", 10, int, "Default number of recent messages given to the assistant.", 0, 200),
    Setting("max_body_bytes", 1_048_576, int, "Largest request body accepted by webhooks and the widget (bytes).", 1024, 1 << 30),
    Setting("widget_max_chars", 4000, int, "Longest widget message accepted (characters).", 1, 100_000),
    Setting("widget_streams", 0, int, "Most open widget event streams in total (each holds a web server thread); 0 means half of http_threads. At most http_threads - 2, so webhooks and health always get a thread.", 0, 510),
    Setting("widget_streams_per_channel", 8, int, "Most open widget event streams for one web channel, so one shop's visitors cannot take every stream.", 1, 510),
    Setting("widget_streams_per_address", 4, int, "Most open widget event streams from one client address (behind a proxy every visitor has the proxy's address: raise it).", 1, 510),
    Setting("widget_stream_seconds", 25.0, float, "How long one widget event stream stays open; the widget then reconnects and missed replies are replayed.", 1, 3600),
    Setting("admin_streams", 0, int, "Most open admin event streams (GET /api/v1/events) in total, each holding a web server thread; 0 means a quarter of http_threads. Together with the widget's streams at most http_threads - 2.", 0, 510),
    Setting("admin_streams_per_tenant", 8, int, "Most open admin event streams of one tenant, so one shop's open admin pages cannot take every stream.", 1, 510),
    Setting("admin_stream_seconds", 25.0, float, "How long one admin event stream stays open; the page then reconnects with Last-Event-ID and missed events are replayed.", 1, 3600),
    Setting("admin_events_keep_days", 7.0, float, "Days conversation events are kept for admin streams to resume from (Last-Event-ID); older ones are pruned hourly.", 0.01, 3650),
    Setting("admin_events_keep_rows", 100_000, int, "Most conversation events kept for admin streams to resume from, over all tenants; the oldest go first.", 100, 100_000_000),
    Setting("widget_session_messages", 10, int, "Most widget messages one chat session may send in 10 seconds; more get 429 with Retry-After.", 1, 10_000),
    Setting("widget_address_messages", 30, int, "Most widget messages one client address may send in a minute; more get 429 with Retry-After.", 1, 100_000),
    Setting("demo_channel", "", str, "Id of the web channel whose bubble the demo page / shows (`appliance init` sets it for the demo shop); empty means no demo page."),
    Setting("upload_max_bytes", 20 * 1_048_576, int, "Largest knowledge document accepted (bytes).", 1024, 1 << 32),
    Setting("admin_session_hours", 12.0, float, "Hours an admin page login lasts before signing in again.", 0.001, 24 * 90),
    Setting("login_failures_per_account", 5, int, "Wrong passwords for one e-mail within login_window_seconds before its logins are refused with 429.", 1, 10_000),
    Setting("login_failures_per_address", 20, int, "Wrong passwords from one client address within login_window_seconds before its logins are refused with 429.", 1, 100_000),
    Setting("login_window_seconds", 900.0, float, "The window in which failed logins are counted (seconds).", 1, 86400),
    Setting("product_name", "Appliance", _product_name, "The product's name on the admin pages, the login page, the demo page and the chat widget (white-label: a reseller's own brand); 1-60 characters."),
    Setting("logo_file", "", _logo_file, "A logo picture (.png, .jpg, .gif or .webp) inside the data folder, given relative to it (e.g. brand/logo.png), shown on the admin, login and demo pages and in the chat widget; empty: no logo."),
    Setting("accent_colour", "#1f6feb", _hex_colour, "The accent colour of the admin pages, the demo page and the chat widget, as a hex colour (#rgb or #rrggbb)."),
    Setting("timezone", "UTC", _timezone, "Time zone for dates on the admin pages, such as Asia/Ho_Chi_Minh."),
    Setting("log_level", "INFO", str, "How much the log says: DEBUG shows message texts and numbers, INFO does not.", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("whatsapp_api_base", "https://graph.facebook.com/v21.0", str, "WhatsApp Cloud API base URL."),
    Setting("messenger_api_base", "https://graph.facebook.com/v21.0", str, "Messenger Send API base URL."),
    Setting("zalo_api_base", "https://openapi.zalo.me", str, "Zalo OA API base URL."),
    Setting("telegram_api_base", "https://api.telegram.org", str, "Telegram Bot API base URL."),
    Setting("outbound_allow_hosts", "", str, "Comma-separated host or host:port entries a tenant may use as a channel api_base or cloud base_url even over http or on a private address (e.g. an in-house proxy); all other tenant-set URLs must be https to public addresses."),
    Setting("rag_top_k", 3, int, "Knowledge chunks put into the assistant's prompt (more is slower on small machines).", 1, 50),
    Setting("rag_min_similarity", 0.3, float, "Cosine similarity (0..1) a knowledge chunk needs to count as relevant (with hybrid retrieval, a chunk holding a product code, model name or brand of the question counts too); below it the fallback applies.", 0, 1),
    Setting("retrieval", "hybrid", str, "How knowledge is searched: hybrid (vector index fused with accent-folded keyword search, so product codes and brand names are found) or vector (the vector index only, for comparison).", choices=("hybrid", "vector")),
    Setting("chunk_tokens", 160, int, "Size of a knowledge chunk in embedder tokens (the embedder reads at most 256).", 16, 256),
    Setting("chunk_overlap", 32, int, "Tokens shared by neighbouring chunks of a document, so no sentence is cut off.", 0, 128),
    Setting("embed_batch", 32, int, "Chunks embedded per batch while ingesting.", 1, 1024),
    Setting("ingest_max_pages", 500, int, "Most pages a PDF may have; a longer one fails with a request to split it.", 1, 100_000),
    Setting("ingest_max_chars", 2_000_000, int, "Most characters of text taken from one document; a longer one fails with a request to split it.", 1000, 1_000_000_000),
    Setting("ingest_max_seconds", 600.0, float, "Seconds one document may take to extract, chunk and embed before it fails as too big.", 1, 86400),
    Setting("hnsw_m", 32, int, "Links per vector in the knowledge index (more: better recall, bigger file).", 4, 64),
    Setting("hnsw_ef_construction", 200, int, "Search breadth while building the knowledge index.", 10, 2000),
    Setting("hnsw_ef", 50, int, "Search breadth of knowledge queries (more: better recall, slower).", 10, 5000),
    Setting("cloud_base_url", "", str, "Platform cloud LLM endpoint (OpenAI-compatible, e.g. https://api.openai.com/v1) for tenants without their own key; the key is set with `appliance cloud-key`."),
    Setting("cloud_model", "", str, "Model name sent to the platform cloud endpoint."),
    Setting("cloud_connect_timeout", 5.0, float, "Seconds to wait for the cloud endpoint to accept a connection.", 0.01, 600),
    Setting("cloud_timeout", 60.0, float, "Seconds to wait for a cloud reply before retrying or giving up.", 0.01, 3600),
    Setting("cloud_retries", 2, int, "Extra attempts after a cloud timeout, connection error, 429 or 5xx.", 0, 10),
    Setting("cloud_max_tokens", 256, int, "Most tokens a cloud reply may have.", 1, 32768),
    Setting("zalo_oauth_base", "https://oauth.zaloapp.com", str, "Zalo OAuth base URL, used to refresh an expired OA access token."),
    Setting("zalo_zns_base", "https://business.openapi.zalo.me", str, "Zalo Notification Service (ZNS) base URL for template messages."),
    Setting("conversation_idle_hours", 72.0, float, "Hours without a message after which a conversation is closed (checked every 5 minutes); the customer's next message then starts a new one. 0 never closes them.", 0, 24 * 365),
    Setting("flow_timeout_minutes", 60.0, float, "Minutes a flow waits for the customer's answer before it ends and the conversation returns to normal (rules and the assistant answer again); a flow's own timeout_minutes wins.", 0.01, 60 * 24 * 30),
    Setting("outbox_timeout", 10.0, float, "Seconds to wait for a platform to accept one outgoing message before retrying.", 0.05, 300),
    Setting("outbox_max_attempts", 8, int, "Send attempts for one reply before it is marked failed (a 429 or rate limit does not count).", 1, 100),
    Setting("outbox_give_up_hours", 24.0, float, "Hours after which a reply still not sent (retrying, or waiting on a rate-limited or paused channel) is marked failed.", 0.001, 720),
    Setting("outbox_crash_grace_seconds", 120.0, float, "After a crash mid-send on WhatsApp or Messenger, seconds to wait for the platform's status or echo of that send before sending it again.", 0, 3600),
    Setting("outbox_backoff_base", 2.0, float, "First retry delay in seconds; it doubles each attempt, with random jitter.", 0.001, 3600),
    Setting("outbox_backoff_max", 900.0, float, "Longest delay between two send attempts (seconds).", 0.001, 86400),
    Setting("outbox_breaker_failures", 5, int, "Consecutive send failures on one channel that pause sending on it.", 1, 1000),
    Setting("outbox_breaker_seconds", 60.0, float, "How long a paused channel waits before trying one message again (seconds).", 0.001, 86400),
    Setting("hook_timeout_seconds", 10.0, float, "Seconds an automation's outgoing webhook (a rule's or a flow's webhook action) may take to answer before the call counts as failed and is retried.", 0.05, 120),
    Setting("hook_attempts", 5, int, "Attempts for one outgoing webhook call (a 5xx answer, a 429, a time-out or no connection is retried with backoff) before it is marked failed with the reason.", 1, 50),
    Setting("hook_backoff_seconds", 30.0, float, "First delay before an outgoing webhook call is tried again (seconds); it doubles each attempt, with random jitter, up to an hour.", 0.001, 3600),
    Setting("outbox_rate_per_second", 20.0, float, "Most messages sent per second on one channel (WhatsApp allows ~80, Telegram ~30).", 0.01, 10000),
    Setting("regex_budget_ms", 20.0, float, "CPU milliseconds one rule's regex may take on one message; a pattern that takes longer is stopped and its rule disabled with the reason (the shop owner simplifies it and enables it again).", 1, 10_000),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings(dict):
    """Resolved settings; read as attributes (settings.port) or keys."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _convert(setting: Setting, raw: Any, source: str) -> Any:
    try:
        value = raw if not isinstance(raw, str) else setting.kind(raw)
        if setting.kind in (int, float) and not isinstance(value, bool):
            value = setting.kind(value)
        if setting.kind is _path:
            value = Path(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Setting {setting.name} from {source} has the value {raw!r}, which is not valid ({exc}). "
            f"{setting.help} Fix it or unset it to use the default {setting.default!r}."
        ) from None
    if setting.minimum is not None and value < setting.minimum or setting.maximum is not None and value > setting.maximum:
        raise ConfigError(
            f"Setting {setting.name} from {source} is {value!r}; it must be between {setting.minimum:g} and {setting.maximum:g}. "
            f"{setting.help}"
        )
    if setting.choices:
        value = next((c for c in setting.choices if c.upper() == str(value).upper()), None) or _bad_choice(
            setting, source, value)
    return value


def _bad_choice(setting: Setting, source: str, value: Any):
    raise ConfigError(f"Setting {setting.name} from {source} is {value!r}; use one of {', '.join(setting.choices)}.")


STORED_FILE = "settings.json"


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the data folder's settings.json (`models use`), then APPLIANCE_* variables, then overrides."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in _BY_NAME]
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r}; the settings are listed by `appliance settings`.")
    values = Settings()
    for setting in SETTINGS:
        env_name = "APPLIANCE_" + setting.name.upper()
        if overrides.get(setting.name) is not None:
            values[setting.name] = _convert(setting, overrides[setting.name], "the command line")
        elif environ.get(env_name, "") != "":
            values[setting.name] = _convert(setting, environ[env_name], f"the environment variable {env_name}")
        else:
            values[setting.name] = _convert(setting, setting.default, "the defaults")
    stored = _stored(values["data"])
    for name, raw in stored.items():
        setting = _BY_NAME.get(name)
        env_name = "APPLIANCE_" + name.upper()
        if setting and overrides.get(name) is None and environ.get(env_name, "") == "":
            values[name] = _convert(setting, raw, f"{values['data'] / STORED_FILE}")
    _check_together(values)
    return values


def stream_caps(values: Mapping[str, Any]) -> tuple[int, int]:
    """How many widget and admin event streams may be open at once (each holds a web server thread)."""
    threads = values["http_threads"]
    widget = values["widget_streams"] or threads // 2
    admin = values["admin_streams"] or max(0, min(threads // 4, threads - 2 - widget))
    return widget, admin


def _check_together(values: Settings) -> None:
    """Settings that are only wrong in combination (each alone is within its bounds)."""
    widget, admin = stream_caps(values)
    if widget + admin > values["http_threads"] - 2:
        raise ConfigError(
            f"Settings widget_streams and admin_streams allow {widget} + {admin} event streams but http_threads is "
            f"only {values['http_threads']}; keep the two together at most http_threads - 2 (0 picks a share that "
            "fits), so webhooks and health always get a thread."
        )


def _stored(data_dir: Path) -> dict:
    path = Path(data_dir) / STORED_FILE
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; fix it or delete it to go back to the defaults.") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{path} must hold a JSON object of setting names and values.")
    return stored


def store_setting(data_dir: Path, name: str, value: Any) -> None:
    """Persist one setting in the data folder (used by `appliance models use`)."""
    path = Path(data_dir) / STORED_FILE
    stored = _stored(data_dir)
    stored[name] = value
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    tmp.replace(path)
