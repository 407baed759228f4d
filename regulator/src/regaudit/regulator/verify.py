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

from regaudit.regulator.replay import ReplayGuard
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
    BadSignatureError,
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
from regaudit.shared.evidence.sealing import (
    RegulatorKeys,
    sealed_key_digest,
    sealing_info,
    unseal_secret_key,
)
from regaudit.shared.evidence.statements import ReceiptStatement, SubmissionStatement
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import ParameterProfile, get_profile
from regaudit.shared.protocol import CANARY_OUTPUT_NAME, output_name
from regaudit.shared.secretkey import SecretKeyDecryptor

#: Every slot of the canary output except slot 0 is zeroed by the circuit's mask; a decrypted
#: slot further than this from 0 cannot be CKKS noise.
CANARY_ZERO_TOLERANCE = CANARY_TOLERANCE
#: Operation counters the receipt must report exactly as planned.
PLANNED_COUNTERS: tuple[str, ...] = (
    "ct_ct_multiplications",
    "ct_pt_multiplications",
    "rotations",
    "additions",
    "rescales",
    "relinearizations",
    "max_level",
)

#: Names of the checks, in the order :func:`verify_bundle` runs them.
CHECK_NAMES: tuple[str, ...] = (
    "bundle_structure",
    "client_key_trusted",
    "submission_signature",
    "evaluator_key_trusted",
    "receipt_signature",
    "receipt_bound_to_submission",
    "parameter_profile_allowed",
    "circuit_allowed",
    "plan_recomputed",
    "output_digests",
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
    """The key canary: the public value, what decrypted, and the tolerance applied."""

    expected: float
    observed: float
    abs_error: float
    max_other_slot: float
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
    3. the submission's DSSE signature verifies (BadSignatureError); its statement parses and
       names this bundle's audit id and primitive;
    4. the same for the evaluator key (at the receipt's ``finished_at``) and the receipt;
    5. the submission binds exactly this receipt (its digest) and agrees with it on job id,
       evaluator key, evaluation-key digest, input manifest, circuit, profile and rows; the
       receipt's canary seed is the bundle's (DigestMismatchError);
    6. the parameter profile is allowed by the trust store and is the built-in profile of that
       name (WrongParameterSetError); the circuit is allowed and registered
       (UnsupportedCircuitError);
    7. the plan is recomputed from the circuit, public inputs, rows and profile: public inputs,
       planned depth, operation counts, input count, columns and the bundle's plan all agree;
       observed depth <= planned (DigestMismatchError / WrongParameterSetError);
    8. every output ciphertext and the canary output hash to the receipt's subjects, and their
       count is the plan's (DigestMismatchError);
    9. freshness: receipt and submission are within the trust store's age and clock-skew
       limits, and the submission was made after the receipt (StaleEvidenceError);
    10. replay: the audit id was never accepted with a different bundle (ReplayError);
    11. the sealed key is the one the client signed, addressed to this regulator, and opens
        with the HPKE info bound to this audit and profile (DigestMismatchError /
        WrongRegulatorKeyError);
    12. the key canary decrypts to its public value, every other slot to 0 (KeyMismatchError):
        the unsealed key is the one the evaluation keys were made from;
    13. the output aggregates are decrypted at the plan's output level and decoded by the
        circuit (NoiseBoundError if they cannot be what the circuit computes).

    Only after all of them succeed is the audit id recorded in ``replay_guard``.
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

    # 3. submission signature and statement
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
    checks.append("submission_signature")

    # 4. evaluator key, receipt signature and statement
    evaluator_key_id, finished_at = _peek_time(bundle.receipt, "finished_at", what="receipt")
    evaluator_key = trust.require_key(evaluator_key_id, kind="evaluator", at=finished_at)
    _same_key(bundle.evaluator_record(), evaluator_key, what="evaluator")
    checks.append("evaluator_key_trusted")
    receipt_payload = verify_envelope(
        bundle.receipt,
        public_key=evaluator_key.public_key,
        key_id=evaluator_key.key_id,
        payload_type=PAYLOAD_TYPE_INTOTO,
    )
    receipt = statements.parse_receipt(receipt_payload)
    if receipt.evaluator_key_id != evaluator_key.key_id:
        raise BadSignatureError(
            "the receipt names a different evaluator key than the one that signed it",
            field="evaluator_key_id",
        )
    checks.append("receipt_signature")

    # 5. the submission binds this receipt, and both tell the same story
    digest_of_receipt = statements.receipt_digest(bundle.receipt)
    if submission.receipt_digest != digest_of_receipt:
        raise DigestMismatchError(
            f"the client signed receipt {submission.receipt_digest}, the bundle carries "
            f"receipt {digest_of_receipt}",
            field="receipt_digest",
        )
    _check_agreement(submission, receipt)
    if receipt.canary_seed != bundle.canary_seed:
        raise _mismatch("canary_seed", receipt.canary_seed.hex(), bundle.canary_seed.hex())
    checks.append("receipt_bound_to_submission")

    # 6. parameter profile and circuit
    profile = _require_profile(trust, receipt.profile_name, receipt.profile_hash)
    checks.append("parameter_profile_allowed")
    circuit = _require_circuit(trust, receipt.circuit_id, receipt.circuit_version)
    checks.append("circuit_allowed")

    # 7. recompute the plan from sizes and public inputs alone
    plan = _recompute_plan(bundle, circuit, profile, receipt, submission)
    checks.append("plan_recomputed")

    # 8. the ciphertexts in the bundle are exactly the ones the evaluator attested
    _check_outputs(bundle, receipt, plan)
    checks.append("output_digests")

    # 9. freshness and ordering
    _check_freshness(trust, receipt, submission, now=moment)
    checks.append("freshness")

    # 10. replay (checked now, recorded only after full success)
    if replay_guard is not None:
        replay_guard.check(audit_id=bundle.audit_id, bundle_digest=digest_of_bundle)
        checks.append("replay")

    # 11. the sealed CKKS secret key
    secret_key = _unseal(bundle, submission, profile, regulator_keys)
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
        replay_guard.record(audit_id=bundle.audit_id, bundle_digest=digest_of_bundle, at=moment)

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
    """Step 5: the facts the client repeats must be the evaluator's."""
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
    """Step 6a: allowed by the trust store, and the built-in profile of that name."""
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
    """Step 6b: allowed by the trust store and known to the circuit registry."""
    trust.require_circuit(circuit_id, version)
    try:
        return get_circuit(circuit_id, version)
    except RegauditError as exc:
        raise UnsupportedCircuitError(exc.message, field="circuit_id") from exc


def _recompute_plan(
    bundle: AuditBundle,
    circuit: Circuit,
    profile: ParameterProfile,
    receipt: ReceiptStatement,
    submission: SubmissionStatement,
) -> Plan:
    """Step 7: the plan from sizes and public inputs alone, compared with every claim."""
    if not _same_json(receipt.public_inputs, bundle.public_inputs):
        raise _mismatch("public_inputs", receipt.public_inputs, bundle.public_inputs)
    try:
        plan = make_plan(circuit, dict(bundle.public_inputs), rows=receipt.rows, profile=profile)
    except VerificationError:
        raise
    except RegauditError as exc:
        if exc.reason == WrongParameterSetError.reason:  # ProfileError: does not fit
            raise WrongParameterSetError(exc.message, field=exc.field or "profile") from exc
        raise BundleFormatError(
            f"the attested public inputs or rows cannot be planned: {exc}",
            field=exc.field or "public_inputs",
        ) from exc
    if receipt.depth_planned != plan.depth:
        raise _mismatch("depth_planned", receipt.depth_planned, plan.depth)
    if receipt.depth_observed > plan.depth:
        raise WrongParameterSetError(
            f"the evaluator used depth {receipt.depth_observed}, the plan allows {plan.depth}",
            field="depth_observed",
        )
    planned_counts = plan.counts.to_dict()
    for name in PLANNED_COUNTERS:
        if receipt.operation_counts.get(name) != planned_counts[name]:
            raise _mismatch(
                f"operation_counts.{name}", receipt.operation_counts.get(name), planned_counts[name]
            )
    steps = receipt.operation_counts.get("rotation_steps")
    if not isinstance(steps, list) or set(steps) != set(plan.rotation_steps):
        raise _mismatch("operation_counts.rotation_steps", steps, list(plan.rotation_steps))
    expected_inputs = 1 + plan.n_chunks * len(plan.columns)  # the canary + every chunk
    if receipt.input_count != expected_inputs:
        raise _mismatch("input_count", receipt.input_count, expected_inputs)
    if tuple(submission.columns) != plan.columns:
        raise _mismatch("columns", list(submission.columns), list(plan.columns))
    if not _same_json(bundle.plan, plan.to_dict()):
        raise _mismatch("plan", bundle.plan, plan.to_dict())
    return plan


def _check_outputs(bundle: AuditBundle, receipt: ReceiptStatement, plan: Plan) -> None:
    """Step 8: digests of the outputs and the canary against the receipt's subjects."""
    if len(bundle.outputs) != plan.n_outputs:
        raise _mismatch("outputs", f"{len(bundle.outputs)} outputs", f"{plan.n_outputs} outputs")
    expected = [(output_name(i), sha256_digest(data)) for i, data in enumerate(bundle.outputs)]
    expected.append((CANARY_OUTPUT_NAME, sha256_digest(bundle.canary_output)))
    attested = list(receipt.outputs)
    if [name for name, _ in attested] != [name for name, _ in expected]:
        raise _mismatch("outputs", [n for n, _ in attested], [n for n, _ in expected])
    for (name, attested_digest), (_, actual) in zip(attested, expected, strict=True):
        if attested_digest != actual:
            raise DigestMismatchError(
                f"ciphertext {name} hashes to {actual}, the receipt attests {attested_digest}",
                field=name,
            )


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
) -> bytes:
    """Step 11: the signed sealed-key digest, our key id, then HPKE open with the audit's info."""
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
    observed = float(values[0])
    others = np.abs(values[1:])
    max_other = float(others.max()) if others.size else 0.0
    error = abs(observed - expected)
    finite = bool(np.isfinite(values).all())
    if not finite or not error <= CANARY_TOLERANCE or not max_other <= CANARY_ZERO_TOLERANCE:
        raise KeyMismatchError(
            f"the key canary decrypted to {observed!r:.20} (expected {expected:.6f}, largest "
            f"other slot {max_other:.3g}): the unsealed secret key is not the key the "
            "evaluation keys were made from",
            field="canary_output",
        )
    return CanaryCheck(
        expected=expected,
        observed=observed,
        abs_error=error,
        max_other_slot=max_other,
        tolerance=CANARY_TOLERANCE,
    )


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
