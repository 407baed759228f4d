"""Work done in the evaluator's worker processes (spawned, one per core).

Everything here runs in a child process and talks to the parent only through small picklable
tasks and results (``tasks``) and blob files on disk: a task names the files to read and write,
so no ciphertext ever crosses the process boundary through a pipe and each worker holds at most
one batch of chunks in memory. Evaluation keys are loaded (and validated) once per process and
cached by digest (``worker_keys``).

The same circuit code also runs on Dask workers on other machines (``dask_executor``): there the
task carries the ciphertext bytes and the result carries the partial accumulators as bytes,
because a remote worker cannot read the daemon's disk.

This module must stay keyless: it imports only evaluator-safe shared modules, and every entry
point first calls :func:`~regaudit.shared.custody.assert_no_secret_key_code` (a worker with
secret-key code loaded refuses the task with reason ``custody_violation``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from regaudit.evaluator.chunk_partials import evaluate_chunks
from regaudit.evaluator.tasks import (
    BatchBytesResult,
    BatchBytesTask,
    BatchResult,
    BatchTask,
    CombineBytesResult,
    CombineBytesTask,
    FinalizeBytesResult,
    FinalizeBytesTask,
    FinalizeResult,
    FinalizeTask,
    KeyFiles,
    PartialBytes,
    canary_output_file,
    output_file,
    partial_file,
    write_result_files,
)
from regaudit.evaluator.worker_keys import loaded_keys, shipped_loaded_keys
from regaudit.shared.circuits.base import PublicInputs, canary_circuit, combine
from regaudit.shared.custody import assert_no_secret_key_code
from regaudit.shared.errors import DiskFullError, RegauditError, is_disk_full
from regaudit.shared.processes import die_with_parent

if TYPE_CHECKING:
    from regaudit.shared.ckks import CkksBackend, CkksVector

Task = TypeVar("Task")
Result = TypeVar("Result")

#: Reason of a worker failure that is not a regaudit error.
REASON_EVALUATION_FAILED = "evaluation_failed"


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
    """Import the heavy modules (SEAL) and every primitive's circuit so the first real task
    does not pay for it, then check custody (a plug-in importing secret-key code is caught)."""
    from regaudit.shared import ckks  # noqa: F401
    from regaudit.shared.circuits import registry

    registry.list_circuits()
    assert_no_secret_key_code()

    return os.getpid()


def software_identity() -> dict[str, object]:
    """What this process would compute with: regaudit versions, every registered circuit
    (id@version) and every parameter profile's hash. A remote worker must report exactly the
    daemon's own (imports SEAL and the circuits as a side effect, like :func:`warm_up`)."""
    import regaudit.evaluator
    import regaudit.shared
    from regaudit.shared import ckks  # noqa: F401
    from regaudit.shared.circuits.registry import CIRCUITS
    from regaudit.shared.profiles import PROFILES

    circuits = sorted(f"{cid}@{version}" for cid, version in CIRCUITS)
    assert_no_secret_key_code()

    return {
        "regaudit-evaluator": regaudit.evaluator.__version__,
        "regaudit-shared": regaudit.shared.__version__,
        "circuits": circuits,
        "profiles": {profile.name: profile.profile_hash for profile in PROFILES},
    }


def _wrap(exc: BaseException) -> WorkerFailure:
    if isinstance(exc, RegauditError):
        return WorkerFailure(exc.reason, str(exc), type(exc).__name__)
    if is_disk_full(exc):  # a partial or an output could not be written (its temp file is gone)
        error = DiskFullError(f"the evaluator's disk is full: {exc}")
        return WorkerFailure(error.reason, str(error), type(error).__name__)
    return WorkerFailure(REASON_EVALUATION_FAILED, f"{type(exc).__name__}: {exc}", "RegauditError")


def _entry_point(run: Callable[[Task], Result], task: Task) -> Result:
    """Run a worker entry point: custody first, and every failure reaches the daemon typed
    (a :class:`WorkerFailure`)."""
    try:
        assert_no_secret_key_code()
        return run(task)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the daemon typed
        raise _wrap(exc) from None


def _backend(profile_name: str, keys: KeyFiles, max_level: int) -> CkksBackend:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    profile = get_profile(profile_name)
    return ckks.CkksBackend(profile, loaded_keys(keys), max_level=max_level)


def _shipped_backend(profile_name: str, digest: str, max_level: int) -> CkksBackend:
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    keys = shipped_loaded_keys(digest, profile_name)
    return ckks.CkksBackend(get_profile(profile_name), keys, max_level=max_level)


# --- batches ----------------------------------------------------------------------------------


