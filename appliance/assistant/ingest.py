"""Knowledge documents: check and store an upload, then (as a task) extract, chunk, embed and index it."""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.assistant import cache, index, lexical
from appliance.assistant.rows import guess_fields
from appliance.assistant.index import pack
from appliance.db import database
from appliance.errors import AppError
from appliance.records import Chunk, ChunkVector, Document

log = logging.getLogger(__name__)

KINDS = ("txt", "md", "pdf", "csv")
_EXTENSIONS = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf", ".csv": "csv"}
_SIGNATURES = (  # what a wrongly named file usually is, by its first bytes
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (Word, Excel and OpenDocument files are ZIP archives)"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{\\rtf", "an RTF document"),
)
SAVE_AS = "Save it as .txt, .md, .csv or .pdf and upload it again."


@dataclass
class Piece:
    """A stretch of a document's text with where it came from."""

    text: str
    page: int | None = None
    row: int | None = None
    base: int = 0  # character offset of the piece in its page or document
    cells: dict | None = None  # a table row's cells by column name


@dataclass
class Draft:
    """A chunk before it is stored."""

    text: str
    page: int | None
    row: int | None
    start: int
    end: int
    cells: dict | None = None


class Stopped(AppError):
    """Ingestion stopped early: the document was deleted, or the appliance is shutting down."""

    status, code = 409, "ingestion_stopped"


@dataclass
class Limits:
    """How much one document may take (settings ingest_max_*); `check` runs between pages, pieces and batches."""

    max_pages: int = 100_000
    max_chars: int = 1_000_000_000
    check: Callable[[], None] = lambda: None

    def count(self, name: str, chars: int) -> None:
        """Fail the document once its text is longer than max_chars."""
        if chars > self.max_chars:
            raise AppError(422, "document_too_long", f"{name} has more than {self.max_chars:,} characters of text "
                           "(setting ingest_max_chars); split it into smaller documents.")


# --- checking an upload ----------------------------------------------------------------------

def check_file(name: str, data: bytes, limit: int) -> str:
    """The document kind of this upload by name and content, or an AppError a shop owner can act on."""
    suffix = Path(name).suffix.lower()
    kind = _EXTENSIONS.get(suffix)
    if kind is None:
        raise AppError(415, "unsupported_file_type",
                       f"{name} is not a supported document; upload .txt, .md, .csv or .pdf files.")
    check_size(name, len(data), limit)
    if not data.strip():
        raise AppError(422, "empty_file", f"{name} is empty; there is nothing to learn from it.")
    found = next((what for magic, what in _SIGNATURES if data.startswith(magic)), None)
    if kind == "pdf":
        if found != "a PDF":
            raise AppError(415, "wrong_file_type",
                           f"{name} is named .pdf but is {found or 'not a PDF'} by its content. {SAVE_AS}")
    elif found is not None or b"\x00" in data[:8192]:
        raise AppError(415, "wrong_file_type",
                       f"{name} is named {suffix} but is {found or 'a binary file'} by its content. {SAVE_AS}")
    return kind


def check_size(name: str, size: int, limit: int) -> None:
    """A 413 when the file is over the upload_max_bytes setting."""
    if size > limit:
        raise AppError(413, "file_too_large", f"{name} is {_size(size)}; the limit is {_size(limit)} "
                       "(setting upload_max_bytes). Split it into smaller files.")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def decode_text(data: bytes) -> str:
    """Text files in UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# --- extracting text -----------------------------------------------------------------------

def extract(kind: str, data: bytes, name: str, limits: Limits | None = None) -> list[Piece]:
    """The document's text as pieces: the whole text, markdown sections, PDF pages or CSV rows."""
    limits = limits or Limits()
    pieces = _EXTRACTORS[kind](data, name, limits)
    limits.count(name, sum(len(p.text) for p in pieces))
    pieces = [p for p in pieces if p.text.strip()]
    if not pieces:
        raise AppError(422, "no_text", f"{name} has no text to learn from.")
    return pieces


def _text(data: bytes, name: str, limits: Limits) -> list[Piece]:
    return [Piece(decode_text(data))]


_HEADING = re.compile(r"^#{1,6}\s", re.M)


def _markdown(data: bytes, name: str, limits: Limits) -> list[Piece]:
    """One piece per section, so a chunk does not mix the answers to two questions."""
    text = decode_text(data)
    starts = sorted({0, *(m.start() for m in _HEADING.finditer(text))})
    return [Piece(text[a:b], base=a) for a, b in zip(starts, starts[1:] + [len(text)])]


