"""The decision extractors of :mod:`regaudit.regulator.result_policy` on decoded results of
every primitive (the shapes the decoders return), the gate, and the result policy's strict
validation in the trust store."""

from __future__ import annotations

from typing import Any

import pytest

from regaudit.regulator.result_policy import (
    EXTRACTORS,
    compare,
    decisions_of,
    gate,
    outcome_json,
    outcome_text,
)
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.result_policy import ResultPolicy, parse_threshold_option
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives import all_primitives

NONE = ResultPolicy()


def drift_result(distances: list[float], flags: list[Any]) -> dict[str, Any]:
    features = [
        {"distance": d, "distance_error_bound": 0.01, "w1_distance": d / 2, "w1_error_bound": 0.02,
         "drift_detected": f}
        for d, f in zip(distances, flags, strict=True)
    ]  # fmt: skip
    return {"drift_threshold": 0.2, "features": features, "drift_detected": True}


def statuses(primitive: str, result: dict[str, Any], policy: ResultPolicy = NONE) -> list[str]:
    return [d.status for d in decisions_of(primitive, result, policy)]


def test_every_registered_primitive_has_an_extractor() -> None:
    assert {p.name for p in all_primitives()} <= set(EXTRACTORS)


def test_compare_uses_the_direction_and_the_error_bound() -> None:
    assert compare(0.1, 0.1) == "pass" and compare(0.11, 0.1) == "breach"
    assert compare(0.7, 0.75, direction="min") == "breach"
    assert compare(0.8, 0.75, direction="min") == "pass"
    assert compare(0.105, 0.1, bound=0.01) == "indeterminate"
    assert compare(None, 0.1) == "indeterminate"


def test_drift_uses_the_decoders_decisions_or_the_policys_threshold() -> None:
    result = drift_result([0.05, 0.3, 0.2], [False, True, "indeterminate"])
    audit = decisions_of("drift", result, NONE)
    assert [d.status for d in audit] == ["pass", "breach", "indeterminate"]
    assert {d.source for d in audit} == {"audit"} and audit[0].threshold == 0.2
    assert audit[1].name == "feature[1].distance"
    policy = ResultPolicy(thresholds={"drift.distance": 0.5, "drift.w1_distance": 0.1})
    gated = decisions_of("drift", result, policy)
    assert [(d.name, d.status) for d in gated] == [
        ("feature[0].distance", "pass"),
        ("feature[0].w1_distance", "pass"),
        ("feature[1].distance", "pass"),
        ("feature[1].w1_distance", "breach"),
        ("feature[2].distance", "pass"),
        ("feature[2].w1_distance", "indeterminate"),  # 0.1 within its bound 0.02 of 0.1
    ]
    assert {d.source for d in gated} == {"policy"}


def test_disagreement_concordance_calibration_and_provenance() -> None:
    disagreement = {"mean_pairwise_squared_difference": 0.04, "error_bound": 0.001,
                    "threshold": 0.05, "threshold_breached": False}  # fmt: skip
    assert statuses("disagreement", disagreement) == ["pass"]
    stricter = ResultPolicy(thresholds={"disagreement.mean_pairwise_squared_difference": 0.03})
    assert statuses("disagreement", disagreement, stricter) == ["breach"]
    indeterminate = {**disagreement, "threshold_breached": "indeterminate"}
    assert statuses("disagreement", indeterminate) == ["indeterminate"]
    concordance = {"c_index": 0.68, "c_index_error_bound": 0.0}
    assert statuses("concordance", concordance) == []  # no decision without a policy minimum
    minimum = ResultPolicy(thresholds={"concordance.c_index": 0.7})
    [decision] = decisions_of("concordance", concordance, minimum)
    assert (decision.status, decision.direction, decision.source) == ("breach", "min", "policy")
    assert statuses("concordance", {"c_index": None}, minimum) == ["indeterminate"]
    coverage = ResultPolicy(thresholds={"calibration.coverage": 0.9})
    batch = {"coverage": 0.905, "coverage_error_bound": 0.01}
    assert statuses("calibration", batch, coverage) == ["indeterminate"]
    assert statuses("calibration", {"membership": [1, 0]}, coverage) == []  # point mode
    assert statuses("provenance", {"top_k": [1, 2]}, coverage) == []


def test_fairness_reference_group_and_tau() -> None:
    result = {
        "groups": {"m": {"selection_rate": 0.5}, "f": {"selection_rate": 0.6}},
        "impact_ratios": {"m": 0.8333, "f": 1.0},
        "max_gap": 0.1, "threshold": 0.2, "threshold_breached": False,
    }  # fmt: skip
    assert statuses("fairness", result) == ["pass", "pass"]
    against_m = ResultPolicy(reference_group="m", four_fifths=0.9)
    ratio = decisions_of("fairness", result, against_m)[-1]
    assert (ratio.name, ratio.value, ratio.status) == ("min_impact_ratio", 1.0, "pass")
    assert statuses("fairness", result, ResultPolicy(four_fifths=0.9)) == ["pass", "breach"]
    absent = ResultPolicy(reference_group="x")  # not a group of the result: the result's own
    assert decisions_of("fairness", result, absent)[-1].value == 0.8333
    no_ratios = {k: v for k, v in result.items() if k != "impact_ratios"}
    assert [d.name for d in decisions_of("fairness", no_ratios, NONE)] == ["max_gap"]


def test_the_gate_and_its_rendering() -> None:
    result = drift_result([0.05, 0.2], [False, "indeterminate"])
    decisions = decisions_of("drift", result, NONE)
    assert gate(decisions) == "breach" and gate(decisions, indeterminate_ok=True) == "pass"
    outcome = outcome_json(decisions, indeterminate_ok=True)
    assert outcome["gate"] == "pass" and len(outcome["decisions"]) == 2
    text = outcome_text(outcome)
    assert text.startswith("outcome gate: PASS\n")
    assert "indeterminate feature[1].distance = 0.2 (must be <= 0.2" in text
    assert gate([]) == "pass"


def test_the_result_policy_round_trips_and_is_strict() -> None:
    store = TrustStore.new_default()
    assert store.to_dict()["result_policy"] == {
        "thresholds": {}, "four_fifths": 0.8, "reference_group": None,
    }  # fmt: skip
    store.result_policy = ResultPolicy(thresholds={"concordance.c_index": 0.7}, four_fifths=0.75)
    again = TrustStore.from_dict(store.to_dict())
    assert again.result_policy == store.result_policy
    legacy = {k: v for k, v in store.to_dict().items() if k != "result_policy"}
    assert TrustStore.from_dict(legacy).result_policy == ResultPolicy()
    assert parse_threshold_option("drift.distance = 0.3") == ("drift.distance", 0.3)
    for bad, field in (
        ({"thresholds": {"fairness.max_gap": True}}, "result_policy.thresholds.fairness.max_gap"),
        ({"four_fifths": 0}, "trust.result_policy.four_fifths"),
        ({"reference_group": ""}, "trust.result_policy.reference_group"),
        ({"extra": 1}, "trust.result_policy.extra"),
        ({"thresholds": []}, "trust.result_policy.thresholds"),
    ):
        with pytest.raises(InputError) as caught:
            TrustStore.from_dict({**store.to_dict(), "result_policy": bad})
        assert caught.value.field == field
