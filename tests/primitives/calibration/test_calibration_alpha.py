"""Calibration with ``alpha`` and calibration scores instead of quantiles: the split-conformal
quantile against numpy, the public inputs that bind the rule, bad inputs with precise errors,
the regulator's re-check of an opening, and one audit end to end through the command lines."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    InputError,
    VerificationError,
)
from regaudit.shared.evidence.commitments import verify_opening
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives import get_primitive
from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.conformal import (
    RULE_CLASS_CONDITIONAL,
    RULE_MARGINAL,
    conformal_rank,
    min_calibration_size,
)
from regaudit.shared.primitives.calibration.inputs import load_table, parse
from regaudit.shared.primitives.calibration.layout import validate_public
from regaudit.shared.primitives.calibration.reference import reference as exact_reference
from regaudit.shared.primitives.calibration.report import check_quantile_rule, decode
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.schemas import validate

#: The design's batch accuracy target.
TARGET = 1e-3


def numpy_conformal(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile as numpy (and MAPIE 1.6) compute it: level
    ceil((n + 1)(1 - alpha)) / n with method="lower", i.e. the k-th smallest score. (The
    same level with method="higher" is the (k + 1)-th smallest for k < n: one too many.)"""
    n = scores.size
    level = math.ceil((n + 1) * (1 - alpha)) / n
    return float(np.quantile(scores, level, method="lower"))


def _model(seed: int, points: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable scores on a wide range with negative values: n x K and the true labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, points)
    scores = rng.normal(800.0, 700.0, (points, classes)).clip(-50.0, 3e3)
    scores[np.arange(points), labels] -= rng.gamma(2.0, 400.0, points)
    return np.round(scores, 3), labels


def test_rank_and_minimum_size() -> None:
    for alpha in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9, 0.37):
        for n in range(1, 400):
            assert conformal_rank(n, alpha) == math.ceil((n + 1) * (1 - alpha))
        smallest = min_calibration_size(alpha)
        assert conformal_rank(smallest, alpha) <= smallest
        assert smallest == 1 or conformal_rank(smallest - 1, alpha) > smallest - 1
    assert (min_calibration_size(0.1), min_calibration_size(0.05)) == (9, 19)
    assert conformal_rank(9, 0.3) == 7  # decimal 0.3: 10 * 0.7 = 7, not 8 from binary 0.2999..


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2, 0.37])
@pytest.mark.parametrize("size", [19, 100, 1001])
def test_marginal_quantile_equals_numpy(alpha: float, size: int) -> None:
    rng = np.random.default_rng(size)
    calibration = rng.uniform(-50.0, 3e3, size)
    data = parse(
        {"scores": [1.0, 2.0, 3.0], "alpha": alpha, "calibration_scores": calibration.tolist()}
    )
    expected = numpy_conformal(calibration, alpha)
    assert expected == float(np.sort(calibration)[math.ceil((size + 1) * (1 - alpha)) - 1])
    assert data.public["quantiles"] == [expected] * 3
    assert data.public["alpha"] == alpha
    assert data.public["calibration_size"] == [size] * 3
    assert data.public["quantile_rule"] == RULE_MARGINAL


def test_batch_with_alpha_matches_numpy_and_covers() -> None:
    alpha, classes = 0.1, 5
    scores, labels = _model(11, 4000, classes)
    calibration = scores[:2000][np.arange(2000), labels[:2000]]  # true-class scores
    payload = {
        "scores": scores[2000:].tolist(),
        "labels": labels[2000:].tolist(),
        "alpha": alpha,
        "calibration_scores": calibration.tolist(),
    }
    data = parse(payload)
    quantile = numpy_conformal(calibration, alpha)
    assert data.public["quantiles"] == [quantile] * classes
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    member = scores[2000:] <= quantile
    coverage = float(member[np.arange(2000), labels[2000:]].mean())
    set_size = float(member.sum(1).mean())
    assert 0.87 < coverage < 0.93  # split conformal's guarantee on exchangeable data
    for name, truth in (("coverage", coverage), ("mean_set_size", set_size)):
        assert abs(report[name] - truth) <= report[f"{name}_error_bound"] <= TARGET
    for key in ("alpha", "calibration_size", "quantile_rule", "calibration_commitment"):
        assert report[key] == data.public[key]  # the report says which rule made q
    validate("calibration.output", json.loads(json.dumps(report)))
    validate("calibration.input", payload)


