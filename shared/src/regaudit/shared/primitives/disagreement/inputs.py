"""The disagreement client's half: input validation, the data class, client-side encoding
(u = x / input_bound) and the table (CSV/Parquet) reader. Run by the client (and the
in-process quick start)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.disagreement.layout import (
    DEFAULT_THRESHOLD,
    INPUT_KEYS,
    MAX_INPUT_BOUND,
    MIN_INPUT_BOUND,
    PRIMITIVE_TABLE_REQUIRED,
    as_numbers,
    validate_public,
)
from regaudit.shared.primitives.tables import ColumnMapping


@dataclass(frozen=True)
class DisagreementData:
    """Validated disagreement input: the private test inputs plus public inputs."""

    rows: int
    public: PublicInputs
    test_input: FloatArray = field(repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted column: u = x / input_bound, one slot per row."""
        return {"u": self.test_input / self.public["input_bound"]}


def auto_input_bound(values: FloatArray) -> float:
    """The smallest power of two >= max |x| in [MIN_INPUT_BOUND, MAX_INPUT_BOUND]."""
    peak = max(float(np.abs(values).max()), MIN_INPUT_BOUND)
    # compare before rounding up: 2.0 ** ceil(log2(peak)) overflows for peak beyond 2^1023
    if peak > MAX_INPUT_BOUND:
        raise InputError(f"max |x| = {peak:g} exceeds {MAX_INPUT_BOUND:g}", field="test_input")
    return 2.0 ** math.ceil(math.log2(peak))


def parse(payload: Mapping[str, Any]) -> DisagreementData:
    """Validate regaudit-fhe 0.1.0's disagreement JSON shape; InputError naming the offending
    field."""
    if not isinstance(payload, Mapping):
        raise InputError("disagreement input must be a JSON object")
    for key in payload:
        if key not in INPUT_KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("model_polynomials", "test_input"):
        if key not in payload:
            raise InputError("is required", field=key)
    values = as_numbers("test_input", payload["test_input"], limit=planning.MAX_ROWS)
    bound = payload.get("input_bound")
    if bound is None:
        bound = auto_input_bound(values)
    public = validate_public(
        {
            "model_polynomials": payload["model_polynomials"],
            "threshold": payload.get("threshold", DEFAULT_THRESHOLD),
            "input_bound": bound,
        }
    )
    peak = float(np.abs(values).max())
    if peak > public["input_bound"]:
        raise InputError(f"max |x| = {peak:g} exceeds input_bound", field="input_bound")
    return DisagreementData(rows=int(values.size), public=public, test_input=values)


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> DisagreementData:
    """One row per input: the ``test_input`` column; the models (and the threshold and input
    bound, if given) come from the command line's ``overrides``."""
    tables.require_overrides("disagreement", PRIMITIVE_TABLE_REQUIRED, overrides)
    table = tables.read_table(path)
    values = tables.numbers(
        path, tables.column(path, table, mapping, "test_input"), field_name="test_input"
    )
    return parse({"test_input": values, **overrides})


__all__ = [
    "DisagreementData",
    "auto_input_bound",
    "load_table",
    "parse",
]
