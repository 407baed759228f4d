"""Disagreement: plaintext circuit vs numpy oracle, plans, validation, one real-CKKS run."""

from __future__ import annotations

import numpy as np
import pytest
from support.validation import assert_rejects_field

from regaudit.shared.errors import NoiseBoundError
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit, plan_disagreement
from regaudit.shared.primitives.disagreement.inputs import parse
from regaudit.shared.primitives.disagreement.layout import (
    OUTPUT_BITS,
    gain_bits,
    mask_shift,
    output_scale,
)
from regaudit.shared.primitives.disagreement.reference import reference as exact_reference
from regaudit.shared.primitives.disagreement.report import (
    decode,
    decode_moments,
    decode_unrounded,
    release_report,
)
from regaudit.shared.profiles import PROFILE_N16384_D6


def _payload(seed: int, rows: int, degree: int, models: int = 4) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, degree + 1)
    polynomials = [(base + rng.normal(0.0, 0.2, degree + 1)).tolist() for _ in range(models)]
    return {
        "model_polynomials": polynomials,
        "test_input": rng.normal(0.3, 1.0, rows).tolist(),
        "threshold": 0.05,
    }


def _assert_close(report: dict, reference: dict, rel: float) -> None:  # type: ignore[type-arg]
    assert report["mean_pairwise_squared_difference"] == pytest.approx(
        reference["mean_pairwise_squared_difference"], rel=rel
    )
    scale = max(abs(v) for v in reference["per_model_mean_outputs"])
    for got, want in zip(
        report["per_model_mean_outputs"], reference["per_model_mean_outputs"], strict=True
    ):
        assert abs(got - want) <= rel * scale
    assert report["models"] == reference["models"] and report["pairs"] == reference["pairs"]


@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_plaintext_circuit_matches_reference(degree: int) -> None:
    data = parse(_payload(degree, 10_000, degree))
    plan, outputs = evaluate_plaintext(DisagreementCircuit(), data)
    assert plan.n_chunks == 2  # 10,000 rows over 8,192 slots: the chunk sums are combined
    report = decode(outputs, data.public, data.rows)
    # released values are rounded to their bounds' steps; the arithmetic is checked at full
    # precision on the regulator-internal decode
    unrounded = decode_unrounded(outputs, data.public, data.rows)
    assert report == release_report(unrounded)
    _assert_close(unrounded, exact_reference(data), rel=1e-9)
    assert report["threshold_breached"] == exact_reference(data)["threshold_breached"]


def test_plans_depth_profile_steps() -> None:
    circuit = DisagreementCircuit()
    expected = {1: 2, 2: 3, 3: 4, 4: 4, 5: 5, 8: 5, 16: 6}
    for degree, depth in expected.items():
        data = parse(_payload(degree, 100, degree))
        plan = plan_disagreement(data.public, rows=data.rows)
        assert plan.depth == depth, degree
        # precision, not depth, picks the profile: always the 2^40-scale profile
        assert plan.profile == PROFILE_N16384_D6
        assert plan.n_outputs == 1
        assert plan.rotation_steps == tuple(4**i for i in range(7))  # radix-4 slot sums
    quadratic = parse(_payload(2, 100, 2))
    # make_plan honours min_scale_bits: the small profile would miss the 1e-6 target
    assert make_plan(circuit, quadratic.public, rows=100).profile == PROFILE_N16384_D6
    assert DisagreementCircuit.min_scale_bits == 40


def test_output_scaling_for_many_rows() -> None:
    # 3,000,000 rows: the output mask 2^-e keeps the sums inside the 2^18 headroom
    data = parse(_payload(5, 100, 2))
    plan = plan_disagreement(data.public, rows=3_000_000)
    assert plan.profile == PROFILE_N16384_D6 and plan.n_chunks == 367
    rng = np.random.default_rng(8)
    big = parse({**_payload(5, 10, 2), "test_input": rng.normal(0.0, 1.0, 300_000).tolist()})
    _, outputs = evaluate_plaintext(DisagreementCircuit(), big)
    assert np.abs(outputs[0]).max() <= 2.0**OUTPUT_BITS
    report = decode_unrounded(outputs, big.public, big.rows)  # full precision, see above
    _assert_close(report, exact_reference(big), rel=1e-9)


