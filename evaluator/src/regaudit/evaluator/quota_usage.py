"""What each client identity holds in the store, measured from the store itself.

The quota ledger (:mod:`.quotas`) counts per client key: jobs that have not ended, and the bytes
of the files it stores. Those figures are a function of the store, so they are *measured*, never
trusted from memory: at start (which makes them right after a restart or a ``kill -9``), after
every event that deletes something (a job ending, retention, collection) and every
:data:`~regaudit.evaluator.quotas.RECONCILE_INTERVAL_S` seconds.

What belongs to whom:

* a job's folder (``jobs/<id>/``: inputs while it runs, partials, outputs) belongs to the client
  key that submitted it (the prefix of its scoped idempotency key);
* a set of evaluation keys (``keys/<hex>/``) belongs to the client that uploaded it, recorded in
  the file :data:`UPLOADER_FILE` beside the keys (it goes with them: retention deletes the whole
  folder). Keys without that file (uploaded before quotas existed, or a ``kill -9`` between the
  keys landing and the file) belong to the client of a job that has not ended and uses them, or,
  if none, to nobody: they count towards the global figure only.
* anything else (the database, ``tmp/``, orphans) belongs to nobody and is not counted.

The measurement reads the job table through a read-only SQLite connection of its own (WAL: it
never waits for the daemon's writers) and walks the folders.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from regaudit.evaluator.authentication import job_owner
from regaudit.evaluator.collection import tree_bytes
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.errors import KeyMaterialError
from regaudit.shared.evidence.canonical import parse_digest
from regaudit.shared.files import write_file_atomic
from regaudit.shared.protocol import JobState

#: The file in a key folder that names the client key that uploaded the keys (64 hex).
UPLOADER_FILE = "uploaded_by"
#: Job states that count as "not ended" (the concurrent-jobs quotas).
ACTIVE_STATES: tuple[JobState, ...] = (JobState.RECEIVING, JobState.QUEUED, JobState.RUNNING)
#: The owner of what no client key can be found for (counted globally only).
NOBODY = ""
_KEY_ID_CHARS = 64

#: What a quota object is: ``("job", job_id)`` or ``("keys", digest)``.
ObjectKey: TypeAlias = tuple[str, str]
JOB = "job"
KEYS = "keys"


@dataclass(frozen=True)
class Held:
    """One object of the store as the quotas see it: its owner, its bytes on disk, and whether
    it is a job that has not ended."""

    client: str
    bytes: int
    active: bool = False


def job_key(job_id: str) -> ObjectKey:
    return (JOB, job_id)


def keys_key(digest: str) -> ObjectKey:
    return (KEYS, digest)


def keys_folder(root: Path, digest: str) -> Path:
    """The folder of the stored evaluation keys ``digest`` (``keys/<hex>``, as the store lays
    it out)."""
    return root / "keys" / parse_digest(digest, field="digest", error=KeyMaterialError)


def measure_job(root: Path, job_id: str) -> int:
    """The bytes under the job's folder now (0 if it is gone)."""
    return tree_bytes(root / "jobs" / job_id)


def measure_keys(directory: Path) -> int:
    """The bytes of one key folder now (0 if it is gone)."""
    return tree_bytes(directory)


def record_uploader(directory: Path, client: str) -> None:
    """Name ``client`` as the uploader of the keys in ``directory``, unless an uploader is named
    already (the same keys uploaded by two clients at once count for the first) or the keys are
    gone (written atomically, never creating the folder again)."""
    if not (directory / "meta.json").exists():
        return
    with contextlib.suppress(OSError):  # (FileExistsError: another upload named its client)
        write_file_atomic(
            directory / UPLOADER_FILE, client.encode(), mode=0o600, overwrite=False, durable=False
        )


def read_uploader(directory: Path) -> str | None:
    """The client key that uploaded the keys in ``directory``, or None if not recorded."""
    try:
        text = (directory / UPLOADER_FILE).read_text().strip()
    except OSError:
        return None
    if len(text) != _KEY_ID_CHARS or any(c not in "0123456789abcdef" for c in text):
        return None
    return text


def measure_store(root: Path) -> dict[ObjectKey, Held]:
    """Every job and every set of evaluation keys in the store at ``root``, with its owner,
    bytes and (jobs) whether it has not ended. A database that cannot be read yields the key
    folders only."""
    held: dict[ObjectKey, Held] = {}
    active = {state.value for state in ACTIVE_STATES}
    key_users: dict[str, str] = {}
    for job_id, scoped_key, state, header in _job_rows(root / "jobs.sqlite3"):
        client = job_owner(scoped_key)
        held[job_key(job_id)] = Held(client, measure_job(root, job_id), state in active)
        if state in active and header is not None:
            digest = _keys_digest(header)
            if digest:
                key_users.setdefault(digest, client)
    keys_root = root / "keys"
    with contextlib.suppress(OSError):
        for directory in sorted(keys_root.iterdir()):
            stored = _stored_digest(directory)
            if stored is None:
                continue  # (no meta.json: not stored keys, or being deleted)
            owner = read_uploader(directory) or key_users.get(stored, NOBODY)
            held[keys_key(stored)] = Held(owner, measure_keys(directory))
    return held


def _job_rows(database: Path) -> list[tuple[str, str, str, bytes | None]]:
    """(id, scoped idempotency key, state, header of a job that has not ended) of every job."""
    marks = ",".join("?" for _ in ACTIVE_STATES)
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5.0)) as db:
            rows = db.execute(
                # only "?" placeholders are formatted in; the states are bound parameters
                "SELECT id, idempotency_key, state,"  # noqa: S608
                f" CASE WHEN state IN ({marks}) THEN header END FROM jobs",
                tuple(state.value for state in ACTIVE_STATES),
            ).fetchall()
    except sqlite3.Error:
        return []
    return [(str(i), str(k), str(s), bytes(h) if h is not None else None) for i, k, s, h in rows]


def _keys_digest(header: bytes) -> str:
    try:
        return str(pb.JobHeader.FromString(header).evaluation_keys_digest)
    except Exception:  # noqa: BLE001 - a header that does not parse names no keys
        return ""


def _stored_digest(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / "meta.json").read_text())["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = [
    "ACTIVE_STATES",
    "JOB",
    "KEYS",
    "NOBODY",
    "UPLOADER_FILE",
    "Held",
    "ObjectKey",
    "job_key",
    "keys_folder",
    "keys_key",
    "measure_job",
    "measure_keys",
    "measure_store",
    "read_uploader",
    "record_uploader",
]
