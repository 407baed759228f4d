"""Input validation: every malformed concordance input is refused with InputError naming the
field; the bundled JSON schemas agree."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from regaudit.shared import schemas
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.layout import MAX_PATIENTS, ROWS

GOOD: dict[str, Any] = {"risk": [0.3, 0.1, 0.7, 0.2], "time": [5, 3, 1, 8], "event": [1, 0, 1, 1]}


def _with(**changes: Any) -> dict[str, Any]:
    payload = dict(GOOD)
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_with(risk=[0.3, math.nan, 0.7, 0.2]), "risk"),
        (_with(risk=[0.3, math.inf, 0.7, 0.2]), "risk"),
        (_with(time=[5, 3, -math.inf, 8]), "time"),
        (_with(time=[5, math.nan, 1, 8]), "time"),
        (_with(time=[5, -1, 1, 8]), "time"),
        (_with(event=[1, 0, 2, 1]), "event"),
        (_with(event=[1, 0, 0.5, 1]), "event"),
        (_with(event=[1, 0, "1", 1]), "event"),
        (_with(risk=[0.3, 0.1, 0.7]), "time"),
        (_with(event=[1, 0, 1]), "event"),
        (_with(risk=[0.3, "0.1", 0.7, 0.2]), "risk"),
        (_with(risk=[0.3, True, 0.7, 0.2]), "risk"),
        (_with(risk="0.3"), "risk"),
        (_with(time=np.zeros((2, 2))), "time"),
        ({"risk": [0.5], "time": [1.0], "event": [1]}, "risk"),
        ({"time": [1, 2], "event": [1, 1]}, "risk"),
        (_with(extra=[1, 2, 3, 4]), "extra"),
        (_with(event=[0, 0, 0, 0]), "event"),  # all censored: C undefined
        ({"risk": [1, 2, 3], "time": [4, 4, 4], "event": [1, 1, 1]}, "event"),  # one tie only
        (
            {
                "risk": [0.0] * (MAX_PATIENTS + 1),
                "time": [1.0] * (MAX_PATIENTS + 1),
                "event": [1] * (MAX_PATIENTS + 1),
            },
            "risk",
        ),
    ],
)
def test_invalid_input_names_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        parse(payload)
    assert info.value.field == field
    assert info.value.exit_code == 2


def test_not_an_object() -> None:
    with pytest.raises(InputError):
        parse([1, 2, 3])  # type: ignore[arg-type]


def test_booleans_and_numpy_are_accepted() -> None:
    data = parse(
        {
            "risk": np.array([0.3, 0.1, 0.7, 0.2]),
            "time": np.array([5, 3, 1, 8]),
            "event": [True, False, True, True],
        }
    )
    assert data.patients == 4 and data.rows == ROWS
    assert data.event.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert list(data.columns()) == ["x_theta_0", "x_event_0", "y_theta_0", "y_event_0", "ties_0"]
    assert all(column.size == ROWS for column in data.columns().values())


def test_schemas_accept_good_and_refuse_bad() -> None:
    schemas.validate("concordance.input", GOOD)
    with pytest.raises(InputError) as info:
        schemas.validate("concordance.input", _with(time=[5, -3, 1, 8]))
    assert info.value.field == "/time/1"
    with pytest.raises(InputError) as info:
        schemas.validate("concordance.input", _with(event=[1, 0, 2, 1]))
    assert info.value.field == "/event/2"
    with pytest.raises(InputError):
        schemas.validate("concordance.input", {"risk": [1, 2], "time": [1, 2]})
