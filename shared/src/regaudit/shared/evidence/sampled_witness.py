"""The check of a sampled witness against the primary's evidence: one routine for the client
(before it signs anything) and the regulator (``verify``).

The primary's receipt commits to the Merkle root of its per-chunk partial digests; the list
itself travels beside it (the job result, then the bundle). A sampled witness re-executed the
chunks derived from the primary receipt's digest and the client's nonce and signed what it got
and computed. :func:`check_partials` checks the list against the primary's commitment;
:func:`check_sampled_witness` checks a witness receipt against the primary's receipt, its
input manifest and that list. What it proves and does not is in ``docs/evidence.md``
("Sampled witness").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from regaudit.shared.errors import (
    BadSignatureError,
    DigestMismatchError,
    PartialsRootMismatchError,
    StaleEvidenceError,
    WitnessDisagreementError,
    WitnessNotIndependentError,
    WitnessSampleMismatchError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, verify_envelope
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.receipts import (
    DEFAULT_CLOCK_SKEW_SECONDS,
    DEFAULT_RECEIPT_MAX_AGE_SECONDS,
    REQUIRED_DELETIONS,
)
from regaudit.shared.evidence.statements import ReceiptStatement
from regaudit.shared.evidence.statements.sampled_receipt import (
    SampledReceiptStatement,
    parse_sampled_receipt,
)
from regaudit.shared.evidence.witness_agreement import check_comparable
from regaudit.shared.evidence.witness_sampling import (
    derive_sample,
    detection_summary,
    merkle_root,
)

#: The manifest entry of the canary ciphertext.
CANARY_ENTRY = ("__canary__", 0)


def check_partials(primary: ReceiptStatement, partial_digests: Sequence[str]) -> None:
    """The partial digests are exactly the list the primary's receipt commits to: as many as
    ``partials_count`` and with ``partials_root`` as their Merkle root.
    Raises PartialsRootMismatchError.

    Steps: 1. the receipt commits to partials at all (a job header without
    ``commit_partials`` gets a receipt with none, which no sampled witness can check);
    2. the count; 3. the Merkle root.
    """
    # 1. committed
    if primary.partials_count == 0:
        raise PartialsRootMismatchError(
            "the primary's receipt commits to no per-chunk partial digests (its job header did "
            "not ask for them: commit_partials), so a sampled witness has nothing to check",
            field="partials_count",
        )
    # 2. count
    if len(partial_digests) != primary.partials_count:
        raise PartialsRootMismatchError(
            f"{len(partial_digests)} partial digests, the primary's receipt commits to "
            f"{primary.partials_count}",
            field="partial_digests",
        )
    # 3. root
    try:
        root = merkle_root(list(partial_digests))
    except Exception as exc:  # noqa: BLE001 - a malformed digest is a mismatch
        raise PartialsRootMismatchError(
            f"malformed partial digests: {exc}", field="partial_digests"
        ) from None
    if root != primary.partials_root:
        raise PartialsRootMismatchError(
            f"the partial digests hash to Merkle root {root}, the primary's receipt commits to "
            f"{primary.partials_root}",
            field="partial_digests",
        )


@dataclass(frozen=True)
class SampledWitnessExpectation:
    """What a sampled witness receipt must agree with, as known independently of the witness:
    the primary's (already checked) receipt and its digest, the primary's input manifest
    entries ((column, chunk, digest) in upload order: the client sent them; the regulator
    recomputed their digest), the primary's partial digests (already checked against its
    root, :func:`check_partials`) and the sample size the audit asked for."""

    witness_key: PublicKeyRecord
    primary: ReceiptStatement
    primary_receipt_digest: str
    primary_manifest: Sequence[tuple[str, int, str]]
    primary_partial_digests: Sequence[str]
    #: the sample size the audit asked for (None: as many chunks as the receipt lists -- the
    #: regulator, which reports the detection bound of that size)
    sample_size: int | None
    #: key ids the witness must not sign with (the primary's, other witnesses')
    other_keys: frozenset[str] = frozenset()


def _bindings(receipt: SampledReceiptStatement, primary: ReceiptStatement) -> None:
    """Step 4: the witness ran the primary's job (DigestMismatchError naming the field)."""
    pairs: list[tuple[str, object, object]] = [
        ("job_header_digest", receipt.job_header_digest, primary.job_header_digest),
        ("audit_id", receipt.audit_id, primary.audit_id),
        ("client_key_id", receipt.client_key_id, primary.client_key_id),
        ("regulator_key_id", receipt.regulator_key_id, primary.regulator_key_id),
        ("circuit_id", receipt.circuit_id, primary.circuit_id),
        ("circuit_version", receipt.circuit_version, primary.circuit_version),
        ("profile_name", receipt.profile_name, primary.profile_name),
        ("profile_hash", receipt.profile_hash, primary.profile_hash),
        ("evaluation_keys_digest", receipt.evaluation_keys_digest, primary.evaluation_keys_digest),
        ("rows", receipt.rows, primary.rows),
        ("n_chunks", receipt.n_chunks, primary.partials_count),
        ("canary_seed", receipt.canary_seed, primary.canary_seed),
        ("public_inputs", canonical_json(receipt.public_inputs),
         canonical_json(primary.public_inputs)),
    ]  # fmt: skip
    for name, attested, expected in pairs:
        if attested != expected:
            raise DigestMismatchError(
                f"the sampled witness's receipt says {name} {attested!r:.80}, the primary's "
                f"{expected!r:.80}",
                field=f"witness.{name}",
            )


