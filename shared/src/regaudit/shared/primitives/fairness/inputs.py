"""Fairness: the client's half -- validate the input (JSON object, CSV or Parquet table) into
:class:`FairnessData`, whose columns the client encrypts.

Two input forms: regaudit-fhe 0.1.0's binary ``group_a``/``group_b`` membership vectors, or a
categorical ``group`` column (one label per row, optional ``groups``: the expected labels), which
becomes one 0/1 membership column per group. Every error is an InputError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.layout import (
    BINARY_GROUPS,
    DEFAULT_THRESHOLD,
    MAX_GROUPS,
    MIN_GROUPS,
    PRIMITIVE_NAME,
    PRIMITIVE_TABLE_REQUIRED,
    check_group_name,
    check_threshold,
    describe,
    group_column,
    max_rows,
)
from regaudit.shared.primitives.fairness.scoring import (
    check_unknown_labels,
    is_unknown,
    score_array,
    selection_above_median,
    selection_public,
)
from regaudit.shared.primitives.fairness.table_input import (
    FairnessTable,
    load_fairness_table,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array

#: Optional public inputs of the bias audit (see :mod:`.statistics`).
_AUDIT_KEYS = ("reference_group", "exclude_small")
_BINARY_KEYS = frozenset(
    {"y_true", "y_pred", "scores", "group_a", "group_b", "threshold", *_AUDIT_KEYS}
)
_CATEGORICAL_KEYS = frozenset(
    {"y_true", "y_pred", "scores", "group", "groups", "unknown_labels", "threshold", *_AUDIT_KEYS}
)
#: The two ways of giving the selection: exactly one of them.
_SELECTION_KEYS = ("y_pred", "scores")


@dataclass(frozen=True)
class FairnessData:
    """Validated plaintext fairness input: the client's private columns plus public inputs."""

    rows: int
    public: PublicInputs
    y_true: FloatArray = field(repr=False)
    y_pred: FloatArray = field(repr=False)
    #: group name -> 0/1 membership column, in ``public["groups"]`` order
    memberships: dict[str, FloatArray] = field(repr=False)

    @property
    def unassigned_rows(self) -> int:
        """Rows that belong to no group (excluded from every group metric)."""
        assigned = sum(int(column.sum()) for column in self.memberships.values())
        return self.rows - assigned

    def columns(self) -> dict[str, FloatArray]:
        """Every encrypted column, name -> float64 array, in the circuit's column order
        (client-side encoding: one slot per row, see :mod:`.layout`)."""
        result: dict[str, FloatArray] = {"y_true": self.y_true, "y_pred": self.y_pred}
        for name in self.public["groups"]:
            result[group_column(name)] = self.memberships[name]
        return result


def _sequence(name: str, values: object) -> Sequence[Any] | np.ndarray:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputError(f"must be a flat array, got {values.ndim} dimensions", field=name)
    elif not isinstance(values, list | tuple):
        raise InputError(f"must be an array, got {describe(values)}", field=name)
    if len(values) == 0:
        raise InputError("must not be empty", field=name)
    if len(values) > max_rows():
        raise InputError(f"{len(values)} rows exceed the limit of {max_rows()} rows", field=name)
    return values


_NUMBER_TYPES = frozenset({int, float})


def _binary_column(name: str, values: object) -> FloatArray:
    """A 0/1 column as float64; InputError naming ``name`` for anything else."""
    seq = _sequence(name, values)
    if isinstance(seq, np.ndarray):
        if seq.dtype.kind not in "iuf":
            raise InputError(f"must hold numbers 0 or 1, got dtype {seq.dtype}", field=name)
    else:
        types = set(map(type, seq))
        if not types <= _NUMBER_TYPES:
            for index, item in enumerate(seq):
                if type(item) not in _NUMBER_TYPES:
                    raise InputError(
                        f"element {index} is {describe(item)}, expected 0 or 1", field=name
                    )
    array = float_array(seq)
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        raise InputError(f"element {index} is {array[index]!r}, not a finite number", field=name)
    binary = (array == 0.0) | (array == 1.0)
    if not binary.all():
        index = int(np.argmin(binary))
        raise InputError(f"element {index} is {array[index]!r}, expected 0 or 1", field=name)
    return array + 0.0  # normalizes -0.0


