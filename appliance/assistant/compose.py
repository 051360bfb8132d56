"""Answers composed from the retrieved sources themselves: a table row from its fields, a section or Q/A pair
from its body, prose from the sentences closest to the question. No markup reaches the customer."""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from appliance.assistant import glossary, lexical, relevance, rows
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


def compose(services, hits: list[dict], question: str, language: str, threshold: float = 1.0,
            rarity: relevance.Rarity | None = None, memo=None) -> Extract | None:
    """The answer to `question` in `language` (vi or en) from the hit that says it best; None when no hit is really
    about the question. A hit counts when its row, or one of its sections, covers what the question names
    (relevance.coverage, weighed by `rarity`) and it is `relevant`, close to the question as `threshold` plus a
    margin, or covers nearly all of it; the one covering most goes first, then retrieval order. `memo`
    (appliance.assistant.vectors.Memo) holds the texts already embedded for this answer: the question's wordings and
    the hits' stored sentences."""
    queries = glossary.wordings(question, _script_language(question))
    chunks = Chunk.by_ids([hit["chunk_id"] for hit in hits])
    hits = _with_named_row(services, hits, question, chunks)
    added = [hit["chunk_id"] for hit in hits if hit["chunk_id"] not in chunks]
    if added:  # the named row of a table
        chunks.update(Chunk.by_ids(added))
    asked = relevance.units(question)
    candidates = []
    for hit in hits:
        chunk = chunks.get(hit["chunk_id"])
        if chunk is None:
            continue
        if chunk.cells:
            unit, score = None, hit["score"]
            covered = relevance.coverage(question, hit["text"], rarity, asked)
        else:
            unit, score, covered = _best_section(services, hit["text"], queries, asked, rarity, memo)
            score = max(score, hit["score"])
        if _answers(question, hit, covered, score, threshold) or _named_directly(question, hit, chunk, rarity, asked):
            said, _ = relevance.evidence(question, hit["text"] if unit is None else unit, rarity, asked)
            candidates.append((covered, score, hit, chunk, unit, said))
    for _, _, hit, chunk, unit, _ in _rows_in_order(_in_order(candidates, question), question):
        if chunk.cells:
            text = _table_answer(hit, chunk, question, language, hits)
        else:
            text = local_prices(passage_answer(services, unit, queries, rarity, memo), language)
        text = clean(text)
        if text:
            return Extract(text=text, hits=[hit])
    return None


def _answers(question: str, hit: dict, covered: float, score: float, threshold: float) -> bool:
    """Whether a hit (its best section) answers the question: it covers what the question names and it is relevant,
    close to the question as `threshold` plus a margin, or covers nearly all of it. Where the embedder reads both
    (English), a passage it finds clearly close may cover less: the customer's other words ("bought last week")
    often tell the case rather than the subject."""
    if hit.get("named"):  # a row holding nearly all the question names (compose._with_named_row)
        return True
    across = _script_language(question) != _script_language(hit["text"])
    if covered >= relevance.ABOUT:  # across languages the cosine is noise (MiniLM reads English): coverage decides
        return hit["relevant"] or score >= threshold + _SENTENCE_MARGIN or covered >= _COVERS_ALL or across
    if hit.get("strong") and covered >= _COVERS_SOME:
        return True  # it holds the product code or brand the question names ("Do you accept JCB cards?")
    english = _script_language(question) == "en" and _script_language(hit["text"]) == "en"
    return english and covered >= _COVERS_SOME and score >= _CLEARLY_CLOSE


def _named_directly(question: str, hit: dict, chunk: Chunk, rarity, asked) -> bool:
    """Whether the question names this passage though it covers little else of it: it holds the whole name of a table
    row, no other row having it ("How much is a salted coffee (cà phê muối)?"), or it is the keyword search's first hit and says a word of the
    question rare in the shop's documents ("wifi", "Amex": relevance.names_rare_word)."""
    if chunk.cells:
        # no name column guessed ("món"): a table names its rows in its first column
        column = _fields(hit["document_id"], chunk.cells).get("name") or next(iter(chunk.cells), None)
        name = _tokens(str(chunk.cells.get(column) or "")) if column else []
        if not name or f" {' '.join(name)} " not in f" {' '.join(_tokens(question))} ":
            return False
        # a name many rows share ("iPhone 13" for each of its repairs) does not say which row is asked about
        return sum(_tokens(str(cells.get(column) or "")) == name for cells in _table(hit["document_id"]).values()) == 1
    return hit.get("lexical") == 1 and relevance.names_rare_word(question, hit["text"], rarity, asked)


