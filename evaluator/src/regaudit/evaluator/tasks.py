"""The tasks the daemon hands its workers and the results they return (small, picklable).

A local worker gets file-named tasks (:class:`BatchTask`, :class:`FinalizeTask`) and writes its
ciphertexts into the daemon's store; a Dask worker gets self-contained ``*BytesTask`` tasks and
returns the ciphertexts as bytes. Both kinds name the job, the circuit and the levels the same
way (:class:`CircuitTask`), and every result reports its operation counts (:data:`Counts`),
which the daemon only compares with its plan (``checks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias, TypedDict

from regaudit.shared.algebra import OpCounts
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.files import write_file_atomic

#: A worker's self-reported operation counts (``OpCounts.to_dict()``).
Counts: TypeAlias = Mapping[str, object]
#: One batch's partial accumulators: (ciphertexts, levels), in accumulator order.
PartialBytes: TypeAlias = tuple[tuple[bytes, ...], tuple[int, ...]]
#: One batch's partial accumulators on disk: (files, levels), in accumulator order.
PartialFiles: TypeAlias = tuple[tuple[str, ...], tuple[int, ...]]


@dataclass(frozen=True)
class KeyFiles:
    """Stored evaluation keys, by file name (a local worker loads them itself)."""

    digest: str
    profile_name: str
    galois_steps: tuple[int, ...]
    relin_path: str
    galois_path: str


@dataclass(frozen=True)
class KeyPayload:
    """Serialized evaluation keys shipped once to a remote (Dask) worker."""

    digest: str
    profile_name: str
    galois_steps: tuple[int, ...]
    relin_keys: bytes
    galois_keys: bytes


@dataclass(frozen=True, kw_only=True)
class CircuitTask:
    """What every evaluation task names: the job, the circuit, its public inputs, the profile
    and the levels (inputs at ``input_level``, nothing deeper than ``max_level``)."""

    job_id: str
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: PublicInputs
    input_level: int
    max_level: int


class CircuitFields(TypedDict):
    """The fields of a :class:`CircuitTask`, to build another task for the same circuit run
    (``BatchTask(**fields, batch=...)``)."""

    job_id: str
    profile_name: str
    circuit_id: str
    circuit_version: str
    public: PublicInputs
    input_level: int
    max_level: int


def circuit_fields(task: CircuitTask) -> CircuitFields:
    """The :class:`CircuitTask` fields of ``task``."""
    return CircuitFields(
        job_id=task.job_id,
        profile_name=task.profile_name,
        circuit_id=task.circuit_id,
        circuit_version=task.circuit_version,
        public=task.public,
        input_level=task.input_level,
        max_level=task.max_level,
    )


@dataclass(frozen=True, kw_only=True)
class BatchTask(CircuitTask):
    """Evaluate a batch of one job's chunks into partial accumulators (files)."""

    batch: int
    keys: KeyFiles
    columns: tuple[str, ...]
    #: input file per chunk, columns in plan order
    chunk_files: tuple[tuple[str, ...], ...]
    #: the job's chunk index of each chunk (consecutive, or a witness's sampled indices)
    chunk_indices: tuple[int, ...]
    partial_dir: str
    #: take each chunk's partial digest (the job header asks, or a sampled witness job)
    commit_partials: bool


@dataclass(frozen=True, kw_only=True)
class BatchBytesTask(CircuitTask):
    """Like :class:`BatchTask`, but self-contained: ciphertext bytes instead of file names and
    the key digest instead of key files (for workers that cannot read the daemon's disk)."""

    batch: int
    keys_digest: str
    columns: tuple[str, ...]
    #: per chunk, one ciphertext per column in plan order
    chunks: tuple[tuple[bytes, ...], ...]
    #: the job's chunk index of each chunk
    chunk_indices: tuple[int, ...]
    #: take each chunk's partial digest (the job header asks, or a sampled witness job)
    commit_partials: bool


@dataclass(frozen=True, kw_only=True)
class FinalizeTask(CircuitTask):
    """Combine every batch's partials, finalize the circuit and evaluate the canary."""

    keys: KeyFiles
    rows: int
    canary_file: str
    #: per batch: (files, levels)
    partials: tuple[PartialFiles, ...]
    outputs_dir: str


