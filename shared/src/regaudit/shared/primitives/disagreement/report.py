"""The disagreement regulator's half: decrypted power sums -> input moments (with their CKKS
noise bounds) -> the report, rounded for release. Run by the regulator (and the client's
local decode)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit
from regaudit.shared.primitives.disagreement.layout import (
    PRODUCT_GAIN_BITS,
    degree_of,
    gain_bits,
    mask_shift,
    output_scale,
    top_powers,
)
from regaudit.shared.release import release

#: Noise bounds on one decoded power sum sum_i u_i^j (absolute, in units of the sum), measured on
#: ``ckks-n16384-d6-v1`` (the measurements are in ``docs/specs/disagreement.md``, "Accuracy"):
#: the key-switching noise of one full radix-4 slot sum (19 rotations). It does not depend on the
#: values and is largely fixed by the Galois keys (a per-slot bias: ~1e-5 in slot 0, ~1e-6
#: elsewhere); max 1.4e-5 over 6 levels x 8,192 slots x 3 keys. The gain 2^G divides it.
ROTATION_NOISE_BOUND = 5e-5
#: The rescaling / relinearization noise of one product ciphertext summed over its slots (a
#: chunk; theory: (N/2) e_0 / scale, rms ~2.2e-7), divided by the product gain for top powers.
PRODUCT_NOISE_BOUND = 1.5e-6
#: The lower powers' noise carried into u^j by the later products, per unit of
#: j * sqrt(sum u^2 / slots) (coherent for u = 1 in every slot: 1.7e-6 measured for u^6,
#: 1.4e-5 for u^32).
PROPAGATED_NOISE_BOUND = 1e-6
#: The multiplication by the mask and the aligning of the output levels (in output units:
#: measured <= 2e-8).
OUTPUT_NOISE_BOUND = 1e-7
#: Relative encoding error of the mask value 2^-e in its slot, times 2^-e (the encoding error of
#: a one-hot plaintext is absolute: measured <= 1.4e-10 over 8,192 slots).
MASK_ENCODING_BOUND = 1e-9
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3
#: Row count above which the zero-slot tolerance grows proportionally (noise grows with sums).
ZERO_SCALE_ROWS = 10_000


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Decrypted output vectors -> the released report (``public`` is validated first): see
    :func:`decode_moments`, :func:`build_disagreement_report` and :func:`release_report`."""
    public = DisagreementCircuit().validate_public(public)
    return release_report(decode_unrounded(outputs, public, rows))


