"""The exact disagreement reference: every model evaluated on every input in numpy (no
circuit). The oracle of tests, benchmarks and the in-process ``backend="plaintext"``."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from regaudit.shared.primitives.disagreement.inputs import DisagreementData


def reference(data: DisagreementData) -> dict[str, Any]:
    """Exact report in numpy, evaluating every model on every input directly."""
    x = data.test_input
    outputs = [
        np.polynomial.polynomial.polyval(x, np.asarray(c)) for c in data.public["model_polynomials"]
    ]
    pairs = list(combinations(range(len(outputs)), 2))
    mpsd = float(np.mean([np.mean((outputs[a] - outputs[b]) ** 2) for a, b in pairs]))
    return {
        "mean_pairwise_squared_difference": mpsd,
        "error_bound": 0.0,
        "threshold": data.public["threshold"],
        "threshold_breached": mpsd > data.public["threshold"],
        "per_model_mean_outputs": [float(np.mean(o)) for o in outputs],
        "per_model_error_bounds": [0.0] * len(outputs),
        "models": len(outputs),
        "pairs": len(pairs),
    }


__all__ = ["reference"]
