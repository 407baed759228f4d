"""Release hygiene (design, decisions of 2026-12-03; issue 8, item 4): every number that leaves
the regulator is rounded to the precision its error bound supports, integer counts stay exact,
no error message echoes a decrypted value, and the canary is reported as passed/failed with
its tolerance only."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.report import failure_json, render_html, render_text, result_json
from regaudit.regulator.verify import VerifiedAudit, verify_bundle
from regaudit.shared import release as rel
from regaudit.shared.errors import RegauditError, SignColumnError
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives import get_primitive
from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.inputs import parse as parse_calibration_input
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse as parse_concordance_input
from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit
from regaudit.shared.primitives.disagreement.inputs import parse as parse_disagreement_input
from regaudit.shared.primitives.drift import layout as drift_layout
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.inputs import parse as parse_drift_input
from regaudit.shared.primitives.drift.report import w1_noise_bound
from regaudit.shared.primitives.fairness import layout as fairness_layout
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
from regaudit.shared.primitives.provenance.inputs import parse as parse_provenance_input

#: Result fields that are public inputs (given by the client, not decrypted).
PUBLIC_FIELDS = frozenset({"threshold", "quantiles", "drift_threshold", "bin_width", "w1_range"})
#: A released float has at most this many significant digits (a raw double decode has 15-17);
#: at the bounds of these tests the released values have at most 11.
MAX_RELEASED_DIGITS = 12
#: A number in a message may have at most this many significant digits.
MAX_MESSAGE_DIGITS = 6


# --- the rounding function --------------------------------------------------------------------


def test_integers_stay_exact() -> None:
    for bound in (0.0, 1e-6, 0.5, 3.0, 1e6):
        value = rel.round_to_bound(123_456_789, bound)
        assert value == 123_456_789 and type(value) is int


@pytest.mark.parametrize(
    ("value", "bound", "expected", "step"),
    [
        (0.123456789, 1e-6, 0.123457, 1e-6),
        (0.123456789, 9.9e-6, 0.123457, 1e-6),
        (2.718281828, 1e-3, 2.718, 1e-3),
        (2.718281828, 0.5, 2.7, 0.1),
        (-2.718281828, 0.5, -2.7, 0.1),
        (1234.5678, 12.0, 1230.0, 10.0),
        (4e-7, 1e-6, 0.0, 1e-6),
    ],
)
def test_rounding_to_the_bound(value: float, bound: float, expected: float, step: float) -> None:
    assert rel.rounding_step(bound) == step
    assert bound / 10 < step <= bound
    rounded = rel.round_to_bound(value, bound)
    assert rounded == expected
    assert math.copysign(1.0, rounded) == math.copysign(1.0, expected) or expected == 0.0
    assert abs(rounded - value) <= step / 2 + 1e-15
    assert rel.round_to_bound(rounded, bound) == rounded  # idempotent


def test_a_zero_bound_keeps_an_exact_value() -> None:
    assert rel.round_to_bound(1 / 3, 0.0) == 1 / 3
    assert rel.release(1 / 3, 0.0) == (1 / 3, 0.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_and_bounds_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        rel.round_to_bound(bad, 1e-3)
    with pytest.raises(ValueError):
        rel.round_to_bound(0.5, bad)
    with pytest.raises(ValueError):
        rel.release(0.5, bad)


def test_negative_bounds_and_non_numbers_are_rejected() -> None:
    with pytest.raises(ValueError):
        rel.round_to_bound(0.5, -1e-3)
    with pytest.raises(TypeError):
        rel.round_to_bound(0.5, True)  # type: ignore[arg-type]


def test_released_bounds_cover_the_rounding_and_round_up() -> None:
    rng = np.random.default_rng(1)
    for _ in range(2_000):
        bound = float(10.0 ** rng.uniform(-10, 3))
        value = float(rng.normal(0.0, 10.0 ** rng.uniform(-3, 6)))
        rounded, reported = rel.release(value, bound)
        assert rounded is not None
        # the truth within `bound` of the raw value is within `reported` of the released one
        # (up to the double's own resolution when the step is below it)
        assert reported + 2 * math.ulp(value) >= bound + abs(rounded - value) * (1 - 1e-12)
        assert reported <= 1.7 * bound  # at most half a step (<= bound / 2) wider, rounded up
        assert rel.significant_digits(reported) <= rel.BOUND_DIGITS
        assert rel.round_to_bound(rounded, reported) == rounded
    assert rel.round_bound_up(1.21e-5) == 1.3e-5
    assert rel.round_bound_up(1.2e-5) == 1.2e-5
    assert rel.release(None, 1e-3) == (None, rel.released_bound(1e-3))


def test_outward_rounding_of_interval_ends() -> None:
    assert rel.round_down_to_bound(0.12345, 1e-3) == 0.123
    assert rel.round_up_to_bound(0.12345, 1e-3) == 0.124
    assert rel.round_up_to_bound(0.123, 1e-3) == 0.123


def test_scrub_message_shortens_long_decimals_only() -> None:
    text = "slot 7 holds 0.12345678901234 (tolerance 0.25), v1.2.3, at 10:00:00.123456Z"
    scrubbed = rel.scrub_message(text)
    assert "0.123456789" not in scrubbed and "0.123" in scrubbed
    assert "0.25" in scrubbed and "v1.2.3" in scrubbed and "10:00:00.123456Z" in scrubbed


# --- what each decoder releases -----------------------------------------------------------------


def _floats(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(path, float) of every float in a JSON-like value, public input fields skipped."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in PUBLIC_FIELDS:
                yield from _floats(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _floats(item, f"{path}[{index}]")
    elif isinstance(value, float):
        yield path, value


def _on_step(value: float | None, bound: float, where: str) -> None:
    if value is not None:
        assert rel.round_to_bound(value, bound) == value, f"{where} = {value!r} (bound {bound})"


def _is_bound(value: float | None, where: str) -> None:
    if value is not None:
        assert rel.significant_digits(value) <= rel.BOUND_DIGITS, f"{where} = {value!r}"


def _check_fairness(result: dict[str, Any], public: dict[str, Any]) -> None:
    # counts exact ints, every rate the exact fraction of them (bound 0: nothing decrypted)
    for name, group in result["groups"].items():
        counts = [group[k] for k in fairness_layout.QUANTITIES]
        assert all(type(c) is int for c in counts), name
        count, predicted, positives, true = counts
        if count:
            assert group["selection_rate"] == float(Fraction(predicted, count))
        if positives:
            assert group["true_positive_rate"] == float(Fraction(true, positives))


def _check_calibration(result: dict[str, Any], public: dict[str, Any]) -> None:
    if public["mode"] == "point":
        assert all(m in (0, 1, "indeterminate") for m in result["membership"])
        assert result["set_size"] is None or type(result["set_size"]) is int
        return
    for name in ("coverage", "mean_set_size"):
        bound = result[f"{name}_error_bound"]
        _is_bound(bound, name)
        _on_step(result[name], bound, name)


def _check_concordance(result: dict[str, Any], public: dict[str, Any]) -> None:
    # exact counts (version 2): integers (concordant a multiple of 1/2), C their exact ratio
    assert type(result["comparable_pairs"]) is int and type(result["tied_risk_pairs"]) is int
    assert (2 * result["concordant_pairs"]) == int(2 * result["concordant_pairs"])
    assert result["c_index_error_bound"] == 0.0 and result["c_index_noise"] == 0.0
    if result["c_index"] is not None:
        ratio = Fraction(int(2 * result["concordant_pairs"]), 2 * result["comparable_pairs"])
        assert result["c_index"] == float(ratio)


def _check_disagreement(result: dict[str, Any], public: dict[str, Any]) -> None:
    _is_bound(result["error_bound"], "error_bound")
    _on_step(result["mean_pairwise_squared_difference"], result["error_bound"], "mpsd")
    for k, (value, bound) in enumerate(
        zip(result["per_model_mean_outputs"], result["per_model_error_bounds"], strict=True)
    ):
        _is_bound(bound, f"per_model_error_bounds[{k}]")
        _on_step(value, bound, f"per_model_mean_outputs[{k}]")


def _check_drift(result: dict[str, Any], public: dict[str, Any]) -> None:
    for f, feature in enumerate(result["features"]):
        where = f"features[{f}]"
        _is_bound(feature["distance_error_bound"], where)
        _on_step(feature["distance"], feature["distance_error_bound"], where + ".distance")
        _on_step(feature["w1_distance"], w1_noise_bound(public, f), where + ".w1")
        _is_bound(feature["w1_error_bound"], where)
        for end in ("w1_certified_low", "w1_certified_high"):
            _on_step(feature[end], feature["w1_error_bound"], f"{where}.{end}")
        assert feature["w1_certified_low"] <= feature["w1_distance"]
        assert feature["w1_distance"] <= feature["w1_certified_high"]
    top = [f for f in result["features"] if f["distance"] == result["distance"]]
    assert any(f["w1_distance"] == result["w1_distance"] for f in top)


def _check_provenance(result: dict[str, Any], public: dict[str, Any]) -> None:
    _is_bound(result["error_bound"], "error_bound")
    for b, total in enumerate(result["bucket_totals"]):
        _on_step(total, result["error_bound"], f"bucket_totals[{b}]")


CHECKS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "fairness": _check_fairness,
    "calibration": _check_calibration,
    "concordance": _check_concordance,
    "disagreement": _check_disagreement,
    "drift": _check_drift,
    "provenance": _check_provenance,
}


def assert_released(primitive: str, result: dict[str, Any], public: dict[str, Any]) -> None:
    """Every decrypted number in ``result`` is on the step of its bound; every float (fairness'
    and concordance's exact ratios of exact counts aside) has at most MAX_RELEASED_DIGITS
    significant digits."""
    CHECKS[primitive](result, public)
    if primitive not in ("fairness", "concordance"):
        for where, value in _floats(result):
            assert rel.significant_digits(value) <= MAX_RELEASED_DIGITS, f"{where} = {value!r}"


def _fairness_case(rng: np.random.Generator) -> tuple[Any, Any]:
    rows = 3_000
    groups = rng.choice(["a", "b", "c"], size=rows)
    payload = {
        "y_true": rng.integers(0, 2, rows).tolist(),
        "y_pred": rng.integers(0, 2, rows).tolist(),
        "group": groups.tolist(),
    }
    return FairnessCircuit(), parse_fairness_input(payload)


def _calibration_batch_case(rng: np.random.Generator) -> tuple[Any, Any]:
    points, classes = 200, 5
    scores = rng.uniform(0.0, 1.0, (points, classes))
    payload = {
        "scores": scores.tolist(),
        "labels": rng.integers(0, classes, points).tolist(),
        "quantiles": [0.6, 0.7, 0.5, 0.8, 0.65],
    }
    return CalibrationCircuit(), parse_calibration_input(payload)


def _calibration_point_case(rng: np.random.Generator) -> tuple[Any, Any]:
    payload = {"scores": [0.2, 0.9, 0.4, 0.55], "quantiles": [0.5, 0.5, 0.5, 0.5]}
    return CalibrationCircuit(), parse_calibration_input(payload)


def _concordance_case(rng: np.random.Generator) -> tuple[Any, Any]:
    patients = 60
    payload = {
        "risk": rng.normal(0.0, 1.0, patients).tolist(),
        "time": rng.exponential(10.0, patients).tolist(),
        "event": rng.integers(0, 2, patients).tolist(),
    }
    return ConcordanceCircuit(), parse_concordance_input(payload)


def _disagreement_case(rng: np.random.Generator) -> tuple[Any, Any]:
    payload = {
        "model_polynomials": [[0.0, 1.0], [0.05, 0.95, 0.02], [-0.02, 1.05, 0.0, -0.01]],
        "test_input": rng.normal(0.0, 1.0, 500).tolist(),
        "threshold": 0.05,
    }
    return DisagreementCircuit(), parse_disagreement_input(payload)


def _drift_case(rng: np.random.Generator) -> tuple[Any, Any]:
    bins = 32
    p = [np.histogram(rng.normal(0, 1, 5_000), bins, (-4, 4))[0].tolist() for _ in range(3)]
    q = [np.histogram(rng.normal(m, 1, 5_000), bins, (-4, 4))[0].tolist() for m in (0, 0.2, 1)]
    payload = {"p": p, "q": q, "drift_threshold": 0.05, "bin_width": 8.0 / bins}
    return DriftCircuit(), parse_drift_input(payload)


def _provenance_case(rng: np.random.Generator) -> tuple[Any, Any]:
    rows = 2_000
    payload = {
        "attributions": (rng.standard_t(3, rows) * 0.1).tolist(),
        "row_ids": [f"row-{i}" for i in range(rows)],
        "n_buckets": 12,
        "k": 3,
    }
    return ProvenanceCircuit(), parse_provenance_input(payload)


CASES: dict[str, Callable[[np.random.Generator], tuple[Any, Any]]] = {
    "fairness": _fairness_case,
    "calibration-batch": _calibration_batch_case,
    "calibration-point": _calibration_point_case,
    "concordance": _concordance_case,
    "disagreement": _disagreement_case,
    "drift": _drift_case,
    "provenance": _provenance_case,
}


def _plaintext_outputs(circuit: Any, data: Any) -> list[np.ndarray]:
    _, outputs = evaluate_plaintext(circuit, data)
    return [np.asarray(o, dtype=np.float64) for o in outputs]


def _decode(circuit: Any, outputs: Sequence[np.ndarray], data: Any) -> dict[str, Any]:
    report = get_primitive(circuit.circuit_id).report()
    return report.decode(outputs, data.public, data.rows)


def _noisy(outputs: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """What a decryption looks like: every slot (the zeroed ones too) carries a small residue
    with all 17 digits."""
    return [o + rng.normal(0.0, 1e-8, o.shape) for o in outputs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_decoded_number_is_rounded_to_its_bound(case: str) -> None:
    rng = np.random.default_rng(sum(map(ord, case)))
    circuit, data = CASES[case](rng)
    outputs = _noisy(_plaintext_outputs(circuit, data), rng)
    result = _decode(circuit, outputs, data)
    assert_released(circuit.circuit_id, result, data.public)
    # a raw decode's residue never reaches the result: nothing of it survives the rounding
    again = _decode(circuit, _noisy(_plaintext_outputs(circuit, data), rng), data)
    if case in ("fairness", "calibration-point"):  # exact by design: no digit depends on noise
        assert again == result


def test_the_report_result_section_is_the_released_result(verified: VerifiedAudit) -> None:
    """result_json (what ``verify --json`` prints) and the text / HTML reports carry the decoded
    result of every primitive unchanged: released values only."""
    rng = np.random.default_rng(9)
    for case in sorted(CASES):
        circuit, data = CASES[case](rng)
        result = _decode(circuit, _noisy(_plaintext_outputs(circuit, data), rng), data)
        shown = dataclasses.replace(
            verified, primitive=circuit.circuit_id, result=result, public_inputs=data.public
        )
        document = json.loads(json.dumps(result_json(shown), allow_nan=False))
        assert_released(circuit.circuit_id, document["result"], data.public)
        assert document["evidence"]["canary"].keys() == {"passed", "expected", "tolerance"}
        for text in (render_text(shown), render_html(shown)):
            for number in re.findall(r"\d+\.\d+(?:e[-+]?\d+)?", text):
                assert rel.significant_digits(float(number)) <= 12, (case, number)


# --- verify --json of a real (CKKS) verified audit ---------------------------------------------


@pytest.fixture(scope="module")
def verified(parties: Any, good: Any) -> VerifiedAudit:
    return verify_bundle(good.bundle, regulator_keys=parties.regulator_keys, trust=parties.trust())


def test_verify_json_of_a_verified_audit_is_released(
    parties: Any, builder: Callable[..., Any], payload: Any, tmp_path: Path
) -> None:
    data = parse_fairness_input(payload(1_500, seed=21))
    path = builder(data).write(tmp_path / "release.bundle")
    result = CliRunner().invoke(
        app,
        [
            "verify",
            str(path),
            "--identity",
            str(parties.regulator_dir),
            "--trust",
            str(parties.trust_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert_released("fairness", document["result"], data.public)
    canary = document["evidence"]["canary"]
    assert canary["passed"] is True and canary.keys() == {"passed", "expected", "tolerance"}
    evidence = dict(document["evidence"])
    evidence.pop("public_inputs")
    evidence["canary"] = {k: v for k, v in canary.items() if k != "expected"}  # public value
    for where, value in _floats(evidence):
        assert rel.significant_digits(value) <= MAX_RELEASED_DIGITS, (where, value)


@pytest.mark.parametrize(
    "case",
    [
        "provenance",
        pytest.param("calibration-batch", marks=pytest.mark.depth6),
        pytest.param("concordance", marks=pytest.mark.depth6),
        pytest.param("disagreement", marks=pytest.mark.depth6),
        pytest.param("drift", marks=pytest.mark.depth6),
    ],
)
def test_real_ckks_decodes_are_released(case: str) -> None:
    from regaudit.shared.local import run_ckks

    circuit, data = CASES[case](np.random.default_rng(3))
    _, result = run_ckks(circuit, data)
    assert_released(circuit.circuit_id, result, data.public)


# --- messages ----------------------------------------------------------------------------------


def _long_decimals(text: str) -> list[str]:
    numbers = re.findall(r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?", text)
    return [n for n in numbers if rel.significant_digits(float(n)) > MAX_MESSAGE_DIGITS]


#: A value planted in a decrypted slot; no message may repeat it.
PLANTED = 0.123456789012


def _tampered(case: str) -> Iterator[tuple[str, Any, Any, list[np.ndarray]]]:
    """(what, circuit, data, tampered outputs) per case: a zeroed slot that is not zero, and
    the primitive's own consistency checks."""
    rng = np.random.default_rng(4)
    circuit, data = CASES[case](rng)
    outputs = _plaintext_outputs(circuit, data)
    peak = max(float(np.abs(o).max()) for o in outputs)
    if case != "concordance":  # concordance has no zeroed slot (every slot is a full sum)
        broken = [o.copy() for o in outputs]
        broken[0][-1] = 10.0 * peak + PLANTED
        yield "zero slot", circuit, data, broken
    if case == "fairness":
        broken = [o.copy() for o in outputs]
        scale = fairness_layout.output_scale(data.rows)
        broken[0][0] += (0.5 - 0.0123456789) * scale
        yield "non-integer count", circuit, data, broken
        negative = [o.copy() for o in outputs]
        negative[0][0::16] = -5.0 * scale
        yield "negative count", circuit, data, negative
    if case in ("concordance", "calibration-batch"):
        broken = [o.copy() for o in outputs]
        broken[0][3] += 1.0 + PLANTED
        yield "slots disagree", circuit, data, broken
    if case == "drift":
        broken = [o.copy() for o in outputs]
        vector, slot = drift_layout.output_position(1, drift_layout.SIGNED_SUM, data.public["bins"])
        broken[vector][slot] += (3.0 + PLANTED) * drift_layout.output_gain(data.public["bins"])
        yield "signed sum", circuit, data, broken


@pytest.mark.parametrize("case", sorted(CASES))
def test_decode_errors_do_not_echo_decrypted_values(case: str) -> None:
    seen = 0
    for what, circuit, data, outputs in _tampered(case):
        with pytest.raises(RegauditError) as caught:
            _decode(circuit, outputs, data)
        message = str(caught.value)
        assert not _long_decimals(message), (case, what, message)
        assert "12345" not in message, (case, what, message)
        assert not _long_decimals(failure_json(caught.value)["message"])
        if what == "signed sum":
            assert isinstance(caught.value, SignColumnError)
        seen += 1
    assert seen >= 1
