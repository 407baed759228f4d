"""Drift: plaintext circuit vs numpy oracle, the plan, validation, and one real-CKKS run."""

from __future__ import annotations

import numpy as np
import pytest

from regaudit.shared.circuits.drift import (
    CHEBYSHEV_DEGREE,
    DriftCircuit,
    build_drift_report,
    decode_moments,
    drift_reference,
    evaluate_plaintext,
    parse_drift_input,
    stride_for,
)
from regaudit.shared.errors import InputError, NoiseBoundError, ProfileError
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6


def _hist(rng: np.random.Generator, mu: float, sd: float, bins: int) -> list[int]:
    sample = rng.normal(mu, sd, 20_000)
    counts, _ = np.histogram(sample, bins=bins, range=(-4.0, 4.0))
    return counts.tolist()


def _batch(seed: int, bins: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    shifts = [(0.0, 1.0), (0.1, 1.05), (0.3, 1.0), (1.0, 0.8)]
    return {
        "p": [_hist(rng, 0.0, 1.0, bins) for _ in shifts],
        "q": [_hist(rng, mu, sd, bins) for mu, sd in shifts],
        "drift_threshold": 0.05,
        "bin_width": 8.0 / bins,
    }


def test_plaintext_circuit_matches_reference() -> None:
    data = parse_drift_input(_batch(11, 48))
    plan, outputs = evaluate_plaintext(data)
    report = DriftCircuit().decode(outputs, data.public, data.rows)
    reference = drift_reference(data)
    assert len(report["features"]) == 4
    for got, want in zip(report["features"], reference["features"], strict=True):
        assert got["distance"] == pytest.approx(want["distance"], abs=1e-12)
        # the interval is rigorous and the midpoint close
        assert abs(got["w1_distance"] - want["w1_distance"]) <= got["w1_error_bound"]
        assert abs(got["w1_distance"] / want["w1_distance"] - 1.0) < 0.02
        assert got["w1_error_bound"] / want["w1_distance"] < 0.2
        assert got["drift_detected"] == want["drift_detected"]
    assert report["drift_detected"] is True
    assert report["distance"] == pytest.approx(reference["distance"], abs=1e-12)


def test_single_histogram_seed_shape_and_normalization() -> None:
    # counts and probabilities give the same report; the seed's flat shape is one feature
    p = [1, 4, 10, 4, 1]
    q = [0, 2, 8, 8, 2]
    counts = parse_drift_input({"p": p, "q": q, "drift_threshold": 0.01})
    probs = parse_drift_input(
        {
            "p": (np.array(p) / 20).tolist(),
            "q": (np.array(q) / 20).tolist(),
            "drift_threshold": 0.01,
        }
    )
    assert counts.public == probs.public and not counts.batch
    _, outputs = evaluate_plaintext(counts)
    report = DriftCircuit().decode(outputs, counts.public, counts.rows)
    gap = np.cumsum(np.array(p) / 20) - np.cumsum(np.array(q) / 20)
    assert report["distance"] == pytest.approx(float(gap @ gap), abs=1e-12)
    assert report["w1_distance"] == pytest.approx(np.abs(gap).sum(), abs=report["w1_error_bound"])
    assert report["drift_detected"] is True


def test_identical_histograms_and_indeterminate_decision() -> None:
    data = parse_drift_input({"p": [1, 2, 3], "q": [1, 2, 3], "drift_threshold": 0.0})
    _, outputs = evaluate_plaintext(data)
    report = DriftCircuit().decode(outputs, data.public, data.rows)
    assert report["distance"] == 0.0
    assert report["drift_detected"] == "indeterminate"  # 0 is within the bound of threshold 0
    assert report["w1_distance"] <= report["w1_error_bound"] + 1e-12


def test_plan_depth_profile_steps_outputs() -> None:
    data = parse_drift_input(_batch(3, 100))
    plan = make_plan(DriftCircuit(), data.public, rows=data.rows)
    assert plan.depth == 6
    assert plan.profile == PROFILE_N16384_D6
    assert plan.n_outputs == 1 and plan.n_chunks == 1
    stride = stride_for(100)
    assert stride == 128 and data.rows == 4 * 128
    # only the radix-4 key steps: block sums over 128 slots use 1, 4, 16, 64; the output
    # placement (Horner by 1, then a right shift by 15 composed from these keys) needs no
    # other key; the canary's full slot sum uses 1 .. 4096
    assert PROFILE_N16384_D6.slot_sum_radix == 4
    assert plan.rotation_steps == tuple(4**i for i in range(7))
    block_sum = 3 * 3 + 1  # levels 1, 4, 16 (three rotations each) and 64 (one)
    right_shift_15 = 1 + 4 * 3 + 1  # 8192 - 15 = 4096 + 3 * (1024 + 256 + 64 + 16) + 1
    canary = 6 * 3 + 1
    assert plan.counts.rotations == (
        CHEBYSHEV_DEGREE * block_sum + (CHEBYSHEV_DEGREE - 1) + right_shift_15 + canary
    )
    assert plan.columns == ("cdf_p", "cdf_q")
    with pytest.raises(ProfileError):
        make_plan(DriftCircuit(), data.public, rows=data.rows, profile=PROFILE_N8192_D3)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"q": [1, 2]}, "p"),
        ({"p": [1, 2]}, "q"),
        ({"p": [1, 2], "q": [1, 2], "extra": 1}, "extra"),
        ({"p": [1, "a"], "q": [1, 2]}, "p"),
        ({"p": [1, 2], "q": [1, 2, 3]}, "q"),
        ({"p": [1, -2], "q": [1, 2]}, "p"),
        ({"p": [0, 0], "q": [1, 2]}, "p"),
        ({"p": [1, float("nan")], "q": [1, 2]}, "p"),
        ({"p": [[1, 2], [1]], "q": [[1, 2], [1, 2]]}, "p[1]"),
        ({"p": [[1, 2], [1, 2]], "q": [1, 2]}, "q"),
        ({"p": [1, 2], "q": [1, 2], "drift_threshold": -1}, "drift_threshold"),
        ({"p": [1, 2], "q": [1, 2], "drift_threshold": True}, "drift_threshold"),
        ({"p": [1, 2], "q": [1, 2], "bin_width": 0}, "bin_width"),
        ({"p": [1, 2], "q": [1, 2], "w1_range": 0.3}, "w1_range[0]"),
        ({"p": [1, 2], "q": [2, 1], "w1_range": 2.0**-10}, "w1_range"),
        ({"p": [[1, 2]] * 3, "q": [[1, 2]] * 3, "w1_range": [1, 1]}, "w1_range"),
        ({"p": [[1] * 300] * 20, "q": [[1] * 300] * 20}, "features"),
        ({"p": [1] * 5000, "q": [1] * 5000}, "bins"),
        ([1, 2], None),
    ],
)
def test_validation_names_the_field(payload: object, field: str | None) -> None:
    with pytest.raises(InputError) as error:
        parse_drift_input(payload)  # type: ignore[arg-type]
    assert error.value.field == field


