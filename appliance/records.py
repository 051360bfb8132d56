"""The peewee tables, with their queries as classmethods. Every row carries its tenant."""
from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from datetime import datetime, timedelta, timezone

from peewee import (
    BlobField,
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JOIN,
    SQL,
    Model,
    TextField,
    fn,
)
from playhouse.sqlite_ext import AutoIncrementField, JSONField as PlayhouseJSONField

from appliance.db import database, migration
from appliance.errors import AppError


def utcnow() -> datetime:
    """Naive UTC now (SQLite stores it as text)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id(prefix: str) -> str:
    """An unguessable public id such as ch_3f9a...; webhook URLs are built from these."""
    return f"{prefix}_{secrets.token_hex(8)}"


# One JSON writer for every JSON column: compact, and Vietnamese text stored as itself rather than \u escapes
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class JSONField(PlayhouseJSONField):
    """playhouse's JSON column (queries by path: `Model.field["a"]["b"]`), written with `encode_json`."""

    def __init__(self, **kwargs):
        super().__init__(json_dumps=encode_json, **kwargs)


class BaseModel(Model):
    class Meta:
        database = database

    @classmethod
    def get_for_tenant(cls, tenant_id: str, row_id, what: str = "item"):
        """The row with this id in this tenant, or a 404 (other tenants' rows do not exist for you)."""
        row = cls.get_or_none((cls.id == row_id) & (cls.tenant == tenant_id))
        if row is None:
            raise AppError(404, "not_found", f"No {what} with id {row_id} in this tenant.")
        return row


class Tenant(BaseModel):
    id = CharField(primary_key=True, default=lambda: new_id("t"))
    name = CharField()
    assistant = JSONField(default=dict)  # persona, instructions, model choice... (secrets live in assistant_secret)
    assistant_secret = TextField(null=True)  # vault-encrypted cloud api key
    kb_version = IntegerField(default=0)  # bumped on every knowledge change (answer cache key)
    setup_step = CharField(default="")  # the first-run wizard's last step; "done" once finished
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def oldest_first(cls) -> list["Tenant"]:
        """Every tenant, in the order they were created."""
        return list(cls.select().order_by(cls.created_at))


class User(BaseModel):
    ROLES = ("platform-admin", "tenant-admin", "agent")
    tenant = ForeignKeyField(Tenant, null=True, backref="users", on_delete="CASCADE")
    email = CharField(unique=True)
    password_hash = CharField()
    role = CharField()
    session_version = IntegerField(default=0)  # in the admin cookie; bumped at logout so old cookies stop working
    language = CharField(default="")  # the admin pages' language (en, vi); empty: the browser's choice
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def set_password_hash(cls, user_id: int, password_hash: str) -> None:
        """Store a new hash of the user's password (a re-hash at login keeps every session)."""
        cls.update(password_hash=password_hash).where(cls.id == user_id).execute()

    @classmethod
    def end_sessions(cls, user_id: int) -> None:
        """Log this user out everywhere: every admin cookie issued so far stops working."""
        cls.update(session_version=cls.session_version + 1).where(cls.id == user_id).execute()

    @classmethod
    def of_tenant(cls, tenant_id: str) -> list["User"]:
        """The tenant's staff (admins and agents), by e-mail."""
        return list(cls.select().where(cls.tenant == tenant_id).order_by(cls.email))


class ApiToken(BaseModel):
    tenant = ForeignKeyField(Tenant, null=True, backref="tokens", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")
    name = CharField(default="")
    token_hash = CharField(unique=True)
    role = CharField()
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)


class Channel(BaseModel):
    KINDS = ("whatsapp", "messenger", "zalo", "telegram", "web")
    id = CharField(primary_key=True, default=lambda: new_id("ch"))
    tenant = ForeignKeyField(Tenant, backref="channels", on_delete="CASCADE")
    kind = CharField()
    name = CharField(default="")
    credentials = TextField(null=True)  # vault-encrypted JSON, never returned by the API
    api_base = CharField(null=True)
    status = CharField(default="active")  # active | needs_attention
    status_reason = TextField(null=True)
    deleted = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def connected(cls, tenant=None):
        """Channels that were not disconnected (of one tenant, if given); disconnected ones keep only their history."""
        query = cls.select().where(cls.deleted == False)  # noqa: E712
        return query if tenant is None else query.where(cls.tenant == tenant)

    @classmethod
    def live(cls, channel_id: str, kind: str | None = None):
        """The connected channel with this id (and kind), or None."""
        query = cls.connected().where(cls.id == channel_id)
        return (query.where(cls.kind == kind) if kind else query).first()

    @classmethod
    def webhook_target(cls, channel_id: str, kind: str) -> "Channel | None":
        """The connected channel of this kind with just what a webhook needs (id, tenant, credentials), or None.

        Raw SQL: this runs on every webhook POST, and peewee's query building costs more than the query."""
        row = database.execute_sql(_WEBHOOK_TARGET_SQL, (channel_id, kind)).fetchone()
        return None if row is None else cls(id=row[0], tenant=row[1], kind=kind, credentials=row[2])

    @classmethod
    def live_of(cls, tenant_id: str) -> list["Channel"]:
        """The tenant's connected (not deleted) channels, oldest first."""
        return list(cls.connected(tenant_id).order_by(cls.created_at))

    @property
    def webhook_path(self) -> str:
        """Where the platform posts to (the widget: its embed script), from the channel module."""
        from appliance import channels

        return getattr(channels.module(self.kind), "PATH", "/webhooks/{kind}/{id}").format(kind=self.kind, id=self.id)


