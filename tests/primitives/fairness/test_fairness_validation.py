"""Every malformed fairness input is refused with an InputError naming the field at fault."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from regaudit.shared import planning
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness import layout
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import load_fairness_csv, parse
from regaudit.shared.schemas import list_schemas, load_schema, validate


def binary(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "y_true": [1, 0, 1, 1, 0, 1],
        "y_pred": [1, 0, 0, 1, 1, 1],
        "group_a": [1, 1, 1, 0, 0, 0],
        "group_b": [0, 0, 0, 1, 1, 0],
        "threshold": 0.1,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def categorical(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "y_true": [1, 0, 1, 1, 0, 1],
        "y_pred": [1, 0, 0, 1, 1, 1],
        "group": ["x", "y", "z", "x", "y", "z"],
        "threshold": 0.2,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def refused(payload: Any, field: str | None) -> InputError:
    with pytest.raises(InputError) as info:
        parse(payload)
    assert info.value.field == field, str(info.value)
    assert info.value.exit_code == 2
    return info.value


def test_valid_forms_parse() -> None:
    data = parse(binary())
    assert data.rows == 6
    assert data.public == {"threshold": 0.1, "groups": ["group_a", "group_b"]}
    assert data.unassigned_rows == 1
    assert list(data.columns()) == ["y_true", "y_pred", "group/group_a", "group/group_b"]
    assert all(col.dtype == np.float64 for col in data.columns().values())
    cat = parse(categorical())
    assert cat.public["groups"] == ["x", "y", "z"]
    assert cat.unassigned_rows == 0
    assert cat.columns()["group/y"].tolist() == [0, 1, 0, 0, 1, 0]
    # the default threshold, float labels 0.0/1.0 and numpy arrays are fine
    default = parse(binary(threshold=..., y_true=[1.0, 0.0, 1, 1, 0, 1]))
    assert default.public["threshold"] == layout.DEFAULT_THRESHOLD
    as_numpy = parse(
        {k: np.asarray(v) if isinstance(v, list) else v for k, v in categorical().items()}
    )
    assert as_numpy.public == cat.public


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"y_true": [1, 0, "1", 1, 0, 1]}, "y_true"),
        ({"y_pred": [1, 0, True, 1, 0, 1]}, "y_pred"),
        ({"y_true": [1, 0, [1], 1, 0, 1]}, "y_true"),
        ({"y_true": [1, 0, None, 1, 0, 1]}, "y_true"),
        ({"y_true": "101101"}, "y_true"),
        ({"y_pred": [1, 0, math.nan, 1, 0, 1]}, "y_pred"),
        ({"y_pred": [1, 0, math.inf, 1, 0, 1]}, "y_pred"),
        ({"y_true": [1, 0, 2, 1, 0, 1]}, "y_true"),
        ({"y_pred": [1, 0, 0.5, 1, 0, 1]}, "y_pred"),
        ({"y_true": [1, 0, -1, 1, 0, 1]}, "y_true"),
        ({"group_a": [1, 1, 3, 0, 0, 0]}, "group_a"),
        ({"group_b": [0, 0, 0, 1, True, 0]}, "group_b"),
        ({"y_pred": [1, 0, 0, 1, 1]}, "y_pred"),
        ({"group_b": [0, 0, 0, 1, 1, 0, 0]}, "group_b"),
        ({"y_true": [], "y_pred": [], "group_a": [], "group_b": []}, "y_true"),
        ({"group_b": [0, 0, 1, 1, 1, 0]}, "group_b"),  # row 2 in both groups
        ({"group_a": [0, 0, 0, 0, 0, 0]}, "group_a"),  # empty group
        ({"group_b": [0, 0, 0, 0, 0, 0]}, "group_b"),
        ({"group_b": ...}, "group_b"),
        ({"y_true": ...}, "y_true"),
        ({"threshold": "0.1"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": math.inf}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -0.01}, "threshold"),
        ({"extra": 1}, "extra"),
        ({"groups": ["group_a", "group_b"]}, "groups"),
    ],
)
def test_binary_form_refusals(changes: dict[str, Any], field: str) -> None:
    refused(binary(**changes), field)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"group": ["x", "y", 1.5, "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", True, "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", None, "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", ["z"], "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", "", "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", "a\nb", "x", "y", "z"]}, "group"),
        ({"group": ["x", "y", "1", "x", "y", 1]}, "group"),  # "1" and 1 collide
        ({"group": ["x"] * 6}, "group"),  # fewer than 2 groups
        ({"group": ["x", "y", "z", "x", "y"]}, "group"),
        ({"group": [str(i) for i in range(65)], "y_true": [0] * 65, "y_pred": [0] * 65}, "group"),
        ({"group_a": [1, 0, 0, 0, 0, 0]}, "group_a"),
        ({"groups": ["x", "y", "z", "w"]}, "group[w]"),  # a declared group without members
        ({"groups": ["x", "y"]}, "group"),  # a label that was not declared
        ({"groups": ["x", "x", "y", "z"]}, "groups"),
    ],
)
def test_categorical_form_refusals(changes: dict[str, Any], field: str) -> None:
    refused(categorical(**changes), field)


def test_sixty_four_groups_are_allowed() -> None:
    rows = 128
    data = parse(
        {"y_true": [1, 0] * 64, "y_pred": [0, 1] * 64, "group": [i // 2 for i in range(rows)]}
    )
    assert len(data.public["groups"]) == layout.MAX_GROUPS


def test_not_an_object() -> None:
    refused([1, 0], None)


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "MAX_FAIRNESS_ROWS", 5)
    refused(binary(), "y_true")
    monkeypatch.undo()
    parse(binary())
    monkeypatch.setattr(planning, "MAX_ROWS", 5)
    refused(binary(), "y_true")
    with pytest.raises(InputError) as info:
        planning.make_plan(FairnessCircuit(), {"threshold": 0.1, "groups": ["a", "b"]}, rows=6)
    assert info.value.field == "rows"


@pytest.mark.parametrize(
    ("public", "field"),
    [
        ({"threshold": 0.1, "groups": ["a"]}, "groups"),
        ({"threshold": 0.1, "groups": ["a", "a"]}, "groups"),
        ({"threshold": 0.1, "groups": ["a", 3]}, "groups[1]"),
        ({"threshold": 0.1, "groups": "ab"}, "groups"),
        ({"threshold": 0.1, "groups": [f"g{i}" for i in range(65)]}, "groups"),
        ({"threshold": 2, "groups": ["a", "b"]}, "threshold"),
        ({"groups": ["a", "b"]}, "threshold"),
        ({"threshold": 0.1, "groups": ["a", "b"], "quantile": 3}, "quantile"),
    ],
)
def test_public_input_refusals(public: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        FairnessCircuit().validate_public(public)
    assert info.value.field == field


# --- CSV -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "input.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_column_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "label,decision,region\n1,1,north\n0,1,south\n1,0,north\n0,0,south\n")
    data = load_fairness_csv(path, y_true="label", y_pred="decision", group="region", threshold=0.3)
    assert data.public == {"threshold": 0.3, "groups": ["north", "south"]}
    assert data.y_true.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("y_true,y_pred\n1,1\n", "group"),
        ("y_true,y_pred,group\n1,x,a\n0,1,b\n", "y_pred"),
        ("y_true,y_pred,group\n1,1,a\n,1,b\n", "y_true"),
        ("y_true,y_pred,group\nnan,1,a\n0,1,b\n", "y_true"),
        ("y_true,y_pred,group\n2,1,a\n0,1,b\n", "y_true"),
        ("y_true,y_pred,group\n1,1,a\n0,1,a\n", "group"),
        ("y_true,y_pred,group\n1,1,a\n0,1\n", "input"),
        ("y_true,y_pred,group\n", "input"),
        ("", "input"),
    ],
)
def test_csv_refusals(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        load_fairness_csv(write(tmp_path, text))
    assert info.value.field == field, str(info.value)


def test_csv_names_the_mapped_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t,p,g\n1,1,a\n0,5,b\n")
    with pytest.raises(InputError) as info:
        load_fairness_csv(path, y_true="t", y_pred="p", group="g")
    assert info.value.field == "p"
    with pytest.raises(InputError) as info:
        load_fairness_csv(path, y_true="t", y_pred="t", group="g", groups=["a", "b", "c"])
    assert info.value.field == "g[c]"


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_fairness_csv(tmp_path / "absent.csv")
    assert info.value.field == "input"


# --- JSON Schemas --------------------------------------------------------------------------


def test_schema_listing_and_loading() -> None:
    assert {"fairness.input", "fairness.output"} <= set(list_schemas())
    schema = load_schema("fairness.input")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with pytest.raises(InputError):
        load_schema("nonexistent.input")


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        (binary(y_true=[1, 0, "1", 1, 0, 1]), "/y_true/2"),
        (binary(y_pred=[1, 0, True, 1, 0, 1]), "/y_pred/2"),
        (binary(group_a=[1, 1, 2, 0, 0, 0]), "/group_a/2"),
        (binary(threshold=1.5), "/threshold"),
        (binary(threshold="x"), "/threshold"),
        (binary(group_b=...), "/group_b"),
        (binary(y_true=...), "/y_true"),
        (binary(extra=1), "/extra"),
        (binary(y_true=[], y_pred=[], group_a=[], group_b=[]), "/y_true"),
        (categorical(group=["x", "y", 1.5, "x", "y", "z"]), "/group/2"),
        (categorical(group_a=[1, 0, 0, 0, 0, 0]), "/group_a"),
        (binary(groups=["a", "b"]), "/groups"),
        ([1, 2], ""),
    ],
)
def test_schema_pointer(payload: Any, pointer: str) -> None:
    with pytest.raises(InputError) as info:
        validate("fairness.input", payload)
    assert info.value.field == pointer, str(info.value)
    # the parser refuses the same payloads
    with pytest.raises(InputError):
        parse(payload)


def test_schema_accepts_valid_forms() -> None:
    validate("fairness.input", binary())
    validate("fairness.input", binary(threshold=...))
    validate("fairness.input", categorical())
    validate("fairness.input", categorical(group=[1, 2, 3, 1, 2, 3]))
