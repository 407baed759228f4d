"""Fairness tables stream: CSV and Parquet files are validated in one pass and read again chunk
by chunk, never whole; the chunks equal those of the same data parsed whole, errors name the
row and column (also past the first batch), memory does not grow with the rows, and a file that
changes between two passes is refused."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from regaudit.client.inputs import load_audit_input
from regaudit.shared.circuits.base import iter_chunks
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import streaming
from regaudit.shared.primitives.fairness.inputs import parse
from regaudit.shared.primitives.fairness.table_input import FairnessTable
from regaudit.shared.primitives.tables import ColumnMapping

CHUNK_ROWS = 4096
MAPPING = ColumnMapping(y_true="label", y_pred="pred", group="sex")


def make_columns(rows: int, *, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "label": rng.integers(0, 2, rows),
        "pred": rng.integers(0, 2, rows),
        "sex": rng.choice(np.array(["female", "male", "other"]), rows),
    }


def write_csv(path: Path, columns: dict[str, np.ndarray], *, delimiter: str = ",") -> Path:
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(delimiter=delimiter))
    return path


def whole(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same data through the JSON parser (whole columns)."""
    data = parse(
        {
            "y_true": columns["label"].tolist(),
            "y_pred": columns["pred"].tolist(),
            "group": columns["sex"].tolist(),
        }
    )
    return data.columns()


