"""The SQLite database: one peewee handle, pragmas, and migrations by PRAGMA user_version."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from peewee import SqliteDatabase

log = logging.getLogger(__name__)

database = SqliteDatabase(None)

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 1,  # NORMAL: durable across process crashes in WAL mode
    "busy_timeout": 5000,
    "foreign_keys": 1,
}

# (version, function(database)) in order; append, never edit a released step.
MIGRATIONS: list[tuple[int, Callable[[SqliteDatabase], None]]] = []


def migration(version: int):
    """Register a schema step that brings the database to `version`."""

    def register(func):
        MIGRATIONS.append((version, func))
        MIGRATIONS.sort(key=lambda item: item[0])
        return func

    return register


def open_database(path: Path) -> SqliteDatabase:
    """Open the database file with the appliance's pragmas and bring its schema up to date."""
    from appliance import records  # noqa: F401  (registers the tables and migrations)

    path.parent.mkdir(parents=True, exist_ok=True)
    if not database.is_closed():
        database.close()
    database.init(str(path), pragmas=PRAGMAS, check_same_thread=False)
    database.connect(reuse_if_open=True)
    migrate(database)
    return database


def schema_version(db: SqliteDatabase) -> int:
    """The schema version stored in the file."""
    return db.execute_sql("PRAGMA user_version").fetchone()[0]


def migrate(db: SqliteDatabase) -> None:
    """Run every migration newer than the file's user_version, each in its own transaction."""
    current = schema_version(db)
    for version, step in MIGRATIONS:
        if version <= current:
            continue
        with db.atomic("IMMEDIATE"):
            if schema_version(db) >= version:
                continue
            log.info("migrating database to version %d", version)
            step(db)
            db.execute_sql(f"PRAGMA user_version = {int(version)}")
