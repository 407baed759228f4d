"""Attacks 2 and 3 of the evidence review, reproduced on real bundles; each now fails closed
with its own reason.

2. Misbinding and receipt reuse: a second trusted client re-signs a victim's submission and
   claims it; a client re-signs its own receipt under another audit id. The receipt now names
   the audit id, client key and regulator key of the client-signed job header, the sealed key
   opens only under the client and receipt it was sealed for, and the replay guard keys on the
   audit id, the evaluator's job and the sealed key.
3. Unbound label: a fairness bundle relabelled ``drift`` and re-signed by its own client.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from regaudit.regulator.replay import REPLAY_DB_NAME, ReplayGuard, replay_keys_of
from regaudit.regulator.verify import bundle_digest, verify_bundle
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.errors import (
    DigestMismatchError,
    ReplayError,
    VerificationError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore


def verify(parties: Any, bundle: AuditBundle, *, trust: TrustStore | None = None, **kw: Any) -> Any:
    return verify_bundle(
        bundle, regulator_keys=parties.regulator_keys, trust=trust or parties.trust(), **kw
    )


def resigned(bundle: AuditBundle, signer: SigningIdentity, **predicate_changes: Any) -> AuditBundle:
    """The bundle with its submission statement edited and re-signed by ``signer`` (and the
    bundle's embedded client key and top-level fields made consistent with it)."""
    statement = json.loads(base64.b64decode(bundle.submission["payload"]))
    statement["predicate"].update(predicate_changes)
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=signer
    )
    return dataclasses.replace(
        bundle,
        submission=envelope,
        client_key=signer.public_record().to_dict(),
        audit_id=statement["predicate"]["audit_id"],
        primitive=statement["predicate"]["primitive"],
    )


@pytest.fixture
def attacker(parties: Any) -> tuple[SigningIdentity, TrustStore]:
    """A second client the regulator also trusts (another vendor)."""
    identity = SigningIdentity.generate("client")
    trust = parties.trust()
    trust.add_key(identity.public_record(), note="another vendor")
    return identity, trust


def test_another_client_resigning_a_victims_bundle_is_rejected(
    parties: Any, good: Any, attacker: tuple[SigningIdentity, TrustStore], tmp_path: Path
) -> None:
    identity, trust = attacker
    stolen = resigned(good.bundle, identity)
    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        with pytest.raises(DigestMismatchError) as info:
            verify(parties, stolen, trust=trust, replay_guard=guard)
        # the receipt names the victim's key: the evaluator ran the job for the victim
        assert info.value.field == "client_key_id"
        assert info.value.reason == "digest_mismatch" and info.value.exit_code == 1
        # ... and the victim's genuine bundle is still accepted (nothing was recorded)
        assert verify(parties, good.bundle, trust=trust, replay_guard=guard).audit_id == (
            good.bundle.audit_id
        )


def test_another_client_under_a_fresh_audit_id_is_rejected(
    parties: Any, good: Any, attacker: tuple[SigningIdentity, TrustStore]
) -> None:
    identity, trust = attacker
    stolen = resigned(good.bundle, identity, audit_id="audit-of-the-attacker")
    with pytest.raises(DigestMismatchError) as info:
        verify(parties, stolen, trust=trust)
    assert info.value.field in ("audit_id", "client_key_id")


def test_one_receipt_cannot_verify_under_two_audit_ids(parties: Any, good: Any) -> None:
    moved = resigned(good.bundle, parties.client, audit_id="a-second-audit-id")
    with pytest.raises(DigestMismatchError) as info:
        verify(parties, moved)
    assert info.value.field == "audit_id"


def test_relabelled_primitive_is_rejected(parties: Any, good: Any) -> None:
    relabelled = resigned(good.bundle, parties.client, primitive="drift")
    with pytest.raises(DigestMismatchError) as info:
        verify(parties, relabelled)
    assert info.value.field == "primitive"
    # relabelling the circuit too: the evaluator's receipt still says fairness
    both = resigned(good.bundle, parties.client, primitive="drift", circuit_id="drift")
    with pytest.raises(VerificationError):
        verify(parties, both)
    # the bundle's label alone (unsigned) is not the signed primitive
    with pytest.raises(DigestMismatchError) as info:
        verify(parties, dataclasses.replace(good.bundle, primitive="drift"))
    assert info.value.field == "primitive"


def test_bundle_bound_to_another_regulator_is_refused_before_unsealing(
    parties: Any, good: Any
) -> None:
    from regaudit.secretkey.sealing import RegulatorKeys

    with pytest.raises(WrongRegulatorKeyError) as info:
        verify_bundle(good.bundle, regulator_keys=RegulatorKeys.generate(), trust=parties.trust())
    assert info.value.field == "regulator_key_id"


def test_replay_guard_keys_on_job_and_sealed_key(tmp_path: Path) -> None:
    keys = replay_keys_of(
        client_key_id="cc" * 32,
        audit_id="a1",
        evaluator_key_id="ee" * 32,
        job_id="j1",
        sealed_key_digest="sha256:" + "5" * 64,
    )
    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        guard.record(keys, bundle_digest="sha256:" + "1" * 64)
        guard.check(keys, bundle_digest="sha256:" + "1" * 64)  # the identical bundle: fine
        for changed, field in (
            ({"audit_id": "a2"}, "evaluator_job"),  # same job under a new audit id
            ({"job_id": "j2"}, "audit_id"),
            ({"audit_id": "a2", "job_id": "j2"}, "sealed_key"),  # the same sealed key
        ):
            other = replay_keys_of(
                **{
                    "client_key_id": "cc" * 32,
                    "audit_id": "a1",
                    "evaluator_key_id": "ee" * 32,
                    "job_id": "j1",
                    "sealed_key_digest": "sha256:" + "5" * 64,
                    **changed,
                }
            )
            with pytest.raises(ReplayError) as info:
                guard.check(other, bundle_digest="sha256:" + "2" * 64)
            assert info.value.field == field


def test_another_client_cannot_claim_a_victims_audit_id_first(tmp_path: Path) -> None:
    """The audit-id replay key is scoped to the signing client: a bundle of another client
    under the victim's audit id does not make the victim's genuine bundle a replay."""

    def keys(client: str, job: str, sealed: str) -> list[tuple[str, str]]:
        return replay_keys_of(
            client_key_id=client,
            audit_id="victims-audit-id",
            evaluator_key_id="ee" * 32,
            job_id=job,
            sealed_key_digest=sealed,
        )

    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        guard.record(
            keys("aa" * 32, "j1", "sha256:" + "1" * 64), bundle_digest="sha256:" + "a" * 64
        )
        guard.check(keys("bb" * 32, "j2", "sha256:" + "2" * 64), bundle_digest="sha256:" + "b" * 64)
        with pytest.raises(ReplayError):  # the same client, another bundle: a replay
            guard.check(
                keys("aa" * 32, "j3", "sha256:" + "3" * 64), bundle_digest="sha256:" + "c" * 64
            )


def test_identical_bundle_reverifies(parties: Any, good: Any, tmp_path: Path) -> None:
    with ReplayGuard(tmp_path / REPLAY_DB_NAME) as guard:
        first = verify(parties, good.bundle, replay_guard=guard)
        again = verify(parties, good.bundle, replay_guard=guard)
        assert first.result == again.result
        assert guard.seen_digest("sealed_key", _sealed(good.bundle)) == bundle_digest(good.bundle)


def _sealed(bundle: AuditBundle) -> str:
    from regaudit.shared.evidence.sealing import sealed_key_digest

    return sealed_key_digest(bundle.sealed_key)
