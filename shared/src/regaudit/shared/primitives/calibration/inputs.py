"""Calibration's client half, run by the audited party: validate the input (JSON shape or a
CSV/Parquet table), then encode the scores into the slot layout (point form) or into the rank
positions anchored at the public quantiles (batch form) before encryption."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.commitments import SALT_BYTES
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.calibration.conformal import (
    MAX_CALIBRATION_SCORES,
    calibration_commitment,
    check_alpha,
    conformal_quantiles,
)
from regaudit.shared.primitives.calibration.layout import (
    BATCH_GAP,
    TABLE_REQUIRED,
    batch_block_for,
    block_for,
    derive_window,
    validate_public,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array, to_float

#: The input keys of the quantile rule (instead of ``quantiles``, see :mod:`.conformal`).
_RULE_INPUTS = ("alpha", "calibration_scores", "calibration_labels", "calibration_salt")

_KEYS = frozenset({"scores", "quantiles", "labels", "score_range", *_RULE_INPUTS})
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


def _scores(value: object, *, name: str = "scores") -> tuple[FloatArray, bool]:
    """A 1-D or n x K array of finite numbers (1-D as one row) and whether it was nested."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf" or value.ndim not in (1, 2):
            raise InputError("must be numbers: K scores or n x K", field=name)
        array = value.astype(np.float64)
        nested = value.ndim == 2
    else:
        if not isinstance(value, list | tuple) or not value:
            raise InputError("must be a non-empty array", field=name)
        nested = isinstance(value[0], list | tuple)
        rows = value if nested else [value]
        width = len(rows[0])
        for i, row in enumerate(rows):
            where = f"{name}[{i}]" if nested else name
            if not isinstance(row, list | tuple) or len(row) != width:
                raise InputError(f"every point needs {width} class scores", field=where)
            for j, item in enumerate(row):
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise InputError(f"element {j} is not a number", field=where)
        array = float_array(rows)
    if array.ndim == 1:
        array = array[None, :]
    if array.size == 0 or array.shape[1] == 0:
        raise InputError("must not be empty", field=name)
    if not np.isfinite(array).all():
        raise InputError("holds a NaN or infinite value", field=name)
    return array, nested


def _labels(raw: object, *, count: int, classes: int, name: str) -> FloatArray:
    """``count`` integer class indices in 0..classes-1 (as floats)."""
    if not isinstance(raw, list | tuple | np.ndarray) or len(raw) != count:
        raise InputError(f"must list one class index per point ({count})", field=name)
    for i, label in enumerate(raw):
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            raise InputError(f"element {i} is not an integer class index", field=name)
        if not 0 <= int(label) < classes:
            raise InputError(f"element {i} = {label} is not in 0..{classes - 1}", field=name)
    return np.asarray(raw, dtype=np.int64).astype(np.float64)


def _quantiles(payload: Mapping[str, Any], classes: int) -> tuple[list[Any], dict[str, Any]]:
    """The K quantiles: given (``quantiles``: one or K numbers), or computed by the split-
    conformal rule from ``alpha`` and ``calibration_scores`` (with the rule's public inputs).

    Steps: 1. exactly one of the two ways; 2. alpha; 3. the calibration set (1-D, n x K, or 1-D
    with ``calibration_labels``), its size and optional salt; 4. the rule and the digest."""
    # 1.
    rule_keys = [key for key in _RULE_INPUTS if key in payload]
    if "quantiles" in payload:
        if rule_keys:
            raise InputError(
                "give either quantiles or alpha with calibration_scores, not both",
                field=rule_keys[0],
            )
        quantiles = payload["quantiles"]
        return (
            list(quantiles) if isinstance(quantiles, list | tuple) else [quantiles] * classes
        ), {}
    if not rule_keys:
        raise InputError("is required (or alpha with calibration_scores)", field="quantiles")
    for key in ("alpha", "calibration_scores"):
        if key not in payload:
            raise InputError(f"is required with {rule_keys[0]} (instead of quantiles)", field=key)
    # 2.
    alpha = check_alpha(payload["alpha"])
    # 3.
    calibration, nested = _scores(payload["calibration_scores"], name="calibration_scores")
    if nested and calibration.shape[1] != classes:
        raise InputError(
            f"an n x K calibration set needs one column per class ({classes})",
            field="calibration_scores",
        )
    scores = calibration if nested else calibration[0]
    if scores.size > MAX_CALIBRATION_SCORES:
        raise InputError(
            f"{scores.size} scores exceed the limit of {MAX_CALIBRATION_SCORES}",
            field="calibration_scores",
        )
    labels: FloatArray | None = None
    if "calibration_labels" in payload:
        if nested:
            raise InputError(
                "labels go with 1-D calibration_scores, not an n x K matrix",
                field="calibration_labels",
            )
        labels = _labels(
            payload["calibration_labels"],
            count=scores.size,
            classes=classes,
            name="calibration_labels",
        )
    salt: bytes | None = None
    if "calibration_salt" in payload:
        raw = payload["calibration_salt"]
        try:
            salt = bytes.fromhex(raw) if isinstance(raw, str) else None
        except ValueError:
            salt = None
        if salt is None or len(salt) != SALT_BYTES:
            raise InputError(f"must be {2 * SALT_BYTES} hex characters", field="calibration_salt")
    # 4.
    quantiles, sizes, rule = conformal_quantiles(scores, labels, alpha, classes=classes)
    return quantiles, {
        "alpha": alpha,
        "calibration_size": sizes,
        "quantile_rule": rule,
        "calibration_commitment": calibration_commitment(scores, labels, salt=salt),
    }


