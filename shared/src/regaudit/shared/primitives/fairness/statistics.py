"""Fairness: LL144-style bias-audit statistics on the exact decrypted counts (regulator side).

Pure functions of exact integer counts (no CKKS value reaches them): per category the selection
rate with a Wilson 95 % interval, the impact ratio against the category with the highest
selection rate (or a chosen reference), the 2 % small-category flag (and optional exclusion from
impact ratios, as NYC Local Law 144 allows), the count of rows of unknown category, and for every
impact ratio a two-sided test of the difference in selection rates against the reference
(pooled two-proportion z test, or Fisher's exact test when any cell of the 2x2 table is below
FISHER_MIN_CELL) with a ``small_sample`` flag. Adverse impact is indicated only when the ratio
breaks the four-fifths rule AND the difference is significant at SIGNIFICANCE_LEVEL (EEOC,
29 CFR 1607.4(D): small, statistically insignificant differences are not adverse impact).

Specification: ``docs/specs/fairness.md`` (section "Bias audit").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness.layout import SCORE_ABOVE_MEDIAN
from regaudit.shared.results import INTERSECTION_SEPARATOR

#: Impact ratios below this break the four-fifths rule (29 CFR 1607.4(D)).
FOUR_FIFTHS_RATIO = Fraction(4, 5)
#: Categories holding less than this share of the rows are ``small`` (LL144's 2 % rule).
SMALL_CATEGORY_SHARE = Fraction(1, 50)
#: Two-sided significance level of the difference tests.
SIGNIFICANCE_LEVEL = 0.05
#: Coverage of the Wilson intervals.
CONFIDENCE_LEVEL = 0.95
#: z quantile of CONFIDENCE_LEVEL (two-sided): Phi^-1(0.975).
WILSON_Z = 1.959963984540054
#: Below this many rows in a category (or its reference) a test is flagged ``small_sample``.
SMALL_SAMPLE_ROWS = 30
#: Fisher's exact test replaces the z test when an observed cell is below this; an expected
#: cell below it also flags ``small_sample``.
FISHER_MIN_CELL = 5


@dataclass(frozen=True)
class Selection:
    """Exact selection counts of one category."""

    count: int
    selected: int


def wilson_interval(
    selected: int, count: int, *, z: float = WILSON_Z
) -> tuple[float, float] | None:
    """Wilson score interval of ``selected / count``; None when ``count`` is 0."""
    if count <= 0:
        return None
    p = selected / count
    z2 = z * z
    centre = (p + z2 / (2 * count)) / (1 + z2 / count)
    half = z / (1 + z2 / count) * math.sqrt(p * (1 - p) / count + z2 / (4 * count * count))
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(a: Selection, b: Selection) -> float:
    """Two-sided p-value of the pooled two-proportion z test (1.0 if the pooled rate is 0 or 1)."""
    pooled = (a.selected + b.selected) / (a.count + b.count)
    variance = pooled * (1 - pooled) * (1 / a.count + 1 / b.count)
    if variance <= 0:
        return 1.0
    z = (a.selected / a.count - b.selected / b.count) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


#: Relative tolerance of "as or less likely than the observed table" in Fisher's test (scipy's).
FISHER_RELATIVE_TOLERANCE = 1e-7


def fisher_exact(a: Selection, b: Selection) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table selected/not x a/b.

    Steps: 1. the hypergeometric support of a's selected count given the margins; 2. its log
    probabilities from the ratio of neighbouring terms (vectorised, no scipy needed: the
    client's DataFrame API computes reports too), normalised; 3. the sum of the probabilities
    of every table as or less likely than the observed one (relative tolerance
    FISHER_RELATIVE_TOLERANCE, as scipy.stats.fisher_exact)."""
    selected = a.selected + b.selected
    # 1.
    low, high = max(0, selected - b.count), min(selected, a.count)
    if high == low:
        return 1.0
    # 2.
    k = np.arange(low, high, dtype=np.float64)
    ratios = (
        np.log(selected - k)
        + np.log(a.count - k)
        - np.log(k + 1)
        - np.log(b.count - selected + k + 1)
    )
    log_p = np.concatenate(([0.0], np.cumsum(ratios)))
    peak = float(log_p.max())
    log_p -= peak + math.log(float(np.exp(log_p - peak).sum()))
    # 3.
    observed = log_p[a.selected - low]
    tail = log_p[log_p <= observed + math.log1p(FISHER_RELATIVE_TOLERANCE)]
    return float(min(1.0, np.exp(tail).sum()))


