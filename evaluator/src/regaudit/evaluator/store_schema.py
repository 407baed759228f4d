"""The job store's SQLite schema, its version (``PRAGMA user_version``) and its migrations.

Version 1 is the layout before versions existed (``user_version`` 0 with a ``jobs`` table);
version 2 adds ``expired_jobs``: one tombstone row per job that retention collected (its id, the
key id of the client that submitted it, when it was collected), so that a collected job is
answered "result expired" rather than "unknown job". Opening an older store migrates it in one
transaction; a store written by newer code than this is refused
(:class:`StoreVersionUnsupportedError`) before anything in it changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from regaudit.shared.errors import EXIT_USAGE, RegauditError

#: The layout of version 1 (kept verbatim: migrations start from it, tests create it).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    header_digest TEXT NOT NULL,
    header BLOB NOT NULL,
    state TEXT NOT NULL,
    chunks_received INTEGER NOT NULL DEFAULT 0,
    chunks_evaluated INTEGER NOT NULL DEFAULT 0,
    n_chunks INTEGER NOT NULL,
    error_reason TEXT,
    error_message TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    receipt BLOB,
    output_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ciphertexts (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    col TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""

#: What version 2 adds to version 1: the tombstones of collected jobs, and an index for
#: retention's scan of ended jobs by age.
_V1_TO_V2 = """
CREATE TABLE IF NOT EXISTS expired_jobs (
    id TEXT PRIMARY KEY,
    client_key_id TEXT NOT NULL,
    expired REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state_updated ON jobs (state, updated);
"""

#: The schema version this code writes and reads.
SCHEMA_VERSION = 2
#: ``user_version`` of a store written before versions existed (its layout is version 1).
_UNVERSIONED = 0

#: version N -> the step that makes it version N + 1 (run inside the migration's transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda db: _run_script(db, _V1_TO_V2),
}


class StoreVersionUnsupportedError(RegauditError):
    """The store's schema version is newer than this evaluator knows (written by a newer
    release): it is refused, untouched, rather than misread."""

    reason = "store_version_unsupported"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # executescript would COMMIT the migration's transaction; run statement by statement
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def schema_version(db: sqlite3.Connection) -> int:
    """The store's schema version: ``user_version``, or 1 for an unversioned store that has a
    ``jobs`` table, or 0 for an empty database."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version != _UNVERSIONED:
        return version
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'")
    return 1 if row.fetchone() is not None else 0


def prepare_schema(db: sqlite3.Connection, *, path: str = "") -> int:
    """Create a new store's schema, or migrate an older one to :data:`SCHEMA_VERSION` (one
    transaction; ``db`` in autocommit mode). Returns the version found (0 for a new store).
    Raises :class:`StoreVersionUnsupportedError` for a newer store, leaving it untouched."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        where = f"store {path}" if path else "the store"
        raise StoreVersionUnsupportedError(
            f"{where} has schema version {found}; this evaluator knows versions up to "
            f"{SCHEMA_VERSION} (a newer regaudit-evaluator wrote it)"
        )
    if found == SCHEMA_VERSION:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        if found == 0:
            _run_script(db, SCHEMA_V1)
            found_now = 1
        else:
            found_now = found
        for version in range(found_now, SCHEMA_VERSION):
            MIGRATIONS[version](db)
        # PRAGMA takes no bound parameters; SCHEMA_VERSION is our own integer constant
        db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found


__all__ = [
    "MIGRATIONS",
    "SCHEMA_V1",
    "SCHEMA_VERSION",
    "StoreVersionUnsupportedError",
    "prepare_schema",
    "schema_version",
]
