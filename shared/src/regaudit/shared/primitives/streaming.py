"""Streaming reads of a primitive's input table (CSV or Parquet) in bounded batches.

A table is never held whole: :func:`batches` yields the wanted columns a batch at a time
(``pyarrow.csv.open_csv`` with only those columns, or ``ParquetFile.iter_batches``) and the
converters turn one batch into validated numpy arrays, which the primitive lays out its own way
(fairness: :mod:`regaudit.shared.primitives.fairness.table_input`). CSV delimiters are sniffed
(``,`` ``;`` tab ``|``). Every error is an :class:`~regaudit.shared.errors.InputError` naming
the file, the (1-based, data) row and the column; its ``field`` is the table column.

Needs pyarrow (a dependency of regaudit-client; the error says how to install it).
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.tables import JSON_LINES_SUFFIXES, PARQUET_SUFFIXES, ColumnMapping

#: Bytes of a CSV file read to sniff its delimiter.
SNIFF_BYTES = 64 * 1024
#: Delimiters a CSV file may use (sniffed from its first lines; ``,`` when unclear).
CSV_DELIMITERS = ",;\t|"
#: Bytes of CSV text parsed per batch (pyarrow's block size; its read-ahead is a few blocks:
#: about 10 MB at this size, about 40 MB at 1 MiB).
CSV_BLOCK_BYTES = 1 << 18
#: Rows per Parquet batch.
PARQUET_BATCH_ROWS = 1 << 16
#: Cells (case-insensitive, surrounding spaces ignored) that mean "no value" in a number or 0/1
#: column. ``nan`` is not among them: it is a number, refused as not finite.
MISSING_TOKENS = ("", "na", "n/a", "null", "none")
#: Cells read as 1 and 0 in a 0/1 column (case-insensitive).
TRUE_TOKENS = ("true",)
FALSE_TOKENS = ("false",)

__all__ = [
    "CSV_BLOCK_BYTES",
    "CSV_DELIMITERS",
    "MISSING_TOKENS",
    "PARQUET_BATCH_ROWS",
    "SNIFF_BYTES",
    "FileIdentity",
    "TableBatch",
    "TypedReadFailed",
    "batches",
    "binary_values",
    "label_values",
    "missing_column",
    "numpy_values",
    "sniff_delimiter",
    "table_columns",
]


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:  # pragma: no cover - pyarrow is a client dependency
        raise InputError(
            "reading CSV/Parquet tables needs pyarrow (pip install pyarrow)", field="input"
        ) from exc
    return pyarrow


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _is_json_lines(path: Path) -> bool:
    return path.suffix.lower() in JSON_LINES_SUFFIXES


def _json_lines_reader(path: Path) -> Any:
    """pyarrow's streaming JSON Lines reader (types inferred from the first block)."""
    pa = _pyarrow()
    import pyarrow.json as pa_json  # type: ignore[import-not-found,unused-ignore]

    try:
        return pa_json.open_json(path, read_options=pa_json.ReadOptions(block_size=CSV_BLOCK_BYTES))
    except (pa.ArrowInvalid, pa.ArrowIOError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{path} is not readable JSON Lines (one object per line): {exc}", field="input"
        ) from None


def json_lines_table(path: Path) -> Any:
    """A whole JSON Lines file as a pyarrow Table (the primitives that need whole columns)."""
    pa = _pyarrow()
    reader = _json_lines_reader(path)
    try:
        return reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{path} is not readable JSON Lines (one object per line): {exc}", field="input"
        ) from None


