"""``regaudit.shared.local``: the whole protocol in one process (and the plaintext oracle)
against independent references."""

from __future__ import annotations

import dataclasses

import integration_harness as harness
import numpy as np
import pytest

from regaudit.shared import local
from regaudit.shared.errors import InputError


def test_fairness_seed_shape_and_report_object() -> None:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rng = np.random.default_rng(4)
    rows = 300
    group_a = rng.integers(0, 2, rows)
    y_true = rng.integers(0, 2, rows)
    y_pred = (rng.random(rows) < np.where(group_a == 1, 0.6, 0.4)).astype(int)
    report = local.audit_fairness(y_true, y_pred, group_a, 1 - group_a, threshold=0.1)
    plain = local.audit_fairness(
        y_true, y_pred, group_a, 1 - group_a, threshold=0.1, backend="plaintext"
    )
    sensitive = np.where(group_a == 1, "a", "b")
    expected = demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive)
    assert isinstance(report, local.FairnessReport)
    assert report.backend == "ckks" and report.plan is not None
    assert abs(report.demographic_parity_diff - expected) <= 1e-12
    assert report.threshold_breached is bool(expected > 0.1)
    assert report.to_dict() == plain.to_dict()
    odds = equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive)
    assert report.equalized_odds_diff == pytest.approx(odds, abs=1e-12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.backend = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _ = report.no_such_field


def test_concordance_against_sksurv() -> None:
    data = harness.survival_data(90)
    report = local.audit_concordance(data["risk"], data["time"], data["event"])
    assert abs(report.c_index - harness.sksurv_c_index(data)) <= 0.002
    plain = local.audit_concordance(data["risk"], data["time"], data["event"], backend="plaintext")
    assert plain.c_index == pytest.approx(harness.sksurv_c_index(data), abs=1e-12)


def test_drift_against_numpy() -> None:
    p, q, width = harness.drift_histograms()
    distance, w1 = harness.numpy_drift(p, q, width)
    report = local.audit_drift(p, q, drift_threshold=distance * 2, bin_width=width)
    assert abs(report.distance - distance) <= 1e-6
    assert abs(report.w1_distance - w1) <= 0.01 * w1
    assert report.drift_detected is False


def test_disagreement_against_numpy() -> None:
    x = harness.disagreement_inputs(200)
    mpsd, _ = harness.numpy_disagreement(harness.MODELS, x)
    report = local.audit_disagreement(harness.MODELS, x, threshold=mpsd / 2)
    assert abs(report.mean_pairwise_squared_difference - mpsd) <= 1e-6 * mpsd
    assert report.threshold_breached is True
    assert report.plan is not None and report.plan["profile"] == "ckks-n16384-d6-v1"


def test_calibration_point_against_numpy() -> None:
    """The seed's point form."""
    scores = np.array([0.1, 0.45, 0.9, 0.3, 0.72])
    quantiles = [0.5, 0.5, 0.5, 0.5, 0.7]
    point = local.audit_calibration(scores.tolist(), quantiles)
    expected = (scores <= np.asarray(quantiles)).astype(int).tolist()
    assert point.membership == expected and point.set_size == sum(expected)


def test_calibration_batch_against_numpy() -> None:
    scores, labels, quantile = harness.calibration_batch(40)
    coverage, set_size = harness.numpy_calibration(scores, labels, quantile)
    batch = local.audit_calibration(scores, quantile, labels=labels.tolist())
    assert abs(batch.coverage - coverage) <= min(batch.coverage_error_bound, 1e-3)
    assert abs(batch.mean_set_size - set_size) <= batch.mean_set_size_error_bound


def test_provenance_against_numpy() -> None:
    attributions, row_ids = harness.provenance_inputs(200)
    report = local.audit_provenance(attributions, row_ids, n_buckets=8, k=2)
    totals = harness.numpy_buckets(attributions, row_ids, 8)
    assert (
        np.max(np.abs(np.asarray(report.bucket_totals) - totals))
        <= 1e-6 * np.abs(attributions).sum()
    )
    assert report.top_k_ids == harness.top_k(totals, 2)


def test_bad_backend_and_input_are_input_errors() -> None:
    with pytest.raises(InputError) as caught:
        local.audit_drift([1, 2], [2, 1], backend="gpu")  # type: ignore[arg-type]
    assert caught.value.field == "backend"
    with pytest.raises(InputError):
        local.audit_concordance([0.1, 0.2], [1.0, 2.0], [2, 0], backend="plaintext")
