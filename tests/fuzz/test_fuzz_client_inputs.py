"""Fuzz the client's input files (regaudit.client.inputs.load_audit_input): random JSON bytes,
mutated example inputs and random CSV tables, written to files, for every registered primitive
-> InputError only; what is accepted encodes to finite columns and canonical public inputs.
Fairness and drift also get their round trips (a valid input, as JSON and as CSV, loads back as
itself)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzz.contract import check_contract, json_bytes, mutated
from hypothesis import given
from hypothesis import strategies as st

from regaudit.client.inputs import load_audit_input
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.primitives import get_primitive, primitive_names
from regaudit.shared.primitives.drift.inputs import DriftData
from regaudit.shared.primitives.fairness.inputs import FairnessData

PRIMITIVES = primitive_names()
EXAMPLES = {name: get_primitive(name).example_input() for name in PRIMITIVES}


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield Path(directory)


def _load(primitive: str, path: Path, threshold: float | None = None) -> Any:
    data = check_contract(
        lambda: load_audit_input(primitive, path, threshold=threshold),
        errors=(InputError,),
    )
    if data is None:
        return None
    # accepted input encodes to finite columns, and its public inputs can be signed
    assert data.rows > 0
    canonical_json(dict(data.public))
    for name, column in data.columns().items():
        assert np.all(np.isfinite(column)), f"column {name} holds a non-finite value"
    if isinstance(data, DriftData):
        assert np.allclose(data.p.sum(axis=1), 1.0), f"p = {data.p.tolist()}"
        assert np.allclose(data.q.sum(axis=1), 1.0), f"q = {data.q.tolist()}"
    return data


thresholds = st.none() | st.floats() | st.floats(min_value=0.0, max_value=1.0)


# --- JSON -----------------------------------------------------------------------------------------


@given(st.sampled_from(PRIMITIVES), json_bytes())
def test_json_file_of_random_bytes(scratch: Path, primitive: str, data: bytes) -> None:
    path = scratch / "input.json"
    path.write_bytes(data)
    _load(primitive, path)


@given(
    st.sampled_from(PRIMITIVES).flatmap(lambda p: st.tuples(st.just(p), mutated(EXAMPLES[p]))),
    thresholds,
)
def test_mutated_example_input(
    scratch: Path, case: tuple[str, Any], threshold: float | None
) -> None:
    primitive, payload = case
    path = scratch / "input.json"
    path.write_text(json.dumps(payload))
    _load(primitive, path, threshold if get_primitive(primitive).threshold_key else None)


# --- CSV ------------------------------------------------------------------------------------------

cells = st.sampled_from(
    ["0", "1", "1.0", "0.5", "-1", "2", "nan", "inf", "-inf", "1e400", "1e-400", "", " 1", "a", "b"]
) | st.text(max_size=8)


@st.composite
def csv_files(draw: st.DrawFn, fields: tuple[str, ...]) -> bytes:
    """A CSV table: a header of the primitive's fields, other names or duplicates, rows of
    numbers, labels, non-finite and empty cells, sometimes ragged; sometimes raw damage (NUL,
    bad UTF-8, an open quote)."""
    names = st.sampled_from([*fields, "group_a", "group_b", "x"]) | st.text(max_size=6)
    header = draw(st.lists(names, min_size=1, max_size=5))
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(cells, min_size=width, max_size=width) | st.lists(cells, max_size=width + 1),
            max_size=12,
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    damage = draw(st.sampled_from(["none", "none", "nul", "utf8", "quote", "cut"]))
    if damage == "nul":
        data += b"1,\x00,2\n"
    elif damage == "utf8":
        data = data[: len(data) // 2] + b"\xff\xfe" + data[len(data) // 2 :]
    elif damage == "quote":
        data += b'"unterminated,1\n'
    elif damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    return data


@given(
    st.sampled_from(PRIMITIVES).flatmap(
        lambda p: st.tuples(st.just(p), csv_files(get_primitive(p).table_fields))
    ),
    thresholds,
)
def test_csv_file(scratch: Path, case: tuple[str, bytes], threshold: float | None) -> None:
    primitive, data = case
    path = scratch / "input.csv"
    path.write_bytes(data)
    _load(primitive, path, threshold if get_primitive(primitive).threshold_key else None)


# --- fixed bugs (one regression example each) ---------------------------------------------------


@pytest.mark.parametrize("primitive", ["fairness", "drift"])
def test_integer_beyond_float_range(scratch: Path, primitive: str) -> None:
    """A JSON integer beyond float range in a numeric column (was OverflowError from np.asarray)."""
    payload = (
        {"y_true": [10**400, 0], "y_pred": [1, 0], "group_a": [1, 0], "group_b": [0, 1]}
        if primitive == "fairness"
        else {"p": [10**400, 1], "q": [1, 1]}
    )
    path = scratch / f"{primitive}-big.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(InputError):
        load_audit_input(primitive, path)


def test_disagreement_huge_test_input(scratch: Path) -> None:
    """auto_input_bound refuses |x| beyond MAX_INPUT_BOUND before 2.0 ** ceil(log2(x)) overflows."""
    payload = dict(EXAMPLES["disagreement"], test_input=[1e308])
    path = scratch / "disagreement-huge.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(InputError):
        load_audit_input("disagreement", path)


def test_provenance_huge_attribution(scratch: Path) -> None:
    """max |a| * rows overflowing to inf (no attribution_scale given) is refused before log2."""
    payload = {"attributions": [1e308, 1.0], "row_ids": [0, 1], "n_buckets": 1, "k": 1}
    path = scratch / "provenance-huge.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(InputError):
        load_audit_input("provenance", path)


@pytest.mark.parametrize(
    "data", [b"\xff\n", b"y_true,y_pred,group\n1,0,\xff\n"], ids=["header", "row"]
)
def test_fairness_csv_not_utf8(scratch: Path, data: bytes) -> None:
    """load_fairness_csv turns UnicodeDecodeError into InputError, as tables.read_table does."""
    path = scratch / "fairness-latin1.csv"
    path.write_bytes(data)
    with pytest.raises(InputError):
        load_audit_input("fairness", path)


def test_drift_histogram_sum_overflow(scratch: Path) -> None:
    """A histogram whose total overflows to inf is refused (was accepted with p = [0, 0])."""
    path = scratch / "drift-overflow.json"
    path.write_text(json.dumps({"p": [1e308, 1e308], "q": [1, 1]}))
    with pytest.raises(InputError, match="overflows"):
        load_audit_input("drift", path)


# --- round trips ----------------------------------------------------------------------------------


@st.composite
def fairness_inputs(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.integers(2, 40))
    bits = st.lists(st.integers(0, 1), min_size=rows, max_size=rows)
    groups = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=rows, max_size=rows))
    # every label of the declared groups must occur, and at least two groups
    groups[0], groups[1] = "a", "b"
    return {
        "y_true": draw(bits),
        "y_pred": draw(bits),
        "group": groups,
        "threshold": draw(st.floats(min_value=0.01, max_value=0.99)),
    }


@given(fairness_inputs())
def test_fairness_round_trip(scratch: Path, payload: dict[str, Any]) -> None:
    path = scratch / "fairness.json"
    path.write_text(json.dumps(payload))
    data = load_audit_input("fairness", path)
    assert isinstance(data, FairnessData)
    assert data.rows == len(payload["y_true"])
    np.testing.assert_array_equal(data.y_true, payload["y_true"])
    np.testing.assert_array_equal(data.y_pred, payload["y_pred"])
    for name, column in data.memberships.items():
        np.testing.assert_array_equal(column, [float(g == name) for g in payload["group"]])
    # the same table as CSV
    table = scratch / "fairness.csv"
    lines = ["y_true,y_pred,group"] + [
        f"{t},{p},{g}"
        for t, p, g in zip(payload["y_true"], payload["y_pred"], payload["group"], strict=True)
    ]
    table.write_text("\n".join(lines) + "\n")
    from_csv = load_audit_input("fairness", table, threshold=payload["threshold"])
    assert from_csv.public == data.public
    for name, column in data.columns().items():
        np.testing.assert_array_equal(from_csv.columns()[name], column)


@given(
    st.integers(2, 12).flatmap(
        lambda bins: st.tuples(
            st.lists(st.integers(0, 1000), min_size=bins, max_size=bins).filter(any),
            st.lists(st.integers(0, 1000), min_size=bins, max_size=bins).filter(any),
        )
    )
)
def test_drift_round_trip(scratch: Path, histograms: tuple[list[int], list[int]]) -> None:
    p, q = histograms
    path = scratch / "drift.json"
    path.write_text(json.dumps({"p": p, "q": q}))
    data = load_audit_input("drift", path)
    assert isinstance(data, DriftData)
    np.testing.assert_allclose(data.p[0], np.asarray(p, dtype=np.float64) / sum(p))
    np.testing.assert_allclose(data.q[0], np.asarray(q, dtype=np.float64) / sum(q))
    table = scratch / "drift.csv"
    table.write_text("p,q\n" + "".join(f"{a},{b}\n" for a, b in zip(p, q, strict=True)))
    from_csv = load_audit_input("drift", table)
    assert isinstance(from_csv, DriftData)
    assert from_csv.public == data.public
    np.testing.assert_allclose(from_csv.p, data.p)
    np.testing.assert_allclose(from_csv.q, data.q)
