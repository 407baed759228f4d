"""The seed-compatible view of a result: regaudit-fhe 0.1.0's output objects.

Tooling written for the seed library (regaudit-fhe 0.1.0) reads its ``<primitive>.output``
objects, whose schemas forbid extra properties. Our reports carry more (per-group counts, error
bounds, indeterminate decisions) and, for three primitives, other names. :func:`seed_compatible`
maps a released report to exactly the seed's fields:

============  =======================================  ========================================
primitive     seed field                               from our report
============  =======================================  ========================================
fairness      demographic_parity_diff,                 the seed's formulas on our exact
              equal_opportunity_diff,                  per-group counts (see below)
              predictive_parity_diff,
              threshold_breached
concordance   concordant_pairs, comparable_pairs,      the same names
              c_index
calibration   membership, set_size                     the same names (one point only)
drift         distance, w1_distance, drift_bit         ``drift_detected`` -> ``drift_bit``
disagreement  pairwise_variance, breach,               ``mean_pairwise_squared_difference``,
              per_model_outputs                        ``threshold_breached``,
                                                       ``per_model_mean_outputs``
provenance    bucket_aggregates, topk_indices,         ``bucket_totals``, ``top_k_ids``,
              topk_indicator                           ``top_k_indicator``
============  =======================================  ========================================

Fairness follows the seed's definitions, computed from our exact integer counts: with the binary
``group_a``/``group_b`` form each difference is signed, rate(group_a) - rate(group_b), and a rate
with a zero denominator is taken with denominator 1 (the seed's convention: 0, where our own
report says undefined); ``threshold_breached`` is the seed's rule max(|dp|, |eo|, |pp|) >
threshold (ours also counts the false-positive-rate gap). With a categorical group column there
is no "a minus b": two groups give rate(first) - rate(second) in the report's (sorted) group
order, more groups the spread max - min (never negative).

What the seed schemas cannot express is refused, never guessed
(:class:`~regaudit.shared.errors.SeedIncompatibleError`, reason ``seed_incompatible``): a
decision our report calls ``"indeterminate"`` (the value lies within its error bound of the
threshold; the seed has only booleans), a calibration batch (coverage, mean set size: the seed
describes one point), a membership within its noise bound of the quantile, a top-K whose ranks
are not determined by the error bound, an undefined C-index. Error bounds are dropped: the seed
has no field for them, so an approximate value (C-index, W1 distance) reads as a plain number
in this view; the full result keeps its bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from regaudit.shared.errors import SeedIncompatibleError

#: The seed's output fields per primitive (its ``<primitive>.output.schema.json``, all required,
#: no other property allowed).
SEED_OUTPUT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "fairness": (
        "demographic_parity_diff",
        "equal_opportunity_diff",
        "predictive_parity_diff",
        "threshold_breached",
    ),
    "provenance": ("bucket_aggregates", "topk_indices", "topk_indicator"),
    "concordance": ("concordant_pairs", "comparable_pairs", "c_index"),
    "calibration": ("membership", "set_size"),
    "drift": ("distance", "w1_distance", "drift_bit"),
    "disagreement": ("pairwise_variance", "breach", "per_model_outputs"),
}


def seed_compatible(primitive: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` (a released report of ``primitive``) as regaudit-fhe 0.1.0's output object.

    Raises SeedIncompatibleError naming the field when the seed's schema cannot express it
    (an unknown primitive included)."""
    convert = _CONVERTERS.get(primitive)
    if convert is None:
        raise SeedIncompatibleError(
            f"regaudit-fhe 0.1.0 has no {primitive!r} primitive "
            f"(it has {', '.join(SEED_OUTPUT_FIELDS)})",
            field="primitive",
        )
    view = convert(result)
    if tuple(view) != SEED_OUTPUT_FIELDS[primitive]:  # pragma: no cover - a converter bug
        raise SeedIncompatibleError(f"the {primitive} view has fields {list(view)}")
    return view


# --- per primitive ------------------------------------------------------------------------------


def _decision(result: Mapping[str, Any], name: str, seed_name: str) -> bool:
    value = result.get(name)
    if isinstance(value, bool):
        return value
    state = "indeterminate (within its error bound of the threshold)"
    if value is None:
        state = "undefined"
    raise SeedIncompatibleError(
        f"{name} is {state}; the seed's {seed_name!r} is a boolean, so this result has no "
        "seed-compatible form (the full result states it)",
        field=name,
    )


