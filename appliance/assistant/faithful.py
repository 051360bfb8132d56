"""The faithfulness check of a model's rewrite: nothing in it that the sources or the question do not say."""
from __future__ import annotations

import re

from appliance.assistant.prompts import fold

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\"']+", re.I)
# a phone number is a run of 8+ digits that people write with spaces, dots or dashes: compare the digits only
_PHONE = re.compile(r"\+?\d(?:[\s.-]?\d){7,}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CODE = re.compile(r"\b(?=\w*\d)(?=\w*[^\W\d])[\w-]{2,}\b")  # model numbers and codes: S23, GL-001, 15W
_NEGATIONS_EN = re.compile(r"\b(not|no|never|cannot|none|nothing)\b|n't\b", re.I)
_NEGATIONS_VI = re.compile(r"(?<!\w)(không|chưa|chẳng|đừng|chả|ko)(?!\w)", re.I)
_DAYS_OR_ORDINALS = re.compile(r"(\d)(st|nd|rd|th)\b", re.I)


def number_forms(text: str) -> set[str]:
    """Every number in `text` in one canonical form (690.000, 690,000 and 690000 are all '690000')."""
    forms = set()
    text = _DAYS_OR_ORDINALS.sub(r"\1", text)
    for match in _PHONE.finditer(text):
        forms.add(re.sub(r"\D", "", match.group()))
    text = _PHONE.sub(" ", text)
    for match in _NUMBER.finditer(text):
        forms.add(canonical_number(match.group()))
    return forms


def canonical_number(raw: str) -> str:
    """'690.000' -> '690000', '34.00' -> '34', '1,5' -> '1.5': groups of three after a separator are thousands."""
    parts = re.split(r"[.,]", raw)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        return str(int("".join(parts)))
    if len(parts) == 2:
        value = float(f"{parts[0]}.{parts[1]}")
        return str(int(value)) if value.is_integer() else repr(value)
    if len(parts) == 1:
        return str(int(raw))
    return "".join(parts)  # 1.2.3: a version or a date, compared as written without separators


def negated(text: str) -> bool:
    """True when the text says 'not' in English or Vietnamese."""
    return bool(_NEGATIONS_EN.search(text) or _NEGATIONS_VI.search(text))


def problems(rewrite: str, extract: str, grounding: str, product_names: list[str]) -> str | None:
    """Why `rewrite` cannot replace `extract` (a sentence for staff), or None when it is faithful.

    `grounding` is the sources' text and the question: numbers, phone numbers, e-mails, URLs, codes and the shop's
    product names in the rewrite must appear there; the rewrite keeps the extract's numbers and does not flip a 'not'."""
    if not rewrite.strip():
        return "the model wrote nothing"
    allowed = number_forms(grounding) | number_forms(extract)
    invented = sorted(number_forms(rewrite) - allowed)
    if invented:
        return f"the rewrite has numbers that are in no source: {', '.join(invented[:5])}"
    dropped = sorted(number_forms(extract) - number_forms(rewrite))
    if dropped:
        return f"the rewrite leaves out numbers of the sources: {', '.join(dropped[:5])}"
    known = fold(grounding + " " + extract)
    for what, pattern in (("an e-mail address", _EMAIL), ("a link", _URL), ("a product code", _CODE)):
        for found in pattern.findall(rewrite):
            if fold(found).rstrip(".,;:!?") not in known:
                return f"the rewrite has {what} that is in no source: {found}"
    folded = fold(rewrite)
    for name in product_names:
        if len(name) > 2 and _mentions(folded, fold(name)) and not _mentions(known, fold(name)):
            return f"the rewrite names a product the sources do not: {name}"
    if negated(rewrite) != negated(extract):
        return "the rewrite says the opposite of the sources (a 'not' added or dropped)"
    return None


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None
