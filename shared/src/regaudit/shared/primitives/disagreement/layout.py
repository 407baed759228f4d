"""The disagreement layout every party agrees on: public constants, the public inputs'
validation and the slot layout of the output (gain, mask, output slots).

Read by the client (encoding, validation), the evaluator (the circuit) and the regulator
(decoding); it imports generic shared code only.

One slot per input row, column "u" = x / input_bound; chunks of plan.chunk_rows rows are
zero-padded (base.iter_chunks). A padded slot has u = 0, so it adds nothing to any power sum
with j >= 1 (mu_0 = 1 is never computed). Output slot j - 1 holds output_scale(rows) *
sum(u^j), j = 1..2d.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import float_array, to_float

#: Threshold used when the input gives none.
DEFAULT_THRESHOLD = 0.1
#: Fewest / most models and highest polynomial degree.
MIN_MODELS = 3
MAX_MODELS = 64
MAX_DEGREE = 16
#: Range of the automatic / given input bound (powers of two).
MIN_INPUT_BOUND = 2.0**-20
MAX_INPUT_BOUND = 2.0**20
#: Smallest CKKS scale (bits) meeting the 1e-6 relative accuracy target.
MIN_SCALE_BITS = 40
#: Outputs are at most 2^OUTPUT_BITS in magnitude (``ckks-n16384-d6-v1``'s limit).
OUTPUT_BITS = 18
#: Gains (doublings: additions, no level) divide fixed-size noise by the gain. A top power (one
#: no later product uses, e.g. u^3, u^5, u^6 for quadratic-to-cubic models) is computed as
#: u^a * (2^PRODUCT_GAIN_BITS u^(j-a)), dividing the relative noise of its own rescaling and
#: relinearization by 2^PRODUCT_GAIN_BITS (the evaluator does not know the row count per chunk,
#: so this gain is fixed). Before the slot sum, every power is doubled up to a total gain
#: G = max(PRODUCT_GAIN_BITS, GAIN_BITS - ceil(log2 rows)) (the sums then reach at most
#: 2^GAIN_BITS for rows <= 2^18), dividing the rotations' fixed noise by 2^G. The mask removes
#: the gain beyond 2^OUTPUT_BITS: 2^-2 for rows <= 2^18 (its encoding error, ~1e-10 relative,
#: stays far below the rest), and 2^-(ceil(log2 rows) - 16) beyond, as in version 1.
PRODUCT_GAIN_BITS = 2
GAIN_BITS = 20

#: Keys of the input object (regaudit-fhe 0.1.0) and of the public inputs.
INPUT_KEYS = frozenset({"model_polynomials", "test_input", "threshold", "input_bound"})
PUBLIC_KEYS = frozenset({"model_polynomials", "threshold", "input_bound"})
#: Public inputs a table (CSV/Parquet) cannot hold: the command line must give them.
PRIMITIVE_TABLE_REQUIRED: tuple[str, ...] = ("model_polynomials",)


# --- validation helpers (client and circuit) -------------------------------------------------


def as_number(value: object, *, name: str) -> float:
    """A finite number; InputError naming ``name`` otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    number = to_float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    return number


