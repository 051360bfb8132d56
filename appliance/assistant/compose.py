"""Answers composed from the retrieved sources themselves: a table row from its fields, a section or Q/A pair
from its body, prose from the sentences closest to the question. No markup reaches the customer."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np

from appliance.assistant import glossary
from appliance.assistant.faithful import canonical_number
from appliance.assistant.prompts import fold, language_of
from appliance.errors import AppError
from appliance.records import Chunk, Document

# --- a table's columns by meaning ------------------------------------------------------------------

ROLES = ("code", "name", "price", "stock", "colour", "size", "warranty", "description")
# Header words (lower case, accents folded) per role; roles are tried in this order, so "Mã sản phẩm" is a code.
_HEADER_WORDS = {
    "code": ("ma", "sku", "code", "id", "ma sp", "barcode"),
    "name": ("ten", "san pham", "name", "product", "item", "title", "mat hang", "model"),
    "price": ("gia", "price", "don gia", "cost", "amount"),
    "stock": ("ton kho", "con hang", "stock", "so luong", "qty", "quantity", "inventory", "kho", "tinh trang",
              "availability"),
    "colour": ("mau", "mau sac", "colour", "color", "colours", "colors"),
    "size": ("size", "kich thuoc", "kich co", "dung tich", "capacity", "dimensions", "volume"),
    "warranty": ("bao hanh", "warranty", "guarantee"),
    "description": ("mo ta", "description", "ghi chu", "details", "note", "notes", "dac diem"),
}


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^0-9a-z]+", " ", fold(text)).split()


def _header_matches(header: str, words: tuple[str, ...]) -> bool:
    tokens = _tokens(header)
    for phrase in words:
        wanted = phrase.split()
        if any(tokens[i:i + len(wanted)] == wanted for i in range(len(tokens) - len(wanted) + 1)):
            return True
    return False


def guess_fields(header: list[str]) -> dict:
    """Which column is the product name, price, stock... guessed from Vietnamese or English header names."""
    fields: dict[str, str] = {}
    for column in header:
        for role in ROLES:
            if role not in fields and _header_matches(column, _HEADER_WORDS[role]):
                fields[role] = column
                break
    return fields


def check_fields(given, columns: list[str], current: dict | None = None) -> dict:
    """`current` changed by a mapping a shop owner sent, checked against the table's columns (empty or null unsets)."""
    if not isinstance(given, dict):
        raise AppError(422, "invalid_fields", "'fields' must be an object such as {\"name\": \"Tên sản phẩm\", "
                       "\"price\": \"Giá\"}.")
    fields = dict(current or {})
    for role, column in given.items():
        if role not in ROLES:
            raise AppError(422, "unknown_field_role", f"'{role}' is not a field; use {', '.join(ROLES)}.")
        if column in (None, ""):
            fields.pop(role, None)
            continue
        if not isinstance(column, str) or column not in columns:
            raise AppError(422, "unknown_column", f"The table has no column {column!r} for '{role}'; its columns are "
                           f"{', '.join(columns)}.")
        fields[role] = column
    return fields


def columns_of(document: Document) -> list[str]:
    """A table document's column names (from its first stored row)."""
    first = (Chunk.select(Chunk.cells).where((Chunk.document == document.id) & Chunk.cells.is_null(False))
             .order_by(Chunk.ordinal).first())
    return list(first.cells) if first is not None else []


# --- prices ----------------------------------------------------------------------------------------

_THOUSANDS_K = re.compile(r"^(\d+(?:[.,]\d+)?)\s*k$", re.I)


def _amount(raw: str) -> float | None:
    text = re.sub(r"(?i)(vnd|vnđ|usd|đồng|dong|đ|₫|\$|\s)", "", raw)
    short = _THOUSANDS_K.match(text)
    if short:  # "690k" is how shops write 690.000đ
        return float(canonical_number(short.group(1))) * 1000
    if not re.fullmatch(r"\d+(?:[.,]\d+)*", text):
        return None
    return float(canonical_number(text))


