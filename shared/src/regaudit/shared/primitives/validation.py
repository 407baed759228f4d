"""Validation helpers every primitive's ``layout`` and ``inputs`` share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray


def describe(value: object) -> str:
    """What a rejected value is, for error messages (``a string``, ``null``...)."""
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return "a nested value"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def to_float(value: Any) -> float:
    """``float(value)``, but an integer beyond the float range becomes +-inf (instead of raising
    OverflowError), so the caller's finiteness check rejects it with its own InputError."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _floats_or_inf(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_floats_or_inf(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return to_float(value)
    return value


def float_array(values: Any) -> FloatArray:
    """``np.asarray(values, dtype=np.float64)``, but an integer beyond the float range becomes
    +-inf (instead of raising OverflowError), so the caller's finiteness check rejects it with
    its own InputError naming the field."""
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        return np.asarray(_floats_or_inf(values), dtype=np.float64)


__all__ = ["describe", "float_array", "to_float"]
