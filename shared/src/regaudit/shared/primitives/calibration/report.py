"""Calibration's regulator half, run by the regulator after decryption: check the decrypted
aggregates (zeroed slots, uniform slot-sums, ranges) and decode them into the report
(membership and set size of a point; coverage and mean set size of a batch, released)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    InputError,
    NoiseBoundError,
    VerificationError,
)
from regaudit.shared.evidence.commitments import SALT_BYTES
from regaudit.shared.primitives.calibration import layout
from regaudit.shared.primitives.calibration.conformal import (
    calibration_commitment,
    conformal_quantiles,
    rule_fields,
)
from regaudit.shared.primitives.calibration.layout import (
    BATCH_NOISE_PER_SLOT,
    BATCH_SPREAD_TOLERANCE,
    POINT_NOISE_BOUND,
    ZERO_TOLERANCE,
    batch_block_for,
    batch_scales,
    validate_public,
)
from regaudit.shared.release import release


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Regulator side: :func:`decode_point` or :func:`decode_batch`."""
    public = validate_public(public)
    if public["mode"] == "point":
        return decode_point(outputs, public)
    return release_batch(decode_batch(outputs, public))


def _output(outputs: Sequence[FloatArray], used: int) -> FloatArray:
    """Steps: 1. one finite vector with ``used`` leading slots; 2. the rest is ~0."""
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"calibration has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < used or not np.isfinite(vector).all():
        raise BundleFormatError("calibration output is malformed")
    # 2.
    tail = vector[used:]
    if tail.size and np.abs(tail).max() > ZERO_TOLERANCE:
        slot = used + int(np.argmax(np.abs(tail)))
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {ZERO_TOLERANCE} of 0"
        )
    return vector[:used]