def _currency(raw: str, column: str, value: float) -> str:
    hint = fold(f"{raw} {column}")
    if "usd" in hint or "$" in hint:
        return "USD"
    if re.search(r"vnd|dong|₫|\d\s*d\b", hint) or hint.rstrip().endswith("d") or value >= 1000:
        return "VND"
    return ""


def format_price(raw: str, column: str, language: str) -> str:
    """A price cell for the customer: 690.000đ in Vietnamese, 690,000 VND in English; $34.00 / 34,00 USD."""
    value = _amount(raw.strip())
    if value is None:
        return raw.strip()
    currency = _currency(raw, column, value)
    if currency == "USD":
        text = f"{value:,.2f}"
        return f"${text}" if language != "vi" else _vietnamese_separators(text) + " USD"
    if currency == "VND":
        text = f"{round(value):,}"
        return f"{text} VND" if language != "vi" else _vietnamese_separators(text) + "đ"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    return text if language != "vi" else _vietnamese_separators(text)


_VND_IN_TEXT = re.compile(r"(?<![\w.,])(\d{1,3}(?:[.,]\d{3})+|\d+(?:k)?)\s?(đồng|vnđ|vnd|đ|₫)(?!\w)", re.I)


def local_prices(text: str, language: str) -> str:
    """Dong amounts in a passage written the customer's way (500.000đ becomes 500,000 VND for English)."""
    if language == "vi":
        return text
    return _VND_IN_TEXT.sub(lambda m: format_price(m.group(0), "VND", language), text)


def _vietnamese_separators(text: str) -> str:
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


# --- composing one answer --------------------------------------------------------------------------

@dataclass
class Extract:
    """The answer as the sources say it, and the hits it was made from."""

    text: str
    hits: list = field(default_factory=list)


def compose(services, hits: list[dict], question: str, language: str, threshold: float = 1.0,
            memo=None) -> Extract | None:
    """The answer to `question` in `language` (vi or en) from the hit that says it best; None when no hit is really
    about the question. A hit counts when it is `relevant` or one of its sections or sentences is as close to the
    question as `threshold` plus a margin (a long chunk about many things scores low as a whole); they are tried in
    retrieval order unless one is clearly closer to the question. `memo` (appliance.assistant.vectors.Memo) holds
    the texts already embedded for this answer: the question's wordings and the hits' stored sentences."""
    queries = glossary.wordings(question, _script_language(question))
    candidates = []
    for hit in hits:
        chunk = Chunk.get_or_none(Chunk.id == hit["chunk_id"])
        if chunk is None or not about(question, " ".join(chunk.cells.values()) if chunk.cells else hit["text"]):
            continue
        if chunk.cells:
            unit, score = None, hit["score"]
        else:
            unit, score = _best_section(services, hit["text"], queries, memo)
            score = max(score, hit["score"])
        if hit["relevant"] or score >= threshold + _SENTENCE_MARGIN:
            candidates.append((score, hit, chunk, unit))
    for _, hit, chunk, unit in _in_order(candidates):
        if chunk.cells:
            document = Document.get_or_none(Document.id == hit["document_id"])
            known = document is not None and document.fields is not None
            fields = document.fields if known else guess_fields(list(chunk.cells))
            text = row_answer(chunk.cells, fields, language)
        else:
            text = local_prices(passage_answer(services, unit, queries, memo), language)
        text = clean(text)
        if text:
            return Extract(text=text, hits=[hit])
    return None


def _in_order(candidates: list[tuple]) -> list[tuple]:
    """Candidates in retrieval order (strong matches first, then fused rank), except that one clearly closer to
    the question than the first (by its best section or sentence) goes first."""
    if len(candidates) < 2:
        return candidates
    closest = max(candidates, key=lambda c: c[0])
    if closest[0] >= candidates[0][0] + _CLEARLY_CLOSER and not candidates[0][1].get("strong"):
        return [closest] + [c for c in candidates if c is not closest]
    return candidates


