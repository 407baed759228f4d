"""drift under DP: each feature's ``distance`` and ``w1_distance``, quantized (:mod:`.common`).

The bound on one sample is PUBLIC: the client's public ``sample_counts`` give per feature the
numbers n_p, n_q of samples behind p and q (filled from integer-count histograms; an audit of
probabilities without them is refused). Feature f has B bins, CDF gaps g_b = P_b - Q_b
(|g_b| <= R, the public ``w1_range``; g_{B-1} = 0) and width w (``bin_width``);
distance = sum_b g_b^2, W1 = w sum_b |g_b|.

One sample in p moves every P_b by at most 1 / n_p: changing its bin moves P_b by exactly
1 / n_p between the two bins and nowhere else; adding one at bin i gives
P'_b = (n_p P_b + [b >= i]) / (n_p + 1), so P'_b - P_b = ([b >= i] - P_b) / (n_p + 1) with both
terms in [0, 1] (at most 1 / (n_p + 1)); removing one is that step backwards from n_p - 1 (at
most 1 / n_p). The same for q. One individual is counted in every feature and may be a sample
of both p and q, so per bin |g'_b - g_b| <= e = 1 / n_p + 1 / n_q, over the B - 1 bins that
can move, and:

* |W1' - W1| <= w sum_b |g'_b - g_b| <= w (B - 1) e;
* |D' - D| = |sum_b (g'_b - g_b)(g'_b + g_b)| <= (B - 1) e (2R + e) (|g_b| <= R, |g'_b| <= R + e).

Summed over the features (one individual is in each): l1 = sum_f (dD_f + dW_f),
l2 = sqrt(sum_f dD_f^2 + dW_f^2), over 2F coordinates. The CKKS error of each released value is
bounded publicly: twice the decoder's bound (distance: the sum of squares' noise bound times
R^2; W1: the signed sum's noise bound, :func:`...drift.report.w1_noise_bound`, which is W1's
error with a truthful sign column -- a sign column the certificate contradicts fails
verification before any release), the factor 2 for the release rounding.

Post-processing: distance into [0, (B - 1) R^2], W1 into [0, w (B - 1) R]; the error bounds are
the public CKKS ones (the release adds the noise's half-width); ``drift_detected`` per feature
against them, the top-level fields by the primitive's own ``assemble``. The certified interval
(``w1_certified_low`` / ``_high``) is a function of the data's moments: withheld.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from regaudit.regulator.privacy.releases.common import (
    Aggregates,
    PrimitiveRelease,
    Quantization,
    clamp,
    number,
    quantized_sensitivity,
)
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.drift.layout import MAX_FEATURES, SAMPLE_COUNTS

#: The released (rounded) value is within this factor of the decoder's CKKS bound of the truth.
RELEASE_WIDENING = 2.0
#: The noised values of each feature (``features.<f>.<name>``).
FEATURE_METRICS = ("distance", "w1_distance")
#: Why an audit without public sample counts is refused.
NO_COUNTS = (
    "the audit has no public sample_counts (the histograms were probabilities and no counts "
    "were given), so nothing public bounds how far one sample moves a CDF (1 / n for n "
    "samples); give the counts (--sample-counts) or integer-count histograms"
)


@dataclass(frozen=True)
class _Setup:
    public: dict[str, Any]
    quantization: Quantization
    #: per feature (distance, W1) public CKKS error bounds and (distance, W1) upper ends
    errors: list[tuple[float, float]]
    highs: list[tuple[float, float]]


def sample_sensitivity(
    *, bins: int, w1_range: float, bin_width: float, n_p: int, n_q: int
) -> tuple[float, float]:
    """(distance, W1) bound on one individual's effect on one feature (the module doc)."""
    e = 1.0 / n_p + 1.0 / n_q
    return (bins - 1) * e * (2.0 * w1_range + e), bin_width * (bins - 1) * e


