"""The regulator's verifier: every signature and binding of an audit bundle, then decryption of
the aggregates, in a fixed order (see :func:`verify_bundle`).

Nothing in a bundle is trusted because the bundle says so. The client and evaluator keys come
from the regulator's trust store; the plan is recomputed from the circuit registry; the CKKS
secret key is unsealed with the regulator's own HPKE key and proven to be the key the
evaluation keys were made from (the canary) before any audit number is decrypted. The bundle
carries aggregates only, so the regulator never sees a row.

Every failure raises a :class:`~regaudit.shared.errors.VerificationError` subclass whose
``reason`` is a stable string (``bad_signature``, ``digest_mismatch``, ``untrusted_issuer``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from regaudit.regulator.replay import ReplayGuard, replay_keys_of
from regaudit.secretkey.ckks import SecretKeyDecryptor
from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.bundle import BUNDLE_FORMAT, AuditBundle
from regaudit.shared.circuits.base import (
    CANARY_DEPTH,
    CANARY_TOLERANCE,
    Circuit,
    Plan,
    canary_expected,
)
from regaudit.shared.circuits.registry import get_circuit
from regaudit.shared.errors import (
    BundleFormatError,
    CiphertextError,
    DigestMismatchError,
    KeyMaterialError,
    KeyMismatchError,
    RegauditError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    UntrustedIssuerError,
    VerificationError,
    WrongParameterSetError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import (
    canonical_json,
    parse_rfc3339,
    sha256_digest,
    strict_json_loads,
    utc_now,
)
from regaudit.shared.evidence.dsse import (
    PAYLOAD_TYPE_INTOTO,
    envelope_payload_unverified,
    verify_envelope,
)
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.receipts import ReceiptExpectation, check_receipt
from regaudit.shared.evidence.sealing import (
    sealed_key_digest,
    sealing_info,
)
from regaudit.shared.evidence.statements import ReceiptStatement, SubmissionStatement
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import ParameterProfile, get_profile
from regaudit.shared.protocol import output_name

#: Every slot of the canary output except slot 0 is zeroed by the circuit's mask; a decrypted
#: slot further than this from 0 cannot be CKKS noise.
CANARY_ZERO_TOLERANCE = CANARY_TOLERANCE

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
    "replay",
    "sealed_key_opened",
    "key_canary",
    "aggregates_decrypted",
)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptSummary:
    """What the evaluator attested (from the verified receipt)."""

    job_id: str
    evaluator_key_id: str
    digest: str
    started_at: datetime
    finished_at: datetime
    evaluation_keys_digest: str
    inputs_manifest_digest: str
    input_count: int
    outputs: tuple[tuple[str, str], ...]
    depth_planned: int
    depth_observed: int
    operation_counts: dict[str, Any]
    software: dict[str, str]
    #: the evaluator's attestation of what it deleted when the job ended
    retention: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionSummary:
    """What the client attested (from the verified submission statement)."""

    client_key_id: str
    created_at: datetime
    rows: int
    columns: tuple[str, ...]
    data_description: dict[str, Any]
    input_commitments: dict[str, str]
    sealed_key_digest: str
    regulator_key_id: str


@dataclass(frozen=True)
class CanaryCheck:
    """The key canary as it may leave the regulator: passed or not, the public value and the
    tolerance applied. What decrypted is not kept (no raw CKKS decode in a report, JSON or
    message; its low digits carry the noise key-recovery attacks use)."""

    passed: bool
    #: the public value sum(c * c) slot 0 must decrypt to (computed from the public seed)
    expected: float
    #: |slot 0 - expected| and every other |slot| must be at most this
    tolerance: float


@dataclass(frozen=True)
class VerifiedAudit:
    """A fully verified audit: the decoded aggregates and the evidence they rest on."""

    audit_id: str
    primitive: str
    circuit_id: str
    circuit_version: str
    profile: ParameterProfile
    public_inputs: dict[str, Any]
    result: dict[str, Any]
    plan: Plan
    receipt: ReceiptSummary
    submission: SubmissionSummary
    canary: CanaryCheck
    bundle_digest: str
    regulator_key_id: str
    verified_at: datetime
    checks: tuple[str, ...] = field(default=())


# --- helpers ----------------------------------------------------------------------------------


def _mismatch(what: str, attested: object, expected: object) -> DigestMismatchError:
    return DigestMismatchError(
        f"{what}: the evidence says {attested!r:.160}, expected {expected!r:.160}", field=what
    )


def _same_json(a: object, b: object) -> bool:
    try:
        return canonical_json(a) == canonical_json(b)
    except RegauditError:
        return False


def _peek_time(envelope: Mapping[str, Any], name: str, *, what: str) -> tuple[str, datetime]:
    """(signer key id, predicate time ``name``) of an envelope, *before* its signature is
    checked: only used to pick the key and the date its revocation status is judged at. The
    same bytes are authenticated right after, so the time is then authenticated too."""
    _, payload, key_id = envelope_payload_unverified(envelope)
    document = strict_json_loads(payload, what=what)
    predicate = document.get("predicate") if isinstance(document, dict) else None
    if not isinstance(predicate, dict) or name not in predicate:
        raise BundleFormatError(f"{what} statement has no predicate.{name}", field=what)
    return key_id, parse_rfc3339(predicate[name], field=f"{what}.{name}")


def _same_key(embedded: PublicKeyRecord, trusted: PublicKeyRecord, *, what: str) -> None:
    if (embedded.key_id, embedded.public_key_raw, embedded.kind) != (
        trusted.key_id,
        trusted.public_key_raw,
        trusted.kind,
    ):
        raise UntrustedIssuerError(
            f"the bundle's embedded {what} key {embedded.key_id[:16]}... is not the trusted "
            f"key {trusted.key_id[:16]}... that signed the {what} statement",
            field=f"{what}_key",
        )


def bundle_digest(bundle: AuditBundle) -> str:
    """Digest of a bundle: SHA-256 of its RFC 8785 canonical JSON (independent of how the file
    was formatted)."""
    try:
        return sha256_digest(bundle.to_json())
    except RegauditError as exc:
        raise BundleFormatError(f"bundle cannot be serialized: {exc}", field="bundle") from exc


def canary_level(plan: Plan) -> int:
    """Level of the canary output: the canary is encrypted at the plan's input level and its
    circuit (``base.canary_circuit``) consumes :data:`CANARY_DEPTH` levels."""
    return plan.input_level + CANARY_DEPTH


# --- the verifier -----------------------------------------------------------------------------


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
    client_key_id, created_at = _peek_time(bundle.submission, "created_at", what="submission")
    client_key = trust.require_key(client_key_id, kind="client", at=created_at)
    _same_key(bundle.client_record(), client_key, what="client")
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
        raise _mismatch("audit_id", submission.audit_id, bundle.audit_id)
    if submission.primitive != bundle.primitive:
        raise _mismatch("primitive", submission.primitive, bundle.primitive)
    if submission.primitive != submission.circuit_id:
        raise _mismatch("primitive", submission.primitive, submission.circuit_id)
    checks.append("submission_signature")

    # 4. evaluator key: trusted, kind evaluator, not revoked when the receipt says it finished
    evaluator_key_id, finished_at = _peek_time(bundle.receipt, "finished_at", what="receipt")
    evaluator_key = trust.require_key(evaluator_key_id, kind="evaluator", at=finished_at)
    _same_key(bundle.evaluator_record(), evaluator_key, what="evaluator")
    if submission.evaluator_key_id != evaluator_key.key_id:
        raise _mismatch("evaluator_key_id", submission.evaluator_key_id, evaluator_key.key_id)
    checks.append("evaluator_key_trusted")

    # 5. parameter profile and circuit, as the client signed them
    profile = _require_profile(trust, submission.profile_name, submission.profile_hash)
    checks.append("parameter_profile_allowed")
    circuit = _require_circuit(trust, submission.circuit_id, submission.circuit_version)
    checks.append("circuit_allowed")

    # 6. recompute the plan from sizes and public inputs alone
    plan = _recompute_plan(bundle, circuit, profile, submission)
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
    _check_agreement(submission, receipt)
    checks.append("receipt_bound_to_submission")

    # 9. freshness and ordering of the submission; revocation judged at both parties' times:
    #    each signer chooses its own statement's time, so a key revoked at T must also be
    #    unrevoked at the *other* party's time (a backdated submission needs a receipt that
    #    predates T as well, i.e. the evaluator's collusion)
    _check_freshness(trust, receipt, submission, now=moment)
    trust.require_key(client_key.key_id, kind="client", at=receipt.finished_at)
    trust.require_key(evaluator_key.key_id, kind="evaluator", at=submission.created_at)
    checks.append("freshness")

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
    secret_key = _unseal(bundle, submission, profile, regulator_keys, digest_of_receipt)
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
    canary = _check_canary(bundle, plan, decryptor)
    checks.append("key_canary")

    # 13. decrypt the aggregates (the bundle holds no per-row ciphertexts) and decode them
    result = _decrypt_and_decode(bundle, circuit, plan, decryptor)
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
    )


# --- the steps --------------------------------------------------------------------------------


def _check_agreement(submission: SubmissionStatement, receipt: ReceiptStatement) -> None:
    """Step 8: the facts the client repeats must be the evaluator's."""
    pairs: tuple[tuple[str, object, object], ...] = (
        ("job_id", submission.job_id, receipt.job_id),
        ("evaluator_key_id", submission.evaluator_key_id, receipt.evaluator_key_id),
        (
            "evaluation_keys_digest",
            submission.evaluation_keys_digest,
            receipt.evaluation_keys_digest,
        ),
        (
            "inputs_manifest_digest",
            submission.inputs_manifest_digest,
            receipt.inputs_manifest_digest,
        ),
        ("circuit_id", submission.circuit_id, receipt.circuit_id),
        ("circuit_version", submission.circuit_version, receipt.circuit_version),
        ("profile_name", submission.profile_name, receipt.profile_name),
        ("profile_hash", submission.profile_hash, receipt.profile_hash),
        ("rows", submission.rows, receipt.rows),
    )
    for name, claimed, attested in pairs:
        if claimed != attested:
            raise DigestMismatchError(
                f"the submission says {name} = {claimed!r:.120}, the receipt says "
                f"{attested!r:.120}",
                field=name,
            )


