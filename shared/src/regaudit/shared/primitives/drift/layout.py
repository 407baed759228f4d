"""Drift's public constants, public-input helpers and slot layout (every party reads this).

The F x S block layout of the encrypted columns and of the output vectors: see the package
docstring and ``docs/specs/drift.md``.
"""

from __future__ import annotations

import math

import numpy as np

from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import to_float

#: Threshold used when the input gives none.
DEFAULT_DRIFT_THRESHOLD = 0.1
#: Largest number of bins per feature and of features per audit.
MAX_BINS = 4096
MAX_FEATURES = 512
#: Slots of one layout part: the slot count of the depth-6 profile ``ckks-n16384-d6-v1`` (the
#: only profile deep enough for this circuit). A part is one pair of encrypted columns.
PART_SLOTS = 8192
#: At most this many parts (column pairs) in the single chunk of an audit.
MAX_PARTS = 4
#: The whole F x S layout (all parts) must fit these many slots.
MAX_LAYOUT_SLOTS = PART_SLOTS * MAX_PARTS
#: Highest Chebyshev degree returned (degree 16 in y = x², 32 in x).
CHEBYSHEV_DEGREE = 16
#: Aggregates per feature and part: sum y, sum T_2 .. sum T_16 and the signed sum sum s * x.
QUANTITIES = CHEBYSHEV_DEGREE + 1
#: Index of the signed sum among a feature's aggregates.
SIGNED_SUM = CHEBYSHEV_DEGREE
#: Smallest block stride (the output needs QUANTITIES slots per feature, a power of two).
MIN_STRIDE = 32
#: Every aggregate is multiplied by 2^gain_bits (gain_bits additions, no level) before its
#: block sum: the sum's rotations add key-switching noise of fixed absolute size (measured at
#: ckks-n16384-d6-v1: ~1e-5 on a 128-slot sum of y in [0, 1]), which the gain divides away.
#: The gain keeps S * 2^gain_bits <= 2^GAIN_HEADROOM_BITS (the profile's outputs reach 2^18).
MAX_GAIN_BITS = 8
GAIN_HEADROOM_BITS = 17
#: Smallest and largest automatic ``w1_range``.
MIN_W1_RANGE = 2.0**-10
MAX_W1_RANGE = 1.0
#: The public inputs (exactly these keys, see ``DriftCircuit.validate_public``).
PUBLIC_KEYS = frozenset({"drift_threshold", "bin_width", "w1_range", "features", "bins"})
#: Optional public input: per feature the number of samples behind p and behind q
#: (``{"p": [n_0, ...], "q": [n_0, ...]}``); it bounds one sample's effect for a DP release.
SAMPLE_COUNTS = "sample_counts"
OPTIONAL_PUBLIC_KEYS = frozenset({SAMPLE_COUNTS})
#: Largest sample count (exact in a float).
MAX_SAMPLE_COUNT = 2**53
#: Table (CSV/Parquet) fields: one histogram per column, one row per bin.
TABLE_FIELDS = ("p", "q")
#: Public inputs the command line may set.
OVERRIDES = ("drift_threshold", "bin_width", "w1_range", SAMPLE_COUNTS)
#: Public inputs a table cannot hold (none: every one has a default).
TABLE_REQUIRED: tuple[str, ...] = ()
#: The public input ``--threshold`` sets.
THRESHOLD_KEY = "drift_threshold"
#: Encrypted columns of one part, in order (see :func:`column_names`).
PART_COLUMNS = ("cdf_p", "cdf_q", "sign")


