"""Calibration's split-conformal quantile rule, read by the client (which applies it to its
calibration set) and the regulator (which re-applies it to an opening of that set): the rank
of the conformal quantile, the quantiles themselves, the digest that binds the calibration set
in the public inputs, and the validation of the rule's public inputs.

The rule (Vovk et al.; Lei et al. 2018; Angelopoulos & Bates 2021, and MAPIE 1.6's
``_compute_classification_quantile``): with n calibration scores and miscoverage ``alpha``,
q = the k-th smallest score, k = ceil((n + 1)(1 - alpha)). k is computed exactly
(:class:`fractions.Fraction`) on the decimal value of ``alpha`` as written, i.e. the shortest
decimal that round-trips the float (0.3 is 3/10, not the binary 0.29999999999999998890), so
an integer (n + 1)(1 - alpha) is never pushed up by one by rounding. When k > n the
quantile is infinite (every class is always in the set); that is refused (InputError), with
the smallest calibration size that makes it finite."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.canonical import parse_digest
from regaudit.shared.evidence.commitments import SALT_BYTES, commit_column
from regaudit.shared.primitives.validation import to_float

#: One calibration set for every class: the same quantile for all K classes.
RULE_MARGINAL = "split_conformal"
#: One calibration set per class (a column of an n x K matrix, or the points labelled k).
RULE_CLASS_CONDITIONAL = "split_conformal_class_conditional"
QUANTILE_RULES = (RULE_MARGINAL, RULE_CLASS_CONDITIONAL)
#: Most calibration scores (all classes together).
MAX_CALIBRATION_SCORES = 1 << 24
#: Salt of a commitment the client gave no salt for: binding, not hiding (see the spec).
ZERO_SALT = bytes(SALT_BYTES)
#: Commitment column names: the scores (1-D or n x K, row-major) ...
COMMITTED_SCORES = "calibration_scores"
#: ... or the scores followed by their class labels.
COMMITTED_SCORES_AND_LABELS = "calibration_scores_and_labels"
#: Public inputs the rule adds (all four or none).
RULE_KEYS = ("alpha", "calibration_size", "quantile_rule", "calibration_commitment")


def check_alpha(value: object) -> float:
    """``alpha`` as a float in the open interval (0, 1); InputError (``alpha``) otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number in (0, 1), got {type(value).__name__}", field="alpha")
    alpha = to_float(value)
    if not math.isfinite(alpha):
        raise InputError("must be a finite number in (0, 1)", field="alpha")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"must lie strictly between 0 and 1, got {alpha:g}", field="alpha")
    return alpha


def _decimal(alpha: float) -> Fraction:
    """``alpha`` as the decimal it was written as (the shortest repr round-tripping it)."""
    return Fraction(repr(float(alpha)))


def conformal_rank(size: int, alpha: float) -> int:
    """k = ceil((size + 1)(1 - alpha)), exactly (1-based rank of the conformal quantile)."""
    return math.ceil((size + 1) * (1 - _decimal(alpha)))


def min_calibration_size(alpha: float) -> int:
    """The smallest n with conformal_rank(n, alpha) <= n, i.e. n >= (1 - alpha) / alpha."""
    exact = _decimal(alpha)
    return max(1, math.ceil((1 - exact) / exact))


def conformal_quantile(scores: FloatArray, alpha: float, *, field: str) -> float:
    """The k-th smallest of ``scores`` (see the module doc); InputError if k > n."""
    size = int(scores.size)
    if size == 0:
        raise InputError("no calibration scores", field=field)
    rank = conformal_rank(size, alpha)
    if rank > size:
        raise InputError(
            f"{size} calibration scores are too few for alpha = {alpha:g}: the conformal "
            f"quantile would be the {rank}-th smallest, i.e. infinite (every class always in "
            f"the set); at least {min_calibration_size(alpha)} are needed",
            field=field,
        )
    return float(np.partition(scores, rank - 1)[rank - 1])