def test_gain_and_mask() -> None:
    # sums carry a gain 2^G before the slot sum (to 2^20 at most, at least the product gain
    # 2^2), the mask removes what exceeds the 2^18 output headroom
    expected = {1: (20, 2), 50: (14, 2), 10_000: (6, 2), 100_000: (3, 2), 2**18: (2, 2)}
    expected |= {2**18 + 1: (2, 3), 2**28: (2, 12)}  # the product gain 2^2 stays
    for rows, (gain, shift) in expected.items():
        assert (gain_bits(rows), mask_shift(rows)) == (gain, shift), rows
        assert output_scale(rows) == 2.0 ** (gain - shift)
        assert rows * output_scale(rows) <= 2.0**OUTPUT_BITS
    # the doublings are planned like every other addition (2d per extra gain bit)
    data = parse(_payload(3, 2_000, 2))
    few = plan_disagreement(data.public, rows=2_000).counts.additions
    many = plan_disagreement(data.public, rows=4_000).counts.additions
    assert few - many == 4  # 2d = 4 powers, one gain bit more at 2,000 rows
    # worst case |u| = 1 everywhere: the outputs reach the headroom, not beyond
    ones = parse({**_payload(3, 10, 2), "test_input": [1.0] * 3_000})
    _, outputs = evaluate_plaintext(DisagreementCircuit(), ones)
    assert np.abs(outputs[0]).max() <= 2.0**OUTPUT_BITS
    assert np.allclose(outputs[0][:4], 3_000 * output_scale(3_000))


def test_indeterminate_breach() -> None:
    payload = _payload(9, 500, 2)
    data = parse(payload)
    value = exact_reference(data)["mean_pairwise_squared_difference"]
    payload["threshold"] = value
    data = parse(payload)
    _, outputs = evaluate_plaintext(DisagreementCircuit(), data)
    assert decode(outputs, data.public, data.rows)["threshold_breached"] == "indeterminate"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_polynomials": None}, "model_polynomials"),
        ({"test_input": None}, "test_input"),
        ({"model_polynomials": [[1.0], [2.0]]}, "model_polynomials"),
        ({"model_polynomials": "x"}, "model_polynomials"),
        ({"model_polynomials": [[1.0], [2.0], ["a"]]}, "model_polynomials[2]"),
        ({"model_polynomials": [[1.0], [2.0], []]}, "model_polynomials[2]"),
        ({"model_polynomials": [[1.0], [2.0], [0.0] * 18]}, "model_polynomials[2]"),
        ({"model_polynomials": [[1.0], [2.0], [float("inf")]]}, "model_polynomials[2]"),
        ({"test_input": []}, "test_input"),
        ({"test_input": [1.0, "2"]}, "test_input"),
        ({"test_input": [1.0, float("nan")]}, "test_input"),
        ({"test_input": [1e9]}, "test_input"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"input_bound": 3.0}, "input_bound"),
        ({"input_bound": 0.5}, "input_bound"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], field: str) -> None:
    payload = {
        "model_polynomials": [[0.0, 1.0], [0.1, 1.0], [0.0, 1.1]],
        "test_input": [0.5, -0.25, 0.75],
        "threshold": 0.1,
    }
    assert_rejects_field(parse, payload, change, field)


def test_decode_rejects_leaks() -> None:
    data = parse(_payload(4, 50, 2))
    _, outputs = evaluate_plaintext(DisagreementCircuit(), data)
    leaked = outputs[0].copy()
    leaked[10] = 3.0
    with pytest.raises(NoiseBoundError):
        decode_moments([leaked], data.public, data.rows)
    negative = outputs[0].copy()
    negative[1] = -0.1 * data.rows * output_scale(data.rows)  # mean u^2 cannot be negative
    with pytest.raises(NoiseBoundError):
        decode_moments([negative], data.public, data.rows)


