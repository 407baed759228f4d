"""Calibration on any real score range: the derived public window, point membership and batch
coverage on negative and wide ranges against numpy, explicit ranges, real CKKS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regaudit.shared.errors import InputError
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.inputs import parse
from regaudit.shared.primitives.calibration.layout import (
    MIN_WINDOW_EXPONENT,
    derive_window,
    validate_public,
)
from regaudit.shared.primitives.calibration.reference import reference as exact_reference
from regaudit.shared.primitives.calibration.report import decode

#: The design's batch accuracy target.
TARGET = 1e-3


def _numpy_batch(
    scores: np.ndarray, labels: np.ndarray, quantiles: list[float]
) -> tuple[float, float]:
    """Independent coverage and mean set size."""
    member = scores <= np.asarray(quantiles)[None, :]
    return float(member[np.arange(len(labels)), labels].mean()), float(member.sum(1).mean())


@pytest.mark.parametrize(
    ("low", "high"),
    [(-50.0, 3e3), (-7.5, -0.2), (0.25, 1.5), (1e6, 1e6 + 3.0), (-1e-4, 2e-4), (5.0, 5.0)],
)
def test_derived_window_is_coarse_and_contains_the_data(low: float, high: float) -> None:
    offset, width = derive_window(np.array([low, (low + high) / 2, high]))
    assert offset <= low and high <= offset + width  # contains every value
    exponent = math.log2(width)
    assert exponent == int(exponent) and exponent >= MIN_WINDOW_EXPONENT  # a power of two
    assert offset / (width / 2) == math.floor(offset / (width / 2))  # on the half-width grid
    if high > low:
        assert width < 4 * (high - low) or exponent == MIN_WINDOW_EXPONENT  # reveals little
    assert derive_window(np.array([0.0, 0.3, 1.0])) == (0.0, 1.0)  # the seed's default


def test_old_inputs_keep_their_public_inputs() -> None:
    data = parse({"scores": [0.2, 0.5, 0.9], "quantiles": [0.6, 0.4, 0.95]})
    assert data.public == {
        "mode": "point",
        "quantiles": [0.6, 0.4, 0.95],
        "score_range": 1.0,
        "classes": 3,
        "points": 1,
    }
    given = parse({"scores": [2.0, 7.5], "quantiles": 5.0, "score_range": 10})
    assert given.public["score_range"] == 10.0 and "score_offset" not in given.public


@pytest.mark.parametrize(
    ("low", "high", "seed"), [(-50.0, 3e3, 1), (-9.0, -1.0, 2), (1e6, 1e6 + 40.0, 3)]
)
def test_point_membership_on_any_range(low: float, high: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = CalibrationCircuit()
    for _ in range(10):
        scores = rng.uniform(low, high, 7)
        quantiles = rng.uniform(low, high, 7)
        data = parse({"scores": scores.tolist(), "quantiles": quantiles.tolist()})
        lo = data.public.get("score_offset", 0.0)
        assert lo <= min(scores.min(), quantiles.min())
        assert max(scores.max(), quantiles.max()) <= lo + data.public["score_range"]
        _, outputs = evaluate_plaintext(circuit, data)
        report = decode(outputs, data.public, data.rows)
        expected = (scores <= quantiles).astype(int).tolist()
        assert report["membership"] == expected  # numpy, independently
        assert report["set_size"] == sum(expected)
        assert report == exact_reference(data)


def test_point_window_only_scales_the_tie_zone() -> None:
    # the same scores shifted by a million: the derived window moves with them, membership too
    scores, quantiles = [0.1, 3.7, -2.0, 9.5], [0.2, 3.6, -2.0, 9.0]
    for shift in (0.0, 1e6, -1e6):
        data = parse(
            {"scores": [s + shift for s in scores], "quantiles": [q + shift for q in quantiles]}
        )
        _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
        report = decode(outputs, data.public, data.rows)
        assert report["membership"] == [1, 0, "indeterminate", 0]  # an exact tie stays one


@pytest.mark.parametrize(("low", "high", "seed"), [(-50.0, 3e3, 4), (-20.0, -3.0, 5)])
def test_batch_on_any_range_matches_numpy(low: float, high: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points, classes = 1500, 6
    labels = rng.integers(0, classes, points)
    scores = rng.uniform(low, high, (points, classes))
    scores[np.arange(points), labels] = rng.uniform(low, (low + high) / 2, points)  # informative
    quantiles = np.quantile(scores, 0.4, axis=0).tolist()
    data = parse({"scores": scores.tolist(), "labels": labels.tolist(), "quantiles": quantiles})
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    coverage, set_size = _numpy_batch(scores, labels, quantiles)
    for name, truth in (("coverage", coverage), ("mean_set_size", set_size)):
        assert abs(report[name] - truth) <= report[f"{name}_error_bound"] <= TARGET


def test_batch_window_reveals_nothing_about_the_scores() -> None:
    labels = [0, 1, 1]
    quantiles = [-3.0, 250.0]
    narrow = parse(
        {"scores": [[-4.0, 0], [1, 2], [3, 4]], "labels": labels, "quantiles": quantiles}
    )
    wide = parse(
        {"scores": [[-4e4, 0], [1, 2e4], [3, 4]], "labels": labels, "quantiles": quantiles}
    )
    assert narrow.public == wide.public  # derived from the public quantiles only
    offset, width = derive_window(np.asarray(quantiles))
    assert narrow.public["score_offset"] == offset and narrow.public["score_range"] == width


def test_explicit_ranges() -> None:
    data = parse({"scores": [-40.0, 100.0], "quantiles": 0.0, "score_range": [-50, 3000]})
    assert (data.public["score_offset"], data.public["score_range"]) == (-50.0, 3050.0)
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    assert decode(outputs, data.public, data.rows)["membership"] == [1, 0]
    assert (
        parse({"scores": [0.1, 0.2], "quantiles": 0.5, "score_range": [4]}).public["score_range"]
        == 4.0
    )
    batch = {"scores": [[-1.0, 0.5], [0.2, 0.3]], "labels": [0, 1], "quantiles": 0.4}
    with pytest.raises(InputError, match=r"score window \[0, 1\].*span \[-1, 0\.5\]") as error:
        parse({**batch, "score_range": 1.0})  # a given range is enforced in both forms
    assert error.value.field == "scores"
    parse(batch)  # derived: accepted


@pytest.mark.parametrize(
    ("score_range", "field", "message"),
    [
        ([3.0, 1.0], "score_range", "finite lo < hi"),
        ([1.0, 2.0, 3.0], "score_range", r"R \(\[0, R\]\) or \[lo, hi\]"),
        ("wide", "score_range", r"R \(\[0, R\]\) or \[lo, hi\]"),
        (-2.0, "score_range", "must be > 0"),
        ([-1.0, 0.0], "quantiles[0]", r"score window \[-1, 0\]"),
    ],
)
def test_bad_ranges_name_the_field(score_range: object, field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        parse({"scores": [-0.5, -0.2], "quantiles": 0.5, "score_range": score_range})
    assert error.value.field == field


def test_public_window_is_validated() -> None:
    public = {"mode": "point", "quantiles": [-3.0, 1.0], "score_range": 8.0}
    public |= {"classes": 2, "points": 1}
    with pytest.raises(InputError) as error:
        validate_public(public)  # no offset: the window is [0, 8]
    assert error.value.field == "quantiles[0]"
    assert validate_public({**public, "score_offset": -4.0})["score_offset"] == -4.0
    with pytest.raises(InputError) as error:
        validate_public({**public, "score_offset": math.nan})
    assert error.value.field == "score_offset"


@pytest.mark.depth6
def test_real_ckks_negative_and_wide_scores(ckks_run) -> None:  # type: ignore[no-untyped-def]
    circuit = CalibrationCircuit()
    rng = np.random.default_rng(9)
    scores = rng.uniform(-50.0, 3e3, 12)
    quantiles = scores + rng.choice([-1.0, 1.0], 12) * rng.uniform(0.5, 300.0, 12)
    point = parse({"scores": scores.tolist(), "quantiles": quantiles.tolist()})
    plan = make_plan(circuit, point.public, rows=point.rows)
    decrypted = ckks_run(circuit, plan, point.columns(), point.public)
    report = decode(decrypted, point.public, point.rows)
    assert report["membership"] == (scores <= quantiles).astype(int).tolist()
