"""Fairness: the evaluator's half -- the circuit run on the encrypted columns.

Imports only generic shared code and :mod:`.layout` (an import-linter contract keeps the
client's, regulator's and reference modules out of the evaluator's reach).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import SlotBackend, V, strided_sum
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError, InputError
from regaudit.shared.primitives.fairness.layout import (
    COUNT_TOLERANCE,
    MAX_GROUPS,
    MIN_GROUPS,
    SCORE_ABOVE_MEDIAN,
    block_width,
    check_group_name,
    check_threshold,
    describe,
    group_column,
    max_rows,
    output_scale,
)

#: Optional public inputs of the bias audit (regulator side; the circuit ignores them).
_OPTIONAL_PUBLIC = frozenset(
    {"reference_group", "exclude_small", "selection_basis", "score_median"}
)


def _selection_basis(public: Mapping[str, Any]) -> dict[str, Any]:
    """The scoring-rate public inputs: both keys, the basis SCORE_ABOVE_MEDIAN and a finite
    median; InputError naming the key otherwise."""
    if public.get("selection_basis") != SCORE_ABOVE_MEDIAN:
        raise InputError(f"must be {SCORE_ABOVE_MEDIAN!r}", field="selection_basis")
    median = public.get("score_median")
    if isinstance(median, bool) or not isinstance(median, int | float):
        raise InputError(f"must be a number, got {describe(median)}", field="score_median")
    if not math.isfinite(median):
        raise InputError("must be a finite number", field="score_median")
    return {"selection_basis": SCORE_ABOVE_MEDIAN, "score_median": float(median)}


class FairnessCircuit:
    """Per-group counts of rows, predicted positives, positives and true positives. Depth 3."""

    circuit_id: ClassVar[str] = "fairness"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"threshold": number in [0, 1], "groups": [2..64 unique names]}``, optionally
        ``"reference_group"`` (one of the groups) and ``"exclude_small"`` (boolean) for the bias
        audit, and ``"selection_basis": "score_above_median"`` with ``"score_median"`` (a finite
        number) when y_pred was derived from scores; an optional key is returned only when
        given, so older public inputs are unchanged."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - {"threshold", "groups", *_OPTIONAL_PUBLIC})
        if unknown:
            raise InputError("unknown public input", field=str(unknown[0]))
        for key in ("threshold", "groups"):
            if key not in public:
                raise InputError("is required", field=key)
        threshold = check_threshold(public["threshold"])
        groups = public["groups"]
        if not isinstance(groups, list | tuple):
            raise InputError(
                f"must be a list of group names, got {describe(groups)}", field="groups"
            )
        if not MIN_GROUPS <= len(groups) <= MAX_GROUPS:
            raise InputError(
                f"needs {MIN_GROUPS} to {MAX_GROUPS} groups, got {len(groups)}", field="groups"
            )
        for index, name in enumerate(groups):
            check_group_name(name, where=f"groups[{index}]")
        if len(set(groups)) != len(groups):
            raise InputError("group names must be unique", field="groups")
        result: dict[str, Any] = {"threshold": threshold, "groups": [str(name) for name in groups]}
        if "reference_group" in public:
            if public["reference_group"] not in result["groups"]:
                raise InputError("must be one of the groups", field="reference_group")
            result["reference_group"] = str(public["reference_group"])
        if "exclude_small" in public:
            if not isinstance(public["exclude_small"], bool):
                raise InputError("must be a boolean", field="exclude_small")
            result["exclude_small"] = public["exclude_small"]
        if "selection_basis" in public or "score_median" in public:
            result.update(_selection_basis(public))
        return result

    def columns(self, public: PublicInputs) -> list[str]:
        return ["y_true", "y_pred", *(group_column(name) for name in public["groups"])]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """Counts are at most ``rows``; the output carries them times the output scale. Refuses
        (InputError, field ``rows``) audits beyond MAX_FAIRNESS_ROWS, whose counts would not be
        exact."""
        if rows > max_rows():
            raise InputError(
                f"{rows} rows exceed the fairness limit of {max_rows()} rows (beyond it CKKS "
                "noise could make counts inexact)",
                field="rows",
            )
        return float(rows * output_scale(rows))

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Per group: [g, g*y_pred, g*y_true, (g*y_true)*y_pred] at levels +0, +1, +1, +2."""
        missing = [name for name in self.columns(public) if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        y_true = inputs["y_true"]
        y_pred = inputs["y_pred"]
        # y_pred raised one level once per chunk, shared by every group's true-positive product
        y_pred_deep = backend.align(y_pred, y_pred.level + 1)
        accumulators: list[V] = []
        for name in public["groups"]:
            member = inputs[group_column(name)]
            positives = backend.multiply(member, y_true)
            accumulators += [
                member,
                backend.multiply(member, y_pred),
                positives,
                backend.multiply(positives, y_pred_deep),
            ]
        return accumulators

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Pack the 4K totals into one output vector (layout: see :mod:`.layout`).

        Per accumulator: slot-sum over width W, multiply by S at slots s mod W == 4k + j and 0
        elsewhere. Add all masked vectors (per level first, so only two alignments are needed),
        then finish the slot-sum over the N/W blocks (stride W) once. Both sums are radix-r
        trees rotating only by powers of the profile's slot-sum radix r."""
        groups = public["groups"]
        count = 4 * len(groups)
        if len(accumulators) != count:
            raise CircuitError(
                f"expected {count} accumulators, got {len(accumulators)}", field="accumulators"
            )
        width = block_width(len(groups))
        slots = backend.slot_count
        if slots < width or slots % width:
            raise CircuitError("too few slots for the output layout", field="groups")
        scale = float(output_scale(rows))
        masked: dict[int, list[V]] = {}
        for position, accumulator in enumerate(accumulators):
            mask = np.zeros(slots, dtype=np.float64)
            mask[position::width] = scale
            partial = backend.multiply_plain(backend.slot_sum(accumulator, width=width), mask)
            masked.setdefault(partial.level, []).append(partial)
        # shallowest first: each add_many result is aligned once to the next level
        result: V | None = None
        for level in sorted(masked):
            same_level = backend.add_many(masked[level])
            result = same_level if result is None else backend.add(result, same_level)
        assert result is not None
        return [strided_sum(backend, result, stride=width, count=slots // width)]

    def output_tolerance(self, rows: int, public: PublicInputs) -> float:
        """The client's output check: a slot may differ from the oracle by less than the
        decoder's COUNT_TOLERANCE (in counts), so no forged deviation survives rounding."""
        return COUNT_TOLERANCE * output_scale(rows)


__all__ = ["FairnessCircuit"]
