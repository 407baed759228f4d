"""Provenance's circuit, run by the evaluator: per-bucket slot sums into one output vector.

Imports only generic shared code and :mod:`.layout` (never the client's, regulator's or
reference modules). Decoding the outputs is the regulator's :mod:`.report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import SlotBackend, V
from regaudit.shared.circuits.base import CANARY_DEPTH, PublicInputs
from regaudit.shared.errors import CircuitError
from regaudit.shared.primitives.provenance.layout import MAX_TOTAL, bucket_column, validate_public


class ProvenanceCircuit:
    """Per-bucket sums of the scaled attributions, bucket b in output slot b. Depth 1 (+1 align)."""

    circuit_id: ClassVar[str] = "provenance"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"n_buckets": 1..1024, "k": 1..n_buckets, "attribution_scale": power of two}``."""
        return validate_public(public)

    def columns(self, public: PublicInputs) -> list[str]:
        return [bucket_column(b) for b in range(public["n_buckets"])]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return MAX_TOTAL

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """The bucket columns themselves are the slot-wise accumulators."""
        missing = [name for name in self.columns(public) if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        return [inputs[name] for name in self.columns(public)]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Slot-sum each bucket column, keep its total in slot b, add into one vector."""
        n_buckets = public["n_buckets"]
        if len(accumulators) != n_buckets:
            raise CircuitError(f"expected {n_buckets} accumulators", field="accumulators")
        if backend.slot_count < n_buckets:
            raise CircuitError("too few slots for the buckets", field="n_buckets")
        masked = []
        for b, accumulator in enumerate(accumulators):
            mask = np.zeros(backend.slot_count)
            mask[b] = 1.0
            masked.append(backend.multiply_plain(backend.slot_sum(accumulator), mask))
        result = backend.add_many(masked)
        # the plan's depth is at least the canary's (2): end there, as the plan says
        return [backend.align(result, max(result.level, accumulators[0].level + CANARY_DEPTH))]


__all__ = ["ProvenanceCircuit"]
