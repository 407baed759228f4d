"""The LL144 inputs without a daemon: scores instead of y_pred (the scoring rate), labels of
unknown category, the scoring-rate public inputs, and the client's data description
(``--dataset``/``--period``/``--source``, regaudit.toml, REGAUDIT_*, ``data_description=``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ll144.rossi import UNKNOWN_LABEL, rossi_table
from typer.testing import CliRunner

from regaudit.client import audit_fairness
from regaudit.client.cli import app
from regaudit.client.data_description import (
    MAX_DATASET_NAME_LENGTH,
    MAX_SOURCE_LENGTH,
    check_data_description,
    describe_data,
)
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse
from regaudit.shared.primitives.fairness.reference import reference

SCORES = [0.9, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4]
TRUTH = [1, 0, 1, 0, 1, 0, 0, 1]
GROUPS = ["a", "a", "b", "b", "a", "b", "u", "u"]


def _payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"y_true": TRUTH, "scores": SCORES, "group": GROUPS}
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


# --- scores -----------------------------------------------------------------------------------


def test_scores_select_above_the_sample_median_and_are_named_scoring_rate() -> None:
    data = parse(_payload(unknown_labels=["u"]))
    median = float(np.median(SCORES))
    assert data.public["selection_basis"] == "score_above_median"
    assert data.public["score_median"] == median
    assert data.y_pred.tolist() == [float(s > median) for s in SCORES]
    audit = reference(data)["bias_audit"]
    assert audit["rate_name"] == "scoring_rate" and audit["score_median"] == median
    assert audit["unknown_rows"] == 2 == data.unassigned_rows
    assert set(audit["categories"]) == {"a", "b"}
    plain = parse(_payload(scores=None, y_pred=[1, 0, 1, 0, 1, 0, 0, 1]))
    assert reference(plain)["bias_audit"]["rate_name"] == "selection_rate"
    assert "selection_basis" not in plain.public
    assert FairnessCircuit.version == "1"


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"y_pred": [0] * 8}, "scores", "either y_pred or scores"),
        ({"scores": [0.5] * 7 + [float("nan")]}, "scores", "not a finite number"),
        ({"scores": [0.5] * 7 + [float("inf")]}, "scores", "not a finite number"),
        ({"scores": [0.5] * 8}, "scores", "no score is above the sample median"),
        ({"scores": [0.1, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]}, "scores", "above the sample"),
        ({"scores": [True] * 8}, "scores", "expected a number"),
        ({"scores": None}, "y_pred", "is required"),
    ],
)
def test_bad_scores_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, text: str
) -> None:
    payload = _payload(**changes)
    if changes.get("scores", 0) is None:
        payload.pop("scores", None)
    with pytest.raises(InputError) as caught:
        parse(payload)
    assert caught.value.field == field and text in caught.value.message, caught.value


@pytest.mark.parametrize(
    ("public", "field"),
    [
        ({"selection_basis": "score_above_median"}, "score_median"),
        ({"score_median": 0.5}, "selection_basis"),
        ({"selection_basis": "top_k", "score_median": 0.5}, "selection_basis"),
        ({"selection_basis": "score_above_median", "score_median": float("nan")}, "score_median"),
        ({"selection_basis": "score_above_median", "score_median": "0.5"}, "score_median"),
    ],
)
def test_scoring_public_inputs_come_together_and_checked(
    public: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        FairnessCircuit().validate_public({"threshold": 0.1, "groups": ["a", "b"], **public})
    assert caught.value.field == field


def test_unknown_labels_match_components_and_only_the_categorical_form() -> None:
    data = parse(
        {
            "y_true": [1, 0, 1, 0],
            "y_pred": [1, 1, 0, 0],
            "group": ["x & 1", "y & 2", "u & 1", "x & 2"],
            "unknown_labels": "u",
        }
    )
    assert data.public["groups"] == ["x & 1", "x & 2", "y & 2"] and data.unassigned_rows == 1
    with pytest.raises(InputError) as caught:
        parse({"y_true": [1], "y_pred": [1], "group_a": [1], "group_b": [0], "unknown_labels": "u"})
    assert caught.value.field == "unknown_labels"
    with pytest.raises(InputError) as caught:
        parse(_payload(unknown_labels=[1.5]))
    assert caught.value.field == "unknown_labels"


def test_rossi_in_process_scoring_rate_equals_pandas() -> None:
    table = rossi_table()
    result = audit_fairness(
        table, y_true="y_true", scores="score", sensitive_features=["race", "age_band"],
        unknown_labels=[UNKNOWN_LABEL], backend="plaintext",
    )  # fmt: skip
    audit = result.bias_audit
    median = float(np.median(table["score"]))
    known = table[table["race"] != UNKNOWN_LABEL]
    expected = (
        (known["score"] > median)
        .groupby(known["race"] + " & " + known["age_band"])
        .agg(["count", "sum"])
    )
    assert audit["rate_name"] == "scoring_rate" and audit["score_median"] == median
    assert audit["unknown_rows"] == len(table) - len(known) > 0
    for name, (count, chosen) in expected.iterrows():
        assert (audit["categories"][name]["count"], audit["categories"][name]["selected"]) == (
            count,
            chosen,
        )


# --- the data description ---------------------------------------------------------------------


def test_describe_data_checks_each_value() -> None:
    assert describe_data(dataset=" hires ", period="2024-01-01/2024-12-31", source="HR") == {
        "dataset": "hires",
        "period": {"start": "2024-01-01", "end": "2024-12-31"},
        "source": "HR",
    }
    assert describe_data() == {}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"dataset": ""}, "dataset"),
        ({"dataset": "a\nb"}, "dataset"),
        ({"dataset": "x" * (MAX_DATASET_NAME_LENGTH + 1)}, "dataset"),
        ({"source": "s" * (MAX_SOURCE_LENGTH + 1)}, "source"),
        ({"source": "bell\x07"}, "source"),
        ({"period": "2024-01-01"}, "period"),
        ({"period": "2024-13-01/2024-12-31"}, "period"),
        ({"period": "20240101/20241231"}, "period"),
        ({"period": "2024-02-01/2024-01-31"}, "period"),
    ]
    for values, field in bad:
        with pytest.raises(InputError) as caught:
            describe_data(**values)
        assert caught.value.field == field, values
    with pytest.raises(InputError) as caught:
        check_data_description({"rows": 3})
    assert caught.value.field == "data_description"
    assert check_data_description({"period": {"start": "2024-01-01", "end": "2024-01-01"}}) == {
        "period": {"start": "2024-01-01", "end": "2024-01-01"}
    }


def _audit_args(tmp_path: Path, *extra: str) -> list[str]:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"y_true": [1, 0], "y_pred": [1, 0], "group": ["a", "b"]}))
    return [
        "audit", "fairness", "--input", str(data), "--evaluator", "127.0.0.1:9",
        "--regulator-card", str(tmp_path / "card.json"), "--identity", str(tmp_path),
        "--out", str(tmp_path / "out.bundle"), "--json", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "env", "config", "field"),
    [
        (["--period", "2024-02-01/2024-01-01"], {}, None, "period"),
        (["--dataset", "tab\there"], {}, None, "dataset"),
        (["--source", ""], {}, None, "source"),
        ([], {"REGAUDIT_CLIENT_PERIOD": "last year"}, None, "period"),
        ([], {}, 'period = "2024-01-01/2023-01-01"', "period"),
    ],
)
def test_bad_data_description_exits_2_naming_the_option(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    env: dict[str, str],
    config: str | None,
    field: str,
) -> None:
    prefix: list[str] = []
    if config is not None:
        path = tmp_path / "regaudit.toml"
        path.write_text(f"[client]\n{config}\n")
        prefix = ["--config", str(path)]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, [*prefix, *_audit_args(tmp_path, *extra)])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    error = json.loads(result.stdout)
    assert error["field"] == field and error["reason"] == "invalid_input", error
    assert not (tmp_path / "out.bundle").exists()


def test_scores_column_errors_exit_2_naming_the_column(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {"y": [1, 0, 1, 0], "s": [0.1, float("nan"), 0.3, 0.4], "g": ["a", "b", "a", "b"]}
    )
    path = tmp_path / "scored.csv"
    table.to_csv(path, index=False)
    args = _audit_args(tmp_path, "--y-true", "y", "--scores", "s", "--group", "g")
    args[args.index("--input") + 1] = str(path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    error = json.loads(result.stdout)
    assert error["field"] == "s" and "row 2" in error["message"], error


def test_a_long_scored_table_streams_and_selects_like_pandas(tmp_path: Path) -> None:
    """More rows than one snapshot read (2^16) and than one CSV block: the derived y_pred is
    rewritten across the whole snapshot; unknown rows come from a second group column."""
    from regaudit.shared.primitives.fairness.inputs import load_table
    from regaudit.shared.primitives.tables import ColumnMapping

    rng = np.random.default_rng(11)
    rows = 70_000
    table = pd.DataFrame(
        {
            "label": rng.integers(0, 2, rows),
            "risk": rng.normal(size=rows),
            "sex": rng.choice(["f", "m"], rows),
            "band": rng.choice(["young", "old", "n/k"], rows, p=[0.5, 0.45, 0.05]),
        }
    )
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    loaded = load_table(
        path,
        ColumnMapping(y_true="label", scores="risk", group="sex,band"),
        {"unknown_labels": ["n/k"], "reference_group": "f & old"},
    )
    median = float(np.median(table["risk"]))
    assert loaded.public["score_median"] == median
    assert loaded.public["reference_group"] == "f & old"
    assert np.array_equal(loaded.y_pred, (table["risk"] > median).to_numpy(np.float64))
    assert loaded.unassigned_rows == int((table["band"] == "n/k").sum()) > 0
    assert loaded.public["groups"] == ["f & old", "f & young", "m & old", "m & young"]


def test_the_dataframe_api_checks_data_description_before_connecting(tmp_path: Path) -> None:
    table = rossi_table()
    with pytest.raises(InputError) as caught:
        audit_fairness(
            table, y_true="y_true", y_pred="y_pred", sensitive_features="race",
            evaluator="127.0.0.1:9", regulator_card=tmp_path / "card.json",
            identity=tmp_path, out=tmp_path / "out.bundle",
            data_description={"dataset": "rossi", "period": "1972-01-01/1970-01-01"},
        )  # fmt: skip
    assert caught.value.field == "period"
    local = audit_fairness(
        table, y_true="y_true", y_pred="y_pred", sensitive_features="race",
        unknown_labels=UNKNOWN_LABEL, reference_group="other", exclude_small=True,
        backend="plaintext",
    )  # fmt: skip
    assert local.bias_audit["reference"] == "other" and local.bias_audit["exclude_small"] is True
