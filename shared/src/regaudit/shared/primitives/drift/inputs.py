"""Drift's client half: validate the histograms, read tables, encode the scaled CDFs and the
sign column (the client runs this; the evaluator never imports it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.layout import (
    DEFAULT_DRIFT_THRESHOLD,
    MAX_SAMPLE_COUNT,
    MAX_W1_RANGE,
    MIN_W1_RANGE,
    PART_COLUMNS,
    SAMPLE_COUNTS,
    TABLE_FIELDS,
    TABLE_REQUIRED,
    column_names,
    features_per_part,
    layout_rows,
    sample_counts,
    stride_for,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array

#: The keys of a drift input object (regaudit-fhe 0.1.0's names).
INPUT_KEYS = frozenset({"p", "q", "drift_threshold", "bin_width", "w1_range", SAMPLE_COUNTS})


@dataclass(frozen=True)
class DriftData:
    """Validated drift input: normalized probability vectors (F x B) plus public inputs."""

    rows: int
    public: PublicInputs
    p: FloatArray = field(repr=False)
    q: FloatArray = field(repr=False)
    batch: bool = False

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted columns: scaled CDFs in the F x S block layout (see the package doc)."""
        return encode_drift_columns(self.p, self.q, self.public)


def _matrix(name: str, value: object) -> tuple[FloatArray, bool]:
    """A histogram (flat list) or batch (list of equal-length lists) as an F x B array of
    non-negative values with positive, finite totals (not normalized)."""
    nested = False
    if isinstance(value, np.ndarray):
        array = value
        if array.dtype.kind not in "iuf":
            raise InputError(f"must hold numbers, got dtype {array.dtype}", field=name)
    else:
        if not isinstance(value, list | tuple) or len(value) == 0:
            raise InputError("must be a non-empty array of numbers or of arrays", field=name)
        nested = isinstance(value[0], list | tuple | np.ndarray)
        rows = value if nested else [value]
        width = None
        for i, row in enumerate(rows):
            where = f"{name}[{i}]" if nested else name
            if not isinstance(row, list | tuple | np.ndarray):
                raise InputError("every feature must be an array of numbers", field=where)
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise InputError(f"has {len(row)} bins, the first feature has {width}", field=where)
            for j, item in enumerate(row):
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise InputError(f"element {j} is not a number", field=where)
        array = float_array(rows)
    batch = array.ndim == 2 if isinstance(value, np.ndarray) else nested
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError("must be a histogram or a features x bins array", field=name)
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError("holds a NaN or infinite value", field=name)
    if (array < 0).any():
        raise InputError("histogram values must be >= 0", field=name)
    with np.errstate(over="ignore"):
        sums = array.sum(axis=1)
    if not np.isfinite(sums).all():
        f = int(np.argmin(np.isfinite(sums)))
        raise InputError(
            f"feature {f}: the histogram total overflows the float range: cannot normalize",
            field=name,
        )
    if (sums <= 0).any():
        f = int(np.argmin(sums > 0))
        raise InputError(f"feature {f} has total 0: cannot normalize", field=name)
    return array, batch


def _integer_totals(array: FloatArray) -> list[int] | None:
    """Per feature the total of an integer-count histogram (the number of samples behind it),
    or None when some value is not an integer or a total exceeds MAX_SAMPLE_COUNT."""
    if not bool((array == np.floor(array)).all()):
        return None
    totals = array.sum(axis=1)
    if (totals > MAX_SAMPLE_COUNT).any():
        return None
    return [int(t) for t in totals]


def _sample_counts(payload: Mapping[str, Any], p: FloatArray, q: FloatArray) -> object:
    """The public ``sample_counts``: the explicit ones (a single count per side is every
    feature's), checked against integer-count histograms' totals; else the totals of integer
    histograms; else None (probabilities without counts: no DP release is possible).

    Steps: 1. the totals of integer histograms; 2. explicit counts, broadcast and validated
    (:func:`.layout.sample_counts`); 3. each must equal its integer histogram's total."""
    features = p.shape[0]
    # 1.
    totals = {"p": _integer_totals(p), "q": _integer_totals(q)}
    given = payload.get(SAMPLE_COUNTS)
    if given is None:
        if totals["p"] is None or totals["q"] is None:
            return None
        return {"p": totals["p"], "q": totals["q"]}
    # 2.
    if isinstance(given, Mapping):
        given = {
            side: [value] * features if isinstance(value, int | float) else value
            for side, value in given.items()
        }
    counts = sample_counts(given, features=features)
    # 3.
    for side, counted in totals.items():
        for f, (explicit, total) in enumerate(zip(counts[side], counted or (), strict=False)):
            if explicit != total:
                raise InputError(
                    f"is {explicit} but the integer histogram {side}[{f}] sums to {total}",
                    field=f"{SAMPLE_COUNTS}.{side}[{f}]",
                )
    return counts


