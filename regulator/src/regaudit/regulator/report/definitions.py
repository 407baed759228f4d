"""Plain-language definitions of the metrics a report shows (one sentence or two each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Term -> definition.
DEFINITIONS: Mapping[str, str] = {
    "selection rate": "The share of a group's people that the model selected (predicted "
    "positive): selected / count.",
    "true positive rate": "Of the group's people who truly qualified (actual positives), the "
    "share the model selected. Also called recall or sensitivity.",
    "false positive rate": "Of the group's people who did not qualify (actual negatives), the "
    "share the model selected anyway.",
    "precision": "Of the group's people the model selected, the share who truly qualified.",
    "demographic parity difference": "The largest difference in selection rate between two "
    "groups (0 means every group is selected at the same rate).",
    "equal opportunity difference": "The largest difference in true positive rate between two "
    "groups.",
    "predictive parity difference": "The largest difference in precision between two groups.",
    "equalized odds": "Equal true positive and false positive rates across groups; the "
    "difference reported is the largest gap in either rate.",
    "max gap": "The largest of the group differences above; the audit compares it with its "
    "threshold.",
    "impact ratio": "A group's selection rate divided by the reference group's selection rate "
    "(by default the group with the highest rate), as NYC Local Law 144 bias audits report.",
    "four-fifths rule": "The EEOC rule of thumb (29 CFR 1607.4(D)): an impact ratio below 0.8 "
    "(four fifths) is evidence of adverse impact; small differences that are not "
    "statistically significant are not.",
    "reference group": "The group the impact ratios compare against.",
    "Wilson interval": "A 95 % confidence interval for a rate that stays valid for small "
    "groups; a wide interval means the rate rests on few people.",
    "p-value": "The probability of a difference at least this large between a group and the "
    "reference group if both had the same true rate (two-proportion z test, or Fisher's exact "
    "test for small counts); below 0.05 the difference is called significant.",
    "small category": "A category holding less than 2 % of the rows; its rates are unreliable "
    "and it may be excluded from impact ratios.",
    "unknown rows": "Rows whose group was missing or not one of the declared categories.",
    "C-index": "Harrell's concordance index: of the comparable pairs of patients, the share "
    "where the model gave the higher risk to the one with the earlier event; 0.5 is chance, "
    "1 is perfect ranking.",
    "coverage": "The share of cases whose true label lies in the model's conformal prediction "
    "set; it should be at least the target 1 - alpha.",
    "mean set size": "The average number of labels in a conformal prediction set (smaller is "
    "more informative).",
    "drift distance": "The sum over a feature's bins of the squared difference between the "
    "reference and the current cumulative distribution (0: identical distributions).",
    "W1": "The Wasserstein-1 (earth mover's) distance between the two histograms: how far, in "
    "the feature's units, probability mass has moved.",
    "disagreement": "The mean squared difference between the outputs of every pair of models "
    "on the same rows (0: the models agree everywhere).",
    "provenance totals": "The sum of contributions per bucket (data source); the top-K buckets "
    "are the K with the largest totals.",
    "error bound": "The largest difference the encrypted (CKKS) computation can make to a "
    "value; a decision within it of the threshold is indeterminate.",
    "indeterminate": "The value is undefined (for example a rate with no one in its "
    "denominator) or lies within its error bound of the threshold, so the audit cannot tell "
    "pass from breach.",
}

#: Terms every primitive's report defines.
_COMMON = ("error bound", "indeterminate")
#: Primitive -> the terms its report uses.
PRIMITIVE_TERMS: Mapping[str, Sequence[str]] = {
    "fairness": (
        "selection rate",
        "true positive rate",
        "false positive rate",
        "precision",
        "demographic parity difference",
        "equal opportunity difference",
        "predictive parity difference",
        "equalized odds",
        "max gap",
        "impact ratio",
        "four-fifths rule",
        "reference group",
        "Wilson interval",
        "p-value",
        "small category",
        "unknown rows",
    ),
    "drift": ("drift distance", "W1"),
    "calibration": ("coverage", "mean set size"),
    "concordance": ("C-index",),
    "disagreement": ("disagreement",),
    "provenance": ("provenance totals",),
}


def definitions_for(primitive: str) -> list[dict[str, str]]:
    """``[{"term", "definition"}]`` of the metrics a report of ``primitive`` shows."""
    terms = [*PRIMITIVE_TERMS.get(primitive, ()), *_COMMON]
    return [{"term": term, "definition": DEFINITIONS[term]} for term in terms]


__all__ = ["DEFINITIONS", "PRIMITIVE_TERMS", "definitions_for"]
