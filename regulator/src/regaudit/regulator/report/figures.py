"""The plots of each primitive's report, as data (:class:`~regaudit.regulator.report.plots.Plot`).

Names (the ``data-plot`` attribute of the HTML): fairness ``selection_rate``,
``true_positive_rate``, ``false_positive_rate``, ``precision`` (per group, Wilson intervals as
whiskers where the result has a bias audit, the reference group marked, the four-fifths line at
τ x the reference rate on the selection rate); drift ``drift_distance`` and ``drift_w1`` (per
feature, thresholds as lines, error bounds / certified W1 ranges as whiskers); calibration
``coverage`` (against the target 1 - alpha); concordance ``concordance`` (C with its bound, 0.5
marked); disagreement ``disagreement`` (per model); provenance ``provenance_totals`` (per
bucket, the top-K marked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regaudit.regulator.report.plots import Bar, Plot, RefLine, bar, number
from regaudit.regulator.report.values import format_value
from regaudit.shared.evidence.result_policy import ResultPolicy

#: The four per-group rates of a fairness result, with their chart titles.
FAIRNESS_RATES: Mapping[str, str] = {
    "selection_rate": "Selection rate per group",
    "true_positive_rate": "True positive rate per group",
    "false_positive_rate": "False positive rate per group",
    "precision": "Precision per group",
}
#: Plot names of each primitive (what its report draws).
PLOT_NAMES: Mapping[str, tuple[str, ...]] = {
    "fairness": tuple(FAIRNESS_RATES),
    "drift": ("drift_distance", "drift_w1"),
    "calibration": ("coverage",),
    "concordance": ("concordance",),
    "disagreement": ("disagreement",),
    "provenance": ("provenance_totals",),
}
#: Chance level of the C-index.
CHANCE_C_INDEX = 0.5
REFERENCE_MARK = "reference"
TOP_K_MARK = "top-K"


def num(value: object) -> float | None:
    """A finite number as float, else None (undefined)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _plot(name: str, title: str, caption: str, y_label: str, bars: list[Bar]) -> Plot:
    return {
        "name": name,
        "title": title,
        "caption": caption,
        "y_label": y_label,
        "bars": bars,
        "lines": [],
    }


def _line(label: str, value: float) -> RefLine:
    return {"label": label, "value": value}


def _bounded(value: float | None, bound: object) -> tuple[float | None, float | None]:
    """(low, high) of ``value ± bound`` when the bound is positive, else (None, None)."""
    width = num(bound)
    if value is None or width is None or width <= 0.0:
        return None, None
    return value - width, value + width


def reference_group(result: Mapping[str, Any], policy: ResultPolicy) -> str | None:
    """The group impact ratios compare against: the policy's reference group when the result
    has it, else the bias audit's reference, else the group with the highest selection rate."""
    groups = result.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        return None
    if policy.reference_group in groups:
        return policy.reference_group
    audit = result.get("bias_audit")
    if isinstance(audit, Mapping) and audit.get("reference") in groups:
        return str(audit["reference"])
    rates = {str(k): num(v.get("selection_rate")) for k, v in groups.items()}
    defined = {k: v for k, v in rates.items() if v is not None}
    return max(defined, key=lambda k: defined[k]) if defined else None


def _interval(result: Mapping[str, Any], group: str, metric: str) -> tuple[float | None, ...]:
    audit = result.get("bias_audit")
    if not isinstance(audit, Mapping):
        return None, None
    category = audit.get("categories", {}).get(group)
    if not isinstance(category, Mapping):
        return None, None
    ci = (
        category.get("selection_rate_ci")
        if metric == "selection_rate"
        else category.get("rate_ci", {}).get(metric)
    )
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return num(ci[0]), num(ci[1])
    return None, None


def _fairness(result: Mapping[str, Any], policy: ResultPolicy, _: Mapping[str, Any]) -> list[Plot]:
    groups = result.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        return []
    reference = reference_group(result, policy)
    plots: list[Plot] = []
    for metric, title in FAIRNESS_RATES.items():
        bars = []
        for name, fields in groups.items():
            low, high = _interval(result, str(name), metric)
            mark = REFERENCE_MARK if name == reference else ""
            bars.append(bar(str(name), num(fields.get(metric)), low=low, high=high, mark=mark))
        caption = (
            f"{title}; reference group: {reference if reference is not None else 'none'}; "
            "whiskers: 95 % Wilson confidence intervals where computed; an undefined rate (no "
            "one in its denominator) is shown as a gap."
        )
        plot = _plot(metric, title, caption, metric.replace("_", " "), bars)
        if metric == "selection_rate" and reference is not None:
            base = num(groups[reference].get("selection_rate"))
            if base is not None:
                tau = policy.four_fifths
                plot["lines"].append(_line(f"four-fifths ({number(tau)} x reference)", tau * base))
        plots.append(plot)
    return plots


def _threshold_line(
    policy_value: float | None, audit_value: float | None, what: str
) -> list[RefLine]:
    if policy_value is not None:
        return [_line(f"{what} (policy)", policy_value)]
    if audit_value is not None:
        return [_line(f"{what} (audit)", audit_value)]
    return []


