"""The fairness report, computed through the circuit on the plaintext backend (plan, chunks,
accumulate, finalize, decode), equals fairlearn's metrics to 1e-12 and the plaintext oracle."""

from __future__ import annotations

import json
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from regaudit.shared import planning
from regaudit.shared.circuits.base import accumulate, iter_chunks
from regaudit.shared.plaintext import PlaintextBackend
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import FairnessData, load_fairness_csv, parse
from regaudit.shared.primitives.fairness.reference import reference
from regaudit.shared.primitives.fairness.report import decode
from regaudit.shared.schemas import validate

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"
TOL = 1e-12


def run_circuit(data: FairnessData) -> dict[str, Any]:
    """The evaluator's path on the plaintext backend, then the regulator's decode."""
    circuit = FairnessCircuit()
    plan = planning.make_plan(circuit, data.public, rows=data.rows)
    backend = PlaintextBackend(plan.profile.slot_count, max_level=plan.profile.max_depth)
    chunks = (
        {name: backend.vector(col, level=plan.input_level) for name, col in chunk.items()}
        for chunk in iter_chunks(data.columns(), plan.chunk_rows)
    )
    accumulators = accumulate(circuit, backend, chunks, data.public)
    assert accumulators is not None
    outputs = circuit.finalize(backend, accumulators, data.public, data.rows)
    assert [o.level for o in outputs] == [plan.output_level]
    assert backend.counts.max_level == plan.output_level
    return decode([o.values for o in outputs], data.public, data.rows)


def sensitive_labels(data: FairnessData) -> np.ndarray:
    """Per-row group name ('' for unassigned rows)."""
    labels = np.full(data.rows, "", dtype=object)
    for name, column in data.memberships.items():
        labels[column == 1.0] = name
    return labels


def assert_matches_fairlearn(data: FairnessData, report: dict[str, Any]) -> None:
    labels = sensitive_labels(data)
    keep = labels != ""
    y_true = data.y_true[keep].astype(int)
    y_pred = data.y_pred[keep].astype(int)
    sf = labels[keep]
    assert report["unassigned_rows"] == int((~keep).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "precision": partial(precision_score, zero_division=np.nan),
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sf,
        )
        dp = demographic_parity_difference(y_true, y_pred, sensitive_features=sf)
        dpr = demographic_parity_ratio(y_true, y_pred, sensitive_features=sf)
        eodds = equalized_odds_difference(y_true, y_pred, sensitive_features=sf)
        eopp = equal_opportunity_difference(y_true, y_pred, sensitive_features=sf)
    by_group = frame.by_group
    assert sorted(report["groups"]) == sorted(str(g) for g in by_group.index)
    for group, row in by_group.iterrows():
        ours = report["groups"][str(group)]
        for metric in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision"):
            expected = row[metric]
            if np.isnan(expected):
                assert ours[metric] is None, (group, metric)
            else:
                assert ours[metric] == pytest.approx(expected, abs=TOL, rel=0), (group, metric)
        assert ours["count"] == int((sf == group).sum())
    assert report["demographic_parity_diff"] == pytest.approx(dp, abs=TOL, rel=0)
    assert report["demographic_parity_ratio"] == pytest.approx(dpr, abs=TOL, rel=0)
    assert report["equalized_odds_diff"] == pytest.approx(eodds, abs=TOL, rel=0)
    assert report["equal_opportunity_diff"] == pytest.approx(eopp, abs=TOL, rel=0)
    differences = frame.difference()
    assert report["equal_opportunity_diff"] == pytest.approx(
        differences["true_positive_rate"], abs=TOL, rel=0
    )
    assert report["equalized_odds_fpr_diff"] == pytest.approx(
        differences["false_positive_rate"], abs=TOL, rel=0
    )
    assert report["predictive_parity_diff"] == pytest.approx(
        differences["precision"], abs=TOL, rel=0
    )
    rates = by_group["selection_rate"]
    for group, rate in rates.items():
        impact = rate / rates.max()
        assert report["impact_ratios"][str(group)] == pytest.approx(impact, abs=TOL, rel=0)
    assert report["four_fifths_breached"] == bool((rates / rates.max() < 0.8).any())
    gaps = [
        dp,
        eopp,
        differences["precision"],
        differences["false_positive_rate"],
    ]
    assert report["max_gap"] == pytest.approx(max(gaps), abs=TOL, rel=0)
    assert report["threshold_breached"] == (max(gaps) > report["threshold"])
    assert report["undefined"] == []


