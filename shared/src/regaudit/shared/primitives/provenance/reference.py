"""Provenance's exact plaintext reference: the report computed in numpy from the input, with
no circuit involved (error bound 0). The oracle of the tests, the benchmarks and the in-process
API's ``backend="plaintext"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from regaudit.shared.primitives.provenance.inputs import ProvenanceData
from regaudit.shared.primitives.provenance.report import build_provenance_report


def reference(data: ProvenanceData) -> dict[str, Any]:
    """Exact report in numpy (error bound 0)."""
    totals = np.bincount(
        data.buckets, weights=data.attributions, minlength=data.public["n_buckets"]
    ).astype(np.float64)
    return build_provenance_report(totals, data.public, error_bound=0.0)


__all__ = ["reference"]
