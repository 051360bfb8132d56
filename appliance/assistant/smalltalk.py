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

# A request for a person: a way of asking to reach someone, a few small words, then who (Vietnamese and English,
# accents folded). Questions about the staff ("nhân viên có nói tiếng Anh không?", "how many staff do you have?")
# name them without asking to reach them, so they are not hand-offs.
_WHO_VI = (r"nhan vien|nguoi that|con nguoi|tu van vien|nguoi tu van|chu shop|chu tiem|chu quan|chu cua hang|"
           r"(?:ong|ba|anh|chi|co|chu) chu|chu(?=$| (?:a|oi|nhe|nha|duoc|khong|di|voi|de))|sep|quan ly|"
           r"nguoi quan ly|nguoi phu trach|nguoi ban hang|ai do")
_WHO_EN = (r"human being|humans?|person|people|agents?|staff member|staff|employees?|someone|somebody|anyone|"
           r"anybody|representative|rep|operator|manager|owner|boss|supervisor|salesperson|sales rep|shopkeeper|"
           r"customer (?:service|support|care)|support team|support|team member|real one")
_REACH_VI = (r"noi chuyen|tro chuyen|trao doi|gap|goi|goi dien|ket noi|noi may|chuyen may|chuyen|lien he|lien lac|"
             r"chat|nhan tin|muon|can|xin|yeu cau")
_REACH_EN = (r"talk|speak|chat|connect|transfer|put|reach|contact|escalate|forward|pass|hand|switch|get me|want|"
             r"need|d like|would like|prefer|request")
_BETWEEN_VI = r"(?:\s+(?:voi|vs|truc tiep|cho|em|toi|minh|anh|chi|ban|mot|ngay|giup|dum|ho|ben|shop|lai|duoc|gap|" \
              r"noi chuyen|a|oi|cua))"
_BETWEEN_EN = r"(?:\s+(?:to|with|directly|a|an|the|your|real|live|actual|some|one|of|me|please|speak|talk|chat|s|" \
              r"through|over|in|touch|shop|store|i|can|could))"
# After the person in English: the end, or a word that does not make them an adjective ("a staff discount").
_AFTER_EN = r"(?=$|\s+(?:please|pls|now|asap|here|there|today|on|about|for|who|that|if|directly|right|instead|at|" \
            r"from|to|and|or|in|of|i|because|so|thanks|thank|member|members)\b)"
_HANDOFF = [re.compile(p) for p in (
    rf"\b(?:{_REACH_VI}){_BETWEEN_VI}{{0,4}}\s+(?:{_WHO_VI}|ad|admin)\b",
    rf"\b(?:{_REACH_EN}){_BETWEEN_EN}{{0,4}}\s+(?:{_WHO_EN}){_AFTER_EN}",
    rf"\b(?:{_WHO_EN})(?:\s+\w+){{0,2}}\s+(?:i|we) (?:can|could) (?:talk|speak|chat)\b",  # "a person I can talk to"
    rf"^(?:a |an |the )?(?:{_WHO_VI}|{_WHO_EN}|real person|live agent|live person)"
    rf"(?: (?:oi|a|dau|roi|please|pls|now|di|nhe|nha|dau roi))*$",
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
