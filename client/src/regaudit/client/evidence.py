"""The audit's evidence steps (11-14 of :func:`regaudit.client.audit.run_audit`): commit to the
inputs, seal the CKKS secret key to the regulator, sign the submission statement, write the
bundle.

They run only after the receipt and every output passed their checks (step 10); each reads what
earlier steps left on the :class:`~regaudit.client.audit.AuditRun`. The commitment openings stay
with the client, in a private file (:func:`write_openings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regaudit.shared.algebra import FloatArray
from regaudit.shared.bundle import WitnessEvidence
from regaudit.shared.circuits.base import Plan
from regaudit.shared.evidence.canonical import canonical_json, utc_now
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.files import write_file_atomic
from regaudit.shared.planning import data_chunks
from regaudit.shared.primitives import AuditData

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.shared.bundle import AuditBundle

#: File (inside ``<identity dir>/audits/<audit id>/``) holding the commitment openings.
OPENINGS_FILE = "openings.json"
OPENINGS_FORMAT = "regaudit.openings.v1"
#: Openings are private to the client.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def commit(run: AuditRun, openings_dir: Path) -> None:
    """11. Hiding commitments to every input column; the openings stay with the client."""
    run.openings = commit_columns(run.data, run.plan, run.columns)
    run.openings_path = write_openings(openings_dir, audit_id=run.audit_id, openings=run.openings)


def seal(run: AuditRun) -> None:
    """12. Seal the CKKS secret key to the regulator (the only way it ever leaves); the key
    set is dropped."""
    from regaudit.shared.evidence import sealing

    info = sealing.sealing_info(
        audit_id=run.audit_id,
        profile_hash=run.plan.profile.profile_hash,
        regulator_key_id=run.card.regulator_key_id,
        client_key_id=run.identity.key_id,
        receipt_digest=run.receipt_digest,
    )
    run.sealed = sealing.seal_secret_key(run.keys.secret_key_bytes(), card=run.card, info=info)
    del run.keys


def sign(run: AuditRun, data_description: Mapping[str, Any] | None) -> None:
    """13. The client-signed submission statement."""
    from regaudit.shared.evidence import sealing, statements
    from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope

    plan = run.plan
    description = {
        "rows": run.data.rows,
        "columns": list(plan.columns),
        "chunks": plan.n_chunks,
        **(dict(data_description) if data_description else {}),
    }
    statement = statements.build_submission_statement(
        audit_id=run.audit_id,
        receipt_envelope=run.result.receipt_envelope,
        primitive=run.primitive,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile_name=plan.profile.name,
        profile_hash=plan.profile.profile_hash,
        rows=run.data.rows,
        columns=list(plan.columns),
        data_description=description,
        input_commitments={name: commitment for name, (commitment, _) in run.openings.items()},
        inputs_manifest_digest=run.manifest_digest,
        evaluation_keys_digest=run.evaluation_keys.digest,
        sealed_key_digest=sealing.sealed_key_digest(run.sealed),
        regulator_key_id=run.card.regulator_key_id,
        evaluator_key_id=run.evaluator_key.key_id,
        job_id=run.accepted.job_id,
        created_at=utc_now(),
        witnesses=[witness.binding() for witness in run.witnesses],
        missing_witnesses=run.missing_witnesses,
    )
    run.submission = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=run.identity
    )


def write_bundle(run: AuditRun, out_path: Path) -> None:
    """14. The bundle, written atomically."""
    bundle = build_bundle(
        audit_id=run.audit_id,
        primitive=run.primitive,
        plan=run.plan,
        public=run.public,
        submission=run.submission,
        receipt_envelope=run.result.receipt_envelope,
        sealed=run.sealed,
        outputs=list(run.result.outputs),
        canary_seed=run.canary_seed,
        canary=run.result.canary,
        client_key=run.identity.public_record(),
        evaluator_key=run.evaluator_key,
        witnesses=[
            WitnessEvidence(receipt=witness.receipt_envelope, evaluator_key=witness.key.to_dict())
            for witness in run.witnesses
        ],
    )
    if any(witness.mode == "sampled" for witness in run.witnesses):  # (witness_sampling)
        from dataclasses import replace

        from regaudit.shared.bundle import SamplingEvidence

        sampling = SamplingEvidence(
            partial_digests=list(run.result.partial_digests),
            inputs_manifest=[(e.column, e.chunk, e.digest) for e in run.manifest.entries],
        )
        bundle = replace(bundle, sampling=sampling)
    bundle.write(out_path, overwrite=True)


# --- helpers ----------------------------------------------------------------------------------


def commit_columns(
    data: AuditData, plan: Plan, columns: Mapping[str, FloatArray] | None
) -> dict[str, tuple[str, str]]:
    """Hiding commitments (column -> (digest, salt hex)) to every input column, over its
    ``plan.rows`` real values in row order; chunked inputs are committed chunk by chunk (the
    same digest as over the whole column, without building it)."""
    from regaudit.shared.evidence import commitments

    if columns is not None:
        return {name: commitments.commit_column(name, columns[name]) for name in plan.columns}
    committers = {name: commitments.ColumnCommitter(name) for name in plan.columns}
    remaining = plan.rows
    for chunk in data_chunks(data, plan.chunk_rows):
        used = min(remaining, plan.chunk_rows)
        for name, committer in committers.items():
            committer.update(chunk[name][:used])
        remaining -= used
    return {name: committer.finalize() for name, committer in committers.items()}


def write_openings(
    directory: Path, *, audit_id: str, openings: Mapping[str, tuple[str, str]]
) -> Path:
    """Store the commitment openings (column -> (commitment, salt hex)) privately (0600)."""
    audit_dir = directory / "audits" / audit_id
    audit_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(audit_dir, PRIVATE_DIR_MODE)
    path = audit_dir / OPENINGS_FILE
    document = {
        "format": OPENINGS_FORMAT,
        "audit_id": audit_id,
        "columns": {
            name: {"commitment": commitment, "salt": salt}
            for name, (commitment, salt) in openings.items()
        },
    }
    write_file_atomic(
        path, canonical_json(document) + b"\n", mode=PRIVATE_FILE_MODE, overwrite=False
    )
    return path


def build_bundle(
    *,
    audit_id: str,
    primitive: str,
    plan: Plan,
    public: Mapping[str, Any],
    submission: dict[str, Any],
    receipt_envelope: Mapping[str, Any],
    sealed: dict[str, Any],
    outputs: list[bytes],
    canary_seed: bytes,
    canary: bytes,
    client_key: PublicKeyRecord,
    evaluator_key: PublicKeyRecord,
    witnesses: list[WitnessEvidence] | None = None,
) -> AuditBundle:
    """The :class:`~regaudit.shared.bundle.AuditBundle` of a verified audit (``witnesses``: the
    checked witnesses' receipts, in the submission's order)."""
    from regaudit.shared.bundle import AuditBundle

    return AuditBundle(
        audit_id=audit_id,
        primitive=primitive,
        plan=plan.to_dict(),
        public_inputs=dict(public),
        submission=submission,
        receipt=dict(receipt_envelope),
        sealed_key=sealed,
        outputs=list(outputs),
        canary_seed=canary_seed,
        canary_output=canary,
        client_key=client_key.to_dict(),
        evaluator_key=evaluator_key.to_dict(),
        witnesses=list(witnesses or []),
    )


__all__ = [
    "OPENINGS_FILE",
    "OPENINGS_FORMAT",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "build_bundle",
    "commit",
    "commit_columns",
    "seal",
    "sign",
    "write_bundle",
    "write_openings",
]
