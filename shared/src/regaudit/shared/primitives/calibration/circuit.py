"""Calibration's circuit, run by the evaluator: the sign polynomial of the point scores
(point form) or the slot-summed sign polynomial of the client's rank positions (batch form).
Imports :mod:`.layout` and generic shared code only, never the client's, regulator's or
reference modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError
from regaudit.shared.primitives.calibration import layout
from regaudit.shared.primitives.calibration.layout import (
    BATCH_DEGREE,
    SIGN_DEGREE,
    batch_block_for,
    batch_scales,
    block_for,
    validate_public,
)


def batch_masks(public: PublicInputs, slot_count: int) -> tuple[FloatArray, FloatArray]:
    """Public 0/1 patterns of a chunk: the class slots and the true-class slots."""
    classes = public["classes"]
    block = batch_block_for(classes)
    one_set, one_cov = np.zeros(block), np.zeros(block)
    one_set[:classes] = 1.0
    one_cov[classes] = 1.0
    return np.tile(one_set, slot_count // block), np.tile(one_cov, slot_count // block)


def quantile_pattern(public: PublicInputs, slot_count: int) -> FloatArray:
    """The public vector -(q_k - lo) / R in every class slot of every point block of a chunk
    (lo = ``score_offset``, 0 if absent)."""
    block = block_for(public["classes"])
    one = np.zeros(block)
    offset = float(public.get("score_offset", 0.0))
    one[: public["classes"]] = -(np.asarray(public["quantiles"]) - offset) / public["score_range"]
    return np.tile(one, slot_count // block)


def _odd_chebyshev(backend: SlotBackend[V], t: V, degree: int) -> dict[int, V]:
    """T_k(t) for odd k <= degree (and the powers of two on the way): T_(2^j) by doubling,
    odd k in (2^j, 2^(j+1)) as 2 T_(2^j) T_(k-2^j) - T_(2^(j+1)-k); T_k at level
    t.level + ceil(log2 k), one ct x ct product per polynomial."""
    polys: dict[int, V] = {1: t}
    power = 1
    while 2 * power <= degree:
        square = backend.multiply(polys[power], polys[power])
        polys[2 * power] = backend.add_plain(backend.add(square, square), -1.0)
        power *= 2
    for k in range(3, degree + 1, 2):
        high = 1 << ((k - 1).bit_length() - 1)
        product = backend.multiply(polys[high], polys[k - high])
        polys[k] = backend.sub(backend.add(product, product), polys[2 * high - k])
    return polys


def _chebyshev(backend: SlotBackend[V], t: V, degree: int) -> dict[int, V]:
    """T_1..T_degree of t; T_k at level t.level + ceil(log2 k)."""
    polys: dict[int, V] = {1: t}
    for k in range(2, degree + 1):
        half = 1 << ((k - 1).bit_length() - 1)
        product = backend.multiply(polys[half], polys[k - half])
        doubled = backend.add(product, product)
        if half == k - half:
            polys[k] = backend.add_plain(doubled, -1.0)
        else:
            polys[k] = backend.sub(doubled, polys[2 * half - k])
    return polys


class CalibrationCircuit:
    """Point: p(t_k) per class (depth 5). Batch: slot-summed sign polynomial of the client's
    rank positions, over all classes and over the true classes (depth 5)."""

    circuit_id: ClassVar[str] = "calibration"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"mode": "point"|"batch", "quantiles": K numbers in [lo, lo + R], "score_range":
        R > 0, "classes": K, "points": n}``, optionally ``score_offset`` lo and the quantile
        rule's keys (see
        :func:`~regaudit.shared.primitives.calibration.layout.validate_public`)."""
        return validate_public(public)

    def columns(self, public: PublicInputs) -> list[str]:
        return ["position"] if public["mode"] == "batch" else ["score"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        if public["mode"] == "point":
            return float(np.abs(layout.SIGN_COEFFICIENTS).sum())
        mu_set, mu_cov = batch_scales(public)
        bound = 1.0 + layout.BATCH_SIGN_ERROR
        return float(
            bound * max(mu_set * public["points"] * public["classes"], mu_cov * public["points"])
        )

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Point: [T_1, T_3, ..., T_15](t). Batch: [A, B], the slot-wise sign polynomial of
        the positions times mu_set on the class slots, resp. mu_cov on the true-class slots."""
        for name in self.columns(public):
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        if public["mode"] == "point":
            if block_for(public["classes"]) > backend.slot_count:
                raise CircuitError("too many classes for the slots", field="classes")
            t = backend.add_plain(inputs["score"], quantile_pattern(public, backend.slot_count))
            polys = _chebyshev(backend, t, SIGN_DEGREE)
            return [polys[k] for k in range(1, SIGN_DEGREE + 1, 2)]
        if batch_block_for(public["classes"]) > backend.slot_count:
            raise CircuitError("too many classes for the slots", field="classes")
        polys = _odd_chebyshev(backend, inputs["position"], BATCH_DEGREE)
        mask_set, mask_cov = batch_masks(public, backend.slot_count)
        mu_set, mu_cov = batch_scales(public)
        sums: list[V] = []
        for mask, mu in ((mask_set, mu_set), (mask_cov, mu_cov)):
            by_level: dict[int, list[V]] = {}
            for k in range(1, BATCH_DEGREE + 1, 2):
                term = backend.multiply_plain(
                    polys[k], mask * (mu * layout.BATCH_SIGN_COEFFICIENTS[k])
                )
                by_level.setdefault(term.level, []).append(term)
            total: V | None = None
            for level in sorted(by_level):
                partial = backend.add_many(by_level[level])
                total = partial if total is None else backend.add(total, partial)
            assert total is not None
            sums.append(total)
        return sums

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Point: sum_k c_k T_k masked to the K class slots (coefficients in the mask).
        Batch: both sums slot-summed over the whole vector (every slot holds the total)."""
        if public["mode"] == "batch":
            if len(accumulators) != 2:
                raise CircuitError("expected 2 accumulators", field="accumulators")
            return [backend.slot_sum(accumulator) for accumulator in accumulators]
        by_level: dict[int, list[V]] = {}
        expected = (SIGN_DEGREE + 1) // 2
        if len(accumulators) != expected:
            raise CircuitError(f"expected {expected} accumulators", field="accumulators")
        for index, accumulator in enumerate(accumulators):
            mask = np.zeros(backend.slot_count)
            mask[: public["classes"]] = layout.SIGN_COEFFICIENTS[2 * index + 1]
            masked = backend.multiply_plain(accumulator, mask)
            by_level.setdefault(masked.level, []).append(masked)
        result: V | None = None
        for level in sorted(by_level):
            partial = backend.add_many(by_level[level])
            result = partial if result is None else backend.add(result, partial)
        assert result is not None
        return [result]


__all__ = ["CalibrationCircuit", "batch_masks", "quantile_pattern"]
