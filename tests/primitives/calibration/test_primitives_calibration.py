"""Calibration: point membership and batch coverage vs numpy, plans, validation, real CKKS."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from regaudit.shared.errors import BundleFormatError, InputError, NoiseBoundError
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.inputs import parse, rank_positions
from regaudit.shared.primitives.calibration.layout import (
    BATCH_GAP,
    BATCH_SIGN_COEFFICIENTS,
    BATCH_SIGN_ERROR,
    SIGN_COEFFICIENTS,
)
from regaudit.shared.primitives.calibration.reference import reference as exact_reference
from regaudit.shared.primitives.calibration.report import (
    decode,
    decode_batch,
    decode_point,
    release_batch,
)
from regaudit.shared.profiles import PROFILE_N16384_D6

#: The design's batch accuracy target (coverage; we hold mean set size to it too).
TARGET = 1e-3


def _conformal(
    seed: int, points: int, classes: int, *, sharpness: float = 2.0, decimals: int = 6
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """A synthetic K-class softmax model: nonconformity scores 1 - p (rounded to ``decimals``),
    true labels, and class-conditional split-conformal quantiles at alpha = 0.1 computed on a
    separate calibration half."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (2 * points, classes))
    labels = rng.integers(0, classes, 2 * points)
    logits[np.arange(2 * points), labels] += sharpness
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores = np.round(1.0 - exp / exp.sum(axis=1, keepdims=True), decimals)
    calibration, owners = scores[np.arange(points), labels[:points]], labels[:points]
    quantiles = []
    for k in range(classes):
        own = calibration[owners == k]
        level = min(1.0, math.ceil((own.size + 1) * 0.9) / own.size)
        quantiles.append(float(np.quantile(own, level, method="higher")))
    return scores[points:], labels[points:], quantiles


def test_sign_polynomial_preserves_sign() -> None:
    t = np.linspace(1e-6, 1.0, 100_001)
    values = chebyshev.chebval(t, SIGN_COEFFICIENTS)
    assert values.min() > 0.0
    assert np.allclose(chebyshev.chebval(-t, SIGN_COEFFICIENTS), -values)


def test_batch_sign_polynomial_is_accurate_off_the_gap() -> None:
    x = np.linspace(BATCH_GAP, 1.0, 1_000_003)
    values = chebyshev.chebval(x, BATCH_SIGN_COEFFICIENTS)
    assert np.abs(values - 1.0).max() <= BATCH_SIGN_ERROR < 1e-6
    assert np.allclose(chebyshev.chebval(-x, BATCH_SIGN_COEFFICIENTS), -values)
    assert chebyshev.chebval(0.0, BATCH_SIGN_COEFFICIENTS) == 0.0  # padding slots add nothing


def test_rank_positions_preserve_order_and_membership() -> None:
    scores = np.array([[0.1, 0.7], [0.5, 0.2], [0.5, 0.9], [0.9, 0.2], [0.3, 0.2]])
    quantiles = [0.5, 0.2]
    positions = rank_positions(scores, quantiles)
    member = scores <= np.asarray(quantiles)
    assert np.all(positions[member] <= -BATCH_GAP) and np.all(positions[member] >= -1.0)
    assert np.all(positions[~member] >= BATCH_GAP) and np.all(positions[~member] <= 1.0)
    for k in range(2):  # strictly order-preserving, ties (incl. ties with q_k) share a value
        order = np.argsort(scores[:, k], kind="stable")
        assert np.all(np.diff(positions[order, k]) >= 0.0)
        same = scores[:, k][:, None] == scores[:, k][None, :]
        assert np.array_equal(same, positions[:, k][:, None] == positions[:, k][None, :])
    assert positions[1, 0] == positions[2, 0] < 0  # score == quantile counts as a member


def test_point_membership_equals_plaintext() -> None:
    scores, _, quantiles = _conformal(1, 50, 7)
    circuit = CalibrationCircuit()
    base = float(np.median(quantiles))
    for row in scores[:20]:
        grid = np.linspace(base - 0.1, base + 0.05, 7).tolist()
        data = parse({"scores": row.tolist(), "quantiles": grid})
        _, outputs = evaluate_plaintext(circuit, data)
        assert decode(outputs, data.public, data.rows) == exact_reference(data)


def test_point_exact_tie_is_indeterminate() -> None:
    data = parse({"scores": [0.2, 0.5, 0.9], "quantiles": [0.5, 0.5, 0.5]})
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    assert report["membership"] == [1, "indeterminate", 0]
    assert report["set_size"] is None and report["set_size_range"] == [1, 2]


