"""Knowledge-base benchmark, measured against the bare libraries in the same run.

1. Ingestion: a generated document through the appliance (check, extract, chunk, embed, SQLite rows, hnswlib index,
   atomic save) against bare `SentenceTransformer.encode` of the same chunk texts with the same model object and
   batch size. Target: appliance >= 80 % of the bare chunks/s.
2. Index: real MiniLM vectors of generated product and policy sentences (not random vectors) in the appliance's
   per-tenant index against exact numpy search (one matrix product + argpartition per query), at 10k and 100k
   chunks. Prints recall@10, per-query latency and the index file size. Targets at 100k: recall@10 >= 0.95,
   >= 10x faster than exact, file <= 250 MB. Also hybrid search through the app's own retrieval function
   (`retrieve`: hnswlib + accent-folded FTS5 BM25 over the same chunks, the glossary's wordings, reciprocal rank
   fusion, strong terms, hit rows fetched; the question's vectors already made, as an answer has them): p95 <= 20 ms
   at 100k, against the bare libraries doing the same searches in the same run (hnswlib knn_query for the pool,
   one FTS5 MATCH of the same words ORDER BY rank, fusion, the k rows fetched).
3. Answer cache: the same question answered by the model (cache emptied first) and from the cache.
   Target: cached < 2 % of the model's time.

Run: .venv/bin/python tests/benchmarks/rag_bench.py [--quick] [--parts ingest,index,cache] [--sizes 10000,100000]
     (vectors are cached in $TMPDIR between runs; encoding the 100k texts takes ~7 min on 2 quiet cores, much
     longer on a busy machine)
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from appliance.config import load_settings  # noqa: E402

COLOURS = "red blue green yellow white black purple orange pink grey brown golden silver ivory teal".split()
MATERIALS = "ceramic terracotta wooden steel brass plastic glass bamboo concrete linen cotton wicker stone".split()
THINGS = ("pot planter vase watering-can trowel rake hose kneeler lamp bench basket trellis seed-tray gloves apron "
          "fertiliser compost mulch birdhouse feeder fountain lantern shears spade fork sprinkler").split()
PLANTS = ("monstera fern orchid cactus succulent lavender rosemary basil olive maple bamboo palm ivy pothos begonia "
          "geranium tulip daffodil hydrangea magnolia camellia azalea boxwood juniper").split()
TOPICS = ("returns refunds delivery shipping warranty payment loyalty workshops repotting opening-hours parking "
          "gift-cards privacy cancellations damaged-items guarantee").split()


def generated_texts(n: int, seed: int) -> list[str]:
    """Product cards and policy sentences, varied enough that neighbours are not trivial."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.5:
            texts.append(f"{rng.choice(COLOURS).title()} {rng.choice(MATERIALS)} {rng.choice(THINGS).replace('-', ' ')}, "
                         f"{rng.randint(8, 60)} cm, costs {rng.randint(3, 300)} dollars; {rng.choice(['in stock', 'low stock', 'out of stock'])}. "
                         f"Good for {rng.choice(PLANTS)} and {rng.choice(PLANTS)}.")
        elif kind < 0.8:
            texts.append(f"The {rng.choice(PLANTS)} {rng.choice(['likes', 'needs', 'tolerates', 'hates'])} "
                         f"{rng.choice(['bright light', 'shade', 'weekly water', 'dry soil', 'humidity', 'frost', 'feeding in spring'])}; "
                         f"grows to {rng.randint(10, 400)} cm in a {rng.choice(COLOURS)} {rng.choice(MATERIALS)} pot.")
        else:
            t = rng.choice(TOPICS).replace("-", " ")
            texts.append(f"Policy {i}: {t} for {rng.choice(THINGS).replace('-', ' ')} orders take "
                         f"{rng.randint(1, 60)} days; ask at the till or call us about {rng.choice(TOPICS).replace('-', ' ')}.")
    return texts


