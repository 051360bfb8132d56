"""Hybrid retrieval: accent-folded BM25 keyword search fused with the vector index, kept in step with the chunks."""
from __future__ import annotations

import io
import sqlite3

import pytest

from appliance.assistant import index
from appliance.assistant.answer import retrieve
from appliance.cli import main
from appliance.db import database, open_database
from conftest import MODELS_DIR, post_json

PHONES = ["iPhone 13 Pro Max", "iPhone 15", "Oppo Reno 11", "iPhone 12 Pro Max", "iPhone 15 Pro", "iPhone 16 Pro Max",
          "iPhone 14 Pro", "Pixel 8", "iPhone 14 Pro Max", "Galaxy A54", "iPhone 14", "Galaxy S23", "Redmi Note 13",
          "Galaxy S24 Ultra", "iPhone 15 Plus"]
# product codes a digit apart: the embedder cannot tell them apart, an exact keyword can (this order puts the
# wanted rows below the embedder's top 3, checked by the test itself)
CODES = ["SKU-1447", "SKU-4479", "SKU-4771", "SKU-4476", "SKU-4477", "SKU-4475", "SKU-4071", "SKU-4671", "SKU-4714",
         "SKU-4571", "SKU-4474", "SKU-4478", "SKU-4411", "SKU-4470", "SKU-4481", "SKU-4371", "SKU-4741", "SKU-4417",
         "SKU-4472", "SKU-4461", "SKU-7441", "SKU-4471"]
MATERIALS = ["silicon dẻo", "da bò thật", "nhựa trong suốt", "chống sốc quân đội", "dạng ví gập", "sợi carbon"]
CODE_ROW = CODES.index("SKU-4471") + 1
MAX_ROW = 5  # the one case for an iPhone 15 Pro Max


def products_csv() -> bytes:
    """Phone cases in Vietnamese: many rows that read alike, so only the code or model tells them apart."""
    lines = ["mã,tên,giá,tồn kho"]
    for i, code in enumerate(CODES):
        phone = "iPhone 15 Pro Max" if i + 1 == MAX_ROW else PHONES[i % len(PHONES)]
        lines.append(f"{code},Ốp lưng {MATERIALS[i % len(MATERIALS)]} cho {phone},{150 + 10 * i}.000đ,còn {3 + i} chiếc")
    return ("\n".join(lines) + "\n").encode()


NOTES = {  # one short document each, so a hit names the document that holds the words
    "prices.txt": "Bảng giá dán màn hình: kính cường lực 120.000đ, dán nhám 90.000đ.",
    "delivery.txt": "Chúng tôi giao hàng tận nơi ở Đà Nẵng trong ngày. Đổi hàng miễn phí trong 7 ngày. Đặt trước để giữ hàng.",
    "hours.txt": "Cua hang mo cua tu 8 gio sang den 9 gio toi, ke ca chu nhat, tai Hoi An. Goi dien truoc khi den.",
    "payment.txt": "Chúng tôi nhận tiền mặt, thẻ Visa và ví MoMo. Replies to e-mails take up to 48 hours.",
}


def upload(client, handle, name: str, data: bytes) -> int:
    response = client.post("/api/v1/knowledge/documents", data={"file": (io.BytesIO(data), name)},
                           headers=handle.headers, content_type="multipart/form-data")
    assert response.status_code == 202 and response.get_json()["status"] == "ready", response.get_json()
    return response.get_json()["id"]


