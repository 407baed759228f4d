"""The verifier's check of a sampled witness (a ``sampled`` entry of the submission's
witnesses; step 10 of :func:`regaudit.regulator.verify.verify_bundle`).

A sampled witness re-executed only the chunks drawn from the primary receipt's digest and the
client's nonce. The bundle's ``sampling`` carries the primary's per-chunk partial digests and
input manifest; the primary's receipt (checked in step 7) commits to the Merkle root of the
first and to the digest of the second, so neither can be altered without this check noticing.
What it proves and does not is in docs/evidence.md ("Sampled witness").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from regaudit.regulator.trust_checks import require_witness_signer
from regaudit.regulator.verified import WitnessSummary
from regaudit.shared.bundle import AuditBundle, WitnessEvidence
from regaudit.shared.errors import BundleFormatError, DigestMismatchError, StaleEvidenceError
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.sampled_witness import (
    SampledWitnessExpectation,
    check_partials,
    check_sampled_witness,
    detection,
)
from regaudit.shared.evidence.statements import (
    ReceiptStatement,
    SubmissionStatement,
    WitnessBinding,
)
from regaudit.shared.evidence.truststore import TrustStore

#: What a sampled witness is compared by (reported in the evidence).
SAMPLED_COMPARED_BY = "per-chunk partial digests of the sampled chunks (partials_root)"


def check_sampled_witness_entry(
    index: int,
    evidence: WitnessEvidence,
    binding: WitnessBinding,
    *,
    bundle: AuditBundle,
    submission: SubmissionStatement,
    primary: ReceiptStatement,
    trust: TrustStore,
    seen: set[str],
    now: datetime,
) -> WitnessSummary:
    """One sampled witness receipt.

    Steps: a. its signer is a trusted evaluator key, not revoked when the witness finished nor
    when the client signed, the key the bundle embeds and the submission names; b. the bundle
    carries the primary's sampling evidence, whose input manifest has the digest the primary's
    receipt attests (digest_mismatch) and whose partial digests have the root and count it
    commits to (partials_root_mismatch); c. the shared check
    (:func:`~regaudit.shared.evidence.sampled_witness.check_sampled_witness`: independence,
    the primary's job, comparable builds, the sample is the derivation, the inputs are the
    primary's, every sampled partial equals the primary's: witness_disagreement); d. the job
    the client bound; e. the client signed after the witness finished.
    """
    where = f"witnesses[{index}]"
    # a. trusted signer, embedded and named
    key = require_witness_signer(
        evidence, binding.evaluator_key_id, trust, index=index, signed_at=submission.created_at
    )
    # b. the primary's sampling evidence, as its receipt commits to it
    sampling = bundle.sampling
    if sampling is None:
        raise BundleFormatError(
            "a sampled witness needs the bundle's 'sampling' evidence", field="sampling"
        )
    manifest_digest = statements.input_manifest_digest(sampling.inputs_manifest)
    if manifest_digest != primary.inputs_manifest_digest:
        raise DigestMismatchError(
            f"the bundle's input manifest hashes to {manifest_digest}, the primary's receipt "
            f"attests {primary.inputs_manifest_digest}",
            field="sampling.inputs_manifest",
        )
    check_partials(primary, sampling.partial_digests)
    # c. the shared check (client and regulator)
    receipt = check_sampled_witness(
        evidence.receipt,
        expected=SampledWitnessExpectation(
            witness_key=key,
            primary=primary,
            primary_receipt_digest=statements.receipt_digest(bundle.receipt),
            primary_manifest=sampling.inputs_manifest,
            primary_partial_digests=sampling.partial_digests,
            sample_size=None,
            other_keys=frozenset(seen),
        ),
        now=now,
        max_age_seconds=trust.max_age_seconds,
        clock_skew_seconds=trust.clock_skew_seconds,
    )
    # d. the job the client bound
    if receipt.job_id != binding.job_id:
        raise DigestMismatchError(
            f"the client bound witness job {binding.job_id}, the receipt is for {receipt.job_id}",
            field=f"{where}.job_id",
        )
    # e. signed by the client after the witness finished
    if submission.created_at + timedelta(seconds=trust.clock_skew_seconds) < receipt.finished_at:
        raise StaleEvidenceError(
            f"the submission ({submission.created_at.isoformat()}) predates sampled witness "
            f"{binding.address}'s evaluation ({receipt.finished_at.isoformat()})",
            field=f"{where}.finished_at",
        )
    return WitnessSummary(
        address=binding.address,
        mode=binding.mode,
        evaluator_key_id=key.key_id,
        job_id=receipt.job_id,
        receipt_digest=binding.receipt_digest,
        finished_at=receipt.finished_at,
        software=dict(receipt.software),
        agrees=True,
        compared_by=SAMPLED_COMPARED_BY,
        sampled_chunks=receipt.sampled,
        n_chunks=receipt.n_chunks,
        detection=detection(primary, len(receipt.chunks)),
    )


__all__ = ["SAMPLED_COMPARED_BY", "check_sampled_witness_entry"]
