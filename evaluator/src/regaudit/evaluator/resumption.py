"""Resuming an interrupted upload: what the evaluator holds of it, and reopening the job.

A job whose upload stream broke (the connection dropped, the client's call timed out, the
daemon restarted) fails with ``upload_incomplete`` but keeps the ciphertexts it received and
validated. ``GetUploadState`` tells the client (the one that signed the header: idempotency
keys are scoped to the client key) how many it holds -- always the first N in upload order, as
uploads are in order -- and a ``SubmitJob`` with the *identical* header reopens the job and
accepts only the rest, each validated as before; a ciphertext it already holds is refused as a
duplicate, and one whose bytes repeat a held one as a replay. Held inputs go when the job ends,
as every job's do.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from regaudit.evaluator.active_jobs import BATCH_CHUNKS, ActiveJob, TaskFuture
from regaudit.evaluator.logs import log_event
from regaudit.evaluator.store import UPLOAD_INCOMPLETE, JobRecord, KeyRecord, Store
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import Plan
from regaudit.shared.protocol import JobHeader, JobState

if TYPE_CHECKING:
    from regaudit.evaluator.jobs import JobManager


def interrupted(record: JobRecord) -> bool:
    """Whether ``record`` is an upload that was interrupted (and may be resumed)."""
    return (
        record.state is JobState.FAILED
        and record.started is None
        and record.error_reason == UPLOAD_INCOMPLETE
    )


#: How long a restarted daemon keeps the inputs of an interrupted upload for its client to
#: resume (seconds since the upload broke); older ones are released at start.
RESUME_WINDOW_S = 900.0


def keep_for_resumption(record: JobRecord, now: float | None = None) -> bool:
    """Whether an ended job's inputs stay: an upload interrupted less than
    :data:`RESUME_WINDOW_S` ago."""
    return interrupted(record) and (now or time.time()) - record.updated < RESUME_WINDOW_S


def drop_partials_when_idle(
    manager: JobManager, job_id: str, futures: Iterable[TaskFuture]
) -> None:
    """An upload was interrupted: its inputs stay (it may resume), the partials of its batches
    go once none of ``futures`` runs any more (never under a running batch), unless the job
    was reopened meanwhile (its partials are its own again)."""
    outstanding = [future for future in futures if not future.done()]

    def drop(_future: object = None) -> None:
        if not all(future.done() for future in outstanding):
            return
        with manager.table.lock:
            if job_id not in manager.table.active:
                shutil.rmtree(manager.store.partials_dir(job_id), ignore_errors=True)

    if not outstanding:
        drop()
    for future in outstanding:
        future.add_done_callback(drop)


def held_prefix(store: Store, job_id: str) -> list[tuple[str, int, str]]:
    """The (column, chunk, digest) of the ciphertexts held for ``job_id``: the longest prefix
    of the upload order whose every file is on disk."""
    held: list[tuple[str, int, str]] = []
    for index, entry in enumerate(store.manifest(job_id)):
        if not store.input_path(job_id, index).is_file():
            break
        held.append(entry)
    return held


def upload_state(manager: JobManager, client_key_id: str, idempotency_key: str) -> pb.UploadState:
    """The ``GetUploadState`` answer for the caller's job under ``idempotency_key``."""
    record = manager.store.find_by_idempotency_key(f"{client_key_id}/{idempotency_key}")
    if record is None:
        return pb.UploadState(found=False)
    receiving = record.state is JobState.RECEIVING
    resumable = receiving or interrupted(record)
    held = held_prefix(manager.store, record.id) if resumable else []
    return pb.UploadState(
        found=True,
        job_id=record.id,
        state=record.state.to_proto(),
        header_digest=record.header_digest,
        ciphertexts_held=len(held),
        resumable=resumable,
        held_digests=[digest for _column, _chunk, digest in held],
    )


def reopen(
    manager: JobManager, record: JobRecord, header: JobHeader, plan: Plan, keys: KeyRecord
) -> JobRecord | None:
    """Reopen an interrupted upload that holds ciphertexts (the manager's lock held): the job
    receives again from the first ciphertext it lacks, and the batches it holds whole are
    dispatched again. None if there is nothing to resume (the caller replaces the job)."""
    if not interrupted(record):
        return None
    held = len(held_prefix(manager.store, record.id))
    if held == 0:
        return None
    complete_chunks = (held - 1) // len(plan.columns)
    manager.store.update_job(
        record.id,
        state=JobState.RECEIVING,
        error_reason=None,
        error_message=None,
        chunks_received=complete_chunks,
        chunks_evaluated=0,
    )
    reopened = dataclasses.replace(record, state=JobState.RECEIVING, error_reason=None)
    active = ActiveJob(
        record=reopened,
        header=header,
        plan=plan,
        keys=keys,
        total_ciphertexts=plan.input_count,
        received=held,
    )
    manager.table.active[record.id] = active
    for batch in range(active.n_batches):
        if min((batch + 1) * BATCH_CHUNKS, plan.n_chunks) <= complete_chunks:
            manager.evaluation.dispatch_batch(active, batch)
    log_event("upload_resumed", job_id=record.id, ciphertexts_held=held)
    manager.changed.notify_all()
    return reopened


def resume_point(manager: JobManager, job_id: str) -> tuple[int, list[str], int]:
    """Where an admitted job's upload continues: (index of the next ciphertext, the digests of
    those held, their bytes); (0, [], 0) for a new job."""
    with manager.table.lock:
        active = manager.table.active.get(job_id)
        start = active.received if active is not None else 0
    if start == 0:
        return 0, [], 0
    held = held_prefix(manager.store, job_id)[:start]
    size = sum(manager.store.input_path(job_id, i).stat().st_size for i in range(len(held)))
    return start, [digest for _col, _chunk, digest in held], size


__all__ = [
    "RESUME_WINDOW_S",
    "drop_partials_when_idle",
    "held_prefix",
    "interrupted",
    "keep_for_resumption",
    "reopen",
    "resume_point",
    "upload_state",
]
