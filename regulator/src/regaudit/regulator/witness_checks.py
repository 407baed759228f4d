"""The verifier's witness checks (step 10 of :func:`regaudit.regulator.verify.verify_bundle`).

A witness is a second, independent, keyless evaluator that re-executed the very job the primary
ran (same client-signed header, evaluation keys and input ciphertexts). The regulator never
holds a witness's output ciphertexts -- nor anyone's inputs -- so it compares what the two
evaluators signed: each witness receipt must be signed by a trusted evaluator key other than the
primary's, attest the primary's job (audit, client, regulator, job header, plan, profile,
evaluation keys, input manifest, public inputs, canary seed) and the same output *contents*
(compression-independent digests, ``output_contents``) as the primary's receipt, whose contents
step 7 tied to the bundle's ciphertexts. What a witness proves, and what it does not (two
colluding evaluators, a lying client), is in docs/threat-model.md (A4).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from regaudit.regulator.trust_checks import require_witness_signer
from regaudit.regulator.verified import MissingWitnessSummary, WitnessesSummary, WitnessSummary
from regaudit.regulator.witness_sample_checks import check_sampled_witness_entry
from regaudit.shared.bundle import AuditBundle, WitnessEvidence
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import (
    DigestMismatchError,
    MissingWitnessError,
    StaleEvidenceError,
    WitnessNotIndependentError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.receipts import ReceiptExpectation, check_receipt
from regaudit.shared.evidence.statements import (
    WITNESS_MODE_SAMPLED,
    ReceiptStatement,
    SubmissionStatement,
    WitnessBinding,
)
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.evidence.witness_agreement import check_agreement, check_comparable

#: How the outputs of a witness and the primary are compared (reported in the evidence).
COMPARED_BY = "ciphertext content digests (output_contents)"


def check_witnesses(
    bundle: AuditBundle,
    submission: SubmissionStatement,
    primary: ReceiptStatement,
    plan: Plan,
    trust: TrustStore,
    *,
    primary_key: PublicKeyRecord,
    client_key_id: str,
    regulator_key_id: str,
    now: datetime,
) -> WitnessesSummary:
    """Check every witness receipt against the primary's and the trust store's policy; returns
    what the report shows.

    Steps: 1. the bundle carries exactly the witness receipts the client signed, in order
    (DigestMismatchError: a receipt stripped, added or replaced); 2. per witness (see
    :func:`check_witness`): trusted key, independent of the primary and of the other
    witnesses, the primary's job, comparable software, the primary's output contents;
    3. at least ``trust.witnesses_required`` witnesses agree (MissingWitnessError, naming the
    missing ones the client recorded).
    """
    # 1. exactly the bound receipts
    bound = submission.witnesses
    if len(bundle.witnesses) != len(bound):
        raise DigestMismatchError(
            f"the client signed {len(bound)} witness receipt(s), the bundle carries "
            f"{len(bundle.witnesses)}",
            field="witnesses",
        )
    for index, (evidence, binding) in enumerate(zip(bundle.witnesses, bound, strict=True)):
        digest = statements.receipt_digest(evidence.receipt)
        if digest != binding.receipt_digest:
            raise DigestMismatchError(
                f"witness {index}: the client signed receipt {binding.receipt_digest}, the "
                f"bundle carries {digest}",
                field=f"witnesses[{index}].receipt",
            )
    # 2. each witness
    present: list[WitnessSummary] = []
    seen = {primary_key.key_id}
    for index, (evidence, binding) in enumerate(zip(bundle.witnesses, bound, strict=True)):
        if binding.mode == WITNESS_MODE_SAMPLED:  # (regaudit.regulator.witness_sample_checks)
            summary = check_sampled_witness_entry(
                index,
                evidence,
                binding,
                bundle=bundle,
                submission=submission,
                primary=primary,
                trust=trust,
                seen=seen,
                now=now,
            )
            seen.add(summary.evaluator_key_id)
            present.append(summary)
            continue
        summary = check_witness(
            index,
            evidence,
            binding,
            bundle=bundle,
            submission=submission,
            primary=primary,
            plan=plan,
            trust=trust,
            seen=seen,
            client_key_id=client_key_id,
            regulator_key_id=regulator_key_id,
            now=now,
        )
        seen.add(summary.evaluator_key_id)
        present.append(summary)
    # 3. the policy
    missing = tuple(
        MissingWitnessSummary(address=m.address, reason=m.reason, message=m.message)
        for m in submission.missing_witnesses
    )
    if len(present) < trust.witnesses_required:
        recorded = "; ".join(f"{m.address}: {m.reason}" for m in missing) or "none recorded"
        raise MissingWitnessError(
            f"the trust store requires {trust.witnesses_required} agreeing witness(es), the "
            f"bundle carries {len(present)} (missing witnesses: {recorded})",
            field="witnesses",
        )
    return WitnessesSummary(
        required=trust.witnesses_required, present=tuple(present), missing=missing
    )


def check_witness(
    index: int,
    evidence: WitnessEvidence,
    binding: WitnessBinding,
    *,
    bundle: AuditBundle,
    submission: SubmissionStatement,
    primary: ReceiptStatement,
    plan: Plan,
    trust: TrustStore,
    seen: set[str],
    client_key_id: str,
    regulator_key_id: str,
    now: datetime,
) -> WitnessSummary:
    """One witness receipt.

    Steps: a. its signer is a trusted evaluator key, not revoked when the witness finished nor
    when the client signed, the key the bundle embeds and the submission names
    (UntrustedIssuerError / RevokedKeyError / DigestMismatchError); b. not the primary's key
    nor another witness's (WitnessNotIndependentError); c. the receipt check of step 7 with the
    primary's facts -- audit, client, regulator, the job id the client bound, evaluation keys,
    input manifest, plan (circuit, profile, depth, counts), public inputs, canary seed, output
    names, deletion, freshness -- and the primary's job header digest; d. the client signed
    after the witness finished (StaleEvidenceError); e. CKKS library versions comparable with
    the primary's (WitnessIncomparableError); f. every output content, the canary's included,
    equals the primary's (WitnessDisagreementError).
    """
    where = f"witnesses[{index}]"
    # a. trusted signer, embedded and named
    key = require_witness_signer(
        evidence, binding.evaluator_key_id, trust, index=index, signed_at=submission.created_at
    )
    # b. independent
    if key.key_id in seen:
        raise WitnessNotIndependentError(
            f"witness {binding.address} signs with key {key.key_id[:16]}..., the primary's "
            "or another witness's: it is not an independent re-execution",
            field=f"{where}.evaluator_key_id",
        )
    # c. the primary's job, the receipt check of step 7
    receipt = check_receipt(
        evidence.receipt,
        expected=ReceiptExpectation(
            evaluator_key=key,
            plan=plan,
            public_inputs=bundle.public_inputs,
            audit_id=bundle.audit_id,
            client_key_id=client_key_id,
            regulator_key_id=regulator_key_id,
            job_id=binding.job_id,
            evaluation_keys_digest=submission.evaluation_keys_digest,
            inputs_manifest_digest=submission.inputs_manifest_digest,
            canary_seed=bundle.canary_seed,
            outputs=None,  # the regulator holds the primary's outputs only
            canary_output=None,
            job_header_digest=primary.job_header_digest,
        ),
        now=now,
        max_age_seconds=trust.max_age_seconds,
        clock_skew_seconds=trust.clock_skew_seconds,
    )
    # d. signed by the client after the witness finished
    if submission.created_at + timedelta(seconds=trust.clock_skew_seconds) < receipt.finished_at:
        raise StaleEvidenceError(
            f"the submission ({submission.created_at.isoformat()}) predates witness "
            f"{binding.address}'s evaluation ({receipt.finished_at.isoformat()})",
            field=f"{where}.finished_at",
        )
    who = f"witness {binding.address} (key {key.key_id[:16]}...)"
    # e. comparable builds
    check_comparable(primary.software, receipt.software, who=who)
    # f. the same output contents
    check_agreement(primary.output_contents, receipt.output_contents, who=who)
    return WitnessSummary(
        address=binding.address,
        mode=binding.mode,
        evaluator_key_id=key.key_id,
        job_id=receipt.job_id,
        receipt_digest=binding.receipt_digest,
        finished_at=receipt.finished_at,
        software=dict(receipt.software),
        agrees=True,
        compared_by=COMPARED_BY,
    )


__all__ = ["COMPARED_BY", "check_witness", "check_witnesses"]
