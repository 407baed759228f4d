"""Provenance's public layout, read by every party: input ranges, the public-input checks and
the column / output-slot layout (bucket b is column ``bucket/<b>`` and output slot b).

No party-specific code: the client (``inputs``), the evaluator (``circuit``) and the regulator
(``report``) all import this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import to_float

#: Most buckets: one ciphertext column each (the planner traces every column at full slot count).
MAX_BUCKETS = 1024
#: Longest row id (characters).
MAX_ROW_ID_LENGTH = 256
#: Range of the attribution scale (powers of two).
MIN_ATTRIBUTION_SCALE = 2.0**-30
MAX_ATTRIBUTION_SCALE = 2.0**30
#: Largest |encoded bucket total| (in units of the scale): 2^24 fits the depth-3 profile's
#: 2^26 headroom; large encoded values make the additive CKKS noise relatively small.
MAX_TOTAL = float(2**24)

#: The public inputs (all required once parsed; ``attribution_scale`` is automatic on input).
PUBLIC_KEYS = frozenset({"n_buckets", "k", "attribution_scale"})
#: Public inputs a table (CSV/Parquet) cannot hold: the command line must give them.
PRIMITIVE_TABLE_REQUIRED: tuple[str, ...] = ("n_buckets", "k")
#: Prefix of the per-bucket input columns.
COLUMN_PREFIX = "bucket/"


def bucket_column(bucket: int) -> str:
    """The input column holding the rows of ``bucket`` (its total lands in output slot b)."""
    return f"{COLUMN_PREFIX}{bucket}"


def check_integer(value: object, *, name: str, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``; InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError("must be an integer", field=name)
    if not low <= int(value) <= high:
        raise InputError(f"must be in {low}..{high}, got {value}", field=name)
    return int(value)


def check_scale(value: object) -> float:
    """``value`` as a power of two in [2^-30, 2^30]; InputError (``attribution_scale``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError("must be a number", field="attribution_scale")
    number = to_float(value)
    if (
        not math.isfinite(number)
        or not MIN_ATTRIBUTION_SCALE <= number <= MAX_ATTRIBUTION_SCALE
        or math.log2(number) % 1
    ):
        raise InputError("must be a power of two in [2^-30, 2^30]", field="attribution_scale")
    return number


def validate_public(public: Mapping[str, Any]) -> PublicInputs:
    """``{"n_buckets": 1..1024, "k": 1..n_buckets, "attribution_scale": power of two}``."""
    if not isinstance(public, Mapping):
        raise InputError("public inputs must be an object", field="public")
    unknown = sorted(set(public) - PUBLIC_KEYS)
    if unknown:
        raise InputError("unknown public input", field=unknown[0])
    for key in sorted(PUBLIC_KEYS):
        if key not in public:
            raise InputError("is required", field=key)
    n_buckets = check_integer(public["n_buckets"], name="n_buckets", low=1, high=MAX_BUCKETS)
    k = check_integer(public["k"], name="k", low=1, high=n_buckets)
    return {
        "n_buckets": n_buckets,
        "k": k,
        "attribution_scale": check_scale(public["attribution_scale"]),
    }


__all__ = [
    "COLUMN_PREFIX",
    "MAX_ATTRIBUTION_SCALE",
    "MAX_BUCKETS",
    "MAX_ROW_ID_LENGTH",
    "MAX_TOTAL",
    "MIN_ATTRIBUTION_SCALE",
    "PRIMITIVE_TABLE_REQUIRED",
    "PUBLIC_KEYS",
    "bucket_column",
    "check_integer",
    "check_scale",
    "validate_public",
]
