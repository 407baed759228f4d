"""The client checks the evaluator's receipt before it seals or signs anything, with the very
check the regulator runs (regaudit.shared.evidence.receipts.check_receipt)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from regaudit.client.audit import verify_receipt
from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.ckks import load_ciphertext
from regaudit.shared.errors import (
    BadSignatureError,
    BundleFormatError,
    DigestMismatchError,
    InputError,
    PartialsRootMismatchError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    VerificationError,
    WrongParameterSetError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import canonical_json, utc_now
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.receipts import ReceiptExpectation
from regaudit.shared.evidence.statements import build_receipt_statement, input_manifest_digest
from regaudit.shared.evidence.witness_sampling import EMPTY_PARTIALS_ROOT
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

PUBLIC = {"threshold": 0.1, "groups": ["group_a", "group_b"]}
ROWS = 100
SEED = bytes(range(32))


def _ciphertexts(count: int) -> list[bytes]:
    """Real (evaluated, not seeded) ciphertexts: the receipt binds their canonical content."""
    keys = ClientKeys.generate(PROFILE_N8192_D3, galois_steps=())
    return [
        load_ciphertext(PROFILE_N8192_D3, keys.encrypt([float(i)], level=0), level=0).to_bytes()
        for i in range(count)
    ]


OUTPUT_0, CANARY, OTHER = _ciphertexts(3)
OUTPUTS = [OUTPUT_0]
EVAL_KEYS = "sha256:" + "ab" * 32
MANIFEST = input_manifest_digest(
    [("__canary__", 0, "sha256:" + "01" * 32), ("y_true", 0, "sha256:" + "02" * 32)]
)

EVALUATOR = SigningIdentity.generate("evaluator")
CLIENT_KEY_ID = "c1" * 32
REGULATOR_KEY_ID = "e9" * 32
HEADER_DIGEST = "sha256:" + "4e" * 32
PLAN = make_plan(FairnessCircuit(), PUBLIC, rows=ROWS, profile=PROFILE_N8192_D3)


def receipt(signer: SigningIdentity = EVALUATOR, **changes: Any) -> dict[str, Any]:
    now = utc_now()
    fields: dict[str, Any] = {
        "job_id": "job-1",
        "circuit_id": PLAN.circuit_id,
        "circuit_version": PLAN.circuit_version,
        "profile_name": PLAN.profile.name,
        "profile_hash": PLAN.profile.profile_hash,
        "evaluation_keys_digest": EVAL_KEYS,
        "inputs_manifest_digest": MANIFEST,
        "input_count": PLAN.input_count,
        "rows": ROWS,
        "public_inputs": PUBLIC,
        "canary_seed_hex": SEED.hex(),
        "outputs": [("output/0", OUTPUTS[0]), ("canary", CANARY)],
        "output_contents": [
            ("output/0", ciphertext_content_digest(OUTPUT_0)),
            ("canary", ciphertext_content_digest(CANARY)),
        ],
        "partials_root": "sha256:" + "0e" * 32,
        "partials_count": PLAN.n_chunks,
        "depth_planned": PLAN.depth,
        "depth_observed": PLAN.depth,
        "operation_counts": PLAN.counts.to_dict(),
        "started_at": now - timedelta(seconds=2),
        "finished_at": now,
        "evaluator_key_id": signer.key_id,
        "software": {"regaudit-evaluator": "0.1.0"},
        "audit_id": "audit-1",
        "client_key_id": CLIENT_KEY_ID,
        "regulator_key_id": REGULATOR_KEY_ID,
        "job_header_digest": HEADER_DIGEST,
        "retention": {"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    }
    fields.update(changes)
    statement = build_receipt_statement(**fields)
    return sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=signer
    )


def check(envelope: dict[str, Any], **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "evaluator_key": EVALUATOR.public_record(),
        "job_id": "job-1",
        "plan": PLAN,
        "public_inputs": PUBLIC,
        "audit_id": "audit-1",
        "client_key_id": CLIENT_KEY_ID,
        "regulator_key_id": REGULATOR_KEY_ID,
        "evaluation_keys_digest": EVAL_KEYS,
        "inputs_manifest_digest": MANIFEST,
        "canary_seed": SEED,
        "outputs": OUTPUTS,
        "canary_output": CANARY,
        "job_header_digest": HEADER_DIGEST,
    }
    arguments.update(changes)
    return verify_receipt(envelope, expected=ReceiptExpectation(**arguments))


def test_a_matching_receipt_verifies() -> None:
    parsed = check(receipt())
    assert parsed.job_id == "job-1"
    assert parsed.inputs_manifest_digest == MANIFEST


def test_receipt_signed_by_another_key_is_rejected() -> None:
    impostor = SigningIdentity.generate("evaluator")
    with pytest.raises(BadSignatureError):
        check(receipt(signer=impostor))
    # ... even when it claims the announced evaluator's key id
    forged = receipt(signer=impostor, evaluator_key_id=EVALUATOR.key_id)
    forged["signatures"][0]["keyid"] = EVALUATOR.key_id
    with pytest.raises(BadSignatureError):
        check(forged)


def test_tampered_payload_is_rejected() -> None:
    envelope = receipt()
    other = receipt(rows=ROWS + 1)
    envelope["payload"] = other["payload"]
    with pytest.raises(BadSignatureError):
        check(envelope)


@pytest.mark.parametrize(
    ("receipt_changes", "client_changes", "error", "field"),
    [
        (
            {"inputs_manifest_digest": "sha256:" + "cd" * 32},
            {},
            DigestMismatchError,
            "inputs_manifest_digest",
        ),
        ({"input_count": 99}, {}, DigestMismatchError, "input_count"),
        (
            {"evaluation_keys_digest": "sha256:" + "ef" * 32},
            {},
            DigestMismatchError,
            "evaluation_keys_digest",
        ),
        ({"job_id": "job-2"}, {}, DigestMismatchError, "job_id"),
        ({"rows": ROWS + 1}, {}, DigestMismatchError, "rows"),
        ({"public_inputs": {**PUBLIC, "threshold": 0.5}}, {}, DigestMismatchError, "public_inputs"),
        ({"canary_seed_hex": "00" * 32}, {}, DigestMismatchError, "canary_seed"),
        # (the shared check names the ciphertext whose digest differs)
        ({}, {"outputs": [b"something else"]}, DigestMismatchError, "output/0"),
        ({}, {"canary_output": b"other canary"}, DigestMismatchError, "canary"),
        ({}, {"outputs": OUTPUTS * 2}, DigestMismatchError, "outputs"),
        # (an honest run's contents paired with other bytes)
        (
            {
                "output_contents": [
                    ("output/0", ciphertext_content_digest(OTHER)),
                    ("canary", ciphertext_content_digest(CANARY)),
                ]
            },
            {},
            DigestMismatchError,
            "output_contents.output/0",
        ),
        ({"circuit_version": "2"}, {}, UnsupportedCircuitError, "circuit_id"),
        (
            {
                "profile_name": PROFILE_N16384_D6.name,
                "profile_hash": PROFILE_N16384_D6.profile_hash,
            },
            {},
            WrongParameterSetError,
            "profile_hash",
        ),
        ({"depth_planned": PLAN.depth + 1}, {}, DigestMismatchError, "depth_planned"),
        # the bindings of the client-signed job header
        ({"audit_id": "audit-2"}, {}, DigestMismatchError, "audit_id"),
        ({"client_key_id": "c2" * 32}, {}, DigestMismatchError, "client_key_id"),
        ({"regulator_key_id": "e8" * 32}, {}, WrongRegulatorKeyError, "regulator_key_id"),
        (
            {"job_header_digest": "sha256:" + "4f" * 32},
            {},
            DigestMismatchError,
            "job_header_digest",
        ),
        # self-reported depth and counts must be the plan's (the client's check is as strict
        # as the regulator's)
        ({"depth_observed": PLAN.depth - 1}, {}, WrongParameterSetError, "depth_observed"),
        (
            {"operation_counts": {**PLAN.counts.to_dict(), "rotations": 0}},
            {},
            DigestMismatchError,
            "operation_counts.rotations",
        ),
        # the per-row inputs must be deleted when the job ends
        (
            {
                "retention": {
                    "input_ciphertexts": "retained_until_jobs_end",
                    "evaluation_keys": "deleted",
                }
            },
            {},
            DigestMismatchError,
            "retention.input_ciphertexts",
        ),
        # stale or future-dated receipts
        (
            {
                "started_at": utc_now() - timedelta(days=9),
                "finished_at": utc_now() - timedelta(days=8),
            },
            {},
            StaleEvidenceError,
            "finished_at",
        ),
        (
            {"started_at": utc_now(), "finished_at": utc_now() + timedelta(hours=1)},
            {},
            StaleEvidenceError,
            "finished_at",
        ),
    ],
)
def test_every_mismatch_is_a_verification_error_naming_the_field(
    receipt_changes: dict[str, Any],
    client_changes: dict[str, Any],
    error: type[VerificationError],
    field: str,
) -> None:
    with pytest.raises(error) as info:
        check(receipt(**receipt_changes), **client_changes)
    assert info.value.field == field
    assert info.value.exit_code == 1


def test_malformed_envelope_is_rejected() -> None:
    envelope = receipt()
    envelope["payloadType"] = "text/plain"
    with pytest.raises(VerificationError):
        check(envelope)
    with pytest.raises(BundleFormatError):
        check({"payload": "", "signatures": []})


def test_plan_is_what_the_client_checks_against() -> None:
    other_plan = dataclasses.replace(PLAN, rows=ROWS + 5)
    with pytest.raises(DigestMismatchError):
        check(receipt(), plan=other_plan)


def test_client_and_regulator_run_the_same_receipt_check() -> None:
    """One implementation: the regulator's verifier and the client's check both call it."""
    import inspect

    from regaudit.client import audit
    from regaudit.regulator import verify

    assert "check_receipt(" in inspect.getsource(audit.verify_receipt)
    assert "check_receipt(" in inspect.getsource(verify.verify_bundle)


def test_partials_are_committed_exactly_when_the_header_asked() -> None:
    """``commit_partials`` in the signed header: a receipt must commit to one partial digest per
    chunk when it was asked, to none (count 0, the empty-list root) when it was not; a checker
    that does not know the header (the regulator) accepts either, but never a wrong count."""
    committed = receipt()
    none = receipt(partials_root=EMPTY_PARTIALS_ROOT, partials_count=0)
    assert check(committed, commit_partials=True).partials_count == PLAN.n_chunks
    assert check(none, commit_partials=False).partials_count == 0
    assert check(committed).partials_count == PLAN.n_chunks  # (commit_partials unknown: None)
    assert check(none).partials_root == EMPTY_PARTIALS_ROOT
    # claims partials the header did not ask for / none for a header that asked
    for envelope, asked in ((committed, False), (none, True)):
        with pytest.raises(PartialsRootMismatchError) as info:
            check(envelope, commit_partials=asked)
        assert info.value.reason == "partials_root_mismatch"
        assert info.value.field == "partials_count"
        assert info.value.exit_code == 1
    # a count that is not the plan's chunk count, whatever the header
    with pytest.raises(PartialsRootMismatchError) as info:
        check(receipt(partials_count=PLAN.n_chunks + 1))
    assert info.value.field == "partials_count"


@pytest.mark.parametrize(
    ("root", "count"),
    [(EMPTY_PARTIALS_ROOT, 1), ("sha256:" + "0e" * 32, 0)],
)
def test_the_empty_root_goes_with_count_zero_only(root: str, count: int) -> None:
    with pytest.raises(InputError) as built:
        receipt(partials_root=root, partials_count=count)
    assert built.value.field == "partials_root"
    # the strict parser refuses the same pairing in a signed receipt
    statement = json.loads(base64.b64decode(receipt()["payload"]))
    statement["predicate"].update(partials_root=root, partials_count=count)
    forged = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=EVALUATOR
    )
    with pytest.raises(BundleFormatError) as parsed:
        check(forged)
    assert parsed.value.field == "partials_root"
