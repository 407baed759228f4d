"""Fairness tables (CSV or Parquet) read as a stream: client memory does not grow with the rows.

:func:`load_fairness_table` makes one streaming pass over the needed columns only
(:mod:`regaudit.shared.primitives.streaming`): it validates every cell (missing values, numbers,
0/1 or ``true``/``false``, group labels), counts the rows and collects the group labels, which
are public inputs. As it goes it writes each row as three bytes (``y_true``, ``y_pred``, a group
code) to an anonymous temporary file (``O_TMPFILE``: it has no name and disappears with the
process). The returned :class:`FairnessTable` holds no rows in memory: every
:meth:`FairnessTable.iter_chunks` (the encryption, the client's output check, the commitments)
reads that snapshot chunk by chunk, so all of them see exactly the rows that were validated even
if the input file changes meanwhile, and none parses the file again. Errors name the file, the
data row (1-based) and the column; ``field`` is the table column.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import streaming
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.layout import (
    BINARY_GROUPS,
    DEFAULT_THRESHOLD,
    MAX_GROUPS,
    MIN_GROUPS,
    check_group_name,
    group_column,
    max_rows,
)
from regaudit.shared.primitives.fairness.scoring import (
    is_unknown,
    score_values,
    selection_above_median,
    selection_public,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.results import INTERSECTION_SEPARATOR

__all__ = ["ROW_BYTES", "FairnessTable", "load_fairness_table"]

#: Bytes per row in the snapshot: y_true, y_pred, group code.
ROW_BYTES = 3
#: The group code of a row in no group (binary form: neither group_a nor group_b).
_NO_GROUP = 255
#: Rows read from the snapshot at a time by :meth:`FairnessTable.columns`.
_READ_ROWS = 1 << 16


class _Snapshot:
    """The validated rows, :data:`ROW_BYTES` each, in an anonymous temporary file."""

    def __init__(self) -> None:
        try:
            # closed by close() or when garbage-collected; never named on disk
            self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot create a temporary file: {exc}", field="input") from None
        self.rows = 0

    def append(self, codes: Any) -> None:
        try:
            self._file.write(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
        except OSError as exc:
            raise InputError(f"cannot write the temporary file: {exc}", field="input") from None
        self.rows += len(codes)

    def seal(self) -> None:
        self._file.flush()

    def read(self, start: int, count: int) -> Any:
        """Rows ``start .. start + count`` as a (count, ROW_BYTES) uint8 array (thread-safe:
        ``pread``)."""
        data = os.pread(self._file.fileno(), count * ROW_BYTES, start * ROW_BYTES)
        if len(data) != count * ROW_BYTES:
            raise InputError("the temporary copy of the input was truncated", field="input")
        return np.frombuffer(data, dtype=np.uint8).reshape(count, ROW_BYTES)

    def set_column(self, index: int, values: Any) -> None:
        """Overwrite byte ``index`` of every row with ``values`` (one per row, uint8)."""
        self._file.flush()
        for start in range(0, self.rows, _READ_ROWS):
            part = self.read(start, min(_READ_ROWS, self.rows - start)).copy()
            part[:, index] = values[start : start + len(part)]
            os.pwrite(self._file.fileno(), part.tobytes(), start * ROW_BYTES)

    def close(self) -> None:
        self._file.close()


class FairnessTable:
    """A validated fairness table: ``rows`` and ``public`` are known, the rows live in a
    temporary snapshot and are read a chunk at a time by :meth:`iter_chunks`. ``columns()`` and
    the ``y_true``/``y_pred``/``memberships`` attributes build whole columns (tests, the
    plaintext reference); the audit itself only streams."""

    def __init__(
        self,
        *,
        path: Path,
        rows: int,
        public: PublicInputs,
        assigned: int,
        snapshot: _Snapshot,
        positions: Any,
    ) -> None:
        self.path = path
        self._rows = rows
        self._public = public
        self._assigned = assigned
        self._snapshot = snapshot
        #: group code -> position in ``public["groups"]`` (-1: no group)
        self._positions = positions

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def public(self) -> PublicInputs:
        return self._public

    @property
    def unassigned_rows(self) -> int:
        """Rows that belong to no group (excluded from every group metric)."""
        return self._rows - self._assigned

    def column_names(self) -> list[str]:
        """The encrypted columns in the circuit's order."""
        return ["y_true", "y_pred", *(group_column(name) for name in self._public["groups"])]

    def iter_chunks(self, chunk_rows: int) -> Iterator[dict[str, FloatArray]]:
        """The encrypted columns as zero-padded chunks of ``chunk_rows`` slots (read from the
        snapshot; padding rows are in no group)."""
        for start in range(0, self._rows, chunk_rows):
            yield self._chunk(start, min(chunk_rows, self._rows - start), chunk_rows)

    def _chunk(self, start: int, count: int, width: int) -> dict[str, FloatArray]:
        codes = self._snapshot.read(start, count)
        chunk = {name: np.zeros(width, dtype=np.float64) for name in self.column_names()}
        chunk["y_true"][:count] = codes[:, 0]
        chunk["y_pred"][:count] = codes[:, 1]
        position = self._positions[codes[:, 2]]
        for k, name in enumerate(self._public["groups"]):
            chunk[group_column(name)][:count] = position == k
        return chunk

    def columns(self) -> dict[str, FloatArray]:
        """Every encrypted column whole (holds all rows: not used by the audit)."""
        parts = [
            self._chunk(start, count, count)
            for start in range(0, self._rows, _READ_ROWS)
            for count in [min(_READ_ROWS, self._rows - start)]
        ]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    @property
    def y_true(self) -> FloatArray:
        return self.columns()["y_true"]

    @property
    def y_pred(self) -> FloatArray:
        return self.columns()["y_pred"]

    @property
    def memberships(self) -> dict[str, FloatArray]:
        whole = self.columns()
        return {name: whole[group_column(name)] for name in self._public["groups"]}

    def close(self) -> None:
        """Drop the snapshot (also done when the table is garbage-collected)."""
        self._snapshot.close()