@pytest.mark.depth6
def test_real_ckks_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    data = parse(_payload(21, 9_000, 2, models=5))
    circuit = DisagreementCircuit()
    plan = plan_disagreement(data.public, rows=data.rows)
    assert plan.n_chunks == 2
    decrypted = ckks_run(circuit, plan, data.columns(), data.public)
    released = decode(decrypted, data.public, data.rows)
    # the design's accuracy target is the decryption's; the released report is that value
    # rounded to its bound's step, with the bound widened by the rounding
    report = decode_unrounded(decrypted, circuit.validate_public(data.public), data.rows)
    assert released == release_report(report)
    reference = exact_reference(data)
    _assert_close(report, reference, rel=1e-6)  # the design's target
    error = abs(
        report["mean_pairwise_squared_difference"] - reference["mean_pairwise_squared_difference"]
    )
    assert error <= report["error_bound"]
    released_error = abs(
        released["mean_pairwise_squared_difference"] - reference["mean_pairwise_squared_difference"]
    )
    assert released_error <= released["error_bound"]
    assert report["threshold_breached"] == reference["threshold_breached"]
    print(
        f"\ndisagreement CKKS: rel error "
        f"{error / reference['mean_pairwise_squared_difference']:.2e}, "
        f"bound {report['error_bound']:.2e}"
    )


#: The benchmark's five near-agreeing surrogates (benchmarks/cases.py, MODELS).
NEAR_AGREEING = [
    [0.0, 1.0],
    [0.05, 0.95, 0.02],
    [-0.02, 1.05, 0.0, -0.01],
    [0.01, 1.0, 0.01],
    [0.0, 0.9, 0.0, 0.02],
]
#: The benchmark's data at 10,000 inputs: DATA_SEED + models + rows.
BENCHMARK_SEED = 20_261_126 + 5 + 10_000


@pytest.mark.depth6
def test_real_ckks_near_agreeing_models_at_10k(ckks_run) -> None:  # type: ignore[no-untyped-def]
    # Regression: the benchmark's data (x ~ N(0, 1), input_bound 8, so mean u^6 ~ 6e-5) at
    # 10,000 inputs. The report's relative error must be <= 1e-6 (the design's target) with the
    # truth inside the stated bound, for three independent key sets: the slot-sum rotations'
    # key-switching noise (~1e-6 per sum, ~1e-5 in slot 0, fixed by the key) gave version 1 a
    # median 1.4e-6 here (6 of 10 key sets above 1e-6; now <= 3e-7 in 20). The bound must not
    # be needlessly loose either (version 1: 1.4e-4 relative; now 3.7e-6).
    rng = np.random.default_rng(BENCHMARK_SEED)
    data = parse(
        {
            "test_input": np.round(rng.normal(0.0, 1.0, 10_000), 6),
            "model_polynomials": NEAR_AGREEING,
            "threshold": 0.05,
        }
    )
    assert data.public["input_bound"] == 8.0
    circuit = DisagreementCircuit()
    plan = plan_disagreement(data.public, rows=data.rows)
    reference = exact_reference(data)
    truth = reference["mean_pairwise_squared_difference"]
    errors, bounds = [], []
    for _ in range(3):  # three key sets: the rotation noise is fixed per key
        outputs = ckks_run(circuit, plan, data.columns(), data.public)
        # the accuracy target is the decryption's; what leaves the regulator is that value
        # rounded to its bound's step, with the bound widened by the rounding (release rules)
        unrounded = decode_unrounded(outputs, circuit.validate_public(data.public), data.rows)
        released = decode(outputs, data.public, data.rows)
        assert released == release_report(unrounded)
        assert abs(released["mean_pairwise_squared_difference"] - truth) <= released["error_bound"]
        report = unrounded
        errors.append(abs(report["mean_pairwise_squared_difference"] - truth) / truth)
        bounds.append(report["error_bound"] / truth)
        assert abs(report["mean_pairwise_squared_difference"] - truth) <= report["error_bound"]
        for got, want, bound in zip(
            report["per_model_mean_outputs"],
            reference["per_model_mean_outputs"],
            report["per_model_error_bounds"],
            strict=True,
        ):
            assert abs(got - want) <= bound
    print(f"\nnear-agreeing 10k: rel errors {errors}, relative bounds {bounds}")
    assert max(errors) <= 1e-6
    assert max(bounds) <= 1e-5
