"""Translating the daemon's file-named tasks for Dask workers, and their results back.

A remote worker cannot read the daemon's disk: a batch or finalize task is sent with its
ciphertexts as bytes (``*BytesTask``), and the ciphertexts a worker returns are written back
into the daemon's store under the names a local worker would have used, so the daemon checks
both kinds of result alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from regaudit.evaluator.tasks import (
    BatchBytesResult,
    BatchBytesTask,
    BatchResult,
    BatchTask,
    Counts,
    FinalizeBytesResult,
    FinalizeBytesTask,
    FinalizeResult,
    FinalizeTask,
    PartialBytes,
    canary_output_file,
    circuit_fields,
    merge_counts,
    output_file,
    partial_file,
    write_result_files,
)


def batch_payload(task: BatchTask) -> BatchBytesTask:
    """The self-contained form of ``task``: its chunks' ciphertexts read from the store."""
    return BatchBytesTask(
        **circuit_fields(task),
        batch=task.batch,
        keys_digest=task.keys.digest,
        columns=task.columns,
        chunks=tuple(
            tuple(Path(path).read_bytes() for path in files) for files in task.chunk_files
        ),
        chunk_indices=task.chunk_indices,
        commit_partials=task.commit_partials,
    )


def batch_result(task: BatchTask, result: BatchBytesResult) -> BatchResult:
    """Write a remote batch's partial accumulators into ``task.partial_dir``."""
    directory = Path(task.partial_dir)
    files = write_result_files(
        (partial_file(directory, task.batch, index), data)
        for index, data in enumerate(result.partials)
    )
    return BatchResult(
        job_id=task.job_id,
        batch=task.batch,
        n_chunks=result.n_chunks,
        partial_files=files,
        partial_levels=result.partial_levels,
        partial_digests=result.partial_digests,
        counts=result.counts,
        seconds=result.seconds,
    )


#: Something that yields one batch's partial accumulators when called (read late, so a
#: reduction holds only the group it is adding up).
PartialLoader: TypeAlias = Callable[[], PartialBytes]


def _read_partial(files: tuple[str, ...], levels: tuple[int, ...]) -> PartialBytes:
    return tuple(Path(path).read_bytes() for path in files), levels


def _same(value: PartialBytes) -> PartialBytes:
    return value


def stored_partial(files: tuple[str, ...], levels: tuple[int, ...]) -> PartialLoader:
    """A loader of one batch's partial accumulators stored in ``files``."""
    return functools.partial(_read_partial, files, levels)


def held_partial(partial: PartialBytes) -> PartialLoader:
    """A loader of partial accumulators already in memory (a combine task's result)."""
    return functools.partial(_same, partial)


def finalize_payload(task: FinalizeTask, partials: Sequence[PartialBytes]) -> FinalizeBytesTask:
    """The self-contained form of ``task`` with ``partials`` (already reduced, in order)."""
    return FinalizeBytesTask(
        **circuit_fields(task),
        keys_digest=task.keys.digest,
        rows=task.rows,
        canary=Path(task.canary_file).read_bytes(),
        partials=tuple(partials),
    )


def finalize_result(
    task: FinalizeTask, result: FinalizeBytesResult, combine_counts: Sequence[Counts]
) -> FinalizeResult:
    """Write a remote finalization's outputs and canary output into ``task.outputs_dir``; its
    counts include those of the combine tasks that reduced the partials."""
    out_dir = Path(task.outputs_dir)
    written = write_result_files(
        (output_file(out_dir, index), data) for index, data in enumerate(result.outputs)
    )
    [canary_path] = write_result_files([(canary_output_file(out_dir), result.canary_output)])
    return FinalizeResult(
        job_id=task.job_id,
        output_files=written,
        canary_output_file=canary_path,
        counts=merge_counts([result.counts, *combine_counts]).to_dict(),
        seconds=result.seconds,
    )


__all__ = [
    "PartialLoader",
    "batch_payload",
    "batch_result",
    "finalize_payload",
    "finalize_result",
    "held_partial",
    "stored_partial",
]