_WEBHOOK_TARGET_SQL = (
    f"SELECT {Channel.id.column_name}, {Channel.tenant.column_name}, {Channel.credentials.column_name} "
    f"FROM {Channel._meta.table_name} WHERE {Channel.id.column_name} = ? AND {Channel.kind.column_name} = ? "
    f"AND {Channel.deleted.column_name} = 0")  # Channel.connected(), as SQL


class Customer(BaseModel):
    tenant = ForeignKeyField(Tenant, backref="customers", on_delete="CASCADE")
    channel = ForeignKeyField(Channel, backref="customers", on_delete="CASCADE")
    external_id = CharField()  # platform user id (wa_id, PSID, Zalo user id, chat id, widget session)
    name = CharField(default="")
    tags = JSONField(default=list)
    custom_fields = JSONField(default=dict)
    consent = CharField(default="unknown")
    last_inbound_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("channel", "external_id"), True),)

    @classmethod
    def tagged(cls, tenant_id: str, tag: str) -> list["Customer"]:
        """The tenant's customers carrying this tag."""
        return list(cls.select().where((cls.tenant == tenant_id) & SQL(
            "EXISTS (SELECT 1 FROM json_each(t1.tags) WHERE json_each.value = ?)", (tag,))))


class Conversation(BaseModel):
    STATUSES = ("open", "handoff", "assigned", "closed")  # changed only through appliance/conversations.py
    tenant = ForeignKeyField(Tenant, backref="conversations", on_delete="CASCADE")
    channel = ForeignKeyField(Channel, backref="conversations", on_delete="CASCADE")
    customer = ForeignKeyField(Customer, backref="conversations", on_delete="CASCADE")
    status = CharField(default="open")
    assigned_user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    last_message_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)


    @classmethod
    def open_of(cls, customer_id: int) -> "Conversation | None":
        """The customer's newest conversation that is not closed, or None."""
        return (cls.select().where((cls.customer == customer_id) & (cls.status != "closed"))
                .order_by(cls.id.desc()).first())

    @classmethod
    def closed_before(cls, customer_id: int, conversation_id: int | None = None) -> bool:
        """Whether the customer has a closed conversation (older than this one, when given)."""
        query = cls.select(cls.id).where((cls.customer == customer_id) & (cls.status == "closed"))
        if conversation_id is not None:
            query = query.where(cls.id < conversation_id)
        return query.exists()

    @classmethod
    def latest(cls, tenant_id: str, limit: int) -> list["Conversation"]:
        """The tenant's most recently active conversations, with their customers (one query)."""
        return list(cls.select(cls, Customer).join(Customer).where(cls.tenant == tenant_id)
                    .order_by(cls.last_message_at.desc()).limit(limit))


class InboundEvent(BaseModel):
    """What a platform (or the widget) sent, stored before the 200; the ledger the worker replays."""

    STATUSES = ("pending", "processing", "done", "skipped", "failed")
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    channel = ForeignKeyField(Channel, on_delete="CASCADE")
    platform_id = CharField()
    kind = CharField()  # text, media, button, location, reaction, follow, unfollow, status, unknown
    payload = JSONField()
    status = CharField(default="pending", index=True)
    attempts = IntegerField(default=0)
    error = TextField(null=True)
    received_at = DateTimeField(default=utcnow)
    processed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("channel", "platform_id"), True),)

    @classmethod
    def waiting_status(cls, channel_id: str, ref: str) -> list["InboundEvent"]:
        """Status events of a channel not applied yet that name one of our sends by its ref."""
        return list(cls.select().where(
            (cls.channel == channel_id) & (cls.kind == "status") & cls.status.in_(("pending", "processing", "waiting"))
            & (cls.payload["status"]["ref"] == ref)))

    @classmethod
    def waiting_for(cls, channel_id: str, platform_id: str) -> list["InboundEvent"]:
        """Status webhooks of a channel that came before the send of `platform_id` answered (kept "waiting")."""
        return list(cls.select().where(
            (cls.channel == channel_id) & (cls.kind == "status") & (cls.status == "waiting")
            & (cls.payload["status"]["message_id"] == platform_id)))

    @classmethod
    def store_new(cls, tenant_id: str, channel_id: str, events: list[tuple[str, str, str]]) -> list[int]:
        """Store (platform_id, kind, payload as encode_json text) rows of one channel in one statement, redeliveries
        ignored by the unique key; the ids of the new rows.

        Raw SQL, cached per row count: this is the hot path of every webhook POST, and peewee's insert_many builds
        its query (and encodes each payload through fn.json) at several times the cost of the insert itself."""
        now = utcnow()
        params: list = []
        for platform_id, kind, payload in events:
            params += [tenant_id, channel_id, platform_id, kind, payload, now]
        with _STORE_LOCK:  # a single statement is its own transaction: all rows or none
            cursor = database.execute_sql(_insert_sql(len(events)), params)
            inserted, last = cursor.rowcount, cursor.lastrowid
        # One statement, one sqlite3_step (RETURNING would step and swap the GIL once per row): SQLite gives the rows
        # one statement inserts consecutive rowids (max + 1 onwards; no AUTOINCREMENT gaps), so the new ids are a range.
        return list(range(last - inserted + 1, last + 1)) if inserted > 0 else []


_STORE_LOCK = threading.Lock()  # webhook threads queue here instead of in SQLite's sleeping busy handler


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    table, field = InboundEvent._meta.table_name, InboundEvent._meta.fields
    columns = ", ".join(field[name].column_name for name in ("tenant", "channel", "platform_id", "kind", "payload",
                                                            "status", "attempts", "received_at"))
    values = ", ".join(["(?, ?, ?, ?, ?, 'pending', 0, ?)"] * rows)
    return (f"INSERT INTO {table} ({columns}) VALUES {values} "
            f"ON CONFLICT ({InboundEvent.channel.column_name}, {InboundEvent.platform_id.column_name}) DO NOTHING")


