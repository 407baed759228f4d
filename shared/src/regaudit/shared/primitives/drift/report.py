"""Drift's regulator half: decrypted aggregates -> moments -> certified W1 interval -> the
released report (the regulator runs this; the evaluator never imports it).

Decoding steps, the certificate and the measured noise: ``docs/specs/drift.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.chebyshev import chebyshev_sandwich, sqrt_target
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    NoiseBoundError,
    SignColumnError,
)
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.layout import (
    CHEBYSHEV_DEGREE,
    QUANTITIES,
    SIGNED_SUM,
    output_count,
    output_gain,
    output_position,
    stride_for,
)
from regaudit.shared.release import (
    release,
    round_bound_up,
    round_down_to_bound,
    round_up_to_bound,
)

#: CKKS noise bound per summed slot on a decrypted moment sum of y (|y| <= 1); T_k's noise
#: grows like k² (|T_k'| <= k²). Measured at scale 2^40 (128 bins): 4.6e-8 per slot for sum y,
#: 1.2e-7 per slot for T_16; these bounds hold 4x and 50x margins.
MOMENT_NOISE_PER_SLOT = 2e-7
#: The same for sum y since the output gain (measured 2e-10 .. 6e-10 per slot at 128 and 4096
#: bins; this bound holds a >= 8x margin).
SUM_Y_NOISE_PER_SLOT = 5e-9
#: The same for the signed sum sum s * x (s = +-1, |x| <= 1: the noise of sum y's kind, one
#: level earlier). Measured at scale 2^40 with the output gain: see docs/specs/drift.md.
SIGNED_SUM_NOISE_PER_SLOT = 5e-9
#: Smallest reported distance error bound.
MIN_DISTANCE_ERROR_BOUND = 1e-9
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Regulator side: see :func:`decode_moments` and :func:`build_drift_report` (``rows`` is
    not needed: the layout follows from ``public``)."""
    public = DriftCircuit().validate_public(public)
    return release_report(decode_unrounded(outputs, public), public)