def sniff_delimiter(path: Path) -> str:
    """The CSV delimiter of ``path`` (one of :data:`CSV_DELIMITERS`), from its first lines."""
    try:
        with path.open("rb") as handle:
            sample = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", field="input") from None
    text = sample.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    header = lines[0] if lines else ""
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        # one line, or an ambiguous sample: the delimiter the header uses most, else ","
        counts = {d: header.count(d) for d in CSV_DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def table_columns(path: Path) -> list[str]:
    """The column names of a CSV (header row, sniffed delimiter), JSON Lines (the keys of the
    first block's objects) or Parquet file."""
    if _is_json_lines(path):
        return list(_json_lines_reader(path).schema.names)
    if _is_parquet(path):
        _pyarrow()
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises many unrelated types for a bad file
            raise InputError(
                f"{path} is not a readable Parquet file: {exc}", field="input"
            ) from None
    delimiter = sniff_delimiter(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}", field="input") from None
    except (csv.Error, OSError) as exc:
        raise InputError(f"cannot read {path}: {exc}", field="input") from None
    if not header:
        raise InputError(f"{path} is empty", field="input")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: duplicate column names in the header", field="input")
    return header


def missing_column(
    path: Path,
    *,
    column: str,
    field_name: str,
    mapping: ColumnMapping,
    found: Sequence[str],
    error_field: str | None = None,
) -> InputError:
    """The error for a column the mapping (or the field's default name) asked for and the file
    does not have: it names the option that asked for it and lists the columns found. Its
    ``field`` is ``error_field`` (default: the column)."""
    source = mapping.source(field_name)
    origin = f"from {source}" if source else f"the default column of {field_name}"
    listed = ", ".join(found) if found else "(none)"
    return InputError(
        f"column {column!r} ({origin}) not in {path}; columns found: {listed}",
        field=error_field or column,
    )


@dataclass(frozen=True)
class FileIdentity:
    """What identifies one version of a file on disk (a change between passes is refused)."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", field="input") from None
        return cls(size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)

    def check(self, path: Path) -> None:
        """InputError if ``path`` is no longer this version of the file."""
        if FileIdentity.of(path) != self:
            raise InputError(
                f"{path} changed while the audit was reading it; rerun the audit on a file "
                "that does not change",
                field="input",
            )


@dataclass(frozen=True)
class TableBatch:
    """One batch of a table: the 0-based index of its first data row and its columns."""

    first_row: int
    columns: dict[str, Any]

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


class TypedReadFailed(Exception):
    """A typed CSV read (:func:`batches` with ``small_ints``/``labels``) met a cell its type
    cannot hold (a word, a missing value, ``1.0``...): read again as text, whose checks name
    the cell."""


def _csv_types(
    pa: Any, wanted: Sequence[str], small_ints: Sequence[str], labels: Sequence[str]
) -> Any:
    types = dict.fromkeys(wanted, pa.string())
    types.update(dict.fromkeys(small_ints, pa.int8()))
    types.update(dict.fromkeys(labels, pa.dictionary(pa.int32(), pa.string())))
    return types


def batches(
    path: Path,
    columns: Sequence[str],
    *,
    small_ints: Sequence[str] = (),
    labels: Sequence[str] = (),
) -> Iterator[TableBatch]:
    """The ``columns`` of ``path`` a batch at a time (pyarrow arrays: strings for CSV, the
    stored types for Parquet). The columns must exist (check with :func:`table_columns`).

    For CSV, ``small_ints`` columns may be read as int8 and ``labels`` columns as dictionaries
    (the fast path: no text processing in Python's sight); a cell that does not fit raises
    :class:`TypedReadFailed` (read again without them)."""
    pa = _pyarrow()
    wanted = list(dict.fromkeys(columns))
    typed = bool(small_ints or labels) and not (_is_parquet(path) or _is_json_lines(path))
    first = 0
    try:
        if _is_json_lines(path):
            reader: Iterable[Any] = _json_lines_reader(path)
        elif _is_parquet(path):
            import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]

            reader = pq.ParquetFile(path).iter_batches(
                batch_size=PARQUET_BATCH_ROWS, columns=wanted
            )
        else:
            import pyarrow.csv as pa_csv  # type: ignore[import-not-found,unused-ignore]

            reader = pa_csv.open_csv(
                path,
                read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(delimiter=sniff_delimiter(path)),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=wanted,
                    column_types=_csv_types(pa, wanted, small_ints, labels)
                    if typed
                    else dict.fromkeys(wanted, pa.string()),
                    strings_can_be_null=False,
                    null_values=[],
                ),
            )
        for record_batch in reader:
            batch = TableBatch(
                first_row=first,
                columns={name: record_batch.column(name) for name in wanted},
            )
            first += record_batch.num_rows
            yield batch
    except InputError:
        raise
    except (pa.ArrowInvalid, pa.ArrowIOError, UnicodeDecodeError, OSError) as exc:
        if typed and isinstance(exc, pa.ArrowInvalid):
            raise TypedReadFailed(str(exc)) from None
        text = str(exc).replace("CSV parse error: ", "")
        raise InputError(
            f"{path}: cannot read the table after row {first}: {text}", field="input"
        ) from None


def _row_error(
    path: Path, *, column: str, row: int, problem: str
) -> InputError:  # row: 1-based data row
    return InputError(f"{path}: row {row}, column {column!r}: {problem}", field=column)


def numpy_values(array: Any, dtype: Any) -> Any:
    """A null-free primitive pyarrow array as a numpy array of ``dtype``, its buffer read
    directly. (Every conversion between Python or numpy objects and Arrow -- ``to_numpy``,
    ``pa.array``, a Python scalar argument to a compute function -- imports pandas when it is
    installed, a quarter of a second: this module uses none.)"""
    width = np.dtype(dtype).itemsize
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * width)


@functools.cache
def _string_set(values: tuple[str, ...]) -> Any:
    """``values`` as a pyarrow string array, built from buffers (see :func:`numpy_values`)."""
    pa = _pyarrow()
    encoded = [value.encode("utf-8") for value in values]
    offsets = np.cumsum([0, *map(len, encoded)]).astype(np.int32)
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(encoded))
    )


def _first(mask: Any) -> int:
    """Index of the first true value of a boolean numpy array (callers know there is one)."""
    return int(np.argmax(mask))


def _true_positions(mask: Any) -> Any:
    """A null-free pyarrow boolean array as a numpy bool array."""
    pa = _pyarrow()
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    return numpy_values(pc.cast(mask, pa.int8()), np.int8) != 0


def _first_missing(array: Any, lowered: Any | None) -> int | None:
    """Index of the first missing cell: a null, or (``lowered``: the trimmed, lower-cased
    cells of a string column) a missing token."""
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    found: list[int] = []
    if array.null_count:
        found.append(int(np.argmax(_true_positions(array.is_null()))))
    if lowered is not None:
        tokens = pc.is_in(lowered, value_set=_string_set(MISSING_TOKENS))
        if pc.any(tokens).as_py():
            found.append(int(np.argmax(_true_positions(tokens))))
    return min(found) if found else None


def _is_text(kind: Any) -> bool:
    pa = _pyarrow()
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def binary_values(array: Any, *, path: Path, column: str, first_row: int) -> FloatArray:
    """One batch of a 0/1 column as float64: numbers 0/1, or ``true``/``false`` (any case).
    InputError naming the row and the column for a missing value, a cell that is not a number,
    a number that is not finite, or one that is not 0 or 1."""
    pa = _pyarrow()
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    kind = array.type
    text = _is_text(kind)
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(array)) if text else None
    index = _first_missing(array, lowered)
    if index is not None:
        cell = array[index].as_py()
        shown = "an empty cell" if cell is None or not str(cell).strip() else repr(cell)
        raise _row_error(
            path, column=column, row=first_row + index + 1, problem=f"missing value ({shown})"
        )
    if lowered is not None:
        words = pc.is_in(lowered, value_set=_string_set(TRUE_TOKENS + FALSE_TOKENS))
        if pc.any(words).as_py():
            for token, digit in ((TRUE_TOKENS, "1"), (FALSE_TOKENS, "0")):
                pattern = "^(" + "|".join(token) + ")$"
                lowered = pc.replace_substring_regex(lowered, pattern=pattern, replacement=digit)
        try:
            values = numpy_values(pc.cast(lowered, pa.float64()), np.float64)
        except pa.ArrowInvalid:
            for index, cell in enumerate(lowered.to_pylist()):
                try:
                    float(cell)
                except ValueError:
                    raise _row_error(
                        path,
                        column=column,
                        row=first_row + index + 1,
                        problem=f"{array[index].as_py()!r} is not a number "
                        "(0/1 or true/false expected)",
                    ) from None
            raise  # pragma: no cover - arrow and Python disagree on a number
    elif pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = numpy_values(pc.cast(array, pa.float64()), np.float64)
    else:
        raise InputError(f"{path}: column {column!r} holds {kind}, not numbers 0/1", field=column)
    finite = np.isfinite(values)
    if not finite.all():
        index = _first(~finite)
        raise _row_error(
            path,
            column=column,
            row=first_row + index + 1,
            problem=f"{float(values[index])!r} is not a finite number",
        )
    binary = (values == 0.0) | (values == 1.0)
    if not binary.all():
        index = _first(~binary)
        raise _row_error(
            path,
            column=column,
            row=first_row + index + 1,
            problem=f"{float(values[index])!r} is not 0 or 1 (nor true/false)",
        )
    return np.ascontiguousarray(values + 0.0, dtype=np.float64)  # normalizes -0.0


def label_values(array: Any, *, path: Path, column: str, first_row: int) -> Any:
    """One batch of a categorical column as a pyarrow string array: strings (an empty cell is a
    missing value) or integers (their decimal text). InputError naming row and column."""
    pa = _pyarrow()
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    kind = array.type
    if pa.types.is_dictionary(kind):
        return label_values(
            array.dictionary_decode(), path=path, column=column, first_row=first_row
        )
    if not (pa.types.is_integer(kind) or _is_text(kind)):
        raise InputError(
            f"{path}: column {column!r} holds {kind}: group labels must be strings or integers",
            field=column,
        )
    labels = pc.cast(array, pa.string())
    found = [_first_missing(array, None)]
    lengths = numpy_values(pc.utf8_length(pc.utf8_trim_whitespace(labels)), np.int32)
    empty = lengths == 0
    if empty.any():
        found.append(_first(empty))
    first = min((index for index in found if index is not None), default=None)
    if first is not None:
        raise _row_error(
            path, column=column, row=first_row + first + 1, problem="missing value (an empty cell)"
        )
    return labels
