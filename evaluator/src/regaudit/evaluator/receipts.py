"""The receipt of a succeeded job: an in-toto statement the daemon signs (DSSE).

Everything in it is what the daemon itself planned, checked or did: the operation counts are
the plan's (the workers' reports were only compared with them, ``checks``), the observed depth
is the level of the outputs the daemon loaded, the outputs are the bytes it checked, and
``retention`` says what it deleted when the job ended (``retention``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from regaudit.shared.circuits.base import Plan
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import build_receipt_statement, input_manifest_digest
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
    depth_observed: int,
    retention: Mapping[str, str],
    identity: SigningIdentity,
    software: Mapping[str, str],
) -> bytes:
    """The job's receipt statement, signed by ``identity``: the canonical JSON of its DSSE
    envelope. ``manifest`` is every received ciphertext's (column, chunk, digest) in upload
    order; ``outputs`` are the checked (name, bytes), canary last; the receipt is finished
    now."""
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


__all__ = ["sign_receipt"]
