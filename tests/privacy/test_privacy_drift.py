"""DP release of drift on a real verified bundle: each feature's distance and W1 are quantized at
a public step and noised at the sensitivity the public ``sample_counts`` imply (checked against
a brute-force recomputation over every neighbouring histogram), charged to the ledger and
clamped into their ranges; a distance on its threshold becomes indeterminate, one far from it
stands. Probabilities without counts stay refused. Client side: the counts are filled from
integer histograms and explicit ones are validated."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

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
from regaudit.regulator.privacy.primitives import DRIFT, RELEASES
from regaudit.regulator.privacy.releases.common import QUANTA
from regaudit.regulator.privacy.releases.drift import NO_COUNTS, sample_sensitivity
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError, exit_code_for
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.inputs import parse
from regaudit.shared.primitives.drift.layout import stride_for
from regaudit.shared.primitives.drift.reference import reference
from regaudit.shared.primitives.drift.report import (
    MIN_DISTANCE_ERROR_BOUND,
    moment_noise_bounds,
    w1_noise_bound,
)

SAMPLES = (3_000, 2_500)
BINS = 32
WIDTH = 0.25
#: The threshold sits this far above feature 0's exact distance: outside the CKKS bound
#: (~1e-8), far inside the noise (~0.03 at epsilon 1).
OFFSET = 1e-4


def _payload() -> dict[str, Any]:
    """Two features of integer counts: feature 0 drifts (mean shift 0.6), feature 1 not."""
    rng = np.random.default_rng(8)
    edges = (-4.0, 4.0)
    p = [np.histogram(rng.normal(0.0, 1.0, SAMPLES[0]), BINS, edges)[0] for _ in range(2)]
    q = [np.histogram(rng.normal(shift, 1.0, SAMPLES[1]), BINS, edges)[0] for shift in (0.6, 0.0)]
    payload: dict[str, Any] = {
        "p": [h.tolist() for h in p],
        "q": [h.tolist() for h in q],
        "bin_width": WIDTH,
    }
    exact = reference(parse(payload))["features"][0]["distance"]
    payload["drift_threshold"] = exact + OFFSET
    return payload


@pytest.fixture(scope="module")
def audit(parties: Parties) -> VerifiedAudit:
    return verify_audit(parties, DriftCircuit(), parse(_payload()))


def _ckks(audit: VerifiedAudit) -> list[tuple[float, float]]:
    """Per feature the public CKKS bounds (distance, W1) the release starts from: twice the
    decoder's (its sum-of-squares bound times R^2; the signed sum's bound)."""
    public = DriftCircuit().validate_public(dict(audit.public_inputs))
    sum_y = float(moment_noise_bounds(stride_for(BINS))[0])
    return [
        (2.0 * max(MIN_DISTANCE_ERROR_BOUND, sum_y * r * r), 2.0 * w1_noise_bound(public, f))
        for f, r in enumerate(public["w1_range"])
    ]


# -- client side ----------------------------------------------------------------------------


def test_counts_are_filled_from_integer_histograms_and_given_for_probabilities() -> None:
    filled = parse({"p": [[3, 1, 0], [1, 1, 2]], "q": [[0, 2, 2], [2, 2, 1]]}).public
    assert filled["sample_counts"] == {"p": [4, 4], "q": [4, 5]}
    probabilities = {"p": [0.2, 0.3, 0.5], "q": [0.5, 0.25, 0.25]}
    assert "sample_counts" not in parse(probabilities).public
    given = parse({**probabilities, "sample_counts": {"p": 120, "q": [80]}}).public
    assert given["sample_counts"] == {"p": [120], "q": [80]}
    # the circuit (version unchanged) validates the key and keeps audits without it as they were
    circuit = DriftCircuit()
    assert circuit.version == "2"
    assert circuit.validate_public(given) == given
    plain = {k: v for k, v in given.items() if k != "sample_counts"}
    assert circuit.validate_public(plain) == plain


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ({"p": -3, "q": 6}, "sample_counts.p[0]"),
        ({"p": 0, "q": 6}, "sample_counts.p[0]"),
        ({"p": 6, "q": 2.5}, "sample_counts.q[0]"),
        ({"p": 6, "q": True}, "sample_counts.q[0]"),
        ({"p": [6, 6], "q": 6}, "sample_counts.p"),
        ({"p": 6}, "sample_counts"),
        ({"p": 7, "q": 6}, "sample_counts.p[0]"),  # the integer histogram p sums to 6
        ({"p": 6, "q": 5}, "sample_counts.q[0]"),
    ],
)
def test_explicit_counts_are_validated(counts: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse({"p": [1, 2, 3], "q": [3, 2, 1], "sample_counts": counts})
    assert caught.value.field == field
    assert exit_code_for(caught.value) == 2


# -- the sensitivity ------------------------------------------------------------------------


def _neighbours(histogram: np.ndarray) -> list[np.ndarray]:
    """Every histogram one sample away: one added, removed, or moved to another bin."""
    found = []
    for i in range(len(histogram)):
        added = histogram.copy()
        added[i] += 1
        found.append(added)
        if histogram[i] > 0 and histogram.sum() > 1:
            removed = histogram.copy()
            removed[i] -= 1
            found.append(removed)
            for j in range(len(histogram)):
                if j != i:
                    moved = removed.copy()
                    moved[j] += 1
                    found.append(moved)
    return found


def test_the_bound_holds_over_every_neighbour_of_small_histograms() -> None:
    """Brute force with the primitive's reference: every neighbour in p, in q, or in both (one
    individual in both samples) moves the distance and W1 by at most the bound; the bound is
    reached within a factor of 4 (it is not vacuous)."""
    rng = np.random.default_rng(2)
    ratios = np.zeros(2)
    for _ in range(60):
        bins = int(rng.integers(2, 6))
        p, q = rng.integers(0, 4, bins) + np.eye(bins, dtype=int)[0], rng.integers(1, 4, bins)
        base = parse({"p": p.tolist(), "q": q.tolist(), "bin_width": 0.5})
        exact = reference(base)["features"][0]
        bound = sample_sensitivity(
            bins=bins,
            w1_range=base.public["w1_range"][0],
            bin_width=0.5,
            n_p=int(p.sum()),
            n_q=int(q.sum()),
        )
        pairs = [(n, q) for n in _neighbours(p)] + [(p, n) for n in _neighbours(q)]
        pairs += [(a, b) for a in _neighbours(p)[:3] for b in _neighbours(q)[:3]]
        for near_p, near_q in pairs:
            payload = {"p": near_p.tolist(), "q": near_q.tolist(), "bin_width": 0.5}
            moved = reference(parse(payload))["features"][0]
            for k, metric in enumerate(("distance", "w1_distance")):
                ratio = abs(moved[metric] - exact[metric]) / bound[k]
                assert ratio <= 1.0 + 1e-12, (p, q, near_p, near_q, metric)
                ratios[k] = max(ratios[k], ratio)
    assert (ratios > 0.25).all()


def test_the_aggregates_are_each_features_quantized_distance_and_w1(audit: VerifiedAudit) -> None:
    counts = audit.public_inputs["sample_counts"]
    payload = _payload()
    assert counts == {side: [sum(h) for h in payload[side]] for side in ("p", "q")}
    assert min(counts["q"]) > 0.99 * SAMPLES[1]  # a few samples fall outside the bins
    moves = [
        m
        for f in range(2)
        for m in sample_sensitivity(
            bins=BINS,
            w1_range=audit.public_inputs["w1_range"][f],
            bin_width=WIDTH,
            n_p=counts["p"][f],
            n_q=counts["q"][f],
        )
    ]
    aggregates = DRIFT.aggregates(audit)
    assert aggregates.names == (
        "features.0.distance",
        "features.0.w1_distance",
        "features.1.distance",
        "features.1.w1_distance",
    )
    step = sum(moves) / QUANTA
    exact = [f[m] for f in audit.result["features"] for m in ("distance", "w1_distance")]
    assert np.asarray(aggregates.values) * step == pytest.approx(exact, abs=step)
    sensitivity = aggregates.sensitivity
    assert sensitivity.unit == "sample"
    # the quantization and the public CKKS bounds add well under 1 % to the exact sensitivity
    assert QUANTA <= sensitivity.l1 <= QUANTA * 1.01
    l2 = math.sqrt(sum(m * m for m in moves)) / step
    assert l2 <= sensitivity.l2 <= l2 * 1.01


def test_the_noise_has_the_scale_of_the_sensitivity_and_epsilon(audit: VerifiedAudit) -> None:
    epsilon = 2.0
    noise, scale, l1 = empirical_noise(DRIFT, audit, epsilon)
    assert scale == pytest.approx(l1 / epsilon, rel=1e-6)
    expected = discrete_laplace_variance(scale)
    for column in noise.T:
        assert column.var() == pytest.approx(expected, rel=VARIANCE_TOLERANCE)


# -- releases -------------------------------------------------------------------------------


def test_a_release_is_charged_noised_and_within_range(audit: VerifiedAudit, identity: Path) -> None:
    assert "drift" in RELEASES
    budget(identity, 3.0)
    seen = set()
    ckks = _ckks(audit)
    for _ in range(2):
        released = release(audit, identity, epsilon=1.0).result
        assert set(released) - {DP_KEY} == set(audit.result)
        block = released[DP_KEY]
        assert block["sensitivity_unit"] == "sample" and "sample_counts" in block["public"]
        intervals = block["flip_analysis"]["noise_intervals"]
        for f, feature in enumerate(released["features"]):
            scale = audit.public_inputs["w1_range"][f]
            assert 0.0 <= feature["distance"] <= (BINS - 1) * scale**2
            assert 0.0 <= feature["w1_distance"] <= WIDTH * (BINS - 1) * scale
            assert "w1_certified_low" not in feature  # a function of the moments: withheld
            # each error bound is the public CKKS bound plus the noise's half-width
            for metric, bound, public in (
                ("distance", "distance_error_bound", ckks[f][0]),
                ("w1_distance", "w1_error_bound", ckks[f][1]),
            ):
                low, high = intervals[f"features.{f}.{metric}"]
                half = max(feature[metric] - low, high - feature[metric])
                assert feature[bound] == pytest.approx(public + half)
                # feature 0 lies far inside its range (feature 1's distance, near 0, is often
                # clamped there in every redraw: a zero half-width)
                assert half > 1e-3 or f == 1
        seen.add(released["features"][0]["w1_distance"])
    assert len(seen) > 1
    assert listing(identity)["spending"][0]["epsilon_spent"] == pytest.approx(2.0)


def test_a_distance_on_its_threshold_becomes_indeterminate(
    audit: VerifiedAudit, identity: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert audit.result["features"][0]["drift_detected"] is False
    budget(identity, 10.0)
    with monkeypatch.context() as patch:  # the released draw exactly 0 (OpenDP is not seeded)
        patch.setattr(CalibratedMechanism, "release", lambda self, values: list(values))
        released = release(audit, identity, epsilon=1.0).result
        features = released["features"]
        assert abs(features[0]["distance"] - audit.result["features"][0]["distance"]) < 1e-6
        assert features[0]["drift_detected"] == INDETERMINATE
        assert released["drift_detected"] == INDETERMINATE
        assert features[1]["drift_detected"] is False  # far below the threshold: it stands
        decisions = {d["decision"]: d for d in released[DP_KEY]["flip_analysis"]["decisions"]}
        assert set(decisions) == {
            "drift_detected",
            "features.0.drift_detected",
            "features.1.drift_detected",
        }
        first = decisions["features.0.drift_detected"]
        assert first["indeterminate"] and first["noised_value"] is False
        assert not decisions["features.1.drift_detected"]["indeterminate"]
        # the same audit with a threshold far above the noise: every decision stands
        public = dict(audit.public_inputs, drift_threshold=1.0)
        far = dataclasses.replace(
            audit, public_inputs=public, result=dict(audit.result, drift_threshold=1.0)
        )
        stands = release(far, identity, epsilon=5.0).result
    assert stands["drift_detected"] is False
    assert [f["drift_detected"] for f in stands["features"]] == [False, False]


def test_probabilities_without_counts_are_refused_charging_nothing(
    audit: VerifiedAudit, identity: Path
) -> None:
    """The audit's public inputs as a client of probabilities gives them (no sample_counts)."""
    payload = _payload()
    payload["p"] = [(np.asarray(h) / sum(h)).tolist() for h in payload["p"]]
    payload["q"] = [(np.asarray(h) / sum(h)).tolist() for h in payload["q"]]
    public = parse(payload).public
    assert "sample_counts" not in public
    budget(identity, 1.0)
    blind = dataclasses.replace(audit, public_inputs=public)
    with pytest.raises(InputError) as caught:
        release(blind, identity)
    assert caught.value.message == NO_COUNTS
    assert "sample_counts" in caught.value.message
    assert caught.value.field == "sample_counts" and exit_code_for(caught.value) == 2
    assert listing(identity)["releases"] == []


def test_the_sample_counts_option_reaches_the_public_inputs(tmp_path: Path) -> None:
    """``regaudit-client audit drift --sample-counts JSON`` on a table of probabilities."""
    from regaudit.client.audit_options import public_overrides
    from regaudit.client.inputs import load_audit_input
    from regaudit.shared.primitives import get_primitive

    table = tmp_path / "drift.csv"
    table.write_text("p,q\n0.2,0.5\n0.3,0.25\n0.5,0.25\n", encoding="utf-8")
    given = {"--sample-counts": '{"p": 120, "q": [80]}'}
    overrides = public_overrides(get_primitive("drift"), given)
    data = load_audit_input("drift", table, overrides=overrides)
    assert data.public["sample_counts"] == {"p": [120], "q": [80]}
    with pytest.raises(InputError, match="must be an integer"):
        load_audit_input("drift", table, overrides={"sample_counts": {"p": 1.5, "q": 2}})
