"""Prompts per model profile. Stable parts first (persona, instructions), so llama.cpp reuses the cached prefix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DEFAULT_ASSISTANT = {
    "enabled": True,
    "persona": "You are the friendly assistant of {shop}.",
    "tone": "friendly",
    "language": "auto",
    "instructions": "Answer the customer's question in one or two short sentences.",
    "model": "local",  # local | cloud
    "local_model": "",  # a GGUF in the models folder; empty = the appliance default
    "cloud": {"base_url": "", "model": ""},
    "cloud_policy": "never",  # never | on_failure | always
    "fallback": "dont_know",  # dont_know | handoff | cloud: when the knowledge base has nothing relevant
    "history_length": None,  # None = the history_length setting
}


@dataclass
class Turn:
    """One earlier message of the conversation."""

    role: str  # customer | assistant
    text: str


def system_text(config: dict, shop: str) -> str:
    """Persona, tone and instructions as one paragraph."""
    persona = (config.get("persona") or DEFAULT_ASSISTANT["persona"]).replace("{shop}", shop)
    parts = [persona.strip()]
    if config.get("tone"):
        parts.append(f"Your tone is {config['tone']}.")
    if config.get("language") and config["language"] != "auto":
        parts.append(f"Always answer in {config['language']}.")
    if config.get("instructions"):
        parts.append(config["instructions"].strip())
    return " ".join(p for p in parts if p)


def completion_prompt(system: str, context: list[str], history: list[Turn], question: str) -> str:
    """Completion-style prompt for base models (they loop on chat role markers)."""
    lines = [system]
    if context:
        lines.append("Information:")
        lines.extend(context)
    if history:
        lines.append("Conversation:")
        lines.extend(f"{'Customer' if t.role == 'customer' else 'Assistant'}: {_one_line(t.text)}" for t in history)
    lines.append(f"Customer: {_one_line(question)}")
    lines.append("Assistant:")
    return "\n".join(lines)


COMPLETION_STOP = ["\n", "Customer:", "Assistant:"]


def chat_messages(system: str, context: list[str], history: list[Turn], question: str) -> list[dict]:
    """Chat messages for instruct models, rendered by the GGUF's own template."""
    content = system
    if context:
        content += "\n\nUse this information:\n" + "\n".join(context)
    messages = [{"role": "system", "content": content}]
    messages += [{"role": "user" if t.role == "customer" else "assistant", "content": t.text} for t in history]
    messages.append({"role": "user", "content": question})
    return messages


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build(profile: str, system: str, context: list[str], history: list[Turn], question: str,
          count_tokens: Callable[[str], int], budget: int):
    """The prompt for `profile`, dropping the oldest history, then the weakest context, until it fits `budget` tokens."""
    history, context = list(history), list(context)
    while True:
        if profile == "chat":
            prompt = chat_messages(system, context, history, question)
            size = count_tokens("\n".join(m["content"] for m in prompt)) + 8 * len(prompt)
        else:
            prompt = completion_prompt(system, context, history, question)
            size = count_tokens(prompt)
        if size <= budget or (not history and not context):
            return prompt
        if history:
            history.pop(0)
        else:
            context.pop()