def compare(category: Selection, reference: Selection) -> dict[str, Any]:
    """Test the difference of two selection rates.

    Steps: 1. both categories hold rows (else no test); 2. Fisher's exact test when any observed
    cell is below FISHER_MIN_CELL, else the pooled z test; 3. ``small_sample`` when either
    category has fewer than SMALL_SAMPLE_ROWS rows or an expected cell is below FISHER_MIN_CELL.
    """
    # 1.
    if category.count == 0 or reference.count == 0:
        return {"test": None, "p_value": None, "significant": None, "small_sample": True}
    cells = (
        category.selected,
        category.count - category.selected,
        reference.selected,
        reference.count - reference.selected,
    )
    # 2.
    fisher = min(cells) < FISHER_MIN_CELL
    p_value = fisher_exact(category, reference) if fisher else two_proportion_z(category, reference)
    # 3.
    total = category.count + reference.count
    selected = category.selected + reference.selected
    expected = [
        n * m / total
        for n in (category.count, reference.count)
        for m in (selected, total - selected)
    ]
    small = (
        min(category.count, reference.count) < SMALL_SAMPLE_ROWS or min(expected) < FISHER_MIN_CELL
    )
    return {
        "test": "fisher_exact" if fisher else "two_proportion_z",
        "p_value": p_value,
        "significant": p_value < SIGNIFICANCE_LEVEL,
        "small_sample": small,
    }


def _rate_tests(
    name: str,
    reference: str | None,
    other_rates: Mapping[str, Mapping[str, tuple[int, int]]] | None,
) -> dict[str, dict[str, Any]]:
    """The test of each further rate (TPR, FPR, precision) of category ``name`` against the same
    rate of the reference category (:func:`compare`, with the rate's denominator as the count),
    and the difference; empty for the reference itself or when there is none."""
    if reference is None or name == reference or other_rates is None:
        return {}
    mine, theirs = other_rates.get(name, {}), other_rates.get(reference, {})
    tests: dict[str, dict[str, Any]] = {}
    for rate, (numerator, denominator) in mine.items():
        if rate not in theirs:
            continue
        ref_numerator, ref_denominator = theirs[rate]
        category = Selection(count=denominator, selected=numerator)
        base = Selection(count=ref_denominator, selected=ref_numerator)
        difference = (
            None
            if denominator == 0 or ref_denominator == 0
            else float(Fraction(numerator, denominator) - Fraction(ref_numerator, ref_denominator))
        )
        tests[rate] = {"difference": difference, **compare(category, base)}
    return tests


def _interval(selected: int, count: int) -> list[float] | None:
    interval = wilson_interval(selected, count)
    return None if interval is None else list(interval)


def _rate(selection: Selection) -> Fraction | None:
    return None if selection.count == 0 else Fraction(selection.selected, selection.count)


