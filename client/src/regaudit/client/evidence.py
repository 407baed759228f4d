"""The audit's evidence steps (11-14 of :func:`regaudit.client.audit.run_audit`): commit to the
inputs, seal the CKKS secret key to the regulator, sign the submission statement, write the
bundle.

They run only after the receipt and every output passed their checks (step 10); each reads what
earlier steps left on the :class:`~regaudit.client.audit.AuditRun`. The commitment openings stay
with the client, in private files of ``<identity dir>/audits/<audit id>/``: the column salts and
the row-commitment seed (:func:`write_openings`), and the signed submission with the bundle's
path (:func:`write_audit_record`), which ``regaudit-client open`` reads to open rows
(:mod:`regaudit.client.open_command`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regaudit.shared.algebra import FloatArray
from regaudit.shared.bundle import WitnessEvidence
from regaudit.shared.circuits.base import Plan
from regaudit.shared.evidence.canonical import canonical_json, utc_now
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.row_commitments import RowCommitter
from regaudit.shared.files import write_file_atomic
from regaudit.shared.planning import data_chunks
from regaudit.shared.primitives import AuditData

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.shared.bundle import AuditBundle

#: File (inside ``<identity dir>/audits/<audit id>/``) holding the commitment openings.
OPENINGS_FILE = "openings.json"
#: v2: also the row commitment (its seed, root, rows and columns), the primitive and public
#: inputs; v1 files (column salts only) are still read, their rows cannot be opened.
OPENINGS_FORMAT = "regaudit.openings.v2"
OPENINGS_FORMATS = ("regaudit.openings.v1", OPENINGS_FORMAT)
#: File (next to the openings) holding the signed submission and the bundle's path.
AUDIT_RECORD_FILE = "submission.json"
AUDIT_RECORD_FORMAT = "regaudit.audit-record.v1"
#: Openings are private to the client.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def commit(run: AuditRun, openings_dir: Path) -> None:
    """11. Hiding commitments to every input column and the row Merkle commitment (one pass
    over the input); the openings (salts, the row seed) stay with the client."""
    run.openings, rows = commit_inputs(run.data, run.plan, run.columns)
    run.row_commitment = rows.finalize()
    run.openings_path = write_openings(
        openings_dir,
        audit_id=run.audit_id,
        openings=run.openings,
        rows=rows,
        primitive=run.primitive,
        public=run.public,
        chunk_rows=run.plan.chunk_rows,
    )


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
        row_commitment=run.row_commitment,
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
    write_audit_record(run.openings_path.parent, submission=run.submission, bundle_path=out_path)


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
    for chunk, used in input_chunks(data, plan, None):
        for name, committer in committers.items():
            committer.update(chunk[name][:used])
    return {name: committer.finalize() for name, committer in committers.items()}


def commit_inputs(
    data: AuditData,
    plan: Plan,
    columns: Mapping[str, FloatArray] | None,
    *,
    row_seed: bytes | None = None,
) -> tuple[dict[str, tuple[str, str]], RowCommitter]:
    """:func:`commit_columns` and the row Merkle commitment over the same ``plan.rows`` rows
    of ``plan.columns``, in one pass (the committer is returned unfinalized-ready: call
    ``finalize()``; its ``seed`` is the row opening secret)."""
    from regaudit.shared.evidence import commitments

    committers = {name: commitments.ColumnCommitter(name) for name in plan.columns}
    rows = RowCommitter(plan.columns, seed=row_seed)
    for chunk, used in input_chunks(data, plan, columns):
        for name, committer in committers.items():
            committer.update(chunk[name][:used])
        rows.update(chunk, used)
    openings = {name: committer.finalize() for name, committer in committers.items()}
    return openings, rows


def input_chunks(
    data: AuditData, plan: Plan, columns: Mapping[str, FloatArray] | None
) -> Iterator[tuple[Mapping[str, FloatArray], int]]:
    """(chunk, real rows in it) over the input's ``plan.rows`` rows in order: slices of the
    whole ``columns`` if given, else the data's chunks (without building whole columns)."""
    remaining = plan.rows
    if columns is not None:
        for start in range(0, plan.rows, plan.chunk_rows):
            used = min(plan.chunk_rows, plan.rows - start)
            yield {name: columns[name][start : start + used] for name in plan.columns}, used
        return
    for chunk in data_chunks(data, plan.chunk_rows):
        if remaining <= 0:
            break
        used = min(remaining, plan.chunk_rows)
        yield chunk, used
        remaining -= used


def _audit_dir(directory: Path, audit_id: str) -> Path:
    audit_dir = directory / "audits" / audit_id
    audit_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(audit_dir, PRIVATE_DIR_MODE)
    return audit_dir


def write_openings(
    directory: Path,
    *,
    audit_id: str,
    openings: Mapping[str, tuple[str, str]],
    rows: RowCommitter | None = None,
    primitive: str | None = None,
    public: Mapping[str, Any] | None = None,
    chunk_rows: int | None = None,
) -> Path:
    """Store the commitment openings privately (0600): column -> (commitment, salt hex), and
    with ``rows`` the row commitment's seed, root, row count and columns (plus the primitive,
    the public inputs and the plan's chunk size, to read the same table again when rows are
    opened)."""
    path = _audit_dir(directory, audit_id) / OPENINGS_FILE
    document: dict[str, Any] = {
        "format": OPENINGS_FORMAT,
        "audit_id": audit_id,
        "columns": {
            name: {"commitment": commitment, "salt": salt}
            for name, (commitment, salt) in openings.items()
        },
    }
    if rows is not None:
        commitment = rows.finalize()
        document["rows"] = {
            **commitment.to_dict(),
            "columns": list(rows.columns),
            "seed": rows.seed.hex(),
        }
        if chunk_rows is not None:
            document["rows"]["chunk_rows"] = chunk_rows
    if primitive is not None:
        document["primitive"] = primitive
    if public is not None:
        document["public"] = dict(public)
    write_file_atomic(
        path, canonical_json(document) + b"\n", mode=PRIVATE_FILE_MODE, overwrite=False
    )
    return path


def write_audit_record(
    audit_dir: Path, *, submission: Mapping[str, Any], bundle_path: Path
) -> Path:
    """Store the signed submission envelope and the bundle's path next to the openings (0600):
    what an opening binds to, without the bundle."""
    path = audit_dir / AUDIT_RECORD_FILE
    document = {
        "format": AUDIT_RECORD_FORMAT,
        "bundle": str(Path(bundle_path).resolve()),
        "submission": dict(submission),
    }
    write_file_atomic(
        path, canonical_json(document) + b"\n", mode=PRIVATE_FILE_MODE, overwrite=True
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
    "AUDIT_RECORD_FILE",
    "AUDIT_RECORD_FORMAT",
    "OPENINGS_FILE",
    "OPENINGS_FORMAT",
    "OPENINGS_FORMATS",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "build_bundle",
    "commit",
    "commit_columns",
    "commit_inputs",
    "input_chunks",
    "seal",
    "sign",
    "write_audit_record",
    "write_bundle",
    "write_openings",
]