_CLEARLY_CLOSER = 0.1  # cosine: less than this is the embedder's noise, retrieval's order knows as much
_SENTENCE_MARGIN = 0.1  # one sentence is closer to a question than a whole chunk is: it must be that much closer

_HEADING_SPLIT = re.compile(r"(?m)^(?=\s{0,3}#{1,6}\s)")


def _best_section(services, text: str, queries: list[str], memo=None) -> tuple[str, float]:
    """The chunk's Markdown section (heading and body) holding the sentence closest to the question, and how close."""
    sections = [s for s in _HEADING_SPLIT.split(text) if s.strip()] or [text]
    units = [(i, unit) for i, section in enumerate(sections) for unit in sentences(section) or [section]]
    scores = _similarities(services, queries, [unit for _, unit in units], memo)
    best = int(np.argmax(scores))
    return sections[units[best][0]], float(scores[best])


def scored_texts(text: str) -> list[str]:
    """Every text of a prose chunk that answering may compare with a question: the sentences of its sections, its
    Q/A pairs and the sentences of its long bodies (embedded once and stored: appliance.assistant.vectors)."""
    found: list[str] = []
    for section in [s for s in _HEADING_SPLIT.split(text) if s.strip()] or [text]:
        found += sentences(section) or [section]
        pairs = [(m.group("q"), m.group("a")) for m in _QA.finditer(section)]
        found += [f"{q} {a}" for q, a in pairs] if len(pairs) > 1 else []
        for body in [clean(a) for _, a in pairs] or [clean(_HEADING_LINE.sub("", section))]:
            if len(body) > _LONG or len(sentences(body)) > 3:
                found += sentences(body)
    return list(dict.fromkeys(found))


# Words too common to show that a passage is about the question (accents folded).
_COMMON = {
    "vi": set("co khong ko la cua toi ban minh em anh chi shop cho va voi nao gi the nhu thi duoc bao nhieu trong "
              "cac nhung mot nay do o tai de vay a oi nhe nha ha hay hoac bi rat nhat lam di den tu ra vao khi neu "
              "ai sao dau con roi chua ve hang cua".split()),
    "en": set("the a an is are you your what how do does can i and when much of to for in on at it my me we have has "
              "there any this that with be or about which who will would please tell many was were our us shop store from".split()),
}


def about(question: str, text: str) -> bool:
    """Whether a passage shares a meaningful word with the question (or the glossary's words for what it names).
    The embedder finds similar-sounding Vietnamese everywhere, so a same-language passage must share one; across
    languages only the embedder can tell."""
    language = _script_language(question)
    if language != _script_language(text):
        return True
    extra = glossary.expand(question)
    if language == "vi":
        return _shares_vietnamese(question, text) or _shares_vietnamese(extra, text)
    common = _COMMON.get(language, set())
    words = {w for w in _tokens(f"{question} {extra}") if w not in common and (len(w) > 1 or w.isdigit())}
    found = set(_tokens(text))
    return any(w in found or any(_same_stem(w, t) for t in found) for w in words)


_SYLLABLE = re.compile(r"[^\W_]+")


def _shares_vietnamese(question: str, text: str) -> bool:
    """Vietnamese words are mostly two syllables and one syllable means many things ("nhánh" in "chi nhánh" is not
    "Nhanh"): a shared pair of syllables, or one long syllable, code or brand, with tone marks compared unless the
    customer typed none."""
    plain = question == fold(question)
    asked = _SYLLABLE.findall(fold(question) if plain else question.lower())
    written = _SYLLABLE.findall(fold(text) if plain else text.lower())
    common = _COMMON["vi"]
    pairs = set(zip(written, written[1:]))
    for first, second in zip(asked, asked[1:]):
        if (first, second) in pairs and not (fold(first) in common and fold(second) in common):
            return True
    present = set(written)
    return any(w in present and fold(w) not in common and (len(w) >= 4 or any(c.isdigit() for c in w))
               for w in asked)


