"""DP release of calibration (batch form) on a real verified bundle: the covered points and the
total set size are noised at l1 = 1 + K per point, charged to the ledger, post-processed into a
consistent report; a coverage on its policy target is within the noise; the point form is
refused and charges nothing."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from privacy.release_support import (
    VARIANCE_TOLERANCE,
    budget,
    cli_budget,
    cli_spent,
    cli_verify,
    discrete_laplace_variance,
    empirical_noise,
    listing,
    regulator_copy,
    release,
    verify_audit,
    write_bundle,
)
from regulator.conftest import Parties

from regaudit.regulator.privacy import DP_KEY, CalibratedMechanism, noise_bound
from regaudit.regulator.privacy.primitives import CALIBRATION
from regaudit.regulator.result_policy import INDETERMINATE, PASS, compare
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.inputs import parse

POINTS, CLASSES = 120, 4
QUANTILES = [0.6, 0.7, 0.5, 0.65]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "scores": rng.uniform(0.0, 1.0, (POINTS, CLASSES)),
        "labels": rng.integers(0, CLASSES, POINTS),
    }


@pytest.fixture(scope="module")
def audit(parties: Parties, data: dict[str, np.ndarray]) -> VerifiedAudit:
    payload = {
        "scores": data["scores"].tolist(),
        "labels": data["labels"].tolist(),
        "quantiles": QUANTILES,
    }
    return verify_audit(parties, CalibrationCircuit(), parse(payload))


def _exact_counts(data: dict[str, np.ndarray]) -> tuple[int, int]:
    members = data["scores"] <= np.asarray(QUANTILES)[None, :]
    covered = int(members[np.arange(POINTS), data["labels"]].sum())
    return covered, int(members.sum())


def test_the_aggregates_are_the_exact_counts(
    audit: VerifiedAudit, data: dict[str, np.ndarray]
) -> None:
    aggregates = CALIBRATION.aggregates(audit)
    assert aggregates.names == ("covered_points", "total_set_size")
    assert aggregates.values == _exact_counts(data)
    assert aggregates.sensitivity.l1 == 1 + CLASSES
    assert aggregates.sensitivity.l2 == pytest.approx(math.sqrt(1 + CLASSES**2))
    assert aggregates.sensitivity.unit == "point"


def test_a_release_is_charged_noised_and_consistent(audit: VerifiedAudit, identity: Path) -> None:
    budget(identity, 5.0)
    seen = set()
    for _ in range(4):
        released = release(audit, identity, epsilon=1.0).result
        block = released[DP_KEY]
        assert block["l1_sensitivity"] == 1 + CLASSES and block["sensitivity_unit"] == "point"
        assert block["noise_scale"] == pytest.approx((1 + CLASSES) / 1.0, rel=1e-6)
        assert [a["name"] for a in block["aggregates"]] == ["covered_points", "total_set_size"]
        assert block["withheld"] == []
        assert set(released) - {DP_KEY} == set(audit.result)
        covered = released["coverage"] * POINTS
        total = released["mean_set_size"] * POINTS
        assert covered == pytest.approx(round(covered)) and total == pytest.approx(round(total))
        assert 0 <= round(covered) <= round(total) <= POINTS * CLASSES
        assert released["quantiles"] == audit.result["quantiles"]
        seen.add((round(covered), round(total)))
    assert len(seen) > 1  # noised: four releases did not all draw the same noise
    spent = listing(identity)
    assert [r["primitive"] for r in spent["releases"]] == ["calibration"] * 4
    assert spent["spending"][0]["epsilon_spent"] == pytest.approx(4.0)


def test_the_noise_has_the_scale_of_the_sensitivity_and_epsilon(audit: VerifiedAudit) -> None:
    epsilon = 0.5
    noise, scale, l1 = empirical_noise(CALIBRATION, audit, epsilon)
    assert scale == pytest.approx(l1 / epsilon, rel=1e-6)
    expected = discrete_laplace_variance((1 + CLASSES) / epsilon)
    for column in noise.T:
        assert abs(column.mean()) < 5 * math.sqrt(expected / column.size)
        assert column.var() == pytest.approx(expected, rel=VARIANCE_TOLERANCE)
    # a sensitivity of 1 (ignoring the set size) would be visibly less noise
    assert noise.var() > 4 * discrete_laplace_variance(1 / epsilon)


def test_a_coverage_on_its_target_is_within_the_noise(
    audit: VerifiedAudit, identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget(identity, 10.0)
    with monkeypatch.context() as patch:  # the released draw exactly 0 (OpenDP is not seeded)
        patch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
        released = release(audit, identity, epsilon=1.0).result
    coverage = released["coverage"]
    assert coverage == audit.result["coverage"]
    bound = noise_bound(released, "coverage")
    # a one-point change of the coverage is 1 / 120; the noise (scale 5 points) is far wider
    assert bound is not None and bound > 2 / POINTS
    interval = released[DP_KEY]["flip_analysis"]["noise_intervals"]["coverage"]
    assert interval[0] < coverage < interval[1]
    assert compare(coverage, coverage, direction="min", bound=bound) == INDETERMINATE
    assert compare(coverage, coverage - 2 * bound, direction="min", bound=bound) == PASS


def test_the_point_form_is_refused_and_charges_nothing(
    audit: VerifiedAudit, identity: Path
) -> None:
    budget(identity, 1.0)
    public = {"mode": "point", "quantiles": QUANTILES, "score_range": 1.0}
    public |= {"classes": CLASSES, "points": 1}
    point = dataclasses.replace(audit, public_inputs=public)
    with pytest.raises(InputError, match="not available for calibration point releases") as caught:
        release(point, identity)
    assert caught.value.field == "mode"
    assert listing(identity)["releases"] == []


def test_a_count_that_is_not_exact_is_refused(audit: VerifiedAudit) -> None:
    inexact = dict(audit.result, coverage_error_bound=1.0 / POINTS)
    with pytest.raises(InputError, match="not an exact count"):
        CALIBRATION.aggregates(dataclasses.replace(audit, result=inexact))


def test_verify_releases_calibration_under_dp_on_the_command_line(
    parties: Parties, data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """``verify --dp-epsilon`` on a real calibration bundle: JSON and HTML report carry the
    noised coverage and the release; the ledger is charged."""
    payload = {
        "scores": data["scores"].tolist(),
        "labels": data["labels"].tolist(),
        "quantiles": QUANTILES,
    }
    bundle = write_bundle(parties, CalibrationCircuit(), parse(payload), tmp_path / "cal.bundle")
    identity = regulator_copy(parties, tmp_path)
    cli_budget(identity, parties.client.key_id, 1.0)
    report = tmp_path / "cal.html"
    result = cli_verify(parties, identity, bundle, "--dp-epsilon", "0.5", "--report", report)
    assert result.exit_code == 0, result.stdout + result.stderr
    released = json.loads(result.stdout)["result"]
    assert released[DP_KEY]["l1_sensitivity"] == 1 + CLASSES
    assert 0.0 <= released["coverage"] <= 1.0
    assert cli_spent(identity) == pytest.approx(0.5)
    assert "Released under differential privacy (epsilon 0.5" in report.read_text()