class Message(BaseModel):
    """One message in a conversation; outbound rows are also the outbox."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    conversation = ForeignKeyField(Conversation, backref="messages", on_delete="CASCADE")
    direction = CharField()  # in | out
    sender = CharField()  # customer | bot | agent | automation
    kind = CharField(default="text")
    text = TextField(default="")
    payload = JSONField(null=True)  # buttons, template, media, raw platform fields
    inbound_event = ForeignKeyField(InboundEvent, null=True, unique=True, on_delete="SET NULL")
    reply_to = ForeignKeyField("self", null=True, unique=True, on_delete="SET NULL")  # one bot reply per inbound
    status = CharField(default="received")  # in: received | out: pending, sent, delivered, read, failed
    platform_id = CharField(null=True, index=True)
    error = TextField(null=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    model = CharField(null=True)
    tokens_prompt = IntegerField(default=0)
    tokens_completion = IntegerField(default=0)
    latency_ms = IntegerField(default=0)
    sources = JSONField(null=True)
    path = CharField(null=True)  # how a bot reply was made: extract, model, cloud, fallback, smalltalk, handoff
    rejected = TextField(null=True)  # why a model's rewrite was not sent (the extract went instead)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    @classmethod
    def unread_counts(cls, conversation_ids: list[int]) -> dict[int, int]:
        """Per conversation, the customer's messages since the last reply (bot's or staff's); absent when none."""
        if not conversation_ids:
            return {}
        out = cls.alias()
        last_reply = out.select(fn.COALESCE(fn.MAX(out.id), 0)).where(
            (out.conversation == cls.conversation) & (out.direction == "out"))
        return dict(cls.select(cls.conversation, fn.COUNT(cls.id))
                    .where(cls.conversation.in_(conversation_ids) & (cls.direction == "in") & (cls.id > last_reply))
                    .group_by(cls.conversation).tuples())

    @classmethod
    def unread_conversations(cls, tenant_id: str):
        """A subquery of the tenant's conversation ids whose newest message is the customer's (no reply since)."""
        newest = {d: fn.MAX(Case(None, [(cls.direction == d, cls.id)])) for d in ("in", "out")}
        return (cls.select(cls.conversation).where(cls.tenant == tenant_id).group_by(cls.conversation)
                .having(newest["in"] > fn.COALESCE(newest["out"], 0)))


    @classmethod
    def wrote_before(cls, customer_id: int, message_id: int, conversation_id: int | None = None) -> bool:
        """Whether the customer wrote anything before this message (in this conversation only, when given)."""
        query = (cls.select(cls.id).join(Conversation)
                 .where((Conversation.customer == customer_id) & (cls.direction == "in") & (cls.id < message_id)))
        if conversation_id is not None:
            query = query.where(cls.conversation == conversation_id)
        return query.exists()

    @classmethod
    def last_of(cls, conversation_ids: list[int]) -> dict[int, "Message"]:
        """The newest message of each of these conversations, by conversation id (two queries in all)."""
        newest = cls.select(fn.MAX(cls.id)).where(cls.conversation.in_(conversation_ids)).group_by(cls.conversation)
        return {m.conversation_id: m for m in cls.select().where(cls.id.in_(newest))}


class Document(BaseModel):
    """A knowledge document of a tenant; its chunks feed the tenant's vector index."""

    tenant = ForeignKeyField(Tenant, backref="documents", on_delete="CASCADE")
    name = CharField()
    content_hash = CharField()
    kind = CharField()  # txt, md, pdf, csv
    size = IntegerField(default=0)
    path = TextField(null=True)
    status = CharField(default="queued")  # queued | processing | ready | failed
    progress = FloatField(default=0.0)
    chunks = IntegerField(default=0)
    error = TextField(null=True)
    fields = JSONField(null=True)  # a table's columns by meaning: {"name": "Tên sản phẩm", "price": "Giá", ...}
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "content_hash"), True),)

    @classmethod
    def of_tenant(cls, tenant_id: str) -> list["Document"]:
        """The tenant's documents, newest first."""
        return list(cls.select().where(cls.tenant == tenant_id).order_by(cls.id.desc()))


class Chunk(BaseModel):
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    document = ForeignKeyField(Document, backref="chunk_rows", on_delete="CASCADE")
    ordinal = IntegerField()
    text = TextField()
    page = IntegerField(null=True)
    row = IntegerField(null=True)
    start = IntegerField(default=0)
    end = IntegerField(default=0)
    deleted = BooleanField(default=False)
    cells = JSONField(null=True)  # a table row's raw cells by column name, so answers never re-parse the text

    @classmethod
    def by_ids(cls, chunk_ids: list[int]) -> dict[int, "Chunk"]:
        """{id: chunk} of these ids that exist, in one query (an answer's hits, each read several times)."""
        return {chunk.id: chunk for chunk in cls.select().where(cls.id.in_(list(set(chunk_ids))))} if chunk_ids else {}


class Usage(BaseModel):
    """Tokens spent per reply and provider (local model or a cloud endpoint)."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    provider = CharField()  # local | cloud
    model = CharField()
    prompt_tokens = IntegerField(default=0)
    completion_tokens = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


TABLES = [Tenant, User, ApiToken, Channel, Customer, Conversation, InboundEvent, Message, Document, Chunk, Usage]


@migration(1)
def _create_tables(db) -> None:
    db.create_tables(TABLES)


# --- knowledge base: vectors, answer cache, platform secrets (schema version 2) -----------------

class ChunkVector(BaseModel):
    """A chunk's embedding (float16), so the vector index can be rebuilt without re-embedding."""

    chunk = ForeignKeyField(Chunk, primary_key=True, on_delete="CASCADE")
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=True)
    vector = BlobField()