def _run_batch(
    backend: CkksBackend,
    circuit_ref: tuple[str, str],
    columns: tuple[str, ...],
    chunks: Iterable[tuple[int, tuple[bytes, ...]]],
    input_level: int,
    public: PublicInputs,
    *,
    commit_partials: bool,
) -> tuple[list[CkksVector], tuple[str, ...]]:
    """The batch's summed partial accumulators and, if ``commit_partials``, each chunk's
    partial digest (``chunk_partials``), from (chunk index, ciphertexts) pairs."""
    from regaudit.shared.circuits.registry import get_circuit

    circuit = get_circuit(*circuit_ref)

    def loaded() -> Iterator[tuple[int, dict[str, CkksVector]]]:
        for index, datas in chunks:
            yield (
                index,
                {
                    column: backend.load(data, level=input_level)
                    for column, data in zip(columns, datas, strict=True)
                },
            )

    return evaluate_chunks(circuit, backend, loaded(), public, with_digests=commit_partials)


def _evaluate_batch(task: BatchTask) -> BatchResult:
    started = time.perf_counter()
    backend = _backend(task.profile_name, task.keys, task.max_level)
    total, digests = _run_batch(
        backend,
        (task.circuit_id, task.circuit_version),
        task.columns,
        (
            (index, tuple(Path(path).read_bytes() for path in files))
            for index, files in zip(task.chunk_indices, task.chunk_files, strict=True)
        ),
        task.input_level,
        task.public,
        commit_partials=task.commit_partials,
    )
    directory = Path(task.partial_dir)
    files = write_result_files(
        (partial_file(directory, task.batch, index), vector.to_bytes())
        for index, vector in enumerate(total)
    )
    return BatchResult(
        job_id=task.job_id,
        batch=task.batch,
        n_chunks=len(task.chunk_files),
        partial_files=files,
        partial_levels=tuple(vector.level for vector in total),
        partial_digests=digests,
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def _evaluate_batch_bytes(task: BatchBytesTask) -> BatchBytesResult:
    started = time.perf_counter()
    backend = _shipped_backend(task.profile_name, task.keys_digest, task.max_level)
    total, digests = _run_batch(
        backend,
        (task.circuit_id, task.circuit_version),
        task.columns,
        zip(task.chunk_indices, task.chunks, strict=True),
        task.input_level,
        task.public,
        commit_partials=task.commit_partials,
    )
    return BatchBytesResult(
        job_id=task.job_id,
        batch=task.batch,
        n_chunks=len(task.chunks),
        partials=tuple(vector.to_bytes() for vector in total),
        partial_levels=tuple(vector.level for vector in total),
        partial_digests=digests,
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def evaluate_batch(task: BatchTask) -> BatchResult:
    """Run the circuit over a batch of chunks; write the partial accumulators to disk."""
    return _entry_point(_evaluate_batch, task)


def evaluate_batch_bytes(task: BatchBytesTask) -> BatchBytesResult:
    """:func:`evaluate_batch` for remote workers: bytes in, partial accumulators as bytes out."""
    return _entry_point(_evaluate_batch_bytes, task)


# --- combining and finalizing -----------------------------------------------------------------


def _fold(backend: CkksBackend, partials: Iterable[PartialBytes]) -> list[CkksVector] | None:
    """Fold partial accumulators in the given order (modular additions: exact)."""
    from regaudit.shared import ckks

    total: list[CkksVector] | None = None
    for datas, levels in partials:
        partial = [
            backend.adopt(ckks.load_ciphertext(backend.profile, data, level=level))
            for data, level in zip(datas, levels, strict=True)
        ]
        total = partial if total is None else combine(backend, total, partial)
    return total


def _combine_partials_bytes(task: CombineBytesTask) -> CombineBytesResult:
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


def combine_partials_bytes(task: CombineBytesTask) -> CombineBytesResult:
    """Add up a group of partial accumulators on a remote worker (bytes in, bytes out)."""
    return _entry_point(_combine_partials_bytes, task)


def _run_finalize(
    backend: CkksBackend,
    circuit_ref: tuple[str, str],
    partials: Iterable[PartialBytes],
    canary: bytes,
    input_level: int,
    public: PublicInputs,
    rows: int,
) -> tuple[list[CkksVector], CkksVector]:
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
    written = write_result_files(
        (output_file(out_dir, index), vector.to_bytes()) for index, vector in enumerate(outputs)
    )
    [canary_path] = write_result_files([(canary_output_file(out_dir), canary_out.to_bytes())])
    return FinalizeResult(
        job_id=task.job_id,
        output_files=written,
        canary_output_file=canary_path,
        counts=backend.counts.to_dict(),
        seconds=time.perf_counter() - started,
    )


def _finalize_bytes(task: FinalizeBytesTask) -> FinalizeBytesResult:
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


def finalize_job(task: FinalizeTask) -> FinalizeResult:
    """Combine partials batch by batch (bounded memory), finalize, run the canary circuit."""
    return _entry_point(_finalize_job, task)


def finalize_bytes(task: FinalizeBytesTask) -> FinalizeBytesResult:
    """:func:`finalize_job` for remote workers: partials and canary in, outputs as bytes out."""
    return _entry_point(_finalize_bytes, task)


__all__ = [
    "REASON_EVALUATION_FAILED",
    "WorkerFailure",
    "combine_partials_bytes",
    "evaluate_batch",
    "evaluate_batch_bytes",
    "finalize_bytes",
    "finalize_job",
    "initialize_worker",
    "software_identity",
    "warm_up",
]
