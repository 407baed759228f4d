"""in-toto receipt and submission statements."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope, verify_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import (
    RECEIPT_PREDICATE,
    SUBMISSION_PREDICATE,
    build_receipt_statement,
    build_submission_statement,
    input_manifest_digest,
    parse_receipt,
    parse_statement,
    parse_submission,
    receipt_digest,
)
from regaudit.shared.profiles import PROFILE_N8192_D3

EVALUATOR = SigningIdentity.generate("evaluator")
CLIENT = SigningIdentity.generate("client")
T0 = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)
D = "sha256:" + "ab" * 32


def receipt_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        job_id="job-1",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=PROFILE_N8192_D3.name,
        profile_hash=PROFILE_N8192_D3.profile_hash,
        evaluation_keys_digest=D,
        inputs_manifest_digest=input_manifest_digest(
            [("y_true", 0, sha256_digest(b"c0")), ("y_pred", 0, sha256_digest(b"c1"))]
        ),
        input_count=2,
        rows=1000,
        public_inputs={"threshold": 0.5, "groups": ["a", "b"]},
        canary_seed_hex="00ff" * 8,
        outputs=[("counts", b"ciphertext-1"), ("canary", b"ciphertext-2")],
        output_contents=[("counts", D), ("canary", D)],
        partials_root=D,
        partials_count=1,
        depth_planned=2,
        depth_observed=2,
        operation_counts={"rotations": 12, "ct_ct_multiplications": 3, "rotation_steps": [1, 2]},
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        evaluator_key_id=EVALUATOR.key_id,
        software={"regaudit": "0.1.0", "seal": "4.1"},
        audit_id="audit-1",
        client_key_id=CLIENT.key_id,
        regulator_key_id="cd" * 32,
        job_header_digest="sha256:" + "12" * 32,
        retention={"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    )
    kwargs.update(changes)
    return kwargs


def signed_receipt() -> dict[str, Any]:
    payload = canonical_json(build_receipt_statement(**receipt_kwargs()))
    return sign_envelope(payload, payload_type=PAYLOAD_TYPE_INTOTO, identity=EVALUATOR)


def submission_kwargs(receipt: dict[str, Any], **changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        audit_id="audit-1",
        receipt_envelope=receipt,
        primitive="fairness",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=PROFILE_N8192_D3.name,
        profile_hash=PROFILE_N8192_D3.profile_hash,
        rows=1000,
        columns=["y_true", "y_pred"],
        data_description={"source": "sample.json", "groups": 2},
        input_commitments={"y_true": D, "y_pred": sha256_digest(b"x")},
        inputs_manifest_digest=D,
        evaluation_keys_digest=D,
        sealed_key_digest=D,
        regulator_key_id="cd" * 32,
        evaluator_key_id=EVALUATOR.key_id,
        job_id="job-1",
        created_at=T0,
    )
    kwargs.update(changes)
    return kwargs


def test_receipt_build_sign_verify_parse() -> None:
    statement = build_receipt_statement(**receipt_kwargs())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == RECEIPT_PREDICATE
    assert statement["subject"] == [
        {"name": "counts", "digest": {"sha256": hashlib.sha256(b"ciphertext-1").hexdigest()}},
        {"name": "canary", "digest": {"sha256": hashlib.sha256(b"ciphertext-2").hexdigest()}},
    ]
    envelope = signed_receipt()
    payload = verify_envelope(envelope, public_key=EVALUATOR.public_key, key_id=EVALUATOR.key_id)
    receipt = parse_receipt(payload)
    assert receipt.circuit_id == "fairness" and receipt.rows == 1000
    assert receipt.outputs == (
        ("counts", sha256_digest(b"ciphertext-1")),
        ("canary", sha256_digest(b"ciphertext-2")),
    )
    assert receipt.canary_seed == bytes.fromhex("00ff" * 8)
    assert receipt.public_inputs == {"threshold": 0.5, "groups": ["a", "b"]}
    assert receipt.started_at == T0 and receipt.finished_at == T0 + timedelta(seconds=3)
    assert receipt.operation_counts["rotation_steps"] == [1, 2]
    assert receipt.evaluator_key_id == EVALUATOR.key_id


def test_manifest_digest_depends_on_order_and_content() -> None:
    a = ("y_true", 0, sha256_digest(b"a"))
    b = ("y_true", 1, sha256_digest(b"b"))
    expected = sha256_digest(
        canonical_json(
            [
                {"column": "y_true", "chunk": 0, "sha256": a[2]},
                {"column": "y_true", "chunk": 1, "sha256": b[2]},
            ]
        )
    )
    assert input_manifest_digest([a, b]) == expected
    assert input_manifest_digest([b, a]) != expected
    with pytest.raises(InputError):
        input_manifest_digest([("y_true", -1, a[2])])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"profile_hash": "abc"}, "profile_hash"),
        ({"rows": -1}, "rows"),
        ({"rows": True}, "rows"),
        ({"job_id": ""}, "job_id"),
        ({"canary_seed_hex": "xyz"}, "canary_seed_hex"),
        ({"outputs": []}, "outputs"),
        ({"outputs": [("a", b"1"), ("a", b"2")]}, "outputs"),
        ({"outputs": [("a", "not bytes")]}, "outputs[0]"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "finished_at"),
        ({"evaluator_key_id": "EVAL"}, "evaluator_key_id"),
        ({"operation_counts": {"rotations": -2}}, "operation_counts.rotations"),
        ({"software": {"regaudit": 1}}, "software.regaudit"),
    ],
)
def test_receipt_builder_rejects_bad_arguments(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        build_receipt_statement(**receipt_kwargs(**changes))
    assert info.value.field == field


def test_receipt_builder_rejects_non_json_public_inputs() -> None:
    with pytest.raises(InputError):
        build_receipt_statement(**receipt_kwargs(public_inputs={"t": float("nan")}))
    with pytest.raises(InputError):
        build_receipt_statement(**receipt_kwargs(started_at=datetime(2026, 1, 1)))


def _payload(statement: dict[str, Any]) -> bytes:
    return canonical_json(statement)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "_type"),
        (lambda s: s.update(predicateType=SUBMISSION_PREDICATE), "predicateType"),
        (lambda s: s.pop("subject"), "subject"),
        (lambda s: s.update(extra=1), "extra"),
        (lambda s: s["predicate"].pop("rows"), "predicate.rows"),
        (lambda s: s["predicate"].update(bonus=1), "predicate.bonus"),
        (lambda s: s["predicate"].update(rows="1000"), "rows"),
        (lambda s: s["predicate"].update(input_count=1.5), "input_count"),
        (lambda s: s["predicate"].update(profile_hash="sha256:XYZ"), "profile_hash"),
        (lambda s: s["predicate"].update(started_at="2026-11-26 06:00"), "started_at"),
        (lambda s: s["predicate"].update(public_inputs=[]), "public_inputs"),
        (lambda s: s["predicate"].update(canary_seed="0"), "canary_seed"),
        (lambda s: s["predicate"]["outputs"].pop(), "subject"),
        (lambda s: s["subject"][0]["digest"].update(sha256="00" * 32), "subject"),
        (lambda s: s["subject"][0].update(digest={"sha512": "00"}), "subject[0].digest"),
        (lambda s: s["predicate"]["outputs"][0].pop("digest"), "outputs[0]"),
        (lambda s: s["predicate"].update(software=["x"]), "software"),
    ],
)
def test_parse_receipt_is_strict(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    statement = copy.deepcopy(build_receipt_statement(**receipt_kwargs()))
    mutate(statement)
    with pytest.raises(BundleFormatError) as info:
        parse_receipt(_payload(statement))
    assert info.value.field == field
    assert info.value.reason == "malformed_bundle"


def test_parse_rejects_non_canonical_and_garbage() -> None:
    statement = build_receipt_statement(**receipt_kwargs())
    pretty = json.dumps(statement, indent=2).encode()
    with pytest.raises(BundleFormatError, match="canonical"):
        parse_receipt(pretty)
    for garbage in [b"", b"[]", b"\xff\xfe", b'{"a":1,"a":1}', b"null"]:
        with pytest.raises(BundleFormatError):
            parse_receipt(garbage)
    with pytest.raises(BundleFormatError, match="more than"):
        parse_receipt(b" " * (8 * 1024 * 1024 + 1))
    assert parse_statement(_payload(statement), predicate_type=RECEIPT_PREDICATE) == statement


def test_submission_build_sign_verify_parse() -> None:
    receipt = signed_receipt()
    statement = build_submission_statement(**submission_kwargs(receipt))
    assert statement["predicateType"] == SUBMISSION_PREDICATE
    expected_digest = sha256_digest(canonical_json(receipt))
    assert receipt_digest(receipt) == expected_digest
    assert statement["subject"] == [{"name": "receipt", "digest": {"sha256": expected_digest[7:]}}]
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=CLIENT
    )
    payload = verify_envelope(envelope, public_key=CLIENT.public_key, key_id=CLIENT.key_id)
    submission = parse_submission(payload)
    assert submission.receipt_digest == expected_digest
    assert submission.columns == ("y_true", "y_pred")
    assert submission.input_commitments["y_pred"] == sha256_digest(b"x")
    assert submission.created_at == T0
    assert submission.regulator_key_id == "cd" * 32
    # the receipt digest changes if the receipt envelope changes at all
    other = dict(receipt, payloadType="application/json")
    assert receipt_digest(other) != expected_digest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": ["a", "a"]}, "columns"),
        ({"input_commitments": {"y_true": D}}, "input_commitments"),
        ({"input_commitments": {"y_true": D, "y_pred": "x"}}, "input_commitments.y_pred"),
        ({"sealed_key_digest": "sha256:"}, "sealed_key_digest"),
        ({"regulator_key_id": 7}, "regulator_key_id"),
        ({"audit_id": "a\nb"}, "audit_id"),
    ],
)
def test_submission_builder_rejects_bad_arguments(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        build_submission_statement(**submission_kwargs(signed_receipt(), **changes))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(receipt_digest=D), "subject"),
        (lambda p: p.pop("sealed_key_digest"), "predicate.sealed_key_digest"),
        (lambda p: p.update(columns="y_true"), "columns"),
        (lambda p: p.update(input_commitments={"y_true": D}), "input_commitments"),
        (lambda p: p.update(created_at=12), "created_at"),
        (lambda p: p.update(evaluator_key_id="x" * 64), "evaluator_key_id"),
    ],
)
def test_parse_submission_is_strict(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    statement = copy.deepcopy(build_submission_statement(**submission_kwargs(signed_receipt())))
    mutate(statement["predicate"])
    with pytest.raises(BundleFormatError) as info:
        parse_submission(_payload(statement))
    assert info.value.field == field
    with pytest.raises(BundleFormatError, match="predicateType"):
        parse_receipt(_payload(build_submission_statement(**submission_kwargs(signed_receipt()))))