class AnswerCache(BaseModel):
    """A reply to a normalised question, valid for one knowledge-base version of its tenant."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    key = CharField()  # sha256 of the normalised question and the assistant settings
    kb_version = IntegerField()
    question = TextField()
    text = TextField()
    sources = JSONField(default=list)
    model = CharField(default="")
    path = CharField(default="")  # extract, model or cloud: a cached reply keeps how it was made
    rejected = TextField(null=True)
    hits = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "key", "kb_version"), True),)


class PlatformSecret(BaseModel):
    """Platform-wide secrets (the platform cloud API key), vault-encrypted."""

    name = CharField(primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)


@migration(2)
def _create_knowledge_tables(db) -> None:
    db.create_tables([ChunkVector, AnswerCache, PlatformSecret])


# --- admin sessions that logout can end (schema version 3) -----------------------------------------

@migration(3)
def _add_user_session_version(db) -> None:
    # a database created at version 3 or later already has the column (migration 1 creates today's tables)
    if "session_version" not in {column.name for column in db.get_columns("user")}:
        db.execute_sql('ALTER TABLE "user" ADD COLUMN "session_version" INTEGER NOT NULL DEFAULT 0')


# --- lexical (BM25) index of the chunks, one FTS5 table per tenant (schema version 6) ----------------

class ChunkTerms:
    """The tenant's chunks as accent-folded text in an FTS5 table `fts_<tenant>` (rowid = chunk id).

    A table per tenant, not one table with a tenant column: BM25's document frequencies, the `rare word` test and
    the query time then depend on the tenant's own chunks only, and a forgotten filter cannot leak another shop's
    text. Tenant ids are checked before they become part of a table name."""

    TOKENIZE = "unicode61 remove_diacritics 2"

    @classmethod
    def table(cls, tenant_id: str) -> str:
        """The quoted table name of a tenant (a ValueError for an id that could not be one)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tenant_id or ""):
            raise ValueError(f"bad tenant id {tenant_id!r}")
        return f'"fts_{tenant_id}"'

    @classmethod
    def exists(cls, tenant_id: str) -> bool:
        """True when the tenant's table is there."""
        name = cls.table(tenant_id)[1:-1]
        return database.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                    (name,)).fetchone() is not None

    @classmethod
    def create(cls, tenant_id: str) -> None:
        """Create the tenant's table and its vocabulary view if missing."""
        table = cls.table(tenant_id)
        database.execute_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(body, tokenize = '{cls.TOKENIZE}')")
        database.execute_sql(f'CREATE VIRTUAL TABLE IF NOT EXISTS "{table[1:-1]}_vocab" USING fts5vocab({table}, row)')

    @classmethod
    def drop(cls, tenant_id: str) -> None:
        """Remove the tenant's table."""
        table = cls.table(tenant_id)
        database.execute_sql(f'DROP TABLE IF EXISTS "{table[1:-1]}_vocab"')
        database.execute_sql(f"DROP TABLE IF EXISTS {table}")

    @classmethod
    def tenants(cls) -> list[str]:
        """Tenant ids that have a table."""
        rows = database.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'fts\\_%' "
                                    "ESCAPE '\\' AND name NOT LIKE '%\\_vocab' ESCAPE '\\' AND sql LIKE '%fts5(%'")
        return [name[4:] for (name,) in rows]

    @classmethod
    def put(cls, tenant_id: str, rows: list[tuple[int, str]]) -> None:
        """Add (chunk id, folded text) rows, replacing rows with the same id."""
        if rows:
            cls.create(tenant_id)
            table = cls.table(tenant_id)
            ids = [chunk_id for chunk_id, _ in rows]
            cls.remove(tenant_id, ids)
            database.cursor().executemany(f"INSERT INTO {table}(rowid, body) VALUES (?, ?)", rows)

    @classmethod
    def remove(cls, tenant_id: str, ids: list[int]) -> None:
        """Drop these chunk ids."""
        if ids and cls.exists(tenant_id):
            table = cls.table(tenant_id)
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                database.execute_sql(f"DELETE FROM {table} WHERE rowid IN ({','.join('?' * len(part))})", part)

    @classmethod
    def ids(cls, tenant_id: str) -> set[int]:
        """Every chunk id in the tenant's table."""
        if not cls.exists(tenant_id):
            return set()
        return {row[0] for row in database.execute_sql(f"SELECT rowid FROM {cls.table(tenant_id)}")}

    @classmethod
    def doc_freqs(cls, tenant_id: str, terms: list[str]) -> dict[str, int]:
        """In how many of the tenant's chunks each (folded) term occurs, in one query (0 for a term in none)."""
        found = dict.fromkeys(terms, 0)
        if terms:
            found.update(database.execute_sql(
                f'SELECT term, doc FROM "{cls.table(tenant_id)[1:-1]}_vocab" WHERE term IN '
                f'({",".join("?" * len(terms))})', list(terms)).fetchall())
        return found

    @classmethod
    def search(cls, tenant_id: str, match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, bm25) best first for an FTS5 match expression built by appliance.assistant.lexical."""
        return [(int(rowid), float(score)) for rowid, score in database.execute_sql(
            f"SELECT rowid, bm25({cls.table(tenant_id)}) FROM {cls.table(tenant_id)} WHERE {cls.table(tenant_id)} "
            "MATCH ? ORDER BY rank LIMIT ?", (match, limit))]


@migration(6)
def _create_chunk_terms(db) -> None:
    from appliance.assistant import lexical

    for (tenant_id,) in db.execute_sql("SELECT DISTINCT tenant_id FROM chunk WHERE deleted = 0").fetchall():
        lexical.rebuild(tenant_id)


# --- answers composed from their sources (schema version 7) ----------------------------------------

_COLUMNS_7 = (("document", "fields", "TEXT"), ("chunk", "cells", "TEXT"), ("message", "path", "VARCHAR(255)"),
              ("message", "rejected", "TEXT"), ("answercache", "path", "VARCHAR(255) NOT NULL DEFAULT ''"),
              ("answercache", "rejected", "TEXT"))


@migration(7)
def _add_answer_paths(db) -> None:
    # a database created at version 7 or later already has the columns (migration 1 and 2 create today's tables)
    for table, column, kind in _COLUMNS_7:
        if column not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}')


# --- the admin event stream's memory: conversation events by tenant (schema version 9) ------------------

class ConversationEvent(BaseModel):
    """A conversation event as the admin stream sent it; its id is the SSE `id:` a reconnecting page resumes from.

    AUTOINCREMENT, so an id is never given twice even after pruning removed the newest rows' predecessors."""

    id = AutoIncrementField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    conversation = ForeignKeyField(Conversation, on_delete="CASCADE")  # erasing a conversation erases its events
    name = CharField()
    data = JSONField(default=dict)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("tenant", "id"), False),)

    @classmethod
    def after(cls, tenant_id: str, after_id: int, limit: int) -> list["ConversationEvent"]:
        """The tenant's events newer than `after_id`, oldest first, at most `limit`."""
        return list(cls.select().where((cls.tenant == tenant_id) & (cls.id > after_id)).order_by(cls.id).limit(limit))

    @classmethod
    def latest_id(cls, tenant_id: str) -> int:
        """The id of the tenant's newest event (0: none kept)."""
        return cls.select(fn.MAX(cls.id)).where(cls.tenant == tenant_id).scalar() or 0

    @classmethod
    def bounds(cls) -> tuple[int, int]:
        """(oldest id kept, last id ever given) over all tenants; (0, 0) before the first event."""
        oldest = cls.select(fn.MIN(cls.id)).scalar()
        row = database.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (cls._meta.table_name,)).fetchone()
        last = row[0] if row else 0
        return (oldest or last + 1, last) if last else (0, 0)

    @classmethod
    def prune(cls, before, keep_rows: int) -> int:
        """Forget events older than `before` and all but the newest `keep_rows`; how many went."""
        gone = cls.delete().where(cls.created_at < before).execute()
        newest = cls.select(cls.id).order_by(cls.id.desc()).offset(keep_rows).limit(1).scalar()
        if newest is not None:
            gone += cls.delete().where(cls.id <= newest).execute()
        return gone


