"""Retention of results: ended jobs older than ``--retain`` are collected, and ``gc`` offline.

A job that succeeded or failed more than the retention period ago (``jobs.updated``: when it
ended) loses its outputs, receipt, manifest and row; a tombstone (id, the submitting client's key
id, when) stays, so GetResult and WatchJob answer ``result_expired`` rather than ``unknown_job``.
Tombstones are forgotten after :data:`TOMBSTONE_TTL_S` (or the retention period, if longer).
The daemon collects at start and every ``min(retain / 10, 1 h)`` (:class:`Collector`);
``regaudit-evaluator gc`` does the same on a store no daemon holds, and also deletes orphaned
blobs (:func:`find_orphans`): files under ``jobs/``, ``keys/`` and ``tmp/`` that no row
references, older than :data:`ORPHAN_MIN_AGE_S`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from regaudit.evaluator.logs import log_event
from regaudit.evaluator.store import JobRecord, Store
from regaudit.shared.errors import InputError, ResultExpiredError, UnknownJobError
from regaudit.shared.protocol import JobState

if TYPE_CHECKING:
    from regaudit.evaluator.jobs import JobManager

log = logging.getLogger("regaudit.evaluator.collection")

_DAY_S = 86400.0
#: ``serve --retain`` / ``gc --retain`` default: 30 days.
DEFAULT_RETAIN = "30d"
DEFAULT_RETAIN_S = 30 * _DAY_S
#: The longest collection interval (s): the daemon collects every min(retain / 10, this).
MAX_COLLECT_INTERVAL_S = 3600.0
#: The shortest collection interval (s), whatever the retention period.
MIN_COLLECT_INTERVAL_S = 1.0
#: The longest accepted retention period (s): ten years.
MAX_RETAIN_S = 3650 * _DAY_S
#: How long a tombstone of a collected job is kept (s), unless the retention period is longer.
TOMBSTONE_TTL_S = 365 * _DAY_S
#: Files no row references are deleted by ``gc`` only once this old (s): a daemon's write in
#: flight, or a key upload about to be used, is younger.
ORPHAN_MIN_AGE_S = 3600.0

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": _DAY_S}
_DURATION = re.compile(r"([0-9]+)([smhd])")


#: How often a running daemon looks for interrupted uploads past their resumption window
#: (seconds; their inputs are then deleted).
STALE_UPLOAD_CHECK_S = 60.0


def parse_duration(text: str, *, option: str = "--retain") -> float:
    """``30m``, ``12h``, ``7d``, ``45s`` -> seconds (> 0, at most ten years); InputError else."""
    match = _DURATION.fullmatch(text.strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    if not match or seconds <= 0 or seconds > MAX_RETAIN_S:
        raise InputError(
            f"{option} must be a positive number with a unit s, m, h or d (at most 3650d), "
            f"got {text!r}",
            field=option.lstrip("-"),
        )
    return seconds


def collect_interval(retain_s: float) -> float:
    """How often the daemon collects: ``min(retain / 10, 1 h)``, at least 1 s."""
    return max(MIN_COLLECT_INTERVAL_S, min(retain_s / 10, MAX_COLLECT_INTERVAL_S))


@dataclass
class Collected:
    """What a collection deleted (or, with ``dry_run``, would delete)."""

    dry_run: bool = False
    jobs: list[str] = field(default_factory=list)
    job_bytes: int = 0
    tombstones: int = 0
    orphans: list[str] = field(default_factory=list)
    orphan_bytes: int = 0

    @property
    def bytes(self) -> int:
        return self.job_bytes + self.orphan_bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "jobs_expired": len(self.jobs),
            "job_bytes": self.job_bytes,
            "tombstones_dropped": self.tombstones,
            "orphans": len(self.orphans),
            "orphan_bytes": self.orphan_bytes,
            "bytes": self.bytes,
            "job_ids": self.jobs,
            "orphan_paths": self.orphans,
        }


def tree_bytes(path: Path) -> int:
    """The bytes of the files under ``path`` (or of the file ``path``); 0 if it is gone."""
    if path.is_file():
        with contextlib.suppress(OSError):
            return path.lstat().st_size
        return 0
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(directory) / name).lstat().st_size
    return total


def client_key_id(record: JobRecord) -> str:
    """The submitting client's key id (the store scopes idempotency keys ``KEY_ID/KEY``)."""
    return record.idempotency_key.partition("/")[0]


def collect_expired(
    store: Store,
    retain_s: float,
    *,
    now: float | None = None,
    dry_run: bool = False,
    guard: Callable[[str], contextlib.AbstractContextManager[bool]] | None = None,
) -> Collected:
    """Collect the jobs that ended more than ``retain_s`` ago and forget old tombstones.
    ``guard(job_id)``: entered around each job's deletion, yields whether it may go (the daemon
    holds its job table's lock and skips a job whose tasks still drain)."""
    now = time.time() if now is None else now
    done = Collected(dry_run=dry_run)
    for record in store.ended_before(now - retain_s):
        with guard(record.id) if guard is not None else contextlib.nullcontext(True) as allowed:
            if not allowed:
                continue
            size = tree_bytes(store.job_dir(record.id))
            if not dry_run:
                store.expire_job(record.id, client_key_id=client_key_id(record), now=now)
            done.jobs.append(record.id)
            done.job_bytes += size
    done.tombstones = store.drop_tombstones(now - max(TOMBSTONE_TTL_S, retain_s), dry_run=dry_run)
    if not dry_run and (done.jobs or done.tombstones):
        store.checkpoint()  # the WAL would otherwise grow with every job until SQLite's own
    return done