def number(value: object, *, name: str) -> float:
    """A finite real number (not a bool); InputError naming ``name`` otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    result = to_float(value)
    if not math.isfinite(result):
        raise InputError("must be a finite number", field=name)
    return result


def sample_counts(value: object, *, features: int) -> dict[str, list[int]]:
    """``{"p": [n_f ...], "q": [n_f ...]}``: one count >= 1 per feature and side, each an
    integer (an integral float is read as one); InputError naming the offending entry."""
    if not isinstance(value, dict) or set(value) != {"p", "q"}:
        raise InputError('must be an object {"p": [...], "q": [...]}', field=SAMPLE_COUNTS)
    counts: dict[str, list[int]] = {}
    for side in ("p", "q"):
        items = value[side]
        where = f"{SAMPLE_COUNTS}.{side}"
        if not isinstance(items, list | tuple) or len(items) != features:
            raise InputError(f"must list one count per feature ({features})", field=where)
        counts[side] = []
        for f, item in enumerate(items):
            name = f"{where}[{f}]"
            if isinstance(item, bool | np.bool_) or not isinstance(
                item, int | float | np.integer | np.floating
            ):
                raise InputError(f"must be an integer, got {type(item).__name__}", field=name)
            if isinstance(item, float | np.floating) and not float(item).is_integer():
                raise InputError(f"must be an integer, got {float(item)!r}", field=name)
            count = int(item)
            if not 1 <= count <= MAX_SAMPLE_COUNT:
                raise InputError(f"must be in 1..2^53, got {count}", field=name)
            counts[side].append(count)
    return counts


def stride_for(bins: int) -> int:
    """Slots per feature block: the next power of two >= bins, at least MIN_STRIDE."""
    return max(MIN_STRIDE, 1 << max(0, (bins - 1).bit_length()))


def output_gain(bins: int) -> float:
    """The factor 2^gain_bits every aggregate carries in the output (see MAX_GAIN_BITS)."""
    bits = min(MAX_GAIN_BITS, GAIN_HEADROOM_BITS - (stride_for(bins).bit_length() - 1))
    return float(2 ** max(0, bits))


def features_per_part(bins: int) -> int:
    """Features in one layout part (PART_SLOTS / S)."""
    return PART_SLOTS // stride_for(bins)


def part_count(features: int, bins: int) -> int:
    """Layout parts (encrypted column pairs) of an F x B audit."""
    return -(-features // features_per_part(bins))


def parts_per_output(bins: int) -> int:
    """Parts whose aggregates share one output vector: S // QUANTITIES (each feature's block
    of S output slots holds QUANTITIES aggregates per part)."""
    return stride_for(bins) // QUANTITIES


def output_count(features: int, bins: int) -> int:
    """Output vectors of an F x B audit."""
    return -(-part_count(features, bins) // parts_per_output(bins))


def layout_rows(features: int, bins: int) -> int:
    """Slots of each encrypted column: F * S for one part, else PART_SLOTS."""
    if part_count(features, bins) == 1:
        return features * stride_for(bins)
    return PART_SLOTS


def column_names(features: int, bins: int) -> list[str]:
    """``cdf_p``, ``cdf_q``, ``sign`` for part 0, then ``cdf_p/1``, ``cdf_q/1``, ``sign/1``,
    ... for further parts."""
    names = []
    for part in range(part_count(features, bins)):
        suffix = "" if part == 0 else f"/{part}"
        names += [f"{column}{suffix}" for column in PART_COLUMNS]
    return names


def output_position(feature: int, quantity: int, bins: int) -> tuple[int, int]:
    """(output vector, slot) of aggregate ``quantity`` (0: sum y; k-1: sum T_k; SIGNED_SUM:
    sum s * x) of ``feature``: part p = f // (PART_SLOTS / S) goes to vector
    p // (S // QUANTITIES), block f % (PART_SLOTS / S), offset
    QUANTITIES * (p % (S // QUANTITIES)) + quantity inside the block."""
    stride = stride_for(bins)
    part, block = divmod(feature, features_per_part(bins))
    vector, rank = divmod(part, parts_per_output(bins))
    return vector, block * stride + QUANTITIES * rank + quantity


def output_slot(feature: int, quantity: int, bins: int) -> int:
    """Slot (within its output vector, see :func:`output_position`) of an aggregate."""
    return output_position(feature, quantity, bins)[1]


__all__ = [
    "CHEBYSHEV_DEGREE",
    "DEFAULT_DRIFT_THRESHOLD",
    "GAIN_HEADROOM_BITS",
    "MAX_BINS",
    "MAX_FEATURES",
    "MAX_GAIN_BITS",
    "MAX_LAYOUT_SLOTS",
    "MAX_PARTS",
    "MAX_SAMPLE_COUNT",
    "MAX_W1_RANGE",
    "MIN_STRIDE",
    "MIN_W1_RANGE",
    "OPTIONAL_PUBLIC_KEYS",
    "OVERRIDES",
    "PART_COLUMNS",
    "PART_SLOTS",
    "PUBLIC_KEYS",
    "QUANTITIES",
    "SAMPLE_COUNTS",
    "SIGNED_SUM",
    "TABLE_FIELDS",
    "TABLE_REQUIRED",
    "THRESHOLD_KEY",
    "column_names",
    "features_per_part",
    "layout_rows",
    "number",
    "output_count",
    "output_gain",
    "output_position",
    "output_slot",
    "part_count",
    "parts_per_output",
    "sample_counts",
    "stride_for",
]
