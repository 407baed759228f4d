"""Reading an audit's ``--input`` file: regaudit-fhe 0.1.0's JSON shape, CSV or Parquet.

The file type is taken from the suffix (``.json``, ``.csv``, ``.parquet``/``.pq``). JSON files
hold regaudit-fhe 0.1.0's input object for the primitive (fairness: ``y_true``, ``y_pred``,
``group_a``/``group_b`` or ``group``, ``threshold``; concordance: ``risk``, ``time``, ``event``;
drift: ``p``, ``q``, ``drift_threshold``; disagreement: ``model_polynomials``, ``test_input``,
``threshold``; calibration: ``scores``, ``quantiles`` [, ``labels``]; provenance:
``attributions``, ``row_ids``, ``n_buckets``, ``k``). CSV and Parquet files hold one row per
record; ``ColumnMapping`` names the columns (:data:`TABLE_FIELDS`), and public inputs a table
cannot hold (:data:`TABLE_REQUIRED`) come from ``overrides``. Every primitive whose circuit is
registered has a loader. Every error is an :class:`~regaudit.shared.errors.InputError` whose
message names the file and whose ``field`` names the offending field.
"""

from __future__ import annotations

import csv
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from regaudit.shared import schemas
from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError, RegauditError

#: Largest input file read (bytes); larger audits should come as CSV/Parquet in several runs.
MAX_INPUT_FILE_BYTES = 4 * 1024**3
#: Largest JSON input file (JSON is parsed into Python lists, which is memory-hungry).
MAX_JSON_INPUT_BYTES = 512 * 1024**2

JSON_SUFFIXES = (".json",)
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


class AuditData(Protocol):
    """A validated audit input: encrypted columns plus public inputs."""

    @property
    def rows(self) -> int: ...

    @property
    def public(self) -> dict[str, Any]: ...

    def columns(self) -> dict[str, FloatArray]: ...


@dataclass(frozen=True)
class ColumnMapping:
    """Which CSV/Parquet columns hold a primitive's fields (None = the default name, which is
    the field name itself). Only the fields of the audited primitive may be given."""

    y_true: str | None = None
    y_pred: str | None = None
    group: str | None = None
    risk: str | None = None
    time: str | None = None
    event: str | None = None
    p: str | None = None
    q: str | None = None
    test_input: str | None = None
    label: str | None = None
    attribution: str | None = None
    row_id: str | None = None
    #: calibration: the K score columns, in class order
    scores: tuple[str, ...] | None = None

    def as_options(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


#: Table fields (ColumnMapping attributes) each primitive reads.
TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "fairness": ("y_true", "y_pred", "group"),
    "concordance": ("risk", "time", "event"),
    "drift": ("p", "q"),
    "disagreement": ("test_input",),
    "calibration": ("scores", "label"),
    "provenance": ("attribution", "row_id"),
}
#: Public inputs each primitive accepts as command-line overrides (JSON key -> meaning).
OVERRIDES: dict[str, tuple[str, ...]] = {
    "fairness": ("threshold",),
    "concordance": (),
    "drift": ("drift_threshold", "bin_width", "w1_range"),
    "disagreement": ("threshold", "input_bound", "model_polynomials"),
    "calibration": ("quantiles", "score_range"),
    "provenance": ("n_buckets", "k", "attribution_scale"),
}
#: Public inputs a table (CSV/Parquet) cannot hold and the command line must give.
TABLE_REQUIRED: dict[str, tuple[str, ...]] = {
    "disagreement": ("model_polynomials",),
    "calibration": ("quantiles",),
    "provenance": ("n_buckets", "k"),
}


@dataclass(frozen=True)
class PrimitiveLoader:
    """How to read one primitive's input."""

    circuit_id: str
    parse_json: Callable[[Mapping[str, Any]], AuditData]
    #: (file, column mapping, public-input overrides) -> validated data
    load_table: Callable[[Path, ColumnMapping, dict[str, Any]], AuditData]


# --- fairness ---------------------------------------------------------------------------------