@dataclass(frozen=True, kw_only=True)
class FinalizeBytesTask(CircuitTask):
    """Like :class:`FinalizeTask`, with partial accumulators and the canary as bytes."""

    keys_digest: str
    rows: int
    canary: bytes
    #: per batch, in batch order: (ciphertexts, levels)
    partials: tuple[PartialBytes, ...]


@dataclass(frozen=True)
class CombineBytesTask:
    """Add up a group of batches' partial accumulators (a step of a tree reduction)."""

    job_id: str
    keys_digest: str
    profile_name: str
    max_level: int
    #: per batch, in batch order: (ciphertexts, levels)
    partials: tuple[PartialBytes, ...]


@dataclass(frozen=True, kw_only=True)
class BatchReport:
    """What a worker reports about a batch besides its partial accumulators."""

    job_id: str
    batch: int
    n_chunks: int
    partial_levels: tuple[int, ...]
    #: each chunk's partial digest (``witness_sampling.partial_digest``), in chunk order: the
    #: canonical content of its own partial accumulators, taken before any addition; empty
    #: when the task did not ask (``commit_partials``)
    partial_digests: tuple[str, ...]
    counts: Counts
    seconds: float


@dataclass(frozen=True, kw_only=True)
class BatchResult(BatchReport):
    """A batch evaluated: its partial accumulators are files in the task's ``partial_dir``."""

    partial_files: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BatchBytesResult(BatchReport):
    """A batch evaluated on a remote worker: its partial accumulators as bytes."""

    partials: tuple[bytes, ...]


@dataclass(frozen=True)
class FinalizeResult:
    """A job finalized: its outputs and canary output are files in the task's ``outputs_dir``."""

    job_id: str
    output_files: tuple[str, ...]
    canary_output_file: str
    counts: Counts
    seconds: float


@dataclass(frozen=True)
class FinalizeBytesResult:
    """A job finalized on a remote worker: its outputs and canary output as bytes."""

    job_id: str
    outputs: tuple[bytes, ...]
    canary_output: bytes
    counts: Counts
    seconds: float


@dataclass(frozen=True)
class CombineBytesResult:
    """A group of partial accumulators added up on a remote worker."""

    job_id: str
    partials: tuple[bytes, ...]
    partial_levels: tuple[int, ...]
    counts: Counts


def partial_file(directory: Path, batch: int, index: int) -> Path:
    """Where partial accumulator ``index`` of batch ``batch`` is written (the daemon reads
    it from this name only)."""
    return directory / f"batch{batch:06d}-{index:03d}.ct"


def output_file(directory: Path, index: int) -> Path:
    """Where output ``index`` of a finalized job is written."""
    return directory / f"{index:04d}.ct"


def canary_output_file(directory: Path) -> Path:
    """Where the canary output of a finalized job is written."""
    return directory / "canary.ct"


def write_result_files(files: Iterable[tuple[Path, bytes]]) -> tuple[str, ...]:
    """Write each (path, ciphertext) atomically (owner-only); returns the paths written."""
    written: list[str] = []
    for path, data in files:
        write_file_atomic(path, data, mode=0o600, overwrite=True, durable=False)
        written.append(str(path))
    return tuple(written)


def merge_counts(items: Iterable[Counts]) -> OpCounts:
    """Sum worker op counts (steps unioned, max level maxed)."""
    from regaudit.shared.protocol import opcounts_from_dict

    total = OpCounts()
    for item in items:
        total.merge(opcounts_from_dict(item))
    return total


__all__ = [
    "BatchBytesResult",
    "BatchBytesTask",
    "BatchReport",
    "BatchResult",
    "BatchTask",
    "CircuitFields",
    "CircuitTask",
    "CombineBytesResult",
    "CombineBytesTask",
    "Counts",
    "FinalizeBytesResult",
    "FinalizeBytesTask",
    "FinalizeResult",
    "FinalizeTask",
    "KeyFiles",
    "KeyPayload",
    "PartialBytes",
    "PartialFiles",
    "canary_output_file",
    "circuit_fields",
    "merge_counts",
    "output_file",
    "partial_file",
    "write_result_files",
]