def search(client, handle, query: str, k: int = 3) -> list[dict]:
    response = post_json(client, "/api/v1/knowledge/search", {"query": query, "k": k}, handle.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["hits"]


def doctor(services, *flags: str) -> int:
    """`appliance doctor` on the test's data folder; its exit code."""
    return main(["--data", str(services.settings.data), "doctor", *flags])


@pytest.fixture
def notes_shop(client, services, tenant, monkeypatch):
    """A phone-accessory shop: products CSV and a Vietnamese text."""
    monkeypatch.setenv("APPLIANCE_MODELS", str(MODELS_DIR))  # for the doctor command
    services.settings.data.chmod(0o700)  # as `appliance init` leaves it, so doctor's only findings are ours
    tenant.products = upload(client, tenant, "products.csv", products_csv())
    tenant.notes = {name: upload(client, tenant, name, text.encode()) for name, text in NOTES.items()}
    return tenant


@pytest.mark.parametrize("query, document", [
    ("gia dan man hinh", "prices.txt"),  # "gia" finds "giá"
    ("da nang", "delivery.txt"),  # unaccented question, accented text
    ("doi hang mien phi", "delivery.txt"),
    ("dat", "delivery.txt"),  # đ folds to d (unicode61 alone keeps it): "dat" finds "Đặt" ...
    ("điện", "hours.txt"),  # ... and "điện" finds "dien"
    ("ĐÀ NẴNG", "delivery.txt"),
    ("Cửa hàng ở Hội An mở cửa mấy giờ?", "hours.txt"),  # accented question, unaccented text
    ("chủ nhật", "hours.txt"),
])
def test_accents_and_d_are_folded_both_ways(client, notes_shop, query, document):
    hits = search(client, notes_shop, query, 5)
    by_keyword = [h for h in hits if h["lexical"] == 1]
    assert by_keyword and by_keyword[0]["document"]["id"] == notes_shop.notes[document], hits


def test_a_brand_in_the_source_is_strong_even_typed_in_lower_case(client, notes_shop):
    hits = search(client, notes_shop, "can I pay with momo?")
    assert hits[0]["document"]["id"] == notes_shop.notes["payment.txt"] and hits[0]["strong"] == ["momo"]
    assert hits[0]["relevant"] is True


def test_a_rare_common_word_is_not_a_strong_match(client, services, notes_shop):
    services.settings["rag_min_similarity"] = 0.9
    hits = search(client, notes_shop, "What are your opening hours?", 5)
    payment = [h for h in hits if h["document"]["id"] == notes_shop.notes["payment.txt"]]
    assert payment and payment[0]["lexical"] is not None  # "hours" matches ...
    assert all(h["strong"] == [] and h["relevant"] is False for h in hits)  # ... but proves nothing


@pytest.mark.parametrize("query, row, strong", [
    ("SKU-4471", CODE_ROW, "sku 4471"),
    ('"SKU-4471"*', CODE_ROW, "sku 4471"),
    ("sku-4471", CODE_ROW, "sku 4471"),
    ("iPhone 15 Pro Max", MAX_ROW, "iphone 15 pro max"),
])
def test_product_codes_and_models_the_embedder_ranks_low_are_found_by_keyword(client, services, notes_shop, query, row, strong):
    services.settings["retrieval"] = "vector"
    assert row not in [h["row"] for h in search(client, notes_shop, query)], "the embedder alone ranks it below the top 3"
    services.settings["retrieval"] = "hybrid"
    hits = search(client, notes_shop, query)
    assert hits[0]["row"] == row and hits[0]["document"]["id"] == notes_shop.products, hits
    assert hits[0]["lexical"] == 1 and strong in hits[0]["strong"] and hits[0]["relevant"] is True


def test_a_keyword_hit_keeps_its_cosine_and_is_relevant_through_its_code(client, services, notes_shop):
    services.settings["retrieval"] = "vector"
    cosine = {h["chunk_id"]: h["score"] for h in search(client, notes_shop, "SKU-4471", 50)}
    services.settings["retrieval"] = "hybrid"
    services.settings["rag_min_similarity"] = 0.9  # no chunk is this close: only a strong keyword match is relevant
    hits = search(client, notes_shop, "SKU-4471", 5)
    assert all(h["score"] == pytest.approx(cosine[h["chunk_id"]], abs=2e-3) for h in hits)  # the same cosine
    assert hits[0]["row"] == CODE_ROW and hits[0]["relevant"] is True and hits[0]["score"] < 0.9
    assert all(h["relevant"] is False and h["strong"] == [] for h in hits[1:])
    assert [h["fused"] for h in hits[1:]] == sorted((h["fused"] for h in hits[1:]), reverse=True)


def test_vector_only_setting_gives_the_bare_vector_ranking(client, services, notes_shop):
    services.settings["retrieval"] = "vector"
    query = "Do you deliver in Da Nang?"
    hits = search(client, notes_shop, query, 5)
    embedder = services.models.embedder()
    nearest = index.for_tenant(services.settings, notes_shop.id).search(embedder.encode([query])[0], 5)
    assert [h["chunk_id"] for h in hits] == [chunk_id for chunk_id, _ in nearest]
    assert [h["score"] for h in hits] == [round(score, 4) for _, score in nearest]
    assert all(h["lexical"] is None and h["fused"] is None and h["strong"] == [] for h in hits)
    assert all(h["relevant"] is (h["score"] >= services.settings.rag_min_similarity) for h in hits)


HOSTILE = ['"', '""', "'", "*", "SKU*", "NEAR", "NEAR(sku 4471, 2)", "a AND", "OR OR", "NOT x", "-", "^sku",
           "code:SKU", "sku + 4471", "' OR 1=1 --", ")(", "{code}: x", "đ\u0300\u0301", "\u200b", "🙂 giá?",
           "x" * 3999, " ".join(f"w{i}" for i in range(700))]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_are_words_not_syntax(client, notes_shop, query):
    response = post_json(client, "/api/v1/knowledge/search", {"query": query, "k": 5}, notes_shop.headers)
    assert response.status_code == 200, response.get_json()
    assert isinstance(response.get_json()["hits"], list)


@pytest.mark.parametrize("query", ["", "   ", "SKU-4471 " * 1200, "NEAR(" * 2000, '"' * 10_000])
def test_retrieve_takes_empty_and_ten_thousand_character_queries(services, notes_shop, query):
    hits = retrieve(services, notes_shop.id, query, 3)
    assert len(hits) == 3
    if "4471" in query:
        assert hits[0]["row"] == CODE_ROW


def test_a_deleted_document_leaves_the_keyword_index(client, services, notes_shop):
    assert search(client, notes_shop, "SKU-4471")[0]["document"]["id"] == notes_shop.products
    assert client.delete(f"/api/v1/knowledge/documents/{notes_shop.products}", headers=notes_shop.headers).status_code == 204
    hits = search(client, notes_shop, "SKU-4471 iPhone 15 Pro Max", 10)
    assert hits and {h["document"]["id"] for h in hits} <= set(notes_shop.notes.values())
    assert all(h["strong"] == [] for h in hits)
    assert doctor(services) == 0  # no keyword rows left over from the deleted chunks
    assert [h["lexical"] for h in search(client, notes_shop, "gia dan man hinh", 5) if h["lexical"]] == [1]  # only prices.txt


def _damage_keyword_index(services, tenant_id: str) -> None:
    """What a crash or a hand edit could leave: the keyword rows of a tenant gone, a stray row added."""
    database.close()
    with sqlite3.connect(services.settings.data / "appliance.db") as raw:
        raw.execute(f'DELETE FROM "fts_{tenant_id}"')
        raw.execute(f'INSERT INTO "fts_{tenant_id}"(rowid, body) VALUES (987654, \'sku 4471\')')
    open_database(services.settings.data / "appliance.db")


def test_doctor_reports_a_keyword_index_out_of_step_and_fix_rebuilds_it(client, services, notes_shop, capsys):
    _damage_keyword_index(services, notes_shop.id)
    assert search(client, notes_shop, "SKU-4471")[0]["lexical"] is None
    assert doctor(services) == 1
    out = capsys.readouterr().out
    assert "PROBLEM  knowledge indexes" in out and "keyword" in out and "out of step" in out
    assert doctor(services, "--fix") == 0
    assert "rebuilt the keyword index" in capsys.readouterr().out
    assert doctor(services) == 0
    assert search(client, notes_shop, "SKU-4471")[0]["row"] == CODE_ROW


def test_rebuilding_a_broken_vector_index_rebuilds_the_keyword_index_too(client, services, notes_shop, capsys):
    _damage_keyword_index(services, notes_shop.id)
    (index.folder(services.settings) / f"{notes_shop.id}.bin").write_bytes(b"\x00" * 1000)
    index.forget(services.settings)  # as after a restart: the next search finds the file broken and rebuilds
    hits = search(client, notes_shop, "SKU-4471")
    assert hits[0]["row"] == CODE_ROW and hits[0]["lexical"] == 1
    assert doctor(services) == 0
    assert "ok       knowledge indexes" in capsys.readouterr().out


def test_migration_6_fills_the_keyword_index_of_an_older_database(client, services, notes_shop):
    database.close()
    with sqlite3.connect(services.settings.data / "appliance.db") as raw:
        raw.execute(f'DROP TABLE "fts_{notes_shop.id}_vocab"')
        raw.execute(f'DROP TABLE "fts_{notes_shop.id}"')
        raw.execute("PRAGMA user_version = 5")
    open_database(services.settings.data / "appliance.db")
    hits = search(client, notes_shop, "SKU-4471")
    assert hits[0]["row"] == CODE_ROW and hits[0]["lexical"] == 1


def test_a_tenant_never_finds_another_tenants_chunks_by_keyword(client, notes_shop, other_tenant):
    # no word the glossary gives these queries either ("gia" also searches "price", "cost", "costs")
    theirs = upload(client, other_tenant, "bikes.txt", b"Bike Hub repairs bicycles. A puncture repair is 12 dollars.")
    for query in ("SKU-4471", "iPhone 15 Pro Max", "gia dan man hinh", "Đà Nẵng", "Hoi An", "momo", "doi hang"):
        hits = search(client, other_tenant, query, 10)
        assert {h["document"]["id"] for h in hits} == {theirs}
        assert all(h["lexical"] is None for h in hits)  # no keyword in common with the bike shop
    assert all(h["document"]["id"] != theirs for h in search(client, notes_shop, "Bike Hub puncture", 10))