@pytest.mark.parametrize(
    ("seed", "points", "classes", "sharpness", "decimals"),
    [
        (2, 2500, 10, 2.0, 6),  # weak model: sets of ~2.5 classes
        (3, 5000, 10, 3.0, 6),
        (4, 3000, 50, 2.0, 6),  # large sets (~15 classes)
        (5, 10000, 100, 4.0, 6),  # 1.28 M slots, 157 chunks, scaled sums (mu < 1)
        (6, 4000, 20, 2.5, 2),  # scores rounded to 0.01: many ties, many exactly at q_k
    ],
)
def test_batch_matches_reference(
    seed: int, points: int, classes: int, sharpness: float, decimals: int
) -> None:
    scores, labels, quantiles = _conformal(
        seed, points, classes, sharpness=sharpness, decimals=decimals
    )
    data = parse({"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantiles})
    if decimals == 2:  # the tie case really has scores equal to their quantile
        assert np.any(scores == np.asarray(quantiles))
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    # what leaves the regulator is rounded to the bound's step; the arithmetic is checked on
    # the full-precision decode (regulator-internal)
    unrounded = decode_batch(outputs, data.public)
    assert report == release_batch(unrounded)
    reference = exact_reference(data)
    assert 0.85 < reference["coverage"] < 0.97  # realistic split-conformal data
    for name in ("coverage", "mean_set_size"):
        error = abs(report[name] - reference[name])
        assert error <= report[f"{name}_error_bound"] <= TARGET
        assert abs(unrounded[name] - reference[name]) < 1e-6  # plaintext: only the polynomial


def test_plans() -> None:
    circuit = CalibrationCircuit()
    canary_steps = tuple(4**i for i in range(7))  # radix-4 slot sum over 8192 slots
    point = parse({"scores": [0.1, 0.2, 0.3], "quantiles": 0.25})
    plan = make_plan(circuit, point.public, rows=point.rows)
    assert (plan.depth, plan.profile, plan.n_outputs) == (5, PROFILE_N16384_D6, 1)
    assert plan.columns == ("score",)
    assert plan.rotation_steps == canary_steps
    batch = parse({"scores": [[0.1, 0.9], [0.8, 0.2]], "labels": [0, 1], "quantiles": [0.5, 0.5]})
    assert batch.rows == 2 * 4  # K = 2 classes + the true-class copy -> 4 slots per point
    plan = make_plan(circuit, batch.public, rows=batch.rows)
    assert (plan.depth, plan.profile, plan.n_outputs) == (5, PROFILE_N16384_D6, 2)
    assert plan.columns == ("position",)
    assert plan.rotation_steps == canary_steps  # no Galois key beyond the canary's
    assert plan.counts.ct_ct_multiplications == 10 + 1  # T_2, T_4, T_8, odd T_3..T_15, canary


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quantiles": 0.5}, "scores"),
        ({"scores": [0.1, 0.2]}, "quantiles"),
        ({"scores": [0.1, 0.2], "quantiles": 0.5, "x": 1}, "x"),
        ({"scores": [0.1, "a"], "quantiles": 0.5}, "scores"),
        ({"scores": [0.1, 1.5], "quantiles": 0.5, "score_range": 1.0}, "scores"),
        ({"scores": [0.1], "quantiles": 0.5}, "classes"),
        ({"scores": [0.1, 0.2], "quantiles": [0.5]}, "quantiles"),
        ({"scores": [0.1, 0.2], "quantiles": [0.5, 2.0], "score_range": 1}, "quantiles[1]"),
        ({"scores": [0.1, 0.2], "quantiles": 0.5, "labels": [0]}, "labels"),
        ({"scores": [[0.1, 0.2], [0.3, 0.4]], "quantiles": 0.5}, "labels"),
        ({"scores": [[0.1, 0.2], [0.3, 0.4]], "quantiles": 0.5, "labels": [0]}, "labels"),
        ({"scores": [[0.1, 0.2], [0.3, 0.4]], "quantiles": 0.5, "labels": [0, 2]}, "labels"),
        ({"scores": [[0.1, 0.2], [0.3, 0.4]], "quantiles": 0.5, "labels": [0, True]}, "labels"),
        ({"scores": [[0.1, 0.2], [0.3]], "quantiles": 0.5, "labels": [0, 1]}, "scores[1]"),
        ({"scores": [0.1, 0.2], "quantiles": 0.5, "score_range": 0}, "score_range"),
    ],
)
def test_validation_names_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as error:
        parse(payload)
    assert error.value.field == field


def test_decode_rejects_leaks() -> None:
    data = parse({"scores": [0.1, 0.9], "quantiles": 0.5})
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    leaked = outputs[0].copy()
    leaked[7] = 0.3
    with pytest.raises(NoiseBoundError):
        decode_point([leaked], data.public)
    scores, labels, quantiles = _conformal(7, 300, 5)
    batch = parse({"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantiles})
    _, outputs = evaluate_plaintext(CalibrationCircuit(), batch)
    decode_batch(outputs, batch.public)  # the genuine outputs decode
    per_slot = outputs[1].copy()
    per_slot[3] += 1.0  # one slot carrying something other than the total
    with pytest.raises(NoiseBoundError):
        decode_batch([outputs[0], per_slot], batch.public)
    with pytest.raises(NoiseBoundError):  # a sum no batch of this size can produce
        decode_batch([outputs[0], outputs[1] * 0 + 2.0 * batch.public["points"]], batch.public)
    with pytest.raises(BundleFormatError):
        decode_batch(outputs[:1], batch.public)


@pytest.mark.depth6
def test_real_ckks_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    circuit = CalibrationCircuit()
    scores, labels, quantiles = _conformal(3, 500, 10)
    # the seed's single point: exact membership
    point = parse({"scores": scores[0].tolist(), "quantiles": quantiles})
    plan = make_plan(circuit, point.public, rows=point.rows)
    decrypted = ckks_run(circuit, plan, point.columns(), point.public)
    assert decode(decrypted, point.public, point.rows) == exact_reference(point)
    # a batch (500 points x 16 slots: one chunk): within the bound and the 1e-3 target
    batch = parse({"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantiles})
    plan = make_plan(circuit, batch.public, rows=batch.rows)
    assert (plan.depth, plan.n_chunks) == (5, 1)
    decrypted = ckks_run(circuit, plan, batch.columns(), batch.public)
    report = decode(decrypted, batch.public, batch.rows)
    reference = exact_reference(batch)
    for name in ("coverage", "mean_set_size"):
        error = abs(report[name] - reference[name])
        assert error <= report[f"{name}_error_bound"] <= TARGET
        bound = report[f"{name}_error_bound"]
        print(f"\ncalibration CKKS {name}: error {error:.2e}, bound {bound:.2e}")
