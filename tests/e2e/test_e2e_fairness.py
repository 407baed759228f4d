"""End to end: evaluator, client and regulator as separate processes over loopback gRPC.

The regulator's numbers must equal fairlearn's on the same plaintext data to 1e-12.
"""

from __future__ import annotations

import base64
import csv
import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from e2e_harness import ROOT, Parties, cli, verified_json
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

TOLERANCE = 1e-12
SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"


def fairlearn_reference(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
) -> dict[str, float]:
    precision = functools.partial(precision_score, zero_division=np.nan)
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "precision": precision,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    by_group = frame.by_group
    precisions = by_group["precision"].dropna()
    return {
        "demographic_parity_diff": demographic_parity_difference(
            y_true, y_pred, sensitive_features=groups
        ),
        "demographic_parity_ratio": demographic_parity_ratio(
            y_true, y_pred, sensitive_features=groups
        ),
        "equalized_odds_diff": equalized_odds_difference(y_true, y_pred, sensitive_features=groups),
        "equal_opportunity_diff": float(by_group["tpr"].max() - by_group["tpr"].min()),
        "equalized_odds_fpr_diff": float(by_group["fpr"].max() - by_group["fpr"].min()),
        "predictive_parity_diff": float(precisions.max() - precisions.min())
        if len(precisions) >= 2
        else math.nan,
    }


def assert_matches(result: dict[str, object], reference: dict[str, float]) -> None:
    for name, expected in reference.items():
        got = result[name]
        if math.isnan(expected):
            assert got is None, f"{name}: expected undefined, got {got}"
        else:
            assert isinstance(got, float | int), f"{name}: {got!r}"
            assert abs(float(got) - expected) <= TOLERANCE, f"{name}: {got} vs fairlearn {expected}"


def audit_and_verify(parties: Parties, tmp_path: Path, input_file: Path, *extra: str) -> dict:
    bundle = tmp_path / "audit.bundle"
    audited = parties.audit(input_file, bundle, *extra)
    assert audited.returncode == 0, audited.stderr
    verified = parties.verify(bundle)
    payload = verified_json(verified)
    assert verified.returncode == 0, (payload, verified.stderr)
    assert payload["verified"] is True
    assert payload["primitive"] == "fairness"
    result = payload["result"]
    assert isinstance(result, dict)
    return result


def test_sample_csv_three_groups_matches_fairlearn(parties: Parties, tmp_path: Path) -> None:
    with SAMPLE_CSV.open() as handle:
        rows = list(csv.DictReader(handle))
    y_true = np.array([float(r["y_true"]) for r in rows])
    y_pred = np.array([float(r["y_pred"]) for r in rows])
    groups = np.array([r["group"] for r in rows])
    result = audit_and_verify(
        parties,
        tmp_path,
        SAMPLE_CSV,
        "--y-true",
        "y_true",
        "--y-pred",
        "y_pred",
        "--group",
        "group",
        "--threshold",
        "0.1",
    )
    assert_matches(result, fairlearn_reference(y_true, y_pred, groups))


