"""Who answers a customer's message: a chain of responders asked in order until one responds.

A responder is a callable taking a `Context` (services, tenant, channel, conversation, message, history) and
returning a `Response` (a reply to send, an action such as `handoff`, or both) or None to let the next one try.
The chain: the customer asking for a person (handoff_responder), the customer's active flow or a flow's trigger
(appliance/automation/flows.py), the tenant's rules (appliance/automation/rules.py), then the assistant
(assistant_responder). A conversation held by a person is never offered to the chain.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from appliance.assistant import prompts, smalltalk
from appliance.assistant.answer import answer, assistant_config, fallback_reply
from appliance.assistant.prompts import Turn
from appliance.automation import flows, rules
from appliance.channels import Outbound
from appliance.records import Channel, Conversation, Message, Tenant

log = logging.getLogger(__name__)

ACTIONS = ("handoff",)


@dataclass(frozen=True)
class Context:
    """What a responder may look at; `on_token` streams a reply as it is written (the widget), or is None."""

    services: object
    tenant: Tenant
    channel: Channel
    conversation: Conversation
    message: Message
    history: list[Turn]
    on_token: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Response:
    """A responder's answer: `text` to send (may be empty with an action), an `action` (handoff) and why, and what
    conversations.reply records with it (model, tokens, sources, path, rejected, latency_ms)."""

    text: str = ""
    action: str | None = None
    reason: str = ""  # why the action: shown to staff with the hand-off
    buttons: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    more: tuple[Outbound, ...] = ()  # further messages of the same turn, sent after this one (automation)
    template: dict | None = None  # the first message as a template instead of text (automation)

    def outbound(self) -> Outbound | None:
        """The message to send, or None for an action alone."""
        if not self.text and not self.template:
            return None
        return Outbound(to="", text=self.text, buttons=list(self.buttons), template=self.template)


Responder = Callable[[Context], "Response | None"]


def _language(context: Context, config: dict) -> str:
    return prompts.language_of(context.message.text, config.get("language"))


def handoff_responder(context: Context) -> Response | None:
    """The customer asks for a person ("nhân viên", "talk to a human"): hand off, and tell them so."""
    if smalltalk.intent(context.message.text) != "handoff":
        return None
    config = assistant_config(context.tenant)
    return Response(prompts.HANDOFF.get(_language(context, config), prompts.HANDOFF["en"]), "handoff",
                    "the customer asked for a person", meta={"model": "fallback", "path": "handoff"})


def assistant_responder(context: Context) -> Response | None:
    """The tenant's assistant; with it disabled, or when it cannot answer (model error, cloud down), the tenant's
    fallback: the customer is never left in silence.

    Disabled (`PUT /assistant {"enabled": false}`) means the shop answers by hand: the conversation is handed off
    with the hand-off notice, so it waits in the inbox and the bot says nothing more until staff resume it."""
    config = assistant_config(context.tenant)
    language = _language(context, config)
    if not config.get("enabled", True):
        return _response(fallback_reply({**config, "fallback": "handoff"}, language, context.on_token),
                         "the assistant is disabled")
    try:
        reply = answer(context.services, context.tenant, context.history, context.message.text,
                       on_token=context.on_token)
    except Exception:  # not ModelStopped (a BaseException): when stopping, the event waits for the next start
        log.exception("the assistant of %s could not answer message %d; the fallback goes instead",
                      context.tenant.id, context.message.id)
        reply = fallback_reply(config, language, context.on_token)
    return _response(reply, "the assistant had no answer")


def _response(reply, why: str) -> Response:
    meta = {"model": reply.model, "tokens": {"prompt": reply.prompt_tokens, "completion": reply.completion_tokens},
            "latency_ms": reply.latency_ms, "sources": reply.sources, "path": reply.path, "rejected": reply.rejected}
    if reply.action == "handoff":
        return Response(reply.text, "handoff", why, meta=meta)
    return Response(reply.text, meta=meta)


CHAIN: tuple[Responder, ...] = (handoff_responder, flows.responder, rules.responder, assistant_responder)


def respond(context: Context, chain: tuple[Responder, ...] = CHAIN) -> Response | None:
    """The first response of the chain, or None when no responder had anything to say or do."""
    for responder in chain:
        response = responder(context)
        if response is not None and (response.text or response.template or response.action):
            return response
    return None
