"""Lexical (BM25) search over a tenant's chunks, accent-folded, fused with the vector hits by reciprocal rank fusion.

Folding happens here in Python, the same way for chunk text and queries: NFD, combining marks dropped, đ/Đ -> d,
lower-case, so "gia" finds "giá" and "da nang" finds "Đà Nẵng" (FTS5's unicode61 tokenizer alone keeps đ).
User text never reaches FTS5 as syntax: each token is quoted, so quotes, `*`, NEAR, AND and OR are just words.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from appliance.assistant.prompts import fold  # the one accent fold: FTS rows, queries and answers agree
from appliance.records import Chunk, ChunkTerms

log = logging.getLogger(__name__)

RRF_K = 60  # the usual reciprocal rank fusion constant: rank 1 is worth 1/61, rank 10 1/70
MAX_TERMS = 32  # a 10k-character question searches its first distinct words, not all of them
POSTINGS_BUDGET = 6_000  # most chunk matches one query may make FTS5 score; the commonest words are dropped first
_TOKEN = re.compile(r"[^\W_]+")  # what FTS5's unicode61 tokenizer keeps: letters and digits
_RAW_WORD = re.compile(r"[^\W_]+(?:[-./][^\W_]+)*")  # "SKU-4471", "A52s", "v2.1" stay one word
STOP_WORDS = frozenset(
    "about after again also because been before being between could does doing during every from have having here "
    "just more most much other over same should some such than that their them then there these they this those "
    "through under until very what when where which while will with would your yours shop store please thanks "
    "hello price prices cost many want need know tell show".split()
    + "khong nhung duoc trong nguoi nhieu nhu the nao minh chung toi ban muon biet cho hoi xin chao cam".split())


def terms(text: str) -> list[str]:
    """The folded tokens of a text, in order."""
    return _TOKEN.findall(fold(text))


@dataclass
class Query:
    """A question prepared for lexical search: the words searched and the ones that make a match strong."""

    match: str  # FTS5 expression of quoted words joined by OR; empty means nothing to search
    codes: list[tuple[str, ...]] = field(default_factory=list)  # product codes and model numbers, as token phrases
    names: set[str] = field(default_factory=set)  # written like brands in the question (iPhone, MoMo)
    rare: set[str] = field(default_factory=set)  # in few of the tenant's chunks: strong where a chunk writes it as a name

    @property
    def can_be_strong(self) -> bool:
        """Whether any chunk can match it strongly (see strong_terms): it has a code, a brand-like or a rare word."""
        return bool(self.codes or self.names or self.rare)


def prepare(tenant_id: str, question: str, total: int) -> Query:
    """The FTS5 expression for a question against this tenant's `total` chunks, and its strong terms."""
    if not ChunkTerms.exists(tenant_id):
        return Query(match="")
    words = list(dict.fromkeys(terms(question[:20_000])))[:MAX_TERMS]
    codes = _codes(question)
    frequency = ChunkTerms.doc_freqs(tenant_id, words)
    kept, postings = [], 0
    for word in sorted((w for w in words if frequency[w]), key=frequency.get):
        if total >= 50 and frequency[word] > total / 2:
            break  # in most chunks: no BM25 weight (negative idf), only time spent
        if postings + frequency[word] > (POSTINGS_BUDGET if kept else 4 * POSTINGS_BUDGET):
            break  # the commonest of the remaining words add little and cost the most
        kept.append(word)
        postings += frequency[word]
    # Codes are not searched as phrases: "sku 4471" would read the postings of "sku" (every row); their rarest
    # word finds the row, and strong_terms checks the whole code on the few chunks found.
    match = " OR ".join(f'"{word}"' for word in kept)
    rare_limit = max(2, total // 100)
    rare = {w for w in words if len(w) >= 4 and w not in STOP_WORDS and not w.isdigit() and 0 < frequency[w] <= rare_limit}
    return Query(match=match, codes=codes, names=_names(question), rare=rare)


def _codes(question: str) -> list[tuple[str, ...]]:
    """Product codes and model names as folded token phrases: words of 3+ characters with a digit (SKU-4471,
    A52s, 128GB) and runs of capitalised words holding a number (iPhone 15 Pro Max, Galaxy S24 Ultra)."""
    found: list[tuple[str, ...]] = []
    run: list[str] = []
    for raw in _RAW_WORD.findall(question[:20_000]) + [""]:
        if len(raw) >= 3 and any(c.isdigit() for c in raw):
            found.append(tuple(terms(raw)))
        if raw and (any(c.isupper() for c in raw) or any(c.isdigit() for c in raw)):
            run.append(raw)
            continue
        if len(run) > 1 and any(c.isdigit() for word in run for c in word):
            found.append(tuple(terms(" ".join(run))))
        run = []
    return list(dict.fromkeys(phrase for phrase in found if phrase))[:MAX_TERMS]


def _names(question: str) -> set[str]:
    """Brand-like words: mixed case with a capital after the first letter (iPhone, MoMo, VNPay), 3+ letters.

    All-capitals words (SKU, ATM, FAQ) are labels and shouting more often than brands."""
    return {fold(w) for w in _TOKEN.findall(question[:20_000])
            if len(w) >= 3 and any(c.isupper() for c in w[1:]) and any(c.islower() for c in w)}


def search(tenant_id: str, query: Query, limit: int) -> list[int]:
    """The tenant's chunk ids best first by BM25 (empty when the question has no searchable word)."""
    if not query.match or not ChunkTerms.exists(tenant_id):
        return []
    return [chunk_id for chunk_id, _ in ChunkTerms.search(tenant_id, query.match, limit)]


def strength(strong: list[str]) -> int:
    """How much of the question a chunk's strong terms cover, in words (a full model name beats its brand)."""
    return sum(len(term.split()) for term in strong)


def strong_terms(query: Query, chunk_text: str) -> list[str]:
    """The product codes and brand-like words of the question that this chunk contains, and its rare words
    where the chunk writes them as a name ("momo" finds "pay by MoMo"; "hours" does not make "48 hours" strong)."""
    words = terms(chunk_text)
    joined = f" {' '.join(words)} "
    found = [" ".join(code) for code in query.codes if f" {' '.join(code)} " in joined]
    present = set(words)
    found += sorted(w for w in query.names if w in present and w not in found)
    found += sorted(w for w in _written_as_names(chunk_text, query.rare - query.names) if w not in found)
    return found


def _written_as_names(text: str, wanted: set[str]) -> set[str]:
    """Which of these folded words the text writes capitalised other than at the start of a sentence or line."""
    named = set()
    if not wanted:
        return named
    for match in _TOKEN.finditer(text):
        word = match.group()
        if not any(c.isupper() for c in word) or fold(word) not in wanted:
            continue
        before = text[:match.start()].rstrip(" \t\"'(*#-•")
        if before and before[-1] not in ".!?\n":
            named.add(fold(word))
    return named


def fuse(*rankings: list[int]) -> dict[int, float]:
    """Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to the ids it holds."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    return fused


# --- keeping the table in step with the chunk rows ----------------------------------------------

def add(tenant_id: str, chunks: list[tuple[int, str]]) -> None:
    """Index (chunk id, text) pairs; call inside the transaction that writes the chunk rows."""
    ChunkTerms.put(tenant_id, [(chunk_id, " ".join(terms(text))) for chunk_id, text in chunks])


def remove(tenant_id: str, ids: list[int]) -> None:
    """Forget these chunk ids; call inside the transaction that deletes the chunk rows."""
    ChunkTerms.remove(tenant_id, ids)


def _live_chunks(tenant_id: str):
    return Chunk.select(Chunk.id, Chunk.text).where((Chunk.tenant == tenant_id) & (Chunk.deleted == False))  # noqa: E712


def rebuild(tenant_id: str) -> int:
    """Build the tenant's table again from its chunk rows; the number of chunks indexed."""
    ChunkTerms.drop(tenant_id)
    rows = [(c.id, c.text) for c in _live_chunks(tenant_id)]
    if rows:
        ChunkTerms.create(tenant_id)
        for start in range(0, len(rows), 1000):
            add(tenant_id, rows[start:start + 1000])
    log.info("lexical index of %s rebuilt: %d chunks", tenant_id, len(rows))
    return len(rows)


def problem(tenant_id: str) -> str | None:
    """Why the tenant's lexical index does not match its chunk rows, or None."""
    live = {c.id for c in _live_chunks(tenant_id)}
    have = ChunkTerms.ids(tenant_id)
    if live == have:
        return None
    return (f"The lexical (keyword) index of tenant {tenant_id} is out of step with its chunks "
            f"({len(live - have)} missing, {len(have - live)} left over).")
