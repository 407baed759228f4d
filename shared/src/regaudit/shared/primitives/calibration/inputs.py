"""Calibration's client half, run by the audited party: validate the input (JSON shape or a
CSV/Parquet table), then encode the scores into the slot layout (point form) or into the rank
positions anchored at the public quantiles (batch form) before encryption."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.calibration.layout import (
    BATCH_GAP,
    TABLE_REQUIRED,
    batch_block_for,
    block_for,
    validate_public,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array

_KEYS = frozenset({"scores", "quantiles", "labels", "score_range"})
#: Default score columns of a table: ``score_0``, ``score_1``... (class order by number).
_SCORE_COLUMN = re.compile(r"^score_(\d+)$")


# ============================================================================================
# Input schema and validation
# ============================================================================================


@dataclass(frozen=True)
class CalibrationData:
    """Validated calibration input (point: one row of scores, labels None)."""

    rows: int
    public: PublicInputs
    scores: FloatArray = field(repr=False)
    labels: FloatArray | None = field(default=None, repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted columns in the block layout (see the package doc)."""
        return encode_calibration_columns(self.scores, self.labels, self.public)


def _scores(value: object) -> tuple[FloatArray, bool]:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf" or value.ndim not in (1, 2):
            raise InputError("must be numbers: K scores or n x K", field="scores")
        array = value.astype(np.float64)
        nested = value.ndim == 2
    else:
        if not isinstance(value, list | tuple) or not value:
            raise InputError("must be a non-empty array", field="scores")
        nested = isinstance(value[0], list | tuple)
        rows = value if nested else [value]
        width = len(rows[0])
        for i, row in enumerate(rows):
            where = f"scores[{i}]" if nested else "scores"
            if not isinstance(row, list | tuple) or len(row) != width:
                raise InputError(f"every point needs {width} class scores", field=where)
            for j, item in enumerate(row):
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise InputError(f"element {j} is not a number", field=where)
        array = float_array(rows)
    if array.ndim == 1:
        array = array[None, :]
    if array.size == 0 or array.shape[1] == 0:
        raise InputError("must not be empty", field="scores")
    if not np.isfinite(array).all():
        raise InputError("holds a NaN or infinite value", field="scores")
    return array, nested


