"""Columns of in-memory tables: pandas DataFrames, pyarrow Tables, dicts of arrays and numpy
structured arrays, read into the plain arrays a primitive's ``parse`` takes.

The DataFrame API (:mod:`regaudit.client.frames`) names columns by keyword (``y_true="label"``);
:func:`table_column` fetches one, and every error is an
:class:`~regaudit.shared.errors.InputError` that names the keyword (``field``) and, for a missing
column, lists the columns the table has. A missing value (None, NaN, pandas' NA) is called a
missing value with its row; booleans become 0/1. Nothing is written anywhere: the arrays go
straight to the primitive's validation and then to encryption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from regaudit.shared.errors import InputError

#: Most column names a "not found" message lists.
MAX_LISTED_COLUMNS = 20


def column_names(table: object) -> list[str]:
    """The column names of ``table`` (DataFrame, pyarrow Table, mapping, structured array)."""
    if isinstance(table, Mapping):
        return [str(name) for name in table]
    if isinstance(table, np.ndarray):
        return list(table.dtype.names or ())
    names = getattr(table, "column_names", None)  # pyarrow.Table
    if isinstance(names, list):
        return [str(name) for name in names]
    columns = getattr(table, "columns", None)  # pandas.DataFrame (and look-alikes)
    if columns is not None and not isinstance(table, str | bytes):
        return [str(name) for name in columns]
    raise InputError(
        f"expected a pandas DataFrame, a pyarrow Table, a dict of arrays or a numpy structured "
        f"array, got {type(table).__name__}",
        field="data",
    )


def _describe_columns(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:MAX_LISTED_COLUMNS])
    more = len(names) - MAX_LISTED_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "") if names else "none"


def _raw_column(table: object, name: str) -> Any:
    if isinstance(table, Mapping):
        return table[name]
    if isinstance(table, np.ndarray):
        return table[name]
    getter = getattr(table, "column", None)
    if callable(getter) and isinstance(getattr(table, "column_names", None), list):
        return getter(name)  # pyarrow ChunkedArray
    return table[name]  # type: ignore[index]


def _to_numpy(values: Any) -> np.ndarray[Any, Any]:
    """A flat numpy array of ``values`` (pandas Series, pyarrow arrays, sequences)."""
    to_numpy = getattr(values, "to_numpy", None)
    if callable(to_numpy):
        try:
            array = np.asarray(to_numpy(zero_copy_only=False))  # pyarrow
        except TypeError:
            array = np.asarray(to_numpy())  # pandas
    else:
        array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{array.ndim} dimensions")
    return array


def table_column(table: object, name: str, *, option: str, kind: str) -> np.ndarray[Any, Any]:
    """Column ``name`` of ``table`` for the keyword ``option``, as a numpy array.

    ``kind``: ``"binary"`` (0/1; booleans become 0/1), ``"number"`` (finite floats) or
    ``"label"`` (strings or integers, e.g. a sensitive feature). Raises InputError naming
    ``option``: a missing column (listing the columns found), a missing value (its row), a
    value of the wrong kind."""
    names = column_names(table)
    if not isinstance(name, str):
        raise InputError(
            f"must be a column name (a string), got {type(name).__name__}", field=option
        )
    if name not in names:
        raise InputError(
            f"column {name!r} not found (columns: {_describe_columns(names)})", field=option
        )
    try:
        array = _to_numpy(_raw_column(table, name))
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {name!r} is not a flat column: {exc}", field=option) from None
    _check_missing(array, name=name, option=option)
    if kind == "label":
        return _labels(array, name=name, option=option)
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind in "OU":
        array = _object_numbers(array, name=name, option=option, kind=kind)
    if array.dtype.kind not in "iuf":
        raise InputError(
            f"column {name!r} must hold numbers, not {array.dtype.name} values", field=option
        )
    return array


#: Text a binary column may hold for 1 and 0 (case-insensitive).
BINARY_WORDS: dict[str, int] = {"true": 1, "false": 0, "1": 1, "0": 0}


def _object_numbers(
    array: np.ndarray[Any, Any], *, name: str, option: str, kind: str
) -> np.ndarray[Any, Any]:
    """Numbers from an object or text column: booleans (and, for a binary column, the words
    true/false) as 1/0, numeric text as its number; InputError naming the first other value."""
    values: list[float] = []
    for row, value in enumerate(array.tolist()):
        if isinstance(value, bool):
            values.append(float(value))
            continue
        if isinstance(value, str) and kind == "binary" and value.strip().lower() in BINARY_WORDS:
            values.append(float(BINARY_WORDS[value.strip().lower()]))
            continue
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            expected = "0/1 or true/false" if kind == "binary" else "a number"
            shown = repr(value) if isinstance(value, str) else type(value).__name__
            raise InputError(
                f"column {name!r} holds {shown[:40]} at row {row}, expected {expected}",
                field=option,
            ) from None
    return np.asarray(values, dtype=np.float64)


def _check_missing(array: np.ndarray[Any, Any], *, name: str, option: str) -> None:
    if array.dtype.kind == "f":
        missing = np.isnan(array)
    elif array.dtype.kind == "O":
        missing = np.fromiter(
            (v is None or (isinstance(v, float) and v != v) or _is_pandas_na(v) for v in array),
            dtype=bool,
            count=len(array),
        )
    else:
        return
    if missing.any():
        row = int(np.argmax(missing))
        count = int(missing.sum())
        raise InputError(
            f"column {name!r} has a missing value at row {row} ({count} missing in all); "
            "drop or fill missing values first",
            field=option,
        )


def _is_pandas_na(value: object) -> bool:
    return type(value).__name__ in {"NAType", "NaTType"}


def _labels(array: np.ndarray[Any, Any], *, name: str, option: str) -> np.ndarray[Any, Any]:
    """Group labels: strings, or integers (integral floats, booleans as "True"/"False")."""
    if array.dtype.kind in "iuU":
        return array
    if array.dtype.kind == "b":
        return array.astype(str)
    if array.dtype.kind == "f":
        if not np.all(array == np.round(array)):
            raise InputError(
                f"column {name!r} holds non-integer numbers; group labels are strings or integers",
                field=option,
            )
        return array.astype(np.int64)
    if array.dtype.kind == "O":
        return np.asarray(
            [str(v) if isinstance(v, bool | np.bool_) else v for v in array], dtype=object
        )
    raise InputError(
        f"column {name!r} holds {array.dtype.name} values; group labels are strings or integers",
        field=option,
    )


def column_list(columns: str | Sequence[str], *, option: str) -> list[str]:
    """A column name or a sequence of names, as a list (InputError naming ``option``)."""
    if isinstance(columns, str):
        return [columns]
    names = list(columns)
    if not names or not all(isinstance(c, str) for c in names):
        raise InputError("must be a column name or a list of column names", field=option)
    return names


def row_count(table: object) -> int:
    """Rows of ``table`` (InputError if it is empty)."""
    names = column_names(table)
    if not names:
        raise InputError("the table has no columns", field="data")
    return len(_to_numpy(_raw_column(table, names[0])))


__all__ = ["MAX_LISTED_COLUMNS", "column_list", "column_names", "row_count", "table_column"]
