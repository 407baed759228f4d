"""The regulator's witness checks against bundles altered after the audit: a real bundle with
one agreeing witness (from the command lines), then its witness receipt stripped, added,
replaced, or re-signed -- with the real keys of the witness, the primary and the client where a
forgery needs them (colluding parties) -- with other outputs, other library versions, another
job or the primary's key. Every one must fail with its precise reason; the unchanged
re-signing (the control) must still verify, so the forging itself is sound."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.witnesses import Witnessed

from regaudit.regulator.verified import VerifiedAudit
from regaudit.regulator.verify import verify_bundle
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle, WitnessEvidence
from regaudit.shared.errors import VerificationError
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore

Statement = dict[str, Any]


def payload(envelope: dict[str, Any]) -> Statement:
    value = json.loads(base64.b64decode(envelope["payload"]))
    assert isinstance(value, dict)
    return value


def signed(statement: Statement, identity: SigningIdentity) -> dict[str, Any]:
    return sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )


class Forger:
    """The real bundle and the real private keys of the parties that would have to collude."""

    def __init__(self, witnessed: Witnessed, bundle_path: Path) -> None:
        self.witnessed = witnessed
        self.bundle = AuditBundle.read(bundle_path)
        self.client = SigningIdentity.load(witnessed.client, kind="client")
        self.witness = SigningIdentity.load(witnessed.witness, kind="evaluator")
        self.primary = SigningIdentity.load(witnessed.primary, kind="evaluator")
        self.keys = RegulatorKeys.load(witnessed.regulator)

    def witness_receipt(
        self, edit: Callable[[Statement], None], *, signer: SigningIdentity | None = None
    ) -> dict[str, Any]:
        """The witness's receipt with ``edit`` applied to its statement, re-signed."""
        statement = payload(self.bundle.witnesses[0].receipt)
        edit(statement)
        signer = signer or self.witness
        statement["predicate"]["evaluator_key_id"] = signer.key_id
        return signed(statement, signer)

    def rebound(
        self,
        witnesses: list[WitnessEvidence],
        *,
        bindings: list[dict[str, str]] | None = None,
    ) -> AuditBundle:
        """The bundle carrying ``witnesses``, with a submission the client re-signed to bind
        them (``bindings`` replaces the submission's witness entries as given)."""
        statement = payload(self.bundle.submission)
        predicate = statement["predicate"]
        if bindings is None:
            old = {b["evaluator_key_id"]: b for b in predicate["witnesses"]}
            bindings = []
            for evidence in witnesses:
                key_id = evidence.evaluator_key["key_id"]
                entry = dict(old.get(key_id) or next(iter(old.values())))
                entry["evaluator_key_id"] = key_id
                entry["receipt_digest"] = statements.receipt_digest(evidence.receipt)
                bindings.append(entry)
        predicate["witnesses"] = bindings
        statement["subject"] = statement["subject"][:1] + [
            {
                "name": statements.witness_subject_name(i),
                "digest": {"sha256": b["receipt_digest"].removeprefix("sha256:")},
            }
            for i, b in enumerate(bindings)
        ]
        return dataclasses.replace(
            self.bundle, witnesses=witnesses, submission=signed(statement, self.client)
        )

    def with_witness_receipt(
        self, receipt: dict[str, Any], *, key: SigningIdentity | None = None
    ) -> AuditBundle:
        record = (key or self.witness).public_record().to_dict()
        return self.rebound([WitnessEvidence(receipt=receipt, evaluator_key=record)])

    def verify(self, bundle: AuditBundle, *, trust: Path | None = None) -> VerifiedAudit:
        store = TrustStore.load(trust or self.witnessed.trust)
        return verify_bundle(bundle, regulator_keys=self.keys, trust=store)


@pytest.fixture(scope="module")
def forger(witnessed: Witnessed, witnessed_bundle: Path) -> Forger:
    return Forger(witnessed, witnessed_bundle)


def reason_of(forger: Forger, bundle: AuditBundle, *, trust: Path | None = None) -> str:
    with pytest.raises(VerificationError) as error:
        forger.verify(bundle, trust=trust)
    return error.value.reason


