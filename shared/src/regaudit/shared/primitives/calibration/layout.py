"""Calibration's public constants and slot layout, read by every party (client, evaluator and
regulator): the sign polynomials, the block widths, the batch scales and the validation of the
public inputs. See :mod:`regaudit.shared.primitives.calibration` for the design."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError, InputError
from regaudit.shared.primitives.calibration.conformal import (
    RULE_KEYS,
    RULE_MARGINAL,
    validate_rule_public,
)
from regaudit.shared.primitives.validation import to_float

#: Most classes per point.
MAX_CLASSES = 1024
#: Degree of the point-mode sign polynomial (odd).
SIGN_DEGREE = 15
#: Points within this distance of 0 are excluded from the sign fit (fit weight only).
SIGN_FIT_GAP = 0.05
#: |p(t)| at or below this is a tie within CKKS noise: "indeterminate".
POINT_NOISE_BOUND = 1e-4
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3

#: Batch form: positions lie in [-1, -BATCH_GAP] (members) or [BATCH_GAP, 1] (non-members).
BATCH_GAP = 0.75
#: Degree of the batch sign polynomial (odd; T_15 at level 4, the masked sum at level 5).
BATCH_DEGREE = 15
#: Largest |output| of a batch sum after the power-of-two scale mu (the depth-6 profile allows
#: 2^18; the rest is margin for noise and the polynomial's overshoot).
BATCH_OUTPUT_LIMIT = 2.0**15
#: CKKS noise bound per slot on a decrypted batch sum, in units of s (measured on
#: ckks-n16384-d6-v1: <= 1e-9 per slot; see the spec). Summed over every evaluated slot, so
#: the bound is linear in the slot count (conservative: real noise grows like its square root).
BATCH_NOISE_PER_SLOT = 1e-8
#: Largest spread between the slots of a batch output (all of them hold the same sum).
BATCH_SPREAD_TOLERANCE = 1e-3

#: Public inputs a table (CSV/Parquet) cannot hold: the command line must give them (or
#: ``alpha`` with ``calibration_scores`` instead of ``quantiles``).
TABLE_REQUIRED: tuple[str, ...] = ("quantiles",)

#: The score window kept whenever every score and quantile lies in it (regaudit-fhe 0.1.0's
#: scores are 1 - softmax probabilities): offset 0, width 1.
DEFAULT_WINDOW = (0.0, 1.0)
#: A derived window's width is a power of two 2^e with e in this range.
MIN_WINDOW_EXPONENT = -20
MAX_WINDOW_EXPONENT = 30

_PUBLIC_KEYS = frozenset({"mode", "quantiles", "score_range", "classes", "points"})
#: Optional public inputs: the window's offset (absent = 0) and the quantile rule's keys.
_OPTIONAL_KEYS = frozenset({"score_offset", *RULE_KEYS})


def _sign_coefficients() -> FloatArray:
    """Chebyshev coefficients (length SIGN_DEGREE + 1, odd) of the least-squares sign fit."""
    grid = np.cos(np.linspace(0.0, math.pi, 20_001))
    grid = grid[np.abs(grid) >= SIGN_FIT_GAP]
    basis = chebyshev.chebvander(grid, SIGN_DEGREE)[:, 1::2]
    odd, *_ = np.linalg.lstsq(basis, np.sign(grid), rcond=None)
    coefficients = np.zeros(SIGN_DEGREE + 1)
    coefficients[1::2] = odd
    probe = np.linspace(1e-6, 1.0, 200_001)
    if chebyshev.chebval(probe, coefficients).min() <= 0.0:
        raise CircuitError("the sign polynomial is not sign-preserving", field="calibration")
    return coefficients


#: The point-mode sign polynomial p (odd; p(t) > 0 on (0, 1]). Fitted on first use (about
#: 0.15 s, which every command line would otherwise pay at start-up: the registry loads every
#: primitive's circuit), see :func:`__getattr__`.
SIGN_COEFFICIENTS: FloatArray


def _batch_sign_coefficients() -> tuple[FloatArray, float]:
    """Chebyshev coefficients (length BATCH_DEGREE + 1, odd) of the least-squares fit of 1 on
    [BATCH_GAP, 1] (so of sign on both intervals), and max |s - sign| there."""
    grid = np.linspace(BATCH_GAP, 1.0, 20_001)
    basis = chebyshev.chebvander(grid, BATCH_DEGREE)[:, 1::2]
    odd, *_ = np.linalg.lstsq(basis, np.ones_like(grid), rcond=None)
    coefficients = np.zeros(BATCH_DEGREE + 1)
    coefficients[1::2] = odd
    probe = np.linspace(BATCH_GAP, 1.0, 400_001)
    error = float(np.abs(chebyshev.chebval(probe, coefficients) - 1.0).max())
    if error > 1e-6:
        raise CircuitError("the batch sign polynomial is not accurate", field="calibration")
    # a safety factor of 2 over the dense-grid maximum covers points between grid nodes
    return coefficients, 2.0 * error


#: The batch sign polynomial s (odd; |s - sign| <= BATCH_SIGN_ERROR on |x| in [g, 1]),
#: fitted on first use like SIGN_COEFFICIENTS.
BATCH_SIGN_COEFFICIENTS: FloatArray
BATCH_SIGN_ERROR: float


@cache
def _fits() -> dict[str, FloatArray | float]:
    batch, error = _batch_sign_coefficients()
    return {
        "SIGN_COEFFICIENTS": _sign_coefficients(),
        "BATCH_SIGN_COEFFICIENTS": batch,
        "BATCH_SIGN_ERROR": error,
    }


def __getattr__(name: str) -> FloatArray | float:
    """The sign polynomials, fitted once on first access (PEP 562)."""
    if name in ("SIGN_COEFFICIENTS", "BATCH_SIGN_COEFFICIENTS", "BATCH_SIGN_ERROR"):
        return _fits()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _number(value: object, *, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    number = to_float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    return number


def derive_window(values: FloatArray) -> tuple[float, float]:
    """The public score window (offset lo, width R) derived from ``values`` (finite, non-empty).

    :data:`DEFAULT_WINDOW` [0, 1] if every value lies in it (regaudit-fhe 0.1.0's inputs keep
    their public inputs). Otherwise R = the smallest power of two 2^e (e in
    MIN_WINDOW_EXPONENT..MAX_WINDOW_EXPONENT) for which lo = floor(min / (R/2)) * (R/2), a
    multiple of R/2, gives [lo, lo + R] containing max; R < 4 (max - min) unless R is the
    smallest allowed width. Reveals only that window (see the spec)."""
    low, high = float(np.min(values)), float(np.max(values))
    if DEFAULT_WINDOW[0] <= low and high <= DEFAULT_WINDOW[0] + DEFAULT_WINDOW[1]:
        return DEFAULT_WINDOW
    for exponent in range(MIN_WINDOW_EXPONENT, MAX_WINDOW_EXPONENT + 1):
        width = 2.0**exponent
        offset = math.floor(low / (width / 2)) * (width / 2)
        if high <= offset + width:
            return float(offset), width
    raise InputError(
        f"scores and quantiles span [{low:g}, {high:g}], beyond the largest window "
        f"2^{MAX_WINDOW_EXPONENT}: give --score-range",
        field="score_range",
    )


def validate_public(public: Mapping[str, Any]) -> PublicInputs:
    """``{"mode": "point"|"batch", "quantiles": K numbers in [lo, lo + R], "score_range": R > 0,
    "classes": K, "points": n}`` (a point has n = 1), optionally ``"score_offset": lo`` (absent
    means 0, and a zero offset is dropped, so old public inputs stay as they were) and the
    quantile rule's ``alpha``, ``calibration_size``, ``quantile_rule``,
    ``calibration_commitment`` (see :mod:`.conformal`)."""
    if not isinstance(public, Mapping):
        raise InputError("public inputs must be an object", field="public")
    unknown = sorted(set(public) - _PUBLIC_KEYS - _OPTIONAL_KEYS)
    if unknown:
        raise InputError("unknown public input", field=unknown[0])
    for key in sorted(_PUBLIC_KEYS):
        if key not in public:
            raise InputError("is required", field=key)
    mode = public["mode"]
    if mode not in ("point", "batch"):
        raise InputError("must be 'point' or 'batch'", field="mode")
    sizes: dict[str, int] = {}
    for key, limit in (("classes", MAX_CLASSES), ("points", planning.MAX_ROWS)):
        value = public[key]
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError("must be an integer", field=key)
        if not 1 <= value <= limit:
            raise InputError(f"must be in 1..{limit}", field=key)
        sizes[key] = int(value)
    if sizes["classes"] < 2:
        raise InputError("a prediction set needs at least 2 classes", field="classes")
    if mode == "point" and sizes["points"] != 1:
        raise InputError("a point audit has exactly one point", field="points")
    score_range = _number(public["score_range"], name="score_range")
    if score_range <= 0:
        raise InputError("must be > 0", field="score_range")
    offset = _number(public.get("score_offset", 0.0), name="score_offset")
    quantiles = public["quantiles"]
    if not isinstance(quantiles, list | tuple) or len(quantiles) != sizes["classes"]:
        raise InputError(
            f"must give one quantile per class ({sizes['classes']})", field="quantiles"
        )
    values = []
    for k, q in enumerate(quantiles):
        number = _number(q, name=f"quantiles[{k}]")
        if not offset <= number <= offset + score_range:
            raise InputError(
                f"must lie in the score window [{offset:g}, {offset + score_range:g}]",
                field=f"quantiles[{k}]",
            )
        values.append(number)
    window = {"score_offset": offset} if offset != 0.0 else {}
    rule = validate_rule_public(public, classes=sizes["classes"])
    if rule.get("quantile_rule") == RULE_MARGINAL and len(set(values)) != 1:
        raise InputError("the marginal rule gives every class the same quantile", field="quantiles")
    return {
        "mode": mode,
        "quantiles": values,
        "score_range": score_range,
        **window,
        **sizes,
        **rule,
    }


def block_for(classes: int) -> int:
    """Slots per point (point form): the next power of two >= classes."""
    return 1 << max(0, (classes - 1).bit_length())


def batch_block_for(classes: int) -> int:
    """Slots per point (batch form): the next power of two >= classes + 1 (the true-class
    copy lives in slot ``classes`` of the block)."""
    return block_for(classes + 1)


def batch_scales(public: PublicInputs) -> tuple[float, float]:
    """Powers of two (mu_set, mu_cov) keeping both batch sums within BATCH_OUTPUT_LIMIT."""
    bound = 1.0 + float(_fits()["BATCH_SIGN_ERROR"])

    def scale(atoms: int) -> float:
        exponent = max(0, math.ceil(math.log2(atoms * bound / BATCH_OUTPUT_LIMIT)))
        return 2.0**-exponent

    return scale(public["points"] * public["classes"]), scale(public["points"])


__all__ = [
    "BATCH_DEGREE",
    "BATCH_GAP",
    "BATCH_NOISE_PER_SLOT",
    "BATCH_OUTPUT_LIMIT",
    "BATCH_SIGN_COEFFICIENTS",
    "BATCH_SIGN_ERROR",
    "BATCH_SPREAD_TOLERANCE",
    "DEFAULT_WINDOW",
    "MAX_CLASSES",
    "MAX_WINDOW_EXPONENT",
    "MIN_WINDOW_EXPONENT",
    "POINT_NOISE_BOUND",
    "SIGN_COEFFICIENTS",
    "SIGN_DEGREE",
    "SIGN_FIT_GAP",
    "TABLE_REQUIRED",
    "ZERO_TOLERANCE",
    "batch_block_for",
    "batch_scales",
    "block_for",
    "derive_window",
    "validate_public",
]
