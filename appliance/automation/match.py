"""Does a message match a rule's or a flow trigger's `match`? Keywords compare folded text (lower case, no accents,
đ as d, words separated by single spaces), so "gia" matches "giá" and "GIÁ"; a keyword matches whole words only
("gia" is not in "giai"). Regexes run through safe_regex (checked at save, time-limited per message)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.assistant.prompts import fold
from appliance.automation import safe_regex

MODES = ("contains", "exact", "starts_with")
EVENTS = ("first_message", "follow", "unfollow", "opt_in", "reopened")
_NOT_WORD = re.compile(r"[^\w]+")


def words(text: str) -> str:
    """The text folded, with every run of non-word characters as one space: what keywords compare with."""
    return " ".join(_NOT_WORD.sub(" ", fold(text)).split())


@dataclass(frozen=True)
class Message:
    """What a match looks at: the text (with `folded = words(text)`), a button payload, or an event name."""

    text: str = ""
    folded: str = ""
    payload: str | None = None
    event: str | None = None

    @classmethod
    def of(cls, text: str = "", payload: str | None = None, event: str | None = None) -> "Message":
        return cls(text, words(text), payload, event)


def keyword_hit(mode: str, keyword: str, folded: str) -> bool:
    """Whether the folded keyword is in the folded text as whole words, as the mode says."""
    key = words(keyword)
    if not key:
        return False
    if mode == "exact":
        return folded == key
    if mode == "starts_with":
        return folded == key or folded.startswith(key + " ")
    return f" {key} " in f" {folded} "


def why(match: dict, message: Message) -> str | None:
    """A short reason when `match` matches the message (the keyword, the pattern, the payload, the event), else None."""
    kind = match.get("type")
    if kind == "keyword":
        if message.event is not None:
            return None
        for keyword in match.get("keywords", ()):
            if keyword_hit(match.get("mode", "contains"), keyword, message.folded):
                return f"keyword '{keyword}' ({match.get('mode', 'contains')})"
        return None
    if kind == "regex":
        if message.event is not None or not message.text:
            return None
        found = safe_regex.search(match["pattern"], message.text)
        return f"pattern /{match['pattern']}/ matched '{found}'" if found is not None else None
    if kind == "payload":
        return f"payload '{message.payload}'" if message.payload is not None and message.payload == match.get(
            "payload") else None
    if kind == "event":
        return f"event {message.event}" if message.event is not None and message.event == match.get("event") else None
    return None