@migration(9)
def _create_conversation_events(db) -> None:
    db.create_tables([ConversationEvent])


# --- the admin pages' language per user, the first-run wizard's step per tenant (schema version 11) ---------

@migration(11)
def _add_language_and_setup_step(db) -> None:
    # a database created at version 11 or later already has the columns (migration 1 creates today's tables)
    if "language" not in {column.name for column in db.get_columns("user")}:
        db.execute_sql('ALTER TABLE "user" ADD COLUMN "language" VARCHAR(8) NOT NULL DEFAULT \'\'')
    if "setup_step" not in {column.name for column in db.get_columns("tenant")}:
        db.execute_sql('ALTER TABLE "tenant" ADD COLUMN "setup_step" VARCHAR(16) NOT NULL DEFAULT \'\'')
        # shops already answering on a platform or from documents were set up before the wizard existed
        db.execute_sql("UPDATE tenant SET setup_step = 'done' WHERE id IN (SELECT tenant_id FROM document) "
                       "OR id IN (SELECT tenant_id FROM channel WHERE kind != 'web' AND deleted = 0)")


# --- the vectors of each chunk's sentences, so answers do not embed them again (schema version 12) -----

class ChunkSentences(BaseModel):
    """The embeddings of the sentences (and Q/A pairs) of a prose chunk that answers compare with a question.

    `keys` are 8-byte hashes of the texts (appliance.assistant.vectors.key), `vectors` their float16 rows in the
    same order: one row per chunk, read in one query for all the hits of an answer. Table rows have none."""

    chunk = ForeignKeyField(Chunk, primary_key=True, on_delete="CASCADE")
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=True)
    keys = BlobField()
    vectors = BlobField()

    @classmethod
    def of(cls, tenant_id: str, chunk_ids: list[int]) -> dict[int, tuple[bytes, bytes] | None]:
        """{chunk id: (keys, vectors), or None when not stored yet} of the tenant's live prose chunks among these
        ids, in one query (table rows are compared with a question as a whole: they have none)."""
        if not chunk_ids:
            return {}
        rows = (Chunk.select(Chunk.id, cls.keys, cls.vectors)
                .join(cls, on=(cls.chunk == Chunk.id), join_type=JOIN.LEFT_OUTER)
                .where(Chunk.id.in_(chunk_ids) & (Chunk.tenant == tenant_id) & (Chunk.deleted == False)  # noqa: E712
                       & Chunk.cells.is_null()))
        return {chunk_id: None if keys is None else (bytes(keys), bytes(vectors))
                for chunk_id, keys, vectors in rows.tuples()}

    @classmethod
    def put(cls, tenant_id: str, rows: list[tuple[int, bytes, bytes]]) -> int:
        """Store (chunk id, keys, vectors) of the tenant's live chunks, replacing older rows; how many were stored."""
        ids = [row[0] for row in rows]
        live = {c for (c,) in Chunk.select(Chunk.id).where(Chunk.id.in_(ids) & (Chunk.tenant == tenant_id)
                                                            & (Chunk.deleted == False)).tuples()}  # noqa: E712
        stored = [{"chunk": chunk_id, "tenant": tenant_id, "keys": keys, "vectors": vectors}
                  for chunk_id, keys, vectors in rows if chunk_id in live]
        if stored:
            cls.insert_many(stored).on_conflict_replace().execute()
        return len(stored)