def auto_w1_range(p: FloatArray, q: FloatArray) -> list[float]:
    """Per feature: the smallest power of two in [MIN_W1_RANGE, 1] bounding max |P - Q|."""
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    ranges = []
    for gap in gaps:
        exponent = math.ceil(math.log2(max(float(gap), MIN_W1_RANGE)))
        ranges.append(min(MAX_W1_RANGE, 2.0**exponent))
    return ranges


def parse(payload: Mapping[str, Any]) -> DriftData:
    """Validate regaudit-fhe 0.1.0's drift JSON shape; InputError naming the offending field."""
    if not isinstance(payload, Mapping):
        raise InputError("drift input must be a JSON object")
    for key in payload:
        if key not in INPUT_KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("p", "q"):
        if key not in payload:
            raise InputError("is required", field=key)
    raw_p, batch_p = _matrix("p", payload["p"])
    raw_q, batch_q = _matrix("q", payload["q"])
    if raw_p.shape != raw_q.shape or batch_p != batch_q:
        raise InputError(f"has shape {raw_q.shape} but p has {raw_p.shape}", field="q")
    counts = _sample_counts(payload, raw_p, raw_q)
    p = raw_p / raw_p.sum(axis=1)[:, None]
    q = raw_q / raw_q.sum(axis=1)[:, None]
    w1_range = payload.get("w1_range")
    if w1_range is None:
        w1_range = auto_w1_range(p, q)
    elif not isinstance(w1_range, list | tuple):
        w1_range = [w1_range] * p.shape[0]
    public = DriftCircuit().validate_public(
        {
            "drift_threshold": payload.get("drift_threshold", DEFAULT_DRIFT_THRESHOLD),
            "bin_width": payload.get("bin_width", 1.0),
            "w1_range": w1_range,
            "features": p.shape[0],
            "bins": p.shape[1],
            SAMPLE_COUNTS: counts,
        }
    )
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    for f, (gap, bound) in enumerate(zip(gaps, public["w1_range"], strict=True)):
        if gap > bound:
            raise InputError(
                f"feature {f}: max |P - Q| = {gap:.6g} exceeds {bound!r}", field="w1_range"
            )
    rows = layout_rows(public["features"], public["bins"])
    return DriftData(rows=rows, public=public, p=p, q=q, batch=batch_p)


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> DriftData:
    """One histogram per column (one row per bin): ``p`` and ``q``."""
    tables.require_overrides("drift", TABLE_REQUIRED, overrides)
    table = tables.read_table(path)
    payload: dict[str, Any] = {
        name: tables.numbers(path, tables.column(path, table, mapping, name), field_name=name)
        for name in TABLE_FIELDS
    }
    return parse({**payload, **overrides})


def encode_drift_columns(
    p: FloatArray, q: FloatArray, public: PublicInputs
) -> dict[str, FloatArray]:
    """cdf_p / cdf_q / sign (per part): each feature's CDFs divided by w1_range, and the sign
    (+1 or -1) of their difference, in its block of S slots; feature f is in part
    f // (PART_SLOTS / S), block f % (PART_SLOTS / S). Padding slots are 0 in all three."""
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    per_part = features_per_part(bins)
    rows = layout_rows(features, bins)
    names = column_names(features, bins)
    columns: dict[str, FloatArray] = {name: np.zeros(rows) for name in names}
    scale = 1.0 / np.asarray(public["w1_range"], dtype=np.float64)
    cdf_p = np.cumsum(p, axis=1) * scale[:, None]
    cdf_q = np.cumsum(q, axis=1) * scale[:, None]
    signs = np.where(cdf_p >= cdf_q, 1.0, -1.0)
    width = len(PART_COLUMNS)
    for offset, values in enumerate((cdf_p, cdf_q, signs)):
        for f in range(features):
            part, block = divmod(f, per_part)
            column = columns[names[width * part + offset]]
            column[block * stride : block * stride + bins] = values[f]
    return columns


__all__ = [
    "INPUT_KEYS",
    "DriftData",
    "auto_w1_range",
    "encode_drift_columns",
    "load_table",
    "parse",
]
