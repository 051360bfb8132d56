"""Answers composed from the retrieved sources themselves: a table row from its fields, a section or Q/A pair
from its body, prose from the sentences closest to the question. No markup reaches the customer."""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from appliance.assistant import glossary, rows
from appliance.assistant.prompts import fold, language_of
from appliance.assistant.rows import local_prices
from appliance.assistant.rows import tokens as _tokens
from appliance.records import Chunk, Document

# --- composing one answer --------------------------------------------------------------------------

@dataclass
class Extract:
    """The answer as the sources say it, and the hits it was made from."""

    text: str
    hits: list = field(default_factory=list)


def compose(services, hits: list[dict], question: str, language: str, threshold: float = 1.0) -> Extract | None:
    """The answer to `question` in `language` (vi or en) from the hit that says it best; None when no hit is really
    about the question. A hit counts when it is `relevant` or one of its sections or sentences is as close to the
    question as `threshold` plus a margin (a long chunk about many things scores low as a whole); they are tried in
    retrieval order unless one is clearly closer to the question."""
    queries = glossary.wordings(question, _script_language(question))
    hits = _with_named_row(services, hits, question)
    candidates = []
    for hit in hits:
        chunk = Chunk.get_or_none(Chunk.id == hit["chunk_id"])
        if chunk is None or not about(question, " ".join(chunk.cells.values()) if chunk.cells else hit["text"]):
            continue
        if chunk.cells:
            unit, score = None, hit["score"]
        else:
            unit, score = _best_section(services, hit["text"], queries)
            score = max(score, hit["score"])
        if hit["relevant"] or score >= threshold + _SENTENCE_MARGIN:
            candidates.append((score, hit, chunk, unit))
    for _, hit, chunk, unit in _rows_in_order(_in_order(candidates), question):
        if chunk.cells:
            text = _table_answer(hit, chunk, question, language, hits)
        else:
            text = local_prices(passage_answer(services, unit, queries), language)
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


def _fields(document_id: int, cells: dict) -> dict:
    """A table's field mapping: the stored one, else guessed from the row's columns."""
    document = Document.get_or_none(Document.id == document_id)
    return document.fields if document is not None and document.fields is not None else rows.guess_fields(list(cells))


def _with_named_row(services, hits: list[dict], question: str) -> list[dict]:
    """The hits, and before the first table row among them the one row of its table that holds nearly all the
    question names (two things at least) and more than each of the hits' rows, counted as relevant: an English
    question finds Vietnamese rows by meaning only roughly ("gel manicure" finds "tháo gel" and "wax" as readily as
    "sơn gel tay"). For a question asking what the shop has, the first row counts when two rows of its table name all
    the question does ("what TVs do you have?" and three TV rows). Such hits carry `named` (for the relevance
    check)."""
    chunks = {h["chunk_id"]: Chunk.get_or_none(Chunk.id == h["chunk_id"]) for h in hits}
    first = next((h for h in hits if chunks[h["chunk_id"]] is not None and chunks[h["chunk_id"]].cells), None)
    asked = len(rows.concepts(question))
    if first is None or asked == 0:
        return hits
    return _named_row(services, hits, chunks, first, question, asked)


def _rows_in_order(candidates: list[tuple], question: str) -> list[tuple]:
    """Candidates in order, but the table rows among them re-ranked by how much of what the question names their
    name, brand, code or category holds, across languages ("gel manicure" is "sơn gel tay", not "tháo gel");
    passages keep their places. Each candidate holds its hit (a dict) and its chunk."""
    def parts(candidate: tuple) -> tuple[dict, Chunk]:
        return (next(x for x in candidate if isinstance(x, dict)), next(x for x in candidate if isinstance(x, Chunk)))

    slots = [i for i, c in enumerate(candidates) if parts(c)[1].cells]
    if len(slots) < 2:
        return candidates
    overlap = {}
    for i in slots:
        hit, chunk = parts(candidates[i])
        overlap[i] = rows.name_overlaps(question, {i: chunk.cells}, _fields(hit["document_id"], chunk.cells))[i]
    ranked = list(candidates)
    for slot, i in zip(slots, sorted(slots, key=lambda i: -overlap[i])):
        ranked[slot] = candidates[i]
    return ranked


def _named_row(services, hits: list[dict], chunks: dict, first: dict, question: str, asked: int) -> list[dict]:
    """`_with_named_row`'s second half: the row of `first`'s table the question names, or its list, counted."""
    fields = _fields(first["document_id"], chunks[first["chunk_id"]].cells)
    overlaps = rows.name_overlaps(question, _table(first["document_id"]), fields)
    if rows.asks_for_list(question):
        if sum(overlap == asked for overlap in overlaps.values()) < 2:
            return hits
        return [{**hit, "relevant": True, "named": True} if hit is first else hit for hit in hits]
    if asked < _NAMED_AT_LEAST:
        return hits
    scored = sorted(((overlap, i) for i, overlap in overlaps.items()), reverse=True)
    table_hits = {h["chunk_id"]: h for h in hits if h["document_id"] == first["document_id"]}
    if (not scored or scored[0][0] < max(_NAMED_AT_LEAST, math.ceil(_NAMED_SHARE * asked))
            or (len(scored) > 1 and scored[1][0] == scored[0][0])
            or any(overlaps.get(i, 0) >= scored[0][0] for i in table_hits if i != scored[0][1])):
        return hits
    best = scored[0][1]
    if best in table_hits:  # found, but perhaps not close enough in meaning to count: what it names counts
        named = {**table_hits[best], "relevant": True, "named": True}
    else:
        row = Chunk.get_by_id(best)
        score = round(float(_similarities(services, question, [row.text])[0]), 4)
        named = {**first, "chunk_id": row.id, "text": row.text, "page": row.page, "row": row.row, "start": row.start,
                 "end": row.end, "score": score, "strong": [], "relevant": True, "named": True,
                 "fused": None, "lexical": None}
    ordered = []
    for hit in hits:
        if hit is first:
            ordered.append(named)
        if hit["chunk_id"] != best:
            ordered.append(hit)
    return ordered


