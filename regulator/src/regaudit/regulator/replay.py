"""Replay protection: remember which bundle each audit id was accepted with.

A regulator must not be fooled into accepting two different bundles for the same audit id (for
example a re-run with better-looking data presented under an id it already accepted). The guard
keeps one SQLite table, ``audit_id -> bundle digest``, in the regulator's identity directory.
Re-verifying the *identical* bundle is allowed; a different digest under a known id raises
:class:`~regaudit.shared.errors.ReplayError`. An id is recorded only after a verification has
fully succeeded (see :func:`regaudit.regulator.verify.verify_bundle`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from regaudit.shared.errors import IdentityError, ReplayError

#: File name of the replay database inside the regulator's identity directory.
REPLAY_DB_NAME = "seen-audits.sqlite3"
#: Seconds SQLite waits for a concurrent writer before failing.
SQLITE_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_audits (
    audit_id      TEXT PRIMARY KEY,
    bundle_digest TEXT NOT NULL,
    first_seen    TEXT NOT NULL
)
"""


class ReplayGuard:
    """SQLite-backed record of accepted audits (``audit_id -> bundle digest``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._connection = sqlite3.connect(
                self.path, timeout=SQLITE_TIMEOUT_SECONDS, isolation_level=None
            )
            self._connection.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise IdentityError(
                f"cannot open replay database {self.path}: {exc}", field="identity"
            ) from exc

    @classmethod
    def for_identity(cls, identity_dir: str | Path) -> ReplayGuard:
        """The guard stored in a regulator identity directory."""
        return cls(Path(identity_dir) / REPLAY_DB_NAME)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ReplayGuard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def seen_digest(self, audit_id: str) -> str | None:
        """The bundle digest recorded for ``audit_id``, or None if it was never accepted."""
        row = self._connection.execute(
            "SELECT bundle_digest FROM seen_audits WHERE audit_id = ?", (audit_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def check(self, *, audit_id: str, bundle_digest: str) -> None:
        """Raise ReplayError if ``audit_id`` was accepted before with a different bundle."""
        seen = self.seen_digest(audit_id)
        if seen is not None and seen != bundle_digest:
            raise ReplayError(
                f"audit {audit_id} was already accepted with bundle {seen}; this bundle is "
                f"{bundle_digest}",
                field="audit_id",
            )

    def record(self, *, audit_id: str, bundle_digest: str, at: datetime | None = None) -> None:
        """Record an accepted audit atomically (re-checks, so a racing writer cannot slip in)."""
        when = (at or datetime.now(UTC)).isoformat()
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            self.check(audit_id=audit_id, bundle_digest=bundle_digest)
            connection.execute(
                "INSERT OR IGNORE INTO seen_audits (audit_id, bundle_digest, first_seen) "
                "VALUES (?, ?, ?)",
                (audit_id, bundle_digest, when),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
