"""The one regex engine of the automation: patterns are checked when saved and run with a time budget.

(First version: Python's `re`, compile and length checks only. To do in issue 12: refuse catastrophic shapes at
save, run with a time budget per message, disable a slow pattern with a reason.)"""
from __future__ import annotations

import functools
import re

from appliance.errors import AppError

MAX_PATTERN = 500


class RegexRefused(AppError):
    """A pattern that may not be saved; the message names the problem."""

    def __init__(self, message: str):
        super().__init__(422, "invalid_pattern", message)


def check(pattern: str) -> str:
    """The pattern if it may be saved, else RegexRefused with a sentence naming the problem."""
    if not isinstance(pattern, str) or not pattern:
        raise RegexRefused("Give the pattern as a non-empty string.")
    if len(pattern) > MAX_PATTERN:
        raise RegexRefused(f"The pattern can be at most {MAX_PATTERN} characters.")
    try:
        _compiled(pattern)
    except re.error as exc:
        raise RegexRefused(f"The pattern is not a valid regular expression: {exc}.") from None
    return pattern


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def search(pattern: str, text: str) -> str | None:
    """The first match of a checked pattern in the text, or None."""
    found = _compiled(pattern).search(text)
    return found.group(0) if found else None