def _same_stem(a: str, b: str) -> bool:
    """'opening' and 'open', 'colours' and 'colour': one is the start of the other and at least 4 letters."""
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def _script_language(text: str) -> str:
    return "vi" if language_of(text) == "vi" else "en"


_ROW_WORDS = {
    "en": {"costs": "{name} costs {price}.", "price": "Price: {price}.", "in_stock": "{n} in stock.",
           "out": "Currently out of stock.", "stock": "Availability: {stock}.", "colour": "Colours: {colour}.",
           "size": "Size: {size}.", "warranty": "Warranty: {warranty}."},
    "vi": {"costs": "{name} có giá {price}.", "price": "Giá: {price}.", "in_stock": "Còn {n} sản phẩm.",
           "out": "Hiện đã hết hàng.", "stock": "Tình trạng: {stock}.", "colour": "Màu: {colour}.",
           "size": "Kích thước: {size}.", "warranty": "Bảo hành: {warranty}."},
}


def row_answer(cells: dict, fields: dict, language: str) -> str:
    """A product row as one or a few plain sentences, labels and price format in `language`."""
    words = _ROW_WORDS["vi" if language == "vi" else "en"]
    value = {role: str(cells.get(column) or "").strip() for role, column in fields.items()}
    name, parts = value.get("name", ""), []
    if value.get("price"):
        price = format_price(value["price"], fields["price"], language)
        parts.append(words["costs" if name else "price"].format(name=name, price=price))
    elif name:
        parts.append(f"{name}.")
    stock = value.get("stock", "")
    if stock:
        count = _amount(stock)
        if count is None:
            parts.append(words["stock"].format(stock=stock))
        else:
            parts.append(words["in_stock"].format(n=int(count)) if count > 0 else words["out"])
    for role in ("colour", "size", "warranty"):
        if value.get(role):
            parts.append(words[role].format(**{role: value[role]}))
    if value.get("description"):
        parts.append(value["description"].rstrip(".") + ".")
    if not parts:  # no column recognised: the row's values, without the column names
        parts = [", ".join(v.strip() for v in cells.values() if str(v).strip()) + "."]
    return " ".join(parts)


_QA = re.compile(r"(?im)^\s*(?:\*\*)?\s*(?:q|question|hỏi|câu hỏi)\s*[:.]\s*(?:\*\*)?(?P<q>.+?)\s*\n+"
                 r"\s*(?:\*\*)?\s*(?:a|answer|đáp|trả lời)\s*[:.]\s*(?:\*\*)?(?P<a>(?:.+\n?)+?)(?=\n\s*\n|\Z|^\s*(?:\*\*)?"
                 r"\s*(?:q|question|hỏi|câu hỏi)\s*[:.])")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
_LONG = 500  # characters: a longer body answers with its sentences closest to the question


def passage_answer(services, text: str, question, memo=None) -> str:
    """A Q/A pair's answer, a Markdown section's body, or the 1-3 sentences closest to the question."""
    pairs = [(m.group("q"), m.group("a")) for m in _QA.finditer(text)]
    if pairs:
        if len(pairs) == 1:
            body = pairs[0][1]
        else:
            scores = _similarities(services, question, [f"{q} {a}" for q, a in pairs], memo)
            body = pairs[int(np.argmax(scores))][1]
    else:
        body = _HEADING_LINE.sub("", text)
    body = clean(body)
    if len(body) <= _LONG and len(sentences(body)) <= 3:
        return body
    return " ".join(closest_sentences(services, body, question, memo=memo))


# Sentence ends: . ! ? … followed by space and a capital or digit (Vietnamese capitals too), or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"“(]?[A-ZÀ-ỸĐ0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")
_ABBREVIATIONS = {"tp", "q", "p", "mr", "mrs", "ms", "dr", "st", "no", "vs", "e.g", "i.e", "v.v", "tel", "đt", "sđt"}