def _window(
    given: object, scores: FloatArray, quantiles: list[Any], *, batch: bool
) -> tuple[float, float, bool]:
    """(offset lo, width R, given?): ``score_range`` R (the window [0, R], as in regaudit-fhe
    0.1.0) or [lo, hi]; absent, :func:`.layout.derive_window` over the scores and quantiles
    (point form) or the public quantiles only (batch form: the positions need no range)."""
    if given is None:
        values = [to_float(q) if _is_number(q) else 0.0 for q in quantiles]
        if not batch:
            values.extend(scores.ravel().tolist())
        offset, width = derive_window(np.asarray(values, dtype=np.float64))
        return offset, width, False
    if isinstance(given, list | tuple):
        if len(given) == 1:
            given = given[0]
        elif len(given) == 2 and all(_is_number(v) for v in given):
            low, high = to_float(given[0]), to_float(given[1])
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise InputError("[lo, hi] needs finite lo < hi", field="score_range")
            return low, high - low, True
        else:
            raise InputError("must be a number R ([0, R]) or [lo, hi]", field="score_range")
    if not _is_number(given):
        raise InputError("must be a number R ([0, R]) or [lo, hi]", field="score_range")
    return 0.0, to_float(given), True


def _is_number(value: object) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | float | np.number)


def parse(payload: Mapping[str, Any]) -> CalibrationData:
    """Validate the point shape (regaudit-fhe 0.1.0's) or the batch shape, with ``quantiles``
    or ``alpha`` and ``calibration_scores``; InputError naming the field."""
    if not isinstance(payload, Mapping):
        raise InputError("calibration input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    if "scores" not in payload:
        raise InputError("is required", field="scores")
    scores, batch = _scores(payload["scores"])
    points, classes = scores.shape
    labels: FloatArray | None = None
    if batch:
        if "labels" not in payload:
            raise InputError("is required for a batch of points", field="labels")
        labels = _labels(payload["labels"], count=points, classes=classes, name="labels")
    elif "labels" in payload:
        raise InputError("only a batch of points (n x K scores) has labels", field="labels")
    if classes < 2:  # before the quantile rule, which would blame the calibration set
        raise InputError("a prediction set needs at least 2 classes", field="classes")
    quantiles, rule = _quantiles(payload, classes)
    offset, width, given = _window(payload.get("score_range"), scores, quantiles, batch=batch)
    public = validate_public(
        {
            "mode": "batch" if batch else "point",
            "quantiles": quantiles,
            "score_range": width,
            "score_offset": offset,
            "classes": classes,
            "points": points,
            **rule,
        }
    )
    if given and (scores.min() < offset or scores.max() > offset + width):
        raise InputError(
            f"every score must lie in the score window [{offset:g}, {offset + width:g}] "
            f"(score_range); the scores span [{scores.min():g}, {scores.max():g}]",
            field="scores",
        )
    rows = points * (batch_block_for(classes) if batch else block_for(classes))
    return CalibrationData(rows=rows, public=public, scores=scores, labels=labels)


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> CalibrationData:
    """One row per point: score columns (default ``score_0``, ``score_1``... in class order)
    and, for a batch, the true class in ``label``. One row without labels is a single point."""
    if not any(key in overrides for key in _RULE_INPUTS):  # else alpha + calibration_scores
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
    """Point: ``score`` = (s - lo) / R in blocks of K2 slots. Batch: ``position`` in blocks of K2'
    slots (K positions, the true class's position in slot K, zeros)."""
    points, classes = scores.shape
    if public["mode"] == "point":
        block = block_for(classes)
        score = np.zeros((points, block))
        offset = float(public.get("score_offset", 0.0))
        score[:, :classes] = (scores - offset) / public["score_range"]
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
