"""The regulator's half of ``tally``: round the count (exact), compute the rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import VerificationError
from toy_tally.circuit import COUNT_TOLERANCE, TallyCircuit


def build_report(count: int, *, rows: int, threshold: float) -> dict[str, Any]:
    rate = count / rows
    return {"count": count, "rate": rate, "threshold_breached": rate > threshold}


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    public = TallyCircuit().validate_public(public)
    value = float(outputs[0][0])
    count = round(value)
    if abs(value - count) > COUNT_TOLERANCE or not 0 <= count <= rows:
        raise VerificationError("the decrypted count is not a count", field="count")
    return build_report(count, rows=rows, threshold=public["threshold"])


__all__ = ["build_report", "decode"]
