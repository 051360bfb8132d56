"""One reply of the assistant: small talk and hand-off, the cache, retrieval, an answer composed from the sources
(which a model may reword when the rewrite passes the faithfulness check), the tenant's fallback."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from appliance.assistant import (cache, cloud, compose, faithful, glossary, index, lexical, prompts, relevance,
                                  smalltalk, vectors)
from appliance.assistant.llm import Generation, ModelError
from appliance.records import Chunk, ChunkVector, Document, Tenant, Usage

log = logging.getLogger(__name__)

PATHS = ("extract", "model", "cloud", "fallback", "smalltalk", "handoff")


@dataclass
class Reply:
    """The assistant's answer with where it came from, how it was made and what it cost."""

    text: str
    sources: list = field(default_factory=list)
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    action: str = "reply"  # reply | handoff
    cached: bool = False
    path: str = "fallback"  # one of PATHS
    rejected: str | None = None  # why a model's rewrite was not sent
    stand_in: bool = False  # a model that should have reworded it failed: sent, but not cached as the answer


def assistant_config(tenant: Tenant) -> dict:
    """The tenant's assistant settings over the defaults."""
    config = dict(prompts.DEFAULT_ASSISTANT)
    config.update(tenant.assistant or {})
    return config


def min_similarity(services, config: dict) -> float:
    """The tenant's relevance threshold: its own `min_similarity`, or the appliance's rag_min_similarity."""
    own = config.get("min_similarity")
    return services.settings.rag_min_similarity if own is None else float(own)


def answer(services, tenant: Tenant, history: list[prompts.Turn], question: str,
           on_token: Callable[[str], None] | None = None) -> Reply:
    """The tenant's reply to `question`: small talk, hand-off, the cache, an answer from its sources, or its fallback."""
    started = time.monotonic()
    config = assistant_config(tenant)
    language = prompts.language_of(question, config.get("language"))
    intent = smalltalk.intent(question)
    if intent == "handoff":
        return _timed(_say(_handoff_text(language), on_token, action="handoff", path="handoff"), started)
    if intent:
        return _timed(_say(smalltalk.reply(intent, language, config), on_token, path="smalltalk"), started)
    limit = config.get("history_length")
    limit = services.settings.history_length if limit is None else int(limit)
    history = history[-limit:] if limit else []
    use_cache = not history  # a reply that leans on the conversation is not the reply to the bare question
    kb_version = cache.knowledge_version(tenant.id)
    config = {**config, "default_model": services.settings.model}  # which model rewrites is part of the cache key
    if use_cache:
        hit = cache.lookup(tenant, question, config, kb_version)
        if hit is not None:
            if on_token:
                on_token(hit.text)
            return _timed(Reply(text=hit.text, sources=hit.sources or [], model=hit.model, cached=True,
                                path=hit.path or "extract", rejected=hit.rejected), started)
    context: list[dict] = []
    memo = vectors.Memo(services.models.embedder)  # the question is embedded once, for retrieval and composing
    if has_knowledge(tenant.id):
        try:
            hits = retrieve(services, tenant.id, question, services.settings.rag_top_k, memo,
                            threshold=min_similarity(services, config))
        except (ModelError, index.IndexError_) as exc:
            log.error("knowledge search of %s failed: %s", tenant.id, exc)
            hits = []
        # close in meaning, or a strong keyword match (a code, a brand); compose also weighs the others' sentences
        context = hits
    if context:
        reply = _grounded(services, tenant, config, history, question, context, language, kb_version, on_token,
                          memo)
    elif free_form_allowed(services, config):
        reply = _generate(services, tenant, config, history, question, on_token)
    else:
        reply = _no_context(services, tenant, config, history, question, language, on_token)
    return _finish(reply, started, tenant, question, config, kb_version, use_cache)


def _timed(reply: Reply, started: float) -> Reply:
    reply.latency_ms = int((time.monotonic() - started) * 1000)
    return reply


def _finish(reply: Reply, started: float, tenant: Tenant, question: str, config: dict, kb_version: int,
            use_cache: bool) -> Reply:
    _timed(reply, started)
    if use_cache and reply.action == "reply" and reply.text and reply.path in ("extract", "model", "cloud") \
            and not reply.stand_in:  # once the failed model is back, the same question gets its rewrite
        cache.store(tenant, question, config, kb_version, reply)
    return reply


