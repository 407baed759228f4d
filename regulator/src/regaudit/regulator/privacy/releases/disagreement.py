"""disagreement under DP: the per-model mean outputs and the mean pairwise squared difference
(MPSD) over the n test inputs, quantized (:mod:`.common`).

The bound on one row is PUBLIC: every input satisfies |x| <= ``input_bound`` B (the client
refuses an input above it), so u = x / B lies in [-1, 1]. With model k's coefficients s_k in
powers of u (``_scaled``), f_k(u) lies in [s_k0 - sum_j>=1 |s_kj|, s_k0 + sum_j>=1 |s_kj|]: a
range r_k = 2 sum_j>=1 |s_kj|. The MPSD is the mean over rows of h(u) = the mean over pairs of
g_ab(u)^2 (g_ab = s_a - s_b), which lies in [0, H], H = the mean over pairs of
(sum_j |g_ab,j|)^2. Changing one row moves model k's mean by at most r_k / n and the MPSD by at
most H / n (adding or removing one moves each mean by at most its range / (n + 1)): l1 =
(sum_k r_k + H) / n, l2 = sqrt(sum_k r_k^2 + H^2) / n, over M + 1 coordinates. The decoder's
CKKS error is bounded publicly: the moments' noise bound at the worst moments (every |mean
u^j| = 1), times 2 for the rounding of the released value (:func:`public_errors`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from regaudit.regulator.privacy.releases.common import (
    Aggregates,
    PrimitiveRelease,
    Quantization,
    clamp,
    integer,
    number,
    quantized_sensitivity,
)
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: Name of the MPSD aggregate (the per-model means are ``model[k].mean_output``).
MPSD = "mean_pairwise_squared_difference"
#: The released (rounded) value is within this factor of the decoder's CKKS bound of the truth.
RELEASE_WIDENING = 2.0


def _scaled_models(public: dict[str, Any]) -> list[np.ndarray[Any, np.dtype[np.float64]]]:
    from regaudit.shared.primitives.disagreement.layout import degree_of

    size = degree_of(public) + 1
    bound = float(public["input_bound"])
    models = []
    for coefficients in public["model_polynomials"]:
        scaled = np.zeros(size)
        for k, c in enumerate(coefficients):
            scaled[k] = float(c) * bound**k
        models.append(scaled)
    return models


def _ranges(public: dict[str, Any]) -> tuple[list[tuple[float, float]], float]:
    """Per model the interval [low, high] of f_k on |x| <= B, and H (the module doc)."""
    models = _scaled_models(public)
    intervals = [
        (float(m[0] - np.abs(m[1:]).sum()), float(m[0] + np.abs(m[1:]).sum())) for m in models
    ]
    pairs = list(combinations(range(len(models)), 2))
    peak = sum(float(np.abs(models[a] - models[b]).sum()) ** 2 for a, b in pairs) / len(pairs)
    return intervals, peak


def public_errors(verified: VerifiedAudit, public: dict[str, Any]) -> tuple[list[float], float]:
    """The CKKS error bound of each released mean and of the MPSD at the worst moments, widened
    by RELEASE_WIDENING: a function of the public inputs and the plan only."""
    from regaudit.shared.primitives.disagreement.layout import degree_of
    from regaudit.shared.primitives.disagreement.report import moment_noise_bounds

    degree = degree_of(public)
    rows = int(verified.plan.rows)
    slots = int(verified.plan.profile.slot_count)
    noise = moment_noise_bounds(
        np.ones(2 * degree + 1), rows=rows, chunks=-(-rows // slots), slots=slots
    )
    models = _scaled_models(public)
    means = [RELEASE_WIDENING * float(np.abs(m) @ noise[: degree + 1]) for m in models]
    pairs = list(combinations(range(len(models)), 2))
    weights = np.zeros(2 * degree + 1)
    for a, b in pairs:
        g = models[a] - models[b]
        weights += np.convolve(g, g) / len(pairs)
    return means, RELEASE_WIDENING * float(np.abs(weights) @ noise)


def _setup(verified: VerifiedAudit) -> tuple[dict[str, Any], Quantization, list[float], float]:
    from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit

    public = DisagreementCircuit().validate_public(dict(verified.public_inputs))
    rows = int(verified.plan.rows)
    intervals, peak = _ranges(public)
    ranges = [high - low for low, high in intervals]
    errors, mpsd_error = public_errors(verified, public)
    quantization = quantized_sensitivity(
        l1=(sum(ranges) + peak) / rows,
        l2=math.sqrt(sum(r * r for r in ranges) + peak * peak) / rows,
        error=max([*errors, mpsd_error]),
        coordinates=len(ranges) + 1,
        unit="test input",
    )
    return public, quantization, errors, mpsd_error


def _disagreement_aggregates(verified: VerifiedAudit) -> Aggregates:
    """Steps: 1. public inputs, quantization and public error bounds; 2. the released means and
    MPSD, whose own bounds must be within the public ones; 3. quantized."""
    # 1.
    _, quantization, errors, mpsd_error = _setup(verified)
    result = verified.result
    models = integer(result.get("models"), "models")
    means = result.get("per_model_mean_outputs")
    bounds = result.get("per_model_error_bounds")
    if (
        not isinstance(means, list)
        or not isinstance(bounds, list)
        or not (len(means) == len(bounds) == models == len(errors))
    ):
        raise InputError("the verified disagreement result has no per-model means", field="result")
    # 2.
    values = [number(v, f"per_model_mean_outputs[{i}]") for i, v in enumerate(means)]
    values.append(number(result.get(MPSD), MPSD))
    own = [number(b, f"per_model_error_bounds[{i}]") for i, b in enumerate(bounds)]
    own.append(number(result.get("error_bound"), "error_bound"))
    if any(b > limit for b, limit in zip(own, [*errors, mpsd_error], strict=True)):
        raise InputError("a decoded error bound exceeds its public worst case", field="result")
    # 3.
    names = tuple(f"model[{k}].mean_output" for k in range(models)) + (MPSD,)
    return Aggregates(names, quantization.quantize(values), quantization.sensitivity)


def _disagreement_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. back to values; 2. each mean into its model's range, the
    MPSD into [0, H]; 3. the report's fields (error bounds: the public CKKS ones; the noise's
    is in the ``differential_privacy`` block) and the decision against the threshold, released
    by the primitive's own ``release_report``."""
    from regaudit.shared.primitives.disagreement.report import release_report

    public, quantization, errors, mpsd_error = _setup(verified)
    intervals, peak = _ranges(public)
    # 1.
    values = quantization.restore(noised)
    # 2.
    means = [clamp(v, low, high) for v, (low, high) in zip(values, intervals, strict=False)]
    mpsd = clamp(values[-1], 0.0, peak)
    # 3.
    threshold = float(public["threshold"])
    decision: bool | str = (
        "indeterminate" if abs(mpsd - threshold) <= mpsd_error else mpsd > threshold
    )
    models = len(intervals)
    return release_report(
        {
            MPSD: mpsd,
            "error_bound": mpsd_error,
            "threshold": public["threshold"],
            "threshold_breached": decision,
            "per_model_mean_outputs": means,
            "per_model_error_bounds": errors,
            "models": models,
            "pairs": models * (models - 1) // 2,
        }
    )


DISAGREEMENT = PrimitiveRelease(
    primitive="disagreement",
    aggregates=_disagreement_aggregates,
    rebuild=_disagreement_rebuild,
    metrics=(MPSD,),
    public=("rows", "model_polynomials", "input_bound", "threshold"),
    error_bounds={MPSD: "error_bound"},
)

__all__ = ["DISAGREEMENT", "MPSD", "RELEASE_WIDENING", "public_errors"]
