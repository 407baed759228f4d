"""Calibration's exact plaintext reference, run by tests, benchmarks and the in-process
``backend="plaintext"`` audit: the report computed in numpy straight from the scores, with no
circuit involved (the oracle every encrypted run is compared with)."""

from __future__ import annotations

from typing import Any

import numpy as np

from regaudit.shared.primitives.calibration.conformal import rule_fields
from regaudit.shared.primitives.calibration.inputs import CalibrationData


def reference(data: CalibrationData) -> dict[str, Any]:
    """Exact report in numpy straight from the scores."""
    quantiles = np.asarray(data.public["quantiles"])
    member = data.scores <= quantiles[None, :]
    if data.public["mode"] == "point":
        bits = [int(b) for b in member[0]]
        return {
            "membership": bits,
            "set_size": sum(bits),
            "set_size_range": [sum(bits), sum(bits)],
            "quantiles": data.public["quantiles"],
            **rule_fields(data.public),
        }
    assert data.labels is not None
    covered = member[np.arange(member.shape[0]), data.labels.astype(np.int64)]
    return {
        "points": data.public["points"],
        "quantiles": data.public["quantiles"],
        "mean_set_size": float(member.sum(axis=1).mean()),
        "mean_set_size_error_bound": 0.0,
        "coverage": float(covered.mean()),
        "coverage_error_bound": 0.0,
        **rule_fields(data.public),
    }


__all__ = ["reference"]
