"""Calibration: point membership and batch coverage vs numpy, plans, validation, real CKKS."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from regaudit.shared.circuits.calibration import (
    SIGN_COEFFICIENTS,
    CalibrationCircuit,
    calibration_reference,
    decode_point,
    evaluate_plaintext,
    parse_calibration_input,
)
from regaudit.shared.errors import InputError, NoiseBoundError
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import PROFILE_N16384_D6


def _conformal(seed: int, points: int, classes: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Softmax nonconformity scores 1 - p, true labels, and the split-conformal 90 % quantile
    computed on a separate calibration half."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (2 * points, classes))
    labels = rng.integers(0, classes, 2 * points)
    logits[np.arange(2 * points), labels] += 2.0
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores = 1.0 - exp / exp.sum(axis=1, keepdims=True)
    calibration = scores[np.arange(points), labels[:points]]
    quantile = float(np.quantile(calibration, 0.9 * (1 + 1 / points)))
    return scores[points:], labels[points:], quantile


def test_sign_polynomial_preserves_sign() -> None:
    t = np.linspace(1e-6, 1.0, 100_001)
    values = chebyshev.chebval(t, SIGN_COEFFICIENTS)
    assert values.min() > 0.0
    assert np.allclose(chebyshev.chebval(-t, SIGN_COEFFICIENTS), -values)


def test_point_membership_equals_plaintext() -> None:
    scores, _, quantile = _conformal(1, 50, 7)
    circuit = CalibrationCircuit()
    for row in scores[:20]:
        quantiles = np.linspace(quantile - 0.1, quantile + 0.05, 7).tolist()
        data = parse_calibration_input({"scores": row.tolist(), "quantiles": quantiles})
        _, outputs = evaluate_plaintext(data)
        assert circuit.decode(outputs, data.public, data.rows) == calibration_reference(data)


def test_point_exact_tie_is_indeterminate() -> None:
    data = parse_calibration_input({"scores": [0.2, 0.5, 0.9], "quantiles": [0.5, 0.5, 0.5]})
    _, outputs = evaluate_plaintext(data)
    report = CalibrationCircuit().decode(outputs, data.public, data.rows)
    assert report["membership"] == [1, "indeterminate", 0]
    assert report["set_size"] is None and report["set_size_range"] == [1, 2]


def test_batch_coverage_interval_contains_truth() -> None:
    scores, labels, quantile = _conformal(2, 2500, 10)
    data = parse_calibration_input(
        {"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantile}
    )
    plan, outputs = evaluate_plaintext(data)
    assert plan.n_chunks == 5  # 2500 points x 16 slots over 8192-slot chunks
    report = CalibrationCircuit().decode(outputs, data.public, data.rows)
    reference = calibration_reference(data)
    for name in ("coverage", "mean_set_size"):
        assert abs(report[name] - reference[name]) <= report[f"{name}_error_bound"]
    assert abs(report["coverage"] - reference["coverage"]) < 0.05
    print(
        f"\ncalibration batch: coverage {report['coverage']:.4f} vs {reference['coverage']:.4f} "
        f"(bound {report['coverage_error_bound']:.3f}); set size {report['mean_set_size']:.3f} "
        f"vs {reference['mean_set_size']:.3f} (bound {report['mean_set_size_error_bound']:.3f})"
    )


def test_plans() -> None:
    circuit = CalibrationCircuit()
    point = parse_calibration_input({"scores": [0.1, 0.2, 0.3], "quantiles": 0.25})
    plan = make_plan(circuit, point.public, rows=point.rows)
    assert (plan.depth, plan.profile, plan.n_outputs) == (5, PROFILE_N16384_D6, 1)
    assert plan.columns == ("score",)
    assert plan.rotation_steps == tuple(1 << i for i in range(13))  # canary only
    batch = parse_calibration_input(
        {"scores": [[0.1, 0.9], [0.8, 0.2]], "labels": [0, 1], "quantiles": [0.5, 0.5]}
    )
    plan = make_plan(circuit, batch.public, rows=batch.rows)
    assert (plan.depth, plan.profile, plan.n_outputs) == (6, PROFILE_N16384_D6, 1)
    assert plan.columns == ("score", "label", "valid")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quantiles": 0.5}, "scores"),
        ({"scores": [0.1, 0.2]}, "quantiles"),
        ({"scores": [0.1, 0.2], "quantiles": 0.5, "x": 1}, "x"),
        ({"scores": [0.1, "a"], "quantiles": 0.5}, "scores"),
        ({"scores": [0.1, 1.5], "quantiles": 0.5}, "scores"),
        ({"scores": [0.1], "quantiles": 0.5}, "classes"),
        ({"scores": [0.1, 0.2], "quantiles": [0.5]}, "quantiles"),
        ({"scores": [0.1, 0.2], "quantiles": [0.5, 2.0]}, "quantiles[1]"),
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
        parse_calibration_input(payload)
    assert error.value.field == field


def test_decode_rejects_leaks() -> None:
    data = parse_calibration_input({"scores": [0.1, 0.9], "quantiles": 0.5})
    _, outputs = evaluate_plaintext(data)
    leaked = outputs[0].copy()
    leaked[7] = 0.3
    with pytest.raises(NoiseBoundError):
        decode_point([leaked], data.public)


@pytest.mark.depth6
def test_real_ckks_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    circuit = CalibrationCircuit()
    scores, labels, quantile = _conformal(3, 600, 5)
    # the seed's single point: exact membership
    point = parse_calibration_input({"scores": scores[0].tolist(), "quantiles": [quantile] * 5})
    plan = make_plan(circuit, point.public, rows=point.rows)
    decrypted = ckks_run(circuit, plan, point.columns(), point.public)
    assert circuit.decode(decrypted, point.public, point.rows) == calibration_reference(point)
    # a batch: the interval holds the truth and the estimate equals the plaintext run's
    batch = parse_calibration_input(
        {"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantile}
    )
    plan = make_plan(circuit, batch.public, rows=batch.rows)
    decrypted = ckks_run(circuit, plan, batch.columns(), batch.public)
    report = circuit.decode(decrypted, batch.public, batch.rows)
    _, plain = evaluate_plaintext(batch)
    plain_report = circuit.decode(plain, batch.public, batch.rows)
    reference = calibration_reference(batch)
    for name in ("coverage", "mean_set_size"):
        assert abs(report[name] - reference[name]) <= report[f"{name}_error_bound"]
        assert report[name] == pytest.approx(plain_report[name], abs=1e-3)
