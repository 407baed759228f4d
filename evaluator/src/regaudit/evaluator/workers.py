"""Work done in the evaluator's worker processes (spawned, one per core).

Everything here runs in a child process and talks to the parent only through small picklable
task/result dataclasses and blob files on disk: a task names the files to read and write, so
no ciphertext ever crosses the process boundary through a pipe and each worker holds at most one
batch of chunks in memory. Evaluation keys are loaded (and validated) once per process and
cached by digest.

The same circuit code also runs on Dask workers on other machines (``executors.DaskExecutor``):
there the task carries the ciphertext bytes and the result carries the partial accumulators as
bytes, because a remote worker cannot read the daemon's disk. Evaluation keys reach a Dask
worker once (``install_keys``, called through ``Client.run``) and stay in a module-level cache
keyed by digest; a task whose keys are not cached raises ``KeysNotCachedError`` so the daemon
can ship them and retry, never per task.

This module must stay keyless: it imports only evaluator-safe shared modules, and every entry
point first calls :func:`~regaudit.shared.custody.assert_no_secret_key_code` (a worker with
secret-key code loaded refuses the task with reason ``custody_violation``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regaudit.shared.algebra import OpCounts
from regaudit.shared.circuits.base import accumulate, canary_circuit, combine
from regaudit.shared.custody import assert_no_secret_key_code
from regaudit.shared.errors import EXIT_USAGE, DiskFullError, RegauditError, is_disk_full
from regaudit.shared.files import write_file_atomic
from regaudit.shared.processes import die_with_parent

#: Evaluation keys kept per worker process (each set can be tens of MB).
KEY_CACHE_SIZE = 2
#: Shipped (serialized) evaluation key sets kept per Dask worker.
SHIPPED_KEY_CACHE_SIZE = 4
#: Reason of the error a Dask task raises when its evaluation keys are not on its worker.
REASON_KEYS_NOT_CACHED = "evaluation_keys_not_cached"

_KEY_CACHE: dict[str, Any] = {}
#: digest -> serialized EvaluationKeys shipped to this (Dask) worker process
_SHIPPED_KEYS: dict[str, Any] = {}
#: digest -> how many times keys with that digest were shipped to this process
_SHIP_COUNTS: dict[str, int] = {}


class KeysNotCachedError(RegauditError):
    """A Dask task found that its evaluation keys were never shipped to (or were evicted from)
    its worker; the daemon ships them and retries."""

    reason = REASON_KEYS_NOT_CACHED
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


@dataclass(frozen=True)
class KeyFiles:
    digest: str
    profile_name: str
    galois_steps: tuple[int, ...]
    relin_path: str
    galois_path: str


@dataclass(frozen=True)
class BatchTask:
    """Evaluate chunks ``first_chunk .. first_chunk + n - 1`` of one job into accumulators."""

    job_id: str
    batch: int
    keys: KeyFiles
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: dict[str, Any]
    columns: tuple[str, ...]
    input_level: int
    max_level: int
    #: input file per chunk, columns in plan order
    chunk_files: tuple[tuple[str, ...], ...]
    partial_dir: str


@dataclass(frozen=True)
class BatchResult:
    job_id: str
    batch: int
    n_chunks: int
    partial_files: tuple[str, ...]
    partial_levels: tuple[int, ...]
    counts: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class FinalizeTask:
    """Combine every batch's partials, finalize the circuit and evaluate the canary."""

    job_id: str
    keys: KeyFiles
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: dict[str, Any]
    rows: int
    input_level: int
    max_level: int
    canary_file: str
    #: per batch: (files, levels)
    partials: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]
    outputs_dir: str


@dataclass(frozen=True)
class FinalizeResult:
    job_id: str
    output_files: tuple[str, ...]
    canary_output_file: str
    counts: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class KeyPayload:
    """Serialized evaluation keys shipped once to a remote (Dask) worker."""

    digest: str
    profile_name: str
    galois_steps: tuple[int, ...]
    relin_keys: bytes
    galois_keys: bytes