#: Separates several group columns in the ``group`` column option (``--group sex,race``): one
#: category per combination of their labels, joined by INTERSECTION_SEPARATOR (" & ", as the
#: DataFrame API names intersectional groups).
GROUP_COLUMN_SEPARATOR = ","


def group_columns(spec: str) -> list[str]:
    """The table columns named by the ``group`` option: one, or several separated by commas."""
    if GROUP_COLUMN_SEPARATOR not in spec:
        return [spec]
    return [part.strip() for part in spec.split(GROUP_COLUMN_SEPARATOR)]


def _read_columns(columns: dict[str, str]) -> list[str]:
    """The table columns to read: the fields' columns, the group option split into its parts."""
    read: list[str] = []
    for name, column in columns.items():
        for part in group_columns(column) if name == "group" else [column]:
            if part not in read:
                read.append(part)
    return read


def _intersection_labels(
    path: Path, spec: str, batch: streaming.TableBatch
) -> tuple[Any, list[str]]:
    """One batch's intersectional labels: each group column's label, joined per row."""
    import pyarrow.compute as pc  # type: ignore[import-not-found,unused-ignore]

    arrays = [
        streaming.label_values(
            batch.columns[column], path=path, column=column, first_row=batch.first_row
        )
        for column in group_columns(spec)
    ]
    encoded = pc.binary_join_element_wise(*arrays, INTERSECTION_SEPARATOR).dictionary_encode()
    indices = streaming.numpy_values(encoded.indices, np.int32)
    return indices, [str(value) for value in encoded.dictionary.to_pylist()]


def _convert(
    path: Path, columns: dict[str, str], batch: streaming.TableBatch, *, categorical: bool
) -> tuple[dict[str, FloatArray], tuple[Any, list[str]] | None]:
    """One batch: the 0/1 columns as float64 and, for a categorical table, the labels as
    (indices into a dictionary, the dictionary's label texts)."""
    part: dict[str, FloatArray] = {}
    binary_fields = [name for name in ("y_true", "y_pred") if name in columns]
    if "scores" in columns:
        part["scores"] = score_values(
            batch.columns[columns["scores"]], path=path, column=columns["scores"],
            first_row=batch.first_row,
        )  # fmt: skip
    for field_name in binary_fields if categorical else [*binary_fields, *BINARY_GROUPS]:
        column = columns[field_name]
        part[field_name] = streaming.binary_values(
            batch.columns[column], path=path, column=column, first_row=batch.first_row
        )
    if not categorical:
        both = (part["group_a"] == 1.0) & (part["group_b"] == 1.0)
        if both.any():
            row = batch.first_row + int(np.argmax(both)) + 1
            raise InputError(
                f"{path}: row {row} is a member of both {columns['group_a']!r} and "
                f"{columns['group_b']!r} (at most one allowed)",
                field=columns["group_b"],
            )
        return part, None
    column = columns["group"]
    if len(group_columns(column)) > 1:
        return part, _intersection_labels(path, column, batch)
    array = batch.columns[column]
    if _is_dictionary(array):  # the typed CSV read: labels already encoded
        dictionary = [str(value) for value in array.dictionary.to_pylist()]
        if all(name.strip() for name in dictionary):
            return part, (streaming.numpy_values(array.indices, np.int32), dictionary)
    labels = streaming.label_values(array, path=path, column=column, first_row=batch.first_row)
    encoded = labels.dictionary_encode()
    indices = streaming.numpy_values(encoded.indices, np.int32)
    dictionary = [str(value) for value in encoded.dictionary.to_pylist()]
    return part, (indices, dictionary)