def _in_order(candidates: list[tuple], question: str) -> list[tuple]:
    """Candidates covering most of the question first; among those covering as much, those in the question's language,
    then those holding a code or name it asks about, then those saying its rarer words, then retrieval order (strong matches first, then fused rank), except that one
    clearly closer to the question by its best section goes first."""
    if not candidates:
        return candidates
    most = max(c[0] for c in candidates)
    # as much said in the customer's language beats a translation, and the reply is in that language too
    language = _script_language(question)
    # then one holding the product code or name asked about, then the one saying the rarer words ("hotline", not
    # the "điện thoại" of the shop's name)
    best = sorted((c for c in candidates if c[0] >= most - _AS_MUCH),
                  key=lambda c: (_script_language(c[2]["text"]) != language, -lexical.strength(c[2].get("strong") or []),
                                 -round(c[5], 1)))
    rest = sorted((c for c in candidates if c[0] < most - _AS_MUCH), key=lambda c: -c[0])
    alike = [c for c in best if _script_language(c[2]["text"]) == _script_language(best[0][2]["text"])]
    closest = max(alike, key=lambda c: c[1])  # cosines compare within one language only
    if closest[1] >= best[0][1] + _CLEARLY_CLOSER and not best[0][2].get("strong"):
        best = [closest] + [c for c in best if c is not closest]
    return best + rest


def _fields(document_id: int, cells: dict) -> dict:
    """A table's field mapping: the stored one, else guessed from the row's columns."""
    document = Document.get_or_none(Document.id == document_id)
    if document is not None and document.fields is not None:
        return document.fields
    return rows.guess_fields(list(cells), [cells])


def _with_named_row(services, hits: list[dict], question: str, found: dict[int, Chunk]) -> list[dict]:
    """The hits, and before the first table row among them the one row of its table that holds nearly all the
    question names (two things at least) and more than each of the hits' rows, counted as relevant: an English
    question finds Vietnamese rows by meaning only roughly ("gel manicure" finds "tháo gel" and "wax" as readily as
    "sơn gel tay"). For a question asking what the shop has, the first row counts when two rows of its table name all
    the question does ("what TVs do you have?" and three TV rows). `found`: the hits' chunks by id."""
    chunks = {h["chunk_id"]: found.get(h["chunk_id"]) for h in hits}
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
_COVERS_SOME = 0.34  # ...and this much, when the embedder finds it as close as _CLEARLY_CLOSE (English)
_CLEARLY_CLOSE = 0.5
_COVERS_ALL = 0.75  # a passage saying this much of what the question names is about it whatever the embedder says
_AS_MUCH = 0.1  # coverage: passages this close cover the question equally well

_HEADING_SPLIT = re.compile(r"(?m)^(?=\s{0,3}#{1,6}\s)")
# A paragraph opened by a short label ("Hủy đơn: Quý khách hủy ...") is a section like a Markdown heading's; not a
# Q/A pair's "Q:" nor a short line such as "Thứ Hai: 8:00 - 20:00" (a list's item).
_LABEL_SPLIT = re.compile(r"(?m)^(?=[ \t]*(?!(?:q|a|question|answer|hỏi|đáp|câu hỏi|trả lời)\s*:)"
                          r"[^\W\d_][^\n:.!?#\d]{1,40}:[ \t]+[^\n]{60,})", re.I)


def sections_of(text: str) -> list[str]:
    """A prose chunk's sections: Markdown headings and labelled paragraphs each open one; a title line alone
    ("CHÍNH SÁCH ĐỔI TRẢ – TIỆM ...") names the document and answers nothing, so it is no section."""
    found = []
    for block in _HEADING_SPLIT.split(text):  # under a Markdown heading, labelled lines belong to its section
        found += [block] if block.lstrip().startswith("#") else _LABEL_SPLIT.split(block)
    found = [part for part in found if part.strip()]
    return [part for part in found if not _only_title(part)] or found or [text]


def _only_title(section: str) -> bool:
    lines = [line for line in section.splitlines() if line.strip()]
    return len(lines) == 1 and (_is_title(lines[0]) or not re.search(r"[.!?:…]", lines[0]))


