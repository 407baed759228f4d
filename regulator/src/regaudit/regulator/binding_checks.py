"""The verifier's binding checks (steps 6, 8 and 9 of
:func:`regaudit.regulator.verify.verify_bundle`): the plan recomputed from signed sizes, the
submission and the receipt telling the same story, and both statements fresh and in order."""

from __future__ import annotations

from datetime import datetime, timedelta

from regaudit.shared.bundle import AuditBundle
from regaudit.shared.circuits.base import Circuit, Plan
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    RegauditError,
    StaleEvidenceError,
    VerificationError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.statements import ReceiptStatement, SubmissionStatement
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import ParameterProfile


def mismatch(what: str, attested: object, expected: object) -> DigestMismatchError:
    """The error for evidence that says ``attested`` where ``expected`` is the truth."""
    return DigestMismatchError(
        f"{what}: the evidence says {attested!r:.160}, expected {expected!r:.160}", field=what
    )


def _same_json(a: object, b: object) -> bool:
    try:
        return canonical_json(a) == canonical_json(b)
    except RegauditError:
        return False


def recompute_plan(
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
        raise mismatch("columns", list(submission.columns), list(plan.columns))
    if not _same_json(bundle.plan, plan.to_dict()):
        raise mismatch("plan", bundle.plan, plan.to_dict())
    return plan


def check_agreement(submission: SubmissionStatement, receipt: ReceiptStatement) -> None:
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


def check_freshness(
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


__all__ = ["check_agreement", "check_freshness", "mismatch", "recompute_plan"]
