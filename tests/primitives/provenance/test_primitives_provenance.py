"""Provenance: bucket totals and top-K vs numpy, plan, validation, one real-CKKS run."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from support.validation import assert_rejects_field

from regaudit.shared.errors import NoiseBoundError
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
from regaudit.shared.primitives.provenance.inputs import bucket_of, parse
from regaudit.shared.primitives.provenance.reference import reference as provenance_reference
from regaudit.shared.primitives.provenance.report import (
    build_provenance_report,
    decode,
    decode_totals,
    decode_unrounded,
    release_report,
)
from regaudit.shared.profiles import PROFILE_N8192_D3


def _payload(seed: int, rows: int, buckets: int, k: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "attributions": (rng.standard_t(3, rows) * 0.1).tolist(),
        "row_ids": [f"row-{i}" for i in range(rows)],
        "n_buckets": buckets,
        "k": k,
    }


def test_bucket_hash_is_sha256_mod_n() -> None:
    digest = hashlib.sha256(b"row-7").digest()
    assert bucket_of("row-7", 13) == int.from_bytes(digest, "big") % 13
    assert bucket_of(42, 13) == bucket_of("42", 13)


def test_plaintext_circuit_matches_reference() -> None:
    payload = _payload(1, 30_000, 12, 3)
    data = parse(payload)
    _plan, outputs = evaluate_plaintext(ProvenanceCircuit(), data)
    report = decode(outputs, data.public, data.rows)
    # released totals are rounded to the bound's step; the arithmetic is checked at full
    # precision on the regulator-internal decode
    unrounded = decode_unrounded(outputs, data.public, data.rows)
    assert report == release_report(unrounded)
    reference = provenance_reference(data)
    total = float(np.abs(payload["attributions"]).sum())  # type: ignore[arg-type]
    assert np.allclose(
        unrounded["bucket_totals"], reference["bucket_totals"], rtol=0, atol=1e-9 * total
    )
    assert report["top_k_ids"] == reference["top_k_ids"]
    assert report["top_k_indicator"] == reference["top_k_indicator"]
    assert sum(report["top_k_indicator"]) == 3


def test_close_totals_are_indeterminate() -> None:
    public = {"n_buckets": 4, "k": 2, "attribution_scale": 1.0}
    report = build_provenance_report(np.array([5.0, 3.0, 2.9999, 1.0]), public, error_bound=1e-3)
    assert report["top_k_ids"] == [0, 1]
    assert report["indeterminate_ranks"] == [2, 3]
    assert report["top_k_determined"] is False
    clear = build_provenance_report(np.array([5.0, 3.0, 2.0, 1.0]), public, error_bound=1e-3)
    assert clear["indeterminate_ranks"] == [] and clear["top_k_determined"] is True


def test_plan() -> None:
    data = parse(_payload(2, 20_000, 16, 4))
    plan = make_plan(ProvenanceCircuit(), data.public, rows=data.rows)
    assert (plan.depth, plan.profile, plan.n_outputs) == (2, PROFILE_N8192_D3, 1)
    assert len(plan.columns) == 16 and plan.n_chunks == 1
    assert plan.rotation_steps == tuple(1 << i for i in range(12))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attributions": None}, "attributions"),
        ({"row_ids": None}, "row_ids"),
        ({"n_buckets": None}, "n_buckets"),
        ({"k": None}, "k"),
        ({"attributions": []}, "attributions"),
        ({"attributions": [1.0, "x", 2.0]}, "attributions"),
        ({"attributions": [1.0, float("nan"), 2.0]}, "attributions"),
        ({"row_ids": ["a", "b"]}, "row_ids"),
        ({"row_ids": ["a", "a", "b"]}, "row_ids"),
        ({"row_ids": ["a", None, "b"]}, "row_ids"),
        ({"n_buckets": 0}, "n_buckets"),
        ({"n_buckets": 1025}, "n_buckets"),
        ({"k": 0}, "k"),
        ({"k": 3, "n_buckets": 2}, "k"),
        ({"k": 1.5}, "k"),
        ({"attribution_scale": 3.0}, "attribution_scale"),
        ({"attribution_scale": 2.0**-30}, "attribution_scale"),
        ({"other": 1}, "other"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], field: str) -> None:
    payload: dict[str, object] = {
        "attributions": [0.5, -0.25, 1.0],
        "row_ids": ["a", "b", "c"],
        "n_buckets": 2,
        "k": 1,
    }
    assert_rejects_field(parse, payload, change, field)


def test_decode_rejects_leaks() -> None:
    data = parse(_payload(3, 100, 4, 2))
    _, outputs = evaluate_plaintext(ProvenanceCircuit(), data)
    leaked = outputs[0].copy()
    leaked[10] = 100.0
    with pytest.raises(NoiseBoundError):
        decode_totals([leaked], data.public, data.rows)


def test_real_ckks_matches_reference(ckks_run) -> None:  # type: ignore[no-untyped-def]
    payload = _payload(4, 20_000, 16, 4)
    data = parse(payload)
    circuit = ProvenanceCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    assert plan.profile == PROFILE_N8192_D3
    decrypted = ckks_run(circuit, plan, data.columns(), data.public)
    report = decode(decrypted, data.public, data.rows)
    reference = provenance_reference(data)
    total = float(np.abs(payload["attributions"]).sum())  # type: ignore[arg-type]
    error = float(np.abs(np.subtract(report["bucket_totals"], reference["bucket_totals"])).max())
    assert error <= 1e-6 * total  # the design's target
    assert error <= report["error_bound"]
    ranked = sorted(reference["bucket_totals"], reverse=True)
    if ranked[3] - ranked[4] > 2 * report["error_bound"]:
        assert report["top_k_ids"] == reference["top_k_ids"]
        assert report["top_k_indicator"] == reference["top_k_indicator"]
    print(f"\nprovenance CKKS: max error {error:.2e} (target {1e-6 * total:.2e})")


@pytest.mark.parametrize("rows", [8_000, 20_000])
def test_positive_attributions_stay_within_the_reported_bound(rows: int) -> None:
    """All-positive attributions make every bucket total large: the output mask's encoding
    error (deterministic, ~1e-7 relative at scale 2^30) must be inside the reported bound and
    must not trip the zero-slot check (both did before MASK_RELATIVE_ERROR)."""
    from regaudit.shared import local

    rng = np.random.default_rng(3)
    attributions = rng.random(rows)
    row_ids = [f"r{i}" for i in range(rows)]
    encrypted = local.audit_provenance(attributions, row_ids, n_buckets=16, k=3)
    exact = local.audit_provenance(attributions, row_ids, n_buckets=16, k=3, backend="plaintext")
    error = np.max(np.abs(np.array(encrypted.bucket_totals) - np.array(exact.bucket_totals)))
    assert error <= encrypted.error_bound
    assert encrypted.error_bound <= 1e-6 * float(np.abs(attributions).sum())
    assert encrypted.top_k_ids == exact.top_k_ids