@migration(12)
def _create_chunk_sentences(db) -> None:
    # every chunk gets its row from the first answer that uses it (vectors.Memo.load)
    db.create_tables([ChunkSentences])


# --- automation: rules, flows and their runs, A/B assignments, outgoing webhook calls (schema version 13) ------
# Shapes of match/conditions/actions/definition: appliance/automation/__init__.py.

class Packed:
    """Rules and flows a starter pack installed carry its marker in `pack` ("<pack>:<key>")."""

    @classmethod
    def of_pack(cls, tenant_id: str, pack: str) -> dict[str, str]:
        """{"<pack>:<key>": row id} of the tenant's rows that this starter pack installed."""
        rows = cls.select(cls.pack, cls.id).where((cls.tenant == tenant_id) & cls.pack.startswith(pack + ":"))
        return dict(rows.tuples())

    @classmethod
    def mark_pack(cls, row_id: str, marker: str) -> None:
        """Record that a starter pack installed this row."""
        cls.update(pack=marker).where(cls.id == row_id).execute()


class Rule(Packed, BaseModel):
    """A tenant's automation rule: a match, conditions and actions; the first matching rule by priority wins."""

    id = CharField(primary_key=True, default=lambda: new_id("rul"))
    tenant = ForeignKeyField(Tenant, backref="rules", on_delete="CASCADE")
    name = CharField()
    enabled = BooleanField(default=True)
    priority = IntegerField(default=100)  # lower first; ties by creation
    match = JSONField()
    conditions = JSONField(default=list)
    actions = JSONField(default=list)
    proceed = BooleanField(default=False)  # the API's "continue": later rules run after this one too
    matches = IntegerField(default=0)
    last_matched_at = DateTimeField(null=True)
    disabled_reason = TextField(null=True)  # set when the appliance disabled it (a regex over its time budget)
    pack = CharField(null=True)  # "<pack>:<key>" when a starter pack installed it: installing again skips it
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "priority"), False), (("tenant", "pack"), True))

    @classmethod
    def of_tenant(cls, tenant_id: str, enabled_only: bool = False) -> list["Rule"]:
        """The tenant's rules in the order they run: priority, then creation."""
        query = cls.select().where(cls.tenant == tenant_id)
        if enabled_only:
            query = query.where(cls.enabled == True)  # noqa: E712
        return list(query.order_by(cls.priority, cls.created_at, cls.id))

    @classmethod
    def page_of(cls, tenant_id: str, page: int, size: int) -> list["Rule"]:
        """One page (from 1) of the tenant's rules in the order they run (the admin page's table)."""
        return list(cls.select().where(cls.tenant == tenant_id).order_by(cls.priority, cls.created_at, cls.id)
                    .paginate(page, size))

    @classmethod
    def names(cls, tenant_id: str, rule_ids: list[str]) -> dict[str, str]:
        """The names of these rules of the tenant, by id (others' ids are left out)."""
        query = cls.select(cls.id, cls.name).where((cls.tenant == tenant_id) & cls.id.in_(rule_ids))
        return dict(query.tuples())

    @classmethod
    def count_of(cls, tenant_id: str) -> int:
        """How many rules the tenant has."""
        return cls.select().where(cls.tenant == tenant_id).count()

    @classmethod
    def stamp(cls, tenant_id: str) -> tuple:
        """(how many, the latest change) of the tenant's rules: it differs after any create, change or delete."""
        return tuple(cls.select(fn.COUNT(cls.id), fn.MAX(cls.updated_at)).where(cls.tenant == tenant_id).tuples()
                     .get())

    @classmethod
    def record_matches(cls, rule_ids: list[str]) -> None:
        """Count one match for each of these rules and stamp the time, in one UPDATE."""
        cls.update(matches=cls.matches + 1, last_matched_at=utcnow()).where(cls.id.in_(rule_ids)).execute()

    @classmethod
    def disable(cls, rule_id: str, reason: str) -> None:
        """Switch a rule off with the appliance's reason (shown to the shop owner)."""
        cls.update(enabled=False, disabled_reason=reason, updated_at=utcnow()).where(cls.id == rule_id).execute()

    @classmethod
    def set_priorities(cls, priorities: dict[str, int]) -> None:
        """Give these rules these priorities, in one transaction."""
        now = utcnow()
        with database.atomic():
            for rule_id, priority in priorities.items():
                cls.update(priority=priority, updated_at=now).where(cls.id == rule_id).execute()


class Flow(Packed, BaseModel):
    """A named flow; its steps live in versions (editing makes a new one; running customers finish on theirs)."""

    id = CharField(primary_key=True, default=lambda: new_id("flw"))
    tenant = ForeignKeyField(Tenant, backref="flows", on_delete="CASCADE")
    name = CharField()
    active = BooleanField(default=False)
    version = IntegerField(default=1)  # the current version: new runs start on it
    pack = CharField(null=True)  # "<pack>:<key>" when a starter pack installed it: installing again skips it
    schedule_mark = CharField(null=True)  # the last minute ("YYYY-MM-DDTHH:MM") its schedule trigger started runs
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tenant", "pack"), True),)

    @classmethod
    def of_tenant(cls, tenant_id: str) -> list["Flow"]:
        """The tenant's flows, oldest first."""
        return list(cls.select().where(cls.tenant == tenant_id).order_by(cls.created_at, cls.id))

    @classmethod
    def any_active(cls, tenant_id: str) -> bool:
        """Whether the tenant has an active flow."""
        return cls.select().where((cls.tenant == tenant_id) & (cls.active == True)).exists()  # noqa: E712

    @classmethod
    def current(cls, tenant_id: str | None = None, active: bool = True) -> list[tuple["Flow", dict]]:
        """(flow, its current version's definition) of the active flows (of one tenant, if given): one query."""
        query = (cls.select(cls, FlowVersion.definition)
                 .join(FlowVersion, on=((FlowVersion.flow == cls.id) & (FlowVersion.version == cls.version)))
                 .where(cls.active == active).order_by(cls.created_at, cls.id))
        if tenant_id is not None:
            query = query.where(cls.tenant == tenant_id)
        return [(flow, flow.flowversion.definition) for flow in query]

    @classmethod
    def mark_schedule(cls, flow_id: str, before: str | None, now: str) -> bool:
        """Record that the schedule ran at minute `now`, unless another worker did first; whether this call did."""
        mark = cls.schedule_mark.is_null() if before is None else (cls.schedule_mark == before)
        return cls.update(schedule_mark=now).where((cls.id == flow_id) & mark).execute() == 1