def _fairness_parse(payload: Mapping[str, Any]) -> AuditData:
    from regaudit.shared.circuits.fairness import parse_fairness_input

    return parse_fairness_input(payload)


def _fairness_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    threshold = overrides.get("threshold")
    if path.suffix.lower() in CSV_SUFFIXES:
        from regaudit.shared.circuits.fairness import load_fairness_csv

        options: dict[str, Any] = dict(mapping.as_options())
        if threshold is not None:
            options["threshold"] = threshold
        return load_fairness_csv(path, **options)
    table = _read_parquet(path)
    names = {"y_true": "y_true", "y_pred": "y_pred", "group": "group"}
    names.update(mapping.as_options())
    payload: dict[str, Any] = {}
    for field_name in ("y_true", "y_pred"):
        column = names[field_name]
        if column not in table:
            raise InputError(f"{path}: column {column!r} not found", field=field_name)
        payload[field_name] = table[column]
    if names["group"] in table:
        payload["group"] = table[names["group"]]
    elif "group_a" in table and "group_b" in table and mapping.group is None:
        payload["group_a"], payload["group_b"] = table["group_a"], table["group_b"]
    else:
        raise InputError(f"{path}: column {names['group']!r} not found", field="group")
    if threshold is not None:
        payload["threshold"] = threshold
    return _fairness_parse(payload)


# --- the other primitives ---------------------------------------------------------------------


