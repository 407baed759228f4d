"""The fairness primitive: per-group confusion counts under encryption, metrics in the clear.

Every input column is encrypted: ``y_true``, ``y_pred`` and one 0/1 membership column per group.
The evaluator computes, for every group k, four slot-wise accumulators

* ``n_k   = g_k``                          (group size),
* ``pred_k = g_k * y_pred``                (predicted positives),
* ``pos_k  = g_k * y_true``                (actual positives),
* ``tp_k   = (g_k * y_true) * y_pred``     (true positives),

adds them over all chunks, completes each slot-sum under encryption and packs the 4K totals into
ONE output vector (slots ``s`` with ``s mod W == 4k + j``, times a public power-of-two output
scale; every other slot is zeroed by the mask multiplication; see section 2 for why).
The regulator decrypts, rounds the counts to integers (they are exact counts: anything further
than 0.25 from an integer cannot be CKKS noise) and computes every rate from the exact integer
counts, so the metrics equal fairlearn's. A rate whose denominator is 0 is undefined (``None``),
never 0 (regaudit-fhe 0.1.0 reports 0).

Depth: ``tp`` needs two multiplications, the output mask one more: depth 3, so the planner picks
``ckks-n8192-d3-v1``. Outputs are counts x output scale <= 2^27, inside that profile's 2^28
headroom.

The module has the four parts every primitive has, in this order:

1. input schema and validation (client side),
2. client-side encoding (column layout; chunking is generic, see ``base.iter_chunks``),
3. the circuit (evaluator side),
4. decoding of the decrypted aggregates into the report (regulator side),

followed by the plaintext oracle (:func:`fairness_reference`) and a plaintext dry run
(:func:`evaluate_plaintext`).
"""

from __future__ import annotations

import csv
import math
import unicodedata
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V, strided_sum
from regaudit.shared.circuits.base import Plan, PublicInputs, iter_chunks
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    InputError,
    NoiseBoundError,
)
from regaudit.shared.profiles import ParameterProfile

#: Threshold used when the input does not give one (regaudit-fhe 0.1.0's quick-start value).
DEFAULT_THRESHOLD = 0.1
#: Fewest and most groups one audit may compare.
MIN_GROUPS = 2
MAX_GROUPS = 64
#: Longest group name (characters).
MAX_GROUP_NAME_LENGTH = 128
#: Aggregates per group, in output-slot order.
QUANTITIES: tuple[str, ...] = ("count", "predicted_positives", "positives", "true_positives")
#: A decrypted count further than this from an integer (or a zeroed slot further than this from
#: 0) cannot be CKKS noise.
COUNT_TOLERANCE = 0.25
#: Impact ratios below this breach the four-fifths rule.
FOUR_FIFTHS = Fraction(4, 5)

#: Most rows one fairness audit may have: beyond this the CKKS error of the output mask on
#: ckks-n8192-d3-v1 (30-bit scale) comes too close to the rounding tolerance (see section 2).
MAX_FAIRNESS_ROWS = 2**25

#: Names of the two groups in the binary form (regaudit-fhe 0.1.0's).
BINARY_GROUPS: tuple[str, str] = ("group_a", "group_b")
_BINARY_KEYS = frozenset({"y_true", "y_pred", "group_a", "group_b", "threshold"})
_CATEGORICAL_KEYS = frozenset({"y_true", "y_pred", "group", "groups", "threshold"})
_COLUMN_PREFIX = "group/"


def _max_rows() -> int:
    """The row limit (read at call time so it follows ``planning.MAX_ROWS``)."""
    return min(planning.MAX_ROWS, MAX_FAIRNESS_ROWS)


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


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
        """Every encrypted column, name -> float64 array, in the circuit's column order."""
        result: dict[str, FloatArray] = {"y_true": self.y_true, "y_pred": self.y_pred}
        for name in self.public["groups"]:
            result[group_column(name)] = self.memberships[name]
        return result