class FlowVersion(BaseModel):
    flow = ForeignKeyField(Flow, backref="versions", on_delete="CASCADE")
    version = IntegerField()
    definition = JSONField()  # {"triggers", "start", "steps", "timeout_minutes"?}
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("flow", "version"), True),)

    @classmethod
    def definition_of(cls, flow_id: str, version: int) -> dict | None:
        """The steps of one version of a flow, or None."""
        row = cls.get_or_none((cls.flow == flow_id) & (cls.version == version))
        return None if row is None else row.definition

    @classmethod
    def listing(cls, flow_id: str) -> list[dict]:
        """The versions of a flow, newest first: number and date."""
        return [{"version": v, "created_at": at.isoformat() + "Z"} for v, at in
                cls.select(cls.version, cls.created_at).where(cls.flow == flow_id)
                .order_by(cls.version.desc()).tuples()]


class FlowRun(BaseModel):
    """One customer's place in a flow: rows, so a restart or a kill -9 continues at the same step."""

    STATUSES = ("running", "waiting", "delayed", "done", "timed_out", "stopped", "failed")
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    conversation = ForeignKeyField(Conversation, on_delete="CASCADE")
    flow = ForeignKeyField(Flow, on_delete="CASCADE")
    version = IntegerField()
    step = CharField()
    status = CharField(default="running")
    tries = IntegerField(default=0)  # failed answers to the current ask
    resume_at = DateTimeField(null=True, index=True)  # a delay's end
    started_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)  # the last step taken: time-outs count from it
    ended_at = DateTimeField(null=True)
    answer = TextField(null=True)  # the last valid answer to an ask (a condition step's "reply")
    error = TextField(null=True)  # why it failed or stopped, for the owner
    turn_message = IntegerField(null=True)  # the inbound message its last turn answered...
    turn_said = JSONField(null=True)  # ...and what that turn said: a retry after a crash says it again

    ACTIVE = ("running", "waiting", "delayed")

    class Meta:
        indexes = ((("customer", "status"), False),)

    @classmethod
    def active_of(cls, customer_id: int) -> "FlowRun | None":
        """The customer's run in progress (running, waiting for an answer, or delayed), or None."""
        return (cls.select().where((cls.customer == customer_id) & cls.status.in_(cls.ACTIVE))
                .order_by(cls.id.desc()).first())

    @classmethod
    def answered(cls, customer_id: int, message_id: int) -> "FlowRun | None":
        """The customer's run whose last turn answered this message (it is being answered again), or None."""
        return cls.get_or_none((cls.customer == customer_id) & (cls.turn_message == message_id))

    @classmethod
    def move(cls, run_id: int, from_statuses: tuple[str, ...], **changes) -> bool:
        """Change a run only if it is still in one of `from_statuses` (a worker and a sweep never both take it)."""
        changes.setdefault("updated_at", utcnow())
        return cls.update(**changes).where((cls.id == run_id) & cls.status.in_(from_statuses)).execute() == 1

    @classmethod
    def due(cls, now: datetime) -> list[int]:
        """Ids of delayed runs whose delay is over."""
        return [r for (r,) in cls.select(cls.id).where((cls.status == "delayed") & (cls.resume_at <= now)).tuples()]

    @classmethod
    def idle(cls, statuses: tuple[str, ...], before: datetime) -> list["FlowRun"]:
        """Runs in these statuses whose last step is older than `before`."""
        return list(cls.select().where(cls.status.in_(statuses) & (cls.updated_at < before)))

    @classmethod
    def counts(cls, tenant_id: str) -> dict[str, dict[str, int]]:
        """Per flow of the tenant: runs in progress ("active") and in all ("runs")."""
        out: dict[str, dict[str, int]] = {}
        for flow_id, status, n in (cls.select(cls.flow, cls.status, fn.COUNT(cls.id)).where(cls.tenant == tenant_id)
                                   .group_by(cls.flow, cls.status).tuples()):
            figures = out.setdefault(flow_id, {"active": 0, "runs": 0})
            figures["runs"] += n
            if status in cls.ACTIVE:
                figures["active"] += n
        return out


