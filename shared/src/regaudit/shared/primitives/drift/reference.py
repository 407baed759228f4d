"""Drift's exact plaintext reference: the report straight from the CDFs in numpy (the oracle
of tests and benchmarks; no party runs it in an audit)."""

from __future__ import annotations

from typing import Any

import numpy as np

from regaudit.shared.primitives.drift.inputs import DriftData
from regaudit.shared.primitives.drift.report import assemble


def reference(data: DriftData) -> dict[str, Any]:
    """Exact report in numpy: distance and W1 straight from the CDFs (error bounds 0)."""
    public = data.public
    cdf_gap = np.cumsum(data.p, axis=1) - np.cumsum(data.q, axis=1)
    features = []
    for gap in cdf_gap:
        distance = float(np.sum(gap * gap))
        features.append(
            {
                "distance": distance,
                "distance_error_bound": 0.0,
                "w1_distance": float(np.abs(gap).sum()) * public["bin_width"],
                "w1_error_bound": 0.0,
                "w1_certified_low": float(np.abs(gap).sum()) * public["bin_width"],
                "w1_certified_high": float(np.abs(gap).sum()) * public["bin_width"],
                "drift_detected": distance > public["drift_threshold"],
            }
        )
    return assemble(features, public)


__all__ = ["reference"]
