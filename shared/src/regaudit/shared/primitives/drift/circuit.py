"""Drift's circuit: what the evaluator runs on the encrypted CDFs and sign column.

Imports only generic shared code and :mod:`.layout` (an import-linter contract keeps the
evaluator away from the client's, regulator's and reference modules).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import SlotBackend, V, rotate_composed
from regaudit.shared.chebyshev import chebyshev_polynomials
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError, InputError
from regaudit.shared.primitives.drift.layout import (
    CHEBYSHEV_DEGREE,
    MAX_BINS,
    MAX_FEATURES,
    MAX_LAYOUT_SLOTS,
    MAX_W1_RANGE,
    MIN_W1_RANGE,
    OPTIONAL_PUBLIC_KEYS,
    PART_COLUMNS,
    PUBLIC_KEYS,
    QUANTITIES,
    SAMPLE_COUNTS,
    column_names,
    features_per_part,
    number,
    output_gain,
    part_count,
    parts_per_output,
    sample_counts,
    stride_for,
)


def _chebyshev_quantities(backend: SlotBackend[V], x: V) -> list[V]:
    """[y, T_2(z), ..., T_16(z)] slot-wise for y = x², z = 2y - 1 (T_16 at level 5)."""
    y = backend.square(x)
    z = backend.add_plain(backend.add(y, y), -1.0)
    return [y, *chebyshev_polynomials(backend, z, CHEBYSHEV_DEGREE)[1:]]


class DriftCircuit:
    """Per feature: sum y, sum T_k(2y - 1) (k = 2..16) and sum s * x, with x = (P - Q) / R,
    y = x² and s the client's sign column. Depth 6."""

    circuit_id: ClassVar[str] = "drift"
    version: ClassVar[str] = "2"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"drift_threshold" >= 0, "bin_width" > 0, "w1_range" power of two in
        [2^-10, 1], "features", "bins"}`` (exactly these keys), optionally
        ``"sample_counts": {"p": [n_f ...], "q": [n_f ...]}`` (one integer >= 1 per feature and
        side; returned only when given, so audits without it keep their public inputs)."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - PUBLIC_KEYS - OPTIONAL_PUBLIC_KEYS)
        if unknown:
            raise InputError("unknown public input", field=unknown[0])
        for key in sorted(PUBLIC_KEYS):
            if key not in public:
                raise InputError("is required", field=key)
        threshold = number(public["drift_threshold"], name="drift_threshold")
        if threshold < 0:
            raise InputError("must be >= 0", field="drift_threshold")
        width = number(public["bin_width"], name="bin_width")
        if width <= 0:
            raise InputError("must be > 0", field="bin_width")
        sizes = {}
        for key, limit in (("features", MAX_FEATURES), ("bins", MAX_BINS)):
            value = public[key]
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError("must be an integer", field=key)
            if not 1 <= value <= limit:
                raise InputError(f"must be in 1..{limit}, got {value}", field=key)
            sizes[key] = int(value)
        ranges = public["w1_range"]
        if not isinstance(ranges, list | tuple) or len(ranges) != sizes["features"]:
            raise InputError("must list one range per feature", field="w1_range")
        w1_range = []
        for f, value in enumerate(ranges):
            scale = number(value, name=f"w1_range[{f}]")
            if not MIN_W1_RANGE <= scale <= MAX_W1_RANGE or math.log2(scale) % 1:
                raise InputError("must be a power of two in [2^-10, 1]", field=f"w1_range[{f}]")
            w1_range.append(scale)
        if sizes["features"] * stride_for(sizes["bins"]) > MAX_LAYOUT_SLOTS:
            raise InputError(
                f"{sizes['features']} features x {stride_for(sizes['bins'])} slots exceed "
                f"{MAX_LAYOUT_SLOTS} slots",
                field="features",
            )
        validated: dict[str, Any] = {
            "drift_threshold": threshold,
            "bin_width": width,
            "w1_range": w1_range,
            **sizes,
        }
        if public.get(SAMPLE_COUNTS) is not None:
            validated[SAMPLE_COUNTS] = sample_counts(
                public[SAMPLE_COUNTS], features=sizes["features"]
            )
        return validated

    def columns(self, public: PublicInputs) -> list[str]:
        return column_names(public["features"], public["bins"])

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(stride_for(public["bins"])) * output_gain(public["bins"])

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Per part, slot-wise [y, T_2(z), ..., T_16(z), s * x] with x = cdf_p - cdf_q,
        y = x², z = 2y - 1, s = the sign column (QUANTITIES accumulators per part, parts in
        order)."""
        names = self.columns(public)
        for name in names:
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        accumulators: list[V] = []
        width = len(PART_COLUMNS)
        for part in range(len(names) // width):
            cdf_p, cdf_q, sign = (inputs[name] for name in names[width * part : width * (part + 1)])
            x = backend.sub(cdf_p, cdf_q)
            accumulators += _chebyshev_quantities(backend, x)
            accumulators.append(backend.multiply(x, sign))
        return accumulators

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Per part and quantity j: multiply by the gain 2^g (g doublings), sum each block of S
        slots (slot b*S gets block b's total),
        keep slots b*S (the only mask: level 6). The parts of one output vector are packed by
        Horner with rotations by one (h = rot(h, 1) + masked, K = QUANTITIES x parts terms) which
        leaves term i at b*S - (K - 1 - i), and one rotation right by K - 1 (composed from the
        profile's power-of-radix keys) puts it at b*S + i. Rotations by -i per term would each
        need their own Galois key (6 MB at N = 2^14).

        The planner's first trace runs at the smallest profile's slot count, where a layout of
        more than its slots is cut off (masks only cover existing slots); that trace only
        fixes the depth, which then refuses the shallow profile."""
        features, bins = public["features"], public["bins"]
        parts = part_count(features, bins)
        if len(accumulators) != QUANTITIES * parts:
            raise CircuitError(
                f"expected {QUANTITIES * parts} accumulators, got {len(accumulators)}",
                field="accumulators",
            )
        stride = stride_for(bins)
        per_part = features_per_part(bins)
        group = parts_per_output(bins)
        gain_bits = int(output_gain(bins)).bit_length() - 1
        outputs: list[V] = []
        for first in range(0, parts, group):
            result: V | None = None
            terms = 0
            for part in range(first, min(first + group, parts)):
                blocks = min(per_part, features - part * per_part)
                mask = np.zeros(backend.slot_count)
                starts = np.arange(blocks) * stride
                mask[starts[starts < backend.slot_count]] = 1.0
                quantities = accumulators[part * QUANTITIES : (part + 1) * QUANTITIES]
                for accumulator in quantities:
                    amplified = accumulator
                    for _ in range(gain_bits):
                        amplified = backend.add(amplified, amplified)
                    summed = backend.slot_sum(amplified, width=stride)
                    masked = backend.multiply_plain(summed, mask)
                    result = (
                        masked if result is None else backend.add(backend.rotate(result, 1), masked)
                    )
                    terms += 1
            assert result is not None
            outputs.append(rotate_composed(backend, result, -(terms - 1)))
        return outputs


__all__ = ["DriftCircuit"]
