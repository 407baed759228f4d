"""Fairness: the exact plaintext reference (the oracle of tests, benchmarks and the in-process
API) -- the report computed from the plaintext columns directly, no circuit involved."""

from __future__ import annotations

from typing import Any

import numpy as np

from regaudit.shared.primitives.fairness.inputs import FairnessData
from regaudit.shared.primitives.fairness.report import GroupCounts, build_report


def plaintext_counts(data: FairnessData) -> dict[str, GroupCounts]:
    """Exact per-group counts straight from the plaintext columns (no circuit)."""
    counts: dict[str, GroupCounts] = {}
    truth = data.y_true.astype(np.int64)
    pred = data.y_pred.astype(np.int64)
    for name in data.public["groups"]:
        member = data.memberships[name].astype(np.int64)
        counts[name] = GroupCounts(
            count=int(member.sum()),
            positives=int((member & truth).sum()),
            predicted_positives=int((member & pred).sum()),
            true_positives=int((member & truth & pred).sum()),
        )
    return counts


def reference(data: FairnessData) -> dict[str, Any]:
    """The report computed from plaintext counts directly in numpy (the oracle)."""
    return build_report(
        plaintext_counts(data),
        threshold=data.public["threshold"],
        rows=data.rows,
        reference_group=data.public.get("reference_group"),
        exclude_small=bool(data.public.get("exclude_small", False)),
        score_median=data.public.get("score_median"),
    )


__all__ = ["plaintext_counts", "reference"]
