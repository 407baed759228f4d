"""Fairness: the regulator's half -- decode the decrypted output vector into the report.

The regulator rounds the counts to integers (they are exact counts: anything further than
COUNT_TOLERANCE from an integer cannot be CKKS noise) and computes every rate from the exact
integer counts, so the metrics equal fairlearn's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.layout import (
    COUNT_TOLERANCE,
    QUANTITIES,
    block_width,
    output_scale,
)
from regaudit.shared.primitives.fairness.statistics import Selection, bias_audit

#: Impact ratios below this breach the four-fifths rule.
FOUR_FIFTHS = Fraction(4, 5)


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Regulator side: see :func:`decode_counts` and :func:`build_report`.

    Release (see :mod:`regaudit.shared.release`): nothing to round. Counts are exact integers (a
    slot further than COUNT_TOLERANCE from one is refused) and every rate is an exact fraction
    of them (error bound 0), so no decrypted digit reaches the result."""
    public = FairnessCircuit().validate_public(public)
    counts = decode_counts(outputs, public, rows)
    return build_report(
        counts,
        threshold=public["threshold"],
        rows=rows,
        reference_group=public.get("reference_group"),
        exclude_small=bool(public.get("exclude_small", False)),
        score_median=public.get("score_median"),
    )


@dataclass(frozen=True)
class GroupCounts:
    """Exact confusion counts of one group."""

    count: int
    positives: int
    predicted_positives: int
    true_positives: int

    def check(self, name: str) -> None:
        """Raise NoiseBoundError unless the counts can come from 0/1 data.

        Steps: 1. no count is negative; 2. true positives are among both the positives and the
        predicted positives; 3. positives and predicted positives lie within the group; 4. false
        positives fit within the negatives. (The total over groups is checked by the caller.)
        """
        values = (self.count, self.positives, self.predicted_positives, self.true_positives)
        # Messages name the group and the rule, never the decoded counts: a forged output could
        # make them equal chosen rows' values (docs/threat-model.md, attack 1).
        # 1.
        if min(values) < 0:
            raise NoiseBoundError(f"group {name!r}: a decoded count is negative")
        # 2.
        if self.true_positives > min(self.positives, self.predicted_positives):
            raise NoiseBoundError(
                f"group {name!r}: true positives exceed positives or predicted positives"
            )
        # 3.
        if max(self.positives, self.predicted_positives) > self.count:
            raise NoiseBoundError(
                f"group {name!r}: positives or predicted positives exceed the group size"
            )
        # 4.
        if self.predicted_positives - self.true_positives > self.count - self.positives:
            raise NoiseBoundError(f"group {name!r}: false positives exceed the negatives")


def decode_counts(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, GroupCounts]:
    """Round the decrypted output slots to exact counts, refusing anything noise cannot explain.

    Steps: 1. exactly one output vector whose length is a multiple of the block width W;
    2. divide by the output scale S; every replica of every count is within COUNT_TOLERANCE of
    the same integer; 3. every slot that must be zero is within COUNT_TOLERANCE of 0; 4. each
    group's counts are consistent (GroupCounts.check); 5. the groups hold at most ``rows`` rows.
    """
    groups = public["groups"]
    used = 4 * len(groups)
    width = block_width(len(groups))
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"fairness has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < width or vector.shape[0] % width:
        raise BundleFormatError(f"fairness output must hold a multiple of {width} slots")
    if not np.isfinite(vector).all():
        raise NoiseBoundError("the fairness output holds non-finite values")
    # 2.
    blocks = vector.reshape(-1, width) / float(output_scale(rows))
    replicas = blocks[:, :used]
    rounded = np.rint(replicas.mean(axis=0))
    distance = np.abs(replicas - rounded)
    # messages name the slot and the tolerance, never a decrypted value
    if distance.max() > COUNT_TOLERANCE:
        block, position = np.unravel_index(int(np.argmax(distance)), distance.shape)
        raise NoiseBoundError(
            f"output slot {block * width + position} is not within {COUNT_TOLERANCE} of the "
            "integer count its replicas agree on (after the output scale)"
        )
    # 3.
    zeros = blocks[:, used:]
    if zeros.size and np.abs(zeros).max() > COUNT_TOLERANCE:
        block, position = np.unravel_index(int(np.argmax(np.abs(zeros))), zeros.shape)
        raise NoiseBoundError(
            f"output slot {block * width + used + position} should be zero but is not within "
            f"{COUNT_TOLERANCE} of 0 (after the output scale)"
        )
    # 4.
    counts: dict[str, GroupCounts] = {}
    for k, name in enumerate(groups):
        quantity = dict(zip(QUANTITIES, (int(x) for x in rounded[4 * k : 4 * k + 4]), strict=True))
        group = GroupCounts(
            count=quantity["count"],
            positives=quantity["positives"],
            predicted_positives=quantity["predicted_positives"],
            true_positives=quantity["true_positives"],
        )
        group.check(name)
        counts[name] = group
    # 5.
    assigned = sum(group.count for group in counts.values())
    if assigned > rows:
        raise NoiseBoundError(f"the groups hold more rows than the audit has ({rows})")
    return counts


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return None if denominator == 0 else Fraction(numerator, denominator)


