"""The DataFrame API against a real evaluator daemon: a pandas frame is audited remotely (no
file holds its rows), the bundle goes where asked, and the regulator -- in process through
``VerifiedAudit.to_report()`` and on the command line through ``verify --json
--seed-compatible`` -- gets the same result object and the seed library's output shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
from support.cli import cli
from support.parties import Parties, key_id
from support.seed_wheel import validate_seed_output

from regaudit.client import audit_calibration, audit_drift, audit_fairness
from regaudit.regulator import verify_bundle
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.evidence.truststore import TrustStore


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    started = Parties.start(tmp_path_factory.mktemp("frames"))
    try:
        yield started
    finally:
        started.stop()


def _pins(parties: Parties) -> dict[str, str]:
    return {
        "pinned_evaluator_key_id": key_id(parties.evaluator / "evaluator.pub.json"),
        "pinned_regulator_key_id": key_id(parties.regulator / "regulator.pub.json"),
    }


def _verified(parties: Parties, bundle: Path) -> object:
    return verify_bundle(
        AuditBundle.read(bundle),
        regulator_keys=RegulatorKeys.load(parties.regulator),
        trust=TrustStore.load(parties.trust),
    )


def test_remote_fairness_from_a_dataframe_reaches_the_regulator_unchanged(
    parties: Parties, tmp_path: Path
) -> None:
    rng = np.random.default_rng(21)
    n = 600
    frame = pd.DataFrame(
        {
            "hired": rng.integers(0, 2, n),
            "shortlisted": rng.random(n) < 0.45,
            "race": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    bundle = tmp_path / "out" / "fairness.bundle"
    bundle.parent.mkdir()
    result = audit_fairness(
        frame,
        y_true="hired",
        y_pred="shortlisted",
        sensitive_features="race",
        evaluator=parties.address,
        regulator_card=parties.card,
        identity=parties.client,
        out=bundle,
        **_pins(parties),
    )
    # 1. the bundle is where asked, and it is the only file the audit wrote there
    assert bundle.is_file() and sorted(p.name for p in bundle.parent.iterdir()) == [bundle.name]
    assert result.bundle_path == bundle and result.audit_id
    # 2. the client's numbers are fairlearn's
    expected = MetricFrame(
        metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
        y_true=frame["hired"],
        y_pred=frame["shortlisted"].astype(int),
        sensitive_features=frame["race"],
    )
    for rate in ("selection_rate", "true_positive_rate"):
        np.testing.assert_allclose(
            result.by_group.loc[expected.by_group.index, rate], expected.by_group[rate], atol=1e-12
        )
        assert result.difference()[rate] == pytest.approx(expected.difference()[rate], abs=1e-12)
    # 3. the regulator's own result object, from the verified bundle, is the same
    report = _verified(parties, bundle).to_report(sensitive_feature="race")  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(report.by_group, result.by_group)
    assert report.to_dict() == result.to_dict()
    assert report.audit_id == result.audit_id
    # 4. the command line's seed-compatible view validates against the seed's schema
    verified = parties.verify(bundle, "--seed-compatible")
    assert verified.returncode == 0, verified.stderr
    document = json.loads(verified.stdout)
    assert document["verified"] is True and document["primitive"] == "fairness"
    validate_seed_output("fairness", document["result"])
    assert document["result"] == result.to_seed_dict() == report.to_seed_dict()
    # 5. --seed-compatible shapes --json only
    alone = cli(
        "regulator", "verify", bundle, "--identity", parties.regulator, "--trust",
        parties.trust, "--seed-compatible",
    )  # fmt: skip
    assert alone.returncode == 2 and "seed-compatible" in alone.stderr + alone.stdout


def test_remote_drift_cli_view_renames_drift_detected(parties: Parties, tmp_path: Path) -> None:
    histograms = pd.DataFrame({"before": [1.0, 4, 10, 4, 1], "after": [0.0, 2, 8, 8, 2]})
    bundle = tmp_path / "drift.bundle"
    result = audit_drift(
        histograms,
        p="before",
        q="after",
        drift_threshold=0.01,
        bin_width=0.5,
        evaluator=parties.address,
        regulator_card=parties.card,
        identity=parties.client,
        out=bundle,
        **_pins(parties),
    )
    verified = parties.verify(bundle, "--seed-compatible")
    assert verified.returncode == 0, verified.stderr
    document = json.loads(verified.stdout)
    validate_seed_output("drift", document["result"])
    plain = json.loads(parties.verify(bundle).stdout)["result"]
    assert document["result"]["drift_bit"] is plain["drift_detected"] is True
    assert document["result"]["distance"] == plain["distance"]
    assert result.to_seed_dict()["drift_bit"] is True
    assert "drift_detected" not in document["result"]


def test_a_result_the_seed_cannot_express_exits_2_and_stays_verifiable(
    parties: Parties, tmp_path: Path
) -> None:
    # a calibration batch (coverage, mean set size): the seed's output describes one point
    rng = np.random.default_rng(2)
    points = pd.DataFrame({"c0": rng.random(40), "c1": rng.random(40), "y": rng.integers(0, 2, 40)})
    bundle = tmp_path / "calibration.bundle"
    audit_calibration(
        points,
        scores=["c0", "c1"],
        labels="y",
        quantiles=0.5,
        evaluator=parties.address,
        regulator_card=parties.card,
        identity=parties.client,
        out=bundle,
        **_pins(parties),
    )
    refused = parties.verify(bundle, "--seed-compatible")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    document = json.loads(refused.stdout)
    assert document["reason"] == "seed_incompatible" and document["field"] == "membership"
    assert "the bundle verified" in document["message"]
    # the bundle itself is fine: the plain view of the same bundle verifies (no replay)
    plain = parties.verify(bundle)
    assert plain.returncode == 0 and json.loads(plain.stdout)["result"]["coverage"] is not None