def _number(result: Mapping[str, Any], name: str, *, non_negative: bool = False) -> float:
    value = result.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SeedIncompatibleError(
            f"{name} is {'undefined' if value is None else type(value).__name__}; the seed "
            "schema requires a number",
            field=name,
        )
    if non_negative and value < 0:
        raise SeedIncompatibleError(
            f"{name} is negative after rounding; the seed schema requires a value >= 0",
            field=name,
        )
    return float(value) if isinstance(value, float) else int(value)


def _numbers(result: Mapping[str, Any], name: str) -> list[float]:
    values = result.get(name)
    if not isinstance(values, list | tuple):
        raise SeedIncompatibleError(f"{name} is missing from the result", field=name)
    return [_number({name: v}, name) for v in values]


def _fairness(result: Mapping[str, Any]) -> dict[str, Any]:
    groups: Mapping[str, Mapping[str, Any]] = result.get("groups") or {}
    names = list(groups)
    if len(names) < 2:
        raise SeedIncompatibleError("the result has fewer than two groups", field="groups")
    rates = {name: _seed_rates(groups[name], name) for name in names}
    signed = len(names) == 2  # group_a - group_b in the binary form, as the seed

    def diff(rate: str) -> Fraction:
        values = [rates[name][rate] for name in names]
        if signed:
            return values[0] - values[1]
        return max(values) - min(values)

    dp, eo, pp = diff("selection"), diff("tpr"), diff("precision")
    threshold = Fraction(_number(result, "threshold"))
    return {
        "demographic_parity_diff": float(dp),
        "equal_opportunity_diff": float(eo),
        "predictive_parity_diff": float(pp),
        "threshold_breached": max(abs(dp), abs(eo), abs(pp)) > threshold,
    }


def _seed_rates(counts: Mapping[str, Any], group: str) -> dict[str, Fraction]:
    """The seed's rates of one group from its exact counts (a zero denominator counts as 1)."""
    try:
        n, pos, pred, tp = (
            int(counts[key])
            for key in ("count", "positives", "predicted_positives", "true_positives")
        )
    except (KeyError, TypeError, ValueError):
        raise SeedIncompatibleError(
            f"group {group!r} has no exact counts in the result", field="groups"
        ) from None
    return {
        "selection": Fraction(pred, max(n, 1)),
        "tpr": Fraction(tp, max(pos, 1)),
        "precision": Fraction(tp, max(pred, 1)),
    }


def _concordance(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "concordant_pairs": _number(result, "concordant_pairs", non_negative=True),
        "comparable_pairs": _number(result, "comparable_pairs", non_negative=True),
        "c_index": _number(result, "c_index", non_negative=True),
    }


def _calibration(result: Mapping[str, Any]) -> dict[str, Any]:
    membership = result.get("membership")
    if not isinstance(membership, list | tuple):
        raise SeedIncompatibleError(
            "a calibration batch (coverage, mean set size) has no seed-compatible form: the "
            "seed's calibration output describes one point (membership, set_size)",
            field="membership",
        )
    if any(m not in (0, 1) or isinstance(m, bool) for m in membership):
        raise SeedIncompatibleError(
            "a class's membership is indeterminate (its score lies within the noise bound of "
            "the quantile); the seed's membership is 0 or 1",
            field="membership",
        )
    return {"membership": [int(m) for m in membership], "set_size": int(sum(membership))}


def _drift(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "distance": _number(result, "distance", non_negative=True),
        "w1_distance": _number(result, "w1_distance", non_negative=True),
        "drift_bit": _decision(result, "drift_detected", "drift_bit"),
    }


def _disagreement(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pairwise_variance": _number(result, "mean_pairwise_squared_difference", non_negative=True),
        "breach": _decision(result, "threshold_breached", "breach"),
        "per_model_outputs": _numbers(result, "per_model_mean_outputs"),
    }


def _provenance(result: Mapping[str, Any]) -> dict[str, Any]:
    if result.get("top_k_determined") is False:
        raise SeedIncompatibleError(
            "the top-K is not determined within the error bound (ranks "
            f"{list(result.get('indeterminate_ranks') or [])} are indeterminate); the seed's "
            "topk_indices has no way to say so",
            field="top_k_ids",
        )
    ids: Sequence[Any] = result.get("top_k_ids") or []
    indicator: Sequence[Any] = result.get("top_k_indicator") or []
    return {
        "bucket_aggregates": _numbers(result, "bucket_totals"),
        "topk_indices": [int(i) for i in ids],
        "topk_indicator": [int(i) for i in indicator],
    }


_CONVERTERS: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "fairness": _fairness,
    "provenance": _provenance,
    "concordance": _concordance,
    "calibration": _calibration,
    "drift": _drift,
    "disagreement": _disagreement,
}


__all__ = ["SEED_OUTPUT_FIELDS", "seed_compatible"]
