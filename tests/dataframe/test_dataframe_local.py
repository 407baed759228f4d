"""The DataFrame-native API in process: pandas, pyarrow, numpy and dicts in; MetricFrame's
names and numbers out (checked against fairlearn's MetricFrame on the same frame), the other
primitives against numpy, and errors that name the keyword and list the columns found."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from regaudit.client import (
    audit_calibration,
    audit_concordance,
    audit_disagreement,
    audit_drift,
    audit_fairness,
    audit_provenance,
    frame_input,
)
from regaudit.shared.errors import InputError

RATES = ["selection_rate", "true_positive_rate", "false_positive_rate", "precision"]


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    n = 1_500
    race = rng.choice(["black", "white", "asian", "other"], n, p=[0.3, 0.4, 0.2, 0.1])
    label = rng.integers(0, 2, n)
    # predictions that depend on the group, so the differences are not ~0
    boost = pd.Series(race).map({"black": 0.1, "white": 0.6, "asian": 0.4, "other": 0.3})
    pred = (rng.random(n) < boost.to_numpy()).astype(bool)
    return pd.DataFrame(
        {"label": label, "pred": pred, "race": race, "sex": rng.choice(["f", "m"], n)}
    )


def _metric_frame(frame: pd.DataFrame) -> MetricFrame:
    return MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": precision_score,
        },
        y_true=frame["label"],
        y_pred=frame["pred"].astype(int),
        sensitive_features=frame["race"],
    )


def test_fairness_from_pandas_under_ckks_equals_fairlearns_metricframe(
    people: pd.DataFrame,
) -> None:
    result = audit_fairness(
        people, y_true="label", y_pred="pred", sensitive_features=["race"], threshold=0.1
    )
    expected = _metric_frame(people)
    assert result.backend == "ckks" and result.plan is not None
    by_group = result.by_group
    assert by_group.index.name == "race"
    assert sorted(by_group.index) == sorted(expected.by_group.index)
    got = by_group.loc[expected.by_group.index]
    assert (got["count"] == expected.by_group["count"]).all()
    for rate in RATES:
        np.testing.assert_allclose(got[rate], expected.by_group[rate], rtol=0, atol=1e-12)
        assert result.overall[rate] == pytest.approx(expected.overall[rate], abs=1e-12)
        assert result.difference()[rate] == pytest.approx(expected.difference()[rate], abs=1e-12)
        assert result.ratio()[rate] == pytest.approx(expected.ratio()[rate], abs=1e-12)
        assert result.group_min()[rate] == pytest.approx(expected.group_min()[rate], abs=1e-12)
        assert result.group_max()[rate] == pytest.approx(expected.group_max()[rate], abs=1e-12)
    assert result.overall["count"] == len(people)
    assert result.demographic_parity_diff == pytest.approx(
        expected.difference()["selection_rate"], abs=1e-12
    )
    assert result.threshold_breached is True
    assert result.to_frame().equals(by_group)
    assert result.to_dict()["groups"]["white"]["count"] == int((people["race"] == "white").sum())


def test_intersectional_groups_under_ckks_equal_fairlearns_metricframe(
    people: pd.DataFrame,
) -> None:
    """Several sensitive features: one category per combination present (race x sex), a
    MultiIndex with one level per feature, the numbers of MetricFrame with the same features."""
    result = audit_fairness(
        people, y_true="label", y_pred="pred", sensitive_features=["race", "sex"], threshold=0.1
    )
    expected = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": precision_score,
        },
        y_true=people["label"],
        y_pred=people["pred"].astype(int),
        sensitive_features=people[["race", "sex"]],
    )
    by_group = result.by_group
    assert list(by_group.index.names) == ["race", "sex"]
    assert sorted(by_group.index) == sorted(expected.by_group.index)
    assert len(by_group) == 8
    got = by_group.loc[expected.by_group.index]
    assert (got["count"] == expected.by_group["count"]).all()
    for rate in RATES:
        np.testing.assert_allclose(got[rate], expected.by_group[rate], rtol=0, atol=1e-12)
        assert result.difference()[rate] == pytest.approx(expected.difference()[rate], abs=1e-12)


def test_a_label_holding_the_separator_is_refused(people: pd.DataFrame) -> None:
    frame = people.assign(race=people["race"].replace("other", "other & unknown"))
    with pytest.raises(InputError) as caught:
        audit_fairness(
            frame, y_true="label", y_pred="pred", sensitive_features=["race", "sex"],
            backend="plaintext",
        )  # fmt: skip
    assert caught.value.field == "sensitive_features"
    assert "'other & unknown'" in caught.value.message


@pytest.mark.parametrize("kind", ["pyarrow", "numpy", "dict"])
def test_other_table_types_give_the_same_result(people: pd.DataFrame, kind: str) -> None:
    table: Any
    if kind == "pyarrow":
        table = pa.Table.from_pandas(people)
    elif kind == "numpy":
        table = people.to_records(index=False)
    else:
        table = {name: people[name].to_numpy() for name in people.columns}
    got = audit_fairness(
        table, y_true="label", y_pred="pred", sensitive_features="race", backend="plaintext"
    )
    reference = audit_fairness(
        people, y_true="label", y_pred="pred", sensitive_features="race", backend="plaintext"
    )
    assert got.to_dict() == reference.to_dict()


def test_the_other_primitives_from_frames_match_numpy() -> None:
    rng = np.random.default_rng(5)
    survival = pd.DataFrame(
        {
            "score": rng.normal(size=30),
            "weeks": rng.exponential(20.0, 30),
            "arrest": rng.integers(0, 2, 30),
        }
    )
    c = audit_concordance(survival, risk="score", time="weeks", event="arrest", backend="plaintext")
    assert 0.0 <= c.c_index <= 1.0 and c.to_frame().shape[0] == 1

    histograms = pd.DataFrame({"ref": [1.0, 4, 10, 4, 1], "now": [0.0, 2, 8, 8, 2]})
    d = audit_drift(
        histograms, p="ref", q="now", drift_threshold=0.01, bin_width=0.5, backend="plaintext"
    )
    cdf = np.cumsum(histograms["ref"] / histograms["ref"].sum()) - np.cumsum(
        histograms["now"] / histograms["now"].sum()
    )
    assert d.distance == pytest.approx(float(np.sum(cdf**2)), abs=1e-12)
    assert d.to_seed_dict()["drift_bit"] is True

    models = [[0.0, 1.0, 0.1], [0.1, 0.9], [0.0, 1.1, -0.05]]
    inputs = pd.DataFrame({"x": rng.uniform(-1, 1, 50)})
    m = audit_disagreement(
        inputs, x="x", model_polynomials=models, threshold=0.01, backend="plaintext"
    )
    outputs = np.array([np.polyval(list(reversed(c)), inputs["x"]) for c in models])
    means = outputs.mean(axis=1)
    np.testing.assert_allclose(m.per_model_mean_outputs, means, atol=1e-12)
    assert list(m.to_frame()["mean_output"]) == m.per_model_mean_outputs

    attributions = pd.DataFrame({"a": rng.exponential(1.0, 40), "id": [f"r{i}" for i in range(40)]})
    p = audit_provenance(
        attributions, attributions="a", row_ids="id", n_buckets=8, k=2, backend="plaintext"
    )
    assert sum(p.bucket_totals) == pytest.approx(attributions["a"].sum(), abs=1e-9)
    assert p.to_frame().index.name == "bucket" and len(p.to_frame()) == 8

    scores = pd.DataFrame({"c0": rng.random(20), "c1": rng.random(20), "y": rng.integers(0, 2, 20)})
    cal = audit_calibration(
        scores, scores=["c0", "c1"], labels="y", quantiles=0.5, backend="plaintext"
    )
    covered = np.where(scores["y"] == 0, scores["c0"], scores["c1"]) <= 0.5
    assert cal.coverage == pytest.approx(covered.mean(), abs=1e-12)


def test_frame_input_feeds_run_audit_without_a_file(people: pd.DataFrame) -> None:
    data = frame_input("fairness", people, y_true="label", y_pred="pred", sensitive_features="sex")
    assert data.rows == len(people) and data.public["groups"] == ["f", "m"]


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        ({"y_true": "labels"}, "y_true", ["'labels' not found", "'label'", "'pred'", "'race'"]),
        ({"sensitive_features": ["race", "race"]}, "sensitive_features", ["named twice"]),
        ({"sensitive_features": []}, "sensitive_features", ["a list of column names"]),
        ({"sensitive_features": "gender"}, "sensitive_features", ["'gender' not found"]),
        ({"evaluator": None, "out": "x.bundle"}, "out", ["evaluator=HOST:PORT"]),
    ],
)  # fmt: skip
def test_errors_name_the_keyword_and_the_columns(
    people: pd.DataFrame, arguments: dict[str, Any], field: str, words: list[str]
) -> None:
    options: dict[str, Any] = {
        "y_true": "label", "y_pred": "pred", "sensitive_features": "race", **arguments,
    }  # fmt: skip
    with pytest.raises(InputError) as caught:
        audit_fairness(people, backend="plaintext", **options)
    assert caught.value.field == field
    for word in words:
        assert word in caught.value.message


def test_a_missing_value_is_called_a_missing_value(people: pd.DataFrame) -> None:
    frame = people.copy()
    frame["label"] = frame["label"].astype("Int64")
    frame.loc[7, "label"] = pd.NA
    with pytest.raises(InputError) as caught:
        audit_fairness(frame, y_true="label", y_pred="pred", sensitive_features="race")
    assert caught.value.field == "y_true"
    assert "missing value at row 7" in caught.value.message
    floats = people.assign(score=np.where(np.arange(len(people)) == 3, np.nan, 1.0))
    with pytest.raises(InputError, match="missing value at row 3"):
        audit_concordance(floats, risk="score", time="score", event="label")


def test_views_that_do_not_apply_say_so_and_html_is_escaped() -> None:
    frame = pd.DataFrame(
        {"y": [1, 0, 1, 0], "p": [1, 1, 0, 0], "g": ["<b>x</b>", "<b>x</b>", "y&z", "y&z"]}
    )
    result = audit_fairness(
        frame, y_true="y", y_pred="p", sensitive_features="g", backend="plaintext"
    )
    html = result._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "y&amp;z" in html
    assert "demographic_parity_diff" in html
    assert result.by_group.loc["y&z", "precision"] != result.by_group.loc["y&z", "precision"]
    assert "undefined" in html  # an undefined rate is NaN in the frame, "undefined" in HTML
    c = audit_concordance(
        pd.DataFrame({"r": [0.1, 0.5, 0.9], "t": [3.0, 2.0, 1.0], "e": [1, 1, 1]}),
        risk="r", time="t", event="e", backend="plaintext",
    )  # fmt: skip
    with pytest.raises(InputError) as caught:
        _ = c.by_group
    assert caught.value.field == "by_group" and "to_frame()" in caught.value.message


def test_true_false_labels_are_read_and_other_text_is_named_with_its_row() -> None:
    frame = pd.DataFrame(
        {"y": ["true", "False", "1", "0"], "p": [True, False, True, True], "g": [1, 1, 2, 2]}
    )
    result = audit_fairness(
        frame, y_true="y", y_pred="p", sensitive_features="g", backend="plaintext"
    )
    assert result.by_group["positives"].tolist() == [1, 1]
    assert list(result.by_group.index) == ["1", "2"]  # integer labels become group names
    with pytest.raises(InputError) as caught:
        audit_fairness(
            frame.assign(p=[1, 0, "yes", 1]), y_true="y", y_pred="p", sensitive_features="g",
            backend="plaintext",
        )  # fmt: skip
    assert caught.value.field == "y_pred"
    assert "'yes' at row 2" in caught.value.message and "np." not in caught.value.message
    with pytest.raises(InputError, match="expected 0 or 1"):
        audit_fairness(frame.assign(p=[1, 0, 2, 1]), y_true="y", y_pred="p", sensitive_features="g")


def test_the_primitives_own_checks_name_the_dataframe_keyword(people: pd.DataFrame) -> None:
    one_group = people.assign(country="fr")
    with pytest.raises(InputError) as caught:
        audit_fairness(one_group, y_true="label", y_pred="pred", sensitive_features="country")
    assert (
        caught.value.field == "sensitive_features" and "at least 2 groups" in caught.value.message
    )
    with pytest.raises(InputError) as caught:
        frame_input(
            "disagreement",
            pd.DataFrame({"x": [np.inf, 1.0]}),
            x="x",
            model_polynomials=[[0, 1]] * 3,
        )
    assert caught.value.field is not None and caught.value.field.startswith("x")


def test_client_view_decodes_the_oracle_or_falls_back_without_the_regulators_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from regaudit.client.frames import client_view
    from regaudit.shared.extras import MissingExtraError
    from regaudit.shared.primitives.drift import report as drift_report

    histograms = pd.DataFrame({"ref": [1.0, 4, 10, 4, 1], "now": [0.0, 2, 8, 8, 2]})
    data = frame_input("drift", histograms, p="ref", q="now", drift_threshold=0.01, bin_width=0.5)
    decoded = client_view("drift", data, None)
    assert decoded["drift_detected"] is True and "w1_error_bound" in decoded

    def missing(*_: object) -> None:
        raise MissingExtraError("scipy is not installed", field="drift-certification")

    monkeypatch.setattr(drift_report, "decode", missing)
    exact = client_view("drift", data, None)
    assert exact["distance"] == pytest.approx(decoded["distance"], abs=1e-6)
    assert exact["drift_detected"] is True


def test_calibration_from_alpha_and_calibration_scores(people: pd.DataFrame) -> None:
    """The split-conformal quantile from ``alpha``: the k-th smallest calibration score with
    k = ceil((n + 1)(1 - alpha)), then coverage of the batch as with given quantiles."""
    rng = np.random.default_rng(31)
    calibration = rng.random(199)
    test = pd.DataFrame(
        {"c0": rng.random(400), "c1": rng.random(400), "y": rng.integers(0, 2, 400)}
    )
    result = audit_calibration(
        test, scores=["c0", "c1"], labels="y", alpha=0.1, calibration_scores=calibration
    )
    k = int(np.ceil((len(calibration) + 1) * (1 - 0.1)))
    quantile = float(np.sort(calibration)[k - 1])
    covered = np.where(test["y"] == 0, test["c0"], test["c1"]) <= quantile
    assert result.coverage == pytest.approx(covered.mean(), abs=1e-3)
    given = audit_calibration(test, scores=["c0", "c1"], labels="y", quantiles=quantile)
    assert result.coverage == pytest.approx(given.coverage, abs=1e-12)
    with pytest.raises(InputError) as caught:
        audit_calibration(
            test, scores=["c0", "c1"], labels="y", alpha=0.1, quantiles=0.5,
            calibration_scores=calibration, backend="plaintext",
        )  # fmt: skip
    assert caught.value.field in {"alpha", "quantiles"}
