"""Texts embedded once: the vectors of one answer (the question's wordings serve retrieval and sentence scoring) and
the stored vectors of each prose chunk's sentences (embedded by the first answer that uses the chunk, then kept: at
ingestion they would nearly double its embedding work for chunks that may never be asked about)."""
from __future__ import annotations

import hashlib
import logging
from typing import Callable

import numpy as np
from peewee import OperationalError

from appliance.assistant.compose import scored_texts
from appliance.db import database
from appliance.records import ChunkSentences

log = logging.getLogger(__name__)

_KEY = 8  # bytes of blake2b per text: a clash among one chunk's few dozen texts is out of reach


def key(text: str) -> bytes:
    """The short hash a text's vector is stored under."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_KEY).digest()


class Memo:
    """Vectors of the texts seen in one answer: `encode` embeds only the texts it has not seen, in one batch.

    It has the embedder's `encode`, so the sentence scorer takes either; the embedder is loaded on first need."""

    def __init__(self, embedder: Callable):
        self._embedder = embedder
        self._known: dict[bytes, np.ndarray] = {}

    def remember(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Vectors already embedded, by the keys of their texts."""
        self._known.update(zip(keys, vectors))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, as Embedder.encode gives them."""
        keys = [key(text) for text in texts]
        missing = {k: text for k, text in zip(keys, texts) if k not in self._known}
        if missing:
            self.remember(list(missing), self._embedder().encode(list(missing.values())))
        if not keys:
            return self._embedder().encode([])
        return np.stack([self._known[k] for k in keys])

    def load(self, tenant_id: str, chunks: list[tuple[int, str]]) -> None:
        """Take in the stored sentence vectors of these (chunk id, text) pairs in one query; prose chunks without
        them yet are embedded now, in one batch, and kept for the next answers."""
        stored = ChunkSentences.of(tenant_id, [chunk_id for chunk_id, _ in chunks])
        for row in stored.values():
            if row is not None:
                self.remember(*unpack(*row))
        missing = [(chunk_id, text) for chunk_id, text in chunks if chunk_id in stored and stored[chunk_id] is None]
        if missing:
            try:
                fill(tenant_id, missing, self.encode)
            except OperationalError as exc:  # a busy database: a later answer stores them
                log.warning("sentence vectors of %s not stored: %s", tenant_id, exc)


def pack(texts: list[str], vectors: list[np.ndarray]) -> tuple[bytes, bytes]:
    """The stored form of a chunk's texts' vectors: their keys, and their float16 rows in the same order."""
    return b"".join(key(t) for t in texts), np.asarray(vectors, dtype=np.float16).tobytes()


def unpack(keys: bytes, blob: bytes) -> tuple[list[bytes], np.ndarray]:
    """The keys and unit-length float32 vectors of a stored row (float16 rounding undone by normalising)."""
    split = [keys[i:i + _KEY] for i in range(0, len(keys), _KEY)]
    if not split:
        return [], np.zeros((0, 0), dtype=np.float32)
    vectors = np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(len(split), -1)
    return split, vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def fill(tenant_id: str, chunks: list[tuple[int, str]], encode: Callable[[list[str]], np.ndarray]) -> int:
    """Embed the sentences of these prose chunks, (id, text) pairs, in one batch (a sentence shared by overlapping
    chunks once) and store them in one transaction; a chunk deleted meanwhile is skipped. How many were stored."""
    pieces = [scored_texts(text) for _, text in chunks]
    unique = list(dict.fromkeys(t for found in pieces for t in found))
    by_text = dict(zip(unique, encode(unique))) if unique else {}
    rows = [(chunk_id, *pack(found, [by_text[t] for t in found])) for (chunk_id, _), found in zip(chunks, pieces)]
    with database.atomic("IMMEDIATE"):
        return ChunkSentences.put(tenant_id, rows)
