"""What leaves the regulator is rounded.

A decrypted CKKS value carries noise in its low digits, and that noise is what key-recovery
attacks on approximate FHE feed on. Every number a decoder puts into its result (hence into
the report, ``verify --json`` and the HTML page) is therefore rounded to the decimal
precision its error bound supports, and no error message echoes a decrypted value.

The rule (:func:`round_to_bound`): a value with error bound ``b > 0`` is rounded to a multiple
of the decimal step ``10^floor(log10 b)``, the largest power of ten not above ``b`` (so
``b / 10 < step <= b``). Integers are exact counts by design and stay exact ``int``; a bound of
0 means the value is exact (computed from exact integers or public inputs) and it is kept as
it is. :func:`release` also widens the bound by the half step the rounding may add, rounded
up to two significant digits, so that ``value ± bound`` still contains the truth; the step of
the released bound is the step the value was rounded to, so :func:`round_to_bound` leaves a
released value unchanged (the regression tests check exactly that).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

#: Significant digits of a released error bound (rounded up, never down).
BOUND_DIGITS = 2
#: Significant digits a number may keep in a message that can leave the regulator.
MESSAGE_DIGITS = 6


def _check(name: str, number: float) -> float:
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise TypeError(f"{name} must be a number, got {type(number).__name__}")
    number = float(number)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite")
    return number


def _check_bound(bound: float) -> float:
    bound = _check("bound", bound)
    if bound < 0.0:
        raise ValueError("bound must not be negative")
    return bound


def step_exponent(bound: float) -> int | None:
    """``floor(log10 bound)`` computed on the bound's shortest decimal form (exact for 1e-6,
    1e-3...); None for a bound of 0 (exact values are not rounded)."""
    bound = _check_bound(bound)
    if bound == 0.0:
        return None
    return Decimal(repr(bound)).adjusted()


def rounding_step(bound: float) -> float:
    """The decimal step a value with error bound ``bound`` is rounded to (0 for exact)."""
    exponent = step_exponent(bound)
    return 0.0 if exponent is None else float(Decimal(1).scaleb(exponent))


def _to_decimal_places(value: float, exponent: int, rounding: str) -> float:
    with localcontext() as context:
        context.prec = 800  # a double has at most ~770 significant decimal digits
        quantum = Decimal(1).scaleb(exponent)
        # the shortest decimal that reads back as ``value`` (what JSON shows), not its binary
        # expansion: 1.2e-05 rounded up to two digits stays 1.2e-05
        result = float(Decimal(repr(value)).quantize(quantum, rounding=rounding))
    return result + 0.0  # no -0.0


def round_to_bound(value: float, bound: float) -> float:
    """``value`` rounded to the decimal step its error bound supports (see the module doc).

    ``int`` values are exact counts and come back unchanged; a bound of 0 returns the value
    unchanged; a negative bound, or a non-finite value or bound, is a ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        _check_bound(bound)
        return value
    value = _check("value", value)
    exponent = step_exponent(bound)
    if exponent is None:
        return value
    return _to_decimal_places(value, exponent, ROUND_HALF_EVEN)


def round_down_to_bound(value: float, bound: float) -> float:
    """Like :func:`round_to_bound`, but towards -inf (lower ends of certified intervals)."""
    value = _check("value", value)
    exponent = step_exponent(bound)
    return value if exponent is None else _to_decimal_places(value, exponent, ROUND_FLOOR)


def round_up_to_bound(value: float, bound: float) -> float:
    """Like :func:`round_to_bound`, but towards +inf (upper ends of certified intervals)."""
    value = _check("value", value)
    exponent = step_exponent(bound)
    return value if exponent is None else _to_decimal_places(value, exponent, ROUND_CEILING)


def round_bound_up(bound: float, digits: int = BOUND_DIGITS) -> float:
    """An error bound rounded UP to ``digits`` significant digits (it stays a bound)."""
    bound = _check_bound(bound)
    if bound == 0.0:
        return 0.0
    exponent = Decimal(repr(bound)).adjusted() - (digits - 1)
    return _to_decimal_places(bound, exponent, ROUND_CEILING)


def released_bound(bound: float) -> float:
    """The bound to report for a value rounded by :func:`release`: ``bound`` plus the half
    step the rounding may add, rounded up to BOUND_DIGITS digits, with the same rounding step
    as the value (if the widening crosses a power of ten the coarser step is used for both)."""
    bound = _check_bound(bound)
    if bound == 0.0:
        return 0.0
    step = rounding_step(bound)
    for _ in range(3):
        widened = round_bound_up(bound + step / 2.0)
        if rounding_step(widened) == step:
            return widened
        step = rounding_step(widened)
    raise AssertionError("unreachable: the widened bound's step is stable after one change")


def release(value: float | None, bound: float) -> tuple[float | None, float]:
    """(value rounded, bound to report): the value rounded to the step of the reported bound,
    which is ``bound`` widened by that rounding (see :func:`released_bound`). ``None`` stays
    None (an undefined value)."""
    reported = released_bound(bound)
    if value is None:
        return None, reported
    return round_to_bound(value, reported), reported


def release_all(values: Iterable[float], bound: float) -> tuple[list[float], float]:
    """:func:`release` for several values with one common bound."""
    reported = released_bound(bound)
    return [round_to_bound(v, reported) for v in values], reported


_LONG_DECIMAL = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])")


def _significant_digits(text: str) -> int:
    """Significant digits of a decimal literal (trailing zeros are not counted)."""
    number = Decimal(text)
    return 1 if number.is_zero() else len(number.normalize().as_tuple().digits)


def scrub_message(text: str, digits: int = MESSAGE_DIGITS) -> str:
    """A last line of defence for messages that leave the regulator: every decimal number
    with more than ``digits`` significant digits is shortened to 3 (decoders already word
    their errors without decrypted values; this catches anything that slipped through)."""

    def shorten(match: re.Match[str]) -> str:
        number = match.group(0)
        if _significant_digits(number) <= digits:
            return number
        return f"{float(number):.3g}"

    return _LONG_DECIMAL.sub(shorten, text)


def significant_digits(value: float) -> int:
    """Significant digits of ``repr(value)`` (used by the regression tests)."""
    return _significant_digits(repr(float(value)))


__all__ = [
    "BOUND_DIGITS",
    "MESSAGE_DIGITS",
    "release",
    "release_all",
    "released_bound",
    "round_bound_up",
    "round_down_to_bound",
    "round_to_bound",
    "round_up_to_bound",
    "rounding_step",
    "scrub_message",
    "significant_digits",
    "step_exponent",
]
