"""Replay protection: every piece of evidence that identifies an audit belongs to one bundle.

A regulator must not be fooled into accepting two different bundles for the same audit (for
example a re-run with better-looking data presented under an id it already accepted, or another
client re-signing a victim's evaluation under a new audit id). The guard keeps one SQLite table
of ``(kind, value) -> bundle digest`` in the regulator's identity directory, with three kinds per
accepted bundle (see :func:`replay_keys_of`): the audit id (scoped to the signing client), the
evaluator's job (evaluator key id and job id) and the sealed CKKS key's digest. Re-verifying the
*identical* bundle is allowed; a different bundle digest under any known key raises
:class:`~regaudit.shared.errors.ReplayError`. Keys are recorded only after a verification has
fully succeeded (see :func:`regaudit.regulator.verify.verify_bundle`). (A database written by an
earlier version keeps its old ``seen_audits`` table untouched: bundles of that version carry v1
receipts, which no longer verify.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from regaudit.shared.errors import IdentityError, ReplayError

#: File name of the replay database inside the regulator's identity directory.
REPLAY_DB_NAME = "seen-audits.sqlite3"
#: Seconds SQLite waits for a concurrent writer before failing.
SQLITE_TIMEOUT_SECONDS = 10.0
#: The kinds of replay keys, in the order they are checked.
REPLAY_KINDS = ("audit_id", "evaluator_job", "sealed_key")

#: One replay key: (kind, value).
ReplayKey = tuple[str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_evidence (
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    bundle_digest TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    PRIMARY KEY (kind, value)
)
"""


def replay_keys_of(
    *,
    client_key_id: str,
    audit_id: str,
    evaluator_key_id: str,
    job_id: str,
    sealed_key_digest: str,
) -> list[ReplayKey]:
    """The replay keys of one bundle: its audit id (scoped to the client that signed it: a
    client that learns another client's audit id cannot claim it first and make the genuine
    bundle a "replay"), the evaluator's job, its sealed key."""
    return [
        ("audit_id", f"{client_key_id}/{audit_id}"),
        ("evaluator_job", f"{evaluator_key_id}/{job_id}"),
        ("sealed_key", sealed_key_digest),
    ]


class ReplayGuard:
    """SQLite-backed record of accepted evidence (``(kind, value) -> bundle digest``)."""

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

    def seen_digest(self, kind: str, value: str) -> str | None:
        """The bundle digest recorded for ``(kind, value)``, or None if never accepted."""
        row = self._connection.execute(
            "SELECT bundle_digest FROM seen_evidence WHERE kind = ? AND value = ?", (kind, value)
        ).fetchone()
        return None if row is None else str(row[0])

    def check(self, keys: Sequence[ReplayKey], *, bundle_digest: str) -> None:
        """Raise ReplayError if any of ``keys`` was accepted before with a different bundle."""
        for kind, value in keys:
            seen = self.seen_digest(kind, value)
            if seen is not None and seen != bundle_digest:
                raise ReplayError(
                    f"this {kind.replace('_', ' ')} ({value[:80]}) was already accepted with "
                    f"bundle {seen}; this bundle is {bundle_digest}",
                    field=kind,
                )

    def record(
        self, keys: Sequence[ReplayKey], *, bundle_digest: str, at: datetime | None = None
    ) -> None:
        """Record an accepted bundle's keys atomically (re-checks, so a racing writer cannot
        slip in)."""
        when = (at or datetime.now(UTC)).isoformat()
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            self.check(keys, bundle_digest=bundle_digest)
            connection.executemany(
                "INSERT OR IGNORE INTO seen_evidence (kind, value, bundle_digest, first_seen) "
                "VALUES (?, ?, ?, ?)",
                [(kind, value, bundle_digest, when) for kind, value in keys],
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


__all__ = ["REPLAY_DB_NAME", "REPLAY_KINDS", "ReplayGuard", "ReplayKey", "replay_keys_of"]
