"""The client's half of ``tally``: validate the 0/1 flags and the threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import ColumnMapping, tables
from toy_tally.circuit import TallyCircuit


@dataclass(frozen=True)
class TallyData:
    flags: FloatArray
    threshold: float

    @property
    def rows(self) -> int:
        return int(self.flags.shape[0])

    @property
    def public(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def columns(self) -> dict[str, FloatArray]:
        return {"flag": self.flags}


def parse(payload: Mapping[str, Any]) -> TallyData:
    """``{"flags": [0/1, ...], "threshold": t}``."""
    unknown = sorted(set(payload) - {"flags", "threshold"})
    if unknown:
        raise InputError("unknown key", field=unknown[0])
    flags = payload.get("flags")
    if not isinstance(flags, list) or not flags:
        raise InputError("must be a non-empty list of 0/1", field="flags")
    for index, value in enumerate(flags):
        if value not in (0, 1) or isinstance(value, bool):
            raise InputError(f"flags[{index}] is {value!r}, not 0 or 1", field="flags")
    public = TallyCircuit().validate_public({"threshold": payload.get("threshold", 0.5)})
    return TallyData(np.asarray(flags, dtype=np.float64), public["threshold"])


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> TallyData:
    table = tables.read_table(path)
    flags = tables.numbers(path, tables.column(path, table, mapping, "flag"), field_name="flag")
    return parse({"flags": flags, **overrides})


__all__ = ["TallyData", "load_table", "parse"]
