"""concordance under DP: twice the concordant pairs, comparable, tied-risk and tied-event pairs
over the N patients. One patient is in N - 1 pairs; per pair the four counts move by at most
(2, 1, 0, -1) when it changes: l1 = 4 (N - 1), l2 = sqrt(6) (N - 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from regaudit.regulator.privacy.mechanisms import Sensitivity
from regaudit.regulator.privacy.releases.common import Aggregates, PrimitiveRelease
from regaudit.regulator.privacy.releases.common import integer as _integer
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: The concordance counts, in vector order.
CONCORDANCE_COUNTS = ("twice_concordant", "comparable", "tied_risk", "tied_event")


def _concordance_aggregates(verified: VerifiedAudit) -> Aggregates:
    result = verified.result
    patients = _integer(result.get("patients"), "patients")
    twice = 2 * float(result.get("concordant_pairs", float("nan")))
    values = (
        _integer(twice, "concordant_pairs"),
        _integer(result.get("comparable_pairs"), "comparable_pairs"),
        _integer(result.get("tied_risk_pairs"), "tied_risk_pairs"),
        _integer(result.get("tied_event_pairs"), "tied_event_pairs"),
    )
    others = max(patients - 1, 0)
    sensitivity = Sensitivity(4.0 * others, math.sqrt(6.0) * others, "patient")
    if others == 0:
        raise InputError("a concordance release needs at least two patients", field="patients")
    return Aggregates(CONCORDANCE_COUNTS, values, sensitivity)


def _concordance_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. comparable in [0, pairs]; 2. tied risk in [0, comparable];
    3. tied event in [0, pairs - comparable]; 4. twice concordant in [tied risk, 2 comparable -
    tied risk]; 5. the primitive's own ``build_report``, marked not exact."""
    from regaudit.shared.primitives.concordance.layout import pair_count
    from regaudit.shared.primitives.concordance.report import build_report

    patients = int(verified.result["patients"])
    pairs = pair_count(patients)
    twice, comparable, tied_risk, tied_event = (int(v) for v in noised)
    # 1.
    comparable = min(max(comparable, 0), pairs)
    # 2.
    tied_risk = min(max(tied_risk, 0), comparable)
    # 3.
    tied_event = min(max(tied_event, 0), pairs - comparable)
    # 4.
    twice = min(max(twice, tied_risk), 2 * comparable - tied_risk)
    counts = {
        "twice_concordant": twice,
        "comparable": comparable,
        "tied_risk": tied_risk,
        "tied_event": tied_event,
    }
    # 5.
    report = build_report(counts, patients=patients)
    report["exact"] = False
    report["method"] = f"{report['method']}; differentially private counts"
    return report


CONCORDANCE = PrimitiveRelease(
    primitive="concordance",
    aggregates=_concordance_aggregates,
    rebuild=_concordance_rebuild,
    metrics=("c_index",),
    public=("patients", "pairs"),
    error_bounds={"c_index": "c_index_error_bound"},
)

__all__ = ["CONCORDANCE", "CONCORDANCE_COUNTS"]