def _label_name(name: str, label: object) -> str:
    if isinstance(label, bool | np.bool_):
        raise InputError("group labels must be strings or integers, got a boolean", field=name)
    if isinstance(label, int | np.integer):
        return str(int(label))
    if isinstance(label, str):
        return label
    raise InputError(f"group labels must be strings or integers, got {describe(label)}", field=name)


def _label_names(name: str, values: object) -> list[str]:
    """Categorical labels (str or int) as their names, one per row."""
    seq = _sequence(name, values)
    if isinstance(seq, np.ndarray):
        if seq.dtype.kind in "iu":
            return [str(int(v)) for v in seq]
        if seq.dtype.kind == "U":
            return [str(v) for v in seq]
        if seq.dtype.kind != "O":
            raise InputError(
                f"group labels must be strings or integers, not {seq.dtype}", field=name
            )
    types = set(map(type, seq))
    if types <= {str}:
        return list(seq)
    labels = [_label_name(name, item) for item in seq]
    if str in types:
        # the names of integer labels must not collide with string labels ("1" vs 1)
        as_int = {str(int(v)) for v in seq if not isinstance(v, str)}
        as_str = {v for v in seq if isinstance(v, str)}
        clash = sorted(as_int & as_str)
        if clash:
            raise InputError(
                f"labels {clash[0]!r} (string) and {clash[0]} (integer) would be the same group",
                field=name,
            )
    return labels


def _check_lengths(columns: Mapping[str, Sized]) -> int:
    names = list(columns)
    rows = len(columns[names[0]])
    for other in names[1:]:
        if len(columns[other]) != rows:
            raise InputError(
                f"has {len(columns[other])} values but {names[0]} has {rows}", field=other
            )
    return rows


def parse(payload: Mapping[str, Any]) -> FairnessData:
    """Validate regaudit-fhe 0.1.0's fairness JSON shape (binary ``group_a``/``group_b`` membership
    vectors) or the categorical form (``group``: one label per row, optional ``groups``: the
    expected labels, optional ``unknown_labels``: labels meaning "category unknown"). The
    selection is ``y_pred`` (0/1) or ``scores`` (exactly one; scores become ``score > median``,
    see :mod:`.scoring`). Raises InputError naming the offending field."""
    if not isinstance(payload, Mapping):
        raise InputError(f"fairness input must be a JSON object, got {describe(payload)}")
    categorical = "group" in payload
    allowed = _CATEGORICAL_KEYS if categorical else _BINARY_KEYS
    for key in payload:
        if key not in allowed:
            if categorical and key in BINARY_GROUPS:
                raise InputError("cannot be combined with 'group'", field=str(key))
            raise InputError("unknown field", field=str(key))
    given = [key for key in _SELECTION_KEYS if key in payload]
    if len(given) == 2:
        raise InputError("give either y_pred or scores, not both", field="scores")
    selection = given[0] if given else "y_pred"
    required = (
        ("y_true", selection, "group") if categorical else ("y_true", selection, *BINARY_GROUPS)
    )
    for key in required:
        if key not in payload:
            raise InputError("is required", field=key)
    threshold = check_threshold(payload.get("threshold", DEFAULT_THRESHOLD))

    raw = {key: _sequence(key, payload[key]) for key in required}
    rows = _check_lengths(raw)
    y_true = _binary_column("y_true", raw["y_true"])
    audit_options = {key: payload[key] for key in _AUDIT_KEYS if key in payload}
    if selection == "scores":
        y_pred, median = selection_above_median(score_array("scores", raw["scores"]))
        audit_options.update(selection_public(median))
    else:
        y_pred = _binary_column("y_pred", raw["y_pred"])
    if categorical:
        unknown = (
            check_unknown_labels(payload["unknown_labels"])
            if "unknown_labels" in payload
            else frozenset()
        )
        memberships = _categorical_memberships(raw["group"], payload.get("groups"), unknown)
    else:
        memberships = _binary_memberships(raw["group_a"], raw["group_b"])
    public = FairnessCircuit().validate_public(
        {"threshold": threshold, "groups": list(memberships), **audit_options}
    )
    return FairnessData(
        rows=rows, public=public, y_true=y_true, y_pred=y_pred, memberships=memberships
    )


