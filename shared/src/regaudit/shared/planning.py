"""Plans: depth, rotation steps, operation counts and layout, from sizes alone."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from regaudit.shared.algebra import FloatArray, OpCounts
from regaudit.shared.circuits.base import (
    CANARY_COLUMN,
    Circuit,
    Plan,
    PublicInputs,
    accumulate,
    canary_circuit,
    combine,
    iter_chunks,
)
from regaudit.shared.errors import InputError, ProfileError
from regaudit.shared.plaintext import PlaintextBackend, PlainVector
from regaudit.shared.profiles import MAX_DEPTH_BUDGET, ParameterProfile, choose_profile

#: Largest audit the planner accepts (rows); far beyond any test, bounded for sanity.
MAX_ROWS = 2**28


def _trace(
    circuit: Circuit, public: dict[str, Any], *, slot_count: int, rows: int
) -> tuple[int, OpCounts, OpCounts, OpCounts, int]:
    """Run the circuit on zero vectors: (depth, per-chunk counts, combine counts, final counts,
    number of outputs)."""
    columns = circuit.columns(public)
    chunk_backend = PlaintextBackend(slot_count, max_level=MAX_DEPTH_BUDGET)
    zeros = {name: PlainVector(np.zeros(slot_count), 0) for name in columns}
    accumulators = circuit.evaluate_chunk(chunk_backend, zeros, public)

    combine_backend = PlaintextBackend(slot_count, max_level=MAX_DEPTH_BUDGET)
    combined = combine(combine_backend, accumulators, accumulators)

    final_backend = PlaintextBackend(slot_count, max_level=MAX_DEPTH_BUDGET)
    outputs = circuit.finalize(final_backend, combined, public, rows)
    canary = canary_circuit(final_backend, PlainVector(np.zeros(slot_count), 0))

    depth = max(max(o.level for o in outputs), canary.level)
    return depth, chunk_backend.counts, combine_backend.counts, final_backend.counts, len(outputs)


def make_plan(
    circuit: Circuit,
    public: dict[str, Any],
    *,
    rows: int,
    profile: ParameterProfile | str | None = None,
) -> Plan:
    """Plan an audit of ``rows`` rows; picks the smallest profile that fits the circuit's depth,
    output magnitude and precision (``min_scale_bits``) unless one is given (by name or
    object)."""
    if isinstance(profile, str):
        from regaudit.shared.profiles import get_profile

        profile = get_profile(profile)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InputError("an audit needs at least one row", field="rows")
    if rows > MAX_ROWS:
        raise InputError(f"{rows} rows exceed the limit of {MAX_ROWS}", field="rows")
    public = circuit.validate_public(public)
    magnitude = circuit.max_output_magnitude(rows, public)
    # Circuits whose accuracy target needs more precision than the smallest profile's scale
    # declare it (e.g. disagreement's 1e-6 relative error needs a 2^40 scale).
    min_scale_bits = int(getattr(circuit, "min_scale_bits", 0))

    # The trace depends on the slot count only through layouts, never through depth, so a
    # first trace at the smallest profile's slot count fixes the depth for profile choice.
    if profile is None:
        probe_slots = min(p.slot_count for p in _profiles())
        depth, *_ = _trace(circuit, public, slot_count=probe_slots, rows=rows)
        profile = choose_profile(
            depth=depth, max_output_magnitude=magnitude, min_scale_bits=min_scale_bits
        )
    depth, chunk, comb, final, n_outputs = _trace(
        circuit, public, slot_count=profile.slot_count, rows=rows
    )
    if depth > profile.max_depth:
        raise ProfileError(
            f"circuit {circuit.circuit_id} needs depth {depth}; profile {profile.name} has "
            f"{profile.max_depth}",
            field="profile",
        )
    if profile.scale_bits < min_scale_bits:
        raise ProfileError(
            f"circuit {circuit.circuit_id} needs a scale of at least 2^{min_scale_bits}; "
            f"profile {profile.name} has 2^{profile.scale_bits}",
            field="profile",
        )
    if magnitude > profile.max_output_magnitude:
        raise ProfileError(
            f"outputs up to {magnitude:g} overflow profile {profile.name} "
            f"(limit {profile.max_output_magnitude:g})",
            field="profile",
        )
    n_chunks = math.ceil(rows / profile.slot_count)
    total = OpCounts()
    total.merge(chunk, times=n_chunks)
    total.merge(comb, times=max(n_chunks - 1, 0))
    total.merge(final)
    # The trace starts at level 0; the evaluator starts at the input level, and its receipt
    # reports the absolute level reached: the plan uses the same convention.
    input_level = profile.max_depth - depth
    total.max_level += input_level
    return Plan(
        circuit_id=circuit.circuit_id,
        circuit_version=circuit.version,
        profile=profile,
        rows=rows,
        chunk_rows=profile.slot_count,
        n_chunks=n_chunks,
        columns=tuple(circuit.columns(public)),
        input_level=input_level,
        depth=depth,
        rotation_steps=tuple(sorted(total.rotation_steps)),
        n_outputs=n_outputs,
        counts=total,
    )


def _profiles() -> tuple[ParameterProfile, ...]:
    from regaudit.shared.profiles import PROFILES

    return PROFILES


def run_plaintext(
    circuit: Circuit,
    public: dict[str, Any],
    chunks_for: Callable[[int], Iterable[Mapping[str, FloatArray]]],
    *,
    rows: int,
    profile: ParameterProfile | None = None,
) -> tuple[Plan, list[FloatArray]]:
    """Run a circuit exactly as the evaluator would, on the plaintext backend: plan, load every
    chunk at the plan's input level, accumulate, finalize. Returns the plan and the
    (unencrypted) output vectors. ``chunks_for(chunk_rows)`` yields the client's plaintext
    chunks for the planned chunk size. This is every primitive's dry run and oracle path."""
    plan = make_plan(circuit, public, rows=rows, profile=profile)
    public = circuit.validate_public(public)
    backend = PlaintextBackend(plan.profile.slot_count, max_level=plan.profile.max_depth)
    vectors = (
        {name: backend.vector(values, level=plan.input_level) for name, values in chunk.items()}
        for chunk in chunks_for(plan.chunk_rows)
    )
    accumulators = accumulate(circuit, backend, vectors, public)
    if accumulators is None:
        raise InputError("an audit needs at least one chunk of data", field="rows")
    outputs = circuit.finalize(backend, accumulators, public, rows)
    return plan, [output.values for output in outputs]