def test_seed_shape_multi_chunk_with_unassigned_rows(parties: Parties, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = 9_000  # three chunks of 4,096 slots
    membership = rng.choice(3, size=rows, p=[0.55, 0.4, 0.05])  # 2 = in neither group
    y_true = rng.binomial(1, np.where(membership == 0, 0.35, 0.5))
    y_pred = rng.binomial(1, np.where(y_true == 1, 0.8, 0.15))
    payload = {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "group_a": (membership == 0).astype(int).tolist(),
        "group_b": (membership == 1).astype(int).tolist(),
        "threshold": 0.05,
    }
    input_file = tmp_path / "seed.json"
    input_file.write_text(json.dumps(payload))
    result = audit_and_verify(parties, tmp_path, input_file)
    assigned = membership < 2
    names = np.where(membership == 0, "group_a", "group_b")[assigned]
    reference = fairlearn_reference(
        y_true[assigned].astype(float), y_pred[assigned].astype(float), names
    )
    assert_matches(result, reference)
    assert result["unassigned_rows"] == int((~assigned).sum())
    assert isinstance(result["threshold_breached"], bool)
    assert result["threshold_breached"] == (result["max_gap"] > 0.05)


def test_undefined_precision_is_reported_undefined(parties: Parties, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    rows = 5_000
    groups = rng.choice(["north", "south", "east", "west", "centre"], size=rows)
    y_true = rng.binomial(1, 0.4, size=rows)
    y_pred = rng.binomial(1, 0.5, size=rows)
    y_pred[groups == "west"] = 0  # no predicted positives: precision undefined, not 0
    payload = {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "group": groups.tolist(),
        "threshold": 0.2,
    }
    input_file = tmp_path / "categorical.json"
    input_file.write_text(json.dumps(payload))
    result = audit_and_verify(parties, tmp_path, input_file)
    assert_matches(result, fairlearn_reference(y_true.astype(float), y_pred.astype(float), groups))
    assert any("west" in item and "precision" in item for item in result["undefined"])


# --- the regulator refuses what it must refuse, each with its own reason ----------------------


@pytest.fixture(scope="module")
def good_bundle(parties: Parties, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("good")
    bundle = directory / "good.bundle"
    result = parties.audit(
        SAMPLE_CSV, bundle, "--y-true", "y_true", "--y-pred", "y_pred", "--group", "group"
    )
    assert result.returncode == 0, result.stderr
    return bundle


def rejected(result, reason: str) -> None:  # type: ignore[no-untyped-def]
    payload = verified_json(result)
    assert result.returncode == 1, (result.returncode, payload, result.stderr)
    assert payload["verified"] is False
    assert payload["reason"] == reason, payload


def test_tampered_output_is_rejected(parties: Parties, good_bundle: Path, tmp_path: Path) -> None:
    document = json.loads(good_bundle.read_bytes())
    output = bytearray(base64.b64decode(document["outputs"][0]))
    output[len(output) // 2] ^= 0x01
    document["outputs"][0] = base64.b64encode(bytes(output)).decode()
    tampered = tmp_path / "tampered.bundle"
    tampered.write_text(json.dumps(document))
    rejected(parties.verify(tampered), "digest_mismatch")


def test_untrusted_evaluator_is_rejected(
    parties: Parties, good_bundle: Path, tmp_path: Path
) -> None:
    trust = tmp_path / "client-only-trust.json"
    cli(
        "regulator",
        "trust",
        "add",
        parties.client / "client.pub.json",
        "--trust",
        trust,
        check=True,
    )
    rejected(parties.verify(good_bundle, trust=trust), "untrusted_issuer")


def test_revoked_client_key_is_rejected(
    parties: Parties, good_bundle: Path, tmp_path: Path
) -> None:
    trust = tmp_path / "revoked-trust.json"
    trust.write_bytes(parties.trust.read_bytes())
    key_id = json.loads((parties.client / "client.pub.json").read_text())["key_id"]
    cli(
        "regulator",
        "trust",
        "revoke",
        key_id,
        "--trust",
        trust,
        "--at",
        "2020-01-01T00:00:00Z",
        check=True,
    )
    rejected(parties.verify(good_bundle, trust=trust), "revoked_key")


def test_wrong_regulator_key_is_rejected(
    parties: Parties, good_bundle: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-regulator"
    cli("regulator", "init", other, check=True)
    rejected(parties.verify(good_bundle, identity=other), "wrong_regulator_key")


def test_html_report_is_written(parties: Parties, good_bundle: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = parties.verify(good_bundle, "--report", report)
    assert result.returncode == 0, result.stderr
    html = report.read_text()
    assert "demographic" in html.lower()
    assert "<script" not in html.lower()