def _drift(result: Mapping[str, Any], policy: ResultPolicy, _: Mapping[str, Any]) -> list[Plot]:
    features = [f for f in result.get("features", []) if isinstance(f, Mapping)]
    labels = [str(f.get("name", f"feature {i}")) for i, f in enumerate(features)]
    distance_bars, w1_bars = [], []
    for label, feature in zip(labels, features, strict=True):
        distance = num(feature.get("distance"))
        low, high = _bounded(distance, feature.get("distance_error_bound"))
        distance_bars.append(bar(label, distance, low=low, high=high))
        w1 = num(feature.get("w1_distance"))
        w1_low, w1_high = (
            num(feature.get("w1_certified_low")),
            num(feature.get("w1_certified_high")),
        )
        if w1_low is None or w1_high is None or w1_low == w1_high:
            w1_low, w1_high = _bounded(w1, feature.get("w1_error_bound"))
        w1_bars.append(bar(label, w1, low=w1_low, high=w1_high))
    distance_plot = _plot(
        "drift_distance",
        "Drift distance per feature",
        "Squared CDF distance per feature; whiskers: the CKKS error bound.",
        "distance",
        distance_bars,
    )
    distance_plot["lines"] = _threshold_line(
        policy.threshold("drift.distance"), num(result.get("drift_threshold")), "threshold"
    )
    w1_plot = _plot(
        "drift_w1",
        "Wasserstein-1 distance per feature",
        "W1 per feature in the feature's units; whiskers: the certified range or error bound.",
        "W1",
        w1_bars,
    )
    w1_plot["lines"] = _threshold_line(policy.threshold("drift.w1_distance"), None, "threshold")
    return [distance_plot, w1_plot]


def _calibration(
    result: Mapping[str, Any], policy: ResultPolicy, public: Mapping[str, Any]
) -> list[Plot]:
    coverage = num(result.get("coverage"))
    low, high = _bounded(coverage, result.get("coverage_error_bound"))
    plot = _plot(
        "coverage",
        "Coverage of the prediction sets",
        "Share of cases whose true label is in the conformal prediction set, against the "
        "target 1 - alpha; whisker: the CKKS error bound.",
        "coverage",
        [bar("coverage", coverage, low=low, high=high)],
    )
    alpha = num(result.get("alpha", public.get("alpha")))
    if alpha is not None:
        plot["lines"].append(_line("target 1 - alpha", 1.0 - alpha))
    plot["lines"] += _threshold_line(policy.threshold("calibration.coverage"), None, "threshold")
    return [plot]


def _concordance(
    result: Mapping[str, Any], policy: ResultPolicy, _: Mapping[str, Any]
) -> list[Plot]:
    c_index = num(result.get("c_index"))
    low, high = _bounded(c_index, result.get("c_index_error_bound"))
    plot = _plot(
        "concordance",
        "Concordance (C-index)",
        "Harrell's C with its error bound as a whisker; 0.5 is chance level.",
        "C-index",
        [bar("C-index", c_index, low=low, high=high)],
    )
    plot["lines"].append(_line("chance", CHANCE_C_INDEX))
    plot["lines"] += _threshold_line(policy.threshold("concordance.c_index"), None, "threshold")
    return [plot]


def _sequence(value: object) -> Sequence[object]:
    return value if isinstance(value, list | tuple) else []


def _disagreement(
    result: Mapping[str, Any], policy: ResultPolicy, _: Mapping[str, Any]
) -> list[Plot]:
    del policy
    means = _sequence(result.get("per_model_mean_outputs"))
    bounds = _sequence(result.get("per_model_error_bounds"))
    bars = []
    for index, mean in enumerate(means):
        value = num(mean)
        low, high = _bounded(value, bounds[index] if index < len(bounds) else None)
        bars.append(bar(f"model {index}", value, low=low, high=high))
    caption = (
        "Mean output per model (whiskers: error bounds); the mean pairwise squared difference "
        f"is {format_value(result.get('mean_pairwise_squared_difference'))}."
    )
    return [_plot("disagreement", "Mean output per model", caption, "mean output", bars)]


def _provenance(
    result: Mapping[str, Any], policy: ResultPolicy, _: Mapping[str, Any]
) -> list[Plot]:
    del policy
    top = {int(i) for i in _sequence(result.get("top_k_ids")) if isinstance(i, int)}
    bound = result.get("error_bound")
    bars = []
    for index, total in enumerate(_sequence(result.get("bucket_totals"))):
        value = num(total)
        low, high = _bounded(value, bound)
        mark = TOP_K_MARK if index in top else ""
        bars.append(bar(f"bucket {index}", value, low=low, high=high, mark=mark))
    caption = f"Total per bucket; the top {result.get('k')!s} buckets are marked."
    return [_plot("provenance_totals", "Bucket totals", caption, "total", bars)]


_BUILDERS: Mapping[
    str, Callable[[Mapping[str, Any], ResultPolicy, Mapping[str, Any]], list[Plot]]
] = {
    "fairness": _fairness,
    "drift": _drift,
    "calibration": _calibration,
    "concordance": _concordance,
    "disagreement": _disagreement,
    "provenance": _provenance,
}


def plots_for(
    primitive: str,
    result: Mapping[str, Any],
    policy: ResultPolicy,
    public_inputs: Mapping[str, Any],
) -> list[Plot]:
    """The plots of a verified result of ``primitive`` (none for an unknown primitive)."""
    builder = _BUILDERS.get(primitive)
    return [] if builder is None else builder(result, policy, public_inputs)


__all__ = [
    "CHANCE_C_INDEX",
    "FAIRNESS_RATES",
    "PLOT_NAMES",
    "num",
    "plots_for",
    "reference_group",
]