class PlaintextInput(Protocol):
    """A validated primitive input, as every ``<package>.inputs.parse`` returns."""

    @property
    def rows(self) -> int: ...

    @property
    def public(self) -> PublicInputs: ...

    def columns(self) -> dict[str, FloatArray]: ...


def data_chunks(data: PlaintextInput, chunk_rows: int) -> Iterator[dict[str, FloatArray]]:
    """Zero-padded chunks of ``data``: the data's own ``iter_chunks`` when it has one (it then
    never builds whole columns, e.g. concordance's pair layout), else the generic split."""
    own: Callable[[int], Iterator[dict[str, FloatArray]]] | None = getattr(
        data, "iter_chunks", None
    )
    if own is not None:
        return own(chunk_rows)
    return iter_chunks(data.columns(), chunk_rows)


def evaluate_plaintext(
    circuit: Circuit, data: PlaintextInput, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """The one plaintext evaluation path: ``circuit`` run on ``data`` exactly as the evaluator
    runs it (plan, chunk, accumulate, finalize) on the plaintext backend. Returns the plan and
    the (unencrypted) output vectors: the client's output check, the dry run and the tests'
    oracle."""
    return run_plaintext(
        circuit,
        data.public,
        lambda chunk_rows: data_chunks(data, chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "CANARY_COLUMN",
    "MAX_ROWS",
    "PlaintextInput",
    "data_chunks",
    "evaluate_plaintext",
    "make_plan",
    "run_plaintext",
]
