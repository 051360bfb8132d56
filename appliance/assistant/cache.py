"""The answer cache: the same normalised question, assistant settings and knowledge-base version give the same reply."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata

from peewee import IntegrityError

from appliance.records import AnswerCache, Tenant

log = logging.getLogger(__name__)

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(question: str) -> str:
    """Case, accents' composed forms, punctuation and spacing do not make a question different."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def key(question: str, config: dict) -> str:
    """The cache key: the normalised question and every assistant setting that shapes the reply.

    That includes the settings that choose the path (rewrite, cloud policy, allow_free_form, smalltalk), so a
    changed choice is never answered by a reply made the other way."""
    shaping = {k: v for k, v in sorted(config.items()) if k not in ("enabled", "history_length")}
    raw = json.dumps([normalise(question), shaping], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup(tenant: Tenant, question: str, config: dict, kb_version: int) -> AnswerCache | None:
    """The cached reply for this question at this knowledge-base version (the tenant's current one), or None."""
    row = AnswerCache.get_or_none((AnswerCache.tenant == tenant.id) & (AnswerCache.key == key(question, config))
                                  & (AnswerCache.kb_version == kb_version))
    if row is not None:
        AnswerCache.update(hits=AnswerCache.hits + 1).where(AnswerCache.id == row.id).execute()
    return row


def store(tenant: Tenant, question: str, config: dict, kb_version: int, reply) -> None:
    """Keep a reply (and how it was made) for the knowledge-base version it was made from (a newer one makes it stale)."""
    try:
        AnswerCache.create(tenant=tenant.id, key=key(question, config), kb_version=kb_version, question=question[:500],
                           text=reply.text, sources=reply.sources, model=reply.model, path=reply.path,
                           rejected=reply.rejected)
    except IntegrityError:
        pass  # another worker answered the same question at the same time


def knowledge_version(tenant_id: str) -> int:
    """The tenant's knowledge-base version now."""
    return Tenant.select(Tenant.kb_version).where(Tenant.id == tenant_id).scalar() or 0


def knowledge_changed(tenant_id: str) -> None:
    """A document was added or removed: bump the version (every cached reply goes stale) and drop stale rows."""
    Tenant.update(kb_version=Tenant.kb_version + 1).where(Tenant.id == tenant_id).execute()
    AnswerCache.delete().where((AnswerCache.tenant == tenant_id)
                               & (AnswerCache.kb_version < knowledge_version(tenant_id))).execute()