def as_numbers(name: str, value: object, *, limit: int) -> FloatArray:
    """A non-empty flat array of at most ``limit`` finite numbers; InputError naming ``name``
    otherwise."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iuf":
            raise InputError("must be a flat array of numbers", field=name)
        array = value.astype(np.float64)
    else:
        if not isinstance(value, list | tuple):
            raise InputError("must be an array of numbers", field=name)
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                raise InputError(f"element {index} is not a number", field=name)
        array = float_array(value)
    if array.size == 0:
        raise InputError("must not be empty", field=name)
    if array.size > limit:
        raise InputError(f"{array.size} values exceed the limit of {limit}", field=name)
    if not np.isfinite(array).all():
        index = int(np.argmin(np.isfinite(array)))
        raise InputError(f"element {index} is not finite", field=name)
    return array


def validate_public(public: Mapping[str, Any]) -> PublicInputs:
    """``{"model_polynomials": M >= 3 coefficient lists, "threshold" >= 0,
    "input_bound": power of two}`` (exactly these keys), normalized."""
    if not isinstance(public, Mapping):
        raise InputError("public inputs must be an object", field="public")
    unknown = sorted(set(public) - PUBLIC_KEYS)
    if unknown:
        raise InputError("unknown public input", field=unknown[0])
    for key in sorted(PUBLIC_KEYS):
        if key not in public:
            raise InputError("is required", field=key)
    models = public["model_polynomials"]
    if not isinstance(models, list | tuple):
        raise InputError("must be a list of coefficient lists", field="model_polynomials")
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise InputError(
            f"needs {MIN_MODELS} to {MAX_MODELS} models, got {len(models)}",
            field="model_polynomials",
        )
    coefficients: list[list[float]] = []
    for m, model in enumerate(models):
        where = f"model_polynomials[{m}]"
        array = as_numbers(where, model, limit=MAX_DEGREE + 1)
        coefficients.append([float(c) for c in array])
    threshold = as_number(public["threshold"], name="threshold")
    if threshold < 0:
        raise InputError("must be >= 0", field="threshold")
    bound = as_number(public["input_bound"], name="input_bound")
    if not MIN_INPUT_BOUND <= bound <= MAX_INPUT_BOUND or math.log2(bound) % 1:
        raise InputError("must be a power of two in [2^-20, 2^20]", field="input_bound")
    return {"model_polynomials": coefficients, "threshold": threshold, "input_bound": bound}


def degree_of(public: PublicInputs) -> int:
    """Highest polynomial degree (at least 1)."""
    return max(1, max(len(c) for c in public["model_polynomials"]) - 1)


# --- slot layout: gain, mask, output slots ---------------------------------------------------


def _log2_rows(rows: int) -> int:
    return max(0, (rows - 1).bit_length())


def gain_bits(rows: int) -> int:
    """G: the total gain 2^G of every power sum before its rotations (see GAIN_BITS)."""
    return max(PRODUCT_GAIN_BITS, GAIN_BITS - _log2_rows(rows))


def mask_shift(rows: int) -> int:
    """e: the output mask holds 2^-e, keeping every output <= 2^OUTPUT_BITS."""
    return max(0, _log2_rows(rows) + gain_bits(rows) - OUTPUT_BITS)


def output_scale(rows: int) -> float:
    """Output slot j - 1 holds output_scale(rows) * sum(u^j): 2^(G - e)."""
    return 2.0 ** (gain_bits(rows) - mask_shift(rows))


def half_power(power: int) -> int:
    """The largest power of two < ``power`` (u^j = u^half * u^(j - half))."""
    return 1 << ((power - 1).bit_length() - 1)


def top_powers(count: int) -> frozenset[int]:
    """Powers in 2..count that no product uses as an operand (computed with the product gain)."""
    operands = {half_power(j) for j in range(2, count + 1)} | {
        j - half_power(j) for j in range(2, count + 1)
    }
    return frozenset(range(2, count + 1)) - operands


def output_slot(power: int) -> int:
    """Output slot of sum(u^power)."""
    return power - 1


__all__ = [
    "DEFAULT_THRESHOLD",
    "GAIN_BITS",
    "INPUT_KEYS",
    "MAX_DEGREE",
    "MAX_INPUT_BOUND",
    "MAX_MODELS",
    "MIN_INPUT_BOUND",
    "MIN_MODELS",
    "MIN_SCALE_BITS",
    "OUTPUT_BITS",
    "PRIMITIVE_TABLE_REQUIRED",
    "PRODUCT_GAIN_BITS",
    "PUBLIC_KEYS",
    "as_number",
    "as_numbers",
    "degree_of",
    "gain_bits",
    "half_power",
    "mask_shift",
    "output_scale",
    "output_slot",
    "top_powers",
    "validate_public",
]
