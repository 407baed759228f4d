"""Concordance: the exact plaintext reference (the oracle of tests, benchmarks and the
plaintext backend of the in-process API); no circuit involved."""

from __future__ import annotations

from typing import Any

from regaudit.shared.primitives.concordance.inputs import ConcordanceData, exact_counts


def reference(data: ConcordanceData) -> dict[str, Any]:
    """Exact plaintext Harrell's C of ``data`` (the oracle): ``c_index``, ``concordant_pairs``
    (risk ties as 1/2), ``comparable_pairs``, ``tied_risk_pairs`` (comparable pairs with equal
    risk), ``tied_time_pairs`` (event/censoring pairs at the same time, sksurv's ``tied_time``)."""
    return exact_counts(data.risk, data.time, data.event)


__all__ = ["reference"]
