"""fairness under DP: per group the four confusion cells (true and false positives, false and
true negatives). A row lies in one cell of one group (or in none: unknown category), so adding
or removing one moves one cell by 1 and changing one moves two: l1 = 2, l2 = sqrt(2). The group
counts, positives and predicted positives are sums of cells, so every released count is
consistent by construction (non-negative, true positives <= positives and predicted)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from regaudit.regulator.privacy.mechanisms import Sensitivity
from regaudit.regulator.privacy.releases.common import Aggregates, PrimitiveRelease
from regaudit.regulator.privacy.releases.common import integer as _integer
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: The confusion cells of one group, in vector order.
FAIRNESS_CELLS = ("true_positives", "false_positives", "false_negatives", "true_negatives")


def _fairness_aggregates(verified: VerifiedAudit) -> Aggregates:
    groups = verified.result.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        raise InputError("the verified fairness result has no groups", field="result")
    names: list[str] = []
    values: list[int] = []
    for name, group in groups.items():
        where = f"groups.{name}"
        count = _integer(group.get("count"), where)
        positives = _integer(group.get("positives"), where)
        predicted = _integer(group.get("predicted_positives"), where)
        tp = _integer(group.get("true_positives"), where)
        cells = (tp, predicted - tp, positives - tp, count - positives - predicted + tp)
        names += [f"{name}.{cell}" for cell in FAIRNESS_CELLS]
        values += cells
    return Aggregates(tuple(names), tuple(values), Sensitivity(2.0, math.sqrt(2.0), "row"))


def _fairness_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. every cell at least 0; 2. if the groups then hold more rows
    than the (public) row count, scale all cells down proportionally (floor); 3. group counts
    as sums of cells; 4. the primitive's own ``build_report`` with the audit's public inputs."""
    from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
    from regaudit.shared.primitives.fairness.report import GroupCounts, build_report

    public = FairnessCircuit().validate_public(dict(verified.public_inputs))
    rows = int(verified.plan.rows)
    # 1.
    cells = np.maximum(np.asarray(noised, dtype=np.int64), 0)
    # 2.
    total = int(cells.sum())
    if total > rows:
        cells = np.floor(cells * (rows / total)).astype(np.int64)
    # 3.
    counts: dict[str, GroupCounts] = {}
    for index, name in enumerate(verified.result["groups"]):
        tp, fp, fn, tn = (int(v) for v in cells[4 * index : 4 * index + 4])
        counts[name] = GroupCounts(
            count=tp + fp + fn + tn,
            positives=tp + fn,
            predicted_positives=tp + fp,
            true_positives=tp,
        )
    # 4.
    return build_report(counts, threshold=public["threshold"], rows=rows, **_options(public))


def _options(public: Mapping[str, Any]) -> dict[str, Any]:
    """The audit's public inputs ``build_report`` takes as options (reference group, small
    categories, score median...), as ``decode`` passes them."""
    from regaudit.shared.primitives.fairness.report import build_report

    accepted = inspect.signature(build_report).parameters
    return {
        name: public[name]
        for name, parameter in accepted.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and name not in ("threshold", "rows")
        and name in public
    }


FAIRNESS = PrimitiveRelease(
    primitive="fairness",
    aggregates=_fairness_aggregates,
    rebuild=_fairness_rebuild,
    metrics=(
        "demographic_parity_diff",
        "demographic_parity_ratio",
        "equal_opportunity_diff",
        "predictive_parity_diff",
        "equalized_odds_fpr_diff",
        "max_gap",
    ),
    public=(
        "rows",
        "groups (names)",
        "threshold",
        "reference_group",
        "exclude_small",
        "score_median",
    ),
)


__all__ = ["FAIRNESS", "FAIRNESS_CELLS"]