_NAMED_AT_LEAST = 2  # things named (a word or its glossary meaning): one ("gel", "extensions") names no one row
_NAMED_SHARE = 0.75  # of what the question names: "repair Sony TVs" is not the Sony TV row


_MOST_SCANNED = 500  # rows: a table this size is read whole for a named item or a list (~25 ms); a bigger one is not


def _table(document_id: int) -> dict[int, dict]:
    """A table's rows (chunk id: cells) in order, or nothing when it is too big to read whole."""
    live = Chunk.cells.is_null(False) & (Chunk.deleted == False)  # noqa: E712
    table = (Chunk.select(Chunk.id, Chunk.cells).where((Chunk.document == document_id) & live)
             .order_by(Chunk.ordinal).limit(_MOST_SCANNED + 1))
    found = {c.id: c.cells for c in table}
    return found if len(found) <= _MOST_SCANNED else {}


def _table_answer(hit: dict, chunk: Chunk, question: str, language: str, hits: list[dict]) -> str:
    """A row's answer to the question, or the rows that match when the question asks what the shop has."""
    fields = _fields(hit["document_id"], chunk.cells)
    if rows.asks_for_list(question):
        listed = _listed_rows(hit, chunk, fields, question, hits)
        if len(listed) > 1:
            return rows.list_answer([(cells, fields) for cells in listed], question, language)
    return rows.row_answer(chunk.cells, fields, language, question)


def _listed_rows(hit: dict, chunk: Chunk, fields: dict, question: str, hits: list[dict]) -> list[dict]:
    """The rows of the hit's table that name most of what the question asks for, in the table's order; the hits' rows
    of that table when the question names nothing in particular."""
    ids = list(dict.fromkeys([chunk.id] + [h["chunk_id"] for h in hits if h["document_id"] == hit["document_id"]]))
    found = _table(hit["document_id"])
    if not found:
        found = {c.id: c.cells for c in Chunk.select(Chunk.id, Chunk.cells).where(Chunk.id.in_(ids))}
    overlap = rows.name_overlaps(question, found, fields)
    best = max(overlap.values(), default=0)
    if best == 0:
        return [found[i] for i in ids if i in found]
    return [cells for i, cells in found.items() if overlap[i] == best]


_CLEARLY_CLOSER = 0.1  # cosine: less than this is the embedder's noise, retrieval's order knows as much
_SENTENCE_MARGIN = 0.1  # one sentence is closer to a question than a whole chunk is: it must be that much closer

_HEADING_SPLIT = re.compile(r"(?m)^(?=\s{0,3}#{1,6}\s)")


def _best_section(services, text: str, queries: list[str]) -> tuple[str, float]:
    """The chunk's Markdown section (heading and body) holding the sentence closest to the question, and how close."""
    sections = [s for s in _HEADING_SPLIT.split(text) if s.strip()] or [text]
    units = [(i, unit) for i, section in enumerate(sections) for unit in sentences(section) or [section]]
    scores = _similarities(services, queries, [unit for _, unit in units])
    best = int(np.argmax(scores))
    return sections[units[best][0]], float(scores[best])


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


_QA = re.compile(r"(?im)^\s*(?:\*\*)?\s*(?:q|question|hỏi|câu hỏi)\s*[:.]\s*(?:\*\*)?(?P<q>.+?)\s*\n+"
                 r"\s*(?:\*\*)?\s*(?:a|answer|đáp|trả lời)\s*[:.]\s*(?:\*\*)?(?P<a>(?:.+\n?)+?)(?=\n\s*\n|\Z|^\s*(?:\*\*)?"
                 r"\s*(?:q|question|hỏi|câu hỏi)\s*[:.])")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
_LONG = 500  # characters: a longer body answers with its sentences closest to the question


def passage_answer(services, text: str, question) -> str:
    """A Q/A pair's answer, a Markdown section's body, or the 1-3 sentences closest to the question."""
    pairs = [(m.group("q"), m.group("a")) for m in _QA.finditer(text)]
    if pairs:
        if len(pairs) == 1:
            body = pairs[0][1]
        else:
            scores = _similarities(services, question, [f"{q} {a}" for q, a in pairs])
            body = pairs[int(np.argmax(scores))][1]
    else:
        body = _HEADING_LINE.sub("", text)
    body = clean(body)
    if len(body) <= _LONG and len(sentences(body)) <= 3:
        return body
    return " ".join(closest_sentences(services, body, question))


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


def closest_sentences(services, text: str, question, most: int = 3) -> list[str]:
    """Up to `most` sentences of `text` nearest to the question by the embedder, in their order in the text."""
    found = sentences(text)
    if len(found) <= 1:
        return found
    scores = _similarities(services, question, found)
    best = float(scores.max())
    ranked = {int(i) for i in np.argsort(-scores)[:most] if scores[i] >= best - 0.1}
    # a title line ("Tool warranty.") says what follows: the sentence after it is the answer
    ranked |= {i + 1 for i in ranked if i + 1 < len(found) and len(found[i].split()) <= 3}
    return [found[i] for i in sorted(ranked)]


def _similarities(services, question, texts: list[str]) -> np.ndarray:
    """Cosine of each text to the question (a list of its wordings: the best of them)."""
    queries = [question] if isinstance(question, str) else list(question)
    vectors = services.models.embedder().encode([*queries, *texts])
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