@dataclass(frozen=True)
class BatchBytesTask:
    """Like :class:`BatchTask`, but self-contained: ciphertext bytes instead of file names and
    the key digest instead of key files (for workers that cannot read the daemon's disk)."""

    job_id: str
    batch: int
    keys_digest: str
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: dict[str, Any]
    columns: tuple[str, ...]
    input_level: int
    max_level: int
    #: per chunk, one ciphertext per column in plan order
    chunks: tuple[tuple[bytes, ...], ...]


@dataclass(frozen=True)
class BatchBytesResult:
    job_id: str
    batch: int
    n_chunks: int
    partials: tuple[bytes, ...]
    partial_levels: tuple[int, ...]
    counts: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class FinalizeBytesTask:
    """Like :class:`FinalizeTask`, with partial accumulators and the canary as bytes."""

    job_id: str
    keys_digest: str
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: dict[str, Any]
    rows: int
    input_level: int
    max_level: int
    canary: bytes
    #: per batch, in batch order: (ciphertexts, levels)
    partials: tuple[tuple[tuple[bytes, ...], tuple[int, ...]], ...]


@dataclass(frozen=True)
class FinalizeBytesResult:
    job_id: str
    outputs: tuple[bytes, ...]
    canary_output: bytes
    counts: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class CombineBytesTask:
    """Add up a group of batches' partial accumulators (a step of a tree reduction)."""

    job_id: str
    keys_digest: str
    profile_name: str
    max_level: int
    #: per batch, in batch order: (ciphertexts, levels)
    partials: tuple[tuple[tuple[bytes, ...], tuple[int, ...]], ...]


@dataclass(frozen=True)
class CombineBytesResult:
    job_id: str
    partials: tuple[bytes, ...]
    partial_levels: tuple[int, ...]
    counts: dict[str, Any]


class WorkerFailure(Exception):
    """A picklable error from a worker: the regaudit reason and message survive the trip."""

    def __init__(self, reason: str, message: str, error_class: str) -> None:
        super().__init__(reason, message, error_class)
        self.reason = reason
        self.message = message
        self.error_class = error_class

    def __str__(self) -> str:
        return f"{self.error_class}({self.reason}): {self.message}"


def initialize_worker(parent_pid: int) -> None:
    """Pool initializer: the worker dies with the daemon (``parent_pid``), never an orphan."""
    die_with_parent(parent_pid)


def warm_up() -> int:
    """Import the heavy modules (SEAL) so the first real task does not pay for it."""
    assert_no_secret_key_code()
    from regaudit.shared import ckks  # noqa: F401
    from regaudit.shared.circuits import registry  # noqa: F401

    return os.getpid()


def software_identity() -> dict[str, Any]:
    """What this process would compute with: regaudit versions, every registered circuit
    (id@version) and every parameter profile's hash. A remote worker must report exactly the
    daemon's own (imports SEAL and the circuits as a side effect, like :func:`warm_up`)."""
    assert_no_secret_key_code()
    import regaudit.evaluator
    import regaudit.shared
    from regaudit.shared import ckks  # noqa: F401
    from regaudit.shared.circuits.registry import CIRCUITS
    from regaudit.shared.profiles import PROFILES

    return {
        "regaudit-evaluator": regaudit.evaluator.__version__,
        "regaudit-shared": regaudit.shared.__version__,
        "circuits": sorted(f"{cid}@{version}" for cid, version in CIRCUITS),
        "profiles": {profile.name: profile.profile_hash for profile in PROFILES},
    }


def _remember(digest: str, loaded: Any) -> Any:
    while len(_KEY_CACHE) >= KEY_CACHE_SIZE:
        _KEY_CACHE.pop(next(iter(_KEY_CACHE)))
    _KEY_CACHE[digest] = loaded
    return loaded


def _loaded_keys(files: KeyFiles) -> Any:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    cached = _KEY_CACHE.get(files.digest)
    if cached is not None:
        return cached
    profile = get_profile(files.profile_name)
    keys = ckks.EvaluationKeys(
        profile_name=files.profile_name,
        relin_keys=Path(files.relin_path).read_bytes(),
        galois_keys=Path(files.galois_path).read_bytes(),
        galois_steps=files.galois_steps,
    )
    if keys.digest != files.digest:
        from regaudit.shared.errors import KeyMaterialError

        raise KeyMaterialError("stored evaluation keys do not match their digest")
    return _remember(files.digest, ckks.load_evaluation_keys(profile, keys, required_steps=()))


