"""Per-chunk partial digests of a job, and sampled witness jobs.

The workers of a job whose client-signed header asks (``commit_partials``: an audit with a
sampled witness) return each chunk's partial digest (``chunk_partials``), and every sampled
witness job's do (:func:`commits_partials`); when the job succeeds the daemon keeps the list,
in chunk order, beside the outputs (``partials.json``): the receipt commits to its Merkle root
and ``GetResult`` returns it. Other jobs skip the digests' cost: their list is empty.

A **sampled witness job** is a job whose header carries ``witness_sample``: the evaluator
receives the canary and the sampled chunks' ciphertexts only (pieces name the job's chunk
indices), evaluates those chunks like any batch (bounded memory, the same worker checks), runs
no finalization and signs a sampled receipt (``receipts.sign_sampled_receipt``) stating each
sampled chunk's input digests and partial digest. Its plan is the job's plan restricted to the
sample (:func:`sampled_plan`): ``n_chunks`` counts the sampled chunks and ``chunk_indices``
names them, so upload budgets, batches and progress follow the sample, while admission still
checks the header's own ``n_chunks`` against the full plan.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from regaudit.evaluator.receipts import sign_sampled_receipt
from regaudit.evaluator.store import JobRecord, Store
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import RegauditError
from regaudit.shared.files import write_file_atomic
from regaudit.shared.protocol import JobHeader, JobState

if TYPE_CHECKING:
    from regaudit.evaluator.active_jobs import ActiveJob
    from regaudit.evaluator.evaluation import Evaluation

#: File beside a succeeded job's outputs that lists its partial digests.
PARTIALS_FILE = "partials.json"


def sampled_plan(plan: Plan, header: JobHeader) -> Plan:
    """The plan of the chunks the job evaluates: ``plan`` itself, or, for a sampled witness
    job, ``plan`` restricted to the sample."""
    sample = header.witness_sample
    if sample is None:
        return plan
    return dataclasses.replace(plan, n_chunks=len(sample.chunks), chunk_indices=sample.chunks)


def commits_partials(header: JobHeader) -> bool:
    """Whether a job's workers take each chunk's partial digest: its client-signed header asks
    (``commit_partials``), or it is a sampled witness job (the digests are its whole work)."""
    return header.commit_partials or header.witness_sample is not None


def partials_path(store: Store, job_id: str) -> Path:
    """Where a succeeded job's partial digests are kept."""
    return store.canary_output_path(job_id).parent / PARTIALS_FILE


def job_partial_digests(active: ActiveJob) -> list[str]:
    """Every evaluated chunk's partial digest, in the plan's chunk order, or none when the job
    did not ask for them (:func:`commits_partials`) (lock held)."""
    digests = [d for b in range(active.n_batches) for d in active.results[b].partial_digests]
    expected = active.plan.n_chunks if commits_partials(active.header) else 0
    if len(digests) != expected:
        raise RegauditError(
            f"{len(digests)} partial digests for {active.plan.n_chunks} chunks (expected "
            f"{expected})",
            field="partials",
        )
    return digests


def write_partial_digests(store: Store, job_id: str, digests: Sequence[str]) -> None:
    """Keep a job's partial digests beside its outputs (owner-only, atomically)."""
    path = partials_path(store, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(list(digests), separators=(",", ":")).encode()
    write_file_atomic(path, data, mode=0o600, overwrite=True, durable=False)


def read_partial_digests(store: Store, record: JobRecord) -> list[str]:
    """A succeeded job's partial digests (empty for a job that succeeded before they were
    kept)."""
    path = partials_path(store, record.id)
    if not path.exists():
        return []
    value = json.loads(path.read_bytes())
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise RegauditError(f"job {record.id}: malformed {PARTIALS_FILE}")
    return value


def complete_sampled(evaluation: Evaluation, active: ActiveJob) -> None:
    """Every sampled batch is back and the upload is complete: delete the inputs and keys,
    sign the sampled receipt, keep the partial digests, mark the job succeeded (lock held)."""
    store = evaluation.store
    job_id = active.record.id
    digests = job_partial_digests(active)
    manifest = store.manifest(job_id)
    record = store.get_job(job_id)
    assert record is not None
    retention = evaluation.retention.release(job_id, active.keys.digest)
    receipt = sign_sampled_receipt(
        job_id=job_id,
        plan=active.plan,
        header=active.header,
        keys_digest=active.keys.digest,
        manifest=manifest,
        started_at=datetime.fromtimestamp(record.created, UTC),
        partial_digests=digests,
        retention=retention,
        identity=evaluation.identity,
        software=evaluation.software,
    )
    write_partial_digests(store, job_id, digests)
    store.update_job(
        job_id,
        state=JobState.SUCCEEDED,
        receipt=receipt,
        output_count=0,
        chunks_evaluated=active.plan.n_chunks,
    )
    active.done = True
    evaluation.table.active.pop(job_id, None)
    evaluation.table.changed.notify_all()


__all__ = [
    "PARTIALS_FILE",
    "commits_partials",
    "complete_sampled",
    "job_partial_digests",
    "partials_path",
    "read_partial_digests",
    "sampled_plan",
    "write_partial_digests",
]
