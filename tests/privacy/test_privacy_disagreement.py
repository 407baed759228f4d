"""DP release of disagreement on a real verified bundle: the per-model means and the MPSD are
quantized at a public step and noised at the sensitivity the public ``input_bound`` implies,
charged to the ledger and post-processed into each model's range; an MPSD on its threshold
becomes indeterminate, one far from it stands."""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import combinations
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

from regaudit.regulator.privacy import DP_KEY, INDETERMINATE, CalibratedMechanism
from regaudit.regulator.privacy.primitives import DISAGREEMENT
from regaudit.regulator.privacy.releases.common import QUANTA
from regaudit.regulator.result_policy import EXIT_BREACH
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit
from regaudit.shared.primitives.disagreement.inputs import parse

ROWS = 2_000
MODELS = [[0.0, 1.0], [0.05, 0.95, 0.02], [-0.02, 1.05, 0.0, -0.01]]
#: The threshold sits this far above the exact MPSD: outside the CKKS bound, inside the noise.
OFFSET = 1e-5


def _plain(x: np.ndarray) -> tuple[list[float], float]:
    outputs = [np.polynomial.polynomial.polyval(x, m) for m in MODELS]
    pairs = list(combinations(range(len(MODELS)), 2))
    mpsd = float(np.mean([np.mean((outputs[a] - outputs[b]) ** 2) for a, b in pairs]))
    return [float(o.mean()) for o in outputs], mpsd


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(4).normal(0.0, 1.0, ROWS)


@pytest.fixture(scope="module")
def audit(parties: Parties, x: np.ndarray) -> VerifiedAudit:
    """An audit whose threshold is OFFSET above its MPSD (not breached, but by less than the
    noise)."""
    payload = {"model_polynomials": MODELS, "test_input": x.tolist()}
    payload["threshold"] = _plain(x)[1] + OFFSET
    return verify_audit(parties, DisagreementCircuit(), parse(payload))


def _value_sensitivity(bound: float) -> tuple[float, float]:
    """l1 and l2 of one row's effect in value units, computed independently: model k's range on
    |x| <= B is at most 2 sum_j>=1 |c_j| B^j, the pairwise squared difference at most
    (sum_j |g_j| B^j)^2."""
    ranges = [2 * sum(abs(c) * bound**j for j, c in enumerate(m) if j) for m in MODELS]
    padded = [np.pad(m, (0, 4 - len(m))) for m in MODELS]
    pairs = list(combinations(range(len(MODELS)), 2))
    peak = np.mean(
        [sum(abs(g) * bound**j for j, g in enumerate(padded[a] - padded[b])) ** 2 for a, b in pairs]
    )
    values = [*ranges, float(peak)]
    return sum(values) / ROWS, math.sqrt(sum(v * v for v in values)) / ROWS


def test_the_aggregates_are_the_quantized_means_and_mpsd(
    audit: VerifiedAudit, x: np.ndarray
) -> None:
    means, mpsd = _plain(x)
    bound = float(audit.public_inputs["input_bound"])
    assert bound >= np.abs(x).max()
    l1, l2 = _value_sensitivity(bound)
    aggregates = DISAGREEMENT.aggregates(audit)
    step = l1 / QUANTA
    assert aggregates.names[-1] == "mean_pairwise_squared_difference"
    restored = np.asarray(aggregates.values) * step
    assert restored == pytest.approx([*means, mpsd], abs=step)
    sensitivity = aggregates.sensitivity
    assert sensitivity.unit == "test input"
    # the quantization and the public CKKS bound add well under 1 % to the exact sensitivity
    assert QUANTA <= sensitivity.l1 <= QUANTA * 1.01
    assert l2 / step <= sensitivity.l2 <= l2 / step * 1.01


def test_a_release_is_charged_noised_and_consistent(audit: VerifiedAudit, identity: Path) -> None:
    budget(identity, 3.0)
    seen = set()
    for _ in range(3):
        released = release(audit, identity, epsilon=1.0).result
        assert set(released) - {DP_KEY} == set(audit.result)
        assert released["models"] == 3 and released["pairs"] == 3
        assert released["threshold"] == audit.result["threshold"]
        assert released["mean_pairwise_squared_difference"] >= 0.0
        bound = float(audit.public_inputs["input_bound"])
        for mean, model in zip(released["per_model_mean_outputs"], MODELS, strict=True):
            reach = sum(abs(c) * bound**j for j, c in enumerate(model) if j)
            assert model[0] - reach <= mean <= model[0] + reach
        assert released[DP_KEY]["sensitivity_unit"] == "test input"
        assert released[DP_KEY]["withheld"] == []
        seen.add(tuple(released["per_model_mean_outputs"]))
    assert len(seen) > 1  # noised (the MPSD is often clamped at 0 at this epsilon; the means not)
    assert listing(identity)["spending"][0]["epsilon_spent"] == pytest.approx(3.0)


