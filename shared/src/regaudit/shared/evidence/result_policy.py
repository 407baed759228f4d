"""The result policy of a trust store: the regulator's own thresholds for the audit's decisions.

Stored in the trust store as the optional field ``result_policy``::

    {"thresholds": {"fairness.demographic_parity_diff": 0.1, "concordance.c_index": 0.7, ...},
     "four_fifths": 0.8, "reference_group": null | "<group>"}

A threshold named here overrides the client-declared one (the audit's ``threshold`` /
``drift_threshold``) when the regulator gates on the outcome (``regaudit-regulator verify
--fail-on-breach``, :mod:`regaudit.regulator.result_policy`). Each metric has a direction:
``max`` metrics pass when the value is at most the threshold, ``min`` metrics when it is at
least the threshold (:data:`POLICY_METRICS`). A store without the field has no thresholds,
τ = 0.8 and no reference group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regaudit.shared.errors import InputError

#: Metric name (``<primitive>.<result field>``) -> direction: ``max`` (value <= threshold
#: passes) or ``min`` (value >= threshold passes).
POLICY_METRICS: Mapping[str, str] = {
    "fairness.demographic_parity_diff": "max",
    "fairness.equal_opportunity_diff": "max",
    "fairness.predictive_parity_diff": "max",
    "fairness.equalized_odds_fpr_diff": "max",
    "fairness.equalized_odds_diff": "max",
    "fairness.max_gap": "max",
    "drift.distance": "max",
    "drift.w1_distance": "max",
    "disagreement.mean_pairwise_squared_difference": "max",
    "concordance.c_index": "min",
    "calibration.coverage": "min",
}
#: Default four-fifths τ: an impact ratio below it is adverse impact (EEOC 29 CFR 1607.4(D)).
DEFAULT_FOUR_FIFTHS = 0.8
#: Largest magnitude a policy threshold may have (every metric is a rate, distance or index).
MAX_THRESHOLD = 1e6
#: Longest reference-group name.
MAX_GROUP_CHARS = 256
POLICY_FIELDS = ("thresholds", "four_fifths", "reference_group")


def _number(value: object, field_name: str) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or abs(value) > MAX_THRESHOLD
    ):
        raise InputError(
            f"must be a finite number of magnitude <= {MAX_THRESHOLD:g}", field=field_name
        )
    return float(value)


def _metric(name: object, field_name: str) -> str:
    if not isinstance(name, str) or name not in POLICY_METRICS:
        raise InputError(f"unknown metric; one of {', '.join(POLICY_METRICS)}", field=field_name)
    return name


def _tau(value: object, field_name: str) -> float:
    tau = _number(value, field_name)
    if not 0.0 < tau <= 1.0:
        raise InputError("must be in (0, 1]", field=field_name)
    return tau


def _group(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_GROUP_CHARS:
        raise InputError(
            f"must be a non-empty string of at most {MAX_GROUP_CHARS} characters", field=field_name
        )
    return value


@dataclass(frozen=True)
class ResultPolicy:
    """The regulator's thresholds, four-fifths τ and reference group (validated on creation)."""

    thresholds: Mapping[str, float] = field(default_factory=dict)
    four_fifths: float = DEFAULT_FOUR_FIFTHS
    reference_group: str | None = None

    def __post_init__(self) -> None:
        checked = {
            _metric(name, f"result_policy.thresholds.{name}"): _number(
                value, f"result_policy.thresholds.{name}"
            )
            for name, value in self.thresholds.items()
        }
        object.__setattr__(self, "thresholds", dict(sorted(checked.items())))
        _tau(self.four_fifths, "result_policy.four_fifths")
        _group(self.reference_group, "result_policy.reference_group")

    def threshold(self, metric: str) -> float | None:
        """The policy threshold of ``metric`` (``<primitive>.<field>``), None if unset."""
        return self.thresholds.get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": dict(self.thresholds),
            "four_fifths": self.four_fifths,
            "reference_group": self.reference_group,
        }

    @classmethod
    def from_dict(cls, data: object) -> ResultPolicy:
        """Strictly validate a ``result_policy`` object; InputError names the field."""
        if not isinstance(data, Mapping):
            raise InputError("must be a JSON object", field="trust.result_policy")
        extra = sorted(set(data) - set(POLICY_FIELDS))
        if extra:
            raise InputError("unexpected field", field=f"trust.result_policy.{extra[0]}")
        thresholds = data.get("thresholds", {})
        if not isinstance(thresholds, Mapping):
            raise InputError("must be a JSON object", field="trust.result_policy.thresholds")
        return cls(
            thresholds=dict(thresholds),
            four_fifths=_tau(
                data.get("four_fifths", DEFAULT_FOUR_FIFTHS), "trust.result_policy.four_fifths"
            ),
            reference_group=_group(
                data.get("reference_group"), "trust.result_policy.reference_group"
            ),
        )


def parse_threshold_option(text: str) -> tuple[str, float]:
    """``METRIC=VALUE`` (the ``trust policy --threshold`` option) as (metric, value)."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise InputError("must be METRIC=VALUE", field="threshold")
    try:
        value = float(raw)
    except ValueError as exc:
        raise InputError(f"{raw!r:.40} is not a number", field="threshold") from exc
    return _metric(name.strip(), "threshold"), _number(value, "threshold")


def with_settings(
    policy: ResultPolicy,
    *,
    thresholds: Mapping[str, float],
    four_fifths: float | None,
    reference_group: str | None,
) -> ResultPolicy:
    """``policy`` with the given thresholds added (replacing same-named ones), τ and reference
    group replaced where given."""
    return ResultPolicy(
        thresholds={**policy.thresholds, **thresholds},
        four_fifths=policy.four_fifths if four_fifths is None else _tau(four_fifths, "four-fifths"),
        reference_group=policy.reference_group
        if reference_group is None
        else _group(reference_group, "reference-group"),
    )


__all__ = [
    "DEFAULT_FOUR_FIFTHS",
    "MAX_THRESHOLD",
    "POLICY_METRICS",
    "ResultPolicy",
    "parse_threshold_option",
    "with_settings",
]