def has_knowledge(tenant_id: str) -> bool:
    """True when the tenant has at least one ready document (without one the assistant answers from its persona)."""
    return Document.select().where((Document.tenant == tenant_id) & (Document.status == "ready")).exists()


def retrieve(services, tenant_id: str, query: str, k: int, memo: vectors.Memo | None = None,
             threshold: float | None = None) -> list[dict]:
    """The tenant's k best chunks for `query`, best first, each with its document, page/row and scores.

    Every hit has `score` (cosine similarity to the question, also for chunks only the keyword search found),
    `lexical` (its BM25 rank, 1 = best, or None), `fused` (reciprocal rank fusion of both rankings; None with the
    `retrieval` setting `vector`), `strong` (the product codes, model names and brands of the question it contains)
    and `relevant`: cosine >= `threshold` (None: rag_min_similarity), or (hybrid) a strong keyword match. Hybrid order: hits with the
    strongest match first (a question naming SKU-4471 is about that row), then by fused score. Hybrid search also
    looks for the question with the glossary's other words for what it names (the other language, synonyms).
    `memo` keeps the question's vectors for composing the answer."""
    embedder = memo or services.models.embedder()
    wordings = glossary.wordings(query, prompts.language_of(query))
    if services.settings.retrieval != "hybrid" or len(wordings) == 1:
        return search_chunks(services, tenant_id, query, embedder.encode([query])[0], k, threshold=threshold)
    vectors = embedder.encode(wordings)
    return search_chunks(services, tenant_id, query, vectors[0], k, also=vectors[1], threshold=threshold)


def search_chunks(services, tenant_id: str, query: str, vector, k: int, also=None,
                  threshold: float | None = None) -> list[dict]:
    """`retrieve` for a question already embedded as `vector` (the benchmark times this part); `also` is the vector
    of the question read with the glossary's words, searched as well, and then the keyword search has them too."""
    settings = services.settings
    threshold = settings.rag_min_similarity if threshold is None else threshold
    tenant_index = index.for_tenant(settings, tenant_id, len(vector))
    if settings.retrieval == "vector":
        found = tenant_index.search(vector, k, services.models.embedder)
        hits = _hits(tenant_id, [chunk_id for chunk_id, _ in found])
        return _scored(hits, dict(found), {}, {}, threshold)
    pool = max(2 * k, 20)  # fusion needs more than k of each ranking to rerank
    found = tenant_index.search(vector, pool, services.models.embedder)
    vectors = [vector]
    prepared = lexical.prepare(tenant_id, query, tenant_index.live)
    if also is not None:
        vectors.append(also)
        found = _best_of(found, tenant_index.search(also, pool, services.models.embedder))
        # the glossary's words are searched (Vietnamese synonyms too: "gọi" finds the contact section for "số điện
        # thoại"; the relevance gate, not the search, decides what answers), but only the customer's own words make
        # a match strong
        extra = glossary.expand(query)
        prepared.match = lexical.prepare(tenant_id, f"{query} {extra}", tenant_index.live).match
    keyword = lexical.search(tenant_id, prepared, pool)
    fused = lexical.fuse([chunk_id for chunk_id, _ in found], keyword)
    ranks = {chunk_id: rank for rank, chunk_id in enumerate(keyword, 1)}
    candidates = keyword if prepared.can_be_strong else []  # else no chunk's text can make a match strong
    strong = {chunk_id: lexical.strong_terms(prepared, text) for chunk_id, text in _texts(tenant_id, candidates)}
    best = sorted(fused, key=lambda chunk_id: (-lexical.strength(strong.get(chunk_id, [])), -fused[chunk_id]))[:k]
    hits = _hits(tenant_id, best)
    for hit in hits:
        hit["strong"] = strong.get(hit["chunk_id"], [])
    hits.sort(key=lambda h: best.index(h["chunk_id"]))
    scores = dict(found)
    missing = [h["chunk_id"] for h in hits if h["chunk_id"] not in scores]
    for each in vectors:
        for chunk_id, score in _cosines(tenant_id, each, missing).items():
            scores[chunk_id] = max(score, scores.get(chunk_id, -1.0))
    return _scored(hits, scores, ranks, fused, threshold)