def test_the_noise_has_the_scale_of_the_sensitivity_and_epsilon(audit: VerifiedAudit) -> None:
    epsilon = 2.0
    noise, scale, l1 = empirical_noise(DISAGREEMENT, audit, epsilon)
    assert scale == pytest.approx(l1 / epsilon, rel=1e-6)
    expected = discrete_laplace_variance(scale)
    for column in noise.T:
        assert column.var() == pytest.approx(expected, rel=VARIANCE_TOLERANCE)
    # in value units the noise is the public per-row bound over n, divided by epsilon
    value_l1, _ = _value_sensitivity(float(audit.public_inputs["input_bound"]))
    step = value_l1 / QUANTA
    laplace_b = math.sqrt(noise.var() / 2) * step
    assert laplace_b == pytest.approx(value_l1 / epsilon, rel=0.05)


def test_an_mpsd_on_its_threshold_becomes_indeterminate(
    audit: VerifiedAudit, identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert audit.result["threshold_breached"] is False
    budget(identity, 10.0)
    with monkeypatch.context() as patch:  # the released draw exactly 0 (OpenDP is not seeded)
        patch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
        released = release(audit, identity, epsilon=1.0).result
        mpsd = released["mean_pairwise_squared_difference"]
        assert abs(mpsd - audit.result["mean_pairwise_squared_difference"]) < OFFSET / 10
        assert released["threshold_breached"] == INDETERMINATE
        decisions = released[DP_KEY]["flip_analysis"]["decisions"]
        assert [d["decision"] for d in decisions] == ["threshold_breached"]
        assert decisions[0]["indeterminate"] and decisions[0]["noised_value"] is False
        interval = released[DP_KEY]["flip_analysis"]["noise_intervals"][
            "mean_pairwise_squared_difference"
        ]
        assert interval[0] <= mpsd <= interval[1]
        # the same audit with a threshold far above the noise: the decision stands
        public = dict(audit.public_inputs, threshold=1.0)
        far = dataclasses.replace(
            audit, public_inputs=public, result=dict(audit.result, threshold=1.0)
        )
        stands = release(far, identity, epsilon=5.0).result
    assert stands["threshold_breached"] is False


def test_verify_gates_an_mpsd_the_noise_could_flip_on_the_command_line(
    parties: Parties, x: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``verify --dp-epsilon --fail-on-breach`` on a real disagreement bundle whose MPSD sits
    within the noise of its threshold: the release is charged, the decision is released as
    indeterminate and the gate fails (exit 4) unless ``--indeterminate-ok``. The released draw
    is 0 (OpenDP cannot be seeded; a real draw lands beyond 2.3 noise scales of the threshold,
    where the redraws rarely cross it, one time in ten)."""
    monkeypatch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
    payload = {"model_polynomials": MODELS, "test_input": x.tolist()}
    payload["threshold"] = _plain(x)[1] + OFFSET
    bundle = write_bundle(parties, DisagreementCircuit(), parse(payload), tmp_path / "d.bundle")
    identity = regulator_copy(parties, tmp_path)
    cli_budget(identity, parties.client.key_id, 2.0)
    gated = cli_verify(parties, identity, bundle, "--dp-epsilon", "1", "--fail-on-breach")
    assert gated.exit_code == EXIT_BREACH, gated.stdout + gated.stderr
    document = json.loads(gated.stdout)
    assert document["result"]["threshold_breached"] == INDETERMINATE
    statuses = [d["status"] for d in document["outcome"]["decisions"]]
    assert statuses == ["indeterminate"]
    allowed = cli_verify(
        parties, identity, bundle, "--dp-epsilon", "1", "--fail-on-breach", "--indeterminate-ok"
    )
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    assert cli_spent(identity) == pytest.approx(2.0)