def _is_dictionary(array: Any) -> bool:
    import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]

    return bool(pa.types.is_dictionary(array.type))


def _choose_columns(
    path: Path, mapping: ColumnMapping, found: Sequence[str]
) -> tuple[dict[str, str], bool]:
    """The table column of each field, and whether the table is categorical (a group column)
    or in regaudit-fhe 0.1.0's binary form (``group_a``/``group_b``). The selection is the
    ``y_pred`` column, or the ``scores`` column when that is mapped (or, unmapped, when there is
    a ``scores`` column and no ``y_pred`` column); not both."""
    if "scores" in mapping and "y_pred" in mapping:
        raise InputError("give either y_pred or scores, not both", field="scores")
    scored = "scores" in mapping or (
        "y_pred" not in mapping and "y_pred" not in found and "scores" in found
    )
    selection = "scores" if scored else "y_pred"
    columns = {name: mapping.column(name) for name in ("y_true", selection, "group")}
    for name in ("y_true", selection):
        if columns[name] not in found:
            raise streaming.missing_column(
                path, column=columns[name], field_name=name, mapping=mapping, found=found
            )
    if columns["group"] in found:
        return columns, True
    parts = group_columns(columns["group"])
    if len(parts) > 1:
        for part in parts:
            if part not in found:
                raise streaming.missing_column(
                    path, column=part, field_name="group", mapping=mapping, found=found
                )
        return columns, True
    if all(name in found for name in BINARY_GROUPS) and "group" not in mapping:
        del columns["group"]
        columns.update({name: name for name in BINARY_GROUPS})
        return columns, False
    raise streaming.missing_column(
        path, column=columns["group"], field_name="group", mapping=mapping, found=found
    )


def _group_codes(
    part: dict[str, FloatArray],
    labels: tuple[Any, list[str]] | None,
    label_ids: dict[str, int],
    *,
    column: str,
    unknown: frozenset[str] = frozenset(),
) -> Any:
    """One batch's group codes: a label's id in first-seen order (categorical; an ``unknown``
    label: :data:`_NO_GROUP`), or 0 / 1 / :data:`_NO_GROUP` for group_a / group_b / neither
    (binary)."""
    if labels is None:
        codes = np.full(len(part["y_true"]), _NO_GROUP, dtype=np.uint8)
        codes[part["group_a"] == 1.0] = 0
        codes[part["group_b"] == 1.0] = 1
        return codes
    indices, dictionary = labels
    known = [name for name in dictionary if not is_unknown(name, unknown)]
    for name in known:
        label_ids.setdefault(name, len(label_ids))
    if len(label_ids) > MAX_GROUPS:
        raise InputError(f"at most {MAX_GROUPS} groups are supported, found more", field=column)
    lookup = np.array([label_ids.get(name, _NO_GROUP) for name in dictionary], dtype=np.uint8)
    return lookup[indices] if len(lookup) else np.zeros(0, dtype=np.uint8)


