"""calibration under DP (batch form): the number of covered points ``C`` and the total set size
``S`` over the ``n`` points (``coverage = C / n``, ``mean_set_size = S / n``).

Both are exact counts: the batch decoder's error bound (a public function of ``n``, the classes
and the profile) is checked to be below half a count, so rounding ``coverage * n`` recovers
``C`` exactly (and ``S`` likewise). One point (the unit of privacy: one test individual) adds at
most 1 to ``C`` and at most K (its set holds at most all K classes) to ``S``; changing one point
moves them by the same: l1 = 1 + K, l2 = sqrt(1 + K^2). The quantiles are public inputs fixed
before the audit (from the vendor's calibration set, not the audited points), so a point does
not move them. The point form (one individual's prediction set) is refused: it has no aggregate
to protect, only that individual's membership bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from regaudit.regulator.privacy.mechanisms import Sensitivity
from regaudit.regulator.privacy.releases.common import (
    Aggregates,
    PrimitiveRelease,
    clamp,
    integer,
    number,
)
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: The aggregates, in vector order.
CALIBRATION_COUNTS = ("covered_points", "total_set_size")
#: A decoded count whose error bound reaches this is not an exact count.
EXACT_COUNT_BOUND = 0.5


def _public(verified: VerifiedAudit) -> dict[str, Any]:
    from regaudit.shared.primitives.calibration.layout import validate_public

    public = validate_public(dict(verified.public_inputs))
    if public["mode"] != "batch":
        raise InputError(
            "differential privacy is not available for calibration point releases: one "
            "point's membership bits are that individual's own result, not an aggregate "
            "(audit a batch of points to release coverage under DP)",
            field="mode",
        )
    return public


def _count(result: dict[str, Any], name: str, atoms: int) -> int:
    """Steps: 1. value and bound are numbers; 2. the bound times the points is below half a
    count (else the count is not exact); 3. the nearest count, within the bound."""
    points = integer(result.get("points"), "points")
    # 1.
    value = number(result.get(name), name)
    bound = number(result.get(f"{name}_error_bound"), f"{name}_error_bound")
    # 2.
    if bound * points >= EXACT_COUNT_BOUND:
        raise InputError(
            f"the decoded {name} is not an exact count (error bound {bound:g} per point)",
            field=f"{name}_error_bound",
        )
    # 3.
    count = round(value * points)
    if abs(count - value * points) > bound * points or not 0 <= count <= atoms:
        raise InputError(f"the decoded {name} is not a count of the points", field=name)
    return int(count)


def _calibration_aggregates(verified: VerifiedAudit) -> Aggregates:
    public = _public(verified)
    points, classes = int(public["points"]), int(public["classes"])
    values = (
        _count(verified.result, "coverage", points),
        _count(verified.result, "mean_set_size", points * classes),
    )
    sensitivity = Sensitivity(1.0 + classes, math.sqrt(1.0 + classes**2), "point")
    return Aggregates(CALIBRATION_COUNTS, values, sensitivity)


def _calibration_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. covered in [0, n]; 2. total set size in [covered, n K] (a
    covered point's set holds its true class); 3. the batch report's fields from the counts
    (exact: error bounds 0; the noise's is in the ``differential_privacy`` block)."""
    from regaudit.shared.primitives.calibration.conformal import rule_fields

    public = _public(verified)
    points, classes = int(public["points"]), int(public["classes"])
    covered, total = (int(v) for v in noised)
    # 1.
    covered = int(clamp(covered, 0, points))
    # 2.
    total = int(clamp(total, covered, points * classes))
    # 3.
    return {
        "points": points,
        "quantiles": public["quantiles"],
        **rule_fields(public),
        "mean_set_size": total / points,
        "mean_set_size_error_bound": 0.0,
        "coverage": covered / points,
        "coverage_error_bound": 0.0,
    }


CALIBRATION = PrimitiveRelease(
    primitive="calibration",
    aggregates=_calibration_aggregates,
    rebuild=_calibration_rebuild,
    metrics=("coverage", "mean_set_size"),
    public=("points", "classes", "quantiles", "score_range", "alpha", "quantile_rule"),
    error_bounds={
        "coverage": "coverage_error_bound",
        "mean_set_size": "mean_set_size_error_bound",
    },
)

__all__ = ["CALIBRATION", "CALIBRATION_COUNTS", "EXACT_COUNT_BOUND"]
