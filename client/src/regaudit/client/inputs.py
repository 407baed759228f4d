"""Reading an audit's ``--input`` file: regaudit-fhe 0.1.0's JSON shape, CSV, JSON Lines or
Parquet.

The file type is taken from the suffix (``.json``, ``.csv``, ``.jsonl``/``.ndjson``,
``.parquet``/``.pq``). JSON files hold regaudit-fhe 0.1.0's input object for the primitive (its
``<primitive>.input`` schema); CSV, JSON Lines and Parquet files hold one row per record, a
:class:`ColumnMapping` names the columns (the primitive's ``table_fields``), and public
inputs a table cannot hold (its ``table_required``) come from ``overrides``. What each
primitive reads is its own business: this module only dispatches to the registered
primitive's ``inputs`` role module (:mod:`regaudit.shared.primitives`). Every error is an
:class:`~regaudit.shared.errors.InputError` whose message names the file and whose ``field``
names the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regaudit.shared import schemas
from regaudit.shared.errors import InputError, RegauditError
from regaudit.shared.primitives import AuditData, ColumnMapping, get_primitive, primitive_names
from regaudit.shared.primitives.tables import (
    CSV_SUFFIXES,
    JSON_LINES_SUFFIXES,
    JSON_SUFFIXES,
    PARQUET_SUFFIXES,
)

#: Largest input file read (CSV/Parquet).
MAX_INPUT_FILE_BYTES = 4 * 1024**3
#: Largest JSON input file read (parsed whole).
MAX_JSON_INPUT_BYTES = 512 * 1024**2


def available_primitives() -> list[str]:
    """Primitives this client can audit (every registered one)."""
    return primitive_names()


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
    for drift); ``overrides`` sets other public inputs (the primitive's ``overrides``, e.g.
    ``{"n_buckets": 16, "k": 3}``), which tables cannot hold; ``mapping`` names CSV/Parquet
    columns (for JSON it is an error to give one). Raises InputError naming the file and the
    field.
    """
    descriptor = get_primitive(primitive)
    inputs = descriptor.inputs()
    file_path = Path(path)
    mapping = mapping or ColumnMapping()
    extra: dict[str, Any] = dict(overrides or {})
    allowed = descriptor.overrides
    for key in extra:
        if key not in allowed:
            raise InputError(
                f"{primitive} has no public input {key!r} to override", field=key.replace("_", "-")
            )
    if threshold is not None:
        threshold_key = descriptor.threshold_key
        if threshold_key is None:
            raise InputError(f"{primitive} has no threshold", field="threshold")
        extra[threshold_key] = threshold
    fields = descriptor.table_fields
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
            data = inputs.parse(payload)
            schemas.validate_document(f"{primitive}.input", payload)
            return data
        if suffix in CSV_SUFFIXES + JSON_LINES_SUFFIXES + PARQUET_SUFFIXES:
            return inputs.load_table(file_path, mapping, extra)
    except RegauditError as exc:
        if str(file_path) in exc.message:
            raise
        raise type(exc)(f"{file_path}: {exc.message}", field=exc.field) from exc
    known = ", ".join(JSON_SUFFIXES + CSV_SUFFIXES + JSON_LINES_SUFFIXES + PARQUET_SUFFIXES)
    raise InputError(
        f"{file_path}: unknown input format {suffix or '(no suffix)'!r} (use {known})",
        field="input",
    )


__all__ = [
    "MAX_INPUT_FILE_BYTES",
    "MAX_JSON_INPUT_BYTES",
    "AuditData",
    "ColumnMapping",
    "available_primitives",
    "load_audit_input",
    "read_json_object",
]