def _read_table(path: Path) -> dict[str, list[Any]]:
    """A CSV (header row; cells as strings) or Parquet file as column name -> values."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path} is empty", field="input")
            if len(set(header)) != len(header):
                raise InputError(f"{path}: duplicate column names in the header", field="input")
            columns: dict[str, list[Any]] = {name: [] for name in header}
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise InputError(
                        f"{path} line {line}: {len(row)} cells, the header has {len(header)}",
                        field="input",
                    )
                for name, cell in zip(header, row, strict=True):
                    columns[name].append(cell)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}", field="input") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: {exc}", field="input") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}", field="input") from exc
    return columns


def _column(
    path: Path, table: Mapping[str, list[Any]], mapping: ColumnMapping, field_name: str
) -> list[Any]:
    name = getattr(mapping, field_name) or field_name
    if name not in table:
        raise InputError(f"{path}: column {name!r} not found", field=field_name)
    return table[name]


def _numbers(path: Path, values: list[Any], *, field_name: str) -> list[float | int]:
    """Cells as numbers (integral values become ints, so 0/1 columns stay 0/1)."""
    numbers: list[float | int] = []
    for index, cell in enumerate(values):
        if isinstance(cell, bool) or cell is None:
            raise InputError(f"{path}: row {index + 1} is {cell!r}, not a number", field=field_name)
        try:
            value = float(cell)
        except (TypeError, ValueError):
            raise InputError(
                f"{path}: row {index + 1} is {cell!r}, not a number", field=field_name
            ) from None
        numbers.append(int(value) if value.is_integer() and abs(value) < 2**53 else value)
    return numbers


def _parse(primitive: str, payload: Mapping[str, Any]) -> AuditData:
    parser: Callable[[Mapping[str, Any]], AuditData] = getattr(
        importlib.import_module(f"regaudit.shared.circuits.{primitive}"),
        f"parse_{primitive}_input",
    )
    return parser(payload)


def _require_overrides(primitive: str, overrides: Mapping[str, Any]) -> None:
    for key in TABLE_REQUIRED.get(primitive, ()):
        if key not in overrides:
            raise InputError(
                f"a {primitive} table does not hold {key!r}: give it on the command line "
                f"(--{key.replace('_', '-')})",
                field=key,
            )


def _concordance_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    table = _read_table(path)
    payload = {
        name: _numbers(path, _column(path, table, mapping, name), field_name=name)
        for name in ("risk", "time", "event")
    }
    return _parse("concordance", payload)


def _drift_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    """One histogram per column (one row per bin): ``p`` and ``q``."""
    table = _read_table(path)
    payload: dict[str, Any] = {
        name: _numbers(path, _column(path, table, mapping, name), field_name=name)
        for name in ("p", "q")
    }
    return _parse("drift", {**payload, **overrides})


def _disagreement_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    _require_overrides("disagreement", overrides)
    table = _read_table(path)
    values = _numbers(path, _column(path, table, mapping, "test_input"), field_name="test_input")
    return _parse("disagreement", {"test_input": values, **overrides})


_SCORE_COLUMN = re.compile(r"^score_(\d+)$")


def _calibration_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    """One row per point: score columns (default ``score_0``, ``score_1``... in class order)
    and, for a batch, the true class in ``label``. One row without labels is a single point."""
    _require_overrides("calibration", overrides)
    table = _read_table(path)
    if mapping.scores:
        names = list(mapping.scores)
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
    rows = [_numbers(path, table[name], field_name="scores") for name in names]  # column-major
    label_name = mapping.label or "label"
    payload: dict[str, Any] = dict(overrides)
    if label_name in table:
        payload["scores"] = [list(point) for point in zip(*rows, strict=True)]
        payload["labels"] = _numbers(path, table[label_name], field_name="label")
    elif mapping.label is not None:
        raise InputError(f"{path}: column {label_name!r} not found", field="label")
    elif len(rows[0]) == 1:
        payload["scores"] = [column[0] for column in rows]
    else:
        raise InputError(
            f"{path}: a batch of {len(rows[0])} points needs a {label_name!r} column",
            field="label",
        )
    return _parse("calibration", payload)


def _provenance_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> AuditData:
    _require_overrides("provenance", overrides)
    table = _read_table(path)
    attributions = _numbers(
        path, _column(path, table, mapping, "attribution"), field_name="attribution"
    )
    row_ids = [str(cell) for cell in _column(path, table, mapping, "row_id")]
    return _parse("provenance", {"attributions": attributions, "row_ids": row_ids, **overrides})


def _json_parser(primitive: str) -> Callable[[Mapping[str, Any]], AuditData]:
    def parse(payload: Mapping[str, Any]) -> AuditData:
        return _parse(primitive, payload)

    return parse


_TABLE_LOADERS: dict[str, Callable[[Path, ColumnMapping, dict[str, Any]], AuditData]] = {
    "concordance": _concordance_table,
    "drift": _drift_table,
    "disagreement": _disagreement_table,
    "calibration": _calibration_table,
    "provenance": _provenance_table,
}


def _build_loaders() -> dict[str, PrimitiveLoader]:
    loaders = {"fairness": PrimitiveLoader("fairness", _fairness_parse, _fairness_table)}
    for primitive, table_loader in _TABLE_LOADERS.items():
        loaders[primitive] = PrimitiveLoader(primitive, _json_parser(primitive), table_loader)
    return loaders


#: primitive -> loader, for every primitive.
LOADERS: dict[str, PrimitiveLoader] = _build_loaders()


def available_primitives() -> list[str]:
    """Primitives this client can audit."""
    return sorted(LOADERS)


def get_loader(primitive: str) -> PrimitiveLoader:
    """The loader of ``primitive``; InputError (field ``primitive``) if unknown."""
    loader = LOADERS.get(primitive)
    if loader is not None:
        return loader
    raise InputError(
        f"unknown primitive {primitive!r} (available: {', '.join(available_primitives())})",
        field="primitive",
    )


# --- files ------------------------------------------------------------------------------------


def _check_file(path: Path, *, limit: int) -> None:
    if not path.exists():
        raise InputError(f"input file {path} does not exist", field="input")
    if not path.is_file():
        raise InputError(f"input {path} is not a regular file", field="input")
    size = path.stat().st_size
    if size > limit:
        raise InputError(
            f"input file {path} is {size} bytes, over the {limit} limit", field="input"
        )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InputError(f"duplicate key {key!r}", field=key)
        result[key] = value
    return result


def read_json_object(path: Path) -> dict[str, Any]:
    """Parse a JSON input object. NaN/Infinity literals are kept (as floats) so that the
    primitive's validation can reject them naming the field they occur in."""
    _check_file(path, limit=MAX_JSON_INPUT_BYTES)
    try:
        text = path.read_text(encoding="utf-8")
        payload = json.loads(text, object_pairs_hook=_reject_duplicates)
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", field=exc.field) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}", field="input") from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}", field="input") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}", field="input") from exc
    if not isinstance(payload, dict):
        raise InputError(f"{path} must hold a JSON object", field="input")
    return payload


