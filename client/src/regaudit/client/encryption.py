"""Encryption of an audit's columns in a pool of worker processes.

SEAL calls hold the GIL, so parallel encryption needs processes. The pool uses the ``spawn``
context (never ``fork``: forking a process that has opened a gRPC channel is unsupported) and
must be created before the client opens its connection to the evaluator. Each worker receives
the profile name and the serialized CKKS secret key once, through the pool initializer (a pipe
to the child, never a file), and encrypts one chunk of one column per task with
:func:`regaudit.secretkey.ckks.encrypt_with_secret_key` (symmetric, seeded ciphertexts). SEAL
parses the key in the worker through an anonymous in-memory file (memfd), never a named one, so
a worker killed at any moment leaves no secret key behind; the public ciphertexts pass through
per-process scratch directories, which :meth:`EncryptionPool.close` (and the next process to
create one) sweeps when their worker is gone.

Ciphertexts are produced lazily, in upload order, with a bounded look-ahead: the canary first
(column :data:`CANARY_COLUMN`, chunk 0), then chunk by chunk, the columns of each chunk in plan
order. At most ``lookahead`` encryptions are in flight or waiting to be consumed, so memory does
not grow with the number of rows. (``Pool.imap`` is not used because its task-feeder thread
drains the whole input iterator at once and its results pile up when the consumer -- the upload
-- is slower than the workers.)

The SHA-256 of every ciphertext is computed in the worker and recorded in an
:class:`InputManifest`, which the client later compares with the evaluator's receipt.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from multiprocessing.process import BaseProcess
from types import TracebackType

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import CANARY_COLUMN, Plan, canary_vector, iter_chunks
from regaudit.shared.errors import InputError
from regaudit.shared.processes import die_with_parent
from regaudit.shared.profiles import ParameterProfile, get_profile

#: Encryptions in flight (submitted but not yet consumed) per worker process.
LOOKAHEAD_PER_WORKER = 2
#: Upper bound on worker processes, whatever the machine reports.
MAX_WORKERS = 64
#: How long :meth:`EncryptionPool.close` waits for terminated (``SIGTERM``) workers to exit
#: before it kills them (seconds).
CLOSE_TIMEOUT_S = 10.0
#: How long :meth:`EncryptionPool.close` then waits for killed (``SIGKILL``) workers (seconds).
KILL_TIMEOUT_S = 5.0

#: One produced ciphertext: (column name, chunk index, serialized seeded ciphertext).
EncryptedChunk = tuple[str, int, bytes]


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def sha256_digest(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ManifestEntry:
    """Digest and size of one uploaded ciphertext."""

    column: str
    chunk: int
    digest: str
    size: int

    def to_dict(self) -> dict[str, str | int]:
        return {"column": self.column, "chunk": self.chunk, "digest": self.digest}


@dataclass
class InputManifest:
    """The digests of every ciphertext the client uploaded, in upload order."""

    entries: list[ManifestEntry] = field(default_factory=list)

    def add(self, entry: ManifestEntry) -> None:
        self.entries.append(entry)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def digests(self) -> dict[tuple[str, int], str]:
        return {(e.column, e.chunk): e.digest for e in self.entries}


# --- worker side ----------------------------------------------------------------------------

_worker_profile: ParameterProfile | None = None
_worker_secret_key: bytes | None = None


def _initialize_worker(profile_name: str, secret_key: bytes, parent_pid: int | None = None) -> None:
    """Pool initializer: remember the profile and the secret key in this worker process, which
    dies with its parent (``parent_pid``, when given) rather than outlive it holding the key."""
    global _worker_profile, _worker_secret_key
    if parent_pid is not None:
        die_with_parent(parent_pid)
    _worker_profile = get_profile(profile_name)
    _worker_secret_key = secret_key


def _encrypt_task(task: tuple[str, int, FloatArray, int]) -> tuple[str, int, bytes, str]:
    """Encrypt one chunk of one column; returns it with its digest."""
    from regaudit.secretkey.ckks import encrypt_with_secret_key

    column, chunk, values, level = task
    if _worker_profile is None or _worker_secret_key is None:
        raise RuntimeError("encryption worker used before its initializer ran")
    data = encrypt_with_secret_key(_worker_profile, _worker_secret_key, values, level=level)
    return column, chunk, data, sha256_digest(data)


# --- parent side ----------------------------------------------------------------------------


def upload_order(plan: Plan) -> list[tuple[str, int]]:
    """(column, chunk) pairs in the order they are uploaded: canary, then chunk-major."""
    order = [(CANARY_COLUMN, 0)]
    for chunk in range(plan.n_chunks):
        order.extend((column, chunk) for column in plan.columns)
    return order


class EncryptionPool:
    """A pool of spawned worker processes holding one audit's secret key.

    Use as a context manager; the workers are terminated on exit. Create it before opening
    any gRPC channel.
    """

    def __init__(
        self,
        profile: ParameterProfile,
        *,
        secret_key: bytes,
        workers: int | None = None,
        lookahead: int | None = None,
    ) -> None:
        self.profile = profile
        self.workers = workers if workers is not None else default_workers()
        if self.workers < 1:
            raise ValueError("an encryption pool needs at least one worker")
        self.lookahead = lookahead if lookahead is not None else LOOKAHEAD_PER_WORKER * self.workers
        if self.lookahead < 1:
            raise ValueError("look-ahead must be at least one ciphertext")
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(
            processes=self.workers,
            initializer=_initialize_worker,
            initargs=(profile.name, secret_key, os.getpid()),
        )
        self._closed = False
        #: ciphertexts this pool has encrypted (a retry's encrypted afresh counted again)
        self.encryptions = 0

    def __enter__(self) -> EncryptionPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        """The pids of the pool's current worker processes."""
        return [p.pid for p in self._worker_processes() if p.pid is not None]

    def _worker_processes(self) -> list[BaseProcess]:
        return list(getattr(self._pool, "_pool", None) or [])

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the workers (idempotent), within about ``timeout`` + :data:`KILL_TIMEOUT_S`
        seconds whatever state they are in.

        ``Pool.terminate`` can block forever (a worker stopped, or dead while holding the task
        queue's lock, after an upload failed mid-stream), so it runs in a daemon thread: the
        workers get ``SIGTERM`` from it and up to ``timeout`` seconds to exit, then whichever
        are still alive are killed (``SIGKILL``). The pool's reference to the secret key (its
        initializer arguments) is dropped."""
        if self._closed:
            return
        self._closed = True
        pool = self._pool
        workers = self._worker_processes()
        # terminate() first stops the pool from replacing exited workers, then sends SIGTERM
        terminator = threading.Thread(
            target=pool.terminate, name="encryption-pool-close", daemon=True
        )
        terminator.start()
        terminator.join(timeout)
        # a worker the pool started meanwhile is in its list, not in the first snapshot
        workers.extend(p for p in self._worker_processes() if p not in workers)
        alive = [p for p in workers if p.is_alive()]
        for process in alive:
            process.kill()
        for process in alive:
            process.join(KILL_TIMEOUT_S)
        # a terminator still blocked in the pool's clean-up is left behind (a daemon thread)
        # the pool kept the serialized secret key to initialize replacement workers
        pool._initargs = ()  # type: ignore[attr-defined]
        # terminated workers skip their atexit clean-up: remove their scratch directories
        from regaudit.shared.ckks import sweep_stale_scratch

        sweep_stale_scratch()

    def encrypt_audit(
        self,
        plan: Plan,
        columns: Mapping[str, FloatArray] | None = None,
        *,
        canary_seed: bytes,
        manifest: InputManifest,
        on_encrypted: Callable[[ManifestEntry], None] | None = None,
        chunks: Iterable[Mapping[str, FloatArray]] | None = None,
        skip: int = 0,
    ) -> Iterator[EncryptedChunk]:
        """Encrypt the canary and every chunk at ``plan.input_level``: either of whole
        ``columns`` or, for inputs too large to hold as columns, of the zero-padded ``chunks``
        (``plan.n_chunks`` dicts of ``plan.chunk_rows`` values per column, produced lazily).

        Yields ``(column, chunk_index, ciphertext)`` lazily in :func:`upload_order`, appending
        each ciphertext's digest to ``manifest`` as it is yielded. ``skip``: leave out (do not
        encrypt) the first ``skip`` ciphertexts (a resumed upload: the evaluator holds them).
        """
        if self._closed:
            raise RuntimeError("the encryption pool is closed")
        if plan.profile != self.profile:
            raise ValueError(f"plan uses profile {plan.profile.name}, pool {self.profile.name}")
        if (columns is None) == (chunks is None):
            raise ValueError("give exactly one of columns and chunks")
        if columns is not None:
            source = iter_chunks(_check_columns(plan, columns), plan.chunk_rows)
        else:
            assert chunks is not None
            source = _checked_chunks(plan, chunks)
        tasks = _tasks(plan, source, canary_seed)
        if skip:
            tasks = itertools.islice(tasks, skip, None)
        return self._run(tasks, manifest, on_encrypted)

    def _run(
        self,
        tasks: Iterator[tuple[str, int, FloatArray, int]],
        manifest: InputManifest,
        on_encrypted: Callable[[ManifestEntry], None] | None,
    ) -> Iterator[EncryptedChunk]:
        pending: deque[AsyncResult[tuple[str, int, bytes, str]]] = deque()
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.lookahead:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                else:
                    pending.append(self._pool.apply_async(_encrypt_task, (task,)))
            if not pending:
                return
            column, chunk, data, digest = pending.popleft().get()
            self.encryptions += 1
            entry = ManifestEntry(column=column, chunk=chunk, digest=digest, size=len(data))
            manifest.add(entry)
            if on_encrypted is not None:
                on_encrypted(entry)
            yield column, chunk, data


def _check_columns(plan: Plan, columns: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """The plan's columns as contiguous float64 arrays of ``plan.rows`` finite values."""
    missing = [name for name in plan.columns if name not in columns]
    if missing:
        raise InputError(f"column {missing[0]!r} is missing", field=missing[0])
    arrays: dict[str, FloatArray] = {}
    for name in plan.columns:
        array = np.ascontiguousarray(columns[name], dtype=np.float64)
        if array.ndim != 1 or array.shape[0] != plan.rows:
            raise InputError(
                f"column has {array.shape[0] if array.ndim == 1 else array.shape} values, "
                f"the plan expects {plan.rows}",
                field=name,
            )
        if not np.all(np.isfinite(array)):
            raise InputError("column contains NaN or infinite values", field=name)
        arrays[name] = array
    return arrays


