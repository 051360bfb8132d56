"""One hnswlib vector index per tenant in <data>/index/<tenant>.bin: atomic saves, a read/write lock, rebuilt from the chunk rows."""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.assistant import lexical
from appliance.db import database
from appliance.errors import AppError
from appliance.records import Chunk, ChunkVector

log = logging.getLogger(__name__)

FORMAT = 1
INITIAL_CAPACITY = 1024
_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IndexError_(AppError):
    """The index cannot be used (and cannot be rebuilt without the embedder)."""

    status, code = 503, "index_unavailable"


class RWLock:
    """Many readers or one writer: hnswlib's knn_query may run in parallel, add_items may not run beside it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def pack(vectors: np.ndarray) -> list[bytes]:
    """Vectors as float16 blobs for the ChunkVector rows (half the size; recall is unaffected)."""
    return [row.astype(np.float16).tobytes() for row in np.asarray(vectors)]


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


class TenantIndex:
    """The vector index of one tenant. Labels are Chunk ids; scores are cosine similarities."""

    def __init__(self, folder: Path, tenant_id: str, dim: int, settings):
        if not _TENANT_ID.match(tenant_id):
            raise ValueError(f"bad tenant id {tenant_id!r}")
        self.tenant_id = tenant_id
        self.path = Path(folder) / f"{tenant_id}.bin"
        self.meta_path = self.path.with_suffix(".json")
        self.lock_path = self.path.with_suffix(".lock")
        self.dim = dim
        self.m = int(settings["hnsw_m"])
        self.ef_construction = int(settings["hnsw_ef_construction"])
        self.ef = int(settings["hnsw_ef"])
        self.lock = RWLock()
        self._index = None
        self.live = 0  # vectors not marked deleted (hnswlib does not say)
        self._stamp = None  # the description file as we loaded or saved it: another process may save too
        self.rebuilt = False

    # --- loading -------------------------------------------------------------------------

    def _file_stamp(self) -> bytes | None:
        # The small description file holds the index file's checksum, so its bytes change with every save
        # (mtimes are too coarse and inode numbers get reused).
        try:
            return self.meta_path.read_bytes()
        except FileNotFoundError:
            return None

    def _new(self, capacity: int):
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=self.dim)
        index.init_index(max_elements=max(capacity, INITIAL_CAPACITY), ef_construction=self.ef_construction,
                         M=self.m, allow_replace_deleted=False)
        index.set_ef(self.ef)  # ef is not saved with the index
        index.set_num_threads(1)
        return index

    def problem(self) -> str | None:
        """Why the file on disk cannot be loaded as it is (missing, corrupt), or None."""
        if not self.path.exists() or not self.meta_path.exists():
            return f"The knowledge index {self.path} is missing."
        try:
            meta = json.loads(self.meta_path.read_text())
        except ValueError:
            return f"The knowledge index description {self.meta_path} is not valid JSON."
        if meta.get("format") != FORMAT or meta.get("dim") != self.dim:
            return f"The knowledge index {self.path} was written by another version."
        if self.path.stat().st_size != meta.get("size") or _sha256(self.path) != meta.get("sha256"):
            return f"The knowledge index {self.path} is corrupt (its checksum does not match)."
        return None

    def _load(self, embedder: Callable | None) -> None:
        """Load the file if it is sound, else rebuild it; then make it agree with the chunk rows."""
        import hnswlib

        problem = self.problem()
        index = None
        if problem is None:
            meta = json.loads(self.meta_path.read_text())
            try:
                index = hnswlib.Index(space="cosine", dim=self.dim)
                index.load_index(str(self.path), max_elements=max(meta["max_elements"], INITIAL_CAPACITY))
                index.set_ef(self.ef)
                index.set_num_threads(1)
            except Exception as exc:  # hnswlib raises RuntimeError on a file it cannot read
                problem, index = f"The knowledge index {self.path} could not be read ({exc}).", None
        self._stamp = self._file_stamp()
        if index is None:
            if self.path.exists() or self.meta_path.exists():
                log.warning("%s Rebuilding it from the chunk rows.", problem)
            self._index = self._new(INITIAL_CAPACITY)
            self.rebuilt = bool(self.path.exists() or self.meta_path.exists())
            self._sync(embedder, set())
            self._save()
            if self.rebuilt:
                _rebuild_lexical(self.tenant_id)
            return
        self._index = index
        have = set(int(i) for i in index.get_ids_list())
        if self._sync(embedder, have):
            self._save()

    def _live_chunk_ids(self) -> set[int]:
        return {row.id for row in Chunk.select(Chunk.id).where((Chunk.tenant == self.tenant_id)
                                                               & (Chunk.deleted == False))}  # noqa: E712

    def _sync(self, embedder: Callable | None, have: set[int]) -> bool:
        """Add chunk rows missing from the index, drop labels with no row (a crash between the two writes)."""
        live = self._live_chunk_ids()
        missing = sorted(live - have)
        extra = [label for label in have - live if self._mark_deleted(label)]
        if missing:
            ids, vectors = self._vectors_for(missing, embedder)
            self._add(ids, vectors)
        self.live = len(live)
        if missing or extra:
            log.info("index of %s: %d chunks added, %d dropped to match the database", self.tenant_id,
                     len(missing), len(extra))
        return bool(missing or extra)

    def _vectors_for(self, ids: list[int], embedder: Callable | None) -> tuple[list[int], np.ndarray]:
        """Stored vectors of these chunks; chunks without one are embedded again (needs the embedder)."""
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for row in ChunkVector.select().where(ChunkVector.chunk.in_(part)):
                found[row.chunk_id] = unpack(row.vector)
        lacking = [i for i in ids if i not in found]
        if lacking:
            if embedder is None:
                raise IndexError_(f"{len(lacking)} chunks of tenant {self.tenant_id} have no stored vector; "
                                  "start the appliance (it loads the embedder) to rebuild the index.")
            texts = {c.id: c.text for c in Chunk.select(Chunk.id, Chunk.text).where(Chunk.id.in_(lacking))}
            vectors = embedder().encode([texts[i] for i in lacking])
            for chunk_id, vector, blob in zip(lacking, vectors, pack(vectors)):
                found[chunk_id] = vector
                ChunkVector.insert(chunk=chunk_id, tenant=self.tenant_id, vector=blob).on_conflict_replace().execute()
        return ids, np.stack([found[i] for i in ids]) if ids else np.zeros((0, self.dim), np.float32)

    # --- writing -------------------------------------------------------------------------

    def _add(self, ids: list[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        needed = self._index.element_count + len(ids)
        capacity = self._index.get_max_elements()
        if needed > capacity:
            self._index.resize_index(max(needed, capacity * 2))
        for label in ids:  # a reused chunk id may still sit in the index as deleted
            try:
                self._index.unmark_deleted(int(label))
            except RuntimeError:
                pass
        self._index.add_items(np.asarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        self.live += len(ids)

    def _mark_deleted(self, label: int) -> bool:
        try:
            self._index.mark_deleted(int(label))
        except RuntimeError:  # unknown or already deleted
            return False
        self.live -= 1
        return True

    def _save(self) -> None:
        """Write to temp names and rename: a crash leaves the old index or the new, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._index.save_index(str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        meta = {"format": FORMAT, "dim": self.dim, "size": tmp.stat().st_size, "sha256": _sha256(tmp),
                "count": self._index.get_current_count(), "max_elements": self._index.get_max_elements()}
        os.replace(tmp, self.path)
        meta_tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        meta_tmp.write_text(json.dumps(meta))
        os.replace(meta_tmp, self.meta_path)
        self._stamp = self._file_stamp()

    @contextmanager
    def _writing(self, embedder: Callable | None):
        """The write lock of this process and the file lock against other processes (`appliance ingest`).

        Yields True when the index was (re)loaded just now: loading syncs it with the chunk rows, which are
        always written before the index, so the caller's change is already in it."""
        with self.lock.write():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    loaded = self._index is None or self._file_stamp() != self._stamp
                    if loaded:
                        self._load(embedder)
                    yield loaded
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def ensure_loaded(self, embedder: Callable | None = None) -> None:
        """Load (or rebuild) now, and again whenever another process saved the file."""
        if self._index is not None and self._file_stamp() == self._stamp:
            return
        with self._writing(embedder):
            pass

    def add(self, ids: list[int], vectors: np.ndarray, embedder: Callable | None = None) -> None:
        """Add vectors under these chunk ids and save."""
        with self._writing(embedder) as loaded:
            if not loaded:
                self._add(list(ids), vectors)
                self._save()

    def replace(self, remove: list[int], ids: list[int], vectors: np.ndarray, embedder: Callable | None = None) -> None:
        """Drop the old chunk ids of a document and add its new ones, saved once."""
        with self._writing(embedder) as loaded:
            if not loaded:
                for label in remove:
                    self._mark_deleted(label)
                self._add(list(ids), vectors)
                self._save()

    def delete(self, ids: list[int], embedder: Callable | None = None) -> None:
        """Mark these chunk ids deleted and save."""
        with self._writing(embedder) as loaded:
            if not loaded:
                for label in ids:
                    self._mark_deleted(label)
                self._save()

    def rebuild(self, embedder: Callable | None = None) -> int:
        """Throw the index away and build it again from the chunk rows; returns the number of vectors."""
        with self._writing(embedder) as loaded:
            if not (loaded and self.rebuilt):  # loading a broken file has just rebuilt it
                self._index = self._new(INITIAL_CAPACITY)
                self.live = 0
                self._sync(embedder, set())
                self._save()
                self.rebuilt = True
            _rebuild_lexical(self.tenant_id)
            return self._index.get_current_count()

    # --- reading -------------------------------------------------------------------------

    def search(self, vector: np.ndarray, k: int, embedder: Callable | None = None) -> list[tuple[int, float]]:
        """The k nearest chunk ids with cosine similarity, best first."""
        self.ensure_loaded(embedder)
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        with self.lock.read():
            k = min(k, self.live)
            while k > 0:
                try:
                    labels, distances = self._index.knn_query(query, k=k)
                    break
                except RuntimeError:  # fewer reachable live elements than k
                    k //= 2
            else:
                return []
        return [(int(label), float(1.0 - dist)) for label, dist in zip(labels[0], distances[0])]

    @property
    def count(self) -> int:
        """Vectors in the index, deleted ones included."""
        return 0 if self._index is None else self._index.get_current_count()


def _rebuild_lexical(tenant_id: str) -> None:
    """A rebuild from the chunk rows covers the keyword index too: both are then in step with the same rows."""
    with database.atomic("IMMEDIATE"):
        lexical.rebuild(tenant_id)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_OPEN: dict[str, TenantIndex] = {}
_OPEN_LOCK = threading.Lock()


def folder(settings) -> Path:
    return Path(settings.data) / "index"


def for_tenant(settings, tenant_id: str, dim: int = 384) -> TenantIndex:
    """This process's index object for the tenant (loaded on first use). A tenant only ever gets its own file."""
    path = str((folder(settings) / f"{tenant_id}.bin").resolve())
    with _OPEN_LOCK:
        index = _OPEN.get(path)
        if index is None:
            index = _OPEN[path] = TenantIndex(folder(settings), tenant_id, dim, settings)
        return index


def forget(settings=None) -> None:
    """Drop the in-memory indexes (of one data folder, or all); tests and restores use it."""
    with _OPEN_LOCK:
        if settings is None:
            _OPEN.clear()
            return
        prefix = str(folder(settings).resolve())
        for key in [k for k in _OPEN if k.startswith(prefix)]:
            del _OPEN[key]
