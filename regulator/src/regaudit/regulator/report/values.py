"""How one value of a report reads in text and HTML: numbers, undefined values, decisions,
labels, error bounds, the receipt's deletion statement and the key canary."""

from __future__ import annotations

import math

#: How undefined values appear in text and HTML reports.
UNDEFINED = "undefined"
#: Decision fields end with one of these suffixes (``threshold_breached``, ``drift_detected``).
DECISION_SUFFIXES = ("_breached", "_detected")
DECISION_SUFFIX = DECISION_SUFFIXES[0]
#: A decision within its result's error bound of the threshold has this value.
INDETERMINATE = "indeterminate"
#: Significant digits of floats in text and HTML reports. The result itself is already rounded
#: by each circuit's decoder to the precision its error bound supports
#: (``regaudit.shared.release``); JSON carries those released values unchanged.
FLOAT_DIGITS = 6


def format_value(value: object) -> str:
    """A metric or field: ``undefined`` for None and NaN, yes/no, floats to
    :data:`FLOAT_DIGITS` significant digits, lists comma-separated."""
    if value is None:
        return UNDEFINED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return UNDEFINED
        return f"{value:.{FLOAT_DIGITS}g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value) or "-"
    return str(value)


def format_bounded(value: object, bound: object) -> str:
    """``value ± bound``, or the value alone without a bound."""
    if bound is None or value is None:
        return format_value(value)
    return f"{format_value(value)} ± {format_value(bound)}"


def decision_text(value: object, name: str = DECISION_SUFFIX) -> str:
    """``BREACHED`` / ``not breached`` (``DETECTED`` / ``not detected`` for ``*_detected``);
    an undefined decision or one within the error bound of its threshold is indeterminate."""
    if value is None:
        return "indeterminate (undefined)"
    if isinstance(value, str):
        if value == INDETERMINATE:
            return "INDETERMINATE (within the error bound of the threshold)"
        return value
    verb = "detected" if name.endswith("_detected") else "breached"
    return verb.upper() if value else f"not {verb}"


def decision_class(value: object) -> str:
    """The CSS class of a decision cell: ``ok``, ``bad`` or ``undef``."""
    if value is None or isinstance(value, str):
        return "undef"
    return "bad" if value else "ok"


def is_decision(name: str) -> bool:
    """A field named ``*_breached`` or ``*_detected``."""
    return name.endswith(DECISION_SUFFIXES)


def record_cell(name: str, value: object) -> str:
    """One field of a record: a decision or a value."""
    return decision_text(value, name) if is_decision(name) else format_value(value)


def label(name: str) -> str:
    """A field name as a heading (``w1_distance`` -> ``w1 distance``)."""
    return name.replace("_", " ")


def retention_text(retention: dict[str, str]) -> str:
    """The receipt's deletion statement in words (an attestation by the evaluator)."""
    items = ", ".join(
        f"{name.replace('_', ' ')} {state.replace('_', ' ')}" for name, state in retention.items()
    )
    return f"{items} (attested by the evaluator's receipt)"


def canary_text(passed: bool, tolerance: float) -> str:
    """The canary as text and HTML show it: the outcome and the tolerance, no decrypted value."""
    return f"{'passed' if passed else 'FAILED'} (tolerance {tolerance:g})"


__all__ = [
    "DECISION_SUFFIX",
    "DECISION_SUFFIXES",
    "FLOAT_DIGITS",
    "INDETERMINATE",
    "UNDEFINED",
    "canary_text",
    "decision_class",
    "decision_text",
    "format_bounded",
    "format_value",
    "is_decision",
    "label",
    "record_cell",
    "retention_text",
]
