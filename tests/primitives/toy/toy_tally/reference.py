"""The exact ``tally`` report from plaintext."""

from __future__ import annotations

from typing import Any

from toy_tally.inputs import TallyData
from toy_tally.report import build_report


def reference(data: TallyData) -> dict[str, Any]:
    return build_report(int(data.flags.sum()), rows=data.rows, threshold=data.threshold)


__all__ = ["reference"]