def test_decode_rejects_unzeroed_slots_and_out_of_range_moments() -> None:
    data = parse_drift_input({"p": [1, 2, 3], "q": [3, 2, 1]})
    _, outputs = evaluate_plaintext(data)
    leaked = outputs[0].copy()
    leaked[100] = 0.5
    with pytest.raises(NoiseBoundError):
        decode_moments([leaked], data.public)
    broken = outputs[0].copy()
    broken[5] = 1e3  # |sum T_6| > S is impossible for |x| <= 1
    with pytest.raises(NoiseBoundError):
        decode_moments([broken], data.public)
    moments = decode_moments(outputs, data.public)
    assert build_drift_report(moments, data.public)["distance"] > 0


@pytest.mark.depth6
def test_real_ckks_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    data = parse_drift_input(_batch(7, 64))
    circuit = DriftCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    decrypted = ckks_run(circuit, plan, data.columns(), data.public)
    _, plain = evaluate_plaintext(data)
    report = circuit.decode(decrypted, data.public, data.rows)
    reference = drift_reference(data)
    worst_distance = 0.0
    worst_w1 = 0.0
    for got, want in zip(report["features"], reference["features"], strict=True):
        error = abs(got["distance"] - want["distance"])
        worst_distance = max(worst_distance, error)
        assert error <= 1e-6  # the design's distance target
        assert error <= got["distance_error_bound"]
        assert abs(got["w1_distance"] - want["w1_distance"]) <= got["w1_error_bound"]
        worst_w1 = max(worst_w1, abs(got["w1_distance"] / want["w1_distance"] - 1.0))
        assert got["drift_detected"] == want["drift_detected"]
    assert worst_w1 < 0.02
    noise = float(np.abs(decrypted[0] - plain[0]).max())
    print(
        f"\ndrift CKKS: max |noise| {noise:.2e}, distance error {worst_distance:.2e}, "
        f"W1 midpoint rel error {worst_w1:.4f}"
    )