def random_categorical(
    rows: int, groups: int, seed: int, *, weights: list[float] | None = None
) -> FairnessData:
    rng = np.random.default_rng(seed)
    group = rng.choice(groups, size=rows, p=weights)
    base = rng.uniform(0.2, 0.7, groups)
    bias = rng.uniform(-0.15, 0.15, groups)
    y_true = (rng.random(rows) < base[group]).astype(int)
    score = 0.6 * y_true + 0.4 * rng.random(rows) + bias[group]
    y_pred = (score > 0.55).astype(int)
    return parse(
        {
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
            "group": [f"g{g}" for g in group],
            "threshold": 0.05,
        }
    )


def check(data: FairnessData) -> dict[str, Any]:
    report = run_circuit(data)
    assert report == reference(data)
    validate("fairness.output", report)
    assert_matches_fairlearn(data, report)
    return report


def test_sample_csv_three_groups() -> None:
    data = load_fairness_csv(DATA / "fairness-sample.csv")
    assert data.rows == 2000
    assert data.public["groups"] == ["18-29", "30-49", "50+"]
    report = check(data)
    assert report["threshold_breached"] is True
    assert report["four_fifths_breached"] is True


def test_sample_json_seed_shape_with_unassigned_rows() -> None:
    payload = json.loads((DATA / "fairness-sample.json").read_text())
    validate("fairness.input", payload)
    data = parse(payload)
    report = check(data)
    assert report["unassigned_rows"] > 0
    assert data.unassigned_rows == report["unassigned_rows"]
    assert sum(g["count"] for g in report["groups"].values()) + report["unassigned_rows"] == 2000


def test_seed_quick_start_example() -> None:
    group_a = [1, 1, 1, 1, 0, 0, 0, 0]
    payload = {
        "y_true": [1, 0, 1, 1, 0, 1, 0, 0],
        "y_pred": [1, 0, 1, 0, 0, 1, 1, 0],
        "group_a": group_a,
        "group_b": [1 - v for v in group_a],
        "threshold": 0.1,
    }
    report = check(parse(payload))
    # group_a selects 2/4, group_b 2/4: parity; TPR 2/3 vs 1/1; precision 1 vs 1/2
    assert report["demographic_parity_diff"] == 0.0
    assert report["equal_opportunity_diff"] == pytest.approx(1 / 3, abs=TOL)
    assert report["predictive_parity_diff"] == 0.5
    assert report["max_gap"] == 0.5
    assert report["threshold_breached"] is True


def test_random_two_groups() -> None:
    check(random_categorical(5_000, 2, seed=1))


def test_random_five_groups_several_chunks() -> None:
    data = random_categorical(20_000, 5, seed=2)
    assert len(data.public["groups"]) == 5
    check(data)


def test_imbalanced_fifty_thousand_rows() -> None:
    data = random_categorical(50_000, 4, seed=3, weights=[0.9, 0.0996, 0.0003, 0.0001])
    counts = sorted(g["count"] for g in check(data)["groups"].values())
    assert counts[0] < 20  # a tiny group still gets exact metrics


def test_integer_labels_sorted_by_string() -> None:
    rng = np.random.default_rng(4)
    group = rng.choice([2, 10, 33], size=3000)
    data = parse(
        {
            "y_true": rng.integers(0, 2, 3000).tolist(),
            "y_pred": rng.integers(0, 2, 3000).tolist(),
            "group": group.tolist(),
        }
    )
    assert data.public["groups"] == ["10", "2", "33"]
    check(data)


