"""The seed-compatible view against the seed library's own published artefacts.

The schemas are the ones inside regaudit-fhe 0.1.0's wheel on PyPI (downloaded once by
:mod:`support.seed_wheel`, never copied here); the oracles are the seed's own plaintext
functions, imported from the same wheel. Every primitive's CKKS result, as the in-process API
returns it, must validate through ``to_seed_dict()``; our own fields must not (the schemas
forbid extra properties, so the mapping is what makes them pass)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from support.seed_wheel import (
    SEED_PRIMITIVES,
    seed_module,
    seed_output_schemas,
    validate_seed_output,
)

from regaudit.shared import local
from regaudit.shared.errors import SeedIncompatibleError
from regaudit.shared.seed_view import SEED_OUTPUT_FIELDS, seed_compatible

PRIMITIVES_DIR = Path(local.__file__).parent / "primitives"


def _example(primitive: str) -> dict[str, Any]:
    payload = json.loads((PRIMITIVES_DIR / primitive / "example.input.json").read_text())
    assert isinstance(payload, dict)
    return payload


def test_the_wheel_publishes_six_strict_output_schemas() -> None:
    schemas = seed_output_schemas()
    assert sorted(schemas) == sorted(SEED_PRIMITIVES)
    for primitive, schema in schemas.items():
        assert schema["additionalProperties"] is False, primitive
        # our field list is exactly the seed's required list, in its order
        assert tuple(schema["required"]) == SEED_OUTPUT_FIELDS[primitive], primitive
        assert set(schema["properties"]) == set(SEED_OUTPUT_FIELDS[primitive]), primitive


def _calibration_point() -> dict[str, Any]:
    # the seed's one-point shape: K scores, one quantile each, far from the quantile
    return {"scores": [0.1, 0.9, 0.3, 0.7], "quantiles": 0.5}


@pytest.mark.parametrize("primitive", SEED_PRIMITIVES)
def test_every_ckks_result_validates_against_the_seed_schema(primitive: str) -> None:
    payload = _calibration_point() if primitive == "calibration" else _example(primitive)
    report = local.audit(primitive, payload, profile=None)
    view = report.to_seed_dict()
    validate_seed_output(primitive, view)
    assert list(view) == list(SEED_OUTPUT_FIELDS[primitive])
    # the view is needed: our own result has other or more fields, which the schema refuses
    with pytest.raises(jsonschema.ValidationError):
        validate_seed_output(primitive, report.to_dict())


def test_renamed_fields_carry_our_values() -> None:
    drift = local.audit("drift", _example("drift"), backend="plaintext")
    view = drift.to_seed_dict()
    assert view["drift_bit"] is drift.drift_detected
    assert view["distance"] == drift.distance and view["w1_distance"] == drift.w1_distance
    disagreement = local.audit("disagreement", _example("disagreement"), backend="plaintext")
    view = disagreement.to_seed_dict()
    assert view["pairwise_variance"] == disagreement.mean_pairwise_squared_difference
    assert view["breach"] is disagreement.threshold_breached
    assert view["per_model_outputs"] == disagreement.per_model_mean_outputs
    provenance = local.audit("provenance", _example("provenance"), backend="plaintext")
    view = provenance.to_seed_dict()
    assert view["bucket_aggregates"] == provenance.bucket_totals
    assert view["topk_indices"] == provenance.top_k_ids
    assert view["topk_indicator"] == provenance.top_k_indicator


def test_fairness_view_equals_the_seeds_oracle_even_for_undefined_rates() -> None:
    # group_a has no predicted positive: our precision there is undefined, the seed's is 0
    rng = np.random.default_rng(7)
    n = 400
    group_a = (rng.random(n) < 0.55).astype(int)
    group_b = 1 - group_a
    y_true = rng.integers(0, 2, n)
    y_pred = np.where(group_a == 1, 0, rng.integers(0, 2, n))
    report = local.audit_fairness(y_true, y_pred, group_a, group_b, threshold=0.1)
    assert report.groups["group_a"]["precision"] is None
    seed = seed_module("egf_imss").fairness_oracle(
        y_true.astype(float),
        y_pred.astype(float),
        group_a.astype(float),
        group_b.astype(float),
        0.1,
    )
    view = report.to_seed_dict()
    validate_seed_output("fairness", view)
    for name in ("demographic_parity_diff", "equal_opportunity_diff", "predictive_parity_diff"):
        assert view[name] == pytest.approx(getattr(seed, name), abs=1e-12), name
    assert view["threshold_breached"] is bool(seed.threshold_breached)
    assert view["demographic_parity_diff"] < 0  # signed a - b, as the seed (ours: a spread)
    assert report.demographic_parity_diff == pytest.approx(-view["demographic_parity_diff"])


def test_provenance_and_concordance_views_equal_the_seeds_oracles() -> None:
    # bucket ids differ on purpose: ours are SHA-256(row id) mod n (any string id), the seed's a
    # universal hash of integer ids; the view carries our buckets, ranked by the seed's rule
    rng = np.random.default_rng(3)
    attributions = rng.exponential(1.0, 300)
    row_ids = [f"row-{i}" for i in range(300)]
    report = local.audit_provenance(attributions, row_ids, n_buckets=12, k=3, backend="plaintext")
    view = report.to_seed_dict()
    from regaudit.shared.primitives.provenance.inputs import bucket_of

    totals = np.zeros(12)
    for value, row_id in zip(attributions, row_ids, strict=True):
        totals[bucket_of(row_id, 12)] += value
    np.testing.assert_allclose(view["bucket_aggregates"], totals, atol=1e-9)
    seed_rule = sorted(range(12), key=lambda i: (-totals[i], i))[:3]  # the seed's top-K
    assert view["topk_indices"] == seed_rule
    assert view["topk_indicator"] == [int(i in seed_rule) for i in range(12)]

    risk, time = rng.normal(size=40), rng.exponential(10.0, 40)
    event = rng.integers(0, 2, 40)
    concordance = local.audit_concordance(risk, time, event, backend="plaintext").to_seed_dict()
    seed_c = seed_module("esc_cia").c_index_oracle(risk, time, event.astype(float))
    assert concordance["c_index"] == pytest.approx(seed_c.c_index, abs=1e-12)
    assert concordance["comparable_pairs"] == seed_c.comparable_pairs


def test_drift_and_disagreement_views_equal_the_seeds_oracles() -> None:
    rng = np.random.default_rng(11)
    p, q = rng.integers(1, 30, 12).astype(float), rng.integers(1, 30, 12).astype(float)
    view = local.audit_drift(p, q, drift_threshold=0.01, backend="plaintext").to_seed_dict()
    drift = seed_module("ew1_cdsf")
    assert view["distance"] == pytest.approx(drift.cvm_oracle(p, q), abs=1e-12)
    assert view["w1_distance"] == pytest.approx(drift.w1_oracle(p, q), abs=1e-12)
    assert view["drift_bit"] is (drift.cvm_oracle(p, q) > 0.01)

    models = [[0.0, 1.0, 0.1], [0.1, 0.9], [0.0, 1.1, -0.05]]
    x = rng.uniform(-1, 1, 50)
    predictions = np.array([np.polyval(list(reversed(m)), x) for m in models])
    seed = seed_module("ecmd_jps").disagreement_oracle(predictions, 0.01)
    view = local.audit_disagreement(models, x, threshold=0.01, backend="plaintext").to_seed_dict()
    assert view["pairwise_variance"] == pytest.approx(seed.pairwise_variance, abs=1e-12)
    assert view["breach"] is bool(seed.breach)
    np.testing.assert_allclose(view["per_model_outputs"], seed.per_model_outputs, atol=1e-12)


def test_calibration_point_view_equals_the_seeds_oracle() -> None:
    point = _calibration_point()
    view = local.audit("calibration", point).to_seed_dict()
    seed = seed_module("ecp_qssp").conformal_oracle(
        np.asarray(point["scores"]), np.full(4, point["quantiles"])
    )
    assert view["membership"] == list(seed.membership)
    assert view["set_size"] == seed.set_size


@pytest.mark.parametrize(
    ("primitive", "fields", "field"),
    [
        # a decision within its error bound of the threshold: the seed has booleans only
        ("drift", {"distance": 0.1, "w1_distance": 0.2, "drift_detected": "indeterminate"},
         "drift_detected"),
        ("disagreement", {"mean_pairwise_squared_difference": 0.01, "threshold_breached": None,
                          "per_model_mean_outputs": [0.1, 0.2]}, "threshold_breached"),
        # a batch's coverage has no seed field
        ("calibration", {"points": 3, "coverage": 0.9, "mean_set_size": 1.2}, "membership"),
        ("calibration", {"membership": [1, "indeterminate"], "set_size": None}, "membership"),
        ("provenance", {"bucket_totals": [1.0, 1.0], "top_k_ids": [0], "top_k_indicator": [1, 0],
                        "top_k_determined": False, "indeterminate_ranks": [0]}, "top_k_ids"),
        ("concordance", {"concordant_pairs": 0, "comparable_pairs": 0, "c_index": None},
         "c_index"),
        ("toy", {}, "primitive"),
    ],
)  # fmt: skip
def test_what_the_seed_cannot_express_is_refused(
    primitive: str, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(SeedIncompatibleError) as caught:
        seed_compatible(primitive, fields)
    assert caught.value.reason == "seed_incompatible"
    assert caught.value.field == field
    assert caught.value.exit_code == 2