def _pdf(data: bytes, name: str, limits: Limits) -> list[Piece]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AppError(422, "encrypted_pdf", f"{name} is protected by a password; save an unprotected copy "
                           "(print to PDF) and upload that.")
        pages = _pdf_pages(reader, name, limits)
    except AppError:  # ours (Stopped too): already a sentence
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise AppError(422, "unreadable_pdf", f"{name} could not be read as a PDF ({exc}); export it again and retry.") from None
    except Exception as exc:  # pypdf raises odd errors on odd files (missing AES support, broken streams)
        if "crypt" in str(exc).lower() or "AES" in str(exc):
            raise AppError(422, "encrypted_pdf", f"{name} is encrypted; save an unprotected copy and upload that.") from None
        raise AppError(422, "unreadable_pdf", f"{name} could not be read as a PDF ({exc}); export it again and retry.") from None
    if not any(p.text.strip() for p in pages):
        raise AppError(422, "no_text", f"{name} has pages but no text in them: it looks scanned. Run it through OCR "
                       "(or export the text) and upload the result.")
    return pages


def _pdf_pages(reader, name: str, limits: Limits) -> list[Piece]:
    """Page by page, with the limits checked in between: one page's text can cost seconds in a crafted PDF."""
    count = len(reader.pages)
    if count > limits.max_pages:
        raise AppError(422, "too_many_pages", f"{name} has {count:,} pages; the limit is {limits.max_pages:,} "
                       "(setting ingest_max_pages). Split the PDF into smaller files and upload those.")
    pages, chars = [], 0
    for number, page in enumerate(reader.pages, 1):
        limits.check()
        text = page.extract_text() or ""
        chars += len(text)
        limits.count(name, chars)
        pages.append(Piece(text, page=number))
    return pages


def _csv(data: bytes, name: str, limits: Limits) -> list[Piece]:
    """Each row becomes a readable card using the header names: 'Name: Rose bouquet. Price: 25.'"""
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise AppError(422, "no_text", f"{name} needs a header row and at least one data row.")
    header = [h.strip() or f"Column {i + 1}" for i, h in enumerate(rows[0])]
    pieces = []
    for number, row in enumerate(rows[1:], 1):
        fields = [f"{header[i] if i < len(header) else f'Column {i + 1}'}: {cell.strip()}"
                  for i, cell in enumerate(row) if cell.strip()]
        cells = {header[i] if i < len(header) else f"Column {i + 1}": cell.strip() for i, cell in enumerate(row)}
        pieces.append(Piece(". ".join(f.rstrip(".") for f in fields) + ".", row=number, cells=cells))
    return pieces


_EXTRACTORS: dict[str, Callable[[bytes, str, Limits], list[Piece]]] = {"txt": _text, "md": _markdown, "pdf": _pdf, "csv": _csv}


# --- chunking ------------------------------------------------------------------------------