def _inputs(receipt: SampledReceiptStatement, manifest: Sequence[tuple[str, int, str]]) -> None:
    """Step 7: the witness received the primary's very input ciphertexts for its chunks."""
    canary: str | None = None
    by_chunk: dict[int, list[tuple[str, str]]] = {}
    for column, chunk, digest in manifest:  # (upload order: columns in plan order per chunk)
        if (column, chunk) == CANARY_ENTRY:
            canary = digest
        else:
            by_chunk.setdefault(chunk, []).append((column, digest))
    if receipt.canary_input_digest != canary:
        raise DigestMismatchError(
            "the sampled witness received another canary ciphertext than the primary",
            field="witness.canary_input_digest",
        )
    for entry in receipt.chunks:
        if list(entry.inputs) != by_chunk.get(entry.chunk, []):
            raise DigestMismatchError(
                f"the sampled witness received other input ciphertexts for chunk {entry.chunk} "
                "than the primary",
                field=f"witness.chunks[{entry.chunk}].inputs",
            )


def check_sampled_witness(
    envelope: Mapping[str, Any],
    *,
    expected: SampledWitnessExpectation,
    now: datetime,
    max_age_seconds: int = DEFAULT_RECEIPT_MAX_AGE_SECONDS,
    clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS,
) -> SampledReceiptStatement:
    """Check a sampled witness's receipt envelope; returns the parsed statement.

    Steps: 1. DSSE signature by the witness key; 2. strict parse; 3. the statement names that
    key, which is none of ``other_keys`` (witness_not_independent); 4. the bindings equal the
    primary's (job header, parties, circuit, profile, keys, rows, chunk count, canary seed,
    public inputs); 5. it names the primary's receipt digest and CKKS library versions that can
    be compared (witness_incomparable); 6. the sampled chunks are exactly the derivation from
    that digest and its nonce, of the audit's sample size (witness_sample_mismatch); 7. its
    inputs are the primary's manifest entries for those chunks and the canary (digest_mismatch);
    8. every sampled partial digest equals the primary's (witness_disagreement, naming the
    chunk); 9. it deleted the inputs; 10. freshness.
    """
    primary = expected.primary
    key = expected.witness_key
    # 1. signature
    payload = verify_envelope(
        envelope, public_key=key.public_key, key_id=key.key_id, payload_type=PAYLOAD_TYPE_INTOTO
    )
    # 2. parse
    receipt = parse_sampled_receipt(payload)
    # 3. signer, independent
    if receipt.evaluator_key_id != key.key_id:
        raise BadSignatureError(
            "the witness receipt names another evaluator key than the one that signed it",
            field="witness.evaluator_key_id",
        )
    if key.key_id == primary.evaluator_key_id or key.key_id in expected.other_keys:
        raise WitnessNotIndependentError(
            "the sampled witness signs with the primary's (or another witness's) key",
            field="witness.evaluator_key_id",
        )
    # 4. bindings
    _bindings(receipt, primary)
    # 5. the primary receipt, comparable builds
    if receipt.primary_receipt_digest != expected.primary_receipt_digest:
        raise DigestMismatchError(
            "the sampled witness derived its sample from another primary receipt",
            field="witness.primary_receipt_digest",
        )
    check_comparable(primary.software, receipt.software, who="the sampled witness")
    # 6. the sample
    derived = derive_sample(
        primary_receipt_digest=expected.primary_receipt_digest,
        nonce=receipt.sample_nonce,
        n_chunks=primary.partials_count,
        k=expected.sample_size if expected.sample_size is not None else len(receipt.chunks),
    )
    if receipt.sampled != derived:
        raise WitnessSampleMismatchError(
            f"the sampled witness re-executed chunks {list(receipt.sampled)[:20]}, the sample "
            f"derived from the primary's receipt and the nonce is {list(derived)[:20]}",
            field="witness.chunks",
        )
    # 7. inputs
    _inputs(receipt, expected.primary_manifest)
    # 8. partial digests
    for entry in receipt.chunks:
        if entry.partial_digest != expected.primary_partial_digests[entry.chunk]:
            raise WitnessDisagreementError(
                f"the sampled witness computed a different partial for chunk {entry.chunk} "
                "than the primary committed to: one of the two evaluators computed wrongly",
                field=f"partial/{entry.chunk}",
            )
    # 9. deletion
    for item in REQUIRED_DELETIONS:
        if receipt.retention.get(item) != "deleted":
            raise DigestMismatchError(
                f"the sampled witness did not delete its {item}", field=f"witness.retention.{item}"
            )
    # 10. freshness
    skew = timedelta(seconds=clock_skew_seconds)
    if (
        receipt.finished_at > now + skew
        or now - receipt.finished_at > timedelta(seconds=max_age_seconds) + skew
    ):
        raise StaleEvidenceError(
            f"the sampled witness's receipt is dated {receipt.finished_at.isoformat()}",
            field="witness.finished_at",
        )
    return receipt


def detection(primary: ReceiptStatement, sample_size: int) -> dict[str, float]:
    """What a verified sampled witness buys: the least detection probability of a cheat for
    f = 1 %, 5 %, 10 % and for one altered chunk (``witness_sampling.detection_summary``)."""
    return detection_summary(primary.partials_count, sample_size)


__all__ = [
    "SampledWitnessExpectation",
    "check_partials",
    "check_sampled_witness",
    "detection",
]