def sentences(text: str) -> list[str]:
    """The text's sentences; abbreviations (TP. HCM, Q. 1, Mr.) and numbers (690.000) do not end one."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = " ".join(piece.split()).lstrip("-*• ").strip()
        if not piece:
            continue
        if out and out[-1].rsplit(" ", 1)[-1].rstrip(".").lower() in _ABBREVIATIONS:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def closest_sentences(services, text: str, question, most: int = 3, memo=None) -> list[str]:
    """Up to `most` sentences of `text` nearest to the question by the embedder, in their order in the text."""
    found = sentences(text)
    if len(found) <= 1:
        return found
    scores = _similarities(services, question, found, memo)
    best = float(scores.max())
    ranked = {int(i) for i in np.argsort(-scores)[:most] if scores[i] >= best - 0.1}
    # a title line ("Tool warranty.") says what follows: the sentence after it is the answer
    ranked |= {i + 1 for i in ranked if i + 1 < len(found) and len(found[i].split()) <= 3}
    return [found[i] for i in sorted(ranked)]


def _similarities(services, question, texts: list[str], memo=None) -> np.ndarray:
    """Cosine of each text to the question (a list of its wordings: the best of them); through `memo` a text
    embedded before in this answer (or stored with its chunk) is not embedded again."""
    queries = [question] if isinstance(question, str) else list(question)
    vectors = (memo or services.models.embedder()).encode([*queries, *texts])
    return (vectors[len(queries):] @ vectors[:len(queries)].T).max(axis=1)


# --- no markup for customers -----------------------------------------------------------------------

_CITATION = re.compile(r"\(\s*[^()\n]*\.(?:csv|md|markdown|txt|pdf)\b[^()\n]*\)", re.I)
_FILE_NAME = re.compile(r"\b[\w-]+\.(?:csv|md|markdown|txt|pdf)\b", re.I)
_ROW_REF = re.compile(r"\b(?:row|page)\s+\d+\b[,:]?", re.I)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def clean(text: str) -> str:
    """Customer-facing text without Markdown, file names, row or page references."""
    text = _LINK.sub(r"\1 (\2)", text)
    text = _CITATION.sub("", text)
    text = _FILE_NAME.sub("", text)
    text = _ROW_REF.sub("", text)
    text = re.sub(r"(?m)^\s{0,3}#{1,6}\s*", "", text)
    text = re.sub(r"(?m)^\s*(?:[-*•+]|\d+[.)])\s+", "", text)  # list markers: the items stay, one per sentence
    text = re.sub(r"\*\*|__|`|^>\s?|\|", " ", text, flags=re.M)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line if line.endswith((".", "!", "?", ":", "…")) else f"{line}." for line in lines if line]
    return " ".join(lines).replace(" .", ".").replace(" ,", ",").strip()


# --- the shop's product names, for the faithfulness check -------------------------------------------

_NAMES: dict[str, tuple[int, list[str]]] = {}
_NAMES_LOCK = threading.Lock()
_MOST_NAMES = 20000


def product_names(tenant_id: str, kb_version: int) -> list[str]:
    """Every product name in the tenant's tables (a rewrite may name only those its sources name)."""
    with _NAMES_LOCK:
        cached = _NAMES.get(tenant_id)
        if cached and cached[0] == kb_version:
            return cached[1]
    names: set[str] = set()
    tables = Document.select().where((Document.tenant == tenant_id) & (Document.kind == "csv")
                                     & (Document.status == "ready"))
    for document in tables:
        column = (document.fields or {}).get("name")
        if not column:
            continue
        rows = (Chunk.select(Chunk.cells).where((Chunk.document == document.id) & Chunk.cells.is_null(False))
                .limit(_MOST_NAMES))
        names.update(str(r.cells.get(column) or "").strip() for r in rows)
    found = sorted(n for n in names if n)
    with _NAMES_LOCK:
        _NAMES[tenant_id] = (kb_version, found)
    return found
