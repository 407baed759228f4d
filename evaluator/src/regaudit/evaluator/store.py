"""The evaluator's embedded job store: SQLite (WAL) for job metadata, blob files for bytes.

One concept at about 500 lines: every write to a table and its blob file stays in this one
class, so that the crash-safety of each (file first, row last) can be read in one place.

Layout under the store root::

    jobs.sqlite3                      jobs, per-job ciphertext manifests, tombstones of
                                      collected jobs (schema: :mod:`.store_schema`)
    keys/<hex>/meta.json              evaluation keys, content-addressed by their digest
    keys/<hex>/relin.bin, galois.bin
    jobs/<job_id>/inputs/<index>.ct   received ciphertexts, index = upload order (0 = canary)
    jobs/<job_id>/partials/...        per-batch partial accumulators (scratch)
    jobs/<job_id>/outputs/<i>.ct      encrypted outputs, canary.ct

Inputs and partials of a job are deleted once it reaches a terminal state, and so are its
evaluation keys once no job that has not ended uses them (``retention``).
Outputs, receipt and row of an ended job go ``--retain`` after it ended, leaving a tombstone
(:mod:`.collection`).
One daemon at a time: the store holds its :class:`~regaudit.evaluator.store_lock.StoreLock`
(an exclusive ``flock`` on ``evaluator.lock``) from the moment it opens until :meth:`Store.close`.

Scratch that a killed process left behind (``tmp/``, half-written ``.tmp-*`` blobs, a key
directory whose ``meta.json`` never landed) is swept when the store opens.

Every write of a blob goes through a temporary file and an atomic rename, so a crash never
leaves a half-written blob under its final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from regaudit.evaluator.store_lock import StoreLock
from regaudit.evaluator.store_schema import prepare_schema
from regaudit.shared.errors import KeyMaterialError
from regaudit.shared.evidence.canonical import parse_digest
from regaudit.shared.files import write_file_atomic
from regaudit.shared.protocol import JobState

#: Reason recorded for a job whose upload stream ended or broke before the last ciphertext.
UPLOAD_INCOMPLETE = "upload_incomplete"
#: A value of a job's column (:meth:`Store.update_job`).
Column: TypeAlias = str | int | float | bytes | JobState | None


@dataclass(frozen=True)
class JobRecord:
    id: str
    idempotency_key: str
    header_digest: str
    header: bytes  # serialized regaudit.v1.JobHeader
    state: JobState
    chunks_received: int
    chunks_evaluated: int
    n_chunks: int
    error_reason: str | None
    error_message: str | None
    created: float
    updated: float
    started: float | None
    receipt: bytes | None
    output_count: int


@dataclass(frozen=True)
class ExpiredJob:
    """The tombstone of a job that retention collected."""

    id: str
    client_key_id: str
    expired: float


@dataclass(frozen=True)
class KeyRecord:
    digest: str
    profile_name: str
    galois_steps: tuple[int, ...]
    relin_size: int
    galois_size: int
    directory: Path


class Store:
    """Thread-safe access to the SQLite job table and the blob directories.

    Opening takes the store's :class:`StoreLock` first (or adopts ``lock``, already acquired
    for this root) and holds it until :meth:`close`: a store in use by another process raises
    :class:`InputError` before anything else is touched."""

    def __init__(
        self, root: str | os.PathLike[str], *, lock: StoreLock | None = None, sweep: bool = True
    ) -> None:
        self.root = Path(root)
        self.store_lock = lock if lock is not None else StoreLock.acquire(self.root)
        try:
            self._open(sweep=sweep)
        except BaseException:
            db = getattr(self, "_db", None)
            if db is not None:
                db.close()
            self.store_lock.release()
            raise

    def _open(self, *, sweep: bool) -> None:
        (self.root / "keys").mkdir(exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        self.swept: list[Path] = []
        if sweep:  # (``gc`` opens without: it reports what it deletes, and --dry-run deletes none)
            # scratch left by a previous run (an interrupted key upload) is garbage
            shutil.rmtree(self.root / "tmp", ignore_errors=True)
            self.swept = self.sweep_stale_scratch()
        (self.root / "tmp").mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        #: the schema version the store had when it was opened (0: new; migrated if older)
        self.opened_version = prepare_schema(self._db, path=str(self.root))

    def close(self) -> None:
        """Close the database and release the store lock (idempotent)."""
        with self._lock:
            self._db.close()
            self.store_lock.release()

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def sweep_stale_scratch(self) -> list[Path]:
        """Delete what a killed daemon or worker left half-done (call before serving): atomic-write
        temporaries (``.tmp-*``) under ``jobs/`` and ``keys/``, and key directories without
        ``meta.json`` (an interrupted :meth:`put_keys`). Returns the removed paths."""
        removed: list[Path] = []
        for pattern in ("jobs/*/*/.tmp-*", "jobs/*/.tmp-*", "keys/*/.tmp-*"):
            for path in self.root.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        for directory in (self.root / "keys").iterdir():
            if directory.is_dir() and not (directory / "meta.json").exists():
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        return removed

    # --- temp files ---------------------------------------------------------------------------

    def temp_dir(self) -> Path:
        """A fresh scratch directory inside the store (same filesystem as the blobs)."""
        return Path(tempfile.mkdtemp(dir=self.root / "tmp"))

    # --- evaluation keys ----------------------------------------------------------------------

    def _key_dir(self, digest: str) -> Path:
        hex_part = parse_digest(digest, field="digest", error=KeyMaterialError)
        return self.root / "keys" / hex_part

    def get_keys(self, digest: str) -> KeyRecord | None:
        directory = self._key_dir(digest)
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text())
        return KeyRecord(
            digest=meta["digest"],
            profile_name=meta["profile_name"],
            galois_steps=tuple(int(s) for s in meta["galois_steps"]),
            relin_size=int(meta["relin_size"]),
            galois_size=int(meta["galois_size"]),
            directory=directory,
        )

    def put_keys(
        self,
        *,
        digest: str,
        profile_name: str,
        galois_steps: tuple[int, ...],
        relin_path: Path,
        galois_path: Path,
    ) -> KeyRecord:
        """Move validated key files into place (meta.json last: it marks the keys present)."""
        directory = self._key_dir(digest)
        with self._lock:
            existing = self.get_keys(digest)
            if existing is not None:
                return existing
            try:
                directory.mkdir(parents=True, exist_ok=True)
                relin_size = relin_path.stat().st_size
                galois_size = galois_path.stat().st_size
                os.replace(relin_path, directory / "relin.bin")
                os.replace(galois_path, directory / "galois.bin")
                meta = {
                    "digest": digest,
                    "profile_name": profile_name,
                    "galois_steps": list(galois_steps),
                    "relin_size": relin_size,
                    "galois_size": galois_size,
                }
                write_file_atomic(
                    directory / "meta.json",
                    json.dumps(meta).encode(),
                    mode=0o600,
                    overwrite=True,
                    durable=False,
                )
            except BaseException:
                # (a full disk: no key directory without meta.json is left behind)
                shutil.rmtree(directory, ignore_errors=True)
                raise
        record = self.get_keys(digest)
        assert record is not None
        return record

    def delete_keys(self, digest: str) -> bool:
        """Delete stored evaluation keys (``meta.json`` first: from then on they are absent, and
        the same keys can be uploaded again). Returns whether anything was deleted."""
        directory = self._key_dir(digest)
        with self._lock:
            if not directory.exists():
                return False
            with contextlib.suppress(FileNotFoundError):
                (directory / "meta.json").unlink()
            shutil.rmtree(directory, ignore_errors=True)
        return True

    def key_digests(self) -> list[tuple[str, float]]:
        """(digest, time stored) of every stored set of evaluation keys."""
        found: list[tuple[str, float]] = []
        for directory in sorted((self.root / "keys").iterdir()):
            meta_path = directory / "meta.json"
            try:
                digest = json.loads(meta_path.read_text())["digest"]
                found.append((str(digest), meta_path.stat().st_mtime))
            except (OSError, ValueError, KeyError):
                continue
        return found

    def jobs_using_keys(self, digest: str, *, exclude: str | None = None) -> list[str]:
        """Ids of the jobs that have not ended (receiving, queued, running) and use the
        evaluation keys ``digest`` (``exclude``: one job id to leave out)."""
        from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

        users: list[str] = []
        for record in self.jobs_in_states((JobState.RECEIVING, JobState.QUEUED, JobState.RUNNING)):
            if record.id == exclude:
                continue
            try:
                uses = pb.JobHeader.FromString(record.header).evaluation_keys_digest
            except Exception:  # noqa: BLE001 - an unreadable header: keep the keys, to be safe
                uses = digest
            if uses == digest:
                users.append(record.id)
        return users

    # --- job blobs ----------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def input_path(self, job_id: str, index: int) -> Path:
        return self.job_dir(job_id) / "inputs" / f"{index:07d}.ct"

    def partials_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "partials"

    def output_path(self, job_id: str, index: int) -> Path:
        return self.job_dir(job_id) / "outputs" / f"{index:04d}.ct"

    def canary_output_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "outputs" / "canary.ct"

    def write_input(self, job_id: str, index: int, data: bytes) -> None:
        write_file_atomic(
            self.input_path(job_id, index), data, mode=0o600, overwrite=True, durable=False
        )

    def jobs_with_scratch(self) -> list[str]:
        """Ids of the job directories that still hold inputs or partials."""
        return sorted(
            entry.name
            for entry in (self.root / "jobs").iterdir()
            if (entry / "inputs").exists() or (entry / "partials").exists()
        )

    def discard_scratch(self, job_id: str) -> None:
        """Delete a finished job's input ciphertexts and partials (their digests stay in the
        manifest and the receipt; the outputs stay)."""
        shutil.rmtree(self.job_dir(job_id) / "inputs", ignore_errors=True)
        shutil.rmtree(self.partials_dir(job_id), ignore_errors=True)

    def scratch_remains(self, job_id: str) -> bool:
        """Whether any input ciphertext or partial of ``job_id`` is still on disk."""
        return (self.job_dir(job_id) / "inputs").exists() or self.partials_dir(job_id).exists()

    def key_files_remain(self, digest: str) -> bool:
        """Whether anything of the stored evaluation keys ``digest`` is still on disk."""
        return self._key_dir(digest).exists()

    # --- jobs ---------------------------------------------------------------------------------

    @staticmethod
    def _record(row: sqlite3.Row) -> JobRecord:
        return JobRecord(
            id=row["id"],
            idempotency_key=row["idempotency_key"],
            header_digest=row["header_digest"],
            header=bytes(row["header"]),
            state=JobState(row["state"]),
            chunks_received=row["chunks_received"],
            chunks_evaluated=row["chunks_evaluated"],
            n_chunks=row["n_chunks"],
            error_reason=row["error_reason"],
            error_message=row["error_message"],
            created=row["created"],
            updated=row["updated"],
            started=row["started"],
            receipt=bytes(row["receipt"]) if row["receipt"] is not None else None,
            output_count=row["output_count"],
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._record(row) if row else None

    def find_by_idempotency_key(self, key: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return self._record(row) if row else None

    def jobs_in_states(self, states: tuple[JobState, ...]) -> list[JobRecord]:
        marks = ",".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                # only "?" placeholders are formatted in; the states are bound parameters
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created",  # noqa: S608
                tuple(s.value for s in states),
            ).fetchall()
        return [self._record(r) for r in rows]

    def create_job(
        self, *, idempotency_key: str, header_digest: str, header: bytes, n_chunks: int
    ) -> tuple[JobRecord, bool]:
        """Insert a RECEIVING job; returns (record, created). If the idempotency key exists the
        existing record is returned with ``created=False`` (the caller compares digests)."""
        now = time.time()
        job_id = uuid.uuid4().hex
        with self._lock:
            existing = self.find_by_idempotency_key(idempotency_key)
            if existing is not None:
                return existing, False
            self._db.execute(
                "INSERT INTO jobs (id, idempotency_key, header_digest, header, state, n_chunks,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    idempotency_key,
                    header_digest,
                    header,
                    JobState.RECEIVING.value,
                    n_chunks,
                    now,
                    now,
                ),
            )
        self.job_dir(job_id).mkdir(parents=True, exist_ok=True)
        record = self.get_job(job_id)
        assert record is not None
        return record, True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back if anything fails (a failing disk must not leave the
        connection inside a transaction that every later BEGIN would trip over)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def delete_job(self, job_id: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM ciphertexts WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    # --- retention (:mod:`.collection`) ------------------------------------------------------

    def ended_before(self, cutoff: float) -> list[JobRecord]:
        """Succeeded or failed jobs last updated (ended) before ``cutoff``, oldest first."""
        ended = (JobState.SUCCEEDED.value, JobState.FAILED.value)
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state IN (?, ?) AND updated < ? ORDER BY updated",
                (*ended, cutoff),
            ).fetchall()
        return [self._record(r) for r in rows]

    def expire_job(self, job_id: str, *, client_key_id: str, now: float) -> None:
        """Replace an ended job by its tombstone (one transaction), then delete its files."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO expired_jobs (id, client_key_id, expired) VALUES (?, ?, ?)",
                (job_id, client_key_id, now),
            )
            self._db.execute("DELETE FROM ciphertexts WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def expired_job(self, job_id: str) -> ExpiredJob | None:
        """The tombstone of a collected job (None if ``job_id`` was never collected)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, client_key_id, expired FROM expired_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return ExpiredJob(row["id"], row["client_key_id"], row["expired"]) if row else None

    def drop_tombstones(self, cutoff: float, *, dry_run: bool = False) -> int:
        """Forget tombstones written before ``cutoff``; returns how many (would) go."""
        with self._lock:
            if dry_run:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM expired_jobs WHERE expired < ?", (cutoff,)
                ).fetchone()
                return int(row[0])
            return self._db.execute(
                "DELETE FROM expired_jobs WHERE expired < ?", (cutoff,)
            ).rowcount

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it (after retention deleted rows, so the
        freed pages are reused and the WAL does not grow with the number of jobs)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def job_ids(self) -> set[str]:
        """The ids of every job row."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM jobs").fetchall()}

    def record_ciphertext(
        self,
        job_id: str,
        *,
        index: int,
        column: str,
        chunk: int,
        digest: str,
        size: int,
        chunks_received: int,
    ) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO ciphertexts (job_id, idx, col, chunk, digest, size)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, index, column, chunk, digest, size),
            )
            self._db.execute(
                "UPDATE jobs SET chunks_received = ?, updated = ? WHERE id = ?",
                (chunks_received, time.time(), job_id),
            )

    def manifest(self, job_id: str) -> list[tuple[str, int, str]]:
        """(column, chunk, digest) of every received ciphertext, in upload order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT col, chunk, digest FROM ciphertexts WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [(r["col"], int(r["chunk"]), r["digest"]) for r in rows]

    def update_job(self, job_id: str, **fields: Column) -> None:
        """Set columns of one job (``state`` may be a JobState)."""
        state = fields.get("state")
        if isinstance(state, JobState):
            fields["state"] = state.value
        fields["updated"] = time.time()
        names = ", ".join(f"{name} = ?" for name in fields)
        # column names come from our own keyword arguments; every value is a bound parameter
        statement = f"UPDATE jobs SET {names} WHERE id = ?"  # noqa: S608
        with self._lock:
            self._db.execute(statement, (*fields.values(), job_id))


__all__ = ["UPLOAD_INCOMPLETE", "Column", "ExpiredJob", "JobRecord", "KeyRecord", "Store"]
