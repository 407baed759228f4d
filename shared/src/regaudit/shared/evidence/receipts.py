"""The one check of an evaluation receipt, shared by the client and the regulator.

The client runs it on the receipt the evaluator returned, before it seals or signs anything; the
regulator runs it on the receipt in the bundle. Both build a :class:`ReceiptExpectation` from
what they know independently of the evaluator -- the client from what it sent, the regulator
from the client-signed submission, the bundle and the plan it recomputed. Every check of the
receipt itself is the same on both sides; the regulator adds what only it has (its trust
store's keys, revocations and age limit), and only the client knows the digest of the job
header it signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import (
    BadSignatureError,
    CiphertextError,
    DigestMismatchError,
    PartialsRootMismatchError,
    RegauditError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    WrongParameterSetError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, verify_envelope
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.statements import ReceiptStatement
from regaudit.shared.protocol import CANARY_OUTPUT_NAME, output_name

#: Default age limit of a receipt (seconds) when the caller has no trust-store setting: a
#: receipt is checked by the client right after the job and by the regulator within days.
DEFAULT_RECEIPT_MAX_AGE_SECONDS = 7 * 24 * 3600  # as the trust store default
#: Default tolerance for clocks that disagree (seconds).
DEFAULT_CLOCK_SKEW_SECONDS = 300
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
#: What the evaluator must have deleted when the job ended: the per-row input ciphertexts (the
#: regulator holds the key that decrypts them, so they must not outlive the job).
REQUIRED_DELETIONS: tuple[str, ...] = ("input_ciphertexts",)


@dataclass(frozen=True)
class ReceiptExpectation:
    """What a receipt must attest, as known independently of the evaluator."""

    evaluator_key: PublicKeyRecord
    plan: Plan
    public_inputs: Mapping[str, Any]
    audit_id: str
    client_key_id: str
    regulator_key_id: str
    job_id: str
    evaluation_keys_digest: str
    inputs_manifest_digest: str
    canary_seed: bytes
    #: the output and canary ciphertexts the receipt's digests must match; None where the
    #: checker does not hold them (a witness's receipt at the regulator: its outputs are
    #: compared with the primary's by digest instead, regaudit.regulator.witness_checks)
    outputs: Sequence[bytes] | None
    canary_output: bytes | None
    #: the digest of the signed job header, where the checker knows it (the client does)
    job_header_digest: str | None = None
    #: whether the signed job header asked for the per-chunk partial digests
    #: (``commit_partials``), where the checker knows it (the client does); None: either way
    commit_partials: bool | None = None


def _mismatch(name: str, attested: object, expected: object) -> DigestMismatchError:
    return DigestMismatchError(
        f"{name}: the receipt says {attested!r:.120}, expected {expected!r:.120}", field=name
    )


def check_receipt(
    envelope: Mapping[str, Any],
    *,
    expected: ReceiptExpectation,
    now: datetime,
    max_age_seconds: int = DEFAULT_RECEIPT_MAX_AGE_SECONDS,
    clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS,
) -> ReceiptStatement:
    """Check a receipt envelope against ``expected``; returns the parsed statement.

    Raises a :class:`~regaudit.shared.errors.VerificationError` subclass naming the field.

    Steps: 1. DSSE signature by the expected evaluator key; 2. strict statement parse; 3. the
    statement names that key; 4. the bindings: job id, audit id, client key, regulator key (and
    the signed job header's digest where known); 5. circuit id and version; 6. profile name and
    hash; 7. evaluation-key digest; 8. input manifest digest and ciphertext count (the canary
    plus every chunk of every column); 9. rows, public inputs and canary seed; 10. output count
    and names, and the digest and canonical content digest of every output and of the canary
    where the checker holds the ciphertexts; 10b. the partial digests: one per chunk of the
    plan when committed, none otherwise, as the job header asked where the checker knows;
    11. planned and observed depth, every operation counter and the rotation steps equal the
    plan; 12. the per-row inputs were deleted when the job ended; 13. freshness: finished no
    longer ago than ``max_age_seconds`` and not in the future.
    """
    plan = expected.plan
    key = expected.evaluator_key
    # 1. signature
    payload = verify_envelope(
        envelope, public_key=key.public_key, key_id=key.key_id, payload_type=PAYLOAD_TYPE_INTOTO
    )
    # 2. parse
    receipt = statements.parse_receipt(payload)
    # 3. signer
    if receipt.evaluator_key_id != key.key_id:
        raise BadSignatureError(
            "the receipt names a different evaluator key than the one that signed it",
            field="evaluator_key_id",
        )
    # 4. bindings
    if receipt.job_id != expected.job_id:
        raise _mismatch("job_id", receipt.job_id, expected.job_id)
    if receipt.audit_id != expected.audit_id:
        raise _mismatch("audit_id", receipt.audit_id, expected.audit_id)
    if receipt.client_key_id != expected.client_key_id:
        raise _mismatch("client_key_id", receipt.client_key_id, expected.client_key_id)
    if receipt.regulator_key_id != expected.regulator_key_id:
        raise WrongRegulatorKeyError(
            f"the job was bound to regulator {receipt.regulator_key_id[:16]}..., expected "
            f"{expected.regulator_key_id[:16]}...",
            field="regulator_key_id",
        )
    if (
        expected.job_header_digest is not None
        and receipt.job_header_digest != expected.job_header_digest
    ):
        raise _mismatch("job_header_digest", receipt.job_header_digest, expected.job_header_digest)
    # 5. circuit
    if (receipt.circuit_id, receipt.circuit_version) != (plan.circuit_id, plan.circuit_version):
        raise UnsupportedCircuitError(
            f"the receipt is for circuit {receipt.circuit_id}@{receipt.circuit_version}, "
            f"expected {plan.circuit_id}@{plan.circuit_version}",
            field="circuit_id",
        )
    # 6. profile
    if (receipt.profile_name, receipt.profile_hash) != (
        plan.profile.name,
        plan.profile.profile_hash,
    ):
        raise WrongParameterSetError(
            f"the receipt is for profile {receipt.profile_name} ({receipt.profile_hash}), "
            f"expected {plan.profile.name} ({plan.profile.profile_hash})",
            field="profile_hash",
        )
    # 7. evaluation keys
    if receipt.evaluation_keys_digest != expected.evaluation_keys_digest:
        raise _mismatch(
            "evaluation_keys_digest",
            receipt.evaluation_keys_digest,
            expected.evaluation_keys_digest,
        )
    # 8. inputs
    if receipt.inputs_manifest_digest != expected.inputs_manifest_digest:
        raise _mismatch(
            "inputs_manifest_digest",
            receipt.inputs_manifest_digest,
            expected.inputs_manifest_digest,
        )
    input_count = plan.input_count
    if receipt.input_count != input_count:
        raise _mismatch("input_count", receipt.input_count, input_count)
    # 9. rows, public inputs, canary seed
    if receipt.rows != plan.rows:
        raise _mismatch("rows", receipt.rows, plan.rows)
    if not _same_json(receipt.public_inputs, expected.public_inputs):
        raise _mismatch("public_inputs", receipt.public_inputs, dict(expected.public_inputs))
    if receipt.canary_seed != expected.canary_seed:
        raise _mismatch("canary_seed", receipt.canary_seed.hex(), expected.canary_seed.hex())
    # 10. outputs
    _check_outputs(receipt, expected)
    # 10b. partial digests
    _check_partials(receipt, expected)
    # 11. depth, counts, rotation steps
    if receipt.depth_planned != plan.depth:
        raise _mismatch("depth_planned", receipt.depth_planned, plan.depth)
    if receipt.depth_observed != plan.depth:
        raise WrongParameterSetError(
            f"the evaluator reports depth {receipt.depth_observed}, the plan is {plan.depth}",
            field="depth_observed",
        )
    planned = plan.counts.to_dict()
    for name in PLANNED_COUNTERS:
        if receipt.operation_counts.get(name) != planned[name]:
            raise _mismatch(
                f"operation_counts.{name}", receipt.operation_counts.get(name), planned[name]
            )
    steps = receipt.operation_counts.get("rotation_steps")
    if not isinstance(steps, list) or set(steps) != set(plan.rotation_steps):
        raise _mismatch("operation_counts.rotation_steps", steps, list(plan.rotation_steps))
    # 12. deletion of the per-row inputs
    for item in REQUIRED_DELETIONS:
        if receipt.retention.get(item) != "deleted":
            raise _mismatch(f"retention.{item}", receipt.retention.get(item), "deleted")
    # 13. freshness
    skew = timedelta(seconds=clock_skew_seconds)
    if receipt.finished_at > now + skew:
        raise StaleEvidenceError(
            f"the receipt is dated {receipt.finished_at.isoformat()}, in the future",
            field="finished_at",
        )
    if now - receipt.finished_at > timedelta(seconds=max_age_seconds) + skew:
        raise StaleEvidenceError(
            f"the receipt is older than {max_age_seconds} s (finished "
            f"{receipt.finished_at.isoformat()})",
            field="finished_at",
        )
    return receipt


def _check_outputs(receipt: ReceiptStatement, expected: ReceiptExpectation) -> None:
    """Step 10: the output names (``output/0``..., then the canary) and, where the checker holds
    the ciphertexts, the digest of each."""
    plan = expected.plan
    names = [output_name(i) for i in range(plan.n_outputs)] + [CANARY_OUTPUT_NAME]
    attested = list(receipt.outputs)
    if [name for name, _ in attested] != names:
        raise _mismatch("outputs", [n for n, _ in attested], names)
    if expected.outputs is None or expected.canary_output is None:
        return
    if len(expected.outputs) != plan.n_outputs:
        raise _mismatch("outputs", f"{len(expected.outputs)} outputs", f"{plan.n_outputs}")
    actual = [sha256_digest(data) for data in (*expected.outputs, expected.canary_output)]
    for (name, attested_digest), digest in zip(attested, actual, strict=True):
        if attested_digest != digest:
            raise DigestMismatchError(
                f"ciphertext {name} hashes to {digest}, the receipt attests {attested_digest}",
                field=name,
            )
    # the canonical contents (what witnesses compare) are those of these very bytes: a receipt
    # cannot pair dishonest outputs with the contents an honest run would have
    for (name, attested_content), data in zip(
        receipt.output_contents, (*expected.outputs, expected.canary_output), strict=True
    ):
        try:
            content = ciphertext_content_digest(data)
        except CiphertextError as exc:
            raise DigestMismatchError(
                f"ciphertext {name} has no canonical content: {exc.message}",
                field=f"output_contents.{name}",
            ) from None
        if attested_content != content:
            raise DigestMismatchError(
                f"ciphertext {name} has content {content}, the receipt attests {attested_content}",
                field=f"output_contents.{name}",
            )


def _check_partials(receipt: ReceiptStatement, expected: ReceiptExpectation) -> None:
    """Step 10b: the receipt commits to every chunk's partial digest or to none (the parser
    already tied a count of 0 to the empty-list root), and to some exactly when the job header
    asked (where the checker knows the header)."""
    n_chunks = expected.plan.n_chunks
    committed = receipt.partials_count != 0
    if committed and receipt.partials_count != n_chunks:
        raise PartialsRootMismatchError(
            f"the receipt commits to {receipt.partials_count} partial digests, the plan has "
            f"{n_chunks} chunks",
            field="partials_count",
        )
    if expected.commit_partials is not None and committed != expected.commit_partials:
        asked = "asked for" if expected.commit_partials else "did not ask for"
        found = f"commits to {receipt.partials_count}" if committed else "commits to none"
        raise PartialsRootMismatchError(
            f"the job header {asked} per-chunk partial digests (commit_partials), the receipt "
            f"{found}",
            field="partials_count",
        )


def _same_json(a: object, b: object) -> bool:
    try:
        return canonical_json(a) == canonical_json(b)
    except RegauditError:
        return False


__all__ = [
    "DEFAULT_RECEIPT_MAX_AGE_SECONDS",
    "PLANNED_COUNTERS",
    "REQUIRED_DELETIONS",
    "ReceiptExpectation",
    "check_receipt",
]
