"""Fairness: what every party agrees on -- public constants, the checks of the public inputs
and the output slot layout. Read by the client, the evaluator and the regulator alike.

Column layout (client -> evaluator): one slot per row. Columns (in upload order): ``y_true``,
``y_pred``, then one 0/1 membership column ``group/<name>`` per group in ``public["groups"]``
order. Chunks of ``plan.chunk_rows`` rows are zero-padded (``base.iter_chunks``): a padded slot
belongs to no group and contributes nothing.

Output layout (evaluator -> regulator): ONE vector. With W = :func:`block_width` (K) (the
smallest power of two >= 4K, at least 8), the aggregate j (:data:`QUANTITIES`) of group k,
multiplied by the public output scale S = :func:`output_scale` (rows), sits in every slot s with
s mod W == 4k + j; slots with s mod W >= 4K are zero.

Why this layout (measured on ckks-n8192-d3-v1): multiplying a vector by an encoded 0/1 mask adds
an error of about 2.4e-8 x (the value in each slot) to every slot, because the mask's encoding
is only as precise as its 30-bit scale. Masking after a complete slot-sum (every slot = the
total T) therefore errs by ~1e-7 T per slot, and packing 4K masked totals piles up 4K such
errors: counts were off by 0.57 at T = 2^20 (16 groups), so counts beyond ~2^18 were not exact.
Here the mask is applied after a partial slot-sum of width W (slot values ~ T W / N, not T), the
masked vectors are added and the remaining slot-sum (steps W .. N/2) is done once on the sum;
and the mask carries the factor S (a power of two keeping rows x S <= 2^27, inside the profile's
2^28 headroom), which shrinks the mask's relative error by S. Rotation steps are still exactly a
full slot sum's: the powers of the profile's slot-sum radix below the slot count. Measured count
noise: docs/specs/fairness.md ("Accuracy"); the worst count error reaches ~0.17 at 2^26 rows
(S = 1), hence :data:`MAX_FAIRNESS_ROWS` = 2^25, where every count is exact with margin.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np

from regaudit.shared import planning
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import describe, to_float

#: The primitive's name: its CLI subcommand, circuit id and schema prefix.
PRIMITIVE_NAME = "fairness"
#: Table (CSV/Parquet) fields the column mapping may name.
PRIMITIVE_TABLE_FIELDS: tuple[str, ...] = ("y_true", "y_pred", "scores", "group")
#: Inputs the command line may set: public inputs, and ``unknown_labels`` (client side: the
#: group labels that mean "category unknown").
PRIMITIVE_OVERRIDES: tuple[str, ...] = (
    "threshold",
    "reference_group",
    "exclude_small",
    "unknown_labels",
)
#: Public inputs a table cannot hold (none: the threshold has a default).
PRIMITIVE_TABLE_REQUIRED: tuple[str, ...] = ()
#: The public input ``--threshold`` sets.
PRIMITIVE_THRESHOLD_KEY = "threshold"

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

#: Most rows one fairness audit may have: beyond this the CKKS error of the output mask on
#: ckks-n8192-d3-v1 (30-bit scale) comes too close to the rounding tolerance (see above).
MAX_FAIRNESS_ROWS = 2**25

#: ``selection_basis`` of a scored audit: y_pred = (score > the sample median of all scores),
#: NYC Local Law 144's "scoring rate" (the median is the public input ``score_median``).
SCORE_ABOVE_MEDIAN = "score_above_median"
#: Most labels ``unknown_labels`` may list.
MAX_UNKNOWN_LABELS = 16

#: Names of the two groups in the binary form (regaudit-fhe 0.1.0's).
BINARY_GROUPS: tuple[str, str] = ("group_a", "group_b")
_COLUMN_PREFIX = "group/"

#: Target bound for |output| = rows x output scale (the D3 profile allows 2^28; 2x margin).
OUTPUT_MAGNITUDE_TARGET = 2**27
#: Smallest block width (slots) of the output layout.
MIN_BLOCK_WIDTH = 8


def max_rows() -> int:
    """The row limit (read at call time so it follows ``planning.MAX_ROWS`` and
    :data:`MAX_FAIRNESS_ROWS`)."""
    return min(planning.MAX_ROWS, MAX_FAIRNESS_ROWS)


def group_column(name: str) -> str:
    """Column name of group ``name``'s membership vector."""
    return _COLUMN_PREFIX + name


def check_threshold(value: object, *, name: str = "threshold") -> float:
    """A finite number in [0, 1] as float; InputError naming ``name`` otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number in [0, 1], got {describe(value)}", field=name)
    number = to_float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    if not 0.0 <= number <= 1.0:
        raise InputError(f"must be in [0, 1], got {number!r}", field=name)
    return number


def check_group_name(name: str, *, where: str) -> str:
    """A non-empty group name of at most MAX_GROUP_NAME_LENGTH characters without control
    characters; InputError naming ``where`` otherwise."""
    if not isinstance(name, str) or not name:
        raise InputError("group names must be non-empty strings", field=where)
    if len(name) > MAX_GROUP_NAME_LENGTH:
        raise InputError(f"group name longer than {MAX_GROUP_NAME_LENGTH} characters", field=where)
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError(f"group name {name!r} contains control characters", field=where)
    return name


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


__all__ = [
    "BINARY_GROUPS",
    "COUNT_TOLERANCE",
    "DEFAULT_THRESHOLD",
    "MAX_FAIRNESS_ROWS",
    "MAX_GROUPS",
    "MAX_GROUP_NAME_LENGTH",
    "MAX_UNKNOWN_LABELS",
    "MIN_BLOCK_WIDTH",
    "MIN_GROUPS",
    "OUTPUT_MAGNITUDE_TARGET",
    "PRIMITIVE_NAME",
    "PRIMITIVE_OVERRIDES",
    "PRIMITIVE_TABLE_FIELDS",
    "PRIMITIVE_TABLE_REQUIRED",
    "PRIMITIVE_THRESHOLD_KEY",
    "QUANTITIES",
    "SCORE_ABOVE_MEDIAN",
    "block_width",
    "check_group_name",
    "check_threshold",
    "describe",
    "group_column",
    "max_rows",
    "output_scale",
    "output_slot",
]