def _require_profile(trust: TrustStore, name: str, profile_hash: str) -> ParameterProfile:
    """Step 5a: allowed by the trust store, and the built-in profile of that name."""
    trust.require_profile(name, profile_hash)
    try:
        profile = get_profile(name)
    except RegauditError as exc:
        raise WrongParameterSetError(exc.message, field="profile_name") from exc
    if profile.profile_hash != profile_hash:
        raise WrongParameterSetError(
            f"profile {name} has hash {profile.profile_hash}, the receipt says {profile_hash}",
            field="profile_hash",
        )
    return profile


def _require_circuit(trust: TrustStore, circuit_id: str, version: str) -> Circuit:
    """Step 5b: allowed by the trust store and known to the circuit registry."""
    trust.require_circuit(circuit_id, version)
    try:
        return get_circuit(circuit_id, version)
    except RegauditError as exc:
        raise UnsupportedCircuitError(exc.message, field="circuit_id") from exc


def _recompute_plan(
    bundle: AuditBundle,
    circuit: Circuit,
    profile: ParameterProfile,
    submission: SubmissionStatement,
) -> Plan:
    """Step 6: the plan from the signed row count and the bundle's public inputs alone; the
    submission's columns and the bundle's plan must be that plan."""
    try:
        plan = make_plan(circuit, dict(bundle.public_inputs), rows=submission.rows, profile=profile)
    except VerificationError:
        raise
    except RegauditError as exc:
        if exc.reason == WrongParameterSetError.reason:  # ProfileError: does not fit
            raise WrongParameterSetError(exc.message, field=exc.field or "profile") from exc
        raise BundleFormatError(
            f"the signed public inputs or rows cannot be planned: {exc}",
            field=exc.field or "public_inputs",
        ) from exc
    if tuple(submission.columns) != plan.columns:
        raise _mismatch("columns", list(submission.columns), list(plan.columns))
    if not _same_json(bundle.plan, plan.to_dict()):
        raise _mismatch("plan", bundle.plan, plan.to_dict())
    return plan


