"""verify_bundle on real bundles: a valid audit verifies and equals the plaintext oracle; every
kind of tampering or mistrust is refused with its own stable reason."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from regaudit.regulator.replay import REPLAY_DB_NAME, ReplayGuard
from regaudit.regulator.verify import CHECK_NAMES, bundle_digest, verify_bundle
from regaudit.secretkey.ckks import ClientKeys
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.errors import (
    BadSignatureError,
    BundleFormatError,
    DigestMismatchError,
    KeyMismatchError,
    ReplayError,
    RevokedKeyError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    UntrustedIssuerError,
    VerificationError,
    WrongParameterSetError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import canonical_json, utc_now
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.primitives.fairness.reference import reference as fairness_reference
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6


def verify(parties: Any, bundle: AuditBundle, **options: Any) -> Any:
    options.setdefault("regulator_keys", parties.regulator_keys)
    options.setdefault("trust", parties.trust())
    return verify_bundle(bundle, **options)


def rejected(
    parties: Any, bundle: AuditBundle, error: type[VerificationError], reason: str, **options: Any
) -> VerificationError:
    with pytest.raises(error) as caught:
        verify(parties, bundle, **options)
    assert caught.value.reason == reason
    assert caught.value.exit_code == 1
    return caught.value


def reparsed(bundle: AuditBundle, edit: Callable[[dict[str, Any]], None]) -> AuditBundle:
    """The bundle as its JSON document, edited, parsed back strictly."""
    document = json.loads(bundle.to_json())
    edit(document)
    return AuditBundle.from_json(json.dumps(document).encode())


# --- the valid bundle -------------------------------------------------------------------------


def test_valid_bundle_verifies_and_equals_the_plaintext_oracle(parties: Any, good: Any) -> None:
    verified = verify(parties, good.bundle)
    reference = fairness_reference(good.data)
    assert verified.result == reference  # counts are exact integers: every metric is equal
    assert verified.result["groups"]["west"]["precision"] is None  # undefined, not 0
    assert "west.precision" in verified.result["undefined"]
    assert verified.audit_id == good.bundle.audit_id
    assert verified.primitive == "fairness"
    assert verified.profile == PROFILE_N8192_D3
    assert verified.plan.n_chunks == 2 and verified.plan.rows == good.data.rows
    # every check ran, in the documented order (no replay guard given: no replay check)
    assert verified.checks == tuple(name for name in CHECK_NAMES if name != "replay")
    assert verified.receipt.depth_observed <= verified.receipt.depth_planned == verified.plan.depth
    assert verified.submission.client_key_id == parties.client.key_id
    assert verified.receipt.evaluator_key_id == parties.evaluator.key_id
    assert verified.canary.passed is True and verified.canary.tolerance > 0
    # released as passed/failed with its tolerance only: no decrypted value is kept
    assert {f.name for f in dataclasses.fields(verified.canary)} == {
        "passed",
        "expected",
        "tolerance",
    }
    assert verified.bundle_digest == bundle_digest(good.bundle)


def test_bundle_digest_ignores_file_formatting(good: Any) -> None:
    pretty = json.dumps(json.loads(good.bundle.to_json()), indent=2).encode()
    assert bundle_digest(AuditBundle.from_json(pretty)) == bundle_digest(good.bundle)


def test_reverifying_the_identical_bundle_is_not_a_replay(
    parties: Any, good: Any, tmp_path: Path
) -> None:
    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        first = verify(parties, good.bundle, replay_guard=guard)
        assert "replay" in first.checks
        again = verify(parties, good.bundle, replay_guard=guard)
        assert again.result == first.result
        assert guard.seen_digest(
            "audit_id", f"{parties.client.key_id}/{good.bundle.audit_id}"
        ) == bundle_digest(good.bundle)


# --- tampering --------------------------------------------------------------------------------


def test_tampered_output_ciphertext_is_a_digest_mismatch(parties: Any, good: Any) -> None:
    output = bytearray(good.bundle.outputs[0])
    output[len(output) // 2] ^= 0x01
    tampered = dataclasses.replace(good.bundle, outputs=[bytes(output)])
    error = rejected(parties, tampered, DigestMismatchError, "digest_mismatch")
    assert error.field == "output/0"


def test_tampered_canary_ciphertext_is_a_digest_mismatch(parties: Any, good: Any) -> None:
    canary = bytearray(good.bundle.canary_output)
    canary[-5] ^= 0x10
    tampered = dataclasses.replace(good.bundle, canary_output=bytes(canary))
    rejected(parties, tampered, DigestMismatchError, "digest_mismatch")


def test_tampered_receipt_payload_is_a_bad_signature(parties: Any, good: Any) -> None:
    def edit(document: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(document["receipt"]["payload"]))
        statement["predicate"]["depth_observed"] = 0
        document["receipt"]["payload"] = base64.b64encode(canonical_json(statement)).decode()

    rejected(parties, reparsed(good.bundle, edit), BadSignatureError, "bad_signature")


def test_tampered_submission_payload_is_a_bad_signature(parties: Any, good: Any) -> None:
    def edit(document: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(document["submission"]["payload"]))
        statement["predicate"]["rows"] += 1
        document["submission"]["payload"] = base64.b64encode(canonical_json(statement)).decode()

    rejected(parties, reparsed(good.bundle, edit), BadSignatureError, "bad_signature")


def test_receipt_swapped_from_another_audit_is_a_digest_mismatch(
    parties: Any, good: Any, other: Any
) -> None:
    swapped = dataclasses.replace(
        good.bundle, receipt=other.bundle.receipt, outputs=other.bundle.outputs
    )
    error = rejected(parties, swapped, DigestMismatchError, "digest_mismatch")
    # the receipt is checked against the signed submission before its digest is compared: the
    # first attested fact that differs is the job
    assert error.field == "job_id"


def test_tampered_public_inputs_are_refused(parties: Any, good: Any) -> None:
    public = {**good.bundle.public_inputs, "threshold": 0.9}
    rejected(
        parties,
        dataclasses.replace(good.bundle, public_inputs=public),
        DigestMismatchError,
        "digest_mismatch",
    )


def test_sealed_key_swapped_from_another_audit_is_refused(
    parties: Any, good: Any, other: Any
) -> None:
    swapped = dataclasses.replace(good.bundle, sealed_key=other.bundle.sealed_key)
    error = rejected(parties, swapped, DigestMismatchError, "digest_mismatch")
    assert error.field == "sealed_key"


def test_audit_id_changed_in_the_bundle_is_refused(parties: Any, good: Any) -> None:
    renamed = dataclasses.replace(good.bundle, audit_id="another-audit")
    rejected(parties, renamed, DigestMismatchError, "digest_mismatch")


def test_extra_field_in_the_bundle_is_malformed(good: Any) -> None:
    document = json.loads(good.bundle.to_json())
    document["per_row_outputs"] = []
    with pytest.raises(BundleFormatError) as caught:
        AuditBundle.from_json(json.dumps(document).encode())
    assert caught.value.reason == "malformed_bundle"


# --- trust ------------------------------------------------------------------------------------


def test_untrusted_evaluator_key_is_refused(parties: Any, good: Any) -> None:
    trust = TrustStore.new_default()
    trust.add_key(parties.client.public_record())
    rejected(parties, good.bundle, UntrustedIssuerError, "untrusted_issuer", trust=trust)


def test_untrusted_client_key_is_refused(parties: Any, good: Any) -> None:
    trust = TrustStore.new_default()
    trust.add_key(parties.evaluator.public_record())
    rejected(parties, good.bundle, UntrustedIssuerError, "untrusted_issuer", trust=trust)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"max_level": 2}, "operation_counts.max_level"),
        ({"rotations": 1}, "operation_counts.rotations"),
        ({"rotation_steps": [1, 2]}, "operation_counts.rotation_steps"),
    ],
)
def test_receipt_claiming_other_operation_counts_is_refused(
    parties: Any, fairness_data: Any, builder: Any, edit: dict[str, Any], field: str
) -> None:
    """A trusted evaluator that signs counts other than the plan's (every counter, the
    absolute max_level included, is compared exactly) is refused."""
    bundle = builder(fairness_data, counts_edit=edit)
    error = rejected(parties, bundle, DigestMismatchError, "digest_mismatch")
    assert error.field == field


def test_plan_and_receipt_use_the_absolute_max_level(good: Any) -> None:
    receipt = json.loads(_payload_of(good.bundle.receipt)[1])
    counts = receipt["predicate"]["operation_counts"]
    assert counts["max_level"] == good.bundle.plan["input_level"] + good.bundle.plan["depth"]
    assert good.bundle.plan["operation_counts"]["max_level"] == counts["max_level"]


def test_evaluator_signing_as_client_is_refused(parties: Any, good: Any) -> None:
    """A submission re-signed by the (trusted) evaluator key: the key is not a client key."""
    _, payload, _ = _payload_of(good.bundle.submission)
    forged = sign_envelope(payload, payload_type=PAYLOAD_TYPE_INTOTO, identity=parties.evaluator)
    rejected(
        parties,
        dataclasses.replace(good.bundle, submission=forged),
        UntrustedIssuerError,
        "untrusted_issuer",
    )


def test_embedded_client_key_must_be_the_signer(parties: Any, good: Any) -> None:
    stranger = SigningIdentity.generate("client").public_record().to_dict()
    rejected(
        parties,
        dataclasses.replace(good.bundle, client_key=stranger),
        UntrustedIssuerError,
        "untrusted_issuer",
    )


def test_revoked_client_key_is_refused(parties: Any, good: Any) -> None:
    trust = parties.trust()
    trust.revoke(parties.client.key_id, at=utc_now() - timedelta(days=1))
    rejected(parties, good.bundle, RevokedKeyError, "revoked_key", trust=trust)


def test_revocation_after_the_submission_keeps_it_valid(parties: Any, good: Any) -> None:
    trust = parties.trust()
    trust.revoke(parties.client.key_id, at=utc_now() + timedelta(hours=1))
    assert verify(parties, good.bundle, trust=trust).result == fairness_reference(good.data)


def test_revoked_evaluator_key_is_refused(parties: Any, good: Any) -> None:
    trust = parties.trust()
    trust.revoke(parties.evaluator.key_id, at=utc_now() - timedelta(days=1))
    rejected(parties, good.bundle, RevokedKeyError, "revoked_key", trust=trust)


def test_stolen_evaluator_key_with_a_backdated_receipt_is_refused(
    parties: Any, builder: Any, payload: Any
) -> None:
    """A receipt backdated before the evaluator key's revocation does not help: the key must
    also be unrevoked when the (honest) client signed the submission."""
    data = parse_fairness_input(payload(300, seed=4))
    backdated = builder(data, finished_at=utc_now() - timedelta(hours=2), created_at=utc_now())
    trust = parties.trust()
    assert verify(parties, backdated, trust=trust).audit_id == backdated.audit_id
    trust.revoke(parties.evaluator.key_id, at=utc_now() - timedelta(hours=1))
    rejected(parties, backdated, RevokedKeyError, "revoked_key", trust=trust)


def test_wrong_regulator_identity_is_refused(parties: Any, good: Any) -> None:
    rejected(
        parties,
        good.bundle,
        WrongRegulatorKeyError,
        "wrong_regulator_key",
        regulator_keys=RegulatorKeys.generate(),
    )


def test_disallowed_profile_is_a_wrong_parameter_set(parties: Any, good: Any) -> None:
    trust = TrustStore(
        keys={entry.record.key_id: entry for entry in parties.trust().keys},
        profiles={PROFILE_N16384_D6.name: PROFILE_N16384_D6.profile_hash},
        circuits={"fairness": ["1"]},
    )
    rejected(parties, good.bundle, WrongParameterSetError, "wrong_parameter_set", trust=trust)


def test_profile_allowed_under_another_hash_is_a_wrong_parameter_set(
    parties: Any, good: Any
) -> None:
    trust = TrustStore(
        keys={entry.record.key_id: entry for entry in parties.trust().keys},
        profiles={PROFILE_N8192_D3.name: PROFILE_N16384_D6.profile_hash},
        circuits={"fairness": ["1"]},
    )
    rejected(parties, good.bundle, WrongParameterSetError, "wrong_parameter_set", trust=trust)


def test_disallowed_circuit_is_unsupported(parties: Any, good: Any) -> None:
    trust = TrustStore(
        keys={entry.record.key_id: entry for entry in parties.trust().keys},
        profiles={PROFILE_N8192_D3.name: PROFILE_N8192_D3.profile_hash},
        circuits={"fairness": ["2"]},
    )
    rejected(parties, good.bundle, UnsupportedCircuitError, "unsupported_circuit", trust=trust)


# --- time and replay --------------------------------------------------------------------------


def test_stale_receipt_is_refused(parties: Any, good: Any) -> None:
    later = utc_now() + timedelta(seconds=parties.trust().max_age_seconds + 3600)
    rejected(parties, good.bundle, StaleEvidenceError, "stale", now=later)


def test_receipt_from_the_future_is_refused(parties: Any, good: Any) -> None:
    earlier = utc_now() - timedelta(hours=2)
    rejected(parties, good.bundle, StaleEvidenceError, "stale", now=earlier)


def test_old_evaluation_is_refused(
    parties: Any, builder: Callable[..., AuditBundle], payload: Any, long_ago: Any
) -> None:
    data = parse_fairness_input(payload(64, seed=2))
    old = builder(data, finished_at=long_ago, created_at=long_ago)
    rejected(parties, old, StaleEvidenceError, "stale")


def test_replay_of_the_audit_id_with_other_content_is_refused(
    parties: Any, good: Any, builder: Callable[..., AuditBundle], payload: Any, tmp_path: Path
) -> None:
    guard = ReplayGuard(tmp_path / REPLAY_DB_NAME)
    verify(parties, good.bundle, replay_guard=guard)
    data = parse_fairness_input(payload(200, seed=4))
    replay = builder(data, audit_id=good.bundle.audit_id)
    assert verify(parties, replay).result == fairness_reference(data)  # valid on its own
    error = rejected(parties, replay, ReplayError, "replay", replay_guard=guard)
    assert error.field == "audit_id"
    assert guard.seen_digest(
        "audit_id", f"{parties.client.key_id}/{good.bundle.audit_id}"
    ) == bundle_digest(good.bundle)
    guard.close()


def test_a_failed_verification_is_not_recorded(parties: Any, good: Any, tmp_path: Path) -> None:
    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        with pytest.raises(WrongRegulatorKeyError):
            verify(
                parties, good.bundle, replay_guard=guard, regulator_keys=RegulatorKeys.generate()
            )
        assert (
            guard.seen_digest("audit_id", f"{parties.client.key_id}/{good.bundle.audit_id}") is None
        )


# --- the key canary ---------------------------------------------------------------------------


def test_properly_sealed_wrong_secret_key_fails_the_canary(
    parties: Any, builder: Callable[..., AuditBundle], payload: Any
) -> None:
    data = parse_fairness_input(payload(300, seed=6))
    stranger = ClientKeys.generate(PROFILE_N8192_D3, galois_steps=[]).secret_key_bytes()
    bundle = builder(data, sealed_secret_key=stranger)
    error = rejected(parties, bundle, KeyMismatchError, "key_mismatch")
    assert error.field == "canary_output"
    # the message names the failed check and its tolerance, never what decrypted
    assert "not within" in error.message
    assert not re.search(r"\d\.\d{7,}", error.message), error.message


# --- helpers ----------------------------------------------------------------------------------


def _payload_of(envelope: dict[str, Any]) -> tuple[str, bytes, str]:
    from regaudit.shared.evidence.dsse import envelope_payload_unverified

    return envelope_payload_unverified(envelope)