def _best_of(*rankings: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Vector rankings merged: each chunk with its best cosine, best first."""
    best: dict[int, float] = {}
    for ranking in rankings:
        for chunk_id, score in ranking:
            best[chunk_id] = max(score, best.get(chunk_id, -1.0))
    return sorted(best.items(), key=lambda item: -item[1])


def _texts(tenant_id: str, ids: list[int]) -> list[tuple[int, str]]:
    """(chunk id, text) of the tenant's live chunks among these ids."""
    if not ids:
        return []
    return list(Chunk.select(Chunk.id, Chunk.text).where(Chunk.id.in_(ids) & (Chunk.tenant == tenant_id)
                                                         & (Chunk.deleted == False)).tuples())  # noqa: E712


def _cosines(tenant_id: str, vector, ids: list[int]) -> dict[int, float]:
    """Cosine similarity of the question to chunks from their stored vectors (hits the vector search missed)."""
    if not ids:
        return {}
    query = np.asarray(vector, dtype=np.float32)
    query = query / (np.linalg.norm(query) or 1.0)
    scores = {}
    for row in ChunkVector.select().where(ChunkVector.chunk.in_(ids) & (ChunkVector.tenant == tenant_id)):
        stored = index.unpack(row.vector)
        scores[row.chunk_id] = float(stored @ query / (np.linalg.norm(stored) or 1.0))
    return scores


def _hits(tenant_id: str, ids: list[int]) -> list[dict]:
    """The hit dictionaries of the tenant's live chunks among these ids."""
    if not ids:
        return []
    rows = (Chunk.select(Chunk.id, Chunk.text, Chunk.document, Document.name, Chunk.page, Chunk.row, Chunk.start,
                         Chunk.end).join(Document)
            .where(Chunk.id.in_(ids) & (Chunk.tenant == tenant_id) & (Chunk.deleted == False)).tuples())  # noqa: E712
    return [{"chunk_id": chunk_id, "text": text, "document_id": document_id, "document": name, "page": page,
             "row": row, "start": start, "end": end, "strong": []}  # tuples: no model objects built per hit
            for chunk_id, text, document_id, name, page, row, start, end in rows]


def _scored(hits: list[dict], scores: dict[int, float], ranks: dict[int, int], fused: dict[int, float],
            threshold: float) -> list[dict]:
    """The hits with their cosine, BM25 rank, fused score and relevance; vector-only hits by cosine."""
    for hit in hits:
        chunk_id = hit["chunk_id"]
        hit["score"] = round(scores.get(chunk_id, 0.0), 4)  # 0.0: a chunk whose vector row is missing
        hit["lexical"] = ranks.get(chunk_id)
        hit["fused"] = round(fused[chunk_id], 6) if chunk_id in fused else None
        hit["relevant"] = hit["score"] >= threshold or bool(hit["strong"])
    return hits if fused else sorted(hits, key=lambda h: -h["score"])


def sources_of(hits: list[dict]) -> list[dict]:
    """Where a reply's information came from: one entry per document page or row."""
    seen, sources = set(), []
    for h in hits:
        where = (h["document_id"], h["page"], h["row"])
        if where not in seen:
            seen.add(where)
            sources.append({"document_id": h["document_id"], "document": h["document"], "page": h["page"],
                            "row": h["row"], "score": h["score"]})
    return sources


def _no_context(services, tenant, config, history, question, language, on_token) -> Reply:
    """Nothing in the knowledge base is about this: the tenant's fallback (don't know, hand-off, or its cloud model)."""
    fallback = config.get("fallback") or "dont_know"
    if fallback == "cloud":
        try:
            return _cloud(services, tenant, config, _persona(config, tenant), [], history, question, on_token)
        except ModelError as exc:
            log.warning("cloud fallback of %s failed: %s", tenant.id, exc)
    return fallback_reply(config, language, on_token)


def fallback_reply(config: dict, language: str, on_token=None) -> Reply:
    """The tenant's fallback without a model: the hand-off notice (fallback `handoff`) or its "don't know" text."""
    if config.get("fallback") == "handoff":
        return _say(_handoff_text(language), on_token, action="handoff", path="handoff")
    own = ((config.get("smalltalk") or {}).get(language) or {}).get("fallback")
    return _say(own or prompts.DONT_KNOW.get(language, prompts.DONT_KNOW["en"]), on_token)


def _handoff_text(language: str) -> str:
    return prompts.HANDOFF.get(language, prompts.HANDOFF["en"])


def _say(text: str, on_token, action: str = "reply", path: str = "fallback") -> Reply:
    if on_token:
        on_token(text)
    return Reply(text=text, model="fallback", action=action, path=path)


def _local_model(services, config):
    return services.models.get(config["local_model"]) if config.get("local_model") else services.models.local()


def _cloud_first(config: dict) -> bool:
    return config.get("model") == "cloud" or config.get("cloud_policy") == "always"


def free_form_allowed(services, config: dict) -> bool:
    """A tenant's free-form answers (no source) need `allow_free_form` and an instruct model (cloud or chat GGUF)."""
    if not config.get("allow_free_form"):
        return False
    if _cloud_first(config):
        return True
    try:
        return _local_model(services, config).profile == "chat"
    except ModelError:
        return False


# --- grounded answers: the extract, perhaps reworded --------------------------------------------------

def _grounded(services, tenant, config, history, question, context, language, kb_version, on_token,
              memo: vectors.Memo) -> Reply:
    """The answer composed from the sources; a model's rewrite replaces it only when it passes the check."""
    memo.load(tenant.id, [(hit["chunk_id"], hit["text"]) for hit in context])  # their stored sentence vectors
    extract = compose.compose(services, context, question, language, min_similarity(services, config),
                              relevance.rarity_for(tenant.id, kb_version), memo)
    if extract is None:
        if free_form_allowed(services, config):
            return _generate(services, tenant, config, history, question, on_token)
        return _no_context(services, tenant, config, history, question, language, on_token)
    used = extract.hits[0]
    others = [h for h in context if h is not used and h["relevant"]]
    reply = Reply(text=extract.text, sources=sources_of([used] + others),
                  model="extract", path="extract")
    problems = []
    for where in _rewriters(services, config):
        try:
            generation = _rewrite(services, tenant, config, history, question, extract.text, language, where)
        except ModelError as exc:
            log.warning("%s rewrite of %s failed: %s", where, tenant.id, exc)
            problems.append(f"the {where} model failed: {exc}")
            reply.stand_in = True
            continue
        reply.model, reply.prompt_tokens = generation.model, generation.prompt_tokens
        reply.completion_tokens = generation.completion_tokens
        candidate = compose.clean(generation.text)
        grounding = " ".join(h["text"] for h in [used] + others) + " " + question
        why = faithful.problems(candidate, extract.text, grounding, compose.product_names(tenant.id, kb_version))
        if why is None:
            reply.text, reply.path = candidate, "model" if where == "local" else "cloud"
            reply.stand_in = False  # the next model in line did the rewrite
        else:
            log.info("a rewrite for %s was rejected", tenant.id)
            log.debug("rewrite rejected: %s", why)  # the reason quotes numbers (perhaps phone numbers)
            problems.append(why)
        break
    reply.rejected = "; ".join(problems) or None
    if on_token:
        on_token(reply.text)
    return reply


def _rewriters(services, config: dict) -> list[str]:
    """Which models may reword the extract, in order: by the `rewrite` setting and the cloud policy."""
    mode = config.get("rewrite") or "auto"
    if mode == "never":
        return []
    cloud_first = _cloud_first(config)
    order = ["cloud"] if cloud_first else []
    local_fits, local_broken = mode == "always", False
    if not local_fits:
        try:
            local_fits = _local_model(services, config).profile == "chat"
        except ModelError as exc:
            log.warning("no local model to reword answers: %s", exc)
            local_broken = True
    if local_fits:
        order.append("local")
    if not cloud_first and config.get("cloud_policy") == "on_failure" and (local_fits or local_broken):
        order.append("cloud")
    return order


def _instruct_locally(services, config: dict) -> bool:
    try:
        return _local_model(services, config).profile == "chat"
    except ModelError:
        return True  # let the attempt fail with its own error


def _rewrite(services, tenant, config, history, question, extract, language, where) -> Generation:
    system = f"{_persona(config, tenant)} {prompts.rewrite_instruction(language)}"
    lines = prompts.facts_lines(extract)
    if where == "cloud":
        return _cloud_generation(services, tenant, config, system, lines, history, question, None)
    generation = _local_generation(services, config, system, lines, history, question, None)
    record_usage(tenant, generation)
    return generation


# --- free-form answers (instruct models only) -----------------------------------------------------------

def _persona(config: dict, tenant: Tenant) -> str:
    return prompts.system_text(config, tenant.name)


def _generate(services, tenant, config, history, question, on_token) -> Reply:
    """Local or cloud by the tenant's policy; the other one when the first fails and the policy allows it."""
    policy = config.get("cloud_policy") or "never"
    cloud_first = _cloud_first(config)
    order = ["cloud", "local"] if cloud_first else ["local"]
    if cloud_first and not _instruct_locally(services, config):
        order.remove("local")  # a base model does not answer free-form, not even when the cloud is down
    if not cloud_first and (policy == "on_failure" or config.get("fallback") == "cloud"):
        order.append("cloud")
    problems = []
    system = _persona(config, tenant)
    for where in order:
        try:
            if where == "cloud":
                return _cloud(services, tenant, config, system, [], history, question, on_token)
            return _local(services, tenant, config, system, [], history, question, on_token)
        except ModelError as exc:
            log.warning("%s model of %s failed: %s", where, tenant.id, exc)
            problems.append(str(exc))
    if config.get("fallback") == "handoff":
        return _say(_handoff_text(prompts.language_of(question, config.get("language"))), on_token,
                    action="handoff", path="handoff")
    raise ModelError(" ".join(problems))


def _local_generation(services, config, system, lines, history, question, on_token) -> Generation:
    model = _local_model(services, config)
    budget = model.n_ctx - model.max_tokens - 8
    prompt = prompts.build(model.profile, system, lines, history, question, model.count_tokens, budget)
    stop = prompts.COMPLETION_STOP if model.profile == "completion" else []
    try:
        return model.generate(prompt, stop=stop, on_token=on_token, timeout=services.settings.llm_timeout)
    except ModelError:
        raise
    except Exception as exc:  # llama.cpp failures (decode errors, context overflow) are a failed local answer
        raise ModelError(f"The local model failed ({type(exc).__name__}: {exc}).") from exc


def _cloud_generation(services, tenant, config, system, lines, history, question, on_token) -> Generation:
    endpoint = cloud.endpoint_for(services, tenant, config)
    if endpoint is None:
        raise cloud.CloudError("No cloud model is configured: set the assistant's cloud base_url and api_key, "
                               "or the platform's cloud_base_url and `appliance cloud-key`.")
    generation = cloud.chat(endpoint, prompts.chat_messages(system, lines, history, question), on_token)
    record_usage(tenant, generation)
    return generation


def _local(services, tenant, config, system, lines, history, question, on_token) -> Reply:
    generation = _local_generation(services, config, system, lines, history, question, on_token)
    record_usage(tenant, generation)
    return _reply(generation, "model")


def _cloud(services, tenant, config, system, lines, history, question, on_token) -> Reply:
    return _reply(_cloud_generation(services, tenant, config, system, lines, history, question, on_token), "cloud")


def _reply(generation: Generation, path: str) -> Reply:
    text = compose.clean(generation.text) or prompts.DONT_KNOW["en"]
    return Reply(text=text, model=generation.model, prompt_tokens=generation.prompt_tokens,
                 completion_tokens=generation.completion_tokens, latency_ms=generation.latency_ms, path=path)


def record_usage(tenant: Tenant, generation: Generation) -> None:
    """Keep the token counts per provider for the usage analytics."""
    Usage.create(tenant=tenant, provider=generation.provider, model=generation.model,
                 prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens)
