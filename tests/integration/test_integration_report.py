"""Rendering of every primitive's result shape: decisions (breached / detected /
indeterminate), error bounds and per-item records, in text and HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regaudit.regulator.report import html as report_html
from regaudit.regulator.report import model, values


def _fake(result: dict[str, Any]) -> Any:
    """A VerifiedAudit stand-in: the renderers read ``result`` and the evidence summary."""

    class Fake:
        pass

    fake = Fake()
    fake.result = result  # type: ignore[attr-defined]
    return fake


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        (True, "threshold_breached", "BREACHED"),
        (False, "threshold_breached", "not breached"),
        (True, "drift_detected", "DETECTED"),
        (False, "drift_detected", "not detected"),
        ("indeterminate", "drift_detected", "INDETERMINATE"),
        (None, "four_fifths_breached", "indeterminate (undefined)"),
    ],
)
def test_decisions(value: Any, name: str, expected: str) -> None:
    assert values.decision_text(value, name).startswith(expected)


def test_drift_shape_splits_into_bounds_records_and_decision() -> None:
    result = {
        "distance": 0.25,
        "w1_distance": 0.5,
        "w1_error_bound": 0.01,
        "drift_detected": "indeterminate",
        "features": [
            {"distance": 0.25, "w1_distance": 0.5, "drift_detected": "indeterminate"},
            {"distance": 0.01, "w1_distance": 0.1, "drift_detected": False},
        ],
    }
    metrics, decisions, maps, groups = model.split_result(result)
    assert decisions == [("drift_detected", "indeterminate")]
    assert [name for name, _ in maps] == ["features"] and not groups
    bounded = model.with_bounds(metrics)
    assert ("w1_distance", 0.5, 0.01) in bounded
    assert all(name != "w1_error_bound" for name, _, _ in bounded)
    html = report_html.metrics_table(metrics)
    assert "0.5 ± 0.01" in html
    assert model.record_columns(maps[0][1]) == ["distance", "w1_distance", "drift_detected"]


def test_every_primitive_report_renders(tmp_path: Path) -> None:
    """Decoded results of each primitive (plaintext oracles) go through the generic split
    without losing a field."""
    import numpy as np

    from regaudit.shared import local

    results = [
        local.audit_concordance(
            [0.3, 0.1, 0.2, 0.5], [1, 2, 3, 4], [1, 1, 0, 1], backend="plaintext"
        ),
        local.audit_drift([1, 2, 3], [3, 2, 1], backend="plaintext"),
        local.audit_disagreement([[0, 1], [0, 1.1], [0.1, 1]], [0.1, 0.5], backend="plaintext"),
        local.audit_calibration([0.2, 0.8], [0.5, 0.5], backend="plaintext"),
        local.audit_provenance(
            np.ones(10), [str(i) for i in range(10)], n_buckets=4, k=2, backend="plaintext"
        ),
    ]
    for item in results:
        metrics, decisions, maps, groups = model.split_result(item.to_dict())
        shown = {n for n, _ in metrics} | {n for n, _ in decisions} | {n for n, _ in maps}
        assert shown | set(groups) >= set(item.to_dict()) - {"groups", "undefined"}
