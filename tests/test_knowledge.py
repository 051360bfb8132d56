"""Knowledge base: upload checks, ingestion, the labelled shop questions, tenant isolation, index repair, CLI."""
from __future__ import annotations

import io
import json

import hnswlib
import pytest
from pypdf import PdfReader, PdfWriter

from appliance.assistant import index, ingest
from appliance.cli import main
from appliance.records import Chunk, ChunkVector, Document, Tenant
from tests.conftest import MODELS_DIR, SHOP, make_settings, pdf_bytes, post_json, shop_files, shop_questions

UPLOAD_LIMIT = 64 * 1024


@pytest.fixture
def settings(tmp_path):
    """A small upload limit so the size check is cheap to test."""
    return make_settings(tmp_path / "data", upload_max_bytes=UPLOAD_LIMIT)


def upload(client, headers, name: str, data: bytes):
    return client.post("/api/v1/knowledge/documents", data={"file": (io.BytesIO(data), name)}, headers=headers,
                       content_type="multipart/form-data")


def search(client, handle, query: str, k: int = 3) -> list[dict]:
    response = post_json(client, "/api/v1/knowledge/search", {"query": query, "k": k}, handle.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["hits"]


def test_labelled_shop_questions_find_their_document_in_the_top_3(client, shop):
    questions = shop_questions()
    assert len(questions) >= 30
    found = [q["document"] in [h["document"]["name"] for h in search(client, shop, q["question"], 3)]
             for q in questions]
    misses = [q["question"] for q, ok in zip(questions, found) if not ok]
    assert sum(found) / len(found) >= 0.9, misses


def test_documents_report_status_chunks_and_keep_page_row_and_offsets(client, shop):
    documents = {d["name"]: d for d in client.get("/api/v1/knowledge/documents", headers=shop.headers).get_json()["documents"]}
    assert set(documents) == {"products.csv", "faq.md", "policy.pdf"}
    for document in documents.values():
        assert document["status"] == "ready" and document["progress"] == 1.0 and document["chunks"] > 0
        assert document["error"] is None
    one = client.get(f"/api/v1/knowledge/documents/{documents['faq.md']['id']}", headers=shop.headers).get_json()
    assert one["chunks"] == documents["faq.md"]["chunks"]

    pdf_chunks = Chunk.select().where(Chunk.document == documents["policy.pdf"]["id"])
    assert {c.page for c in pdf_chunks} == {1, 2}
    csv_chunks = list(Chunk.select().where(Chunk.document == documents["products.csv"]["id"]).order_by(Chunk.row))
    assert [c.row for c in csv_chunks] == list(range(1, 21))
    assert csv_chunks[0].text.startswith("sku: GL-001. name: Monstera Deliciosa. category: Indoor plant. price_usd: 34.00")
    faq = (SHOP / "faq.md").read_text(encoding="utf-8")
    for c in Chunk.select().where(Chunk.document == documents["faq.md"]["id"]):
        assert faq[c.start:c.end] == c.text and c.page is None and c.row is None
    assert ChunkVector.select().where(ChunkVector.tenant == shop.id).count() == Chunk.select().where(
        Chunk.tenant == shop.id).count()


def test_search_hits_carry_text_document_and_score(client, shop):
    hits = search(client, shop, "How much is the monstera?", 5)
    assert len(hits) == 5
    assert hits[0]["document"]["name"] == "products.csv" and "Monstera" in hits[0]["text"]
    assert hits[0]["row"] == 1 and hits[0]["relevant"] is True
    from appliance.assistant import lexical

    order = [(-lexical.strength(h["strong"]), -h["fused"]) for h in hits]  # strong matches first, then fused rank
    assert order == sorted(order) and "monstera" in hits[0]["strong"]
    assert all(-1.0 <= h["score"] <= 1.0 for h in hits)


@pytest.mark.parametrize("body, status, code", [
    ({"query": ""}, 422, "invalid_query"),
    ({"query": "roses", "k": 0}, 422, "invalid_k"),
    ({"query": "roses", "k": 500}, 422, "invalid_k"),
    ({"query": "roses", "k": "3"}, 422, "invalid_k"),
])
def test_search_validates_its_input(client, tenant, body, status, code):
    response = post_json(client, "/api/v1/knowledge/search", body, tenant.headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_search_of_an_empty_knowledge_base_has_no_hits(client, tenant):
    assert search(client, tenant, "anything at all") == []


def test_uploading_the_same_content_again_is_a_no_op(client, shop):
    version = Tenant.get_by_id(shop.id).kb_version
    chunks = Chunk.select().where(Chunk.tenant == shop.id).count()
    again = upload(client, shop.headers, "faq-copy.md", (SHOP / "faq.md").read_bytes())
    assert again.status_code == 200
    body = again.get_json()
    assert body["duplicate"] is True and body["name"] == "faq.md" and body["status"] == "ready"
    assert Document.select().where(Document.tenant == shop.id).count() == 3
    assert Chunk.select().where(Chunk.tenant == shop.id).count() == chunks
    assert Tenant.get_by_id(shop.id).kb_version == version


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ZIP = b"PK\x03\x04" + b"\x00" * 64


@pytest.mark.parametrize("name, data, status, code, words", [
    ("notes.txt", b"", 422, "empty_file", "empty"),
    ("notes.txt", b"  \n\t\n", 422, "empty_file", "empty"),
    ("prices.pdf", b"name,price\nrose,3\n", 415, "wrong_file_type", "named .pdf"),
    ("faq.md", PNG, 415, "wrong_file_type", "PNG image"),
    ("catalog.csv", ZIP, 415, "wrong_file_type", "ZIP archive"),
    ("notes.txt", b"%PDF-1.4 fake", 415, "wrong_file_type", "a PDF"),
    ("report.docx", ZIP, 415, "unsupported_file_type", ".txt, .md, .csv or .pdf"),
    ("big.txt", b"roses are red. " * (UPLOAD_LIMIT // 15 + 10), 413, "file_too_large", "upload_max_bytes"),
])
def test_bad_files_are_rejected_with_a_message(client, tenant, name, data, status, code, words):
    response = upload(client, tenant.headers, name, data)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and words in error["message"]
    assert Document.select().count() == 0


def test_upload_needs_a_file_field_and_an_admin_token(client, tenant):
    response = client.post("/api/v1/knowledge/documents", data={}, headers=tenant.headers,
                           content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "file_required"
    assert upload(client, {}, "a.txt", b"hello").status_code == 401


def _encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(SHOP / "policy.pdf"))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("name, make, words", [
    ("locked.pdf", _encrypted_pdf, "password"),
    ("scan.pdf", lambda: pdf_bytes([[], []], draw_only=True), "scanned"),
    ("header-only.csv", lambda: b"name,price\n", "at least one data row"),
    ("broken.pdf", lambda: b"%PDF-1.4\n1 0 obj garbage", "could not be read as a PDF"),
])
def test_unreadable_documents_end_failed_with_a_clear_error(client, tenant, name, make, words):
    response = upload(client, tenant.headers, name, make())
    assert response.status_code == 202
    document = client.get(f"/api/v1/knowledge/documents/{response.get_json()['id']}", headers=tenant.headers).get_json()
    assert document["status"] == "failed" and words in document["error"], document
    assert document["chunks"] == 0 and Chunk.select().count() == 0


def test_processing_goes_queued_to_ready_with_rising_progress(services, tenant):
    data = b"Delivery is free over 75 dollars.\n\n" + b"We open at nine every day. " * 200
    document, queued = ingest.store_upload(services.settings, tenant.id, "long.txt", data)
    assert queued and document.status == "queued" and document.progress == 0.0
    seen = []
    document = ingest.process(services, document.id, on_progress=seen.append)
    assert document.status == "ready" and document.progress == 1.0 and document.chunks > 3
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3
    chunks = list(Chunk.select().where(Chunk.document == document.id).order_by(Chunk.ordinal))
    size = services.settings.chunk_tokens
    embedder = services.models.embedder()
    assert all(len(embedder.token_offsets(c.text)) <= size for c in chunks)
    assert all(a.end > b.start for a, b in zip(chunks, chunks[1:])), "neighbouring chunks overlap"
    assert ingest.process(services, document.id).status == "ready"  # a replayed task changes nothing
    assert Chunk.select().where(Chunk.document == document.id).count() == len(chunks)


def test_deleting_a_document_removes_its_hits_file_and_cache(client, shop, services):
    faq = Document.get((Document.tenant == shop.id) & (Document.name == "faq.md"))
    version = Tenant.get_by_id(shop.id).kb_version
    assert client.delete(f"/api/v1/knowledge/documents/{faq.id}", headers=shop.headers).status_code == 204
    assert client.get(f"/api/v1/knowledge/documents/{faq.id}", headers=shop.headers).status_code == 404
    assert all(h["document"]["name"] != "faq.md" for h in search(client, shop, "What are your opening hours?", 10))
    assert not (services.settings.data / "uploads" / shop.id / f"{faq.content_hash}.md").exists()
    assert Tenant.get_by_id(shop.id).kb_version == version + 1
    assert client.delete(f"/api/v1/knowledge/documents/{faq.id}", headers=shop.headers).status_code == 404


def test_a_tenant_never_sees_another_tenants_knowledge(client, shop, other_tenant, services):
    response = upload(client, other_tenant.headers, "bikes.txt",
                      b"Bike Hub repairs bicycles. A puncture repair costs 12 dollars. We open at 8am.")
    assert response.status_code == 202
    theirs = response.get_json()["id"]
    monstera = Chunk.get((Chunk.tenant == shop.id) & (Chunk.text.contains("Monstera")))
    for query in ("How much is the monstera?", monstera.text, "What are your opening hours?"):
        hits = search(client, other_tenant, query, 10)
        assert hits and {h["document"]["id"] for h in hits} == {theirs}
    assert all(h["document"]["id"] != theirs for h in search(client, shop, "puncture repair bicycle", 10))
    # the other tenant's index file holds only its own chunk ids
    own = {c.id for c in Chunk.select().where(Chunk.tenant == other_tenant.id)}
    path = index.folder(services.settings) / f"{other_tenant.id}.bin"
    raw = hnswlib.Index(space="cosine", dim=384)
    raw.load_index(str(path))
    assert set(raw.get_ids_list()) == own
    # and documents by id are invisible across tenants
    shop_doc = Document.get(Document.tenant == shop.id)
    assert client.get(f"/api/v1/knowledge/documents/{shop_doc.id}", headers=other_tenant.headers).status_code == 404
    assert client.delete(f"/api/v1/knowledge/documents/{shop_doc.id}", headers=other_tenant.headers).status_code == 404


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_a_corrupt_or_missing_index_is_rebuilt_from_the_chunk_rows(client, shop, services, damage):
    before = [h["chunk_id"] for h in search(client, shop, "What are your opening hours?", 3)]
    path = index.folder(services.settings) / f"{shop.id}.bin"
    if damage == "garbage":
        path.write_bytes(b"not an index at all" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.unlink()
    index.forget(services.settings)  # as after a restart
    assert index.for_tenant(services.settings, shop.id).problem() is not None
    assert [h["chunk_id"] for h in search(client, shop, "What are your opening hours?", 3)] == before
    rebuilt = index.for_tenant(services.settings, shop.id)
    assert rebuilt.rebuilt and rebuilt.problem() is None and rebuilt.live == Chunk.select().where(
        Chunk.tenant == shop.id).count()


def test_index_grows_past_its_first_capacity(services, tenant):
    lines = "\n\n".join(f"Product {i}: item number {i} in colour {i % 7} costs {i} dollars." for i in range(1100))
    services.settings["upload_max_bytes"] = 1 << 20
    document, _ = ingest.store_upload(services.settings, tenant.id, "many.txt", lines.encode())
    services.settings["chunk_tokens"] = 16
    services.settings["chunk_overlap"] = 0
    document = ingest.process(services, document.id)
    assert document.status == "ready"
    tenant_index = index.for_tenant(services.settings, tenant.id)
    assert tenant_index.live == document.chunks > index.INITIAL_CAPACITY
    saved = json.loads(tenant_index.meta_path.read_text())  # what the next start loads the index with
    assert saved["max_elements"] >= saved["count"] == document.chunks


def test_cli_ingest_and_doctor(services, tenant, capsys, monkeypatch):
    monkeypatch.setenv("APPLIANCE_MODELS", str(MODELS_DIR))
    data = str(services.settings.data)
    files = [str(p) for p in shop_files()]
    assert main(["--data", data, "ingest", "--tenant", tenant.id, *files, str(SHOP / "questions.json")]) == 1
    out = capsys.readouterr()
    assert "faq.md: ready" in out.out and "policy.pdf: ready" in out.out and "products.csv: ready" in out.out
    assert "100%" in out.err and "questions.json is not a supported document" in out.err
    assert main(["--data", data, "ingest", "--tenant", tenant.id, files[0]]) == 0
    assert "already in the knowledge base" in capsys.readouterr().out
    assert main(["--data", data, "ingest", "--tenant", "t_nope", files[0]]) == 1

    assert main(["--data", data, "doctor"]) == 0
    assert "PROBLEM" not in capsys.readouterr().out
    (services.settings.data / "index" / f"{tenant.id}.bin").write_bytes(b"\x00" * 1000)
    assert main(["--data", data, "doctor"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM  knowledge indexes" in out and "corrupt" in out
    assert main(["--data", data, "doctor", "--fix"]) == 0
    assert main(["--data", data, "doctor"]) == 0


def test_cli_doctor_finds_a_loose_key_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("APPLIANCE_MODELS", str(MODELS_DIR))
    data = tmp_path / "d"
    assert main(["--data", str(data), "tenant", "create", "Shop"]) == 0
    assert main(["--data", str(data), "doctor"]) == 0
    (data / "secret.key").chmod(0o644)
    assert main(["--data", str(data), "doctor"]) == 1
    assert "chmod 600" in capsys.readouterr().out


def test_a_document_interrupted_by_a_restart_is_processed_again(services, tenant):
    from appliance import tasks

    document, _ = ingest.store_upload(services.settings, tenant.id, "faq.md", (SHOP / "faq.md").read_bytes())
    Document.update(status="processing", progress=0.4).where(Document.id == document.id).execute()  # killed mid-way
    assert ingest.unfinished() == [document.id]
    for document_id in ingest.unfinished():
        tasks.ingest_document(document_id)
    assert Document.get_by_id(document.id).status == "ready" and ingest.unfinished() == []


def test_an_index_saved_by_another_process_is_reloaded(services, shop):
    """`appliance ingest` in a second process writes the file the server has loaded: the server sees the change."""
    elsewhere = index.TenantIndex(index.folder(services.settings), shop.id, 384, services.settings)  # not the registry's
    query = services.models.embedder().encode(["puncture repair for bicycles"])[0]
    assert elsewhere.search(query, 3)
    document, _ = ingest.store_upload(services.settings, shop.id, "bikes.txt", b"We repair bicycle punctures for 12 dollars.")
    document = ingest.process(services, document.id)
    new_ids = {c.id for c in Chunk.select().where(Chunk.document == document.id)}
    assert {label for label, _ in elsewhere.search(query, 3)} & new_ids