def chunk(pieces: list[Piece], offsets_of: Callable[[str], list[tuple[int, int]]], size: int,
          overlap: int, check: Callable[[], None] = lambda: None) -> list[Draft]:
    """Windows of `size` embedder tokens sharing `overlap` tokens, ending at a paragraph, line or sentence when one is near."""
    overlap = min(overlap, size // 2)
    drafts = []
    for piece in pieces:
        check()
        offsets = offsets_of(piece.text)
        for a, b in _windows(piece.text, offsets, size, overlap):
            drafts.append(Draft(piece.text[a:b], piece.page, piece.row, piece.base + a, piece.base + b, piece.cells))
    return drafts


def _windows(text: str, offsets: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    n = len(offsets)
    spans, start = [], 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            end = _best_break(text, offsets, start, end)
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end >= n:
            break
        following = max(end - overlap, start + 1)
        while following < end and not _starts_word(text, offsets, following):
            following += 1
        start = following
    return spans


def _boundary_rank(text: str, offsets, i: int) -> float:
    """How good a place the gap before token i is to end a chunk."""
    gap = text[offsets[i - 1][1]:offsets[i][0]]
    if "\n\n" in gap:
        return 4
    if "\n" in gap:
        return 3
    if gap and text[offsets[i - 1][0]:offsets[i - 1][1]] in (".", "!", "?", ";", ":"):
        return 2
    return 1 if gap else 0


def _best_break(text: str, offsets, start: int, end: int) -> int:
    low = start + max(1, (end - start) // 2)
    best, best_rank = end, _boundary_rank(text, offsets, end)
    for i in range(end - 1, low, -1):
        rank = _boundary_rank(text, offsets, i)
        if rank > best_rank:
            best, best_rank = i, rank
    return best


def _starts_word(text: str, offsets, i: int) -> bool:
    return offsets[i][0] > offsets[i - 1][1] or not text[offsets[i][0]:offsets[i][0] + 1].isalnum()


# --- storing and processing ----------------------------------------------------------------

def upload_folder(settings, tenant_id: str) -> Path:
    return Path(settings.data) / "uploads" / tenant_id


def store_upload(settings, tenant_id: str, name: str, data: bytes) -> tuple[Document, bool]:
    """Check the file, keep it in the data folder and add a queued Document; (document, needs_processing).

    The same content uploaded again is a no-op: the existing document is returned (a failed one is retried)."""
    name = Path(name.replace("\\", "/")).name.strip()[:200] or "document.txt"
    kind = check_file(name, data, settings.upload_max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    with database.atomic("IMMEDIATE"):
        existing = Document.get_or_none((Document.tenant == tenant_id) & (Document.content_hash == digest))
        if existing is not None and existing.status != "failed":
            return existing, False
    folder = upload_folder(settings, tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.{kind}"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with database.atomic("IMMEDIATE"):
        existing = Document.get_or_none((Document.tenant == tenant_id) & (Document.content_hash == digest))
        if existing is not None and existing.status != "failed":
            return existing, False
        if existing is not None:
            existing.status, existing.progress, existing.error, existing.name = "queued", 0.0, None, name
            existing.save()
            return existing, True
        document = Document.create(tenant=tenant_id, name=name, content_hash=digest, kind=kind, size=len(data),
                                   path=str(path), status="queued")
    return document, True


_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def _claim(document_id: int) -> bool:
    with _RUNNING_LOCK:
        if document_id in _RUNNING:
            return False
        claimed = (Document.update(status="processing", progress=0.0, error=None)
                   .where((Document.id == document_id) & Document.status.in_(("queued", "processing"))).execute())
        if claimed:
            _RUNNING.add(document_id)
        return bool(claimed)


def _progress(document_id: int, value: float, on_progress: Callable[[float], None] | None) -> None:
    Document.update(progress=round(value, 3)).where(Document.id == document_id).execute()
    if on_progress:
        on_progress(value)


def process(services, document_id: int, on_progress: Callable[[float], None] | None = None) -> Document | None:
    """Extract, chunk, embed and index one queued document; it ends ready or failed with a sentence why."""
    if not _claim(document_id):
        return Document.get_or_none(Document.id == document_id)
    try:
        _process(services, document_id, on_progress)
    except Stopped as exc:
        log.info("ingestion of document %s stopped: %s", document_id, exc)
        if services.stopping.is_set():  # shutting down: queued again for the next start (a deleted one is gone)
            Document.update(status="queued", progress=0.0).where(
                (Document.id == document_id) & (Document.status == "processing")).execute()
    except AppError as exc:
        Document.update(status="failed", error=exc.message).where(Document.id == document_id).execute()
    except Exception as exc:
        log.exception("ingesting document %s failed", document_id)
        Document.update(status="failed", error=f"The document could not be processed ({type(exc).__name__}: {exc}); "
                        "the log has the details.").where(Document.id == document_id).execute()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(document_id)
    return Document.get_or_none(Document.id == document_id)


def _process(services, document_id: int, on_progress) -> None:
    settings = services.settings
    document = Document.get_by_id(document_id)
    try:
        data = Path(document.path).read_bytes()
    except OSError:
        raise AppError(422, "file_missing", f"The uploaded copy of {document.name} is gone; upload it again.") from None
    kind = check_file(document.name, data, settings.upload_max_bytes)
    limits = Limits(settings.ingest_max_pages, settings.ingest_max_chars,
                    _checker(services, document, settings.ingest_max_seconds))
    pieces = extract(kind, data, document.name, limits)
    _progress(document_id, 0.05, on_progress)
    embedder = services.models.embedder()
    drafts = chunk(pieces, embedder.token_offsets, min(settings.chunk_tokens, embedder.max_tokens - 2),
                   settings.chunk_overlap, limits.check)
    _progress(document_id, 0.1, on_progress)
    matrix = np.zeros((len(drafts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(drafts)), key=lambda i: len(drafts[i].text))  # similar lengths batch with less padding
    batch = max(1, settings.embed_batch)
    for start in range(0, len(order), batch):  # one batch per call: a customer's query waits at most one batch
        limits.check()
        part = order[start:start + batch]
        matrix[part] = embedder.encode([drafts[i].text for i in part], batch_size=batch)
        _progress(document_id, 0.1 + 0.85 * min(1.0, (start + batch) / len(order)), on_progress)
    with database.atomic("IMMEDIATE"):
        if Document.get_or_none(Document.id == document_id) is None:
            return  # deleted meanwhile
        old = [c.id for c in Chunk.select(Chunk.id).where(Chunk.document == document_id)]
        Chunk.delete().where(Chunk.document == document_id).execute()
        ids = []
        for ordinal, (draft, blob) in enumerate(zip(drafts, pack(matrix))):
            row = Chunk.create(tenant=document.tenant_id, document=document_id, ordinal=ordinal, text=draft.text,
                               page=draft.page, row=draft.row, start=draft.start, end=draft.end, cells=draft.cells)
            ChunkVector.create(chunk=row.id, tenant=document.tenant_id, vector=blob)
            ids.append(row.id)
        lexical.remove(document.tenant_id, old)  # the keyword index changes in the same transaction as the rows
        lexical.add(document.tenant_id, [(chunk_id, draft.text) for chunk_id, draft in zip(ids, drafts)])
    tenant_index = index.for_tenant(settings, document.tenant_id, embedder.dim)
    lazy = services.models.embedder
    tenant_index.replace(old, ids, matrix, lazy)
    with database.atomic("IMMEDIATE"):
        gone = not Document.update(status="ready", progress=1.0, chunks=len(ids), error=None,
                                   fields=_fields(document, pieces)).where(Document.id == document_id).execute()
    if gone:
        with database.atomic("IMMEDIATE"):
            lexical.remove(document.tenant_id, ids)
        tenant_index.delete(ids, lazy)
    cache.knowledge_changed(document.tenant_id)
    if on_progress:
        on_progress(1.0)
    log.info("document %s of %s ready: %d chunks", document_id, document.tenant_id, len(ids))


def _checker(services, document: Document, seconds: float) -> Callable[[], None]:
    """The check run between pages, pieces and batches: shutting down, deleted, or over the time budget."""
    deadline = time.monotonic() + seconds
    # the content hash too: SQLite may give a deleted document's id to the next upload
    mine = (Document.id == document.id) & (Document.content_hash == document.content_hash) & (
        Document.status == "processing")

    def check() -> None:
        if services.stopping.is_set():
            raise Stopped("the appliance is shutting down; it continues on the next start")
        if not Document.select().where(mine).exists():
            raise Stopped("the document was deleted")
        if time.monotonic() > deadline:
            raise AppError(422, "took_too_long", f"{document.name} took longer than {seconds:g} s to process "
                           "(setting ingest_max_seconds); split it into smaller documents.")
    return check


def _fields(document: Document, pieces: list[Piece]) -> dict | None:
    """A table's field mapping: the owner's when it still fits the header, else guessed from the header."""
    columns = list(pieces[0].cells) if pieces and pieces[0].cells else []
    if not columns:
        return None
    if document.fields is not None and set(document.fields.values()) <= set(columns):
        return document.fields
    return guess_fields(columns, [p.cells for p in pieces[:_SAMPLED_ROWS] if p.cells])


_SAMPLED_ROWS = 50  # rows whose values tell a stock column headed in no known way ("Còn/Hết": "Hết hàng")


def delete_document(services, document: Document) -> None:
    """Remove a document, its chunks, its vectors and its stored file; the answer cache forgets it."""
    ids = [c.id for c in Chunk.select(Chunk.id).where(Chunk.document == document.id)]
    tenant_id = document.tenant_id
    with database.atomic("IMMEDIATE"):
        ChunkVector.delete().where(ChunkVector.chunk.in_(ids)).execute() if ids else None
        Chunk.delete().where(Chunk.document == document.id).execute()
        lexical.remove(tenant_id, ids)
        document.delete_instance()
    if ids:
        index.for_tenant(services.settings, tenant_id).delete(ids, services.models.embedder)
    shared = Document.select().where(Document.path == document.path).count()
    if document.path and not shared:
        Path(document.path).unlink(missing_ok=True)
    cache.knowledge_changed(tenant_id)


def unfinished() -> list[int]:
    """Documents queued or interrupted mid-processing (a restart queues them again)."""
    return [d.id for d in Document.select(Document.id).where(Document.status.in_(("queued", "processing")))
            .order_by(Document.id)]


def document_json(document: Document) -> dict:
    """The API shape of a document."""
    return {"id": document.id, "name": document.name, "kind": document.kind, "size": document.size,
            "status": document.status, "progress": document.progress, "chunks": document.chunks,
            "error": document.error, "fields": document.fields,
            "created_at": document.created_at.isoformat() + "Z"}