def _shipped_loaded_keys(digest: str, profile_name: str) -> Any:
    """Loaded keys for ``digest`` from this process's shipped-key cache; KeysNotCachedError if
    they were never shipped here (a new or restarted worker) or were evicted."""
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    cached = _KEY_CACHE.get(digest)
    if cached is not None:
        return cached
    keys = _SHIPPED_KEYS.get(digest)
    if keys is None:
        raise KeysNotCachedError(
            f"evaluation keys {digest} are not cached on worker {_worker_name()}",
            field="keys_digest",
        )
    if keys.profile_name != profile_name:
        from regaudit.shared.errors import KeyMaterialError

        raise KeyMaterialError(f"evaluation keys {digest} are for {keys.profile_name}")
    loaded = ckks.load_evaluation_keys(get_profile(profile_name), keys, required_steps=())
    return _remember(digest, loaded)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def install_keys(payload: KeyPayload) -> str:
    """Cache shipped evaluation keys in this worker process (run through ``Client.run``).

    Steps: 1. rebuild the EvaluationKeys and check the digest; 2. cache them (bounded, oldest
    out); 3. count the shipment (``key_ship_counts``). SEAL loading happens on first use.
    """
    assert_no_secret_key_code()
    from regaudit.shared import ckks
    from regaudit.shared.errors import KeyMaterialError

    # 1. digest
    keys = ckks.EvaluationKeys(
        profile_name=payload.profile_name,
        relin_keys=payload.relin_keys,
        galois_keys=payload.galois_keys,
        galois_steps=payload.galois_steps,
    )
    if keys.digest != payload.digest:
        raise KeyMaterialError("shipped evaluation keys do not match their digest")
    # 2. cache
    if payload.digest not in _SHIPPED_KEYS:
        while len(_SHIPPED_KEYS) >= SHIPPED_KEY_CACHE_SIZE:
            evicted = next(iter(_SHIPPED_KEYS))
            _SHIPPED_KEYS.pop(evicted)
            _KEY_CACHE.pop(evicted, None)
    _SHIPPED_KEYS[payload.digest] = keys
    # 3. count
    _SHIP_COUNTS[payload.digest] = _SHIP_COUNTS.get(payload.digest, 0) + 1
    return payload.digest


def drop_keys(digest: str) -> bool:
    """Forget the evaluation keys ``digest`` in this worker process (shipped bytes and loaded
    keys; run through ``Client.run`` when the daemon deleted them). Returns whether any were
    held."""
    held = _SHIPPED_KEYS.pop(digest, None) is not None
    return _KEY_CACHE.pop(digest, None) is not None or held


def has_keys(digest: str) -> bool:
    """Whether this worker process has the shipped keys ``digest`` cached."""
    return digest in _SHIPPED_KEYS


def key_ship_counts() -> dict[str, int]:
    """How many times each key digest was shipped to this worker process."""
    return dict(_SHIP_COUNTS)


def _wrap(exc: BaseException) -> WorkerFailure:
    if isinstance(exc, RegauditError):
        return WorkerFailure(exc.reason, str(exc), type(exc).__name__)
    if is_disk_full(exc):  # a partial or an output could not be written (its temp file is gone)
        error = DiskFullError(f"the evaluator's disk is full: {exc}")
        return WorkerFailure(error.reason, str(error), type(error).__name__)
    return WorkerFailure("evaluation_failed", f"{type(exc).__name__}: {exc}", "RegauditError")


def evaluate_batch(task: BatchTask) -> BatchResult:
    """Run the circuit over a batch of chunks; write the partial accumulators to disk."""
    try:
        assert_no_secret_key_code()
        return _evaluate_batch(task)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent typed
        raise _wrap(exc) from None