def _best_section(services, text: str, queries: list[str], asked=None, rarity=None, memo=None
                  ) -> tuple[str, float, float]:
    """The chunk's Markdown section (heading and body) covering most of the question, the closest one by its
    closest sentence among those covering as much; with its cosine and its coverage."""
    sections = sections_of(text)
    covered = [_section_coverage(queries[0], section, asked, rarity) for section in sections]
    most = max(covered)
    if most < _COVERS_SOME:
        return sections[int(np.argmax(covered))], 0.0, most  # says too little of the question: no need to embed it
    near = [n for n in range(len(sections)) if covered[n] >= most - _AS_MUCH]
    units = [(n, unit) for n in near for unit in sentences(sections[n]) or [sections[n]]]
    scores = _similarities(services, queries, [unit for _, unit in units], memo)
    closest = {n: max(float(scores[k]) for k, (i, _) in enumerate(units) if i == n) for n in near}
    best = max(near, key=lambda n: closest[n])
    return sections[best], closest[best], covered[best]


def scored_texts(text: str) -> list[str]:
    """Every text of a prose chunk that answering may compare with a question: the sentences of its sections, its
    Q/A pairs and the sentences of its long bodies (embedded once and stored: appliance.assistant.vectors)."""
    found: list[str] = []
    for section in sections_of(text):
        found += sentences(section) or [section]
        pairs = [(m.group("q"), m.group("a")) for m in _QA.finditer(section)]
        found += [f"{q} {a}" for q, a in pairs] if len(pairs) > 1 else []
        for body in [clean(a) for _, a in pairs] or [clean(_HEADING_LINE.sub("", section))]:
            if len(body) > _LONG or len(sentences(body)) > 3:
                found += _titled(sentences(body))
    return list(dict.fromkeys(found))


def _section_coverage(question: str, section: str, asked, rarity, most: int = 3) -> float:
    """How much of the question a section says in at most `most` neighbouring sentences (an answer is that long;
    a page that names the words in different paragraphs says none of them together)."""
    found = _titled(sentences(section)) or [section]
    # "## Giờ mở cửa" heads every sentence under it, "Đến trễ: ..." those of its paragraph
    heads = relevance.paragraph_topics(found, frozenset(relevance.heading_topics(section)))
    return max(relevance.coverage(question, " ".join(found[i:i + most]), rarity, asked,
                                  frozenset().union(*heads[i:i + most]))
               for i in range(max(1, len(found) - most + 1)))


def _titled(found: list[str]) -> list[str]:
    """Sentences with a title line ("Tool warranty.", up to 3 words) joined to the sentence it introduces."""
    out: list[str] = []
    for sentence in found:
        if out and len(out[-1].split()) <= 3 and not out[-1].endswith("?") and not _is_title(out[-1]):
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


def about(question: str, text: str) -> bool:
    """Whether a passage covers enough of what the question names (relevance.about with every word as rare)."""
    return relevance.about(question, text)


def _script_language(text: str) -> str:
    return relevance.script_language(text)


_QA = re.compile(r"(?im)^\s*(?:\*\*)?\s*(?:q|question|hỏi|câu hỏi)\s*[:.]\s*(?:\*\*)?(?P<q>.+?)\s*\n+"
                 r"\s*(?:\*\*)?\s*(?:a|answer|đáp|trả lời)\s*[:.]\s*(?:\*\*)?(?P<a>(?:.+\n?)+?)(?=\n\s*\n|\Z|^\s*(?:\*\*)?"
                 r"\s*(?:q|question|hỏi|câu hỏi)\s*[:.])")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
_LONG = 500  # characters: a longer body answers with its sentences closest to the question


def passage_answer(services, text: str, question, rarity: relevance.Rarity | None = None, memo=None) -> str:
    """A Q/A pair's answer, a Markdown section's body, or the 1-3 sentences that say most of what the question asks.
    `question` is the question or its wordings (glossary.wordings: the question first)."""
    pairs = [(m.group("q"), m.group("a")) for m in _QA.finditer(text)]
    if pairs:
        if len(pairs) == 1:
            body = pairs[0][1]
        else:
            scores = _scores(services, question, [f"{q} {a}" for q, a in pairs], rarity, memo=memo)
            body = pairs[int(np.argmax(scores))][1]
    else:
        body = _HEADING_LINE.sub("", text)
    listed = _is_list(body)
    body = clean(body)
    if len(body) <= _LONG and (len(sentences(body)) <= 3 or listed):
        return body
    headed = frozenset(relevance.heading_topics(text))
    return " ".join(closest_sentences(services, body, question, rarity=rarity, headed=headed, memo=memo))


_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+\S")


