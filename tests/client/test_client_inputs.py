"""Reading ``--input``: seed JSON, CSV with a column mapping, Parquet (optional)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from regaudit.client.inputs import ColumnMapping, available_primitives, load_audit_input
from regaudit.shared.errors import InputError

CSV_TEXT = "id,truth,prediction,segment\n1,1,1,x\n2,0,1,y\n3,1,0,x\n4,0,0,z\n5,1,1,y\n"


def test_seed_json_binary_groups(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(
        json.dumps(
            {
                "y_true": [1, 0, 1, 1],
                "y_pred": [1, 0, 0, 0],
                "group_a": [1, 1, 0, 0],
                "group_b": [0, 0, 1, 1],
            }
        )
    )
    data = load_audit_input("fairness", path)
    assert data.rows == 4
    assert data.public == {"threshold": 0.1, "groups": ["group_a", "group_b"]}
    columns = data.columns()
    np.testing.assert_array_equal(columns["y_pred"], [1, 0, 0, 0])
    overridden = load_audit_input("fairness", path, threshold=0.25)
    assert overridden.public["threshold"] == 0.25


def test_csv_with_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT)
    mapping = ColumnMapping(y_true="truth", y_pred="prediction", group="segment")
    data = load_audit_input("fairness", path, mapping=mapping, threshold=0.3)
    assert data.rows == 5
    assert data.public == {"threshold": 0.3, "groups": ["x", "y", "z"]}
    columns = data.columns()
    np.testing.assert_array_equal(columns["y_true"], [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(columns["group/y"], [0, 1, 0, 0, 1])


def test_csv_missing_mapped_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT)
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path, mapping=ColumnMapping(y_true="label"))
    assert info.value.field == "label"
    assert str(path) in info.value.message


def test_duplicate_json_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"y_true": [1], "y_true": [0]}')
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert info.value.field == "y_true"


def test_json_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert info.value.field == "input"


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_says_so(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert info.value.field == "input"
    assert "pyarrow" in info.value.message


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
def test_parquet_with_mapping(tmp_path: Path) -> None:  # pragma: no cover - optional
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    table = pa.table({"t": [1, 0, 1, 0], "p": [1, 1, 0, 0], "g": ["a", "b", "a", "b"]})
    pq.write_table(table, path)
    mapping = ColumnMapping(y_true="t", y_pred="p", group="g")
    data = load_audit_input("fairness", path, mapping=mapping)
    assert data.public["groups"] == ["a", "b"]


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
def test_concordance_parquet_with_column_mapping(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "patients.parquet"
    table = pa.table(
        {"score": [0.3, 0.9, 0.1, 0.5], "weeks": [5.0, 2.0, 9.0, 4.0], "died": [1, 1, 0, 1]}
    )
    pq.write_table(table, path)
    mapping = ColumnMapping(risk="score", time="weeks", event="died")
    data = load_audit_input("concordance", path, mapping=mapping)
    assert data.public["patients"] == 4
    assert data.rows == 8192  # concordance runs on one chunk of per-patient ciphertexts


def test_available_primitives() -> None:
    assert sorted(available_primitives()) == sorted(
        ["fairness", "concordance", "drift", "disagreement", "calibration", "provenance"]
    )
