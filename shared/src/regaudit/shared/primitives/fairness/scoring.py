"""Fairness, client side: scores instead of a binary selection, and labels meaning "unknown".

**Scoring rate** (NYC Local Law 144): where a model gives scores, a category's *scoring rate* is
the share of its rows whose score is above the sample median of ALL scores. The client
computes that median, derives ``y_pred = score > median`` (a deterministic client-side
transform, listed in ``docs/threat-model.md``), encrypts it as the ``y_pred`` column and records
``selection_basis: "score_above_median"`` and ``score_median`` in the public inputs (the median
is an aggregate the evaluator and the regulator see). The circuit is unchanged.

**Unknown category**: ``unknown_labels`` lists group labels meaning "category unknown". A row
whose label -- or, for an intersectional category, any of its component labels (joined by
``" & "``) -- is listed belongs to no category: all its membership columns are 0, so it counts
in ``unknown_rows`` (``unassigned_rows``) and in no category's rates, as LL144 asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness.layout import (
    MAX_UNKNOWN_LABELS,
    SCORE_ABOVE_MEDIAN,
    check_group_name,
    describe,
)
from regaudit.shared.results import INTERSECTION_SEPARATOR

__all__ = [
    "check_unknown_labels",
    "is_unknown",
    "score_array",
    "score_values",
    "selection_above_median",
    "selection_public",
]


def score_array(name: str, values: object) -> FloatArray:
    """Scores (finite numbers, no booleans) as float64; InputError naming ``name`` and the
    first bad element otherwise."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iuf":
            raise InputError(f"must hold numbers, got dtype {values.dtype}", field=name)
        array = values.astype(np.float64).ravel()
    else:
        if not isinstance(values, list | tuple):
            raise InputError(f"must be an array of numbers, got {describe(values)}", field=name)
        for index, item in enumerate(values):
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise InputError(
                    f"element {index} is {describe(item)}, expected a number", field=name
                )
        array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        raise InputError(f"element {index} is {array[index]!r}, not a finite number", field=name)
    return array


def selection_above_median(
    scores: FloatArray, *, field: str = "scores"
) -> tuple[FloatArray, float]:
    """(``y_pred`` = 1.0 where score > the sample median, the median).

    Steps: 1. the sample median of every score (numpy's: the mean of the two middle values for
    an even count); 2. selection = score strictly above it; 3. refuse (InputError naming
    ``field``) a selection that is empty: then no score exceeds the median (e.g. all scores
    equal) and every scoring rate would be 0."""
    if scores.size == 0:
        raise InputError("must not be empty", field=field)
    # 1.
    median = float(np.median(scores))
    # 2.
    selected = (scores > median).astype(np.float64)
    # 3.
    if not selected.any():
        raise InputError(
            f"no score is above the sample median ({median!r}): the scores are all equal or "
            "more than half of them share the highest value, so every scoring rate would be 0",
            field=field,
        )
    return selected, median


def selection_public(median: float) -> dict[str, Any]:
    """The public inputs recording a score-derived selection."""
    return {"selection_basis": SCORE_ABOVE_MEDIAN, "score_median": float(median)}


def score_values(array: Any, *, path: Path, column: str, first_row: int) -> FloatArray:
    """One streamed batch of a scores column (pyarrow: numbers, or text for CSV) as float64.
    InputError naming the file, the (1-based) data row and the column for a missing cell, a
    cell that is not a number, or a non-finite number."""
    import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    def bad(index: int, problem: str) -> InputError:
        row = first_row + index + 1
        return InputError(f"{path}: row {row}, column {column!r}: {problem}", field=column)

    if array.null_count:
        nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False))
        raise bad(int(np.argmax(nulls)), "missing value")
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            array = pc.cast(pc.utf8_trim_whitespace(array), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for index, text in enumerate(array.to_pylist()):
                try:
                    float(text)
                except ValueError:
                    if not text.strip():
                        raise bad(index, "missing value (an empty cell)") from None
                    raise bad(index, f"{text!r} is not a number") from None
            raise
    elif pa.types.is_boolean(kind) or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise bad(0, f"scores must be numbers, not {kind}")
    values = np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        index = int(np.argmin(finite))
        raise bad(index, f"{values[index]!r} is not a finite number")
    return values


def check_unknown_labels(value: object) -> frozenset[str]:
    """The ``unknown_labels`` input: up to MAX_UNKNOWN_LABELS group labels (strings or
    integers, a single one allowed) as their names; InputError naming ``unknown_labels``."""
    items: Iterable[object]
    if isinstance(value, str | int) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise InputError(
            f"must be a list of group labels, got {describe(value)}", field="unknown_labels"
        )
    names: set[str] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise InputError(
                f"labels must be strings or integers, got {describe(item)}",
                field="unknown_labels",
            )
        names.add(check_group_name(str(item), where="unknown_labels"))
    if not names:
        raise InputError("must list at least one label", field="unknown_labels")
    if len(names) > MAX_UNKNOWN_LABELS:
        raise InputError(
            f"at most {MAX_UNKNOWN_LABELS} labels, got {len(names)}", field="unknown_labels"
        )
    return frozenset(names)


def is_unknown(label: str, unknown: frozenset[str]) -> bool:
    """Whether the category ``label`` is unknown: it, or one of its ``" & "``-joined
    components, is listed in ``unknown``."""
    if not unknown:
        return False
    if label in unknown:
        return True
    return any(part in unknown for part in label.split(INTERSECTION_SEPARATOR))
