"""Every registered primitive end to end across three processes from the command line:
evaluator daemon, ``regaudit-client audit P``, ``regaudit-regulator verify --json``; the
verified result is compared with an independent reference within the design's tolerance."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from integration_harness import (
    MODELS,
    Parties,
    calibration_batch,
    disagreement_inputs,
    drift_histograms,
    numpy_buckets,
    numpy_calibration,
    numpy_disagreement,
    numpy_drift,
    provenance_inputs,
    sksurv_c_index,
    survival_data,
    top_k,
)

from regaudit.shared.circuits.registry import list_circuits

#: Design tolerances (DESIGN.md, "The six primitives").
C_INDEX_TOLERANCE = 0.002
DISTANCE_TOLERANCE = 1e-6
W1_RELATIVE_TOLERANCE = 0.01
DISAGREEMENT_RELATIVE_TOLERANCE = 1e-6
PROVENANCE_RELATIVE_TOLERANCE = 1e-6
FAIRNESS_TOLERANCE = 1e-12
COVERAGE_TOLERANCE = 1e-3


def _write_csv(path: Path, columns: dict[str, list[object]]) -> Path:
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(columns[n] for n in names), strict=True))
    return path


def _verified(payload: dict[str, object], primitive: str) -> dict[str, object]:
    assert payload["verified"] is True, payload
    assert payload["primitive"] == primitive
    result = payload["result"]
    assert isinstance(result, dict)
    return result


def test_every_design_primitive_is_registered() -> None:
    assert {cid for cid, _ in list_circuits()} == {
        "fairness",
        "concordance",
        "drift",
        "disagreement",
        "calibration",
        "provenance",
    }


def test_fairness_round_trip(parties: Parties, tmp_path: Path) -> None:
    from fairlearn.metrics import demographic_parity_difference

    rng = np.random.default_rng(21)
    rows = 400
    group = rng.choice(["north", "south"], rows)
    y_true = rng.integers(0, 2, rows)
    y_pred = (rng.random(rows) < np.where(group == "north", 0.55, 0.35)).astype(int)
    path = _write_csv(
        tmp_path / "loans.csv",
        {"approved": y_pred.tolist(), "repaid": y_true.tolist(), "region": group.tolist()},
    )
    result = _verified(
        parties.round_trip(
            "fairness",
            path,
            "--y-true",
            "repaid",
            "--y-pred",
            "approved",
            "--group",
            "region",
            "--threshold",
            "0.1",
        ),
        "fairness",
    )
    expected = demographic_parity_difference(y_true, y_pred, sensitive_features=group)
    assert abs(float(result["demographic_parity_diff"]) - expected) <= FAIRNESS_TOLERANCE
    assert result["threshold_breached"] is bool(expected > 0.1)


def test_concordance_round_trip(parties: Parties, tmp_path: Path) -> None:
    data = survival_data(100)
    path = _write_csv(
        tmp_path / "rossi.csv",
        {
            "score": data["risk"].tolist(),
            "weeks": data["time"].tolist(),
            "arrest": data["event"].tolist(),
        },
    )
    result = _verified(
        parties.round_trip(
            "concordance",
            path,
            "--column",
            "risk=score",
            "--column",
            "time=weeks",
            "--column",
            "event=arrest",
        ),
        "concordance",
    )
    expected = sksurv_c_index(data)
    assert result["patients"] == 100
    assert abs(float(result["c_index"]) - expected) <= C_INDEX_TOLERANCE
    assert float(result["c_index_error_bound"]) >= abs(float(result["c_index"]) - expected)


def test_drift_round_trip(parties: Parties, tmp_path: Path) -> None:
    p, q, width = drift_histograms()
    path = tmp_path / "drift.json"
    path.write_text(json.dumps({"p": p.tolist(), "q": q.tolist(), "bin_width": width}))
    distance, w1 = numpy_drift(p, q, width)
    threshold = distance / 2
    result = _verified(
        parties.round_trip("drift", path, "--drift-threshold", str(threshold)), "drift"
    )
    assert abs(float(result["distance"]) - distance) <= DISTANCE_TOLERANCE
    assert abs(float(result["w1_distance"]) - w1) <= W1_RELATIVE_TOLERANCE * w1
    # the encrypted signed sum is exact up to CKKS noise (far inside the design's 1 %)
    assert abs(float(result["w1_distance"]) - w1) <= 1e-6 * w1
    assert abs(float(result["w1_distance"]) - w1) <= float(result["w1_error_bound"])
    feature = result["features"][0]  # type: ignore[index]
    assert feature["w1_certified_low"] <= w1 <= feature["w1_certified_high"]
    assert result["drift_threshold"] == threshold
    assert result["drift_detected"] is True
    # the HTML report: error bounds, the per-feature table, the decision
    html = (parties.root / "drift.html").read_text(encoding="utf-8")
    assert "w1 distance" in html and "±" in html and "DETECTED" in html


def test_disagreement_round_trip(parties: Parties, tmp_path: Path) -> None:
    x = disagreement_inputs()
    path = _write_csv(tmp_path / "inputs.csv", {"feature": x.tolist()})
    models = tmp_path / "models.json"
    models.write_text(json.dumps(MODELS))
    mpsd, means = numpy_disagreement(MODELS, x)
    result = _verified(
        parties.round_trip(
            "disagreement",
            path,
            "--column",
            "test_input=feature",
            "--models",
            f"@{models}",
            "--threshold",
            str(mpsd * 10),
        ),
        "disagreement",
    )
    value = float(result["mean_pairwise_squared_difference"])
    assert abs(value - mpsd) <= DISAGREEMENT_RELATIVE_TOLERANCE * mpsd
    # per-model means: relative to the models' mean |output| (the means themselves are near 0)
    got_means = np.asarray(result["per_model_mean_outputs"], dtype=float)
    scale = np.asarray([np.mean(np.abs(np.polynomial.polynomial.polyval(x, m))) for m in MODELS])
    assert np.all(np.abs(got_means - np.asarray(means)) <= DISAGREEMENT_RELATIVE_TOLERANCE * scale)
    # ...and within the error bounds the report states
    bounds = np.asarray(result["per_model_error_bounds"], dtype=float)
    assert np.all(np.abs(got_means - np.asarray(means)) <= bounds)
    assert abs(value - mpsd) <= float(result["error_bound"])
    assert result["threshold_breached"] is False


def test_calibration_round_trip(parties: Parties, tmp_path: Path) -> None:
    scores, labels, quantile = calibration_batch()
    columns: dict[str, list[object]] = {
        f"score_{k}": scores[:, k].tolist() for k in range(scores.shape[1])
    }
    columns["label"] = labels.tolist()
    path = _write_csv(tmp_path / "conformal.csv", columns)
    coverage, set_size = numpy_calibration(scores, labels, quantile)
    result = _verified(
        parties.round_trip("calibration", path, "--quantiles", str(quantile)), "calibration"
    )
    assert abs(float(result["coverage"]) - coverage) <= float(result["coverage_error_bound"])
    assert abs(float(result["coverage"]) - coverage) <= COVERAGE_TOLERANCE
    assert abs(float(result["mean_set_size"]) - set_size) <= float(
        result["mean_set_size_error_bound"]
    )


def test_provenance_round_trip(parties: Parties, tmp_path: Path) -> None:
    attributions, row_ids = provenance_inputs()
    path = _write_csv(tmp_path / "shap.csv", {"id": row_ids, "shap": attributions.tolist()})
    result = _verified(
        parties.round_trip(
            "provenance",
            path,
            "--column",
            "row_id=id",
            "--column",
            "attribution=shap",
            "--n-buckets",
            "16",
            "--k",
            "3",
        ),
        "provenance",
    )
    totals = numpy_buckets(attributions, row_ids, 16)
    got = np.asarray(result["bucket_totals"], dtype=float)
    bound = PROVENANCE_RELATIVE_TOLERANCE * float(np.abs(attributions).sum())
    assert np.max(np.abs(got - totals)) <= bound
    if result["top_k_determined"]:
        assert result["top_k_ids"] == top_k(totals, 3)


@pytest.mark.parametrize(("primitive"), ["concordance", "drift", "provenance"])
def test_bad_table_options_are_usage_errors(
    parties: Parties, primitive: str, tmp_path: Path
) -> None:
    from integration_harness import cli

    path = _write_csv(tmp_path / "t.csv", {"a": [1, 2], "b": [3, 4]})
    result = cli(
        "client",
        "audit",
        primitive,
        "--input",
        path,
        "--evaluator",
        parties.address,
        "--regulator-card",
        parties.card,
        "--identity",
        parties.client,
        "--out",
        tmp_path / "x.bundle.json",
        "--quiet",
    )
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr


#: A client that lies in drift's sign column (every sign +1: the signed sum becomes
#: sum (P - Q), far below W1 for crossing CDFs). Runs the real client CLI with the encoder
#: patched, as a modified client binary would.
FORGING_CLIENT = """
import sys
import numpy as np
from regaudit.shared.primitives.drift import inputs as drift