def _check_freshness(
    trust: TrustStore,
    receipt: ReceiptStatement,
    submission: SubmissionStatement,
    *,
    now: datetime,
) -> None:
    """Step 9: both statements fresh; the submission was signed after the evaluation."""
    trust.require_fresh(receipt.finished_at, now=now)
    trust.require_fresh(submission.created_at, now=now)
    skew = timedelta(seconds=trust.clock_skew_seconds)
    if submission.created_at + skew < receipt.finished_at:
        raise StaleEvidenceError(
            f"the submission ({submission.created_at.isoformat()}) predates the evaluation it "
            f"signs ({receipt.finished_at.isoformat()})",
            field="created_at",
        )


def _unseal(
    bundle: AuditBundle,
    submission: SubmissionStatement,
    profile: ParameterProfile,
    keys: RegulatorKeys,
    receipt_digest: str,
) -> bytes:
    """Step 11: the signed sealed-key digest, our key id, then HPKE open with the info bound to
    this audit, profile, regulator, client and receipt."""
    actual = sealed_key_digest(bundle.sealed_key)
    if actual != submission.sealed_key_digest:
        raise DigestMismatchError(
            f"the sealed key hashes to {actual}, the client signed {submission.sealed_key_digest}",
            field="sealed_key",
        )
    if submission.regulator_key_id != keys.key_id:
        raise WrongRegulatorKeyError(
            f"the key was sealed to regulator {submission.regulator_key_id[:16]}..., this "
            f"regulator is {keys.key_id[:16]}...",
            field="regulator_key_id",
        )
    info = sealing_info(
        audit_id=bundle.audit_id,
        profile_hash=profile.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id=bundle.client_record().key_id,
        receipt_digest=receipt_digest,
    )
    return unseal_secret_key(bundle.sealed_key, keys=keys, info=info)