def group_column(name: str) -> str:
    """Column name of group ``name``'s membership vector."""
    return _COLUMN_PREFIX + name


def _describe(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return "a nested value"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _check_threshold(value: object, *, name: str = "threshold") -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number in [0, 1], got {_describe(value)}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    if not 0.0 <= number <= 1.0:
        raise InputError(f"must be in [0, 1], got {number!r}", field=name)
    return number


def _sequence(name: str, values: object) -> Sequence[Any] | np.ndarray:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputError(f"must be a flat array, got {values.ndim} dimensions", field=name)
    elif not isinstance(values, list | tuple):
        raise InputError(f"must be an array, got {_describe(values)}", field=name)
    if len(values) == 0:
        raise InputError("must not be empty", field=name)
    if len(values) > _max_rows():
        raise InputError(f"{len(values)} rows exceed the limit of {_max_rows()} rows", field=name)
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
                        f"element {index} is {_describe(item)}, expected 0 or 1", field=name
                    )
    array = np.asarray(seq, dtype=np.float64)
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
    raise InputError(
        f"group labels must be strings or integers, got {_describe(label)}", field=name
    )


def _check_group_name(name: str, *, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise InputError("group names must be non-empty strings", field=where)
    if len(name) > MAX_GROUP_NAME_LENGTH:
        raise InputError(f"group name longer than {MAX_GROUP_NAME_LENGTH} characters", field=where)
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError(f"group name {name!r} contains control characters", field=where)
    return name


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


def parse_fairness_input(payload: Mapping[str, Any]) -> FairnessData:
    """Validate regaudit-fhe 0.1.0's fairness JSON shape (binary ``group_a``/``group_b`` membership
    vectors) or the categorical form (``group``: one label per row, optional ``groups``: the
    expected labels). Raises InputError naming the offending field."""
    if not isinstance(payload, Mapping):
        raise InputError(f"fairness input must be a JSON object, got {_describe(payload)}")
    categorical = "group" in payload
    allowed = _CATEGORICAL_KEYS if categorical else _BINARY_KEYS
    for key in payload:
        if key not in allowed:
            if categorical and key in BINARY_GROUPS:
                raise InputError("cannot be combined with 'group'", field=str(key))
            raise InputError("unknown field", field=str(key))
    required = (
        ("y_true", "y_pred", "group") if categorical else ("y_true", "y_pred", *BINARY_GROUPS)
    )
    for key in required:
        if key not in payload:
            raise InputError("is required", field=key)
    threshold = _check_threshold(payload.get("threshold", DEFAULT_THRESHOLD))

    raw = {key: _sequence(key, payload[key]) for key in required}
    rows = _check_lengths(raw)
    y_true = _binary_column("y_true", raw["y_true"])
    y_pred = _binary_column("y_pred", raw["y_pred"])
    if categorical:
        memberships = _categorical_memberships(raw["group"], payload.get("groups"))
    else:
        memberships = _binary_memberships(raw["group_a"], raw["group_b"])
    public = FairnessCircuit().validate_public(
        {"threshold": threshold, "groups": list(memberships)}
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


def _categorical_memberships(group: object, declared: object) -> dict[str, FloatArray]:
    labels = _label_names("group", group)
    present = sorted(set(labels))
    index_of = {name: i for i, name in enumerate(present)}
    inverse = np.fromiter((index_of[label] for label in labels), dtype=np.int64, count=len(labels))
    for name in present:
        _check_group_name(name, where="group")
    if declared is None:
        groups = present
    else:
        declared_seq = _sequence("groups", declared)
        groups = sorted({_label_name("groups", item) for item in declared_seq})
        if len(groups) != len(declared_seq):
            raise InputError("group labels must be unique", field="groups")
        for name in groups:
            _check_group_name(name, where="groups")
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


def _parse_csv_number(text: str, *, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"line {line}: {text!r} is not a number", field=column) from None
    return value


def load_fairness_csv(
    path: str | Path,
    *,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    group: str = "group",
    threshold: float = DEFAULT_THRESHOLD,
    groups: Sequence[str] | None = None,
) -> FairnessData:
    """Read a CSV with a header row: two 0/1 columns and one categorical group column (labels are
    read as strings). Column names are mapped with the keyword arguments; InputError names the
    CSV column (and line) at fault."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", field="input") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path} is empty", field="input") from None
        except csv.Error as exc:
            raise InputError(f"{path}: {exc}", field="input") from None
        positions: dict[str, int] = {}
        for role, header_name in (("y_true", y_true), ("y_pred", y_pred), ("group", group)):
            if header_name not in header:
                raise InputError(
                    f"column {header_name!r} is missing from {path.name}", field=header_name
                )
            positions[role] = header.index(header_name)
        truth: list[float] = []
        pred: list[float] = []
        labels: list[str] = []
        limit = _max_rows()
        try:
            for line, record in enumerate(reader, start=2):
                if not record:
                    continue
                if len(record) != len(header):
                    raise InputError(
                        f"line {line} has {len(record)} fields, the header has {len(header)}",
                        field="input",
                    )
                truth.append(
                    _parse_csv_number(record[positions["y_true"]], column=y_true, line=line)
                )
                pred.append(
                    _parse_csv_number(record[positions["y_pred"]], column=y_pred, line=line)
                )
                labels.append(record[positions["group"]])
                if len(labels) > limit:
                    raise InputError(f"more than {limit} rows", field="input")
        except csv.Error as exc:
            raise InputError(f"{path}: {exc}", field="input") from None
    if not labels:
        raise InputError(f"{path.name} has no data rows", field="input")
    payload: dict[str, Any] = {
        "y_true": truth,
        "y_pred": pred,
        "group": labels,
        "threshold": threshold,
    }
    if groups is not None:
        payload["groups"] = list(groups)
    try:
        return parse_fairness_input(payload)
    except InputError as exc:
        # name the CSV column, not the JSON key
        mapping = {"y_true": y_true, "y_pred": y_pred, "group": group}
        column: str | None = mapping.get(exc.field or "", exc.field)
        if exc.field and exc.field.startswith("group["):
            column = group + exc.field[len("group") :]
        raise InputError(exc.message, field=column) from None


# ============================================================================================
# 2. Client-side encoding: column layout
# ============================================================================================
#
# One slot per row. Columns (in upload order): y_true, y_pred, then one 0/1 membership column
# "group/<name>" per group in public["groups"] order. Chunks of ``plan.chunk_rows`` rows are
# zero-padded (base.iter_chunks): a padded slot belongs to no group and contributes nothing.
#
# Output: ONE vector. With W = block_width(K) (the smallest power of two >= 4K, at least 8), the
# aggregate j of group k, multiplied by the public output scale S = output_scale(rows), sits in
# every slot s with s mod W == 4k + j; slots with s mod W >= 4K are zero.
#
# Why this layout (measured on ckks-n8192-d3-v1): multiplying a vector by an encoded 0/1 mask adds
# an error of about 2.4e-8 x (the value in each slot) to every slot, because the mask's encoding is
# only as precise as its 30-bit scale. Masking after a complete slot-sum (every slot = the total
# T) therefore errs by ~1e-7 T per slot, and packing 4K masked totals piles up 4K such errors:
# counts were off by 0.57 at T = 2^20 (16 groups), so counts beyond ~2^18 were not exact. Here the
# mask is applied after a partial slot-sum of width W (slot values ~ T W / N, not T), the masked
# vectors are added and the remaining slot-sum (steps W .. N/2) is done once on the sum; and the
# mask carries the factor S (a power of two keeping rows x S <= 2^27, inside the profile's 2^28
# headroom), which shrinks the mask's relative error by S. Rotation steps are still exactly a full
# slot sum's: the powers of the profile's slot-sum radix below the slot count.
# Measured worst count error (3 groups or 64 groups, balanced): <= 0.01 up to 2^24 rows, ~0.17 at
# 2^26 rows (S = 1): hence MAX_FAIRNESS_ROWS = 2^25, where every count is exact with margin.

#: Target bound for |output| = rows x output scale (the D3 profile allows 2^28; 2x margin).
OUTPUT_MAGNITUDE_TARGET = 2**27
#: Smallest block width (slots) of the output layout.
MIN_BLOCK_WIDTH = 8


def block_width(groups: int) -> int:
    """W: the smallest power of two >= 4 x groups (at least MIN_BLOCK_WIDTH)."""
    width = MIN_BLOCK_WIDTH
    while width < 4 * groups:
        width *= 2
    return width


def output_scale(rows: int) -> int:
    """S: the largest power of two with rows x S <= OUTPUT_MAGNITUDE_TARGET (at least 1)."""
    scale = 1
    while rows * scale * 2 <= OUTPUT_MAGNITUDE_TARGET:
        scale *= 2
    return scale


def output_slot(group_index: int, quantity: str) -> int:
    """First output slot of ``quantity`` (one of QUANTITIES) of the ``group_index``-th group
    (it repeats every ``block_width`` slots)."""
    return 4 * group_index + QUANTITIES.index(quantity)


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


class FairnessCircuit:
    """Per-group counts of rows, predicted positives, positives and true positives. Depth 3."""

    circuit_id: ClassVar[str] = "fairness"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"threshold": number in [0, 1], "groups": [2..64 unique names]}`` (exactly)."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - {"threshold", "groups"})
        if unknown:
            raise InputError("unknown public input", field=str(unknown[0]))
        for key in ("threshold", "groups"):
            if key not in public:
                raise InputError("is required", field=key)
        threshold = _check_threshold(public["threshold"])
        groups = public["groups"]
        if not isinstance(groups, list | tuple):
            raise InputError(
                f"must be a list of group names, got {_describe(groups)}", field="groups"
            )
        if not MIN_GROUPS <= len(groups) <= MAX_GROUPS:
            raise InputError(
                f"needs {MIN_GROUPS} to {MAX_GROUPS} groups, got {len(groups)}", field="groups"
            )
        for index, name in enumerate(groups):
            _check_group_name(name, where=f"groups[{index}]")
        if len(set(groups)) != len(groups):
            raise InputError("group names must be unique", field="groups")
        return {"threshold": threshold, "groups": [str(name) for name in groups]}

    def columns(self, public: PublicInputs) -> list[str]:
        return ["y_true", "y_pred", *(group_column(name) for name in public["groups"])]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """Counts are at most ``rows``; the output carries them times the output scale. Refuses
        (InputError, field ``rows``) audits beyond MAX_FAIRNESS_ROWS, whose counts would not be
        exact."""
        if rows > _max_rows():
            raise InputError(
                f"{rows} rows exceed the fairness limit of {_max_rows()} rows (beyond it CKKS "
                "noise could make counts inexact)",
                field="rows",
            )
        return float(rows * output_scale(rows))

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Per group: [g, g*y_pred, g*y_true, (g*y_true)*y_pred] at levels +0, +1, +1, +2."""
        missing = [name for name in self.columns(public) if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        y_true = inputs["y_true"]
        y_pred = inputs["y_pred"]
        # y_pred raised one level once per chunk, shared by every group's true-positive product
        y_pred_deep = backend.align(y_pred, y_pred.level + 1)
        accumulators: list[V] = []
        for name in public["groups"]:
            member = inputs[group_column(name)]
            positives = backend.multiply(member, y_true)
            accumulators += [
                member,
                backend.multiply(member, y_pred),
                positives,
                backend.multiply(positives, y_pred_deep),
            ]
        return accumulators

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Pack the 4K totals into one output vector (layout: see section 2).

        Per accumulator: slot-sum over width W, multiply by S at slots s mod W == 4k + j and 0
        elsewhere. Add all masked vectors (per level first, so only two alignments are needed),
        then finish the slot-sum over the N/W blocks (stride W) once. Both sums are radix-r
        trees rotating only by powers of the profile's slot-sum radix r."""
        groups = public["groups"]
        count = 4 * len(groups)
        if len(accumulators) != count:
            raise CircuitError(
                f"expected {count} accumulators, got {len(accumulators)}", field="accumulators"
            )
        width = block_width(len(groups))
        slots = backend.slot_count
        if slots < width or slots % width:
            raise CircuitError("too few slots for the output layout", field="groups")
        scale = float(output_scale(rows))
        masked: dict[int, list[V]] = {}
        for position, accumulator in enumerate(accumulators):
            mask = np.zeros(slots, dtype=np.float64)
            mask[position::width] = scale
            partial = backend.multiply_plain(backend.slot_sum(accumulator, width=width), mask)
            masked.setdefault(partial.level, []).append(partial)
        # shallowest first: each add_many result is aligned once to the next level
        result: V | None = None
        for level in sorted(masked):
            same_level = backend.add_many(masked[level])
            result = same_level if result is None else backend.add(result, same_level)
        assert result is not None
        return [strided_sum(backend, result, stride=width, count=slots // width)]

    def output_tolerance(self, rows: int, public: PublicInputs) -> float:
        """The client's output check: a slot may differ from the oracle by less than the
        decoder's COUNT_TOLERANCE (in counts), so no forged deviation survives rounding."""
        return COUNT_TOLERANCE * output_scale(rows)

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: see :func:`decode_counts` and :func:`build_report`.

        Release (see :mod:`regaudit.shared.release`): nothing to round. Counts are exact integers (a
        slot further than COUNT_TOLERANCE from one is refused) and every rate is an exact fraction
        of them (error bound 0), so no decrypted digit reaches the result."""
        public = self.validate_public(public)
        counts = decode_counts(outputs, public, rows)
        return build_report(counts, threshold=public["threshold"], rows=rows)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


@dataclass(frozen=True)
class GroupCounts:
    """Exact confusion counts of one group."""

    count: int
    positives: int
    predicted_positives: int
    true_positives: int

    def check(self, name: str) -> None:
        """Raise NoiseBoundError unless the counts can come from 0/1 data.

        Steps: 1. no count is negative; 2. true positives are among both the positives and the
        predicted positives; 3. positives and predicted positives lie within the group; 4. false
        positives fit within the negatives. (The total over groups is checked by the caller.)
        """
        values = (self.count, self.positives, self.predicted_positives, self.true_positives)
        # Messages name the group and the rule, never the decoded counts: a forged output could
        # make them equal chosen rows' values (docs/threat-model.md, attack 1).
        # 1.
        if min(values) < 0:
            raise NoiseBoundError(f"group {name!r}: a decoded count is negative")
        # 2.
        if self.true_positives > min(self.positives, self.predicted_positives):
            raise NoiseBoundError(
                f"group {name!r}: true positives exceed positives or predicted positives"
            )
        # 3.
        if max(self.positives, self.predicted_positives) > self.count:
            raise NoiseBoundError(
                f"group {name!r}: positives or predicted positives exceed the group size"
            )
        # 4.
        if self.predicted_positives - self.true_positives > self.count - self.positives:
            raise NoiseBoundError(f"group {name!r}: false positives exceed the negatives")


def decode_counts(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, GroupCounts]:
    """Round the decrypted output slots to exact counts, refusing anything noise cannot explain.

    Steps: 1. exactly one output vector whose length is a multiple of the block width W;
    2. divide by the output scale S; every replica of every count is within COUNT_TOLERANCE of
    the same integer; 3. every slot that must be zero is within COUNT_TOLERANCE of 0; 4. each
    group's counts are consistent (GroupCounts.check); 5. the groups hold at most ``rows`` rows.
    """
    groups = public["groups"]
    used = 4 * len(groups)
    width = block_width(len(groups))
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"fairness has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < width or vector.shape[0] % width:
        raise BundleFormatError(f"fairness output must hold a multiple of {width} slots")
    if not np.isfinite(vector).all():
        raise NoiseBoundError("the fairness output holds non-finite values")
    # 2.
    blocks = vector.reshape(-1, width) / float(output_scale(rows))
    replicas = blocks[:, :used]
    rounded = np.rint(replicas.mean(axis=0))
    distance = np.abs(replicas - rounded)
    # messages name the slot and the tolerance, never a decrypted value
    if distance.max() > COUNT_TOLERANCE:
        block, position = np.unravel_index(int(np.argmax(distance)), distance.shape)
        raise NoiseBoundError(
            f"output slot {block * width + position} is not within {COUNT_TOLERANCE} of the "
            "integer count its replicas agree on (after the output scale)"
        )
    # 3.
    zeros = blocks[:, used:]
    if zeros.size and np.abs(zeros).max() > COUNT_TOLERANCE:
        block, position = np.unravel_index(int(np.argmax(np.abs(zeros))), zeros.shape)
        raise NoiseBoundError(
            f"output slot {block * width + used + position} should be zero but is not within "
            f"{COUNT_TOLERANCE} of 0 (after the output scale)"
        )
    # 4.
    counts: dict[str, GroupCounts] = {}
    for k, name in enumerate(groups):
        quantity = dict(zip(QUANTITIES, (int(x) for x in rounded[4 * k : 4 * k + 4]), strict=True))
        group = GroupCounts(
            count=quantity["count"],
            positives=quantity["positives"],
            predicted_positives=quantity["predicted_positives"],
            true_positives=quantity["true_positives"],
        )
        group.check(name)
        counts[name] = group
    # 5.
    assigned = sum(group.count for group in counts.values())
    if assigned > rows:
        raise NoiseBoundError(f"the groups hold more rows than the audit has ({rows})")
    return counts


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return None if denominator == 0 else Fraction(numerator, denominator)


def _spread(values: Sequence[Fraction | None]) -> Fraction | None:
    """max - min over the defined values; None with fewer than two."""
    defined = [v for v in values if v is not None]
    if len(defined) < 2:
        return None
    return max(defined) - min(defined)


def _max_defined(values: Sequence[Fraction | None]) -> Fraction | None:
    defined = [v for v in values if v is not None]
    return max(defined) if defined else None


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


#: Per-group rates, in report order.
RATES: tuple[str, ...] = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
)


def build_report(
    counts: Mapping[str, GroupCounts], *, threshold: float, rows: int
) -> dict[str, Any]:
    """The fairness report from exact integer counts.

    Rates are exact fractions of integers, converted to float only for the report; decisions
    (four-fifths rule, threshold breach) compare the exact fractions. Undefined rates (zero
    denominator) are None and listed in ``undefined``; differences use the defined groups only and
    are None when fewer than two groups define the rate.
    """
    names = list(counts)
    rates: dict[str, dict[str, Fraction | None]] = {}
    undefined: list[str] = []
    for name, c in counts.items():
        negatives = c.count - c.positives
        false_positives = c.predicted_positives - c.true_positives
        rates[name] = {
            "selection_rate": _ratio(c.predicted_positives, c.count),
            "true_positive_rate": _ratio(c.true_positives, c.positives),
            "false_positive_rate": _ratio(false_positives, negatives),
            "precision": _ratio(c.true_positives, c.predicted_positives),
        }
        undefined += [f"{name}.{rate}" for rate in RATES if rates[name][rate] is None]

    def column(rate: str) -> list[Fraction | None]:
        return [rates[name][rate] for name in names]

    dp_diff = _spread(column("selection_rate"))
    eo_diff = _spread(column("true_positive_rate"))
    pp_diff = _spread(column("precision"))
    fpr_diff = _spread(column("false_positive_rate"))
    eodds_diff = _max_defined([eo_diff, fpr_diff])
    max_gap = _max_defined([dp_diff, eo_diff, pp_diff, fpr_diff])

    selection = column("selection_rate")
    top = _max_defined(selection)
    impact: dict[str, Fraction | None] = {}
    for name, rate in zip(names, selection, strict=True):
        impact[name] = None if rate is None or not top else rate / top
    defined_selection = [v for v in selection if v is not None]
    dp_ratio = min(defined_selection) / top if top and len(defined_selection) >= 2 else None
    if dp_ratio is None:
        undefined.append("demographic_parity_ratio")
    undefined += [f"{name}.impact_ratio" for name, value in impact.items() if value is None]
    defined_impact = [v for v in impact.values() if v is not None]
    four_fifths = any(v < FOUR_FIFTHS for v in defined_impact) if defined_impact else None
    breached = None if max_gap is None else max_gap > Fraction(threshold)
    for metric, value in (
        ("demographic_parity_diff", dp_diff),
        ("equal_opportunity_diff", eo_diff),
        ("predictive_parity_diff", pp_diff),
        ("equalized_odds_fpr_diff", fpr_diff),
        ("equalized_odds_diff", eodds_diff),
        ("max_gap", max_gap),
    ):
        if value is None:
            undefined.append(metric)

    group_report: dict[str, dict[str, Any]] = {}
    for name, c in counts.items():
        group_report[name] = {
            "count": c.count,
            "positives": c.positives,
            "predicted_positives": c.predicted_positives,
            "true_positives": c.true_positives,
            **{rate: _float(rates[name][rate]) for rate in RATES},
        }
    assigned = sum(c.count for c in counts.values())
    return {
        "rows": rows,
        "unassigned_rows": rows - assigned,
        "groups": group_report,
        "demographic_parity_diff": _float(dp_diff),
        "demographic_parity_ratio": _float(dp_ratio),
        "equal_opportunity_diff": _float(eo_diff),
        "predictive_parity_diff": _float(pp_diff),
        "equalized_odds_fpr_diff": _float(fpr_diff),
        "equalized_odds_diff": _float(eodds_diff),
        "impact_ratios": {name: _float(value) for name, value in impact.items()},
        "four_fifths_breached": four_fifths,
        "max_gap": _float(max_gap),
        "threshold": float(threshold),
        "threshold_breached": breached,
        "undefined": undefined,
    }


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def plaintext_counts(data: FairnessData) -> dict[str, GroupCounts]:
    """Exact per-group counts straight from the plaintext columns (no circuit)."""
    counts: dict[str, GroupCounts] = {}
    truth = data.y_true.astype(np.int64)
    pred = data.y_pred.astype(np.int64)
    for name in data.public["groups"]:
        member = data.memberships[name].astype(np.int64)
        counts[name] = GroupCounts(
            count=int(member.sum()),
            positives=int((member & truth).sum()),
            predicted_positives=int((member & pred).sum()),
            true_positives=int((member & truth & pred).sum()),
        )
    return counts


def fairness_reference(data: FairnessData) -> dict[str, Any]:
    """The report computed from plaintext counts directly in numpy (the oracle)."""
    return build_report(plaintext_counts(data), threshold=data.public["threshold"], rows=data.rows)


def evaluate_plaintext(
    data: FairnessData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend: plan, chunk,
    accumulate, finalize. Returns the plan and the (unencrypted) output vectors."""
    return planning.run_plaintext(
        FairnessCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(data.columns(), chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "BINARY_GROUPS",
    "COUNT_TOLERANCE",
    "DEFAULT_THRESHOLD",
    "MAX_GROUPS",
    "MAX_GROUP_NAME_LENGTH",
    "MIN_GROUPS",
    "QUANTITIES",
    "FairnessCircuit",
    "FairnessData",
    "GroupCounts",
    "build_report",
    "decode_counts",
    "evaluate_plaintext",
    "fairness_reference",
    "group_column",
    "load_fairness_csv",
    "output_slot",
    "parse_fairness_input",
    "plaintext_counts",
]
