"""The receipt of a succeeded job: an in-toto statement the daemon signs (DSSE).

Everything in it is what the daemon itself planned, checked or did: the operation counts are
the plan's (the workers' reports were only compared with them, ``checks``), the observed depth
is the level of the outputs the daemon loaded, the outputs are the bytes it checked (and their
canonical content digests), and ``retention`` says what it deleted when the job ended
(``retention``). The per-chunk partial digests come from the workers (the daemon never holds a
single chunk's partial: a batch returns the sum), like the evaluation itself; the receipt
commits to their Merkle root when the client-signed header asks (``commit_partials``), and
states count 0 with the empty-list root otherwise. A sampled witness job signs
:func:`sign_sampled_receipt` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.circuits.base import Plan
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import build_receipt_statement, input_manifest_digest
from regaudit.shared.evidence.statements.sampled_receipt import (
    SampledChunk,
    build_sampled_receipt_statement,
)
from regaudit.shared.evidence.witness_sampling import partials_commitment
from regaudit.shared.protocol import JobHeader


def sign_receipt(
    *,
    job_id: str,
    plan: Plan,
    header: JobHeader,
    keys_digest: str,
    manifest: Sequence[tuple[str, int, str]],
    started_at: datetime,
    outputs: Sequence[tuple[str, bytes]],
    partial_digests: Sequence[str],
    depth_observed: int,
    retention: Mapping[str, str],
    identity: SigningIdentity,
    software: Mapping[str, str],
) -> bytes:
    """The job's receipt statement, signed by ``identity``: the canonical JSON of its DSSE
    envelope. ``manifest`` is every received ciphertext's (column, chunk, digest) in upload
    order; ``outputs`` are the checked (name, bytes), canary last; ``partial_digests`` are the
    chunks' partial digests in chunk order (none when the header did not ask for them:
    ``commit_partials``); the receipt is finished now."""
    if bool(partial_digests) != header.commit_partials:
        raise ValueError("partial digests must be given exactly when the header asks for them")
    partials_root, partials_count = partials_commitment(partial_digests)
    statement = build_receipt_statement(
        job_id=job_id,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        evaluation_keys_digest=keys_digest,
        inputs_manifest_digest=input_manifest_digest(manifest),
        input_count=len(manifest),
        rows=plan.rows,
        public_inputs=header.public_inputs,
        canary_seed_hex=header.canary_seed.hex(),
        outputs=outputs,
        output_contents=[(name, ciphertext_content_digest(data)) for name, data in outputs],
        partials_root=partials_root,
        partials_count=partials_count,
        depth_planned=plan.depth,
        depth_observed=depth_observed,
        operation_counts=plan.counts.to_dict(),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        evaluator_key_id=identity.key_id,
        software=software,
        audit_id=header.audit_id,
        client_key_id=header.client_key().key_id,
        regulator_key_id=header.regulator_key_id,
        job_header_digest=header.digest,
        retention=retention,
    )
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )
    return canonical_json(envelope)


def sign_sampled_receipt(
    *,
    job_id: str,
    plan: Plan,
    header: JobHeader,
    keys_digest: str,
    manifest: Sequence[tuple[str, int, str]],
    started_at: datetime,
    partial_digests: Sequence[str],
    retention: Mapping[str, str],
    identity: SigningIdentity,
    software: Mapping[str, str],
) -> bytes:
    """A sampled witness job's receipt (``header.witness_sample`` set), signed by ``identity``:
    the canonical JSON of its DSSE envelope. ``manifest`` is every received ciphertext's
    (column, chunk, digest) in upload order (the canary, then the sampled chunks' columns);
    ``partial_digests`` are the sampled chunks' partial digests in sample order."""
    sample = header.witness_sample
    if sample is None:
        raise ValueError("not a sampled witness job")
    columns = plan.columns
    canary = manifest[0]
    inputs = manifest[1:]
    if len(inputs) != len(sample.chunks) * len(columns) or len(partial_digests) != len(
        sample.chunks
    ):
        raise ValueError("the manifest or the partial digests do not cover the sample")
    chunks = [
        SampledChunk(
            chunk=chunk,
            inputs=tuple(
                (column, digest)
                for column, _chunk, digest in inputs[p * len(columns) : (p + 1) * len(columns)]
            ),
            partial_digest=partial_digests[p],
        )
        for p, chunk in enumerate(sample.chunks)
    ]
    statement = build_sampled_receipt_statement(
        chunks=chunks,
        canary_seed=header.canary_seed,
        sample_nonce=sample.nonce,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        public_inputs=header.public_inputs,
        job_id=job_id,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        evaluation_keys_digest=keys_digest,
        rows=plan.rows,
        n_chunks=header.n_chunks,
        canary_input_digest=canary[2],
        primary_receipt_digest=sample.primary_receipt_digest,
        evaluator_key_id=identity.key_id,
        software=dict(software),
        audit_id=header.audit_id,
        client_key_id=header.client_key().key_id,
        regulator_key_id=header.regulator_key_id,
        job_header_digest=header.digest,
        retention=dict(retention),
    )
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )
    return canonical_json(envelope)


def software_versions() -> dict[str, str]:
    """The receipt's ``software``: regaudit's versions and the CKKS libraries' (``tenseal``,
    ``seal``), which a regulator compares before it compares two evaluators' ciphertexts."""
    import regaudit.evaluator
    import regaudit.shared
    from regaudit.shared.ckks import ckks_library_versions

    return {
        "regaudit-evaluator": regaudit.evaluator.__version__,
        "regaudit-shared": regaudit.shared.__version__,
        **ckks_library_versions(),
    }


__all__ = ["sign_receipt", "sign_sampled_receipt", "software_versions"]