def _decrypt(decryptor: SecretKeyDecryptor, data: bytes, *, level: int, what: str) -> np.ndarray:
    try:
        return decryptor.decrypt(data, level=level)
    except CiphertextError as exc:
        raise BundleFormatError(
            f"{what} is not a valid ciphertext at level {level}: {exc.message}", field=what
        ) from exc


def _check_canary(bundle: AuditBundle, plan: Plan, decryptor: SecretKeyDecryptor) -> CanaryCheck:
    """Step 12: slot 0 holds the public value sum(c*c), every other slot is zero."""
    values = _decrypt(decryptor, bundle.canary_output, level=canary_level(plan), what="canary")
    expected = canary_expected(bundle.canary_seed, plan.profile.slot_count)
    # the message names what failed and the tolerance, never a decrypted value
    failure: str | None = None
    if not bool(np.isfinite(values).all()):
        failure = "holds non-finite values"
    elif not abs(float(values[0]) - expected) <= CANARY_TOLERANCE:
        failure = f"slot 0 is not within {CANARY_TOLERANCE:g} of the public value {expected:.2f}"
    elif values.size > 1 and not float(np.abs(values[1:]).max()) <= CANARY_ZERO_TOLERANCE:
        failure = f"a slot other than 0 is not within {CANARY_ZERO_TOLERANCE:g} of 0"
    del values
    if failure is not None:
        raise KeyMismatchError(
            f"the key canary failed ({failure}): the unsealed secret key is not the key the "
            "evaluation keys were made from",
            field="canary_output",
        )
    return CanaryCheck(passed=True, expected=expected, tolerance=CANARY_TOLERANCE)


def _decrypt_and_decode(
    bundle: AuditBundle, circuit: Circuit, plan: Plan, decryptor: SecretKeyDecryptor
) -> dict[str, Any]:
    """Step 13: aggregates only, at the plan's output level; the circuit decodes them."""
    outputs = [
        _decrypt(decryptor, data, level=plan.output_level, what=output_name(index))
        for index, data in enumerate(bundle.outputs)
    ]
    try:
        return circuit.decode(outputs, dict(bundle.public_inputs), plan.rows)
    except VerificationError:
        raise
    except RegauditError as exc:
        raise BundleFormatError(
            f"the decrypted aggregates cannot be decoded: {exc}", field=exc.field or "outputs"
        ) from exc


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
