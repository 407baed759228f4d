"""provenance under DP on a real verified bundle: a top-K set the noise could reorder is
released as indeterminate, a dominant one stays determined; the bound on one row follows from
the public ``attribution_scale`` (l1 = l2 = 2 A 2^24 / rows), the quantized totals are the
decoded ones, the noise has that scale, and the rebuilt report keeps the primitive's fields."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from privacy.release_support import (
    VARIANCE_TOLERANCE,
    budget,
    discrete_laplace_variance,
    empirical_noise,
    listing,
    release,
    verify_audit,
)
from regulator.conftest import Parties

from regaudit.regulator.privacy import DP_KEY, INDETERMINATE, CalibratedMechanism
from regaudit.regulator.privacy.primitives import NOT_YET, RELEASES
from regaudit.regulator.privacy.releases.common import QUANTA
from regaudit.regulator.privacy.releases.provenance import PROVENANCE
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
from regaudit.shared.primitives.provenance.inputs import parse
from regaudit.shared.primitives.provenance.layout import MAX_TOTAL

ROWS, BUCKETS, K = 600, 8, 3


@pytest.fixture(scope="module")
def attributions() -> np.ndarray:
    return np.random.default_rng(21).standard_t(3, ROWS) * 0.1


@pytest.fixture(scope="module")
def audit(parties: Parties, attributions: np.ndarray) -> VerifiedAudit:
    payload = {
        "attributions": attributions.tolist(),
        "row_ids": [f"row-{i}" for i in range(ROWS)],
        "n_buckets": BUCKETS,
        "k": K,
    }
    return verify_audit(parties, ProvenanceCircuit(), parse(payload))


def _per_row(audit: VerifiedAudit) -> float:
    return float(audit.public_inputs["attribution_scale"]) * MAX_TOTAL / int(audit.plan.rows)


def _bucket(row_id: str, buckets: int) -> int:
    """The spec's public bucket of a row id (docs/specs/provenance.md)."""
    return int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest(), "big") % buckets


def test_a_top_k_the_noise_could_reorder_is_released_as_indeterminate(
    audit: VerifiedAudit, identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bucket totals of heavy-tailed noise-like attributions lie close together: at epsilon 1
    the redraws reorder the top 3, so the released top-K is not called determined. (The
    released draw is pinned to the exact totals, so the test does not depend on luck.)"""
    assert "provenance" in RELEASES and "provenance" not in NOT_YET
    budget(identity, 5.0)
    monkeypatch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
    released = release(audit, identity, epsilon=1.0).result
    assert released["top_k_determined"] == INDETERMINATE
    flips = {d["decision"]: d for d in released[DP_KEY]["flip_analysis"]["decisions"]}
    assert flips["top_k_ids"]["indeterminate"] is True
    assert "reorder" in flips["top_k_ids"]["why"]
    assert [r["epsilon"] for r in listing(identity)["releases"]] == [1.0]


def test_a_dominant_top_k_stays_determined(
    parties: Parties, identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bucket holds every large attribution: no redraw at epsilon 10 moves it out of the
    top 1."""
    ids = [f"row-{i}" for i in range(ROWS)]
    heavy = _bucket(ids[0], BUCKETS)
    values = [1.0 if _bucket(i, BUCKETS) == heavy else 0.001 for i in ids]
    dominant = verify_audit(
        parties,
        ProvenanceCircuit(),
        parse({"attributions": values, "row_ids": ids, "n_buckets": BUCKETS, "k": 1}),
    )
    budget(identity, 20.0)
    monkeypatch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
    released = release(dominant, identity, epsilon=10.0).result
    assert released["top_k_determined"] is True
    assert released["top_k_ids"] == [heavy]


def test_the_sensitivity_follows_from_the_public_attribution_scale(
    audit: VerifiedAudit, attributions: np.ndarray
) -> None:
    per_row = _per_row(audit)
    # the public bound holds for every row (the client refuses otherwise), and is not loose by
    # more than the power of two of the automatic scale
    assert np.abs(attributions).max() <= per_row < 2 * np.abs(attributions).max()
    aggregates = PROVENANCE.aggregates(audit)
    step = 2 * per_row / QUANTA
    decoded = np.asarray(audit.result["bucket_totals"])
    assert np.asarray(aggregates.values) * step == pytest.approx(decoded, abs=step)
    assert aggregates.sensitivity.unit == "row"
    # quantization and the public CKKS bound add under 1 % here (0.15 % measured)
    assert QUANTA <= aggregates.sensitivity.l1 <= QUANTA * 1.01
    assert QUANTA <= aggregates.sensitivity.l2 <= QUANTA * 1.01


def test_the_noise_has_the_scale_of_the_sensitivity_and_epsilon(audit: VerifiedAudit) -> None:
    epsilon = 1.0
    noise, scale, l1 = empirical_noise(PROVENANCE, audit, epsilon)
    assert scale == pytest.approx(l1 / epsilon, rel=1e-6)
    assert noise.var() == pytest.approx(discrete_laplace_variance(scale), rel=VARIANCE_TOLERANCE)
    step = 2 * _per_row(audit) / QUANTA
    laplace_b = math.sqrt(noise.var() / 2) * step
    # in value units: the public per-row bound 2M over epsilon (quantization adds < 1 %)
    assert laplace_b == pytest.approx(2 * _per_row(audit) / epsilon, rel=0.04)


def test_the_rebuilt_report_keeps_the_primitives_fields(audit: VerifiedAudit) -> None:
    aggregates = PROVENANCE.aggregates(audit)
    exact = PROVENANCE.rebuild(list(aggregates.values), audit)
    assert set(exact) == set(audit.result)
    assert exact["top_k_ids"] == audit.result["top_k_ids"]
    assert exact["k"] == K and exact["n_buckets"] == BUCKETS
    # a huge draw is clamped into the largest possible total
    largest = float(audit.public_inputs["attribution_scale"]) * MAX_TOTAL
    shifted = list(aggregates.values)
    shifted[0] = 10**15
    rebuilt = PROVENANCE.rebuild(shifted, audit)
    assert rebuilt["bucket_totals"][0] <= largest * (1 + 1e-9)
    assert rebuilt["top_k_ids"][0] == 0 and sum(rebuilt["top_k_indicator"]) == K