def bias_audit(
    selections: Mapping[str, Selection],
    *,
    rows: int,
    reference_group: str | None = None,
    exclude_small: bool = False,
    other_rates: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
    score_median: float | None = None,
) -> dict[str, Any]:
    """The LL144-style bias-audit table from exact per-category selection counts.

    Steps: 1. per category the exact selection rate, its Wilson interval, its share of ``rows``
    and the ``small`` flag (share < SMALL_CATEGORY_SHARE); 2. the categories taking part in
    impact ratios (all, or the non-small ones with ``exclude_small``; a chosen reference always
    takes part); 3. the reference: ``reference_group`` or the participant with the highest
    defined selection rate (first in order on ties); 4. per participant the exact impact ratio,
    the four-fifths flag, the test against the reference, and ``adverse_impact_indicated`` (ratio
    below 4/5 and significant); 5. unknown rows = rows in no category.

    ``other_rates`` (category -> rate name -> (numerator, denominator)) adds a Wilson interval
    of each such rate (TPR, FPR, precision) as the category's ``rate_ci``, and its difference
    from the reference category's and the test of that difference as ``rate_tests``.

    ``score_median`` (the public input of a scored audit, :mod:`.scoring`): the selection is
    "score above this sample median", so the rate is LL144's *scoring rate*: ``rate_name`` is
    ``"scoring_rate"`` (else ``"selection_rate"``) and ``selection_basis`` says which; the
    per-category keys stay ``selection_rate``/``selection_rate_ci``.
    """
    if reference_group is not None and reference_group not in selections:
        raise InputError("is not one of the groups", field="reference_group")
    # 1.
    rates = {name: _rate(s) for name, s in selections.items()}
    small = {
        name: rows > 0 and Fraction(s.count, rows) < SMALL_CATEGORY_SHARE
        for name, s in selections.items()
    }
    # 2.
    participants = [
        name
        for name in selections
        if not (exclude_small and small[name]) or name == reference_group
    ]
    # 3.
    reference = reference_group
    if reference is None:
        defined = {name: r for name in participants if (r := rates[name]) is not None}
        best = max(defined.values(), default=None)
        reference = next((name for name, r in defined.items() if r == best), None)
    top = None if reference is None else rates[reference]
    # 4.
    categories: dict[str, dict[str, Any]] = {}
    for name, selection in selections.items():
        rate = rates[name]
        entry: dict[str, Any] = {
            "components": name.split(INTERSECTION_SEPARATOR),
            "count": selection.count,
            "selected": selection.selected,
            "share": selection.count / rows if rows else 0.0,
            "small": small[name],
            "excluded": name not in participants,
            "selection_rate": None if rate is None else float(rate),
            "selection_rate_ci": _interval(selection.selected, selection.count),
            "impact_ratio": None,
            "four_fifths": None,
            "test": None,
            "p_value": None,
            "significant": None,
            "small_sample": selection.count < SMALL_SAMPLE_ROWS,
            "adverse_impact_indicated": None,
            "rate_ci": {
                other: _interval(numerator, denominator)
                for other, (numerator, denominator) in (other_rates or {}).get(name, {}).items()
            },
        }
        if name in participants and rate is not None and top:
            ratio = rate / top
            entry["impact_ratio"] = float(ratio)
            entry["four_fifths"] = ratio < FOUR_FIFTHS_RATIO
            if name != reference:
                assert reference is not None
                entry.update(compare(selection, selections[reference]))
                entry["adverse_impact_indicated"] = bool(
                    entry["four_fifths"] and entry["significant"]
                )
            else:
                entry["adverse_impact_indicated"] = False
        entry["rate_tests"] = _rate_tests(name, reference, other_rates)
        categories[name] = entry
    flags = [e["adverse_impact_indicated"] for e in categories.values()]
    defined_flags = [f for f in flags if f is not None]
    # 5.
    assigned = sum(s.count for s in selections.values())
    table: dict[str, Any] = _released(
        {
            "rows": rows,
            "rate_name": "selection_rate" if score_median is None else "scoring_rate",
            "selection_basis": "prediction" if score_median is None else SCORE_ABOVE_MEDIAN,
            "score_median": None,
            "unknown_rows": rows - assigned,
            "reference": reference,
            "reference_chosen": reference_group is not None,
            "exclude_small": exclude_small,
            "small_share": float(SMALL_CATEGORY_SHARE),
            "four_fifths_ratio": float(FOUR_FIFTHS_RATIO),
            "confidence_level": CONFIDENCE_LEVEL,
            "significance_level": SIGNIFICANCE_LEVEL,
            "categories": categories,
            "excluded": [name for name, e in categories.items() if e["excluded"]],
            "adverse_impact_indicated": any(defined_flags) if defined_flags else None,
        }
    )
    table["score_median"] = score_median  # a public input, released as given
    return table


#: Significant digits of a released float: the statistics come from exact counts, so this only
#: drops float64 representation noise (the regulator's reports show at most 12 digits).
RELEASED_DIGITS = 12


def _released(value: Any) -> Any:
    """``value`` with every float rounded to :data:`RELEASED_DIGITS` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{RELEASED_DIGITS}g}")
    if isinstance(value, dict):
        return {key: _released(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_released(item) for item in value)
    return value


__all__ = [
    "CONFIDENCE_LEVEL",
    "FISHER_MIN_CELL",
    "FISHER_RELATIVE_TOLERANCE",
    "FOUR_FIFTHS_RATIO",
    "SIGNIFICANCE_LEVEL",
    "SMALL_CATEGORY_SHARE",
    "SMALL_SAMPLE_ROWS",
    "WILSON_Z",
    "Selection",
    "bias_audit",
    "compare",
    "fisher_exact",
    "two_proportion_z",
    "wilson_interval",
]
