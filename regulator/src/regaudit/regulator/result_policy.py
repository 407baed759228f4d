"""Policy gates: the decisions of a verified audit and whether they pass the regulator's policy.

``regaudit-regulator verify --fail-on-breach`` exits :data:`EXIT_BREACH` when the evidence
verified but a decision breached (an indeterminate decision counts as a breach unless
``--indeterminate-ok``). The decisions are collected from the primitive's decoded result by one
extractor per primitive (:data:`EXTRACTORS`); each names the threshold it used and where it came
from: ``policy`` (the trust store's ``result_policy``, which overrides the client's) or ``audit``
(the threshold the client declared in the audit's public inputs).

Statuses: ``pass``, ``breach`` and ``indeterminate`` (the value is undefined, or lies within
its error bound of the threshold, so the audit cannot tell). Provenance has no decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from regaudit.shared.evidence.result_policy import POLICY_METRICS, ResultPolicy

#: Exit code of ``verify --fail-on-breach`` when the evidence verified but a decision breached.
EXIT_BREACH = 4
Status = Literal["pass", "breach", "indeterminate"]
PASS: Status = "pass"  # noqa: S105 - a status, not a password
BREACH: Status = "breach"
INDETERMINATE: Status = "indeterminate"
Source = Literal["policy", "audit"]
#: Metrics of a fairness result that a policy may gate (each ``fairness.<name>``).
FAIRNESS_METRICS = tuple(m.split(".", 1)[1] for m in POLICY_METRICS if m.startswith("fairness."))


@dataclass(frozen=True)
class Decision:
    """One gated decision: ``value`` compared with ``threshold`` (``direction`` ``max``: the value
    must be at most the threshold; ``min``: at least), from ``source``."""

    name: str
    value: float | None
    threshold: float
    status: Status
    source: Source
    direction: str = "max"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "status": self.status,
            "threshold_source": self.source,
            "direction": self.direction,
        }


def compare(
    value: float | None, threshold: float, *, direction: str = "max", bound: float = 0.0
) -> Status:
    """``value`` against ``threshold``: indeterminate if undefined or within ``bound`` of it."""
    if value is None or (bound > 0.0 and abs(value - threshold) <= bound):
        return INDETERMINATE
    ok = value <= threshold if direction == "max" else value >= threshold
    return PASS if ok else BREACH


def _from_flag(flag: object) -> Status:
    """A decoder's decision flag (True: breached, False: not, else indeterminate) as a status."""
    if flag is True:
        return BREACH
    if flag is False:
        return PASS
    return INDETERMINATE


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def noise_bound(result: Mapping[str, Any], metric: str) -> float | None:
    """For a DP release (:mod:`regaudit.regulator.privacy`): the half-width around the released
    ``metric`` of its noise interval (``|value - threshold| <= bound`` is a decision the noise
    could flip), or None when ``result`` is no DP release or has no interval for ``metric``. A
    gate comparing a released metric with a threshold uses it as the metric's error bound."""
    block = result.get("differential_privacy")
    value = result.get(metric)
    if not isinstance(block, Mapping) or not isinstance(value, int | float):
        return None
    analysis = block.get("flip_analysis")
    intervals = analysis.get("noise_intervals") if isinstance(analysis, Mapping) else None
    interval = intervals.get(metric) if isinstance(intervals, Mapping) else None
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return None
    low, high = (float(v) for v in interval)
    return max(abs(float(value) - low), abs(high - float(value)))