def _run_batch(
    backend: Any,
    circuit_ref: tuple[str, str],
    columns: tuple[str, ...],
    chunks: Any,
    input_level: int,
    public: dict[str, Any],
) -> list[Any]:
    from regaudit.shared.circuits.registry import get_circuit

    circuit = get_circuit(*circuit_ref)

    def loaded() -> Any:
        for datas in chunks:
            yield {
                column: backend.load(data, level=input_level)
                for column, data in zip(columns, datas, strict=True)
            }

    total = accumulate(circuit, backend, loaded(), public)
    if total is None:
        raise RegauditError("a batch without chunks")
    return list(total)


def _evaluate_batch(task: BatchTask) -> BatchResult:
    started = time.perf_counter()
    backend = _backend(task.profile_name, task.keys, task.max_level)
    total = _run_batch(
        backend,
        (task.circuit_id, task.circuit_version),
        task.columns,
        (tuple(Path(path).read_bytes() for path in files) for files in task.chunk_files),
        task.input_level,
        task.public,
    )
    files: list[str] = []
    levels: list[int] = []
    directory = Path(task.partial_dir)
    for index, vector in enumerate(total):
        path = directory / f"batch{task.batch:06d}-{index:03d}.ct"
        write_file_atomic(path, vector.to_bytes(), mode=0o600, overwrite=True, durable=False)
        files.append(str(path))
        levels.append(vector.level)
    return BatchResult(
        job_id=task.job_id,
        batch=task.batch,
        n_chunks=len(task.chunk_files),
        partial_files=tuple(files),
        partial_levels=tuple(levels),
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def _backend(profile_name: str, keys: KeyFiles, max_level: int) -> Any:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    profile = get_profile(profile_name)
    return ckks.CkksBackend(profile, _loaded_keys(keys), max_level=max_level)


def _shipped_backend(profile_name: str, digest: str, max_level: int) -> Any:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    keys = _shipped_loaded_keys(digest, profile_name)
    return ckks.CkksBackend(get_profile(profile_name), keys, max_level=max_level)


def evaluate_batch_bytes(task: BatchBytesTask) -> BatchBytesResult:
    """:func:`evaluate_batch` for remote workers: bytes in, partial accumulators as bytes out."""
    try:
        assert_no_secret_key_code()
        started = time.perf_counter()
        backend = _shipped_backend(task.profile_name, task.keys_digest, task.max_level)
        total = _run_batch(
            backend,
            (task.circuit_id, task.circuit_version),
            task.columns,
            iter(task.chunks),
            task.input_level,
            task.public,
        )
        return BatchBytesResult(
            job_id=task.job_id,
            batch=task.batch,
            n_chunks=len(task.chunks),
            partials=tuple(vector.to_bytes() for vector in total),
            partial_levels=tuple(vector.level for vector in total),
            counts=backend.counts.to_dict(),
            seconds=time.perf_counter() - started,
        )
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the daemon typed
        raise _wrap(exc) from None


def finalize_job(task: FinalizeTask) -> FinalizeResult:
    """Combine partials batch by batch (bounded memory), finalize, run the canary circuit."""
    try:
        assert_no_secret_key_code()
        return _finalize_job(task)
    except BaseException as exc:  # noqa: BLE001
        raise _wrap(exc) from None


def _fold(backend: Any, partials: Any) -> list[Any] | None:
    """Fold partial accumulators in the given order (modular additions: exact)."""
    from regaudit.shared import ckks

    total: list[Any] | None = None
    for datas, levels in partials:
        partial = [
            backend.adopt(ckks.load_ciphertext(backend.profile, data, level=level))
            for data, level in zip(datas, levels, strict=True)
        ]
        total = partial if total is None else combine(backend, total, partial)
    return total


def combine_partials_bytes(task: CombineBytesTask) -> CombineBytesResult:
    """Add up a group of partial accumulators on a remote worker (bytes in, bytes out)."""
    try:
        assert_no_secret_key_code()
        backend = _shipped_backend(task.profile_name, task.keys_digest, task.max_level)
        total = _fold(backend, iter(task.partials))
        if total is None:
            raise RegauditError("no partial accumulators to combine")
        return CombineBytesResult(
            job_id=task.job_id,
            partials=tuple(vector.to_bytes() for vector in total),
            partial_levels=tuple(vector.level for vector in total),
            counts=backend.counts.to_dict(),
        )
    except BaseException as exc:  # noqa: BLE001
        raise _wrap(exc) from None


def _run_finalize(
    backend: Any,
    circuit_ref: tuple[str, str],
    partials: Any,
    canary: bytes,
    input_level: int,
    public: dict[str, Any],
    rows: int,
) -> tuple[list[Any], Any]:
    """Fold partials in batch order, finalize the circuit, evaluate the canary."""
    from regaudit.shared.circuits.registry import get_circuit

    circuit = get_circuit(*circuit_ref)
    total = _fold(backend, partials)
    if total is None:
        raise RegauditError("no partial accumulators to finalize")
    outputs = circuit.finalize(backend, total, public, rows)
    canary_out = canary_circuit(backend, backend.load(canary, level=input_level))
    return list(outputs), canary_out


def _finalize_job(task: FinalizeTask) -> FinalizeResult:
    started = time.perf_counter()
    backend = _backend(task.profile_name, task.keys, task.max_level)
    outputs, canary_out = _run_finalize(
        backend,
        (task.circuit_id, task.circuit_version),
        (
            (tuple(Path(path).read_bytes() for path in files), levels)
            for files, levels in task.partials
        ),
        Path(task.canary_file).read_bytes(),
        task.input_level,
        task.public,
        task.rows,
    )
    out_dir = Path(task.outputs_dir)
    written: list[str] = []
    for index, vector in enumerate(outputs):
        path = out_dir / f"{index:04d}.ct"
        write_file_atomic(path, vector.to_bytes(), mode=0o600, overwrite=True, durable=False)
        written.append(str(path))
    canary_path = out_dir / "canary.ct"
    write_file_atomic(canary_path, canary_out.to_bytes(), mode=0o600, overwrite=True, durable=False)
    return FinalizeResult(
        job_id=task.job_id,
        output_files=tuple(written),
        canary_output_file=str(canary_path),
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def finalize_bytes(task: FinalizeBytesTask) -> FinalizeBytesResult:
    """:func:`finalize_job` for remote workers: partials and canary in, outputs as bytes out."""
    try:
        assert_no_secret_key_code()
        started = time.perf_counter()
        backend = _shipped_backend(task.profile_name, task.keys_digest, task.max_level)
        outputs, canary_out = _run_finalize(
            backend,
            (task.circuit_id, task.circuit_version),
            iter(task.partials),
            task.canary,
            task.input_level,
            task.public,
            task.rows,
        )
        return FinalizeBytesResult(
            job_id=task.job_id,
            outputs=tuple(vector.to_bytes() for vector in outputs),
            canary_output=canary_out.to_bytes(),
            counts=backend.counts.to_dict(),
            seconds=time.perf_counter() - started,
        )
    except BaseException as exc:  # noqa: BLE001
        raise _wrap(exc) from None


def merge_counts(items: list[dict[str, Any]]) -> OpCounts:
    """Sum worker op counts (steps unioned, max level maxed)."""
    from regaudit.shared.protocol import opcounts_from_dict

    total = OpCounts()
    for item in items:
        total.merge(opcounts_from_dict(item))
    return total


__all__ = [
    "REASON_KEYS_NOT_CACHED",
    "BatchBytesResult",
    "BatchBytesTask",
    "BatchResult",
    "BatchTask",
    "CombineBytesResult",
    "CombineBytesTask",
    "FinalizeBytesResult",
    "FinalizeBytesTask",
    "FinalizeResult",
    "FinalizeTask",
    "KeyFiles",
    "KeyPayload",
    "KeysNotCachedError",
    "WorkerFailure",
    "combine_partials_bytes",
    "drop_keys",
    "evaluate_batch",
    "evaluate_batch_bytes",
    "finalize_bytes",
    "finalize_job",
    "has_keys",
    "initialize_worker",
    "install_keys",
    "key_ship_counts",
    "merge_counts",
    "warm_up",
]