class Assignment(BaseModel):
    """A customer's variant in an A/B experiment: sticky; reached when assigned, converted when the goal is met."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    experiment = CharField()  # "rule:<id>:<experiment>" or "flow:<id>:<experiment>"
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    variant = CharField()
    goal = JSONField(null=True)
    reached_at = DateTimeField(default=utcnow)
    converted_at = DateTimeField(null=True)
    lost_at = DateTimeField(null=True)  # a no_handoff goal: the hand-off within its hours (column of version 17)

    class Meta:
        indexes = ((("experiment", "customer"), True), (("tenant", "experiment"), False))

    @classmethod
    def assign(cls, tenant_id: str, experiment: str, customer_id: int, variant: str, goal) -> "Assignment":
        """The customer's row of the experiment, stored with `variant` unless one is stored already (the first wins:
        two turns racing to the first assignment get the same row)."""
        cls.insert(tenant=tenant_id, experiment=experiment, customer=customer_id, variant=variant, goal=goal,
                   reached_at=utcnow()).on_conflict_ignore().execute()
        return cls.get((cls.experiment == experiment) & (cls.customer == customer_id))

    @classmethod
    def restart(cls, row_id: int, variant: str, goal) -> None:
        """Put an assignment on another variant, reached now (its variant was removed from the experiment)."""
        cls.update(variant=variant, goal=goal, reached_at=utcnow(), converted_at=None, lost_at=None).where(
            cls.id == row_id).execute()

    @classmethod
    def open_of(cls, customer_id: int, goal_type: str) -> list["Assignment"]:
        """The customer's assignments whose goal is of this type and not met (nor lost) yet."""
        return list(cls.select().where((cls.customer == customer_id) & cls.converted_at.is_null()
                                       & cls.lost_at.is_null() & (cls.goal["type"] == goal_type)))

    @classmethod
    def mark(cls, ids: list[int], column: str, at: datetime) -> int:
        """Set converted_at or lost_at of these rows (those not decided yet); how many changed."""
        if not ids:
            return 0
        return cls.update({getattr(cls, column): at}).where(
            cls.id.in_(ids) & cls.converted_at.is_null() & cls.lost_at.is_null()).execute()

    @classmethod
    def tallies(cls, tenant_id: str, now: datetime) -> list[tuple]:
        """Per (experiment, variant) of the tenant: (experiment, variant, reached, converted, waiting).

        A no_handoff goal is decided when its hours have passed since reaching (converted unless lost) or when it was
        lost; until then the row is `waiting` and not counted as reached, so rates compare decided customers only."""
        hours = fn.COALESCE(fn.json_extract(cls.goal, "$.hours"), 24)
        ends = fn.julianday(cls.reached_at) + hours / 24.0
        no_handoff = fn.json_extract(cls.goal, "$.type") == "no_handoff"
        over = fn.julianday(now) >= ends
        waiting = no_handoff & cls.lost_at.is_null() & ~over
        converted = Case(None, [(no_handoff, cls.lost_at.is_null() & over)], cls.converted_at.is_null(False))
        return list(cls.select(cls.experiment, cls.variant, fn.SUM(Case(None, [(waiting, 0)], 1)),
                               fn.SUM(Case(None, [(converted, 1)], 0)), fn.SUM(Case(None, [(waiting, 1)], 0)))
                    .where(cls.tenant == tenant_id).group_by(cls.experiment, cls.variant)
                    .order_by(cls.experiment, cls.variant).tuples())


class HookCall(BaseModel):
    """An outgoing webhook call: rows are the ledger (huey only rings), so a restart still sends it."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    url = TextField()
    secret = TextField(null=True)  # vault-sealed signing secret
    body = TextField()  # the exact JSON bytes signed and sent
    status = CharField(default="pending")  # pending | sent | failed
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def claim(cls, call_id: int) -> "HookCall | None":
        """pending and due -> sending in one conditional UPDATE (two tasks never send one call); the row, or None."""
        now = utcnow()
        due = cls.next_attempt_at <= now + timedelta(milliseconds=50)  # a timer may ring a hair early
        claimed = cls.update(status="sending", attempts=cls.attempts + 1).where(
            (cls.id == call_id) & (cls.status == "pending") & due).execute()
        return cls.get_by_id(call_id) if claimed else None

    @classmethod
    def settle(cls, call_id: int, **values) -> None:
        """Record how a claimed call's attempt ended (sent, failed, or pending again with its next time)."""
        cls.update(**values).where((cls.id == call_id) & (cls.status == "sending")).execute()

    @classmethod
    def pending_due(cls, before: datetime) -> list[tuple[int, datetime]]:
        """(id, next_attempt_at) of pending calls due before `before`, oldest first."""
        return list(cls.select(cls.id, cls.next_attempt_at)
                    .where((cls.status == "pending") & (cls.next_attempt_at <= before)).order_by(cls.id).tuples())


@migration(13)
def _create_automation_tables(db) -> None:
    db.create_tables([Rule, Flow, FlowVersion, FlowRun, Assignment, HookCall])


# --- flows: a run's last answer, error and turn, a schedule's last minute (schema version 16) -----------------

_COLUMNS_16 = (("flowrun", "answer", "TEXT"), ("flowrun", "error", "TEXT"), ("flowrun", "turn_message", "INTEGER"),
               ("flowrun", "turn_said", "TEXT"), ("flow", "schedule_mark", "VARCHAR(255)"))


@migration(16)
def _add_flow_run_answers(db) -> None:
    # a database created at version 16 or later already has the columns (migration 13 creates today's tables)
    for table, column, kind in _COLUMNS_16:
        if column not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}')


# --- A/B goals: a no_handoff goal lost to a hand-off within its hours (schema version 17) -------------------

@migration(17)
def _add_assignment_lost_at(db) -> None:
    # a database created at version 17 or later already has the column (migration 13 creates today's tables)
    if "lost_at" not in {column.name for column in db.get_columns("assignment")}:
        db.execute_sql('ALTER TABLE "assignment" ADD COLUMN "lost_at" DATETIME')


# --- starter packs: what a pack installed, so installing it again adds only what is missing (schema version 18) ---

@migration(18)
def _add_pack_markers(db) -> None:
    # a database created at version 18 or later already has them (migration 13 creates today's tables); NULLs are
    # distinct in a unique index, so rules and flows made by hand never collide
    for table in ("rule", "flow"):
        if "pack" not in {column.name for column in db.get_columns(table)}:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "pack" VARCHAR(255)')
        db.execute_sql(f'CREATE UNIQUE INDEX IF NOT EXISTS "{table}_tenant_id_pack" ON "{table}" ("tenant_id", "pack")')
