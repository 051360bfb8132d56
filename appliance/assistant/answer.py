"""One reply of the assistant: prompt from persona + history (+ knowledge), generate, account."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from appliance.assistant import prompts
from appliance.assistant.llm import Generation
from appliance.records import Tenant, Usage

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """The assistant's answer with where it came from and what it cost."""

    text: str
    sources: list = field(default_factory=list)
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    action: str = "reply"  # reply | handoff


def assistant_config(tenant: Tenant) -> dict:
    """The tenant's assistant settings over the defaults."""
    config = dict(prompts.DEFAULT_ASSISTANT)
    config.update(tenant.assistant or {})
    return config


def answer(services, tenant: Tenant, history: list[prompts.Turn], question: str,
           on_token: Callable[[str], None] | None = None) -> Reply:
    """Generate the tenant's reply to `question` with the local model."""
    config = assistant_config(tenant)
    model = services.models.get(config["local_model"]) if config.get("local_model") else services.models.local()
    limit = config.get("history_length")
    limit = services.settings.history_length if limit is None else int(limit)
    history = history[-limit:] if limit else []
    system = prompts.system_text(config, tenant.name)
    budget = model.n_ctx - model.max_tokens - 8
    prompt = prompts.build(model.profile, system, [], history, question, model.count_tokens, budget)
    stop = prompts.COMPLETION_STOP if model.profile == "completion" else []
    generation = model.generate(prompt, stop=stop, on_token=on_token)
    record_usage(tenant, generation)
    return Reply(text=generation.text or "Sorry, I don't know.", model=generation.model,
                 prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens,
                 latency_ms=generation.latency_ms)


def record_usage(tenant: Tenant, generation: Generation) -> None:
    """Keep the token counts per provider for the usage analytics."""
    Usage.create(tenant=tenant, provider=generation.provider, model=generation.model,
                 prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