def conformal_quantiles(
    scores: FloatArray, labels: FloatArray | None, alpha: float, *, classes: int
) -> tuple[list[float], list[int], str]:
    """(K quantiles, K calibration sizes, rule) from the calibration set: 1-D scores (one
    quantile for all classes), n x K scores (class k from column k) or 1-D scores with labels
    (class k from the scores labelled k)."""
    if scores.ndim == 1 and labels is None:
        quantile = conformal_quantile(scores, alpha, field="calibration_scores")
        return [quantile] * classes, [int(scores.size)] * classes, RULE_MARGINAL
    quantiles: list[float] = []
    sizes: list[int] = []
    for k in range(classes):
        if labels is None:
            own, where = scores[:, k], f"calibration_scores[:, {k}]"
        else:
            own, where = scores[labels == k], "calibration_labels"
        if own.size == 0:
            raise InputError(f"class {k} has no calibration scores", field=where)
        try:
            quantiles.append(conformal_quantile(own, alpha, field=where))
        except InputError as error:
            raise InputError(f"class {k}: {error.message}", field=where) from None
        sizes.append(int(own.size))
    return quantiles, sizes, RULE_CLASS_CONDITIONAL


def calibration_commitment(
    scores: FloatArray, labels: FloatArray | None, *, salt: bytes | None = None
) -> str:
    """The digest binding the calibration set: :func:`commit_column` over the scores
    (row-major), followed by the labels if any, with ``salt`` (default 32 zero bytes)."""
    values = scores.ravel()
    name = COMMITTED_SCORES
    if labels is not None:
        values = np.concatenate([values, labels.astype(np.float64)])
        name = COMMITTED_SCORES_AND_LABELS
    digest, _ = commit_column(name, values, salt=ZERO_SALT if salt is None else salt)
    return digest


def validate_rule_public(public: Mapping[str, Any], *, classes: int) -> dict[str, Any]:
    """The rule's public inputs (:data:`RULE_KEYS`, all or none), normalized; {} if none.

    Steps: 1. all four keys or none; 2. alpha in (0, 1), a known rule; 3. K sizes, each large
    enough for alpha (equal for the marginal rule); 4. a well-formed commitment digest."""
    # 1.
    present = [key for key in RULE_KEYS if key in public]
    if not present:
        return {}
    for key in RULE_KEYS:
        if key not in public:
            raise InputError(f"is required with {present[0]!r}", field=key)
    # 2.
    alpha = check_alpha(public["alpha"])
    rule = public["quantile_rule"]
    if rule not in QUANTILE_RULES:
        raise InputError(f"must be one of {', '.join(QUANTILE_RULES)}", field="quantile_rule")
    # 3.
    sizes = public["calibration_size"]
    if not isinstance(sizes, list | tuple) or len(sizes) != classes:
        raise InputError(f"must give one size per class ({classes})", field="calibration_size")
    smallest = min_calibration_size(alpha)
    for k, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, int | np.integer):
            raise InputError("must be an integer", field=f"calibration_size[{k}]")
        if not smallest <= size <= MAX_CALIBRATION_SCORES:
            raise InputError(
                f"must be in {smallest}..{MAX_CALIBRATION_SCORES} for alpha = {alpha:g}",
                field=f"calibration_size[{k}]",
            )
    if rule == RULE_MARGINAL and len(set(sizes)) != 1:
        raise InputError("the marginal rule has one calibration set", field="calibration_size")
    # 4.
    commitment = public["calibration_commitment"]
    parse_digest(commitment, field="calibration_commitment", error=InputError)
    return {
        "alpha": alpha,
        "calibration_size": [int(size) for size in sizes],
        "quantile_rule": rule,
        "calibration_commitment": commitment,
    }


def rule_fields(public: Mapping[str, Any]) -> dict[str, Any]:
    """The quantile rule's public inputs, for the report ({} when quantiles were given)."""
    return {key: public[key] for key in RULE_KEYS if key in public}


__all__ = [
    "COMMITTED_SCORES",
    "COMMITTED_SCORES_AND_LABELS",
    "MAX_CALIBRATION_SCORES",
    "QUANTILE_RULES",
    "RULE_CLASS_CONDITIONAL",
    "RULE_KEYS",
    "RULE_MARGINAL",
    "ZERO_SALT",
    "calibration_commitment",
    "check_alpha",
    "conformal_quantile",
    "conformal_quantiles",
    "conformal_rank",
    "min_calibration_size",
    "rule_fields",
    "validate_rule_public",
]
