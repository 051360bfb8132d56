"""The channel registry and the one small shape every channel module shares: `Inbound` in, `Outbound` out.

Every channel kind is a module here (`module(kind)`): whatsapp, messenger, zalo, telegram and web. Every module has
send(outbound, credentials, api_base, http) -> its id for the message, and FREE_WINDOW (None: no messaging window).
The platforms add verify_handshake(args, credentials), check_signature(raw, headers, credentials) and
parse(raw) -> [Inbound] for their webhooks. Optional, where a kind needs it (the outbox and the API look for them,
never at the kind): LOCAL = True (no network: no credentials, breaker or rate cap; the widget), TEMPLATES = False,
PATH (the URL shown to paste), CONFIRMS_SENDS, reply_extra(inbound) and prepare(outbound, customer, settings) (what
a send needs: Telegram's callback answer, Zalo's ZNS phone and endpoint), check_credentials(credentials),
connect(webhook_url, credentials, api_base, http) and disconnect(channel_id, credentials, api_base, http)
(Telegram's setWebhook/deleteWebhook), Refreshable + renew(services, channel, credentials, http) (Zalo's token
refresh), progress(streams, channel_id, user_id, reply_to) (the widget's typing notice and streamed tokens).
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

KINDS = ("whatsapp", "messenger", "zalo", "telegram", "web")
PLATFORMS = ("whatsapp", "messenger", "zalo", "telegram")  # the kinds with webhooks and an API to send to


def module(kind: str) -> ModuleType:
    """The channel module of a kind (KeyError for any other name)."""
    if kind not in KINDS:
        raise KeyError(kind)
    return importlib.import_module(f"appliance.channels.{kind}")

# kinds the pipeline answers; the rest are stored and applied (statuses, follows) or skipped
CONVERSATIONAL = ("text", "button", "media", "location")


@dataclass(frozen=True)
class Inbound:
    """One event from a platform, reduced to what the appliance uses; `raw` keeps the original."""

    kind: str  # text | media | button | location | reaction | follow | unfollow | opt_in | status | unknown
    platform_id: str  # the platform's id for deduplication (wamid, mid, msg_id, update_id, widget id)
    user_id: str = ""  # the customer on the platform
    user_name: str = ""
    text: str = ""
    button_id: str | None = None
    media: dict | None = None  # {"type", "id" or "url"}
    location: dict | None = None
    reaction: dict | None = None  # {"message_id", "emoji"}
    status: dict | None = None  # {"message_id", "status", "error"}
    timestamp: str | None = None
    raw: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Inbound":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def describe(self) -> str:
        """What the assistant reads for this event: the text, or a short note like "[image]"."""
        if self.kind == "media":
            note = f"[{(self.media or {}).get('type', 'attachment')}]"
            return f"{note} {self.text}".strip()
        if self.kind == "location":
            return "[location]"
        return self.text


@dataclass(frozen=True)
class Outbound:
    """A reply to send: text, optional buttons, or a template."""

    to: str
    text: str = ""
    buttons: list[dict] = field(default_factory=list)  # [{"id", "title"}]
    template: dict | None = None  # {"name", "language", "params"}
    extra: dict[str, Any] = field(default_factory=dict)


# Write-only credentials each kind needs (CONTRACT.md); encrypted at rest, never returned.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("phone_number_id", "access_token", "app_secret", "verify_token"),
    "messenger": ("page_id", "page_access_token", "app_secret", "verify_token"),
    "zalo": ("oa_id", "app_id", "access_token", "oa_secret_key"),
    "telegram": ("bot_token", "secret_token"),
    "web": (),
}