def _read_parquet(path: Path) -> dict[str, list[Any]]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise InputError(
            f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or convert to CSV",
            field="input",
        ) from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises many unrelated types for a bad file
        raise InputError(f"{path} is not a readable Parquet file: {exc}", field="input") from exc
    return {name: table.column(name).to_pylist() for name in table.column_names}


#: The JSON key ``threshold=`` of :func:`load_audit_input` sets, per primitive.
THRESHOLD_KEYS: dict[str, str] = {
    "fairness": "threshold",
    "disagreement": "threshold",
    "drift": "drift_threshold",
}


def load_audit_input(
    primitive: str,
    path: str | Path,
    *,
    threshold: float | None = None,
    mapping: ColumnMapping | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AuditData:
    """Read and validate ``path`` for ``primitive``.

    ``threshold`` overrides the file's breach threshold (``threshold``, or ``drift_threshold``
    for drift); ``overrides`` sets other public inputs (keys of :data:`OVERRIDES`, e.g.
    ``{"n_buckets": 16, "k": 3}``), which tables cannot hold; ``mapping`` names CSV/Parquet
    columns (for JSON it is an error to give one). Raises InputError naming the file and the
    field.
    """
    loader = get_loader(primitive)
    file_path = Path(path)
    mapping = mapping or ColumnMapping()
    extra: dict[str, Any] = dict(overrides or {})
    allowed = OVERRIDES.get(primitive, ())
    for key in extra:
        if key not in allowed:
            raise InputError(
                f"{primitive} has no public input {key!r} to override", field=key.replace("_", "-")
            )
    if threshold is not None:
        threshold_key = THRESHOLD_KEYS.get(primitive)
        if threshold_key is None:
            raise InputError(f"{primitive} has no threshold", field="threshold")
        extra[threshold_key] = threshold
    fields = TABLE_FIELDS.get(primitive, ())
    for option in mapping.as_options():
        if option not in fields:
            raise InputError(
                f"{primitive} tables have no {option!r} column (columns: {', '.join(fields)})",
                field=option.replace("_", "-"),
            )
    suffix = file_path.suffix.lower()
    _check_file(file_path, limit=MAX_INPUT_FILE_BYTES)
    try:
        if suffix in JSON_SUFFIXES:
            if mapping.as_options():
                option = next(iter(mapping.as_options()))
                raise InputError(
                    "column mapping options apply to CSV/Parquet input, not JSON",
                    field=option.replace("_", "-"),
                )
            payload = read_json_object(file_path)
            payload.update(extra)
            # 1. the parser's element and cross-field checks (the most specific messages),
            # 2. the primitive's JSON Schema (names the field by JSON pointer)
            data = loader.parse_json(payload)
            schemas.validate_document(f"{primitive}.input", payload)
            return data
        if suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
            return loader.load_table(file_path, mapping, extra)
    except RegauditError as exc:
        if str(file_path) in exc.message:
            raise
        raise type(exc)(f"{file_path}: {exc.message}", field=exc.field) from exc
    known = ", ".join(JSON_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise InputError(
        f"{file_path}: unknown input format {suffix or '(no suffix)'!r} (use {known})",
        field="input",
    )


__all__ = [
    "LOADERS",
    "OVERRIDES",
    "TABLE_FIELDS",
    "TABLE_REQUIRED",
    "THRESHOLD_KEYS",
    "AuditData",
    "ColumnMapping",
    "available_primitives",
    "get_loader",
    "load_audit_input",
    "read_json_object",
]
