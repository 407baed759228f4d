"""The audit bundle file: round trip, strict parsing and tamper detection end to end."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.bundle import BUNDLE_FORMAT, MAX_BUNDLE_BYTES, AuditBundle
from regaudit.shared.errors import BadSignatureError, BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.commitments import commit_column
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope, verify_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.sealing import (
    seal_secret_key,
    sealed_key_digest,
    sealing_info,
)
from regaudit.shared.evidence.statements import (
    build_receipt_statement,
    build_submission_statement,
    input_manifest_digest,
    parse_receipt,
    parse_submission,
    receipt_digest,
)
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.profiles import PROFILE_N8192_D3

EVALUATOR = SigningIdentity.generate("evaluator")
CLIENT = SigningIdentity.generate("client")
REGULATOR = RegulatorKeys.generate()
SECRET_KEY = os.urandom(4096)
T0 = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)


def make_bundle() -> AuditBundle:
    profile = PROFILE_N8192_D3
    columns = {"y_true": np.array([1.0, 0.0, 1.0]), "y_pred": np.array([1.0, 1.0, 0.0])}
    chunks = {name: os.urandom(256) for name in columns}
    manifest = input_manifest_digest(
        (name, 0, sha256_digest(data)) for name, data in chunks.items()
    )
    outputs = [("counts", os.urandom(512)), ("canary", os.urandom(512))]
    receipt_statement = build_receipt_statement(
        job_id="job-7",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=profile.name,
        profile_hash=profile.profile_hash,
        evaluation_keys_digest=sha256_digest(b"eval keys"),
        inputs_manifest_digest=manifest,
        input_count=len(chunks),
        rows=3,
        public_inputs={"threshold": 0.5},
        canary_seed_hex="11" * 16,
        outputs=outputs,
        output_contents=[(name, sha256_digest(data)) for name, data in outputs],
        partials_root=sha256_digest(b"partials"),
        partials_count=1,
        depth_planned=2,
        depth_observed=2,
        operation_counts={"rotations": 4},
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
        evaluator_key_id=EVALUATOR.key_id,
        software={"regaudit": "0.1.0"},
        audit_id="audit-7",
        client_key_id=CLIENT.key_id,
        regulator_key_id=REGULATOR.key_id,
        job_header_digest=sha256_digest(b"job header"),
        retention={"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    )
    receipt = sign_envelope(
        canonical_json(receipt_statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=EVALUATOR
    )
    info = sealing_info(
        audit_id="audit-7",
        profile_hash=profile.profile_hash,
        regulator_key_id=REGULATOR.key_id,
        client_key_id=CLIENT.key_id,
        receipt_digest=receipt_digest(receipt),
    )
    sealed = seal_secret_key(
        SECRET_KEY, card=REGULATOR.card(signer=SigningIdentity.generate("regulator")), info=info
    )
    submission_statement = build_submission_statement(
        audit_id="audit-7",
        receipt_envelope=receipt,
        primitive="fairness",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=profile.name,
        profile_hash=profile.profile_hash,
        rows=3,
        columns=list(columns),
        data_description={"rows": 3},
        input_commitments={name: commit_column(name, v)[0] for name, v in columns.items()},
        inputs_manifest_digest=manifest,
        evaluation_keys_digest=sha256_digest(b"eval keys"),
        sealed_key_digest=sealed_key_digest(sealed),
        regulator_key_id=REGULATOR.key_id,
        evaluator_key_id=EVALUATOR.key_id,
        job_id="job-7",
        created_at=T0 + timedelta(seconds=2),
    )
    submission = sign_envelope(
        canonical_json(submission_statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=CLIENT
    )
    return AuditBundle(
        audit_id="audit-7",
        primitive="fairness",
        plan={"depth": 2, "rotation_steps": [1, 2]},
        public_inputs={"threshold": 0.5},
        submission=submission,
        receipt=receipt,
        sealed_key=sealed,
        outputs=[data for _, data in outputs],
        canary_seed=bytes.fromhex("11" * 16),
        canary_output=os.urandom(8),
        client_key=CLIENT.public_record().to_dict(),
        evaluator_key=EVALUATOR.public_record().to_dict(),
    )


BUNDLE = make_bundle()


def verify_like_a_regulator(bundle: AuditBundle) -> bytes:
    """The evidence checks a regulator runs, in order; returns the unsealed key."""
    trust = TrustStore.new_default()
    trust.add_key(bundle.client_record(), at=T0 - timedelta(days=1))
    trust.add_key(bundle.evaluator_record(), at=T0 - timedelta(days=1))
    client = bundle.client_record()
    submission = parse_submission(
        verify_envelope(bundle.submission, public_key=client.public_key, key_id=client.key_id)
    )
    evaluator = trust.require_key(submission.evaluator_key_id, kind="evaluator", at=T0)
    receipt = parse_receipt(
        verify_envelope(bundle.receipt, public_key=evaluator.public_key, key_id=evaluator.key_id)
    )
    assert receipt_digest(bundle.receipt) == submission.receipt_digest
    assert [sha256_digest(o) for o in bundle.outputs] == [d for _, d in receipt.outputs]
    trust.require_profile(receipt.profile_name, receipt.profile_hash)
    trust.require_circuit(receipt.circuit_id, receipt.circuit_version)
    trust.require_fresh(receipt.finished_at, now=T0 + timedelta(hours=1))
    assert sealed_key_digest(bundle.sealed_key) == submission.sealed_key_digest
    info = sealing_info(
        audit_id=submission.audit_id,
        profile_hash=submission.profile_hash,
        regulator_key_id=REGULATOR.key_id,
        client_key_id=client.key_id,
        receipt_digest=submission.receipt_digest,
    )
    return unseal_secret_key(bundle.sealed_key, keys=REGULATOR, info=info)


def test_round_trip_through_file(tmp_path: Path) -> None:
    path = BUNDLE.write(tmp_path / "audit.bundle.json")
    loaded = AuditBundle.read(path)
    assert loaded == BUNDLE
    assert loaded.format == BUNDLE_FORMAT
    assert loaded.to_json() == BUNDLE.to_json()
    assert verify_like_a_regulator(loaded) == SECRET_KEY
    doc = json.loads(path.read_bytes())
    assert base64.b64decode(doc["outputs"][0]) == BUNDLE.outputs[0]


def _doc() -> dict[str, Any]:
    return json.loads(BUNDLE.to_json())


def _flip_payload_byte(envelope: dict[str, Any], index: int) -> dict[str, Any]:
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[index] ^= 0x01
    return dict(envelope, payload=base64.b64encode(bytes(payload)).decode())


@pytest.mark.parametrize("which", ["submission", "receipt"])
def test_flipped_payload_byte_fails_verification(which: str) -> None:
    doc = _doc()
    doc[which] = _flip_payload_byte(doc[which], 40)
    tampered = AuditBundle.from_json(json.dumps(doc).encode())  # still well formed
    with pytest.raises(BadSignatureError) as info:
        verify_like_a_regulator(tampered)
    assert info.value.reason == "bad_signature"
    assert info.value.exit_code == 1


def test_swapped_signer_fails_verification() -> None:
    doc = _doc()
    # the receipt re-signed by the client key is not a receipt from the trusted evaluator
    payload = base64.b64decode(doc["receipt"]["payload"])
    doc["receipt"] = sign_envelope(payload, payload_type=PAYLOAD_TYPE_INTOTO, identity=CLIENT)
    with pytest.raises(BadSignatureError):
        verify_like_a_regulator(AuditBundle.from_json(json.dumps(doc).encode()))


@pytest.mark.parametrize(
    "garbage", [b"", b"not json", b"[1, 2]", b"\xff\xfe\x00", b'{"format": NaN}', b"null"]
)
def test_garbage_is_bundle_format_error(garbage: bytes) -> None:
    with pytest.raises(BundleFormatError) as info:
        AuditBundle.from_json(garbage)
    assert info.value.reason == "malformed_bundle"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("receipt"), "receipt"),
        (lambda d: d.pop("canary_seed"), "canary_seed"),
        (lambda d: d.update(extra="x"), "extra"),
        (lambda d: d.update(format="regaudit.bundle.v0"), "format"),
        (lambda d: d.update(audit_id=7), "audit_id"),
        (lambda d: d.update(primitive=""), "primitive"),
        (lambda d: d.update(plan=[]), "plan"),
        (lambda d: d.update(sealed_key="x"), "sealed_key"),
        (lambda d: d.update(outputs="AAAA"), "outputs"),
        (lambda d: d.update(outputs=[]), "outputs"),
        (lambda d: d["outputs"].append("@@"), "outputs[2]"),
        (lambda d: d.update(canary_output="not-b64"), "canary_output"),
        (lambda d: d["receipt"].pop("signatures"), "receipt"),
        (lambda d: d["submission"].update(payload="%%"), "submission"),
        (lambda d: d["client_key"].update(key_id="0" * 64), "client_key"),
        (lambda d: d.update(client_key=d["evaluator_key"]), "client_key"),
        (lambda d: d["evaluator_key"].pop("created"), "evaluator_key"),
    ],
)
def test_strict_fields(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc()
    mutate(doc)
    with pytest.raises(BundleFormatError) as info:
        AuditBundle.from_json(json.dumps(doc).encode())
    assert info.value.field == field


def test_size_cap_checked_first(tmp_path: Path) -> None:
    with pytest.raises(BundleFormatError, match="more than"):
        AuditBundle.from_json(b"x" * (MAX_BUNDLE_BYTES + 1))
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_BUNDLE_BYTES + 1)  # sparse: no real disk use
    with pytest.raises(BundleFormatError, match="more than"):
        AuditBundle.read(big)
    with pytest.raises(InputError):
        AuditBundle.read(tmp_path / "missing.json")
