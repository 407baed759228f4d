"""The disagreement circuit: the evaluator's half (also planned by client and regulator).

Imports generic shared code and :mod:`.layout` only, never the client's, regulator's or
reference modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import SlotBackend, V
from regaudit.shared.circuits.base import Plan, PublicInputs
from regaudit.shared.errors import CircuitError
from regaudit.shared.primitives.disagreement.layout import (
    MIN_SCALE_BITS,
    PRODUCT_GAIN_BITS,
    degree_of,
    gain_bits,
    half_power,
    mask_shift,
    output_scale,
    output_slot,
    top_powers,
    validate_public,
)
from regaudit.shared.profiles import ParameterProfile


class DisagreementCircuit:
    """Sums of u^j, j = 1..2d, over all rows (times output_scale(rows)). Depth
    ceil(log2 2d) + 1."""

    circuit_id: ClassVar[str] = "disagreement"
    #: 2: outputs carry output_scale(rows) = 2^(G - e) (version 1: 2^-s, no gain).
    version: ClassVar[str] = "2"
    #: The 1e-6 relative accuracy target needs a CKKS scale of at least 2^40.
    min_scale_bits: ClassVar[int] = MIN_SCALE_BITS

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"model_polynomials": M >= 3 coefficient lists, "threshold" >= 0,
        "input_bound": power of two}`` (exactly these keys; see
        :func:`~regaudit.shared.primitives.disagreement.layout.validate_public`)."""
        return validate_public(public)

    def columns(self, public: PublicInputs) -> list[str]:
        return ["u"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(rows) * output_scale(rows)

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Slot-wise [u, u², ..., u^2d]; u^j = u^a * u^(j-a) with a the largest power of two
        < j, so u^j sits at level ceil(log2 j). A top power (see
        :func:`~regaudit.shared.primitives.disagreement.layout.top_powers`) is
        u^a * (2^PRODUCT_GAIN_BITS u^(j-a)): it carries the product gain."""
        if "u" not in inputs:
            raise CircuitError("chunk lacks column 'u'", field="columns")
        count = 2 * degree_of(public)
        top = top_powers(count)
        powers: dict[int, V] = {1: inputs["u"]}
        for j in range(2, count + 1):
            half = half_power(j)
            operand = powers[j - half]
            if j in top:
                for _ in range(PRODUCT_GAIN_BITS):
                    operand = backend.add(operand, operand)
            powers[j] = backend.multiply(powers[half], operand)
        return [powers[j] for j in sorted(powers)]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Per power: double the accumulator up to the total gain 2^G, G = gain_bits(rows)
        (additions, no level; a top power already carries 2^PRODUCT_GAIN_BITS), complete its
        sum over all slots, keep it in slot j - 1 with the mask 2^-e (e = mask_shift(rows)):
        slot j - 1 holds output_scale(rows) * sum u^j <= 2^OUTPUT_BITS.

        The gain comes before the rotations, whose key-switching noise has a fixed absolute size
        (~1e-6 per sum, ~1e-5 in slot 0): 2^G divides it. It is removed at decoding as far as
        the output headroom allows, and by the mask beyond that: the encoding error of a one-hot
        plaintext is absolute (~3e-11 per slot), so a mask value 2^-e costs a relative error of
        ~2^e * 3e-11 (the same reason the mask does not hold 1/rows)."""
        count = 2 * degree_of(public)
        if len(accumulators) != count:
            raise CircuitError(
                f"expected {count} accumulators, got {len(accumulators)}", field="accumulators"
            )
        top = top_powers(count)
        by_level: dict[int, list[V]] = {}
        for j, accumulator in enumerate(accumulators, start=1):
            amplified = accumulator
            for _ in range(gain_bits(rows) - (PRODUCT_GAIN_BITS if j in top else 0)):
                amplified = backend.add(amplified, amplified)
            mask = np.zeros(backend.slot_count)
            mask[output_slot(j)] = 2.0 ** -mask_shift(rows)
            masked = backend.multiply_plain(backend.slot_sum(amplified), mask)
            by_level.setdefault(masked.level, []).append(masked)
        result: V | None = None
        for level in sorted(by_level):
            partial = backend.add_many(by_level[level])
            result = partial if result is None else backend.add(result, partial)
        assert result is not None
        return [result]


def plan_disagreement(
    public: PublicInputs, *, rows: int, profile: ParameterProfile | None = None
) -> Plan:
    """Plan on ``profile`` or, by default, on the smallest profile whose depth fits and whose
    scale has at least MIN_SCALE_BITS bits (``make_plan`` reads ``min_scale_bits``)."""
    circuit = DisagreementCircuit()
    return planning.make_plan(circuit, public, rows=rows, profile=profile)


__all__ = ["DisagreementCircuit", "plan_disagreement"]
