"""The regulator's verifier: every signature and binding of an audit bundle, then decryption of
the aggregates, in a fixed order (see :func:`verify_bundle`).

Nothing in a bundle is trusted because the bundle says so. The client and evaluator keys come
from the regulator's trust store; the plan is recomputed from the circuit registry; the CKKS
secret key is unsealed with the regulator's own HPKE key and proven to be the key the
evaluation keys were made from (the canary) before any audit number is decrypted. The bundle
carries aggregates only, so the regulator never sees a row.

Every failure raises a :class:`~regaudit.shared.errors.VerificationError` subclass whose
``reason`` is a stable string (``bad_signature``, ``digest_mismatch``, ``untrusted_issuer``...).
This module is the one routine and its numbered steps; the steps' checks live in
:mod:`~regaudit.regulator.trust_checks`, :mod:`~regaudit.regulator.binding_checks`,
:mod:`~regaudit.regulator.decryption` and :mod:`~regaudit.regulator.canary`, the result model
in :mod:`~regaudit.regulator.verified`.
"""

from __future__ import annotations

from datetime import datetime

from regaudit.regulator.binding_checks import (
    check_agreement,
    check_freshness,
    mismatch,
    recompute_plan,
)
from regaudit.regulator.canary import canary_level, check_canary
from regaudit.regulator.decryption import decrypt_and_decode, unseal
from regaudit.regulator.replay import ReplayGuard, replay_keys_of
from regaudit.regulator.trust_checks import (
    peek_time,
    require_circuit,
    require_profile,
    require_same_key,
)
from regaudit.regulator.verified import (
    CanaryCheck,
    ReceiptSummary,
    SubmissionSummary,
    VerifiedAudit,
)
from regaudit.regulator.witness_checks import check_witnesses
from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import BUNDLE_FORMAT, AuditBundle
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    KeyMaterialError,
    KeyMismatchError,
    RegauditError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import sha256_digest, utc_now
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, verify_envelope
from regaudit.shared.evidence.receipts import ReceiptExpectation, check_receipt
from regaudit.shared.evidence.sealing import sealed_key_digest
from regaudit.shared.evidence.truststore import TrustStore

#: Names of the checks, in the order :func:`verify_bundle` runs them.
CHECK_NAMES: tuple[str, ...] = (
    "bundle_structure",
    "client_key_trusted",
    "submission_signature",
    "evaluator_key_trusted",
    "parameter_profile_allowed",
    "circuit_allowed",
    "plan_recomputed",
    "receipt_verified",
    "receipt_bound_to_submission",
    "freshness",
    "witnesses",
    "replay",
    "sealed_key_opened",
    "key_canary",
    "aggregates_decrypted",
)


def bundle_digest(bundle: AuditBundle) -> str:
    """Digest of a bundle: SHA-256 of its RFC 8785 canonical JSON (independent of how the file
    was formatted)."""
    try:
        return sha256_digest(bundle.to_json())
    except RegauditError as exc:
        raise BundleFormatError(f"bundle cannot be serialized: {exc}", field="bundle") from exc