def _spread(values: Sequence[Fraction | None]) -> Fraction | None:
    """max - min over the defined values; None with fewer than two."""
    defined = [v for v in values if v is not None]
    if len(defined) < 2:
        return None
    return max(defined) - min(defined)


def _max_defined(values: Sequence[Fraction | None]) -> Fraction | None:
    defined = [v for v in values if v is not None]
    return max(defined) if defined else None


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


#: Per-group rates, in report order.
RATES: tuple[str, ...] = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
)


def build_report(
    counts: Mapping[str, GroupCounts],
    *,
    threshold: float,
    rows: int,
    reference_group: str | None = None,
    exclude_small: bool = False,
    score_median: float | None = None,
) -> dict[str, Any]:
    """The fairness report from exact integer counts.

    Rates are exact fractions of integers, converted to float only for the report; decisions
    (four-fifths rule, threshold breach) compare the exact fractions. Undefined rates (zero
    denominator) are None and listed in ``undefined``; differences use the defined groups only and
    are None when fewer than two groups define the rate. ``bias_audit`` is the LL144-style table
    of :func:`.statistics.bias_audit` (reference ``reference_group`` or the highest selection
    rate; small categories excluded from impact ratios with ``exclude_small``; with
    ``score_median`` the selection is "score above that median": LL144's scoring rate).
    """
    names = list(counts)
    rates: dict[str, dict[str, Fraction | None]] = {}
    undefined: list[str] = []
    for name, c in counts.items():
        negatives = c.count - c.positives
        false_positives = c.predicted_positives - c.true_positives
        rates[name] = {
            "selection_rate": _ratio(c.predicted_positives, c.count),
            "true_positive_rate": _ratio(c.true_positives, c.positives),
            "false_positive_rate": _ratio(false_positives, negatives),
            "precision": _ratio(c.true_positives, c.predicted_positives),
        }
        undefined += [f"{name}.{rate}" for rate in RATES if rates[name][rate] is None]

    def column(rate: str) -> list[Fraction | None]:
        return [rates[name][rate] for name in names]

    dp_diff = _spread(column("selection_rate"))
    eo_diff = _spread(column("true_positive_rate"))
    pp_diff = _spread(column("precision"))
    fpr_diff = _spread(column("false_positive_rate"))
    eodds_diff = _max_defined([eo_diff, fpr_diff])
    max_gap = _max_defined([dp_diff, eo_diff, pp_diff, fpr_diff])

    selection = column("selection_rate")
    top = _max_defined(selection)
    impact: dict[str, Fraction | None] = {}
    for name, rate in zip(names, selection, strict=True):
        impact[name] = None if rate is None or not top else rate / top
    defined_selection = [v for v in selection if v is not None]
    dp_ratio = min(defined_selection) / top if top and len(defined_selection) >= 2 else None
    if dp_ratio is None:
        undefined.append("demographic_parity_ratio")
    undefined += [f"{name}.impact_ratio" for name, value in impact.items() if value is None]
    defined_impact = [v for v in impact.values() if v is not None]
    four_fifths = any(v < FOUR_FIFTHS for v in defined_impact) if defined_impact else None
    breached = None if max_gap is None else max_gap > Fraction(threshold)
    for metric, value in (
        ("demographic_parity_diff", dp_diff),
        ("equal_opportunity_diff", eo_diff),
        ("predictive_parity_diff", pp_diff),
        ("equalized_odds_fpr_diff", fpr_diff),
        ("equalized_odds_diff", eodds_diff),
        ("max_gap", max_gap),
    ):
        if value is None:
            undefined.append(metric)

    group_report: dict[str, dict[str, Any]] = {}
    for name, c in counts.items():
        group_report[name] = {
            "count": c.count,
            "positives": c.positives,
            "predicted_positives": c.predicted_positives,
            "true_positives": c.true_positives,
            **{rate: _float(rates[name][rate]) for rate in RATES},
        }
    assigned = sum(c.count for c in counts.values())
    return {
        "rows": rows,
        "unassigned_rows": rows - assigned,
        "groups": group_report,
        "demographic_parity_diff": _float(dp_diff),
        "demographic_parity_ratio": _float(dp_ratio),
        "equal_opportunity_diff": _float(eo_diff),
        "predictive_parity_diff": _float(pp_diff),
        "equalized_odds_fpr_diff": _float(fpr_diff),
        "equalized_odds_diff": _float(eodds_diff),
        "impact_ratios": {name: _float(value) for name, value in impact.items()},
        "four_fifths_breached": four_fifths,
        "max_gap": _float(max_gap),
        "threshold": float(threshold),
        "threshold_breached": breached,
        "undefined": undefined,
        "bias_audit": bias_audit(
            {name: Selection(c.count, c.predicted_positives) for name, c in counts.items()},
            rows=rows,
            reference_group=reference_group,
            exclude_small=exclude_small,
            score_median=score_median,
            other_rates={
                name: {
                    "true_positive_rate": (c.true_positives, c.positives),
                    "false_positive_rate": (
                        c.predicted_positives - c.true_positives,
                        c.count - c.positives,
                    ),
                    "precision": (c.true_positives, c.predicted_positives),
                }
                for name, c in counts.items()
            },
        ),
    }


__all__ = [
    "FOUR_FIFTHS",
    "RATES",
    "GroupCounts",
    "build_report",
    "decode",
    "decode_counts",
]