def test_class_conditional_matrix_and_labels() -> None:
    alpha, classes = 0.2, 3
    rng = np.random.default_rng(5)
    matrix = rng.uniform(-10.0, 10.0, (40, classes))
    data = parse({"scores": [0.0, 1.0, 2.0], "alpha": alpha, "calibration_scores": matrix.tolist()})
    assert data.public["quantiles"] == [numpy_conformal(matrix[:, k], alpha) for k in range(3)]
    assert data.public["quantile_rule"] == RULE_CLASS_CONDITIONAL
    assert data.public["calibration_size"] == [40, 40, 40]
    flat = rng.uniform(-10.0, 10.0, 90)
    owners = rng.integers(0, classes, 90)
    data = parse(
        {
            "scores": [0.0, 1.0, 2.0],
            "alpha": alpha,
            "calibration_scores": flat.tolist(),
            "calibration_labels": owners.tolist(),
        }
    )
    expected = [numpy_conformal(flat[owners == k], alpha) for k in range(classes)]
    assert data.public["quantiles"] == expected
    assert data.public["calibration_size"] == [int((owners == k).sum()) for k in range(3)]
    _, outputs = evaluate_plaintext(CalibrationCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    assert report["membership"] == [int(s <= q) for s, q in zip([0, 1, 2], expected, strict=True)]
    assert report == exact_reference(data)


POINT = {"scores": [0.1, 0.2]}
CAL = list(np.linspace(-5.0, 5.0, 30))


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"alpha": 0.0, "calibration_scores": CAL}, "alpha", "strictly between 0 and 1"),
        ({"alpha": 1, "calibration_scores": CAL}, "alpha", "strictly between 0 and 1"),
        ({"alpha": -0.1, "calibration_scores": CAL}, "alpha", "strictly between 0 and 1"),
        ({"alpha": math.nan, "calibration_scores": CAL}, "alpha", "finite"),
        ({"alpha": "0.1", "calibration_scores": CAL}, "alpha", "got str"),
        ({"alpha": True, "calibration_scores": CAL}, "alpha", "got bool"),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "quantiles": 0.5},
            "alpha",
            "either quantiles or alpha with calibration_scores, not both",
        ),
        (
            {"calibration_scores": CAL, "quantiles": 0.5},
            "calibration_scores",
            "either quantiles or alpha",
        ),
        ({"alpha": 0.1}, "calibration_scores", "is required with alpha"),
        ({"calibration_scores": CAL}, "alpha", "is required with calibration_scores"),
        ({"alpha": 0.1, "calibration_scores": []}, "calibration_scores", "non-empty"),
        (
            {"alpha": 0.1, "calibration_scores": CAL[:8]},
            "calibration_scores",
            r"8 calibration scores are too few for alpha = 0.1: .* the 9-th smallest, i.e. "
            r"infinite .*at least 9 are needed",
        ),
        (
            {"alpha": 0.1, "calibration_scores": [*CAL[:5], math.inf]},
            "calibration_scores",
            "NaN or infinite",
        ),
        (
            {"alpha": 0.1, "calibration_scores": [[1.0, 2.0, 3.0]] * 20},
            "calibration_scores",
            "one column per class",
        ),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "calibration_labels": [0] * 29},
            "calibration_labels",
            "one class index per point",
        ),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "calibration_labels": [0, 2] * 15},
            "calibration_labels",
            "not in 0..1",
        ),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "calibration_labels": [0] * 30},
            "calibration_labels",
            "class 1 has no calibration scores",
        ),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "calibration_labels": [0] * 25 + [1] * 5},
            "calibration_labels",
            "class 1: 5 calibration scores are too few",
        ),
        (
            {"alpha": 0.1, "calibration_scores": [CAL[:2]] * 20, "calibration_labels": [0] * 20},
            "calibration_labels",
            "1-D calibration_scores",
        ),
        (
            {"alpha": 0.1, "calibration_scores": CAL, "calibration_salt": "ab"},
            "calibration_salt",
            "64 hex",
        ),
    ],
)
def test_bad_rule_inputs(payload: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        parse({**POINT, **payload})
    assert error.value.field == field


def test_quantiles_still_required_without_a_rule() -> None:
    with pytest.raises(InputError, match=r"or alpha with calibration_scores") as error:
        parse(POINT)
    assert error.value.field == "quantiles"


def test_commitment_binds_the_set_and_the_regulator_rechecks_it() -> None:
    rng = np.random.default_rng(3)
    calibration = rng.uniform(-50.0, 3e3, 200)
    payload = {"scores": [10.0, 2000.0], "alpha": 0.1, "calibration_scores": calibration.tolist()}
    data = parse(payload)
    digest = data.public["calibration_commitment"]
    assert parse(payload).public == data.public  # deterministic: a resumed audit matches
    verify_opening(digest, name="calibration_scores", values=calibration, salt_hex="00" * 32)
    check_quantile_rule(data.public, calibration_scores=calibration)
    moved = calibration.copy()
    moved[17] += 1e-9
    with pytest.raises(DigestMismatchError):
        check_quantile_rule(data.public, calibration_scores=moved)
    forged = {**data.public, "quantiles": [q + 1.0 for q in data.public["quantiles"]]}
    with pytest.raises(VerificationError, match="not the split-conformal quantiles"):
        check_quantile_rule(forged, calibration_scores=calibration)
    with pytest.raises(InputError, match="same quantile") as error:
        validate_public({**forged, "quantiles": [1.0, 2.0]})  # the marginal rule: one q
    assert error.value.field == "quantiles"
    with pytest.raises(InputError, match="999") as error:  # 200 scores cannot give alpha 0.001
        validate_public({**data.public, "alpha": 0.001})
    assert error.value.field == "calibration_size[0]"
    partial = {k: v for k, v in data.public.items() if k != "calibration_commitment"}
    with pytest.raises(InputError) as error:
        validate_public(partial)
    assert error.value.field == "calibration_commitment"
    given = parse({"scores": [1.0, 2.0], "quantiles": 3.0}).public
    with pytest.raises(VerificationError, match="given, not computed"):
        check_quantile_rule(given, calibration_scores=calibration)
    salt = "5a" * 32
    salted = parse({**payload, "calibration_salt": salt})
    assert salted.public["calibration_commitment"] != digest  # hiding with the client's salt
    assert salted.public["quantiles"] == data.public["quantiles"]
    check_quantile_rule(salted.public, calibration_scores=calibration, salt_hex=salt)
    with pytest.raises(DigestMismatchError):
        check_quantile_rule(salted.public, calibration_scores=calibration)
    with pytest.raises(BundleFormatError):
        check_quantile_rule(salted.public, calibration_scores=calibration, salt_hex="zz")


def test_table_input_with_alpha(tmp_path: Path) -> None:
    scores, labels = _model(2, 300, 3)
    path = tmp_path / "points.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["score_0", "score_1", "score_2", "label"])
        writer.writerows(
            [[*row, label] for row, label in zip(scores.tolist(), labels, strict=True)]
        )
    calibration = scores[:, 0][labels == 0]
    data = load_table(
        path, ColumnMapping(), {"alpha": 0.2, "calibration_scores": calibration.tolist()}
    )
    assert data.public["quantiles"] == [numpy_conformal(calibration, 0.2)] * 3
    with pytest.raises(InputError) as error:
        load_table(path, ColumnMapping(), {})
    assert error.value.field == "quantiles"
    names = {option.key for option in get_primitive("calibration").options}
    assert {"alpha", "calibration_scores", "calibration_labels", "calibration_salt"} <= names


@pytest.mark.depth6
def test_real_ckks_batch_with_alpha(ckks_run) -> None:  # type: ignore[no-untyped-def]
    scores, labels = _model(8, 1200, 4)
    calibration = scores[:600][np.arange(600), labels[:600]]
    data = parse(
        {
            "scores": scores[600:].tolist(),
            "labels": labels[600:].tolist(),
            "alpha": 0.05,
            "calibration_scores": calibration.tolist(),
        }
    )
    circuit = CalibrationCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    decrypted = ckks_run(circuit, plan, data.columns(), data.public)
    report = decode(decrypted, data.public, data.rows)
    member = scores[600:] <= numpy_conformal(calibration, 0.05)
    coverage = float(member[np.arange(600), labels[600:]].mean())
    assert abs(report["coverage"] - coverage) <= report["coverage_error_bound"] <= TARGET


def test_end_to_end_from_the_command_line(tmp_path: Path) -> None:
    """regaudit-client audit calibration --alpha --calibration-scores @FILE on a CSV of points
    with negative scores (derived window), against a real evaluator daemon; the regulator's
    verified result equals numpy and names the rule."""
    from support.cli import cli
    from support.parties import Parties

    alpha = 0.1
    scores, labels = _model(21, 600, 4)
    calibration = scores[:300][np.arange(300), labels[:300]]
    points = tmp_path / "points.csv"
    with points.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["score_0", "score_1", "score_2", "score_3", "label"])
        writer.writerows(
            [[*row, label] for row, label in zip(scores[300:].tolist(), labels[300:], strict=True)]
        )
    calibration_file = tmp_path / "calibration.json"
    calibration_file.write_text(json.dumps(calibration.tolist()))
    parties = Parties.start(tmp_path / "parties")
    try:
        bundle = tmp_path / "calibration.bundle.json"
        audited = cli(
            "client", "audit", "calibration", "--input", points,
            "--evaluator", parties.address, "--regulator-card", parties.card,
            "--identity", parties.client, "--out", bundle, *parties.pins,
            "--alpha", str(alpha), "--calibration-scores", f"@{calibration_file}",
        )  # fmt: skip
        assert audited.returncode == 0, audited.stderr
        verified = parties.verify(bundle)
        assert verified.returncode == 0, verified.stderr
    finally:
        parties.stop()
    result = json.loads(verified.stdout)["result"]
    quantile = numpy_conformal(calibration, alpha)
    member = scores[300:] <= quantile
    coverage = float(member[np.arange(300), labels[300:]].mean())
    assert result["quantiles"] == [quantile] * 4
    assert (result["alpha"], result["calibration_size"]) == (alpha, [300] * 4)
    assert result["quantile_rule"] == RULE_MARGINAL
    assert abs(result["coverage"] - coverage) <= result["coverage_error_bound"] <= TARGET


def test_in_process_api_takes_alpha_and_any_range() -> None:
    from regaudit.shared import local

    calibration = np.linspace(-10.0, 10.0, 50)
    report = local.audit_calibration(
        [-3.0, 5.0, 2e3], alpha=0.1, calibration_scores=calibration.tolist(), backend="plaintext"
    )
    quantile = numpy_conformal(calibration, 0.1)
    assert report.to_dict()["quantiles"] == [quantile] * 3
    assert report.to_dict()["membership"] == [1, 1, 0]
    assert report.to_seed_dict() == {"membership": [1, 1, 0], "set_size": 2}  # seed view
    seed_call = local.audit_calibration([-3.0, 5.0], [0.0, 0.0], backend="plaintext")
    assert seed_call.to_dict()["membership"] == [1, 0]  # the seed's call on negative scores
