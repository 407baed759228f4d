"""Provenance's regulator half: decrypted output vector -> bucket totals, top-K and error
bound, then the released (rounded) report.

Run by the regulator (and the in-process API) after decryption; the evaluator never imports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
from regaudit.shared.primitives.provenance.layout import MAX_TOTAL
from regaudit.shared.release import release_all

#: CKKS error bound of one decrypted bucket total as a fraction of MAX_TOTAL per chunk of
#: 4096 rows (measured ~4e-10 at scale 2^30: a 25x margin).
NOISE_FRACTION = 1e-8
#: Rows per noise unit.
NOISE_ROWS = 4096
#: Relative error of a decrypted total caused by encoding the output mask (a 0/1 plaintext
#: vector) at the 2^30 scale: ~sqrt(N) / 2^30 per slot, deterministic for a given mask (so it
#: does not average out across keys). Measured up to 4e-7 at 100,000 rows; 2.5x margin.
MASK_RELATIVE_ERROR = 1e-6
#: A zeroed output slot further than this (in units of the scale) cannot be CKKS noise.
ZERO_TOLERANCE = 1e-7 * MAX_TOTAL


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Regulator side: :func:`decode_totals` and :func:`build_provenance_report`, released."""
    public = ProvenanceCircuit().validate_public(public)
    return release_report(decode_unrounded(outputs, public, rows))


def error_bound(public: PublicInputs, rows: int, *, largest_total: float | None = None) -> float:
    """Absolute CKKS error bound of one bucket total (in attribution units): additive noise per
    chunk plus the output mask's relative encoding error on the largest total (|total| <=
    ``largest_total``, by default the largest possible)."""
    chunks = max(1, math.ceil(rows / NOISE_ROWS))
    scale = public["attribution_scale"]
    largest = MAX_TOTAL * scale if largest_total is None else abs(largest_total)
    additive = NOISE_FRACTION * MAX_TOTAL * chunks * scale
    return float(additive + MASK_RELATIVE_ERROR * (largest + additive))


def decode_unrounded(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (:func:`decode`)."""
    totals = decode_totals(outputs, public, rows)
    largest = float(np.abs(totals).max()) if totals.size else 0.0
    bound = error_bound(public, rows, largest_total=largest)
    return build_provenance_report(totals, public, error_bound=bound)


def decode_totals(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> FloatArray:
    """Bucket totals in attribution units.

    Steps: 1. one finite output vector with n_buckets leading slots; 2. every other slot is
    within ZERO_TOLERANCE of 0; 3. every |total| <= rows * scale (+ noise).
    """
    n_buckets = public["n_buckets"]
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"provenance has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < n_buckets or not np.isfinite(vector).all():
        raise BundleFormatError("provenance output is malformed")
    # 2.
    tail = vector[n_buckets:]
    # the output mask's encoding error leaks a small multiple of the largest total into every
    # zeroed slot (deterministically), so the tolerance grows with it
    largest = float(np.abs(vector[:n_buckets]).max()) if n_buckets else 0.0
    tolerance = ZERO_TOLERANCE + MASK_RELATIVE_ERROR * largest
    if tail.size and np.abs(tail).max() > tolerance:
        slot = n_buckets + int(np.argmax(np.abs(tail)))
        # the tolerance depends on the largest total: name the rule, not its value
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {ZERO_TOLERANCE:.3g} plus "
            f"{MASK_RELATIVE_ERROR:g} x the largest total of 0"
        )
    # 3.
    totals = vector[:n_buckets]
    if np.abs(totals).max() > MAX_TOTAL + ZERO_TOLERANCE:
        raise NoiseBoundError("a bucket total exceeds its possible range")
    scaled: FloatArray = totals * float(public["attribution_scale"])
    return scaled


def build_provenance_report(
    totals: FloatArray, public: PublicInputs, *, error_bound: float
) -> dict[str, Any]:
    """Top-K by total (descending; ties broken by the lower bucket id). Rank r (1-based) is
    indeterminate when its total lies within 2 * error_bound of a neighbouring rank's, and the
    top-K set itself is determined only if ranks K and K+1 are separated by more than that."""
    n_buckets, k = public["n_buckets"], public["k"]
    order = sorted(range(n_buckets), key=lambda b: (-float(totals[b]), b))
    ranked = [float(totals[b]) for b in order]
    margin = 2.0 * error_bound
    indeterminate = set()
    for r in range(n_buckets - 1):
        if ranked[r] - ranked[r + 1] <= margin:
            indeterminate.update({r + 1, r + 2})
    top = order[:k]
    indicator = [0] * n_buckets
    for b in top:
        indicator[b] = 1
    determined = k == n_buckets or ranked[k - 1] - ranked[k] > margin
    return {
        "bucket_totals": [float(t) for t in totals],
        "top_k_ids": top,
        "top_k_indicator": indicator,
        "k": k,
        "n_buckets": n_buckets,
        "error_bound": error_bound,
        "indeterminate_ranks": sorted(r for r in indeterminate if r <= k + 1),
        "top_k_determined": determined,
    }


def release_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): every
    bucket total rounded to the step of ``error_bound``, which is widened by the half step the
    rounding may add and rounded up to two significant digits (see
    :func:`regaudit.shared.release.release`). The top-K, the indicator and the indeterminate
    ranks are the decoder's (unrounded totals, unwidened bound)."""
    released = dict(report)
    released["bucket_totals"], released["error_bound"] = release_all(
        report["bucket_totals"], report["error_bound"]
    )
    return released


__all__ = [
    "MASK_RELATIVE_ERROR",
    "NOISE_FRACTION",
    "NOISE_ROWS",
    "ZERO_TOLERANCE",
    "build_provenance_report",
    "decode",
    "decode_totals",
    "decode_unrounded",
    "error_bound",
    "release_report",
]
