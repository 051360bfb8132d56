"""Texts embedded once: an answer embeds the question once for retrieval and composing, and a prose chunk's
sentences are embedded by the first answer that uses the chunk, then stored (schema version 12), not per answer."""
from __future__ import annotations

import sqlite3

import pytest

from appliance.assistant import glossary, prompts
from appliance.assistant.answer import answer
from appliance.assistant.compose import scored_texts
from appliance.assistant.ingest import process, store_upload
from appliance.db import database, open_database, schema_version
from appliance.records import AnswerCache, Chunk, ChunkSentences, Tenant

FAQ = """## Opening hours
We open every day, Sunday included, from 8am. We close at 9pm. On public holidays we close at noon.

## Roses
A dozen red roses costs 25 dollars. A single rose costs 3 dollars.

## Delivery
We deliver to every district, District 3 included. Delivery is free above 50 dollars.
"""
PRODUCTS = "name,price\nRed rose,3\nTulip,2\n"
QUESTION = "When do you close on a public holiday?"
WORDINGS = glossary.wordings(QUESTION, prompts.language_of(QUESTION))


@pytest.fixture
def flower_shop(services, tenant):
    """A flower shop with an FAQ in Markdown (prose) and a small price table."""
    for name, text in (("faq.md", FAQ), ("products.csv", PRODUCTS)):
        document, _ = store_upload(services.settings, tenant.id, name, text.encode())
        assert process(services, document.id).status == "ready"
    tenant.prose = [c.id for c in Chunk.select().where((Chunk.tenant == tenant.id) & Chunk.cells.is_null())]
    tenant.rows = [c.id for c in Chunk.select().where((Chunk.tenant == tenant.id) & Chunk.cells.is_null(False))]
    assert tenant.prose and tenant.rows
    return tenant


@pytest.fixture
def embedded(services, monkeypatch):
    """Every text the embedder is asked to embed, in order."""
    embedder = services.models.embedder()
    seen: list[str] = []
    encode = embedder.encode

    def recording(texts, *args, **kwargs):
        seen.extend(texts)
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", recording)
    return seen


def ask(services, tenant_id: str, question: str):
    AnswerCache.delete().execute()  # each ask is answered afresh, not from the answer cache
    return answer(services, Tenant.get_by_id(tenant_id), [], question)


def test_the_first_answer_stores_the_chunks_sentences_and_later_ones_embed_only_the_question(services, flower_shop,
                                                                                              embedded):
    assert set(ChunkSentences.of(flower_shop.id, flower_shop.prose + flower_shop.rows).values()) == {None}
    first = ask(services, flower_shop.id, QUESTION)
    assert first.path == "extract" and "noon" in first.text
    assert embedded[:len(WORDINGS)] == WORDINGS and len(embedded) > len(WORDINGS)  # the question, then sentences
    stored = ChunkSentences.of(flower_shop.id, flower_shop.prose + flower_shop.rows)
    assert set(stored) == set(flower_shop.prose)  # a table row is compared with the question as a whole
    answered_from = {chunk_id: row for chunk_id, row in stored.items() if row is not None}  # the prose hits
    assert answered_from
    for chunk_id, (keys, _) in answered_from.items():
        assert len(keys) == 8 * len(scored_texts(Chunk.get_by_id(chunk_id).text))

    embedded.clear()
    again = ask(services, flower_shop.id, QUESTION)
    assert again.text == first.text and embedded == WORDINGS  # each wording once, for retrieval and composing


def test_migration_12_gives_an_older_database_the_table_and_answers_stay_the_same(services, flower_shop, embedded):
    composed = ask(services, flower_shop.id, QUESTION).text
    database.close()
    with sqlite3.connect(services.settings.data / "appliance.db") as raw:  # as a database of version 11 is
        raw.execute("DROP TABLE chunksentences")
        raw.execute("PRAGMA user_version = 11")
    open_database(services.settings.data / "appliance.db")
    assert schema_version(database) >= 12
    assert set(ChunkSentences.of(flower_shop.id, flower_shop.prose).values()) == {None}

    assert ask(services, flower_shop.id, QUESTION).text == composed
    embedded.clear()
    assert ask(services, flower_shop.id, QUESTION).text == composed and embedded == WORDINGS