def _fairness(result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
    decisions: list[Decision] = []
    for metric in FAIRNESS_METRICS:
        value = _number(result.get(metric))
        threshold = policy.threshold(f"fairness.{metric}")
        if threshold is not None:
            # a DP release: within the noise of the threshold is indeterminate
            status = compare(value, threshold, bound=noise_bound(result, metric) or 0.0)
            decisions.append(Decision(metric, value, threshold, status, "policy"))
        elif metric == "max_gap" and _number(result.get("threshold")) is not None:
            # the decoder's decision (exact fractions): breached iff max_gap > threshold
            audit = float(result["threshold"])
            status = _from_flag(result.get("threshold_breached"))
            decisions.append(Decision(metric, value, audit, status, "audit"))
    ratios = _impact_ratios(result, policy.reference_group)
    if ratios is not None:
        defined = [v for v in ratios.values() if v is not None]
        lowest = min(defined) if defined else None
        tau = policy.four_fifths
        # under DP the lowest ratio against the highest rate is the released parity ratio, whose
        # noise interval bounds it; against a chosen reference (also a ratio of two noised
        # rates) the same interval is used as the estimate of its noise
        bound = noise_bound(result, "demographic_parity_ratio") or 0.0
        status = compare(lowest, tau, direction="min", bound=bound)
        decisions.append(Decision("min_impact_ratio", lowest, tau, status, "policy", "min"))
    return decisions


def _impact_ratios(
    result: Mapping[str, Any], reference: str | None
) -> Mapping[str, float | None] | None:
    """Impact ratios: against ``reference``'s selection rate when the policy names a group of
    the result, else the result's own (against the highest rate); None if it has none."""
    groups = result.get("groups")
    if reference is not None and isinstance(groups, Mapping) and reference in groups:
        base = _number(groups[reference].get("selection_rate"))
        ratios: dict[str, float | None] = {}
        for name, group in groups.items():
            rate = _number(group.get("selection_rate"))
            ratios[name] = None if rate is None or not base else rate / base
        return ratios
    own = result.get("impact_ratios")
    if not isinstance(own, Mapping) or not own:
        return None
    return {str(k): _number(v) for k, v in own.items()}


def _drift(result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
    decisions: list[Decision] = []
    audit = _number(result.get("drift_threshold"))
    distance_policy = policy.threshold("drift.distance")
    w1_policy = policy.threshold("drift.w1_distance")
    for index, feature in enumerate(result.get("features", [])):
        distance = _number(feature.get("distance"))
        if distance_policy is not None:
            bound = _number(feature.get("distance_error_bound")) or 0.0
            status = compare(distance, distance_policy, bound=bound)
            name = f"feature[{index}].distance"
            decisions.append(Decision(name, distance, distance_policy, status, "policy"))
        elif audit is not None:
            status = _from_flag(feature.get("drift_detected"))
            name = f"feature[{index}].distance"
            decisions.append(Decision(name, distance, audit, status, "audit"))
        if w1_policy is not None:
            w1 = _number(feature.get("w1_distance"))
            bound = _number(feature.get("w1_error_bound")) or 0.0
            status = compare(w1, w1_policy, bound=bound)
            name = f"feature[{index}].w1_distance"
            decisions.append(Decision(name, w1, w1_policy, status, "policy"))
    return decisions


def _disagreement(result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
    name = "mean_pairwise_squared_difference"
    value = _number(result.get(name))
    threshold = policy.threshold(f"disagreement.{name}")
    if threshold is not None:
        bound = _number(result.get("error_bound")) or 0.0
        return [Decision(name, value, threshold, compare(value, threshold, bound=bound), "policy")]
    audit = _number(result.get("threshold"))
    if audit is None:
        return []
    return [Decision(name, value, audit, _from_flag(result.get("threshold_breached")), "audit")]


def _minimum(
    primitive: str, metric: str
) -> Callable[[Mapping[str, Any], ResultPolicy], list[Decision]]:
    """An extractor for a ``min`` metric gated by the policy only (no audit threshold)."""

    def extract(result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
        threshold = policy.threshold(f"{primitive}.{metric}")
        if threshold is None or metric not in result:
            return []
        value = _number(result.get(metric))
        bound = _number(result.get(f"{metric}_error_bound")) or 0.0
        status = compare(value, threshold, direction="min", bound=bound)
        return [Decision(metric, value, threshold, status, "policy", "min")]

    return extract


def _none(result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
    del result, policy
    return []


#: Primitive name -> the extractor of its decisions.
EXTRACTORS: Mapping[str, Callable[[Mapping[str, Any], ResultPolicy], list[Decision]]] = {
    "fairness": _fairness,
    "drift": _drift,
    "disagreement": _disagreement,
    "concordance": _minimum("concordance", "c_index"),
    "calibration": _minimum("calibration", "coverage"),
    "provenance": _none,
}


def decisions_of(primitive: str, result: Mapping[str, Any], policy: ResultPolicy) -> list[Decision]:
    """The decisions of a verified result of ``primitive`` under ``policy``."""
    return EXTRACTORS.get(primitive, _none)(result, policy)


def gate(decisions: Sequence[Decision], *, indeterminate_ok: bool = False) -> str:
    """``breach`` if a decision breached (or is indeterminate, unless ``indeterminate_ok``)."""
    failing = {BREACH} if indeterminate_ok else {BREACH, INDETERMINATE}
    return BREACH if any(d.status in failing for d in decisions) else PASS


def outcome_json(
    decisions: Sequence[Decision], *, indeterminate_ok: bool = False
) -> dict[str, Any]:
    """The ``outcome`` object of ``verify --json --fail-on-breach``."""
    return {
        "decisions": [d.to_dict() for d in decisions],
        "gate": gate(decisions, indeterminate_ok=indeterminate_ok),
        "indeterminate_ok": indeterminate_ok,
    }


def outcome_text(outcome: Mapping[str, Any]) -> str:
    """The outcome for the terminal: one line per decision and the gate."""
    lines = [f"outcome gate: {str(outcome['gate']).upper()}"]
    for d in outcome["decisions"]:
        relation = "<=" if d["direction"] == "max" else ">="
        lines.append(
            f"  {d['status']:<13} {d['name']} = {d['value']} (must be {relation} "
            f"{d['threshold']}, threshold from {d['threshold_source']})"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "BREACH",
    "EXIT_BREACH",
    "EXTRACTORS",
    "INDETERMINATE",
    "PASS",
    "Decision",
    "compare",
    "decisions_of",
    "gate",
    "noise_bound",
    "outcome_json",
    "outcome_text",
]