def test_control_an_unchanged_re_signing_verifies(forger: Forger) -> None:
    receipt = forger.witness_receipt(lambda statement: None)
    verified = forger.verify(forger.with_witness_receipt(receipt))
    (present,) = verified.witnesses.present
    assert present.evaluator_key_id == forger.witness.key_id and present.agrees


def test_a_stripped_witness_receipt_is_refused(forger: Forger) -> None:
    stripped = dataclasses.replace(forger.bundle, witnesses=[])
    assert reason_of(forger, stripped) == "digest_mismatch"


def test_an_added_witness_receipt_is_refused(forger: Forger) -> None:
    added = dataclasses.replace(forger.bundle, witnesses=[*forger.bundle.witnesses] * 2)
    assert reason_of(forger, added) == "digest_mismatch"


def test_a_replaced_witness_receipt_the_client_did_not_sign_is_refused(forger: Forger) -> None:
    receipt = forger.witness_receipt(_extra_software_entry)  # valid, but another digest
    evidence = WitnessEvidence(
        receipt=receipt, evaluator_key=forger.witness.public_record().to_dict()
    )
    replaced = dataclasses.replace(forger.bundle, witnesses=[evidence])
    assert reason_of(forger, replaced) == "digest_mismatch"


def test_a_witness_the_client_dropped_itself_fails_only_a_policy_that_requires_one(
    forger: Forger,
) -> None:
    alone = forger.rebound([], bindings=[])
    assert forger.verify(alone).witnesses.present == ()
    strict = forger.witnessed.trust_with_policy(1, "trust-forged-strict.json")
    assert reason_of(forger, alone, trust=strict) == "missing_witness"


def _extra_software_entry(statement: Statement) -> None:
    statement["predicate"]["software"]["note"] = "re-signed"


def _other_outputs(statement: Statement) -> None:
    contents = statement["predicate"]["output_contents"]
    contents[0]["digest"] = "sha256:" + "0" * 64


def _other_versions(statement: Statement) -> None:
    statement["predicate"]["software"]["tenseal"] = "0.3.99"


def _other_seal(statement: Statement) -> None:
    statement["predicate"]["software"]["seal"] = "4.1"


def _no_versions(statement: Statement) -> None:
    software = statement["predicate"]["software"]
    software.pop("tenseal"), software.pop("seal")


def _other_inputs(statement: Statement) -> None:
    statement["predicate"]["inputs_manifest_digest"] = "sha256:" + "1" * 64


def _other_header(statement: Statement) -> None:
    statement["predicate"]["job_header_digest"] = "sha256:" + "2" * 64


def _other_canary(statement: Statement) -> None:
    statement["predicate"]["canary_seed"] = "ab" * 32


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_other_outputs, "witness_disagreement"),
        (_other_versions, "witness_incomparable"),
        (_other_seal, "witness_incomparable"),
        (_no_versions, "witness_incomparable"),
        (_other_inputs, "digest_mismatch"),
        (_other_header, "digest_mismatch"),
        (_other_canary, "digest_mismatch"),
    ],
)
def test_a_witness_receipt_signed_anew_with_other_facts_is_refused(
    forger: Forger, edit: Callable[[Statement], None], reason: str
) -> None:
    """The witness and the client collude: the witness signs other facts, the client binds
    them. The regulator compares them with the primary's receipt."""
    bundle = forger.with_witness_receipt(forger.witness_receipt(edit))
    assert reason_of(forger, bundle) == reason


def test_a_witness_receipt_signed_with_the_primary_key_is_not_independent(
    forger: Forger,
) -> None:
    receipt = forger.witness_receipt(lambda statement: None, signer=forger.primary)
    bundle = forger.with_witness_receipt(receipt, key=forger.primary)
    assert reason_of(forger, bundle) == "witness_not_independent"


def test_a_witness_receipt_signed_by_an_untrusted_key_is_refused(forger: Forger) -> None:
    stranger = SigningIdentity.generate("evaluator")
    receipt = forger.witness_receipt(lambda statement: None, signer=stranger)
    bundle = forger.with_witness_receipt(receipt, key=stranger)
    assert reason_of(forger, bundle) == "untrusted_issuer"