def decode_point(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """membership_k = 1 if p(t_k) < 0 (score <= quantile), 0 if p(t_k) > 0, "indeterminate"
    within POINT_NOISE_BOUND of 0; set_size counts members (None if any is indeterminate)."""
    values = _output(outputs, public["classes"])
    if np.abs(values).max() > 1.0 + 2 * np.abs(layout.SIGN_COEFFICIENTS).sum():
        raise NoiseBoundError("a decrypted sign value is outside the polynomial's range")
    membership: list[int | str] = []
    for value in values:
        if abs(value) <= POINT_NOISE_BOUND:
            membership.append("indeterminate")
        else:
            membership.append(1 if value < 0 else 0)
    indeterminate = sum(1 for m in membership if m == "indeterminate")
    members = sum(1 for m in membership if m == 1)
    return {
        "membership": membership,
        "set_size": None if indeterminate else members,
        "set_size_range": [members, members + indeterminate],
        "quantiles": public["quantiles"],
        **rule_fields(public),
    }


def batch_noise_bounds(public: PublicInputs, slot_count: int) -> tuple[float, float]:
    """CKKS noise bounds on S_set and S_cov (unscaled sums of s): every evaluated slot of
    every chunk may contribute BATCH_NOISE_PER_SLOT, amplified by 1 / mu."""
    block = batch_block_for(public["classes"])
    chunks = math.ceil(public["points"] * block / slot_count)
    slots = chunks * slot_count * BATCH_NOISE_PER_SLOT
    mu_set, mu_cov = batch_scales(public)
    return slots / mu_set, slots / mu_cov


def _uniform_output(vector: FloatArray, name: str) -> float:
    """Steps: 1. finite; 2. every slot holds the same sum (within noise); 3. their mean."""
    # 1.
    if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
        raise BundleFormatError(f"calibration {name} output is malformed")
    # 2.
    spread = float(vector.max() - vector.min())
    if spread > BATCH_SPREAD_TOLERANCE:
        raise NoiseBoundError(
            f"the {name} output's slots disagree by more than {BATCH_SPREAD_TOLERANCE}: "
            "not a slot-sum"
        )
    # 3.
    return float(vector.mean())


def decode_batch(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """Coverage and mean set size with error bounds from the two decrypted slot-sums.

    Steps: 1. two output vectors, each uniform; 2. unscale S = output / mu and check its
    range; 3. totals (atoms - S) / 2, error bound atoms * BATCH_SIGN_ERROR / 2 plus noise / 2;
    4. per point. Unrounded: what leaves the regulator is :func:`release_batch` of it."""
    # 1.
    if len(outputs) != 2:
        raise BundleFormatError(f"calibration batch has 2 output vectors, got {len(outputs)}")
    vectors = [np.asarray(o, dtype=np.float64) for o in outputs]
    values = [_uniform_output(v, n) for v, n in zip(vectors, ("set size", "coverage"), strict=True)]
    points, classes = public["points"], public["classes"]
    mu_set, mu_cov = batch_scales(public)
    noise_set, noise_cov = batch_noise_bounds(public, vectors[0].shape[0])
    report: dict[str, Any] = {
        "points": points,
        "quantiles": public["quantiles"],
        **rule_fields(public),
    }
    for name, atoms, value, mu, noise in (
        ("mean_set_size", points * classes, values[0], mu_set, noise_set),
        ("coverage", points, values[1], mu_cov, noise_cov),
    ):
        # 2.
        total = value / mu
        if abs(total) > atoms * (1.0 + layout.BATCH_SIGN_ERROR) + noise:
            raise NoiseBoundError(
                f"the {name} sum exceeds its range (at most {atoms} plus the error bound)"
            )
        # 3.
        count = min(max((atoms - total) / 2.0, 0.0), float(atoms))
        error = (atoms * layout.BATCH_SIGN_ERROR + noise) / 2.0
        # 4.
        report[name] = count / points
        report[f"{name}_error_bound"] = error / points
    return report


def release_batch(report: dict[str, Any]) -> dict[str, Any]:
    """The batch report as it may leave the regulator (see :mod:`regaudit.shared.release`):
    ``coverage`` and ``mean_set_size`` rounded to the decimal step of their error bounds, each bound
    widened by the half step the rounding may add (see :func:`regaudit.shared.release.release`). The
    point form needs nothing: it reports 0/1 bits and integer set sizes only."""
    released = dict(report)
    for name in ("mean_set_size", "coverage"):
        bound = f"{name}_error_bound"
        released[name], released[bound] = release(report[name], report[bound])
    return released


def check_quantile_rule(
    public: PublicInputs,
    *,
    calibration_scores: FloatArray,
    calibration_labels: FloatArray | None = None,
    salt_hex: str | None = None,
) -> None:
    """Regulator side, given an opening of the calibration set: the public quantiles are the
    split-conformal ones of exactly that set.

    Steps: 1. the public inputs name a rule (VerificationError otherwise); 2. the opened set
    matches ``calibration_commitment`` (DigestMismatchError); 3. the rule applied to it gives
    the public sizes and quantiles, bit for bit (VerificationError)."""
    # 1.
    public = validate_public(public)
    rule = rule_fields(public)
    if not rule:
        raise VerificationError("the quantiles were given, not computed by a rule")
    scores = np.asarray(calibration_scores, dtype=np.float64)
    labels = None if calibration_labels is None else np.asarray(calibration_labels, np.float64)
    # 2.
    try:
        salt = None if salt_hex is None else bytes.fromhex(salt_hex)
    except ValueError:
        salt = b""
    if salt is not None and len(salt) != SALT_BYTES:
        raise BundleFormatError(f"the calibration salt is not {SALT_BYTES} hex bytes", field="salt")
    if calibration_commitment(scores, labels, salt=salt) != rule["calibration_commitment"]:
        raise DigestMismatchError(
            "the opened calibration set does not match calibration_commitment",
            field="calibration_commitment",
        )
    # 3.
    try:
        quantiles, sizes, name = conformal_quantiles(
            scores, labels, rule["alpha"], classes=public["classes"]
        )
    except InputError as error:
        raise VerificationError(
            f"the quantile rule fails on the opening: {error.message}"
        ) from None
    if (quantiles, sizes, name) != (
        public["quantiles"],
        rule["calibration_size"],
        rule["quantile_rule"],
    ):
        raise VerificationError(
            "the public quantiles are not the split-conformal quantiles of the opened set",
            field="quantiles",
        )


__all__ = [
    "batch_noise_bounds",
    "check_quantile_rule",
    "decode",
    "decode_batch",
    "decode_point",
    "release_batch",
]
