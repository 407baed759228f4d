"""The evaluator's half of ``tally``: slot-sum the squared flags (a 0/1 flag is its own
square), keep slot 0. Depth 2, the smallest a job has (the key canary is depth 2 too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import SlotBackend, V
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError, InputError

#: Counts are exact: a decrypted count further than this from an integer is refused.
COUNT_TOLERANCE = 0.25


class TallyCircuit:
    """sum(flag * flag) in slot 0 of one output vector, every other slot zero."""

    circuit_id: ClassVar[str] = "tally"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"threshold": number in [0, 1]}`` (exactly)."""
        if not isinstance(public, Mapping) or set(public) != {"threshold"}:
            raise InputError("public inputs must be exactly {threshold}", field="public")
        threshold = public["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InputError("must be a number", field="threshold")
        if not 0.0 <= float(threshold) <= 1.0:
            raise InputError(f"{threshold} is outside [0, 1]", field="threshold")
        return {"threshold": float(threshold)}

    def columns(self, public: PublicInputs) -> list[str]:
        return ["flag"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(rows)

    def output_tolerance(self, rows: int, public: PublicInputs) -> float:
        return COUNT_TOLERANCE

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        if "flag" not in inputs:
            raise CircuitError("chunk lacks column 'flag'", field="columns")
        return [backend.square(inputs["flag"])]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        (flags,) = accumulators
        mask = np.zeros(backend.slot_count)
        mask[0] = 1.0
        return [backend.multiply_plain(backend.slot_sum(flags), mask)]


__all__ = ["COUNT_TOLERANCE", "TallyCircuit"]