def parse(payload: Mapping[str, Any]) -> CalibrationData:
    """Validate the point shape (regaudit-fhe 0.1.0's) or the batch shape; InputError naming
    the field."""
    if not isinstance(payload, Mapping):
        raise InputError("calibration input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("scores", "quantiles"):
        if key not in payload:
            raise InputError("is required", field=key)
    scores, batch = _scores(payload["scores"])
    points, classes = scores.shape
    quantiles = payload["quantiles"]
    if not isinstance(quantiles, list | tuple):
        quantiles = [quantiles] * classes
    labels: FloatArray | None = None
    if batch:
        if "labels" not in payload:
            raise InputError("is required for a batch of points", field="labels")
        raw = payload["labels"]
        if not isinstance(raw, list | tuple | np.ndarray) or len(raw) != points:
            raise InputError(f"must list one class index per point ({points})", field="labels")
        for i, label in enumerate(raw):
            if isinstance(label, bool) or not isinstance(label, int | np.integer):
                raise InputError(f"element {i} is not an integer class index", field="labels")
            if not 0 <= int(label) < classes:
                raise InputError(
                    f"element {i} = {label} is not in 0..{classes - 1}", field="labels"
                )
        labels = np.asarray(raw, dtype=np.int64).astype(np.float64)
    elif "labels" in payload:
        raise InputError("only a batch of points (n x K scores) has labels", field="labels")
    public = validate_public(
        {
            "mode": "batch" if batch else "point",
            "quantiles": list(quantiles),
            "score_range": payload.get("score_range", 1.0),
            "classes": classes,
            "points": points,
        }
    )
    if scores.min() < 0.0 or scores.max() > public["score_range"]:
        raise InputError("every score must lie in [0, score_range]", field="scores")
    rows = points * (batch_block_for(classes) if batch else block_for(classes))
    return CalibrationData(rows=rows, public=public, scores=scores, labels=labels)


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> CalibrationData:
    """One row per point: score columns (default ``score_0``, ``score_1``... in class order)
    and, for a batch, the true class in ``label``. One row without labels is a single point."""
    tables.require_overrides("calibration", TABLE_REQUIRED, overrides)
    table = tables.read_table(path)
    mapped = mapping.columns("scores")
    if mapped:
        names = list(mapped)
        for name in names:
            if name not in table:
                raise InputError(f"{path}: column {name!r} not found", field="scores")
    else:
        found = sorted(
            (int(m.group(1)), name) for name in table if (m := _SCORE_COLUMN.match(name))
        )
        names = [name for _, name in found]
        if not names:
            raise InputError(
                f"{path}: no score columns (score_0, score_1, ...; or give --scores)",
                field="scores",
            )
    # column-major: one list of cells per class
    rows = [tables.numbers(path, table[name], field_name="scores") for name in names]
    label_name = mapping.column("label")
    payload: dict[str, Any] = dict(overrides)
    if label_name in table:
        payload["scores"] = [list(point) for point in zip(*rows, strict=True)]
        payload["labels"] = tables.numbers(path, table[label_name], field_name="label")
    elif "label" in mapping:
        raise InputError(f"{path}: column {label_name!r} not found", field="label")
    elif len(rows[0]) == 1:
        payload["scores"] = [column[0] for column in rows]
    else:
        raise InputError(
            f"{path}: a batch of {len(rows[0])} points needs a {label_name!r} column",
            field="label",
        )
    return parse(payload)


# ============================================================================================
# Client-side encoding: layout
# ============================================================================================


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks of ``values``, ties sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts + 1) / 2.0)[inverse]


def rank_positions(scores: FloatArray, quantiles: Sequence[float]) -> FloatArray:
    """Client side, batch form: the order-preserving position of every score relative to its
    class quantile (n x K, see the package doc). Members (score <= q_k) lie in
    [-1, -BATCH_GAP], non-members in [BATCH_GAP, 1]; within each side positions follow the
    average rank of the score (ties share one position), so position_ik <= position_jk iff
    score_ik <= score_jk."""
    points, classes = scores.shape
    positions = np.zeros((points, classes))
    spread = 1.0 - BATCH_GAP
    for k in range(classes):
        column = scores[:, k]
        member = column <= quantiles[k]
        inside, outside = column[member], column[~member]
        if inside.size:
            closeness = (inside.size - _average_ranks(inside) + 0.5) / inside.size
            positions[member, k] = -(BATCH_GAP + spread * closeness)
        if outside.size:
            distance = (_average_ranks(outside) - 0.5) / outside.size
            positions[~member, k] = BATCH_GAP + spread * distance
    return positions


def encode_calibration_columns(
    scores: FloatArray, labels: FloatArray | None, public: PublicInputs
) -> dict[str, FloatArray]:
    """Point: ``score`` = s / R in blocks of K2 slots. Batch: ``position`` in blocks of K2'
    slots (K positions, the true class's position in slot K, zeros)."""
    points, classes = scores.shape
    if public["mode"] == "point":
        block = block_for(classes)
        score = np.zeros((points, block))
        score[:, :classes] = scores / public["score_range"]
        return {"score": score.ravel()}
    if labels is None:
        raise InputError("a batch of points needs labels", field="labels")
    positions = rank_positions(scores, public["quantiles"])
    block = batch_block_for(classes)
    layout = np.zeros((points, block))
    layout[:, :classes] = positions
    layout[:, classes] = positions[np.arange(points), labels.astype(np.int64)]
    return {"position": layout.ravel()}


__all__ = [
    "CalibrationData",
    "encode_calibration_columns",
    "load_table",
    "parse",
    "rank_positions",
]