def verify_bundle(
    bundle: AuditBundle,
    *,
    regulator_keys: RegulatorKeys,
    trust: TrustStore,
    now: datetime | None = None,
    replay_guard: ReplayGuard | None = None,
) -> VerifiedAudit:
    """Verify ``bundle`` completely and decrypt its aggregates; raise on the first failure.

    Steps (each raises the named VerificationError subclass):

    1. bundle structure and format version (BundleFormatError);
    2. the client key that signed the submission is trusted, of kind client and not revoked at
       the submission's ``created_at``; the bundle's embedded client key is that key
       (UntrustedIssuerError / RevokedKeyError);
    3. the submission's DSSE signature verifies (BadSignatureError); its statement parses,
       names this bundle's audit id and primitive, and the primitive is the signed circuit
       (DigestMismatchError: a relabelled bundle fails here or in step 7);
    4. the evaluator key is trusted, of kind evaluator, not revoked at the receipt's
       ``finished_at``, embedded in the bundle and named by the submission;
    5. the signed parameter profile is allowed and is the built-in profile of that name
       (WrongParameterSetError); the signed circuit is allowed and registered
       (UnsupportedCircuitError);
    6. the plan is recomputed from the circuit, the public inputs, the signed rows and the
       profile; the signed columns and the bundle's plan agree with it (DigestMismatchError);
    7. the receipt passes the check the client ran before signing
       (:func:`regaudit.shared.evidence.receipts.check_receipt`): evaluator signature; bound
       to this audit id, this trusted client key and this regulator (WrongRegulatorKeyError);
       circuit, profile, evaluation keys, input manifest and count, rows, public inputs, canary
       seed, every output digest, planned depth, observed depth and operation counts equal
       the recomputed plan; the per-row inputs were deleted; fresh (StaleEvidenceError);
    8. the submission binds exactly this receipt (its digest) and agrees with it on job id,
       evaluator key, evaluation-key digest, input manifest, circuit, profile and rows
       (DigestMismatchError);
    9. freshness: the submission is within the trust store's age and clock-skew limits and
       was made after the receipt (StaleEvidenceError); neither key was revoked at the other
       party's time either (RevokedKeyError);
    9b. witnesses (:func:`regaudit.regulator.witness_checks.check_witnesses`): the bundle
        carries exactly the witness receipts the client signed; each is signed by a trusted
        evaluator key other than the primary's and the other witnesses'
        (WitnessNotIndependentError), attests the primary's job (the receipt check of step 7
        with the primary's facts and job header digest), ran CKKS library versions comparable
        with the primary's (WitnessIncomparableError) and attests the primary's output
        contents (WitnessDisagreementError); at least the trust store's
        ``witnesses_required`` are present (MissingWitnessError);
    10. replay: neither the audit id, nor the evaluator's (key, job id), nor the sealed key
        was accepted before with a different bundle (ReplayError);
    11. the sealed key is the one the client signed, addressed to this regulator, and opens
        with the HPKE info bound to this audit, profile, regulator, client key and receipt
        (DigestMismatchError / WrongRegulatorKeyError / KeyMismatchError);
    12. the key canary decrypts to its public value, every other slot to 0 (KeyMismatchError):
        the unsealed key is the one the evaluation keys were made from;
    13. the output aggregates are decrypted at the plan's output level and decoded by the
        circuit (NoiseBoundError if they cannot be what the circuit computes).

    Only after all of them succeed are the replay keys recorded in ``replay_guard``.
    """
    moment = now or utc_now()
    checks: list[str] = []

    # 1. structure and format: re-parse the canonical form strictly (catches in-memory bundles
    #    that never went through AuditBundle.from_json as well).
    if bundle.format != BUNDLE_FORMAT:
        raise BundleFormatError(
            f"unsupported bundle format {bundle.format!r:.60}, expected {BUNDLE_FORMAT!r}",
            field="format",
        )
    digest_of_bundle = bundle_digest(bundle)
    AuditBundle.from_json(bundle.to_json())
    checks.append("bundle_structure")

    # 2. client key: trusted, kind client, not revoked when the submission was created
    client_key_id, created_at = peek_time(bundle.submission, "created_at", what="submission")
    client_key = trust.require_key(client_key_id, kind="client", at=created_at)
    require_same_key(bundle.client_record(), client_key, what="client")
    checks.append("client_key_trusted")

    # 3. submission signature and statement; the bundle's label is the signed primitive and
    #    the signed primitive is the circuit the evaluator ran (checked again against the
    #    receipt in step 8)
    submission_payload = verify_envelope(
        bundle.submission,
        public_key=client_key.public_key,
        key_id=client_key.key_id,
        payload_type=PAYLOAD_TYPE_INTOTO,
    )
    submission = statements.parse_submission(submission_payload)
    if submission.audit_id != bundle.audit_id:
        raise mismatch("audit_id", submission.audit_id, bundle.audit_id)
    if submission.primitive != bundle.primitive:
        raise mismatch("primitive", submission.primitive, bundle.primitive)
    if submission.primitive != submission.circuit_id:
        raise mismatch("primitive", submission.primitive, submission.circuit_id)
    checks.append("submission_signature")

    # 4. evaluator key: trusted, kind evaluator, not revoked when the receipt says it finished
    evaluator_key_id, finished_at = peek_time(bundle.receipt, "finished_at", what="receipt")
    evaluator_key = trust.require_key(evaluator_key_id, kind="evaluator", at=finished_at)
    require_same_key(bundle.evaluator_record(), evaluator_key, what="evaluator")
    if submission.evaluator_key_id != evaluator_key.key_id:
        raise mismatch("evaluator_key_id", submission.evaluator_key_id, evaluator_key.key_id)
    checks.append("evaluator_key_trusted")

    # 5. parameter profile and circuit, as the client signed them
    profile = require_profile(trust, submission.profile_name, submission.profile_hash)
    checks.append("parameter_profile_allowed")
    circuit = require_circuit(trust, submission.circuit_id, submission.circuit_version)
    checks.append("circuit_allowed")

    # 6. recompute the plan from sizes and public inputs alone
    plan = recompute_plan(bundle, circuit, profile, submission)
    checks.append("plan_recomputed")

    # 7. the receipt: the check the client ran before it signed, against what the regulator
    #    knows without the evaluator (the signed submission, the bundle, the recomputed plan,
    #    its own key id): signature, bindings to this audit, client and regulator, circuit,
    #    profile, keys, inputs, outputs, planned depth and counts, deletion, freshness
    receipt = check_receipt(
        bundle.receipt,
        expected=ReceiptExpectation(
            evaluator_key=evaluator_key,
            plan=plan,
            public_inputs=bundle.public_inputs,
            audit_id=bundle.audit_id,
            client_key_id=client_key.key_id,
            regulator_key_id=regulator_keys.key_id,
            job_id=submission.job_id,
            evaluation_keys_digest=submission.evaluation_keys_digest,
            inputs_manifest_digest=submission.inputs_manifest_digest,
            canary_seed=bundle.canary_seed,
            outputs=bundle.outputs,
            canary_output=bundle.canary_output,
        ),
        now=moment,
        max_age_seconds=trust.max_age_seconds,
        clock_skew_seconds=trust.clock_skew_seconds,
    )
    checks.append("receipt_verified")

    # 8. the submission binds exactly this receipt, and both tell the same story
    digest_of_receipt = statements.receipt_digest(bundle.receipt)
    if submission.receipt_digest != digest_of_receipt:
        raise DigestMismatchError(
            f"the client signed receipt {submission.receipt_digest}, the bundle carries "
            f"receipt {digest_of_receipt}",
            field="receipt_digest",
        )
    check_agreement(submission, receipt)
    checks.append("receipt_bound_to_submission")

    # 9. freshness and ordering of the submission; revocation judged at both parties' times:
    #    each signer chooses its own statement's time, so a key revoked at T must also be
    #    unrevoked at the *other* party's time (a backdated submission needs a receipt that
    #    predates T as well, i.e. the evaluator's collusion)
    check_freshness(trust, receipt, submission, now=moment)
    trust.require_key(client_key.key_id, kind="client", at=receipt.finished_at)
    trust.require_key(evaluator_key.key_id, kind="evaluator", at=submission.created_at)
    checks.append("freshness")

    # 9b. witnesses: independent re-executions of the same job, and the policy
    witnesses = check_witnesses(
        bundle,
        submission,
        receipt,
        plan,
        trust,
        primary_key=evaluator_key,
        client_key_id=client_key.key_id,
        regulator_key_id=regulator_keys.key_id,
        now=moment,
    )
    checks.append("witnesses")

    # 10. replay (checked now, recorded only after full success): the audit id, the
    #     evaluator's job and the sealed key may each belong to one bundle only
    sealed_digest = sealed_key_digest(bundle.sealed_key)
    replay_keys = replay_keys_of(
        client_key_id=client_key.key_id,
        audit_id=bundle.audit_id,
        evaluator_key_id=evaluator_key.key_id,
        job_id=receipt.job_id,
        sealed_key_digest=sealed_digest,
    )
    if replay_guard is not None:
        replay_guard.check(replay_keys, bundle_digest=digest_of_bundle)
        checks.append("replay")

    # 11. the sealed CKKS secret key
    secret_key = unseal(bundle, submission, profile, regulator_keys, digest_of_receipt)
    checks.append("sealed_key_opened")

    # 12. the canary, before any audit number is trusted
    try:
        decryptor = SecretKeyDecryptor.from_bytes(profile, secret_key)
    except KeyMaterialError as exc:
        raise KeyMismatchError(
            f"the unsealed secret key is not a valid key for {profile.name}: {exc.message}",
            field="sealed_key",
        ) from exc
    finally:
        del secret_key
    canary = check_canary(bundle, plan, decryptor)
    checks.append("key_canary")

    # 13. decrypt the aggregates (the bundle holds no per-row ciphertexts) and decode them
    result = decrypt_and_decode(bundle, circuit, plan, decryptor)
    checks.append("aggregates_decrypted")

    if replay_guard is not None:
        replay_guard.record(replay_keys, bundle_digest=digest_of_bundle, at=moment)

    return VerifiedAudit(
        audit_id=bundle.audit_id,
        primitive=bundle.primitive,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile=profile,
        public_inputs=dict(bundle.public_inputs),
        result=result,
        plan=plan,
        receipt=ReceiptSummary(
            job_id=receipt.job_id,
            evaluator_key_id=receipt.evaluator_key_id,
            digest=digest_of_receipt,
            started_at=receipt.started_at,
            finished_at=receipt.finished_at,
            evaluation_keys_digest=receipt.evaluation_keys_digest,
            inputs_manifest_digest=receipt.inputs_manifest_digest,
            input_count=receipt.input_count,
            outputs=receipt.outputs,
            depth_planned=receipt.depth_planned,
            depth_observed=receipt.depth_observed,
            operation_counts=dict(receipt.operation_counts),
            software=dict(receipt.software),
            retention=dict(receipt.retention),
        ),
        submission=SubmissionSummary(
            client_key_id=client_key.key_id,
            created_at=submission.created_at,
            rows=submission.rows,
            columns=submission.columns,
            data_description=dict(submission.data_description),
            input_commitments=dict(submission.input_commitments),
            sealed_key_digest=submission.sealed_key_digest,
            regulator_key_id=submission.regulator_key_id,
        ),
        canary=canary,
        bundle_digest=digest_of_bundle,
        regulator_key_id=regulator_keys.key_id,
        verified_at=moment,
        checks=tuple(checks),
        witnesses=witnesses,
    )


__all__ = [
    "CHECK_NAMES",
    "CanaryCheck",
    "ReceiptSummary",
    "SubmissionSummary",
    "VerifiedAudit",
    "bundle_digest",
    "canary_level",
    "verify_bundle",
]