def _is_list(body: str) -> bool:
    """Whether a body is a list (each line an item, perhaps after a line introducing it): its items are the parts of
    one answer (the hours of each day, the cards taken), so a short list answers whole, whichever item the
    question's words are closest to ("weekend" is said by the holidays item, the weekend's hours by another)."""
    lines = [line for line in body.splitlines() if line.strip()]
    others = [line for line in lines if not _LIST_ITEM.match(line)]
    return len(lines) - len(others) >= 2 and others in ([], lines[:1])


# Sentence ends: . ! ? … followed by space and a capital or digit (Vietnamese capitals too), or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"“(]?[A-ZÀ-ỸĐ0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")
# a short line without a full stop before a capital is a heading ("Returns and exchanges" over its paragraph)
_HEADING_LINE_END = re.compile(r"(?m)^(?=[^\n]*[^\W\d_])(?:[^\s.!?:;,…]+[ \t]+){0,7}[^\s.!?:;,…]+[ \t]*\n(?=[ \t]*[A-ZÀ-ỸĐ])")
_ABBREVIATIONS = {"tp", "q", "p", "mr", "mrs", "ms", "dr", "st", "no", "vs", "e.g", "i.e", "v.v", "tel", "đt", "sđt"}


def sentences(text: str) -> list[str]:
    """The text's sentences; abbreviations (TP. HCM, Q. 1, Mr.) and numbers (690.000) do not end one."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(_HEADING_LINE_END.sub(r"\g<0>\n", text)):
        piece = " ".join(piece.split()).lstrip("-*• ").strip()
        if not piece:
            continue
        if out and out[-1].rsplit(" ", 1)[-1].rstrip(".").lower() in _ABBREVIATIONS:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def closest_sentences(services, text: str, question, most: int = 3, rarity: relevance.Rarity | None = None,
                      headed: frozenset[str] = frozenset(), memo=None) -> list[str]:
    """Up to `most` neighbouring sentences of `text` that say most of the question (the words it names, then the
    embedder's closeness), in their order in the text; with the sentence stating a number when one is asked for.
    `headed`: the shop topics of the heading over the text (relevance.heading_topics)."""
    found = _titled(sentences(text))
    if len(found) <= 1:
        return found
    scores = _scores(services, question, found, rarity, relevance.paragraph_topics(found, headed), memo=memo)
    for i, sentence in enumerate(found):
        if _is_title(sentence):
            scores[i] = -np.inf  # "RETURNS POLICY - SHOP NAME" names the document, it answers nothing
    best = int(np.argmax(scores))
    first = last = best
    while last - first + 1 < most:
        around = [i for i in (first - 1, last + 1) if 0 <= i < len(found) and scores[i] >= scores[best] - _NEIGHBOUR]
        if not around:
            break
        nearer = max(around, key=lambda i: scores[i])
        first, last = min(first, nearer), max(last, nearer)
    if _asks_number(_question_text(question)) and not any(_DIGIT.search(found[i]) for i in range(first, last + 1)):
        for i in (last + 1, first - 1):  # "Deposits are refunded." is the rule; the sentence before says how much
            if 0 <= i < len(found) and _DIGIT.search(found[i]) and last - first + 1 < most:
                first, last = min(first, i), max(last, i)
                break
    return found[first:last + 1]


_NEIGHBOUR = 0.1  # a neighbouring sentence scoring this close to the best one belongs to the answer
_DIGIT = re.compile(r"\d")
_ASKS_NUMBER = re.compile(r"\b(bao lau|bao nhieu|may|how long|how much|how many|when|what time|khi nao|luc nao|"
                          r"gio nao|ngay nao|percent|phan tram)\b")


def _asks_number(question: str) -> bool:
    """Whether the question asks for an amount, a period or a time (the answer states a number)."""
    return _ASKS_NUMBER.search(" ".join(_tokens(question))) is not None


def _is_title(sentence: str) -> bool:
    letters = [c for c in sentence if c.isalpha()]
    return len(letters) > 3 and all(c.isupper() for c in letters)


def _question_text(question) -> str:
    return question if isinstance(question, str) else list(question)[0]


def _scores(services, question, texts: list[str], rarity: relevance.Rarity | None = None,
            headed: list[frozenset[str]] | None = None, memo=None) -> np.ndarray:
    """How well each text answers the question: the share of what it names that the text says (relevance.coverage)
    plus the embedder's cosine. `headed`: per text, the shop topics heading it (relevance.paragraph_topics)."""
    words = _question_text(question)
    asked = relevance.units(words)
    heads = headed or [frozenset()] * len(texts)
    covered = np.array([relevance.coverage(words, text, rarity, asked, head) for text, head in zip(texts, heads)])
    return covered + _similarities(services, question, texts, memo)


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