def _checked_chunks(
    plan: Plan, chunks: Iterable[Mapping[str, FloatArray]]
) -> Iterator[dict[str, FloatArray]]:
    """Each chunk holds every plan column as ``plan.chunk_rows`` finite values; exactly
    ``plan.n_chunks`` chunks."""
    count = 0
    for chunk in chunks:
        if count >= plan.n_chunks:
            raise InputError(f"more than the planned {plan.n_chunks} chunks", field="rows")
        checked: dict[str, FloatArray] = {}
        for name in plan.columns:
            if name not in chunk:
                raise InputError(f"column {name!r} is missing", field=name)
            array = np.ascontiguousarray(chunk[name], dtype=np.float64)
            if array.shape != (plan.chunk_rows,):
                raise InputError(
                    f"chunk {count} has shape {array.shape}, expected ({plan.chunk_rows},)",
                    field=name,
                )
            if not np.all(np.isfinite(array)):
                raise InputError("column contains NaN or infinite values", field=name)
            checked[name] = array
        count += 1
        yield checked
    if count != plan.n_chunks:
        raise InputError(f"{count} chunks, the plan expects {plan.n_chunks}", field="rows")


def _tasks(
    plan: Plan, chunks: Iterator[dict[str, FloatArray]], canary_seed: bytes
) -> Iterator[tuple[str, int, FloatArray, int]]:
    level = plan.input_level
    yield CANARY_COLUMN, 0, canary_vector(canary_seed, plan.profile.slot_count), level
    for index, chunk in enumerate(chunks):
        for name in plan.columns:
            yield name, index, chunk[name], level


__all__ = [
    "LOOKAHEAD_PER_WORKER",
    "EncryptedChunk",
    "EncryptionPool",
    "InputManifest",
    "ManifestEntry",
    "default_workers",
    "upload_order",
]
