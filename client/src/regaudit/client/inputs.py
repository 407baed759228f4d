"""Reading an audit's ``--input`` file: the seed's JSON shape, CSV or Parquet.

The file type is taken from the suffix (``.json``, ``.csv``, ``.parquet``/``.pq``). JSON files
hold the seed library's input object for the primitive (for fairness: ``y_true``, ``y_pred``,
``group_a``/``group_b`` or a categorical ``group``, ``threshold``). CSV and Parquet files hold
one row per record; ``ColumnMapping`` names the columns. Every error is an
:class:`~regaudit.shared.errors.InputError` whose message names the file and whose ``field``
names the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError, RegauditError

#: Largest input file read (bytes); larger audits should come as CSV/Parquet in several runs.
MAX_INPUT_FILE_BYTES = 4 * 1024**3
#: Largest JSON input file (JSON is parsed into Python lists, which is memory-hungry).
MAX_JSON_INPUT_BYTES = 512 * 1024**2

#: Primitives of the design; those without a registered loader are rejected as unavailable.
DESIGN_PRIMITIVES = (
    "fairness",
    "provenance",
    "concordance",
    "calibration",
    "drift",
    "disagreement",
)
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
    """Which CSV/Parquet columns hold the fairness fields (None = the default name)."""

    y_true: str | None = None
    y_pred: str | None = None
    group: str | None = None

    def as_options(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class PrimitiveLoader:
    """How to read one primitive's input."""

    circuit_id: str
    parse_json: Callable[[Mapping[str, Any]], AuditData]
    load_table: Callable[[Path, ColumnMapping, float | None], AuditData]


# --- fairness ---------------------------------------------------------------------------------


def _fairness_parse(payload: Mapping[str, Any]) -> AuditData:
    from regaudit.shared.circuits.fairness import parse_fairness_input

    return parse_fairness_input(payload)


def _fairness_table(path: Path, mapping: ColumnMapping, threshold: float | None) -> AuditData:
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


LOADERS: dict[str, PrimitiveLoader] = {
    "fairness": PrimitiveLoader("fairness", _fairness_parse, _fairness_table),
}


def available_primitives() -> list[str]:
    """Primitives this client can audit."""
    return sorted(LOADERS)


def get_loader(primitive: str) -> PrimitiveLoader:
    """The loader of ``primitive``; InputError (field ``primitive``) if unknown/unavailable."""
    loader = LOADERS.get(primitive)
    if loader is not None:
        return loader
    if primitive in DESIGN_PRIMITIVES:
        raise InputError(
            f"primitive {primitive!r} is not available in this client "
            f"(available: {', '.join(available_primitives())})",
            field="primitive",
        )
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


def load_audit_input(
    primitive: str,
    path: str | Path,
    *,
    threshold: float | None = None,
    mapping: ColumnMapping | None = None,
) -> AuditData:
    """Read and validate ``path`` for ``primitive``.

    ``threshold`` overrides the file's threshold; ``mapping`` names CSV/Parquet columns (for
    JSON it is an error to give one). Raises InputError naming the file and the field.
    """
    loader = get_loader(primitive)
    file_path = Path(path)
    mapping = mapping or ColumnMapping()
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
            if threshold is not None:
                payload["threshold"] = threshold
            return loader.parse_json(payload)
        if suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
            return loader.load_table(file_path, mapping, threshold)
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
    "AuditData",
    "ColumnMapping",
    "DESIGN_PRIMITIVES",
    "LOADERS",
    "available_primitives",
    "get_loader",
    "load_audit_input",
    "read_json_object",
]
