"""Ingestion limits: pages, characters and time per document fail it with a reason; deleting a document or shutting
down stops its ingestion at the next check (a small PDF whose pages share one big content stream is the attack)."""
import io
from pathlib import Path

import pytest

from tests.conftest import make_settings, pdf_file, wait_until
from tests.fakes import real_consumer

SHOP_TEXT = b"Opening hours. We open at 9am and close at 6pm from Monday to Saturday.\n"


def shared_stream_pdf(pages: int, lines: int) -> bytes:
    """A PDF whose `pages` pages all draw the one content stream of `lines` text lines: small file, much text."""
    body = " T* ".join(f"(Line {i} of the text that every page of this document repeats.) Tj" for i in range(lines))
    stream = f"BT /F1 11 Tf 14 TL 60 780 Td {body} ET".encode()
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                b"/Contents 4 0 R >>"] * pages
    return pdf_file(objects)


def upload(client, tenant, name: str, data: bytes):
    response = client.post("/api/v1/knowledge/documents", data={"file": (io.BytesIO(data), name)},
                           headers=tenant.headers, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def document(client, tenant, document_id: int):
    return client.get(f"/api/v1/knowledge/documents/{document_id}", headers=tenant.headers)


@pytest.fixture
def one_worker(services, settings):
    """A real huey consumer with one worker thread: a second document waits until the first one lets go of it."""
    yield from real_consumer(settings, workers=1)


# --- limits fail the document with a reason ------------------------------------------------------------

def test_a_pdf_with_too_many_pages_fails_with_a_reason(client, tenant, settings):
    settings["ingest_max_pages"] = 50
    document_id = upload(client, tenant, "catalogue.pdf", shared_stream_pdf(200, 3))
    body = document(client, tenant, document_id).get_json()
    assert body["status"] == "failed" and body["chunks"] == 0
    assert "has 200 pages" in body["error"] and "limit is 50" in body["error"] and "Split" in body["error"]


def test_a_pdf_with_too_much_text_fails_with_a_reason(client, tenant, settings):
    document_id = upload(client, tenant, "bomb.pdf", shared_stream_pdf(300, 2000))  # ~0.1 MB, ~33 M characters
    body = document(client, tenant, document_id).get_json()
    assert body["status"] == "failed" and body["chunks"] == 0
    assert f"more than {settings.ingest_max_chars:,} characters" in body["error"] and "split" in body["error"]


def test_a_long_text_file_fails_with_a_reason(client, tenant, settings):
    settings["ingest_max_chars"] = 1000
    document_id = upload(client, tenant, "notes.txt", SHOP_TEXT * 40)
    body = document(client, tenant, document_id).get_json()
    assert body["status"] == "failed" and "more than 1,000 characters" in body["error"]


def test_a_document_over_its_time_budget_fails_with_a_reason(client, tenant, settings):
    settings.update(ingest_max_seconds=1, ingest_max_chars=1_000_000_000, ingest_max_pages=100_000)
    document_id = upload(client, tenant, "slow.pdf", shared_stream_pdf(3000, 2000))
    body = document(client, tenant, document_id).get_json()
    assert body["status"] == "failed" and body["chunks"] == 0
    assert "took longer than 1 s" in body["error"] and "ingest_max_seconds" in body["error"]


def test_limits_are_settings_with_help():
    settings = make_settings(Path("/nonexistent-unused"), ingest_max_pages=7)
    assert settings.ingest_max_pages == 7 and settings.ingest_max_chars > 0 and settings.ingest_max_seconds > 0


# --- deleting or shutting down stops the work ----------------------------------------------------------

def _unbounded(settings) -> None:
    settings.update(ingest_max_seconds=86400, ingest_max_chars=1_000_000_000, ingest_max_pages=100_000)


def test_deleting_a_document_stops_its_ingestion(client, tenant, settings, one_worker):
    _unbounded(settings)
    big = upload(client, tenant, "bomb.pdf", shared_stream_pdf(3000, 2000))  # minutes of work if not stopped
    wait_until(lambda: document(client, tenant, big).get_json()["status"] == "processing")
    assert client.delete(f"/api/v1/knowledge/documents/{big}", headers=tenant.headers).status_code == 204
    small = upload(client, tenant, "hours.txt", SHOP_TEXT)  # the only worker must be free again for this one
    wait_until(lambda: document(client, tenant, small).get_json()["status"] == "ready", 90)
    listed = client.get("/api/v1/knowledge/documents", headers=tenant.headers).get_json()["documents"]
    assert [(d["name"], d["status"]) for d in listed] == [("hours.txt", "ready")]  # (SQLite may reuse the id)
    hits = client.post("/api/v1/knowledge/search", json={"query": "text that every page repeats", "k": 10},
                       headers=tenant.headers).get_json()
    assert {h["document"]["name"] for h in hits["hits"]} == {"hours.txt"}


def test_shutdown_stops_ingestion_and_leaves_the_document_queued(client, tenant, settings, services, one_worker):
    _unbounded(settings)
    big = upload(client, tenant, "bomb.pdf", shared_stream_pdf(3000, 2000))
    wait_until(lambda: document(client, tenant, big).get_json()["status"] == "processing")
    services.stopping.set()  # what SIGTERM does
    body = wait_until(lambda: (lambda b: b["status"] == "queued" and b)(document(client, tenant, big).get_json()))
    assert body["progress"] == 0 and body["error"] is None and body["chunks"] == 0
