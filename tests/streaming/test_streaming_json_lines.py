"""JSON Lines tables (``.jsonl`` / ``.ndjson``, one object per row) stream like CSV and Parquet:
fairness reads them batch by batch into the same chunks as the JSON document parsed whole;
errors name the row and column; the primitives that need whole columns read them whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from regaudit.client.inputs import load_audit_input
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness.table_input import FairnessTable
from regaudit.shared.primitives.tables import ColumnMapping

MAPPING = ColumnMapping(y_true="label", y_pred="pred", group="sex")


def write_lines(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def rows_of(n: int, *, seed: int = 3) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [
        {"label": int(a), "pred": bool(b), "sex": str(s), "unused": 1.5}
        for a, b, s in zip(
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
            rng.choice(["female", "male"], n),
            strict=True,
        )
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_fairness_streams_the_same_chunks_as_the_whole_document(
    tmp_path: Path, suffix: str
) -> None:
    rows = rows_of(70_000)  # several pyarrow blocks
    path = write_lines(tmp_path / f"data{suffix}", rows)
    table = load_audit_input("fairness", path, mapping=MAPPING)
    assert isinstance(table, FairnessTable)
    document = tmp_path / "data.json"
    document.write_text(
        json.dumps(
            {
                "y_true": [r["label"] for r in rows],
                "y_pred": [int(bool(r["pred"])) for r in rows],
                "group": [r["sex"] for r in rows],
            }
        ),
        encoding="utf-8",
    )
    parsed = load_audit_input("fairness", document)
    assert table.rows == parsed.rows == len(rows)
    assert table.public == parsed.public
    chunks = list(table.iter_chunks(4096))
    streamed = {name: np.concatenate([c[name] for c in chunks]) for name in table.column_names()}
    for name, values in parsed.columns().items():
        assert np.array_equal(streamed[name][: len(rows)], values), name


def test_json_lines_missing_value_names_row_and_column(tmp_path: Path) -> None:
    rows = rows_of(50)
    rows[41]["label"] = None
    path = write_lines(tmp_path / "data.jsonl", rows)
    with pytest.raises(InputError) as caught:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert "missing value" in caught.value.message
    assert "row 42" in caught.value.message and "'label'" in caught.value.message


def test_json_lines_non_binary_label_is_refused(tmp_path: Path) -> None:
    rows = [{**row, "pred": int(bool(row["pred"]))} for row in rows_of(50)]
    rows[7]["pred"] = 2
    path = write_lines(tmp_path / "data.jsonl", rows)
    with pytest.raises(InputError) as caught:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert "row 8" in caught.value.message and "'pred'" in caught.value.message


def test_json_lines_column_changing_type_is_named(tmp_path: Path) -> None:
    rows = rows_of(50)  # pred holds JSON booleans
    rows[7]["pred"] = 2
    path = write_lines(tmp_path / "data.jsonl", rows)
    with pytest.raises(InputError) as caught:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert "pred" in caught.value.message and caught.value.field == "input"


def test_json_lines_wrong_column_lists_the_columns_found(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.jsonl", rows_of(10))
    with pytest.raises(InputError) as caught:
        load_audit_input(
            "fairness", path, mapping=ColumnMapping(y_true="lable", y_pred="pred", group="sex")
        )
    assert "'lable'" in caught.value.message
    assert "label, pred, sex, unused" in caught.value.message


def test_malformed_json_lines_is_a_clear_input_error(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"label": 1, "pred": 0, "sex": "f"}\n{"label": 1, "pred": \n', encoding="utf-8"
    )
    with pytest.raises(InputError) as caught:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert str(path) in caught.value.message
    assert caught.value.field == "input"


def test_whole_column_primitive_reads_json_lines(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    n = 40
    risk, time = rng.normal(size=n), rng.integers(1, 30, n)
    event = rng.integers(0, 2, n)
    event[0] = 1
    lines = [
        {"risk": float(r), "time": float(t), "event": int(e)}
        for r, t, e in zip(risk, time, event, strict=True)
    ]
    from_lines = load_audit_input("concordance", write_lines(tmp_path / "c.jsonl", lines))
    document = tmp_path / "c.json"
    document.write_text(
        json.dumps(
            {"risk": risk.tolist(), "time": time.astype(float).tolist(), "event": event.tolist()}
        ),
        encoding="utf-8",
    )
    from_document = load_audit_input("concordance", document)
    assert from_lines.public == from_document.public
    for name, values in from_document.columns().items():
        assert np.array_equal(from_lines.columns()[name], values), name