def decode_unrounded(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (:func:`decode`)."""
    moments = decode_moments(outputs, public, rows)
    slots = int(np.asarray(outputs[0]).shape[0])
    noise = moment_noise_bounds(moments, rows=rows, chunks=-(-rows // slots), slots=slots)
    return build_disagreement_report(moments, public, rows=rows, noise=noise)


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> FloatArray:
    """[mean u^0 = 1, mean u^1, ..., mean u^2d] from the decrypted outputs
    (output_scale(rows) * sum u^j in slot j - 1).

    Steps: 1. exactly one finite output vector with 2d used slots; 2. every other slot is within
    ZERO_TOLERANCE of 0; 3. every mean lies in [-1, 1] and every even one in [0, 1] (up to
    noise), as |u| <= 1.
    """
    count = 2 * degree_of(public)
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"disagreement has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < count:
        raise BundleFormatError("disagreement output is too short")
    if not np.isfinite(vector).all():
        raise NoiseBoundError("the disagreement output holds non-finite values")
    # 2.
    tail = vector[count:]
    if tail.size and np.abs(tail).max() > ZERO_TOLERANCE * max(1.0, rows / ZERO_SCALE_ROWS):
        slot = count + int(np.argmax(np.abs(tail)))
        tolerance = ZERO_TOLERANCE * max(1.0, rows / ZERO_SCALE_ROWS)
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {tolerance:.3g} of 0"
        )
    means = vector[:count] / output_scale(rows) / rows
    # 3.
    if np.abs(means).max() > 1.0 + ZERO_TOLERANCE or means[1::2].min() < -ZERO_TOLERANCE:
        raise NoiseBoundError("a decrypted input moment is outside its possible range")
    return np.concatenate([[1.0], means])


def _scaled(coefficients: Sequence[float], bound: float, length: int) -> FloatArray:
    """Coefficients of f in powers of u = x / bound, zero-padded to ``length``."""
    result = np.zeros(length)
    for k, c in enumerate(coefficients):
        result[k] = c * bound**k
    return result


def _decision(value: float, threshold: float, bound: float) -> bool | str:
    if abs(value - threshold) <= bound:
        return "indeterminate"
    return value > threshold


def moment_noise_bounds(moments: FloatArray, *, rows: int, chunks: int, slots: int) -> FloatArray:
    """Absolute CKKS noise bound on each decrypted mean moment [mean u^0 (exact: 0), mean u^1,
    ..., mean u^2d] of ``rows`` inputs in ``chunks`` chunks of ``slots`` slots.

    On the power sum sum_i u_i^j: ROTATION_NOISE_BOUND / 2^G (the slot sum's rotations, after
    the gain) + OUTPUT_NOISE_BOUND / output_scale (mask, alignment) + chunks *
    PRODUCT_NOISE_BOUND / 2^(product gain) (each chunk's own product) + PROPAGATED_NOISE_BOUND *
    j * sqrt(chunks * rows * mean u^2 / slots) (the lower powers' noise carried by the later
    products with weights |u|^(j-m) <= |u|, Cauchy-Schwarz over the chunks) + |sum u^j| * 2^e *
    MASK_ENCODING_BOUND (the mask's encoding). Divided by the row count.
    """
    count = moments.shape[0] - 1
    powers = np.arange(1, count + 1)
    top = top_powers(count)
    own = np.array([2.0**-PRODUCT_GAIN_BITS if j in top else 1.0 for j in powers])
    second = min(1.0, abs(float(moments[2])) + 1e-6)  # mean u^2, with room for its own noise
    spread = math.sqrt(chunks * rows * second / slots)
    sums = np.abs(moments[1:]) * rows
    bound = (
        ROTATION_NOISE_BOUND / 2.0 ** gain_bits(rows)
        + OUTPUT_NOISE_BOUND / output_scale(rows)
        + chunks * PRODUCT_NOISE_BOUND * own
        + PROPAGATED_NOISE_BOUND * powers * spread
        + sums * 2.0 ** mask_shift(rows) * MASK_ENCODING_BOUND
    )
    return np.concatenate([[0.0], bound / rows])


def build_disagreement_report(
    moments: FloatArray, public: PublicInputs, *, rows: int, noise: FloatArray
) -> dict[str, Any]:
    """The report from [mean u^0 .. mean u^2d] and their noise bounds (exact arithmetic on the
    decrypted moments). Every reported quantity is linear in the moments: a per-model mean is
    sum_k a_k mu_k, the mean pairwise squared difference is sum_j c_j mu_j with c_j the mean over
    pairs of sum_(k+l=j) g_k g_l; its error bound is sum_j |c_j| noise_j (rigorous given the
    per-moment bounds, and tighter than |g|^T N |g|: equal moments' errors are the same error)."""
    degree = degree_of(public)
    size = degree + 1
    scaled = [_scaled(c, public["input_bound"], size) for c in public["model_polynomials"]]
    hankel = np.array([[moments[k + m] for m in range(size)] for k in range(size)])
    means = [float(c @ moments[:size]) for c in scaled]
    mean_bounds = [float(np.abs(c) @ noise[:size]) for c in scaled]
    pairs = list(combinations(range(len(scaled)), 2))
    values = []
    weights = np.zeros(2 * degree + 1)
    for a, b in pairs:
        g = scaled[a] - scaled[b]
        values.append(float(g @ hankel @ g))
        weights += np.convolve(g, g) / len(pairs)
    mpsd = max(0.0, float(np.mean(values)))
    error = float(np.abs(weights) @ noise)
    return {
        "mean_pairwise_squared_difference": mpsd,
        "error_bound": error,
        "threshold": public["threshold"],
        "threshold_breached": _decision(mpsd, public["threshold"], error),
        "per_model_mean_outputs": means,
        "per_model_error_bounds": mean_bounds,
        "models": len(scaled),
        "pairs": len(pairs),
    }


def release_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): the mean
    pairwise squared difference rounded to the step of ``error_bound`` and each per-model mean to
    the step of its ``per_model_error_bounds`` entry; every bound widened by the half step the
    rounding may add and rounded up to two significant digits (see
    :func:`regaudit.shared.release.release`). The decision is the decoder's (unrounded values,
    unwidened bound)."""
    released = dict(report)
    released["mean_pairwise_squared_difference"], released["error_bound"] = release(
        report["mean_pairwise_squared_difference"], report["error_bound"]
    )
    pairs = [
        release(value, bound)
        for value, bound in zip(
            report["per_model_mean_outputs"], report["per_model_error_bounds"], strict=True
        )
    ]
    released["per_model_mean_outputs"] = [value for value, _ in pairs]
    released["per_model_error_bounds"] = [bound for _, bound in pairs]
    return released


__all__ = [
    "MASK_ENCODING_BOUND",
    "OUTPUT_NOISE_BOUND",
    "PRODUCT_NOISE_BOUND",
    "PROPAGATED_NOISE_BOUND",
    "ROTATION_NOISE_BOUND",
    "ZERO_SCALE_ROWS",
    "ZERO_TOLERANCE",
    "build_disagreement_report",
    "decode",
    "decode_moments",
    "decode_unrounded",
    "moment_noise_bounds",
    "release_report",
]