def _setup(verified: VerifiedAudit) -> _Setup:
    """Steps: 1. the validated public inputs, refused without sample counts; 2. per feature the
    sensitivity, the public CKKS bounds and the valid ranges; 3. the quantization."""
    from regaudit.shared.primitives.drift.circuit import DriftCircuit
    from regaudit.shared.primitives.drift.layout import stride_for
    from regaudit.shared.primitives.drift.report import (
        MIN_DISTANCE_ERROR_BOUND,
        moment_noise_bounds,
        w1_noise_bound,
    )

    # 1.
    public = DriftCircuit().validate_public(dict(verified.public_inputs))
    counts = public.get(SAMPLE_COUNTS)
    if counts is None:
        raise InputError(NO_COUNTS, field=SAMPLE_COUNTS)
    # 2.
    bins, width = int(public["bins"]), float(public["bin_width"])
    sum_y_noise = float(moment_noise_bounds(stride_for(bins))[0])
    moves: list[float] = []
    errors, highs = [], []
    for f, scale in enumerate(public["w1_range"]):
        moves += sample_sensitivity(
            bins=bins,
            w1_range=scale,
            bin_width=width,
            n_p=counts["p"][f],
            n_q=counts["q"][f],
        )
        distance_error = max(MIN_DISTANCE_ERROR_BOUND, sum_y_noise * scale * scale)
        errors.append(
            (RELEASE_WIDENING * distance_error, RELEASE_WIDENING * w1_noise_bound(public, f))
        )
        highs.append(((bins - 1) * scale * scale, width * (bins - 1) * scale))
    # 3.
    quantization = quantized_sensitivity(
        l1=sum(moves),
        l2=math.sqrt(sum(m * m for m in moves)),
        error=max(max(pair) for pair in errors),
        coordinates=len(moves),
        unit="sample",
    )
    return _Setup(public, quantization, errors, highs)


def _drift_aggregates(verified: VerifiedAudit) -> Aggregates:
    """Steps: 1. public inputs and quantization (refused without sample counts); 2. each
    feature's released distance and W1, the distance's own bound within the public one;
    3. quantized."""
    # 1.
    setup = _setup(verified)
    features = verified.result.get("features")
    if not isinstance(features, list) or len(features) != len(setup.errors):
        raise InputError("the verified drift result has no per-feature records", field="result")
    # 2.
    values: list[float] = []
    names: list[str] = []
    for f, (feature, (distance_error, _)) in enumerate(zip(features, setup.errors, strict=True)):
        if not isinstance(feature, dict):
            raise InputError("is not a feature record", field=f"features[{f}]")
        own = number(feature.get("distance_error_bound"), f"features[{f}].distance_error_bound")
        if own > distance_error:
            raise InputError(
                "a decoded error bound exceeds its public worst case", field=f"features[{f}]"
            )
        for metric in FEATURE_METRICS:
            values.append(number(feature.get(metric), f"features[{f}].{metric}"))
            names.append(f"features.{f}.{metric}")
    # 3.
    return Aggregates(
        tuple(names), setup.quantization.quantize(values), setup.quantization.sensitivity
    )


def _drift_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. back to values; 2. each into its valid range; 3. the feature
    records (public CKKS bounds, the decision against them) and the top-level fields by the
    primitive's own ``assemble``."""
    from regaudit.shared.primitives.drift.report import assemble

    setup = _setup(verified)
    threshold = float(setup.public["drift_threshold"])
    # 1.
    values = setup.quantization.restore(noised)
    features: list[dict[str, Any]] = []
    for f, ((distance_error, w1_error), (distance_high, w1_high)) in enumerate(
        zip(setup.errors, setup.highs, strict=True)
    ):
        # 2.
        distance = clamp(values[2 * f], 0.0, distance_high)
        w1 = clamp(values[2 * f + 1], 0.0, w1_high)
        # 3.
        decision: bool | str = (
            "indeterminate" if abs(distance - threshold) <= distance_error else distance > threshold
        )
        features.append(
            {
                "distance": distance,
                "distance_error_bound": distance_error,
                "w1_distance": w1,
                "w1_error_bound": w1_error,
                "drift_detected": decision,
            }
        )
    return assemble(features, setup.public)


def _feature_names(metric: str) -> tuple[str, ...]:
    return tuple(f"features.{f}.{metric}" for f in range(MAX_FEATURES))


DRIFT = PrimitiveRelease(
    primitive="drift",
    aggregates=_drift_aggregates,
    rebuild=_drift_rebuild,
    # every possible feature's metrics (the analysis skips features an audit does not have)
    metrics=(
        "distance",
        "w1_distance",
        *_feature_names("distance"),
        *_feature_names("w1_distance"),
    ),
    public=("bins", "features", "sample_counts", "w1_range", "bin_width", "drift_threshold"),
    error_bounds={
        "w1_distance": "w1_error_bound",
        **{
            f"features.{f}.distance": f"features.{f}.distance_error_bound"
            for f in range(MAX_FEATURES)
        },
        **{
            f"features.{f}.w1_distance": f"features.{f}.w1_error_bound" for f in range(MAX_FEATURES)
        },
    },
)

__all__ = ["DRIFT", "FEATURE_METRICS", "NO_COUNTS", "RELEASE_WIDENING", "sample_sensitivity"]