def decode_unrounded(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (:func:`decode`)."""
    return build_drift_report(decode_moments(outputs, public), public)


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs) -> FloatArray:
    """F x QUANTITIES array [sum y, sum T_2 .. sum T_16, sum s * x] from the decrypted outputs.

    Steps: 1. exactly :func:`output_count` finite output vectors, each large enough for the
    layout; 2. every slot that is not an aggregate is within ZERO_TOLERANCE of 0; 3. every
    moment is within its possible range (0 <= sum y <= S, |sum T_k| <= S, |sum s * x| <= S,
    up to noise).
    """
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    expected = output_count(features, bins)
    # 1.
    if len(outputs) != expected:
        raise BundleFormatError(f"drift has {expected} output vector(s), got {len(outputs)}")
    vectors = [np.asarray(output, dtype=np.float64) for output in outputs]
    positions = np.array(
        [output_position(f, j, bins) for f in range(features) for j in range(QUANTITIES)],
        dtype=np.int64,
    )
    for index, vector in enumerate(vectors):
        mine = positions[positions[:, 0] == index, 1]
        if vector.ndim != 1 or vector.shape[0] <= int(mine.max()):
            raise BundleFormatError("drift output is too short for its layout")
        if not np.isfinite(vector).all():
            raise NoiseBoundError("the drift output holds non-finite values")
        # 2.
        used = np.zeros(vector.shape[0], dtype=bool)
        used[mine] = True
        if (~used).any() and np.abs(vector[~used]).max() > ZERO_TOLERANCE:
            slot = int(np.argmax(np.where(used, 0.0, np.abs(vector))))
            raise NoiseBoundError(
                f"output {index} slot {slot} should be zero but is not within {ZERO_TOLERANCE} of 0"
            )
    moments = np.array([vectors[v][s] for v, s in positions]) / output_gain(bins)
    moments = moments.reshape(features, QUANTITIES)
    # 3.
    slack = ZERO_TOLERANCE * stride
    if (moments[:, 0] < -slack).any() or (moments[:, 0] > stride + slack).any():
        raise NoiseBoundError("a decrypted sum of squares is outside [0, S]")
    if (np.abs(moments[:, 1:SIGNED_SUM]) > stride + slack).any():
        raise NoiseBoundError(
            "a Chebyshev moment exceeds its range: a CDF difference lies outside w1_range"
        )
    if (np.abs(moments[:, SIGNED_SUM]) > stride + slack).any():
        raise NoiseBoundError("a decrypted signed sum is outside [-S, S]")
    return moments


def moment_noise_bounds(atoms: int) -> FloatArray:
    """Noise bound of each decrypted moment [sum y, sum T_2 .. sum T_16] over ``atoms`` slots."""
    degrees = np.array([1, *range(2, CHEBYSHEV_DEGREE + 1)], dtype=np.float64)
    bounds = atoms * MOMENT_NOISE_PER_SLOT * np.maximum(1.0, degrees**2 / 8.0)
    bounds[0] = atoms * SUM_Y_NOISE_PER_SLOT
    return bounds


def sqrt_sum_bounds(
    moments: FloatArray, atoms: int, *, zeros: int = 0
) -> tuple[float, float, float]:
    """(lower, upper, estimate) for sum_b sqrt(y_b) over ``atoms`` values y_b in [0, 1] given
    the decrypted [sum y, sum T_2(z) .. sum T_16(z)] (z = 2y - 1); see
    :func:`regaudit.shared.chebyshev.chebyshev_sandwich`.
    ``zeros`` of the atoms are known to be 0 (padding slots, the last bin where both CDFs are
    1): their exact contribution T_k(-1) = (-1)^k is removed, so the linear programs bound only
    the unknown ``atoms - zeros`` values (a tighter interval)."""
    if not 0 <= zeros < atoms:
        raise CircuitError(f"zeros must be in 0..{atoms - 1}", field="zeros")
    unknown = atoms - zeros
    signs = (-1.0) ** np.arange(CHEBYSHEV_DEGREE + 1)
    chebyshev_moments = np.empty(CHEBYSHEV_DEGREE + 1)
    chebyshev_moments[0] = atoms
    chebyshev_moments[1] = 2.0 * moments[0] - atoms
    chebyshev_moments[2:] = moments[1:]
    chebyshev_moments -= zeros * signs
    bounds = moment_noise_bounds(atoms)
    # T_0 = atoms is exact; sum y enters T_1 = 2y - 1 twice
    noise = np.concatenate([[0.0, 2.0 * bounds[0]], bounds[1:]])
    return chebyshev_sandwich(chebyshev_moments, noise, sqrt_target, atoms=unknown, clip_low=0.0)


def _decision(value: float, threshold: float, bound: float) -> bool | str:
    if abs(value - threshold) <= bound:
        return "indeterminate"
    return value > threshold


def signed_sum_noise_bound(atoms: int) -> float:
    """Noise bound of a decrypted signed sum sum s * x over ``atoms`` slots."""
    return atoms * SIGNED_SUM_NOISE_PER_SLOT


def check_signed_sum(
    signed_sum: float, low: float, high: float, *, atoms: int, feature: int
) -> None:
    """Raise SignColumnError unless the signed sum lies in the certified interval [low, high]
    for sum |x| (widened by the signed sum's noise bound).

    Steps: 1. the certified interval comes from the Chebyshev moments alone, which the client
    cannot bias except by changing its CDFs; 2. with a truthful sign column the signed sum IS
    sum |x| (so it lies inside); 3. a sign column that moves it outside is rejected.
    """
    # 1. - 2.
    slack = signed_sum_noise_bound(atoms)
    # 3.
    if not low - slack <= signed_sum <= high + slack:
        # no decrypted value in the message: the feature and the rule
        raise SignColumnError(
            f"feature {feature}: the signed sum lies outside the certified interval for "
            f"sum |P - Q| / w1_range (widened by its noise bound {slack:.3g}): the client's "
            "sign column does not match its CDFs"
        )


def build_drift_report(moments: FloatArray, public: PublicInputs) -> dict[str, Any]:
    """The drift report from per-feature aggregates (regaudit-fhe 0.1.0's field names, per-feature
    for batches); SignColumnError if a feature's signed sum contradicts its certified interval.

    W1 is the signed sum (exact up to CKKS noise when the sign column is truthful); its error
    bound is rigorous whatever the sign column says: the distance from W1 to the farther end of
    the certified interval [w1_certified_low, w1_certified_high] (see :func:`sqrt_sum_bounds`),
    which W1 must lie in."""
    stride = stride_for(public["bins"])
    width = public["bin_width"]
    threshold = public["drift_threshold"]
    features: list[dict[str, Any]] = []
    for f, (row, scale) in enumerate(zip(moments, public["w1_range"], strict=True)):
        distance = max(0.0, float(row[0])) * scale * scale
        distance_bound = max(MIN_DISTANCE_ERROR_BOUND, moment_noise_bounds(stride)[0] * scale**2)
        # padding slots and the last bin (both CDFs end at 1) are exactly 0
        low, high, _ = sqrt_sum_bounds(
            row[:CHEBYSHEV_DEGREE], stride, zeros=stride - public["bins"] + 1
        )
        signed = float(row[SIGNED_SUM])
        check_signed_sum(signed, low, high, atoms=stride, feature=f)
        w1 = min(max(signed, low), high)
        bound = max(w1 - low, high - w1, signed_sum_noise_bound(stride))
        features.append(
            {
                "distance": distance,
                "distance_error_bound": distance_bound,
                "w1_distance": w1 * scale * width,
                "w1_error_bound": bound * scale * width,
                "w1_certified_low": low * scale * width,
                "w1_certified_high": high * scale * width,
                "drift_detected": _decision(distance, threshold, distance_bound),
            }
        )
    return assemble(features, public)


def w1_noise_bound(public: PublicInputs, feature: int) -> float:
    """CKKS noise bound of feature ``feature``'s reported ``w1_distance`` (data units)."""
    scale = public["w1_range"][feature]
    return float(signed_sum_noise_bound(stride_for(public["bins"])) * scale * public["bin_width"])


def release_report(report: dict[str, Any], public: PublicInputs) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`), per
    feature:

    * ``distance`` rounded to the step of ``distance_error_bound`` (widened by the half step
      the rounding may add, see :func:`regaudit.shared.release.release`);
    * ``w1_distance`` rounded to the step of its CKKS noise bound (:func:`w1_noise_bound`):
      the rest of ``w1_error_bound`` is the certified interval's width, a function of the
      moments' bounds and not of the decryption noise, and rounding W1 to it would throw away
      the precision the signed sum has;
    * ``w1_error_bound`` widened by that rounding (never below the widened noise bound) and
      rounded up to two significant digits;
    * ``w1_certified_low`` / ``_high`` rounded outwards (down / up) to the step of the
      released ``w1_error_bound``, so the interval still contains the truth and W1.

    The top-level fields are re-assembled from the released features; decisions are the
    decoder's (unrounded values, unwidened bounds)."""
    features: list[dict[str, Any]] = []
    for f, feature in enumerate(report["features"]):
        released = dict(feature)
        released["distance"], released["distance_error_bound"] = release(
            feature["distance"], feature["distance_error_bound"]
        )
        w1, w1_noise = release(feature["w1_distance"], w1_noise_bound(public, f))
        assert w1 is not None
        bound = max(
            w1_noise, round_bound_up(feature["w1_error_bound"] + abs(w1 - feature["w1_distance"]))
        )
        released["w1_distance"] = w1
        released["w1_error_bound"] = bound
        released["w1_certified_low"] = round_down_to_bound(feature["w1_certified_low"], bound)
        released["w1_certified_high"] = round_up_to_bound(feature["w1_certified_high"], bound)
        features.append(released)
    return assemble(features, public)


def assemble(features: list[dict[str, Any]], public: PublicInputs) -> dict[str, Any]:
    """The report from its per-feature records: the top-level fields are those of the feature
    with the largest distance; ``drift_detected`` is true if any feature drifts, else
    indeterminate if any is."""
    decisions = [f["drift_detected"] for f in features]
    if any(d is True for d in decisions):
        overall: bool | str = True
    elif any(d == "indeterminate" for d in decisions):
        overall = "indeterminate"
    else:
        overall = False
    top = max(range(len(features)), key=lambda i: features[i]["distance"])
    return {
        "distance": features[top]["distance"],
        "w1_distance": features[top]["w1_distance"],
        "w1_error_bound": features[top]["w1_error_bound"],
        "drift_detected": overall,
        "drift_threshold": public["drift_threshold"],
        "bin_width": public["bin_width"],
        "w1_range": public["w1_range"],
        "features": features,
    }


__all__ = [
    "MIN_DISTANCE_ERROR_BOUND",
    "MOMENT_NOISE_PER_SLOT",
    "SIGNED_SUM_NOISE_PER_SLOT",
    "SUM_Y_NOISE_PER_SLOT",
    "ZERO_TOLERANCE",
    "assemble",
    "build_drift_report",
    "check_signed_sum",
    "decode",
    "decode_moments",
    "decode_unrounded",
    "moment_noise_bounds",
    "release_report",
    "signed_sum_noise_bound",
    "sqrt_sum_bounds",
    "w1_noise_bound",
]
