"""Does a message match a rule's or a flow trigger's `match`? Keywords compare folded text (lower case, no accents,
đ as d, words separated by single spaces), so "gia" matches "giá" and "GIÁ"; a keyword matches whole words only
("gia" is not in "giai"). Regexes run through safe_regex (checked at save, time-limited per message).

`why(match, message)` judges one match; `Index.build([(key, match), ...])` prepares a tenant's rules once (per change
of its rules) so that `.hits(message)` finds every matching one without scanning them all: keywords are looked up by
their folded words in dicts (exact: the whole text; starts_with: the text's first words; contains: the text's word
runs that begin with a keyword's first word), payloads and events by value, and a regex runs only when the folded
literals every match of it contains are all in the folded text. The answers are the same as `why`'s, rule by rule."""
from __future__ import annotations

import re
from collections import defaultdict
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


def why(match: dict, message: Message, budget_ms: float = safe_regex.DEFAULT_BUDGET_MS) -> str | None:
    """A short reason when `match` matches the message (the keyword, the pattern, the payload, the event), else None;
    safe_regex.RegexSlow when a regex runs over `budget_ms` (the `regex_budget_ms` setting)."""
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
        found = safe_regex.search(match["pattern"], message.text, budget_ms)
        return _pattern_reason(match["pattern"], found) if found is not None else None
    if kind == "payload":
        return f"payload '{message.payload}'" if message.payload is not None and message.payload == match.get(
            "payload") else None
    if kind == "event":
        return f"event {message.event}" if message.event is not None and message.event == match.get("event") else None
    return None


def _pattern_reason(pattern: str, found: str) -> str:
    return f"pattern /{pattern}/ matched '{found}'"


class Index:
    """A tenant's matches prepared for many messages: `Index.build([(key, match), ...], budget_ms)`, then `.hits()`."""

    def __init__(self, entries: list, budget_ms: float):
        self.keys = [key for key, _ in entries]
        self.budget_ms = budget_ms
        self.keywords = {}  # position -> (the match's keywords, its mode as written)
        self.by_words = {mode: defaultdict(list) for mode in MODES}  # folded keyword -> [(position, keyword no.)]
        self.longest = dict.fromkeys(MODES, 0)  # most words in a keyword, per mode
        self.first_words = set()  # first words of the contains keywords: where a word run can begin
        self.payloads, self.events = defaultdict(list), defaultdict(list)
        self.patterns = []  # (position, pattern as written, safe_regex.Compiled)
        for position, (_, match) in enumerate(entries):
            self._add(position, match)

    @classmethod
    def build(cls, entries, budget_ms: float = safe_regex.DEFAULT_BUDGET_MS) -> "Index":
        """The index of (key, match) pairs, in their order (a rule's priority order)."""
        return cls(list(entries), budget_ms)

    def _add(self, position: int, match: dict):
        kind = match.get("type")
        if kind == "keyword":
            written = match.get("mode", "contains")
            mode = written if written in ("exact", "starts_with") else "contains"  # as keyword_hit reads it
            self.keywords[position] = (list(match.get("keywords", ())), written)
            for number, keyword in enumerate(self.keywords[position][0]):
                key = words(keyword)
                if key:
                    self.by_words[mode][key].append((position, number))
                    self.longest[mode] = max(self.longest[mode], key.count(" ") + 1)
                    if mode == "contains":
                        self.first_words.add(key.split(" ", 1)[0])
        elif kind == "regex":
            self.patterns.append((position, match["pattern"], safe_regex.compiled(match["pattern"])))
        elif kind == "payload":
            self.payloads[match.get("payload")].append(position)
        elif kind == "event":
            self.events[match.get("event")].append(position)

    def hits(self, message: Message, slow: list | None = None) -> list:
        """[(key, why)] of every match that matches the message, in the order built.

        A regex over the budget: with a `slow` list, (key, sentence) is appended to it and the other matches go on;
        without one, safe_regex.RegexSlow is raised with its `key` set. Either way the caller disables that rule."""
        found = {}
        if message.event is None:
            self._keyword_hits(message.folded, found)
            if message.text and self.patterns:
                self._pattern_hits(safe_regex.Subject.of(message.text), found, slow)
        if message.payload is not None:
            for position in self.payloads.get(message.payload, ()):
                found[position] = f"payload '{message.payload}'"
        if message.event is not None:
            for position in self.events.get(message.event, ()):
                found[position] = f"event {message.event}"
        return [(self.keys[position], found[position]) for position in sorted(found)]

    def _keyword_hits(self, folded: str, found: dict):
        """The reason of each keyword match: its first keyword (in the match's order) that the text has."""
        first = {}  # position -> lowest keyword number found

        def look(mode: str, run: str):
            for position, number in self.by_words[mode].get(run, ()):
                if number < first.get(position, len(self.keywords[position][0])):
                    first[position] = number

        if not folded:
            return
        look("exact", folded)
        text = folded.split(" ")
        for size in range(1, min(self.longest["starts_with"], len(text)) + 1):
            look("starts_with", " ".join(text[:size]))
        if self.longest["contains"]:
            for start, word in enumerate(text):
                if word in self.first_words:
                    for size in range(1, min(self.longest["contains"], len(text) - start) + 1):
                        look("contains", " ".join(text[start:start + size]))
        for position, number in first.items():
            keywords, mode = self.keywords[position]
            found[position] = f"keyword '{keywords[number]}' ({mode})"

    def _pattern_hits(self, subject: safe_regex.Subject, found: dict, slow: list | None):
        folded = subject.folded
        for position, pattern, compiled in self.patterns:
            for literal in compiled.literals:  # a loop, not any(): a generator per pattern costs more than the test
                if literal not in folded:
                    break
            else:
                self._pattern_hit(position, pattern, compiled, subject, found, slow)

    def _pattern_hit(self, position: int, pattern: str, compiled, subject, found: dict, slow: list | None):
        try:
            match = compiled.search(subject, self.budget_ms)
        except safe_regex.RegexSlow as exc:
            exc.key = self.keys[position]
            if slow is None:
                raise
            slow.append((exc.key, exc.message))
            return
        if match is not None:
            found[position] = _pattern_reason(pattern, match)
