"""Messages that need no knowledge: greetings, thanks, goodbyes (built-in replies) and requests for a person."""
from __future__ import annotations

import re

from appliance.assistant.prompts import SMALLTALK, fold

# Words that carry the intent; a message is small talk only when nothing else is in it but FILLER.
_INTENT_WORDS = {
    "greeting": {"hi", "hello", "hey", "hiya", "chao", "xin", "alo", "good", "morning", "afternoon", "evening",
                 "buoi", "sang", "chieu", "toi"},
    "thanks": {"thanks", "thank", "thx", "ty", "cam", "on", "camon", "cảm", "appreciate", "it"},
    "goodbye": {"bye", "goodbye", "see", "later", "tam", "biet", "hen", "gap", "lai", "goodnight", "night"},
}
_FILLER = {"shop", "ban", "ad", "admin", "oi", "nhe", "nha", "a", "em", "anh", "chi", "minh", "there", "you", "so",
           "much", "very", "lot", "many", "ok", "okay", "vang", "da", "nhieu", "all", "everyone", "again", "rat",
           "nhe", "ha", "nhieu", "the", "team", "and", "va", "dear", "please", "to", "sir", "madam", "moi", "nguoi"}
# Ties: "thanks, bye" is a goodbye; "hello, thanks" a thanks.
_PRIORITY = ("goodbye", "thanks", "greeting")

_HANDOFF = [re.compile(p) for p in (
    r"\b(noi chuyen|gap|goi|ket noi|chuyen|lien he|can|muon|cho)\b.*\b(nhan vien|nguoi that|tu van vien|"
    r"nguoi tu van|chu shop|quan ly)\b",
    r"^(nhan vien|nguoi that|tu van vien|human|agent|real person|live agent)( oi| please| pls| a)?$",
    r"\b(talk|speak|chat|connect|transfer|put)\b.*\b(human|person|agent|someone|somebody|staff|representative|"
    r"operator|people|manager)\b",
    r"\b(real|live) (person|human|agent)\b",
    r"\bhuman\b",
)]


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", fold(text)).split()


def intent(text: str) -> str | None:
    """'handoff', 'greeting', 'thanks' or 'goodbye' when that is all the message says, else None."""
    words = _words(text)
    if not words:
        return None
    joined = " ".join(words)
    if any(p.search(joined) for p in _HANDOFF):
        return "handoff"
    if len(words) > 8:
        return None
    found = [name for name in _PRIORITY if set(words) & _INTENT_WORDS[name]]
    known = _FILLER.union(*(_INTENT_WORDS[name] for name in found)) if found else set()
    if found and all(w in known for w in words):
        return found[0]
    return None


def reply(kind: str, language: str, config: dict) -> str:
    """The tenant's reply for a greeting, thanks or goodbye in `language` (vi or en), else the built-in one."""
    language = language if language in SMALLTALK else "en"
    own = ((config.get("smalltalk") or {}).get(language) or {}).get(kind)
    return own or SMALLTALK[language][kind]
