"""Drift: plaintext circuit vs numpy oracle, the plan, validation, and one real-CKKS run."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.chebyshev import certified_max, chebyshev_sandwich
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    InputError,
    NoiseBoundError,
    ProfileError,
    SignColumnError,
)
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.inputs import parse
from regaudit.shared.primitives.drift.layout import (
    CHEBYSHEV_DEGREE,
    PART_SLOTS,
    QUANTITIES,
    SIGNED_SUM,
    output_count,
    output_gain,
    output_position,
    part_count,
    stride_for,
)
from regaudit.shared.primitives.drift.reference import reference as exact_report
from regaudit.shared.primitives.drift.report import (
    SIGNED_SUM_NOISE_PER_SLOT,
    build_drift_report,
    decode,
    decode_moments,
    decode_unrounded,
    release_report,
)
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

#: The radix-4 Galois steps of the depth-6 profile (no circuit may add others).
RADIX4_STEPS = tuple(4**i for i in range(7))
#: Evaluation-key budget per audit (relin + Galois), bytes.
MAX_KEY_BYTES = 60_000_000


def _hist(rng: np.random.Generator, mu: float, sd: float, bins: int) -> list[int]:
    sample = rng.normal(mu, sd, 20_000)
    counts, _ = np.histogram(sample, bins=bins, range=(-4.0, 4.0))
    return counts.tolist()


def _shifted_batch(seed: int, features: int, bins: int) -> dict[str, object]:
    """``features`` pairs of normal histograms with random shifts and scales."""
    rng = np.random.default_rng(seed)
    p, q = [], []
    for _ in range(features):
        mu, sd = rng.uniform(-1.0, 1.0), rng.uniform(0.7, 1.3)
        p.append(_hist(rng, 0.0, 1.0, bins))
        q.append(_hist(rng, mu, sd, bins))
    return {"p": p, "q": q, "drift_threshold": 0.05, "bin_width": 8.0 / bins}


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
    data = parse(_batch(11, 48))
    _plan, outputs = evaluate_plaintext(DriftCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    # released values are rounded to their bounds' steps; the arithmetic is checked at full
    # precision on the regulator-internal decode
    unrounded = decode_unrounded(outputs, data.public)
    assert report == release_report(unrounded, data.public)
    reference = exact_report(data)
    assert len(report["features"]) == 4
    for exact, got, want in zip(
        unrounded["features"], report["features"], reference["features"], strict=True
    ):
        assert exact["distance"] == pytest.approx(want["distance"], abs=1e-12)
        # W1 is the signed sum (exact on the plaintext backend), inside its certified interval
        assert exact["w1_distance"] == pytest.approx(want["w1_distance"], rel=1e-12)
        assert got["w1_certified_low"] <= want["w1_distance"] <= got["w1_certified_high"]
        assert abs(got["w1_distance"] - want["w1_distance"]) <= got["w1_error_bound"]
        assert got["w1_error_bound"] / want["w1_distance"] < 0.2
        assert got["drift_detected"] == want["drift_detected"]
    assert report["drift_detected"] is True
    assert unrounded["distance"] == pytest.approx(reference["distance"], abs=1e-12)


def test_single_histogram_seed_shape_and_normalization() -> None:
    # counts and probabilities give the same report; the seed's flat shape is one feature
    p = [1, 4, 10, 4, 1]
    q = [0, 2, 8, 8, 2]
    counts = parse({"p": p, "q": q, "drift_threshold": 0.01})
    probs = parse(
        {
            "p": (np.array(p) / 20).tolist(),
            "q": (np.array(q) / 20).tolist(),
            "drift_threshold": 0.01,
        }
    )
    # integer counts also give the public sample counts (their totals); probabilities do not
    assert counts.public.pop("sample_counts") == {"p": [20], "q": [20]}
    assert counts.public == probs.public and not counts.batch
    _, outputs = evaluate_plaintext(DriftCircuit(), counts)
    report = decode(outputs, counts.public, counts.rows)
    gap = np.cumsum(np.array(p) / 20) - np.cumsum(np.array(q) / 20)
    assert report["distance"] == pytest.approx(float(gap @ gap), abs=1e-12)
    assert report["w1_distance"] == pytest.approx(np.abs(gap).sum(), rel=1e-12)
    assert report["drift_detected"] is True


def test_identical_histograms_and_indeterminate_decision() -> None:
    data = parse({"p": [1, 2, 3], "q": [1, 2, 3], "drift_threshold": 0.0})
    _, outputs = evaluate_plaintext(DriftCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    assert report["distance"] == 0.0
    assert report["drift_detected"] == "indeterminate"  # 0 is within the bound of threshold 0
    assert report["w1_distance"] == 0.0
    assert report["features"][0]["w1_certified_low"] == 0.0


def test_plan_depth_profile_steps_outputs() -> None:
    data = parse(_batch(3, 100))
    plan = make_plan(DriftCircuit(), data.public, rows=data.rows)
    assert plan.depth == 6
    assert plan.profile == PROFILE_N16384_D6
    assert plan.n_outputs == 1 and plan.n_chunks == 1
    stride = stride_for(100)
    assert stride == 128 and data.rows == 4 * 128
    # only the radix-4 key steps: block sums over 128 slots use 1, 4, 16, 64; the output
    # placement (Horner by 1, then a right shift by 16 composed from these keys) needs no
    # other key; the canary's full slot sum uses 1 .. 4096
    assert PROFILE_N16384_D6.slot_sum_radix == 4
    assert plan.rotation_steps == tuple(4**i for i in range(7))
    block_sum = 3 * 3 + 1  # levels 1, 4, 16 (three rotations each) and 64 (one)
    right_shift_16 = 1 + 4 * 3  # 8192 - 16 = 4096 + 3 * (1024 + 256 + 64 + 16)
    canary = 6 * 3 + 1
    assert QUANTITIES == 17
    assert plan.counts.rotations == (
        QUANTITIES * block_sum + (QUANTITIES - 1) + right_shift_16 + canary
    )
    # y = x², T_2 .. T_16, the signed product s * x, the canary's square
    assert plan.counts.ct_ct_multiplications == CHEBYSHEV_DEGREE + 1 + 1
    assert plan.columns == ("cdf_p", "cdf_q", "sign")
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
        ({"p": [[1] * 300] * 65, "q": [[1] * 300] * 65}, "features"),
        ({"p": [1] * 5000, "q": [1] * 5000}, "bins"),
        ([1, 2], None),
    ],
)
def test_validation_names_the_field(payload: object, field: str | None) -> None:
    with pytest.raises(InputError) as error:
        parse(payload)  # type: ignore[arg-type]
    assert error.value.field == field


def test_decode_rejects_unzeroed_slots_and_out_of_range_moments() -> None:
    data = parse({"p": [1, 2, 3], "q": [3, 2, 1]})
    _, outputs = evaluate_plaintext(DriftCircuit(), data)
    leaked = outputs[0].copy()
    leaked[100] = 0.5
    with pytest.raises(NoiseBoundError):
        decode_moments([leaked], data.public)
    broken = outputs[0].copy()
    broken[5] = 1e3 * output_gain(3)  # |sum T_6| > S is impossible for |x| <= 1
    with pytest.raises(NoiseBoundError):
        decode_moments([broken], data.public)
    moments = decode_moments(outputs, data.public)
    assert build_drift_report(moments, data.public)["distance"] > 0


def _check_against_reference(report: dict[str, object], reference: dict[str, object]) -> float:
    """Distance within 1e-6 and its bound, W1 inside its rigorous interval, decisions equal;
    returns the worst W1 relative error."""
    worst = 0.0
    for got, want in zip(report["features"], reference["features"], strict=True):  # type: ignore[call-overload]
        error = abs(got["distance"] - want["distance"])
        assert error <= 1e-6  # the design's distance target
        assert error <= got["distance_error_bound"]
        assert abs(got["w1_distance"] - want["w1_distance"]) <= got["w1_error_bound"]
        assert got["w1_error_bound"] <= 0.2 * want["w1_distance"]
        worst = max(worst, abs(got["w1_distance"] / want["w1_distance"] - 1.0))
        assert got["drift_detected"] == want["drift_detected"]
    return worst


def test_plan_100_features_x_128_bins_in_one_audit() -> None:
    # issue 4's size: two layout parts (column pairs) in one chunk, one output vector
    data = parse(_shifted_batch(1, 100, 128))
    assert part_count(100, 128) == 2 and output_count(100, 128) == 1
    assert data.rows == PART_SLOTS
    plan = make_plan(DriftCircuit(), data.public, rows=data.rows)
    assert plan.profile == PROFILE_N16384_D6 and plan.depth == 6  # canary included
    assert plan.n_chunks == 1 and plan.n_outputs == 1
    assert plan.columns == ("cdf_p", "cdf_q", "sign", "cdf_p/1", "cdf_q/1", "sign/1")
    assert set(plan.rotation_steps) <= set(RADIX4_STEPS)
    # 6 MB per Galois key at N = 2^14 plus the 6 MB relin key (measured in the depth-6 test)
    assert (len(plan.rotation_steps) + 1) * 6_000_000 <= MAX_KEY_BYTES
    # 2 parts x 17 block sums (10 rotations each), Horner over 34 terms, right shift by 33
    # (8192 - 33 = 4096 + 3 * 1024 + 3 * 256 + 3 * 64 + 1 * 16 + 3 * 4 + 3: 17), canary 19
    assert plan.counts.rotations == 2 * QUANTITIES * 10 + 33 + 17 + 19
    # per part y = x², T_2 .. T_16 and s * x; the canary's square
    assert plan.counts.ct_ct_multiplications == 2 * QUANTITIES + 1


@pytest.mark.perf  # decode of 100 features within 15 s
def test_plaintext_100_x_128_matches_reference_and_decodes_fast() -> None:
    data = parse(_shifted_batch(2, 100, 128))
    _, outputs = evaluate_plaintext(DriftCircuit(), data)
    assert len(outputs) == 1
    started = time.perf_counter()
    report = decode(outputs, data.public, data.rows)
    elapsed = time.perf_counter() - started
    _check_against_reference(report, exact_report(data))  # released values
    # full precision (regulator-internal): the plaintext backend is exact
    worst = _check_against_reference(decode_unrounded(outputs, data.public), exact_report(data))
    assert worst < 1e-12
    assert elapsed < 15.0, f"decode of 100 features took {elapsed:.1f} s"
    print(f"\ndrift 100 x 128 plaintext: decode {elapsed:.2f} s, W1 rel error {worst:.2e}")


@pytest.mark.parametrize(
    ("features", "bins", "vectors"),
    [(3, 4096, 1), (200, 64, 1), (300, 64, 1), (200, 32, 1), (512, 32, 2), (512, 16, 2)],
)
def test_output_positions_match_the_circuit(features: int, bins: int, vectors: int) -> None:
    # S // 17 parts share an output vector (all of them from S = 64 up; one each at S = 32),
    # each aggregate where output_position says (compared with numpy on the same CDF gaps)
    rng = np.random.default_rng(features)
    p = rng.integers(1, 50, size=(features, bins)).tolist()
    q = rng.integers(1, 50, size=(features, bins)).tolist()
    data = parse({"p": p, "q": q, "w1_range": 1})
    plan, outputs = evaluate_plaintext(DriftCircuit(), data)
    assert plan.n_outputs == len(outputs) == output_count(features, bins) == vectors
    assert len(plan.columns) == 3 * part_count(features, bins)
    assert set(plan.rotation_steps) <= set(RADIX4_STEPS) and plan.depth == 6
    gap = np.cumsum(data.p, axis=1) - np.cumsum(data.q, axis=1)
    stride = stride_for(bins)
    y = np.zeros((features, stride))
    y[:, :bins] = gap * gap
    want = np.column_stack(
        [y.sum(axis=1)]
        + [chebyshev.chebval(2 * y - 1, [0] * k + [1]).sum(axis=1) for k in range(2, 17)]
        + [np.abs(gap).sum(axis=1)]
    )
    moments = decode_moments(outputs, data.public)
    np.testing.assert_allclose(moments, want, rtol=1e-9, atol=1e-9)
    for quantity in (CHEBYSHEV_DEGREE - 1, SIGNED_SUM):
        vector, slot = output_position(features - 1, quantity, bins)
        got = outputs[vector][slot] / output_gain(bins)
        assert got == pytest.approx(want[-1, quantity], abs=1e-9)


def test_certified_max_bounds_a_polynomial_between_samples() -> None:
    # T_32 sampled on 65 Chebyshev extreme points of t only sees values ±1 at some nodes; the
    # certificate must still bound its true maximum 1 (and be close to it on a fine grid)
    for points in (65, 100_001):
        u = np.cos(np.linspace(0.0, math.pi, points))
        poly = [0.0] * 32 + [1.0]
        values = chebyshev.chebval(u, poly) - 0.5 * u
        bound = certified_max(values, 32)
        fine = np.linspace(-1.0, 1.0, 400_001)
        assert bound >= float((chebyshev.chebval(fine, poly) - 0.5 * fine).max())
    assert bound < 1.5 + 1e-6
    with pytest.raises(CircuitError):
        certified_max(np.zeros(10), 32)


@pytest.mark.parametrize("seed", range(4))
def test_sandwich_contains_the_truth_for_hard_atoms(seed: int) -> None:
    # point masses at 0 and 1, clusters, and uniform atoms: the interval is rigorous
    rng = np.random.default_rng(seed)
    atoms = np.concatenate(
        [np.zeros(20), np.ones(3), rng.uniform(0, 1, 60), rng.uniform(0, 1e-3, 45)]
    )
    y = atoms[rng.permutation(atoms.shape[0])] ** (1 + seed)
    z = 2 * y - 1
    moments = np.array([chebyshev.chebval(z, [0] * k + [1]).sum() for k in range(17)])
    truth = float(np.sqrt(y).sum())
    low, high, estimate = chebyshev_sandwich(
        moments,
        np.zeros(17),
        lambda v: np.sqrt(np.clip((v + 1) / 2, 0, None)),
        atoms=y.shape[0],
    )
    assert low <= truth <= high
    assert low <= estimate <= high
    assert high - low < 0.2 * truth


def test_decode_rejects_wrong_output_count() -> None:
    data = parse(_shifted_batch(4, 70, 128))
    _, outputs = evaluate_plaintext(DriftCircuit(), data)
    with pytest.raises(BundleFormatError):
        decode_moments([*outputs, outputs[0]], data.public)
    leaked = outputs[0].copy()
    leaked[output_position(69, 0, 128)[1] + QUANTITIES * 2] = 0.01
    with pytest.raises(NoiseBoundError):
        decode_moments([leaked], data.public)


@pytest.mark.depth6
def test_real_ckks_100_x_128_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    data = parse(_shifted_batch(7, 100, 128))
    circuit = DriftCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    key_bytes = keys.evaluation_keys().size_bytes
    assert key_bytes <= MAX_KEY_BYTES
    decrypted = ckks_run(circuit, plan, data.columns(), data.public)
    _, plain = evaluate_plaintext(DriftCircuit(), data)
    report = decode(decrypted, data.public, data.rows)
    worst_w1 = _check_against_reference(report, exact_report(data))
    # the design's W1 target is 1 %; the encrypted signed sum is exact up to CKKS noise
    assert worst_w1 < 1e-5
    reference = exact_report(data)
    worst_distance = max(
        abs(g["distance"] - w["distance"])
        for g, w in zip(report["features"], reference["features"], strict=True)
    )
    noise = float(np.abs(decrypted[0] - plain[0]).max())
    # the signed sums' CKKS noise per summed slot stays inside the decoder's allowance
    signed_noise = np.abs(
        decode_moments(decrypted, data.public)[:, SIGNED_SUM]
        - decode_moments(plain, data.public)[:, SIGNED_SUM]
    )
    per_slot = float(signed_noise.max()) / stride_for(128)
    assert per_slot <= SIGNED_SUM_NOISE_PER_SLOT / 4
    print(
        f"\ndrift CKKS 100 x 128: keys {key_bytes / 1e6:.1f} MB, max |noise| {noise:.2e}, "
        f"distance error {worst_distance:.2e}, W1 rel error {worst_w1:.2e}, "
        f"signed-sum noise per slot {per_slot:.2e}"
    )


def _run_with_columns(data, columns):  # type: ignore[no-untyped-def]
    from regaudit.shared import planning
    from regaudit.shared.circuits.base import iter_chunks

    _, outputs = planning.run_plaintext(
        DriftCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(columns, chunk_rows),
        rows=data.rows,
    )
    return outputs


def test_sign_column_that_understates_or_overstates_w1_is_rejected() -> None:
    # a client that lies in its sign column moves the signed sum out of the interval the
    # Chebyshev moments certify: verification fails with the specific reason
    data = parse(_batch(5, 64))
    truth = exact_report(data)["features"]
    honest = data.columns()
    report = decode_unrounded(_run_with_columns(data, honest), data.public)  # full precision
    for got, want in zip(report["features"], truth, strict=True):
        assert got["w1_distance"] == pytest.approx(want["w1_distance"], rel=1e-12)
    stride = stride_for(64)
    for name, forge in (
        ("all +1", lambda s: np.where(s != 0, 1.0, 0.0)),
        ("zeroed", lambda s: np.zeros_like(s)),
        ("doubled", lambda s: 2.0 * s),
        ("flip the largest half", None),
    ):
        columns = dict(honest)
        if forge is None:
            # flip the sign of the bins of feature 3 (the shifted one) with the largest |P - Q|
            gap = np.abs(honest["cdf_p"] - honest["cdf_q"])[3 * stride : 4 * stride]
            flipped = honest["sign"].copy()
            largest = 3 * stride + np.argsort(gap)[-10:]
            flipped[largest] *= -1.0
            columns["sign"] = flipped
        else:
            columns["sign"] = forge(honest["sign"])
        outputs = _run_with_columns(data, columns)
        with pytest.raises(SignColumnError) as error:
            decode(outputs, data.public, data.rows)
        assert error.value.reason == "inconsistent_sign_column", name
        assert "sign column does not match" in str(error.value)


def test_small_sign_lies_stay_inside_the_reported_bound() -> None:
    # flipping signs where |P - Q| is tiny can go unnoticed, but it cannot move W1 beyond its
    # rigorous error bound: the bound holds whatever the sign column says
    data = parse(_batch(6, 64))
    truth = exact_report(data)["features"]
    columns = data.columns()
    stride = stride_for(64)
    gap = np.abs(columns["cdf_p"] - columns["cdf_q"])
    flipped = columns["sign"].copy()
    for f in range(4):
        block = gap[f * stride : f * stride + 64]
        smallest = f * stride + np.argsort(np.where(block > 0, block, np.inf))[:3]
        flipped[smallest] *= -1.0
    columns["sign"] = flipped
    report = decode(_run_with_columns(data, columns), data.public, data.rows)
    for got, want in zip(report["features"], truth, strict=True):
        assert abs(got["w1_distance"] - want["w1_distance"]) <= got["w1_error_bound"]
        assert got["w1_certified_low"] <= want["w1_distance"] <= got["w1_certified_high"]
        assert got["w1_distance"] <= want["w1_distance"] + 1e-12  # a lie only understates