def _binary_memberships(group_a: object, group_b: object) -> dict[str, FloatArray]:
    a = _binary_column("group_a", group_a)
    b = _binary_column("group_b", group_b)
    both = (a == 1.0) & (b == 1.0)
    if both.any():
        index = int(np.argmax(both))
        raise InputError(
            f"row {index} is a member of both group_a and group_b (at most one allowed)",
            field="group_b",
        )
    for name, column in (("group_a", a), ("group_b", b)):
        if not column.any():
            raise InputError("the group has no members", field=name)
    return {"group_a": a, "group_b": b}


def _categorical_memberships(
    group: object, declared: object, unknown: frozenset[str] = frozenset()
) -> dict[str, FloatArray]:
    """One 0/1 column per group; a row with an ``unknown`` label is in none (:mod:`.scoring`)."""
    labels = _label_names("group", group)
    present = sorted({label for label in set(labels) if not is_unknown(label, unknown)})
    index_of = {name: i for i, name in enumerate(present)}
    inverse = np.fromiter(
        (index_of.get(label, -1) for label in labels), dtype=np.int64, count=len(labels)
    )
    for name in present:
        check_group_name(name, where="group")
    if declared is None:
        groups = present
    else:
        declared_seq = _sequence("groups", declared)
        groups = sorted({_label_name("groups", item) for item in declared_seq})
        if len(groups) != len(declared_seq):
            raise InputError("group labels must be unique", field="groups")
        for name in groups:
            check_group_name(name, where="groups")
        undeclared = sorted(set(present) - set(groups))
        if undeclared:
            raise InputError(f"label {undeclared[0]!r} is not listed in 'groups'", field="group")
        for name in groups:
            if name not in present:
                raise InputError("the group has no members", field=f"group[{name}]")
    if len(groups) < MIN_GROUPS:
        raise InputError(
            f"needs at least {MIN_GROUPS} groups, found {len(groups)}",
            field="group" if declared is None else "groups",
        )
    if len(groups) > MAX_GROUPS:
        raise InputError(
            f"at most {MAX_GROUPS} groups are supported, found {len(groups)}",
            field="group" if declared is None else "groups",
        )
    return {name: (inverse == index_of[name]).astype(np.float64) for name in groups}


# --- tables -----------------------------------------------------------------------------------


def load_fairness_csv(
    path: str | Path,
    *,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    group: str = "group",
    threshold: float = DEFAULT_THRESHOLD,
    groups: Sequence[str] | None = None,
) -> FairnessData:
    """Read a CSV with a header row (delimiter sniffed): two 0/1 columns and one categorical
    group column (labels are read as strings), whole. Column names are mapped with the keyword
    arguments; InputError names the CSV column and row at fault. (The audit streams instead:
    :func:`load_table`.)"""
    table = load_fairness_table(
        Path(path),
        ColumnMapping(y_true=y_true, y_pred=y_pred, group=group),
        threshold=threshold,
        groups=groups,
    )
    return FairnessData(
        rows=table.rows,
        public=table.public,
        y_true=table.y_true,
        y_pred=table.y_pred,
        memberships=table.memberships,
    )


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> FairnessTable:
    """A CSV (delimiter sniffed) or Parquet file with ``y_true``, ``y_pred`` (or ``scores``)
    and ``group`` columns (or, unmapped, regaudit-fhe 0.1.0's ``group_a``/``group_b``), renamed
    by ``mapping``; ``overrides`` may set the ``threshold``, ``reference_group``,
    ``exclude_small`` and ``unknown_labels``. Validated in one streaming pass; the
    returned table streams its chunks (:mod:`.table_input`), so memory stays flat in the rows."""
    tables.require_overrides(PRIMITIVE_NAME, PRIMITIVE_TABLE_REQUIRED, overrides)
    threshold = overrides.get("threshold")
    audit_options = {key: overrides[key] for key in _AUDIT_KEYS if key in overrides}
    unknown = (
        check_unknown_labels(overrides["unknown_labels"])
        if overrides.get("unknown_labels") is not None
        else frozenset()
    )
    return load_fairness_table(
        path, mapping, threshold=threshold, audit_options=audit_options, unknown_labels=unknown
    )


__all__ = [
    "FairnessData",
    "FairnessTable",
    "load_fairness_csv",
    "load_table",
    "parse",
]
