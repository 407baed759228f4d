"""Work done in the evaluator's worker processes (spawned, one per core).

Everything here runs in a child process and talks to the parent only through small picklable
task/result dataclasses and blob files on disk: a task names the files to read and write, so
no ciphertext ever crosses the process boundary through a pipe and each worker holds at most one
batch of chunks in memory. Evaluation keys are loaded (and validated) once per process and
cached by digest.

This module must stay keyless: it imports only evaluator-safe shared modules.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regaudit.shared.algebra import OpCounts
from regaudit.shared.circuits.base import accumulate, canary_circuit, combine
from regaudit.shared.errors import RegauditError

#: Evaluation keys kept per worker process (each set can be tens of MB).
KEY_CACHE_SIZE = 2

_KEY_CACHE: dict[str, Any] = {}


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


class WorkerFailure(Exception):
    """A picklable error from a worker: the regaudit reason and message survive the trip."""

    def __init__(self, reason: str, message: str, error_class: str) -> None:
        super().__init__(reason, message, error_class)
        self.reason = reason
        self.message = message
        self.error_class = error_class

    def __str__(self) -> str:
        return f"{self.error_class}({self.reason}): {self.message}"


def warm_up() -> int:
    """Import the heavy modules (SEAL) so the first real task does not pay for it."""
    from regaudit.shared import ckks  # noqa: F401
    from regaudit.shared.circuits import registry  # noqa: F401

    return os.getpid()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
    loaded = ckks.load_evaluation_keys(profile, keys, required_steps=())
    while len(_KEY_CACHE) >= KEY_CACHE_SIZE:
        _KEY_CACHE.pop(next(iter(_KEY_CACHE)))
    _KEY_CACHE[files.digest] = loaded
    return loaded


def _backend(profile_name: str, keys: KeyFiles, max_level: int) -> Any:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    profile = get_profile(profile_name)
    return ckks.CkksBackend(profile, _loaded_keys(keys), max_level=max_level)


def _wrap(exc: BaseException) -> WorkerFailure:
    if isinstance(exc, RegauditError):
        return WorkerFailure(exc.reason, str(exc), type(exc).__name__)
    return WorkerFailure("evaluation_failed", f"{type(exc).__name__}: {exc}", "RegauditError")


def evaluate_batch(task: BatchTask) -> BatchResult:
    """Run the circuit over a batch of chunks; write the partial accumulators to disk."""
    try:
        return _evaluate_batch(task)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent typed
        raise _wrap(exc) from None


def _evaluate_batch(task: BatchTask) -> BatchResult:
    from regaudit.shared.circuits.registry import get_circuit

    started = time.perf_counter()
    circuit = get_circuit(task.circuit_id, task.circuit_version)
    backend = _backend(task.profile_name, task.keys, task.max_level)

    def chunks() -> Any:
        for files in task.chunk_files:
            yield {
                column: backend.load(Path(path).read_bytes(), level=task.input_level)
                for column, path in zip(task.columns, files, strict=True)
            }

    total = accumulate(circuit, backend, chunks(), task.public)
    if total is None:
        raise RegauditError("a batch without chunks")
    files: list[str] = []
    levels: list[int] = []
    directory = Path(task.partial_dir)
    for index, vector in enumerate(total):
        path = directory / f"batch{task.batch:06d}-{index:03d}.ct"
        _write_atomic(path, vector.to_bytes())
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


def finalize_job(task: FinalizeTask) -> FinalizeResult:
    """Combine partials batch by batch (bounded memory), finalize, run the canary circuit."""
    try:
        return _finalize_job(task)
    except BaseException as exc:  # noqa: BLE001
        raise _wrap(exc) from None


def _finalize_job(task: FinalizeTask) -> FinalizeResult:
    from regaudit.shared import ckks
    from regaudit.shared.circuits.registry import get_circuit

    started = time.perf_counter()
    circuit = get_circuit(task.circuit_id, task.circuit_version)
    backend = _backend(task.profile_name, task.keys, task.max_level)
    profile = backend.profile
    total: list[Any] | None = None
    for files, levels in task.partials:
        partial = [
            backend.adopt(ckks.load_ciphertext(profile, Path(path).read_bytes(), level=level))
            for path, level in zip(files, levels, strict=True)
        ]
        total = partial if total is None else combine(backend, total, partial)
    if total is None:
        raise RegauditError("no partial accumulators to finalize")
    outputs = circuit.finalize(backend, total, task.public, task.rows)
    canary_in = backend.load(Path(task.canary_file).read_bytes(), level=task.input_level)
    canary_out = canary_circuit(backend, canary_in)
    out_dir = Path(task.outputs_dir)
    written: list[str] = []
    for index, vector in enumerate(outputs):
        path = out_dir / f"{index:04d}.ct"
        _write_atomic(path, vector.to_bytes())
        written.append(str(path))
    canary_path = out_dir / "canary.ct"
    _write_atomic(canary_path, canary_out.to_bytes())
    return FinalizeResult(
        job_id=task.job_id,
        output_files=tuple(written),
        canary_output_file=str(canary_path),
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def merge_counts(items: list[dict[str, Any]]) -> OpCounts:
    """Sum worker op counts (steps unioned, max level maxed)."""
    from regaudit.shared.protocol import opcounts_from_dict

    total = OpCounts()
    for item in items:
        total.merge(opcounts_from_dict(item))
    return total


__all__ = [
    "BatchResult",
    "BatchTask",
    "FinalizeResult",
    "FinalizeTask",
    "KeyFiles",
    "WorkerFailure",
    "evaluate_batch",
    "finalize_job",
    "merge_counts",
    "warm_up",
]