def streamed(table: FairnessTable, chunk_rows: int = CHUNK_ROWS) -> dict[str, np.ndarray]:
    chunks = list(table.iter_chunks(chunk_rows))
    return {name: np.concatenate([c[name] for c in chunks]) for name in table.column_names()}


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many CSV/Parquet batches even for small files (chunks cross batch boundaries)."""
    monkeypatch.setattr(streaming, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(streaming, "PARQUET_BATCH_ROWS", 1000)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_chunks_equal_the_whole_parse(
    tmp_path: Path, suffix: str, small_batches: None
) -> None:
    rows = 10_000
    columns = make_columns(rows)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        write_csv(path, columns, delimiter=";")
    else:
        pq.write_table(pa.table(dict(columns)), path)
    table = load_audit_input("fairness", path, mapping=MAPPING)
    assert isinstance(table, FairnessTable)
    assert table.rows == rows
    assert table.public["groups"] == ["female", "male", "other"]
    expected = whole(columns)
    got = streamed(table)
    padded = {
        name: np.concatenate([c[name] for c in iter_chunks(expected, CHUNK_ROWS)])
        for name in expected
    }
    assert list(got) == list(expected)
    for name in expected:
        assert np.array_equal(got[name], padded[name]), name
    # a second pass reads the same (the encryption, the output check, the commitments)
    again = streamed(table)
    assert all(np.array_equal(again[name], got[name]) for name in got)


def test_binary_form_streams(tmp_path: Path, small_batches: None) -> None:
    rng = np.random.default_rng(2)
    rows = 5000
    member = rng.integers(0, 3, rows)
    columns = {
        "y_true": rng.integers(0, 2, rows),
        "y_pred": rng.integers(0, 2, rows),
        "group_a": (member == 0).astype(int),
        "group_b": (member == 1).astype(int),
    }
    path = write_csv(tmp_path / "binary.csv", columns)
    table = load_audit_input("fairness", path)
    assert isinstance(table, FairnessTable)
    assert table.public["groups"] == ["group_a", "group_b"]
    assert table.unassigned_rows == int((member == 2).sum())
    expected = parse({name: values.tolist() for name, values in columns.items()}).columns()
    got = streamed(table, chunk_rows=rows)
    for name in expected:
        assert np.array_equal(got[name], expected[name]), name


def test_a_bad_cell_past_the_first_batch_is_named_by_row_and_column(
    tmp_path: Path, small_batches: None
) -> None:
    columns = make_columns(3000)
    cells = columns["pred"].astype(str)
    cells[2500] = "7"
    columns["pred"] = cells
    path = write_csv(tmp_path / "late.csv", columns)
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert info.value.field == "pred"
    assert "row 2501" in info.value.message
    assert "7.0 is not 0 or 1" in info.value.message


def test_memory_does_not_grow_with_the_rows(tmp_path: Path, small_batches: None) -> None:
    """Python/numpy allocations while validating and streaming a file: the same bound for 60k
    and 240k rows (one batch and one chunk at a time), well below what the 240k-row columns
    alone would take."""
    peaks = {}
    for rows in (60_000, 240_000):
        path = write_csv(tmp_path / f"rows{rows}.csv", make_columns(rows))
        tracemalloc.start()
        table = load_audit_input("fairness", path, mapping=MAPPING)
        for _ in table.iter_chunks(CHUNK_ROWS):
            pass
        peaks[rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    whole_columns = 240_000 * 5 * 8  # y_true, y_pred, three memberships as float64
    assert peaks[240_000] < whole_columns / 4, peaks
    assert peaks[240_000] < 1.5 * peaks[60_000], peaks


def test_every_pass_reads_the_validated_snapshot(tmp_path: Path) -> None:
    """The encryption, the output check and the commitments read the rows that were
    validated, even if the file changes (or goes) during the audit."""
    columns = make_columns(2000)
    path = write_csv(tmp_path / "moving.csv", columns)
    table = load_audit_input("fairness", path, mapping=MAPPING)
    assert isinstance(table, FairnessTable)
    before = streamed(table)
    changed = dict(columns)
    changed["pred"] = 1 - columns["pred"]
    write_csv(path, changed)
    after = streamed(table)
    path.unlink()
    gone = streamed(table)
    for name in before:
        assert np.array_equal(before[name], after[name]), name
        assert np.array_equal(before[name], gone[name]), name
    assert np.array_equal(before["y_pred"][:2000], columns["pred"])


def test_a_file_changed_while_it_is_validated_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "moving.csv", make_columns(2000))
    real_batches = streaming.batches

    def batches_then_touch(*args: object, **kwargs: object) -> Iterator[streaming.TableBatch]:
        yield from real_batches(*args, **kwargs)  # type: ignore[arg-type]
        with path.open("a") as handle:
            handle.write("1,1,female\n")

    monkeypatch.setattr(streaming, "batches", batches_then_touch)
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert info.value.field == "input"
    assert "changed while the audit was reading it" in info.value.message


def test_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from regaudit.shared.primitives.fairness import layout

    monkeypatch.setattr(layout, "MAX_FAIRNESS_ROWS", 100)
    path = write_csv(tmp_path / "big.csv", make_columns(101))
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path, mapping=MAPPING)
    assert info.value.field == "input"
    assert "more than 100 rows" in info.value.message


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("1.0", 1.0), ("true", 1.0), (" 1 ", 1.0), ("0e0", 0.0)],
)
def test_cells_the_typed_read_cannot_hold_are_read_as_text(
    tmp_path: Path, small_batches: None, cell: str, expected: float
) -> None:
    """A CSV is read typed first (0/1 as int8); a cell that does not fit, late in the file,
    sends the pass to the text read, with the same result as a clean file."""
    columns = make_columns(3000)
    cells = columns["label"].astype(str)
    cells[2900] = cell
    columns["label"] = cells
    table = load_audit_input("fairness", write_csv(tmp_path / "late.csv", columns), mapping=MAPPING)
    assert isinstance(table, FairnessTable)
    got = streamed(table)
    assert got["y_true"][2900] == expected
    assert table.rows == 3000


def test_a_number_too_big_for_the_typed_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("y_true,y_pred,group\n1,1,a\n0,300,b\n")
    with pytest.raises(InputError) as info:
        load_audit_input("fairness", path)
    assert "row 2, column 'y_pred': 300.0 is not 0 or 1 (nor true/false)" in info.value.message
