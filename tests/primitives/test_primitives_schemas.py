"""The bundled JSON Schemas accept the primitives' real inputs and reports and name bad fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from regaudit.shared.errors import InputError
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives import get_primitive
from regaudit.shared.schemas import list_schemas, validate

DRIFT = {
    "p": [[1, 4, 10, 4, 1], [2, 2, 2, 2, 2]],
    "q": [[0, 2, 8, 8, 2], [2, 2, 2, 2, 3]],
    "drift_threshold": 0.01,
    "bin_width": 0.5,
}
DISAGREEMENT = {
    "model_polynomials": [[0.0, 1.0, 0.1], [0.1, 0.9], [0.0, 1.1, -0.05]],
    "test_input": [0.5, -0.25, 0.75, 1.5],
    "threshold": 0.01,
}
POINT = {"scores": [0.2, 0.5, 0.9], "quantiles": [0.6, 0.4, 0.95]}
BATCH = {"scores": [[0.1, 0.9], [0.8, 0.2], [0.4, 0.7]], "labels": [0, 1, 1], "quantiles": 0.5}
PROVENANCE = {
    "attributions": [0.5, -0.25, 1.0, 0.125],
    "row_ids": ["a", "b", "c", 4],
    "n_buckets": 3,
    "k": 2,
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("drift", DRIFT),
    ("disagreement", DISAGREEMENT),
    ("calibration", POINT),
    ("calibration", BATCH),
    ("provenance", PROVENANCE),
]


def test_schemas_are_listed() -> None:
    names = set(list_schemas())
    for primitive in ("drift", "disagreement", "calibration", "provenance"):
        assert {f"{primitive}.input", f"{primitive}.output"} <= names


@pytest.mark.parametrize(("name", "payload"), CASES)
def test_inputs_and_reports_validate(name: str, payload: dict[str, Any]) -> None:
    validate(f"{name}.input", payload)
    primitive = get_primitive(name)
    data = primitive.inputs().parse(payload)
    _, outputs = evaluate_plaintext(primitive.circuit, data)
    report = primitive.report().decode(outputs, data.public, data.rows)
    # the report is plain JSON (no numpy scalars) and matches the output schema
    validate(f"{name}.output", json.loads(json.dumps(report)))
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(
    ("name", "payload", "pointer"),
    [
        ("drift.input", {"p": [1, -1], "q": [1, 1]}, "/p"),
        ("drift.input", {"p": [1, 1]}, "/q"),
        ("disagreement.input", {**DISAGREEMENT, "threshold": -1}, "/threshold"),
        (
            "disagreement.input",
            {**DISAGREEMENT, "model_polynomials": [[1.0], [2.0]]},
            "/model_polynomials",
        ),
        ("calibration.input", {**POINT, "extra": 1}, "/extra"),
        ("provenance.input", {**PROVENANCE, "n_buckets": 0}, "/n_buckets"),
    ],
)
def test_schema_errors_name_the_pointer(name: str, payload: dict, pointer: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as error:
        validate(name, payload)
    assert error.value.field is not None and error.value.field.startswith(pointer)
