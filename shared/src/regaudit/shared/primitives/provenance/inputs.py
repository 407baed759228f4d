"""Provenance's client half: validate the input, hash row ids into their public buckets, lay
the scaled attributions out one column per bucket, and read CSV/Parquet tables.

Run by the client (and the in-process API); the evaluator never imports it.
"""

from __future__ import annotations

import hashlib
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
from regaudit.shared.primitives.provenance.layout import (
    MAX_ATTRIBUTION_SCALE,
    MAX_BUCKETS,
    MAX_ROW_ID_LENGTH,
    MAX_TOTAL,
    MIN_ATTRIBUTION_SCALE,
    PRIMITIVE_TABLE_REQUIRED,
    bucket_column,
    check_integer,
    validate_public,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array

#: Keys of the input object (regaudit-fhe 0.1.0's shape).
_KEYS = frozenset({"attributions", "row_ids", "n_buckets", "k", "attribution_scale"})


def bucket_of(row_id: str | int, n_buckets: int) -> int:
    """The public bucket of a row id: SHA-256(UTF-8 text) as a big-endian integer mod n."""
    digest = hashlib.sha256(str(row_id).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % n_buckets


@dataclass(frozen=True)
class ProvenanceData:
    """Validated provenance input: attributions, their public buckets and public inputs."""

    rows: int
    public: PublicInputs
    attributions: FloatArray = field(repr=False)
    buckets: np.ndarray = field(repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """One compacted column per bucket (see :func:`encode_provenance_columns`)."""
        return encode_provenance_columns(self.attributions, self.buckets, self.public)


def parse(payload: Mapping[str, Any]) -> ProvenanceData:
    """Validate regaudit-fhe 0.1.0's provenance JSON shape; InputError naming the offending
    field."""
    if not isinstance(payload, Mapping):
        raise InputError("provenance input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("attributions", "row_ids", "n_buckets", "k"):
        if key not in payload:
            raise InputError("is required", field=key)
    raw = payload["attributions"]
    if not isinstance(raw, list | tuple | np.ndarray) or len(raw) == 0:
        raise InputError("must be a non-empty array of numbers", field="attributions")
    if len(raw) > planning.MAX_ROWS:
        raise InputError(f"more than {planning.MAX_ROWS} rows", field="attributions")
    if not isinstance(raw, np.ndarray):
        for i, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                raise InputError(f"element {i} is not a number", field="attributions")
    attributions = float_array(raw)
    if attributions.ndim != 1 or not np.isfinite(attributions).all():
        raise InputError("must be a flat array of finite numbers", field="attributions")
    ids = payload["row_ids"]
    if not isinstance(ids, list | tuple) or len(ids) != len(attributions):
        raise InputError(f"must list one id per attribution ({len(attributions)})", field="row_ids")
    for i, row_id in enumerate(ids):
        if isinstance(row_id, bool) or not isinstance(row_id, str | int):
            raise InputError(f"element {i} must be a string or an integer", field="row_ids")
        if len(str(row_id)) > MAX_ROW_ID_LENGTH:
            raise InputError(f"element {i} is longer than {MAX_ROW_ID_LENGTH}", field="row_ids")
    if len({str(r) for r in ids}) != len(ids):
        raise InputError("row ids must be unique", field="row_ids")
    n_buckets = check_integer(payload["n_buckets"], name="n_buckets", low=1, high=MAX_BUCKETS)
    buckets = np.fromiter((bucket_of(r, n_buckets) for r in ids), dtype=np.int64, count=len(ids))
    rows = int(np.bincount(buckets, minlength=n_buckets).max())
    peak = float(np.abs(attributions).max())
    scale = payload.get("attribution_scale")
    if scale is None:
        needed = max(peak * rows / MAX_TOTAL, MIN_ATTRIBUTION_SCALE)
        # peak * rows may overflow to inf: refuse before log2/ceil (and any scale above the max)
        if not needed <= MAX_ATTRIBUTION_SCALE:
            raise InputError(
                f"max |a| * rows = {peak * rows:g} needs an attribution_scale above the largest "
                f"allowed, {MAX_ATTRIBUTION_SCALE:g} (2^30)",
                field="attributions",
            )
        scale = 2.0 ** math.ceil(math.log2(needed))
    public = validate_public(
        {"n_buckets": n_buckets, "k": payload["k"], "attribution_scale": scale}
    )
    if peak * rows > public["attribution_scale"] * MAX_TOTAL:
        raise InputError(
            f"max |a| * rows / attribution_scale exceeds {MAX_TOTAL:g}", field="attribution_scale"
        )
    return ProvenanceData(rows=rows, public=public, attributions=attributions, buckets=buckets)


def encode_provenance_columns(
    attributions: FloatArray, buckets: np.ndarray, public: PublicInputs
) -> dict[str, FloatArray]:
    """bucket/<b>: a_i / A for the rows of bucket b (in row order), zero-padded to the largest
    bucket's size. This is where the public bucket masks are applied (docs/specs/provenance.md,
    "Encoding")."""
    n_buckets = public["n_buckets"]
    rows = int(np.bincount(buckets, minlength=n_buckets).max())
    scaled = attributions / public["attribution_scale"]
    columns: dict[str, FloatArray] = {}
    for b in range(n_buckets):
        column = np.zeros(rows)
        members = scaled[buckets == b]
        column[: members.size] = members
        columns[bucket_column(b)] = column
    return columns


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> ProvenanceData:
    """One row per record: the ``attribution`` and ``row_id`` columns; ``n_buckets`` and ``k``
    (and optionally ``attribution_scale``) come from ``overrides``."""
    tables.require_overrides("provenance", PRIMITIVE_TABLE_REQUIRED, overrides)
    table = tables.read_table(path)
    attributions = tables.numbers(
        path, tables.column(path, table, mapping, "attribution"), field_name="attribution"
    )
    row_ids = [str(cell) for cell in tables.column(path, table, mapping, "row_id")]
    return parse({"attributions": attributions, "row_ids": row_ids, **overrides})


__all__ = [
    "ProvenanceData",
    "bucket_of",
    "encode_provenance_columns",
    "load_table",
    "parse",
]
