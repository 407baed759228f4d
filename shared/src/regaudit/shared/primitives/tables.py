"""Reading a primitive's input table (CSV or Parquet) for its ``inputs.load_table``.

Generic helpers only: a table is read whole into ``column name -> cells`` and each primitive's
``load_table`` picks its fields through the :class:`ColumnMapping` the command line built.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from regaudit.shared.errors import InputError

JSON_SUFFIXES = (".json",)
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
#: JSON Lines: one JSON object per line, one line per row (streams, unlike a .json document)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


class ColumnMapping(Mapping[str, "str | tuple[str, ...]"]):
    """Which table columns hold a primitive's fields: ``field -> column`` (a tuple of columns
    for a multi-column field such as calibration's ``scores``). A field not given is read from
    the column of its own name."""

    def __init__(self, **fields: str | tuple[str, ...] | None) -> None:
        self._fields: dict[str, str | tuple[str, ...]] = {
            name: value for name, value in fields.items() if value is not None
        }
        self._sources: dict[str, str] = {}

    def with_sources(self, sources: Mapping[str, str]) -> ColumnMapping:
        """This mapping, remembering which option set each field (``y_true -> "--y-true"``),
        so that an error about a column names the option that asked for it."""
        copy = ColumnMapping(**self._fields)
        copy._sources = {**self._sources, **sources}
        return copy

    def source(self, field_name: str) -> str | None:
        """The option that set ``field_name``'s column (None: not recorded, or not mapped)."""
        return self._sources.get(field_name)

    def __getitem__(self, name: str) -> str | tuple[str, ...]:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"ColumnMapping({self._fields!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnMapping) and other._fields == self._fields

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._fields.items())))

    def column(self, field_name: str) -> str:
        """The column holding ``field_name`` (its own name unless mapped)."""
        value = self._fields.get(field_name, field_name)
        if isinstance(value, tuple):
            raise InputError(f"{field_name} names several columns", field=field_name)
        return value

    def columns(self, field_name: str) -> tuple[str, ...] | None:
        """The columns of a multi-column field, or None when not mapped."""
        value = self._fields.get(field_name)
        if value is None:
            return None
        return value if isinstance(value, tuple) else (value,)

    def as_options(self) -> dict[str, str | tuple[str, ...]]:
        """The mapped fields (what the user gave)."""
        return dict(self._fields)


def read_table(path: Path) -> dict[str, list[Any]]:
    """A CSV (header row, delimiter sniffed; cells as strings) or Parquet file as column
    name -> values, whole (the primitives whose layout needs whole columns; fairness streams,
    :mod:`regaudit.shared.primitives.streaming`)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet(path)
    if path.suffix.lower() in JSON_LINES_SUFFIXES:
        return read_json_lines(path)
    from regaudit.shared.primitives.streaming import sniff_delimiter

    delimiter = sniff_delimiter(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
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


def read_json_lines(path: Path) -> dict[str, list[Any]]:
    """A JSON Lines file (one object per row) as column name -> values, whole (needs pyarrow)."""
    from regaudit.shared.primitives.streaming import json_lines_table

    table = json_lines_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def read_parquet(path: Path) -> dict[str, list[Any]]:
    """A Parquet file as column name -> values (needs pyarrow)."""
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


def column(
    path: Path, table: Mapping[str, list[Any]], mapping: ColumnMapping, field_name: str
) -> list[Any]:
    """The cells of ``field_name``'s column; InputError naming the field if it is missing."""
    name = mapping.column(field_name)
    if name not in table:
        from regaudit.shared.primitives.streaming import missing_column

        raise missing_column(
            path,
            column=name,
            field_name=field_name,
            mapping=mapping,
            found=list(table),
            error_field=field_name,
        )
    return table[name]


def numbers(path: Path, values: list[Any], *, field_name: str) -> list[float | int]:
    """Cells as numbers (integral values become ints, so 0/1 columns stay 0/1)."""
    from regaudit.shared.primitives.streaming import MISSING_TOKENS

    result: list[float | int] = []
    for index, cell in enumerate(values):
        if cell is None or (isinstance(cell, str) and cell.strip().lower() in MISSING_TOKENS):
            shown = "an empty cell" if cell is None or not cell.strip() else repr(cell)
            raise InputError(f"{path}: row {index + 1}: missing value ({shown})", field=field_name)
        if isinstance(cell, bool):
            raise InputError(f"{path}: row {index + 1} is {cell!r}, not a number", field=field_name)
        try:
            value = float(cell)
        except (TypeError, ValueError):
            raise InputError(
                f"{path}: row {index + 1} is {cell!r}, not a number", field=field_name
            ) from None
        result.append(int(value) if value.is_integer() and abs(value) < 2**53 else value)
    return result


def require_overrides(
    primitive: str, required: tuple[str, ...], overrides: Mapping[str, Any]
) -> None:
    """A table cannot hold these public inputs: the command line must give them."""
    for key in required:
        if key not in overrides:
            raise InputError(
                f"a {primitive} table does not hold {key!r}: give it on the command line "
                f"(--{key.replace('_', '-')})",
                field=key,
            )


__all__ = [
    "CSV_SUFFIXES",
    "JSON_LINES_SUFFIXES",
    "JSON_SUFFIXES",
    "PARQUET_SUFFIXES",
    "ColumnMapping",
    "column",
    "numbers",
    "read_parquet",
    "read_table",
    "require_overrides",
]
