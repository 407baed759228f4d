"""The client's checks of its witnesses' results (step 10c of
:func:`regaudit.client.audit.run_audit`), before anything is committed, sealed or signed.

Each witness's receipt passes the very receipt check the primary's passed (the regulator's own,
:func:`regaudit.shared.evidence.receipts.check_receipt`) against what this client sent: the same
job header, evaluation keys, input manifest (the witness received the primary's ciphertexts),
plan, public inputs and canary seed, and the witness's own key and job. Then its outputs must
be the primary's, compared by ciphertext *content*
(:func:`regaudit.shared.ciphertext_content.ciphertext_content_digest`: the client holds both
sets of bytes), once the two CKKS library builds are known to agree
(:func:`regaudit.shared.evidence.witness_agreement.check_comparable`). On a disagreement the
client's own output check tells which side computed wrongly: if the primary's outputs are
wrong, that is the failure reported (``evaluator_output_mismatch``); otherwise the witness's
(``witness_disagreement``). Either way the audit fails with exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from regaudit.shared.errors import WitnessDisagreementError
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.receipts import ReceiptExpectation
from regaudit.shared.evidence.statements import WitnessBinding
from regaudit.shared.protocol import CANARY_OUTPUT_NAME, output_name

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.client.witness import WitnessRun, WitnessSession
    from regaudit.shared.evidence.statements import ReceiptStatement


@dataclass(frozen=True)
class CheckedWitness:
    """A witness whose receipt and outputs passed the client's checks: what the submission
    binds and the bundle carries."""

    address: str
    mode: str
    key: PublicKeyRecord
    job_id: str
    receipt_envelope: dict[str, Any]

    def binding(self) -> WitnessBinding:
        """The submission's entry for this witness."""
        from regaudit.shared.evidence import statements

        return WitnessBinding(
            address=self.address,
            evaluator_key_id=self.key.key_id,
            job_id=self.job_id,
            receipt_digest=statements.receipt_digest(self.receipt_envelope),
            mode=self.mode,
        )


def content_digests(outputs: Sequence[bytes], canary: bytes) -> list[tuple[str, str]]:
    """(output name, content digest) of every output and the canary, in receipt order."""
    from regaudit.shared.ciphertext_content import ciphertext_content_digest

    named = [(output_name(i), data) for i, data in enumerate(outputs)]
    named.append((CANARY_OUTPUT_NAME, canary))
    return [(name, ciphertext_content_digest(data)) for name, data in named]


def check_witnesses(
    run: AuditRun, session: WitnessSession, *, check_primary_outputs: Callable[[], None]
) -> None:
    """10b. Each delivered witness (:func:`check_witness`), in command-line order, onto
    ``run.witnesses``; the missing ones (optional witnesses only) onto
    ``run.missing_witnesses``."""
    import time

    mark = time.monotonic()
    for witness in session.delivered():
        run.witnesses.append(
            check_witness(
                run,
                witness,
                primary_receipt=run.receipt,
                check_primary_outputs=check_primary_outputs,
            )
        )
    run.missing_witnesses.extend(session.missing())
    run.timings["witness_check_s"] = time.monotonic() - mark


def check_witness(
    run: AuditRun,
    witness: WitnessRun,
    *,
    primary_receipt: ReceiptStatement,
    check_primary_outputs: Callable[[], None],
) -> CheckedWitness:
    """Check one witness's receipt and outputs against the primary's; returns what the
    evidence binds.

    Steps: 1. the receipt check the primary's passed, with the witness's key and job id and
    this client's header, keys, manifest, plan, public inputs, canary seed and the witness's
    own output bytes; 2. the two CKKS library builds are known to agree
    (WitnessIncomparableError); 3. every output and the canary have the primary's content
    (WitnessDisagreementError -- or EvaluatorOutputMismatchError when the client's own output
    check shows that the primary is the one that computed wrongly).
    """
    from regaudit.client.audit import verify_receipt
    from regaudit.shared.evidence.witness_agreement import check_agreement, check_comparable

    result, key, accepted = witness.result, witness.key, witness.accepted
    assert result is not None and key is not None and accepted is not None
    who = f"the witness at {witness.address}"
    # 1. the receipt
    receipt = verify_receipt(
        result.receipt_envelope,
        expected=ReceiptExpectation(
            evaluator_key=key,
            plan=run.plan,
            public_inputs=run.public,
            audit_id=run.audit_id,
            client_key_id=run.identity.key_id,
            regulator_key_id=run.card.regulator_key_id,
            job_id=accepted.job_id,
            evaluation_keys_digest=run.evaluation_keys.digest,
            inputs_manifest_digest=run.manifest_digest,
            canary_seed=run.canary_seed,
            outputs=list(result.outputs),
            canary_output=result.canary,
            job_header_digest=run.header.digest,
            commit_partials=run.header.commit_partials,
        ),
    )
    # 2. comparable builds
    check_comparable(primary_receipt.software, receipt.software, who=who)
    # 3. the same content
    primary = content_digests(run.result.outputs, run.result.canary)
    try:
        check_agreement(primary, content_digests(result.outputs, result.canary), who=who)
    except WitnessDisagreementError as disagreement:
        check_primary_outputs()  # raises if the primary is the one that lied
        raise WitnessDisagreementError(
            f"{disagreement.message}; the primary's outputs pass this client's own check, so "
            f"the witness at {witness.address} (key {key.key_id[:16]}...) computed wrongly",
            field=disagreement.field,
        ) from disagreement
    return CheckedWitness(
        address=witness.address,
        mode=witness.mode,
        key=key,
        job_id=accepted.job_id,
        receipt_envelope=dict(result.receipt_envelope),
    )


__all__ = ["CheckedWitness", "check_witness", "check_witnesses", "content_digests"]