def load_fairness_table(
    path: Path,
    mapping: ColumnMapping,
    *,
    threshold: float | None = None,
    groups: Sequence[str] | None = None,
    audit_options: Mapping[str, Any] | None = None,
    unknown_labels: frozenset[str] = frozenset(),
) -> FairnessTable:
    """Validate a fairness CSV/Parquet file in one streaming pass and snapshot its rows (see
    the module); ``groups``: the expected group labels (optional); ``audit_options``: the bias
    audit's optional public inputs (``reference_group``, ``exclude_small``); ``unknown_labels``:
    labels of rows in no category (:mod:`.scoring`). A ``scores`` column becomes ``y_pred`` =
    score > the median of all scores (the scores are held in memory once, 8 bytes per row, to
    take it). Raises InputError naming the row and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist", field="input")
    identity = streaming.FileIdentity.of(path)
    found = streaming.table_columns(path)
    columns, categorical = _choose_columns(path, mapping, found)
    try:
        # CSV: first the typed read (0/1 as int8, labels as dictionaries); a cell it cannot
        # hold sends the pass to the text read, whose checks name that cell
        scan = _scan(path, columns, categorical=categorical, typed=True, unknown=unknown_labels)
    except streaming.TypedReadFailed:
        scan = _scan(path, columns, categorical=categorical, typed=False, unknown=unknown_labels)
    snapshot, label_ids, label_counts, member_counts, scores = scan
    options = dict(audit_options or {})
    group_field = columns.get("group", "")
    try:
        identity.check(path)
        if snapshot.rows == 0:
            raise InputError(f"{path} has no data rows", field="input")
        if scores is not None:
            selected, median = selection_above_median(
                np.concatenate(scores), field=columns["scores"]
            )
            del scores
            snapshot.set_column(1, selected.astype(np.uint8))
            options.update(selection_public(median))
        snapshot.seal()
        if categorical:
            counts = {name: int(label_counts[code]) for name, code in label_ids.items()}
            chosen = _categorical_groups(group_field, counts, groups)
            positions = np.full(256, -1, dtype=np.int64)
            for name, code in label_ids.items():
                positions[code] = chosen.index(name)
            assigned = sum(counts.values())
        else:
            for name in BINARY_GROUPS:
                if member_counts[name] == 0:
                    raise InputError(f"{path}: the group has no members", field=columns[name])
            chosen = list(BINARY_GROUPS)
            positions = np.full(256, -1, dtype=np.int64)
            positions[0], positions[1] = 0, 1
            assigned = sum(member_counts.values())
        public = FairnessCircuit().validate_public(
            {
                "threshold": DEFAULT_THRESHOLD if threshold is None else threshold,
                "groups": chosen,
                **options,
            }
        )
    except BaseException:
        snapshot.close()
        raise
    return FairnessTable(
        path=path,
        rows=snapshot.rows,
        public=public,
        assigned=assigned,
        snapshot=snapshot,
        positions=positions,
    )


def _scan(
    path: Path,
    columns: dict[str, str],
    *,
    categorical: bool,
    typed: bool,
    unknown: frozenset[str] = frozenset(),
) -> tuple[_Snapshot, dict[str, int], Any, dict[str, int], list[FloatArray] | None]:
    """The validating pass: every batch checked and appended to a new snapshot; returns it
    with the label ids (first-seen order), the rows per label id (categorical) or per binary
    group, and the scores' batches (a scores column; its y_pred bytes are 0 until set)."""
    snapshot = _Snapshot()
    label_ids: dict[str, int] = {}
    label_counts = np.zeros(MAX_GROUPS + 1, dtype=np.int64)
    member_counts = dict.fromkeys(BINARY_GROUPS, 0)
    limit = max_rows()
    group_field = columns.get("group", "")
    scores: list[FloatArray] | None = [] if "scores" in columns else None
    binary = [columns[name] for name in ("y_true", "y_pred") if name in columns]
    if not categorical:
        binary += [columns[name] for name in BINARY_GROUPS]
    try:
        for batch in streaming.batches(
            path,
            _read_columns(columns),
            small_ints=binary if typed else (),
            labels=group_columns(group_field) if typed and categorical else (),
        ):
            part, labels = _convert(path, columns, batch, categorical=categorical)
            if snapshot.rows + batch.rows > limit:
                raise InputError(f"{path}: more than {limit} rows", field="input")
            codes = _group_codes(part, labels, label_ids, column=group_field, unknown=unknown)
            if categorical:
                label_counts += np.bincount(codes, minlength=MAX_GROUPS + 1)[: MAX_GROUPS + 1]
            else:
                for name in BINARY_GROUPS:
                    member_counts[name] += int(part[name].sum())
            rows = np.empty((batch.rows, ROW_BYTES), dtype=np.uint8)
            rows[:, 0] = part["y_true"]
            if scores is None:
                rows[:, 1] = part["y_pred"]
            else:
                rows[:, 1] = 0
                scores.append(part["scores"])
            rows[:, 2] = codes
            snapshot.append(rows)
    except BaseException:
        snapshot.close()
        raise
    return snapshot, label_ids, label_counts, member_counts, scores


def _categorical_groups(
    column: str, counts: dict[str, int], declared: Sequence[str] | None
) -> list[str]:
    """The groups (sorted labels), checked as :func:`.inputs.parse` checks them."""
    present = sorted(counts)
    for name in present:
        check_group_name(name, where=column)
    if declared is None:
        chosen = present
    else:
        chosen = sorted({str(item) for item in declared})
        if len(chosen) != len(declared):
            raise InputError("group labels must be unique", field="groups")
        for name in chosen:
            check_group_name(name, where="groups")
        undeclared = sorted(set(present) - set(chosen))
        if undeclared:
            raise InputError(f"label {undeclared[0]!r} is not listed in 'groups'", field=column)
        for name in chosen:
            if name not in counts:
                raise InputError("the group has no members", field=f"{column}[{name}]")
    if len(chosen) < MIN_GROUPS:
        raise InputError(
            f"needs at least {MIN_GROUPS} groups, found {len(chosen)}",
            field=column if declared is None else "groups",
        )
    if len(chosen) > MAX_GROUPS:
        raise InputError(
            f"at most {MAX_GROUPS} groups are supported, found {len(chosen)}",
            field=column if declared is None else "groups",
        )
    return chosen