def find_orphans(store: Store, *, now: float | None = None) -> Iterator[Path]:
    """Blob files and folders no row references, untouched for :data:`ORPHAN_MIN_AGE_S`: job
    folders without a job row; inputs, partials and unlisted outputs of ended jobs; temporaries
    (``tmp/``, ``.tmp-*``); evaluation keys that no job that has not ended uses (or without
    ``meta.json``)."""
    now = time.time() if now is None else now

    def old(path: Path) -> bool:
        newest = 0.0
        for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
            with contextlib.suppress(OSError):
                newest = max(newest, item.lstat().st_mtime)
        return now - newest >= ORPHAN_MIN_AGE_S

    rows = store.job_ids()
    ended = (JobState.SUCCEEDED, JobState.FAILED)
    for directory in sorted((store.root / "jobs").iterdir()):
        if directory.name not in rows:
            if old(directory):
                yield directory
            continue
        record = store.get_job(directory.name)
        if record is None or record.state not in ended:
            continue
        kept = set()
        if record.state is JobState.SUCCEEDED:
            kept = {store.output_path(record.id, i).name for i in range(record.output_count)}
            kept.add(store.canary_output_path(record.id).name)
        candidates = [directory / "inputs", store.partials_dir(record.id)]
        outputs = directory / "outputs"
        if outputs.is_dir():
            candidates += [p for p in sorted(outputs.iterdir()) if p.name not in kept]
        candidates += sorted(p for p in directory.iterdir() if p.name.startswith(".tmp-"))
        yield from (p for p in candidates if p.exists() and old(p))
    for item in sorted((store.root / "tmp").iterdir()):
        if old(item):
            yield item
    for directory in sorted((store.root / "keys").iterdir()):
        meta = directory / "meta.json"
        unused = not meta.exists() or not _keys_in_use(store, meta)
        if unused and old(directory):
            yield directory


def _keys_in_use(store: Store, meta: Path) -> bool:
    try:
        digest = str(json.loads(meta.read_text())["digest"])
    except (OSError, ValueError, KeyError):
        return False
    return bool(store.jobs_using_keys(digest))


def collect_offline(store: Store, retain_s: float, *, dry_run: bool = False) -> Collected:
    """``gc``: :func:`collect_expired`, then every orphan (:func:`find_orphans`)."""
    done = collect_expired(store, retain_s, dry_run=dry_run)
    for path in list(find_orphans(store)):
        done.orphans.append(str(path.relative_to(store.root)))
        done.orphan_bytes += tree_bytes(path)
        if not dry_run:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return done


def missing_job_error(store: Store, job_id: str, *, owner: str | None = None) -> UnknownJobError:
    """What to answer for a job id the store has no row for: ``result_expired`` if retention
    collected it (its tombstone; with ``owner``, only if that client key submitted it), else
    ``unknown_job``."""
    expired = store.expired_job(job_id) if job_id else None
    if expired is not None and owner in (None, expired.client_key_id):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expired.expired))
        return ResultExpiredError(
            f"job {job_id} expired: its result was deleted at {when} (retention)", field="job_id"
        )
    return UnknownJobError(f"no job {job_id!r}", field="job_id")


def daemon_guard(
    manager: JobManager,
) -> Callable[[str], contextlib.AbstractContextManager[bool]]:
    """The daemon's guard for :func:`collect_expired`: the job table's lock is held while a job
    is deleted, and a job still in the table (or whose tasks still drain) is skipped."""

    @contextlib.contextmanager
    def guard(job_id: str) -> Iterator[bool]:
        with manager.table.lock:
            yield job_id not in manager.table.active and not manager.retention.draining(job_id)

    return guard


class Collector:
    """The daemon's collection: once at :meth:`start`, then every :func:`collect_interval` on
    a daemon thread until :meth:`stop`. ``guard`` as in :func:`collect_expired`."""

    def __init__(
        self,
        store: Store,
        retain_s: float,
        *,
        guard: Callable[[str], contextlib.AbstractContextManager[bool]] | None = None,
        release_stale_uploads: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.retain_s = retain_s
        self.interval = collect_interval(retain_s)
        if release_stale_uploads is not None:
            self.interval = min(self.interval, STALE_UPLOAD_CHECK_S)
        self.guard = guard
        self.release_stale_uploads = release_stale_uploads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def collect(self) -> Collected:
        """One collection; a failure is logged (the next one retries)."""
        try:
            if self.release_stale_uploads is not None:
                self.release_stale_uploads()
            done = collect_expired(self.store, self.retain_s, guard=self.guard)
        except Exception as exc:  # noqa: BLE001 - retention must never stop the daemon
            log.warning("retention: collection failed: %s", exc)
            return Collected()
        if done.jobs or done.tombstones:
            log_event(
                "jobs_expired",
                jobs=len(done.jobs),
                bytes=done.job_bytes,
                tombstones_dropped=done.tombstones,
                retain_seconds=self.retain_s,
            )
        return done

    def start(self) -> None:
        self.collect()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.collect()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=MAX_COLLECT_INTERVAL_S)


__all__ = [
    "DEFAULT_RETAIN",
    "DEFAULT_RETAIN_S",
    "MAX_COLLECT_INTERVAL_S",
    "MAX_RETAIN_S",
    "MIN_COLLECT_INTERVAL_S",
    "ORPHAN_MIN_AGE_S",
    "STALE_UPLOAD_CHECK_S",
    "TOMBSTONE_TTL_S",
    "Collected",
    "Collector",
    "collect_expired",
    "collect_interval",
    "collect_offline",
    "daemon_guard",
    "find_orphans",
    "missing_job_error",
    "parse_duration",
    "tree_bytes",
]