def vectors_for(embedder, n: int) -> np.ndarray:
    """MiniLM vectors of the first n generated texts (cached in the temp folder; a smaller set is a prefix of a larger)."""
    folder = Path(tempfile.gettempdir())
    for path in sorted(folder.glob("rag_bench_vectors_v1_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1])):
        if int(path.stem.rsplit("_", 1)[1]) >= n:
            return np.load(path, mmap_mode="r")[:n].copy()
    import torch

    started = time.monotonic()
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # preparing the data set is not what is measured: use every core
    try:
        vectors = embedder.encode(generated_texts(n, seed=1), batch_size=256)
    finally:
        torch.set_num_threads(threads)
    partial = folder / f"rag_bench_vectors_v1_{n}.partial"
    with open(partial, "wb") as handle:
        np.save(handle, vectors)
    partial.replace(folder / f"rag_bench_vectors_v1_{n}.npy")
    print(f"  (encoded {n} generated texts in {time.monotonic() - started:.0f} s; cached in {folder})", flush=True)
    return vectors


def services_for(data: Path, quick: bool):
    from appliance import tasks
    from appliance.app import Services
    from appliance.assistant.llm import Models
    from appliance.db import open_database
    from appliance.vault import Vault

    settings = load_settings({"data": data, "models": REPO / "models", "llm_max_tokens": 32}, environ={})
    data.mkdir(parents=True, exist_ok=True)
    open_database(data / "appliance.db")
    models = Models(settings)
    models.load()
    assert models.status == "ready", models.error
    services = Services(settings=settings, vault=Vault.open(data), models=models)
    tasks.bind(services)
    tasks.use_queue_file(None)
    return services


def bench_ingestion(services, chunks_wanted: int, rounds: int) -> None:
    from appliance.assistant import ingest
    from appliance.auth import create_tenant

    embedder = services.models.embedder()
    paragraphs = generated_texts(chunks_wanted * 8, seed=7)
    text = "\n\n".join(" ".join(paragraphs[i:i + 8]) for i in range(0, len(paragraphs), 8))
    pieces = ingest.extract("txt", text.encode(), "bench.txt")
    drafts = ingest.chunk(pieces, embedder.token_offsets, services.settings.chunk_tokens, services.settings.chunk_overlap)
    chunk_texts = [d.text for d in drafts]
    embedder.encode(chunk_texts[:64], batch_size=services.settings.embed_batch)  # warm-up

    tenant, _ = create_tenant("Ingestion bench")
    bare_rates, appliance_rates = [], []
    for round_ in range(rounds):  # interleaved, so a busy neighbour slows both sides alike
        started = time.monotonic()
        embedder.model.encode(chunk_texts, batch_size=services.settings.embed_batch, convert_to_numpy=True,
                              normalize_embeddings=True, show_progress_bar=False)
        bare_rates.append(len(chunk_texts) / (time.monotonic() - started))
        data = text.encode() + f"\n\nRound {round_}.".encode()  # new content: the same bytes would be a no-op
        started = time.monotonic()
        document, _ = ingest.store_upload(services.settings, tenant.id, f"bench{round_}.txt", data)
        document = ingest.process(services, document.id)
        appliance_rates.append(document.chunks / (time.monotonic() - started))
        assert document.status == "ready" and document.chunks >= len(chunk_texts), (document.status, document.error)
    bare, appliance = statistics.median(bare_rates), statistics.median(appliance_rates)
    print(f"ingestion: {len(chunk_texts)} chunks of <= {services.settings.chunk_tokens} tokens, median of {rounds}; "
          f"appliance {appliance:.1f} chunks/s, bare encode {bare:.1f} chunks/s")
    print(f"ratio ingestion appliance/bare encode: {appliance / bare:.2f} (target >= 0.80)", flush=True)


def chunk_rows(tenant_id: str, texts: list[str], vectors: np.ndarray) -> list[int]:
    """Chunk, vector and keyword rows for generated texts (as ingestion writes them, without the embedding); their ids."""
    from appliance.assistant import lexical
    from appliance.assistant.index import pack
    from appliance.db import database
    from appliance.records import Chunk, ChunkVector, Document

    document = Document.create(tenant=tenant_id, name="generated.txt", content_hash=f"bench-{tenant_id}", kind="txt")
    ids: list[int] = []
    for start in range(0, len(texts), 2000):
        part = texts[start:start + 2000]
        with database.atomic():
            first = len(ids)
            for ordinal, text in enumerate(part, start):
                ids.append(Chunk.insert(tenant=tenant_id, document=document.id, ordinal=ordinal, text=text).execute())
            ChunkVector.insert_many([{"chunk": chunk_id, "tenant": tenant_id, "vector": blob} for chunk_id, blob in
                                     zip(ids[first:], pack(vectors[start:start + 2000]))]).execute()
            lexical.add(tenant_id, list(zip(ids[first:], part)))
    return ids


def bare_hybrid(knn, execute, table: str, match: str, query: np.ndarray, pool: int, k: int) -> list:
    """The bare libraries doing hybrid search's work: hnswlib's pool, FTS5 BM25 for the same words, reciprocal rank
    fusion, the k best rows fetched."""
    labels, _ = knn(query.reshape(1, -1), k=pool)
    keyword = [rowid for (rowid,) in execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rank LIMIT ?",
                                             (match, pool))] if match else []
    fused: dict[int, float] = {}
    for ranking in (labels[0].tolist(), keyword):
        for rank, chunk_id in enumerate(ranking, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (60 + rank)
    best = sorted(fused, key=fused.get, reverse=True)[:k]
    return execute(f"SELECT id, text FROM chunk WHERE id IN ({','.join('?' * len(best))})", best).fetchall()


def bench_index(services, n: int, questions: list[str], queries: np.ndarray) -> None:
    from appliance.assistant import glossary, index, lexical, prompts
    from appliance.assistant.vectors import Memo, key
    from appliance.assistant.answer import retrieve
    from appliance.auth import create_tenant
    from appliance.db import database
    from appliance.records import ChunkTerms

    embedder = services.models.embedder()
    vectors = vectors_for(embedder, n)
    tenant, _ = create_tenant(f"Index bench {n}")
    tenant_index = index.for_tenant(services.settings, tenant.id, embedder.dim)
    tenant_index.ensure_loaded()  # empty: the vectors are added below and timed
    ids = chunk_rows(tenant.id, generated_texts(n, seed=1), vectors)
    labels = np.asarray(ids)
    started = time.monotonic()
    for start in range(0, n, 10_000):
        tenant_index.add(ids[start:start + 10_000], vectors[start:start + 10_000])
    build = time.monotonic() - started
    size = tenant_index.path.stat().st_size

    # Each method answers all queries in its own loop (as a server answering a stream of questions would): interleaved,
    # the exact pass streams the whole matrix through the CPU caches before every hnsw query and evicts its graph.
    exact_times, hnsw_times, bare_times, hybrid_times, exact_sets, found_sets = [], [], [], [], [], []
    for query in queries:
        started = time.perf_counter()
        scores = vectors @ query
        top = np.argpartition(-scores, 10)[:10]
        exact_sets.append(set(labels[top[np.argsort(-scores[top])]].tolist()))
        exact_times.append(time.perf_counter() - started)
    for query in queries:
        started = time.perf_counter()
        found = tenant_index.search(query, 10)
        hnsw_times.append(time.perf_counter() - started)
        found_sets.append({label for label, _ in found})
    for query in queries:  # the bare library on the same index, for the appliance's own overhead
        started = time.perf_counter()
        tenant_index._index.knn_query(query.reshape(1, -1), k=10)
        bare_times.append(time.perf_counter() - started)
    services.settings["retrieval"] = "hybrid"
    k, pool = services.settings.rag_top_k, max(2 * services.settings.rag_top_k, 20)  # as search_chunks does
    memos = []  # the question's wordings embedded beforehand, as answer() has them when it retrieves
    for question, query in zip(questions, queries):
        memo = Memo(services.models.embedder)
        wordings = glossary.wordings(question, prompts.language_of(question))
        memo.remember([key(question)], [query])
        memo.encode(wordings)
        memos.append(memo)
    matches = [lexical.prepare(tenant.id, question, tenant_index.live).match for question in questions]
    table, bare_hybrid_times = ChunkTerms.table(tenant.id), []
    for _ in range(2):  # two passes of each, alternating, so a busy neighbour slows both alike; the second counts
        bare_hybrid_times.clear()
        hybrid_times.clear()
        for match, query in zip(matches, queries):
            started = time.perf_counter()
            bare_hybrid(tenant_index._index.knn_query, database.execute_sql, table, match, query, pool, k)
            bare_hybrid_times.append(time.perf_counter() - started)
        for question, memo in zip(questions, memos):
            started = time.perf_counter()
            retrieve(services, tenant.id, question, k, memo)
            hybrid_times.append(time.perf_counter() - started)
    recalls = [len(exact & found) / 10 for exact, found in zip(exact_sets, found_sets)]
    exact_ms, hnsw_ms = statistics.median(exact_times) * 1000, statistics.median(hnsw_times) * 1000
    print(f"index {n} chunks: built in {build:.1f} s, file {size / 1e6:.1f} MB; query p50 appliance {hnsw_ms:.3f} ms, "
          f"bare hnswlib knn_query {statistics.median(bare_times) * 1000:.3f} ms, exact numpy {exact_ms:.3f} ms")
    print(f"recall@10 at {n}: {statistics.mean(recalls):.3f} (target >= 0.95)")
    print(f"ratio speed-up exact/hnsw at {n}: {exact_ms / hnsw_ms:.1f}x (target >= 10x)")
    print(f"index size at {n}: {size / 1e6:.1f} MB (target <= 250 MB at 100000)")
    print(f"hybrid search p95 at {n}: {p95(hybrid_times) * 1000:.2f} ms (p50 {statistics.median(hybrid_times) * 1000:.2f}); "
          f"bare hnswlib+FTS5 fused p95 {p95(bare_hybrid_times) * 1000:.2f} ms "
          f"(p50 {statistics.median(bare_hybrid_times) * 1000:.2f}); "
          f"bare hnswlib knn_query p95 {p95(bare_times) * 1000:.3f} ms (target <= 20 ms at 100000)", flush=True)


def p95(times: list[float]) -> float:
    """The 95th percentile of a list of durations."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def bench_cache(services, runs: int) -> None:
    from appliance.assistant.answer import answer
    from appliance.assistant import ingest
    from appliance.auth import create_tenant
    from appliance.records import AnswerCache

    tenant, _ = create_tenant("Cache bench")
    for path in (REPO / "tests" / "data" / "shop").glob("*.*"):
        if path.suffix in (".csv", ".md", ".pdf"):
            document, _ = ingest.store_upload(services.settings, tenant.id, path.name, path.read_bytes())
            ingest.process(services, document.id)
    question = "What are your opening hours?"
    model_times, cached_times = [], []
    for _ in range(runs):
        AnswerCache.delete().execute()
        started = time.perf_counter()
        fresh = answer(services, tenant, [], question)
        model_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        cached = answer(services, tenant, [], question)
        cached_times.append(time.perf_counter() - started)
        assert cached.cached and not fresh.cached and cached.text == fresh.text
    model_ms, cached_ms = statistics.median(model_times) * 1000, statistics.median(cached_times) * 1000
    print(f"answer: model {model_ms:.0f} ms, cached {cached_ms:.2f} ms (median of {runs})")
    print(f"ratio cached/model answer: {cached_ms / model_ms:.4f} (target < 0.02)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test that the script runs")
    parser.add_argument("--parts", default="ingest,index,cache", help="which parts to run, comma-separated")
    parser.add_argument("--sizes", help="index sizes, comma-separated (default 10000,100000; 1000 with --quick)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else [1_000] if args.quick else [10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(Path(tmp) / "data", args.quick)
        embedder = services.models.embedder()
        print(f"embedder {embedder.name}, torch threads {services.settings.torch_threads}, "
              f"hnsw M={services.settings.hnsw_m} ef_construction={services.settings.hnsw_ef_construction} "
              f"ef={services.settings.hnsw_ef}", flush=True)
        if "ingest" in parts:
            bench_ingestion(services, 40 if args.quick else 200, 1 if args.quick else 3)
        questions = [f"Do you have a {random.Random(i).choice(COLOURS)} {random.Random(i + 1).choice(MATERIALS)} "
                     f"{random.Random(i + 2).choice(THINGS).replace('-', ' ')} for my {random.Random(i + 3).choice(PLANTS)}?"
                     if i % 4 else f"What does policy {random.Random(i).randrange(1000)} say about "
                     f"{random.Random(i + 1).choice(TOPICS).replace('-', ' ')}?"  # a code the keyword search must find
                     for i in range(30 if args.quick else 200)]
        queries = embedder.encode(questions)
        if "index" in parts:
            vectors_for(embedder, max(sizes))  # encode the largest set once; the smaller ones are its prefixes
            for n in sizes:
                bench_index(services, n, questions, queries)
        if "cache" in parts:
            bench_cache(services, 2 if args.quick else 5)
        services.models.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
