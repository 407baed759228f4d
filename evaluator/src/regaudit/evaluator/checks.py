"""The daemon checks what its workers return (local processes and Dask workers alike).

A worker is code the daemon runs, but the daemon signs the receipt: nothing a worker returns is
signed or used on its word. For every task the daemon itself

* loads every returned ciphertext (batch partials, final outputs, the canary output) with
  :func:`regaudit.shared.ckks.load_ciphertext`: SEAL's validity check for the profile, exactly
  two polynomials in NTT form, the *expected* level and that level's canonical scale;
* reads them only from the file names it chose itself (never a path a worker reports);
* compares the worker's self-reported operation counts with what the plan says that very task
  performs (the plan is a deterministic plaintext trace of the same circuit code).

The expected levels and per-task counts come from :func:`expectations`, a plaintext trace of the
circuit on zero vectors exactly like the planner's (``regaudit.shared.planning``): per chunk,
per combination of two accumulator lists, and for finalization (outputs and canary).

Any disagreement raises :class:`WorkerOutputError` (reason :data:`REASON_WORKER_OUTPUT_INVALID`):
the job fails with that reason and the daemon keeps serving. :func:`check_batch` and
:func:`check_final` are the checks of one batch task and of the finalize task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.evaluator.tasks import (
    BatchResult,
    BatchTask,
    Counts,
    FinalizeResult,
    FinalizeTask,
    merge_counts,
    partial_file,
)
from regaudit.shared.algebra import OpCounts
from regaudit.shared.circuits.base import Plan, canary_circuit, combine
from regaudit.shared.errors import EXIT_USAGE, RegauditError
from regaudit.shared.protocol import CANARY_OUTPUT_NAME, output_name

#: Reason recorded on a job whose worker returned a ciphertext that is not what the plan says
#: (malformed, wrong level or scale, wrong number, wrong file) or misreported its counts.
REASON_WORKER_OUTPUT_INVALID = "worker_output_invalid"

#: The operation counters compared per task (rotation steps are compared as sets).
COUNTERS = (
    "ct_ct_multiplications",
    "ct_pt_multiplications",
    "rotations",
    "additions",
    "rescales",
    "relinearizations",
)


class WorkerOutputError(RegauditError):
    """A worker returned ciphertexts or operation counts that are not what the plan says."""

    reason = REASON_WORKER_OUTPUT_INVALID
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


@dataclass(frozen=True)
class Expectations:
    """What each task of one job must return (absolute levels)."""

    input_level: int
    #: level of each partial accumulator of a batch (the same for every batch)
    partial_levels: tuple[int, ...]
    #: level of each output (all at ``plan.output_level`` for the shipped circuits)
    output_levels: tuple[int, ...]
    canary_level: int
    #: operations of one chunk, of adding two accumulator lists, and of finalize + canary
    chunk: OpCounts
    combine: OpCounts
    final: OpCounts

    def batch_counts(self, n_chunks: int) -> OpCounts:
        """A batch of ``n_chunks`` chunks: every chunk, plus ``n_chunks - 1`` combinations."""
        total = OpCounts()
        total.merge(self.chunk, times=n_chunks)
        total.merge(self.combine, times=max(n_chunks - 1, 0))
        return total

    def finalize_counts(self, n_batches: int) -> OpCounts:
        """Folding ``n_batches`` partials (in any tree: always ``n_batches - 1`` combinations),
        finalizing and the canary."""
        total = OpCounts()
        total.merge(self.combine, times=max(n_batches - 1, 0))
        total.merge(self.final)
        return total

    @property
    def depth(self) -> int:
        return max((*self.output_levels, self.canary_level)) - self.input_level


def expectations(plan: Plan, public: Mapping[str, Any]) -> Expectations:
    """Trace the plan's circuit on the plaintext backend (like the planner) and record the
    level of every returned ciphertext and the operations of each kind of task."""
    from regaudit.shared.circuits.registry import get_circuit
    from regaudit.shared.plaintext import PlaintextBackend, PlainVector
    from regaudit.shared.profiles import MAX_DEPTH_BUDGET

    circuit = get_circuit(plan.circuit_id, plan.circuit_version)
    validated = circuit.validate_public(dict(public))
    slots = plan.profile.slot_count
    chunk_backend = PlaintextBackend(slots, max_level=MAX_DEPTH_BUDGET)
    zeros = {name: PlainVector(np.zeros(slots), 0) for name in plan.columns}
    accumulators = circuit.evaluate_chunk(chunk_backend, zeros, validated)
    combine_backend = PlaintextBackend(slots, max_level=MAX_DEPTH_BUDGET)
    combined = combine(combine_backend, accumulators, accumulators)
    final_backend = PlaintextBackend(slots, max_level=MAX_DEPTH_BUDGET)
    outputs = circuit.finalize(final_backend, combined, validated, plan.rows)
    canary = canary_circuit(final_backend, PlainVector(np.zeros(slots), 0))
    base = plan.input_level
    expected = Expectations(
        input_level=base,
        partial_levels=tuple(base + vector.level for vector in combined),
        output_levels=tuple(base + vector.level for vector in outputs),
        canary_level=base + canary.level,
        chunk=chunk_backend.counts,
        combine=combine_backend.counts,
        final=final_backend.counts,
    )
    if len(expected.output_levels) != plan.n_outputs or expected.depth != plan.depth:
        raise WorkerOutputError(
            f"the daemon's trace of {plan.circuit_id}@{plan.circuit_version} disagrees with "
            f"its plan ({len(expected.output_levels)} outputs, depth {expected.depth}; plan: "
            f"{plan.n_outputs} outputs, depth {plan.depth})"
        )
    return expected


def check_counts(reported: Mapping[str, Any], expected: OpCounts, *, what: str) -> None:
    """Raise WorkerOutputError unless a worker's self-reported counts equal ``expected``
    (every counter, and the rotation steps as a set)."""
    want = expected.to_dict()
    try:
        for name in COUNTERS:
            if int(reported[name]) != want[name]:
                raise WorkerOutputError(
                    f"{what}: the worker reports {reported[name]} {name}, the plan says "
                    f"{want[name]}",
                    field=name,
                )
        steps = {int(step) for step in reported["rotation_steps"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkerOutputError(
            f"{what}: the worker's operation counts are malformed ({type(exc).__name__})",
            field="counts",
        ) from None
    if steps != expected.rotation_steps:
        raise WorkerOutputError(
            f"{what}: the worker reports rotation steps {sorted(steps)}, the plan says "
            f"{sorted(expected.rotation_steps)}",
            field="rotation_steps",
        )


def check_ciphertext(plan: Plan, data: bytes, *, level: int, what: str) -> int:
    """Load ``data`` as the daemon (SEAL validity, shape, ``level`` and its canonical scale);
    WorkerOutputError if it is not a valid ciphertext there. Returns the level."""
    from regaudit.shared import ckks

    try:
        vector = ckks.load_ciphertext(plan.profile, data, level=level)
    except RegauditError as exc:
        raise WorkerOutputError(
            f"{what} returned by the worker is not a valid ciphertext at level {level}: "
            f"{exc.message}",
            field=what,
        ) from None
    return vector.level


def check_files(
    plan: Plan,
    reported: Sequence[str],
    canonical: Sequence[Path],
    levels: Sequence[int],
    *,
    what: str,
) -> list[bytes]:
    """The worker must name exactly the daemon's ``canonical`` files; each is read once and
    checked at its level. Returns the checked bytes, in order."""
    if len(reported) != len(canonical) or any(
        Path(name) != path for name, path in zip(reported, canonical, strict=False)
    ):
        raise WorkerOutputError(
            f"{what}: the worker returned {len(reported)} file(s) other than the "
            f"{len(canonical)} the daemon expects",
            field=what,
        )
    checked: list[bytes] = []
    for index, (path, level) in enumerate(zip(canonical, levels, strict=True)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise WorkerOutputError(
                f"{what} #{index}: the worker's file cannot be read ({exc.strerror})",
                field=what,
            ) from None
        check_ciphertext(plan, data, level=level, what=f"{what} #{index}")
        checked.append(data)
    return checked


@dataclass(frozen=True)
class CheckedOutputs:
    """A finalization the daemon checked: the (name, bytes) outputs, canary last, and the depth
    observed from the levels the daemon loaded them at."""

    outputs: list[tuple[str, bytes]]
    depth: int


def check_batch(plan: Plan, expected: Expectations, task: BatchTask, result: BatchResult) -> None:
    """The daemon's own check of a batch: the partials are the files the daemon named, each
    valid at the plan's accumulator level; the reported counts are what the plan says this
    batch performs."""
    what = f"batch {task.batch}"
    if result.job_id != task.job_id or result.batch != task.batch:
        raise WorkerOutputError(f"{what}: the worker answered for another task")
    n_chunks = len(task.chunk_files)
    if result.n_chunks != n_chunks:
        raise WorkerOutputError(f"{what}: {result.n_chunks} chunks reported, {n_chunks} sent")
    if tuple(result.partial_levels) != expected.partial_levels:
        raise WorkerOutputError(
            f"{what}: partial levels {list(result.partial_levels)} reported, the plan "
            f"says {list(expected.partial_levels)}",
            field="partial_levels",
        )
    check_counts(result.counts, expected.batch_counts(n_chunks), what=what)
    directory = Path(task.partial_dir)
    check_files(
        plan,
        result.partial_files,
        [
            partial_file(directory, task.batch, index)
            for index in range(len(expected.partial_levels))
        ],
        expected.partial_levels,
        what=f"{what} partial",
    )


def check_final(
    plan: Plan,
    expected: Expectations,
    task: FinalizeTask,
    final: FinalizeResult,
    *,
    batch_counts: Sequence[Counts],
    outputs: Sequence[Path],
    canary: Path,
) -> CheckedOutputs:
    """The daemon's own check of finalization: every output and the canary output are the
    files the daemon named (``outputs``, ``canary``), valid at the plan's output (canary)
    level; the counts the workers reported (``batch_counts`` of every batch, then finalize)
    are what the plan says."""
    if final.job_id != task.job_id:
        raise WorkerOutputError("finalize: the worker answered for another job")
    check_counts(final.counts, expected.finalize_counts(len(task.partials)), what="finalize")
    reported = merge_counts([*batch_counts, final.counts])
    check_counts(reported.to_dict(), plan.counts, what="job")
    datas = check_files(plan, final.output_files, outputs, expected.output_levels, what="output")
    [canary_data] = check_files(
        plan,
        [final.canary_output_file],
        [canary],
        [expected.canary_level],
        what="canary output",
    )
    checked = [(output_name(i), data) for i, data in enumerate(datas)]
    checked.append((CANARY_OUTPUT_NAME, canary_data))
    # the levels the daemon itself loaded them at
    depth = max((*expected.output_levels, expected.canary_level)) - plan.input_level
    return CheckedOutputs(outputs=checked, depth=depth)


__all__ = [
    "REASON_WORKER_OUTPUT_INVALID",
    "CheckedOutputs",
    "Expectations",
    "WorkerOutputError",
    "check_batch",
    "check_ciphertext",
    "check_counts",
    "check_files",
    "check_final",
    "expectations",
]