honest = drift.encode_drift_columns

def forged(p, q, public):
    columns = honest(p, q, public)
    columns["sign"] = np.where(columns["sign"] != 0, 1.0, 0.0)
    return columns

drift.encode_drift_columns = forged
from regaudit.client.cli import main
sys.argv = ["regaudit-client", *sys.argv[1:]]
main()
"""


def test_drift_forged_sign_column_fails_verification(parties: Parties, tmp_path: Path) -> None:
    import subprocess
    import sys

    from integration_harness import ROOT, cli

    bins = np.arange(32)
    p = np.exp(-0.5 * ((bins - 16) / 3.0) ** 2)
    q = np.exp(-0.5 * ((bins - 16) / 7.0) ** 2)  # same centre, wider: P - Q changes sign
    path = tmp_path / "drift.json"
    path.write_text(json.dumps({"p": p.tolist(), "q": q.tolist()}))
    bundle = tmp_path / "forged.bundle.json"
    audited = subprocess.run(
        [
            sys.executable,
            "-c",
            FORGING_CLIENT,
            "audit",
            "drift",
            "--input",
            str(path),
            "--evaluator",
            parties.address,
            "--regulator-card",
            str(parties.card),
            "--identity",
            str(parties.client),
            "--out",
            str(bundle),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert audited.returncode == 0, audited.stderr
    verified = cli(
        "regulator",
        "verify",
        bundle,
        "--identity",
        parties.regulator,
        "--trust",
        parties.trust,
        "--json",
    )
    assert verified.returncode == 1, verified.stdout + verified.stderr
    payload = json.loads(verified.stdout)
    assert payload["verified"] is False
    assert payload["reason"] == "inconsistent_sign_column", payload