def test_undefined_precision_is_none_not_zero() -> None:
    # group "c" has no predicted positives: its precision is undefined
    y_true = [1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0]
    y_pred = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    group = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"]
    data = parse({"y_true": y_true, "y_pred": y_pred, "group": group})
    report = run_circuit(data)
    assert report == reference(data)
    validate("fairness.output", report)
    assert report["groups"]["c"]["precision"] is None
    assert report["groups"]["c"]["selection_rate"] == 0.0
    assert "c.precision" in report["undefined"]
    # precision gap over the defined groups a (1/2) and b (2/3)
    assert report["predictive_parity_diff"] == pytest.approx(2 / 3 - 1 / 2, abs=TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics=partial(precision_score, zero_division=np.nan),
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=group,
        )
    assert np.isnan(frame.by_group["c"])
    assert report["predictive_parity_diff"] == pytest.approx(frame.difference(), abs=TOL)
    # the impact ratio of c is 0 (defined), which breaches the four-fifths rule
    assert report["impact_ratios"]["c"] == 0.0
    assert report["four_fifths_breached"] is True


def test_undefined_rates_without_positives_or_negatives() -> None:
    # group b has only positives (FPR undefined); group c has no positives (TPR undefined)
    payload = {
        "y_true": [1, 0, 1, 0, 1, 1, 1, 0, 0],
        "y_pred": [1, 1, 0, 0, 1, 0, 1, 1, 0],
        "group": ["a", "a", "a", "a", "b", "b", "b", "c", "c"],
    }
    report = run_circuit(parse(payload))
    assert report["groups"]["b"]["false_positive_rate"] is None
    assert report["groups"]["c"]["true_positive_rate"] is None
    assert report["groups"]["c"]["precision"] == 0.0  # 0 true of 1 predicted: defined
    assert {"b.false_positive_rate", "c.true_positive_rate"} <= set(report["undefined"])
    # TPR: a 1/2, b 2/3 ; FPR: a 1/2, c 1/2
    assert report["equal_opportunity_diff"] == pytest.approx(2 / 3 - 1 / 2, abs=TOL)
    assert report["equalized_odds_fpr_diff"] == 0.0
    assert report["equalized_odds_diff"] == pytest.approx(2 / 3 - 1 / 2, abs=TOL)


def test_single_defined_group_gives_none_difference() -> None:
    # only group a has predicted positives: the precision gap is undefined, not 0
    payload = {
        "y_true": [1, 0, 1, 0],
        "y_pred": [1, 1, 0, 0],
        "group_a": [1, 1, 0, 0],
        "group_b": [0, 0, 1, 1],
    }
    report = run_circuit(parse(payload))
    assert report["groups"]["group_b"]["precision"] is None
    assert report["predictive_parity_diff"] is None
    assert "predictive_parity_diff" in report["undefined"]
    assert report["max_gap"] == 1.0  # the defined differences still count


def test_no_selections_anywhere() -> None:
    payload = {
        "y_true": [1, 0, 1, 0],
        "y_pred": [0, 0, 0, 0],
        "group_a": [1, 1, 0, 0],
        "group_b": [0, 0, 1, 1],
    }
    report = run_circuit(parse(payload))
    assert report["demographic_parity_diff"] == 0.0
    assert report["demographic_parity_ratio"] is None
    assert report["impact_ratios"] == {"group_a": None, "group_b": None}
    assert report["four_fifths_breached"] is None
    assert report["predictive_parity_diff"] is None
    assert {"group_a.precision", "group_b.precision", "demographic_parity_ratio"} <= set(
        report["undefined"]
    )


def test_threshold_comparison_is_exact() -> None:
    # selection rates 1/2 and 1/4: the gap is exactly 0.25
    payload = {
        "y_true": [0] * 8,
        "y_pred": [1, 1, 0, 0, 1, 0, 0, 0],
        "group_a": [1, 1, 1, 1, 0, 0, 0, 0],
        "group_b": [0, 0, 0, 0, 1, 1, 1, 1],
    }
    at = run_circuit(parse({**payload, "threshold": 0.25}))
    below = run_circuit(parse({**payload, "threshold": 0.2499}))
    assert at["max_gap"] == 0.25
    assert at["threshold_breached"] is False
    assert below["threshold_breached"] is True
    # 1/4 / 1/2 = 0.5 < 0.8
    assert at["impact_ratios"]["group_b"] == 0.5
    assert at["four_fifths_breached"] is True


def test_evaluate_plaintext_matches_manual_run() -> None:
    data = random_categorical(9_000, 3, seed=5)
    plan, outputs = evaluate_plaintext(FairnessCircuit(), data)
    assert plan.n_chunks == 3
    assert decode(outputs, data.public, data.rows) == run_circuit(data)
