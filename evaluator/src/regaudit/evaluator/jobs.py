"""The job runner: admits jobs, stores their ciphertexts as they are uploaded, runs them and
re-queues them after a restart.

:class:`JobManager` is the daemon's one entry point to a job's life; its parts live beside it:
``evaluation`` pipelines batches of chunks to the executor (local worker processes by default,
or a Dask cluster: see ``executors``) as soon as they are uploaded, checks what the workers
return and signs the receipt (``receipts``); ``retention`` deletes a job's inputs and keys when
it ends; ``failures`` names and records failures, a failing store included; ``active_jobs``
holds the in-memory state they share.

Memory stays bounded: the upload handler holds one ciphertext at a time and writes it to disk;
a worker holds one batch (``BATCH_CHUNKS`` chunks) plus its accumulators; finalization folds
partials in batch by batch. Job state lives in the store, so a restarted daemon re-queues every
job that was QUEUED or RUNNING and evaluates it again from its blobs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from regaudit.evaluator.active_jobs import BATCH_CHUNKS, ActiveJob, JobTable
from regaudit.evaluator.evaluation import Evaluation
from regaudit.evaluator.executors import Executor
from regaudit.evaluator.failures import STORE_ERRORS, JobFailures, store_error
from regaudit.evaluator.local_executor import LocalExecutor
from regaudit.evaluator.logs import log_event
from regaudit.evaluator.resumption import (
    drop_partials_when_idle,
    interrupted,
    keep_for_resumption,
    reopen,
)
from regaudit.evaluator.retention import IDLE_KEYS_TTL_S, Retention
from regaudit.evaluator.store import UPLOAD_INCOMPLETE, JobRecord, KeyRecord, Store
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import KeyMaterialError, RegauditError
from regaudit.shared.evidence.canonical import sha256_digest
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import (
    IdempotencyConflictError,
    JobFailedError,
    JobHeader,
    JobProgress,
    JobState,
)

log = logging.getLogger("regaudit.evaluator.jobs")

#: Daemon threads that check what workers return (SEAL loads; the job lock is not held).
CHECK_THREADS = max(2, min(8, os.cpu_count() or 1))


def new_executor(workers: int | None) -> LocalExecutor:
    """The default executor: a spawn-context process pool of ``workers`` (default: every core),
    fully started. Create it before any gRPC server exists: workers are spawned here, eagerly.
    """
    return LocalExecutor(workers)


class JobManager:
    """Owns the executor's job traffic; thread-safe. ``executor`` is a
    :class:`~regaudit.evaluator.executors.Executor` (local process pool or Dask)."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        identity: SigningIdentity,
        *,
        workers: int | None = None,
        software: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.identity = identity
        self.workers = workers
        self.software = software or {}
        self.table = JobTable()
        self._lock = self.table.lock
        self.changed = self.table.changed
        self._active = self.table.active
        #: per-batch evaluation seconds (for measurements and logs)
        self.batch_seconds: deque[tuple[int, float]] = self.table.batch_seconds
        #: (job id, event, monotonic time): "dispatch", "upload_finished", "finalize"
        self.events: deque[tuple[str, str, float]] = self.table.events
        #: threads that check what the workers returned, outside the job lock
        self._checkers = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="check")
        self.retention = Retention(store, executor, self.table, self._checkers)
        self.failures = JobFailures(self.table, store, self.retention)
        self.evaluation = Evaluation(
            self.table,
            store,
            executor,
            failures=self.failures,
            retention=self.retention,
            checkers=self._checkers,
            identity=identity,
            software=self.software,
        )

    # --- admission ----------------------------------------------------------------------------

    def admit(self, header: JobHeader, plan: Plan, keys: KeyRecord) -> tuple[JobRecord, bool]:
        """Create the job, or return the existing job for the same idempotency key and header
        (``deduplicated=True``). A different header under the same key raises KeyError (the
        caller answers ALREADY_EXISTS). A job whose upload failed is replaced."""
        header_bytes = header.to_proto().SerializeToString(deterministic=True)
        digest = header.digest
        scoped_key = scoped_idempotency_key(header)
        with self._lock:
            record, created = self.store.create_job(
                idempotency_key=scoped_key,
                header_digest=digest,
                header=header_bytes,
                n_chunks=plan.n_chunks,
            )
            if not created:
                if record.header_digest != digest:
                    raise IdempotencyConflictError(
                        f"idempotency key {header.idempotency_key!r} already names job "
                        f"{record.id} with a different header",
                        field="idempotency_key",
                    )
                upload_failed = record.state is JobState.FAILED and record.started is None
                if not upload_failed:
                    return record, True
                reopened = reopen(self, record, header, plan, keys)
                if reopened is not None:
                    return reopened, False
                self.store.delete_job(record.id)
                record, created = self.store.create_job(
                    idempotency_key=scoped_key,
                    header_digest=digest,
                    header=header_bytes,
                    n_chunks=plan.n_chunks,
                )
            self._active[record.id] = ActiveJob(
                record=record,
                header=header,
                plan=plan,
                keys=keys,
                total_ciphertexts=plan.input_count,
            )
            self.changed.notify_all()
            return record, False

    def existing(self, header: JobHeader) -> JobRecord | None:
        """The job an identical header (same client, idempotency key and content) already
        created, unless its upload failed (then it is replaced). A resubmission of a finished
        job is answered from this, before its evaluation keys are looked up: they were deleted
        when the job ended. A different header under the same key raises
        IdempotencyConflictError."""
        record = self.store.find_by_idempotency_key(scoped_idempotency_key(header))
        if record is None:
            return None
        if record.header_digest != header.digest:
            raise IdempotencyConflictError(
                f"idempotency key {header.idempotency_key!r} already names job {record.id} "
                "with a different header",
                field="idempotency_key",
            )
        upload_failed = record.state is JobState.FAILED and record.started is None
        return None if upload_failed else record

    # --- upload -------------------------------------------------------------------------------

    def ciphertext_received(
        self, job_id: str, *, index: int, column: str, chunk: int, data: bytes
    ) -> None:
        """Persist one validated ciphertext; dispatch its batch once every chunk of it is in.
        A failing store raises StoreFailedError (DiskFullError for a full disk)."""
        try:
            with self._lock:
                active = self._require_active(job_id)
                if index == 0 and self.store.get_keys(active.keys.digest) is None:
                    # the keys were deleted (their last job ended) between the server's key
                    # check and this job's admission: fail the upload, the client uploads them
                    # again
                    raise KeyMaterialError(
                        f"evaluation keys {active.keys.digest} were deleted when their last "
                        "job ended; upload them again and resubmit",
                        field="evaluation_keys_digest",
                    )
            self.store.write_input(job_id, index, data)  # (a temporary file, renamed)
            with self._lock:
                active = self._require_active(job_id)
                ncols = len(active.plan.columns)
                chunks_received = index // ncols
                self.store.record_ciphertext(
                    job_id,
                    index=index,
                    column=column,
                    chunk=chunk,
                    digest=sha256_digest(data),
                    size=len(data),
                    chunks_received=chunks_received,
                )
                active.received = index + 1
                if index > 0 and (index % ncols) == 0:
                    # index = 1 + chunk * ncols + (ncols - 1): the chunk's last column arrived
                    completed_chunk = (index - 1) // ncols
                    last_of_batch = (
                        min(
                            (completed_chunk // BATCH_CHUNKS + 1) * BATCH_CHUNKS,
                            active.plan.n_chunks,
                        )
                        - 1
                    )
                    if completed_chunk == last_of_batch:
                        self.evaluation.dispatch_batch(active, completed_chunk // BATCH_CHUNKS)
                self.changed.notify_all()
        except STORE_ERRORS as exc:
            # (the upload handler fails the job with this reason and answers with its status)
            raise store_error(exc) from exc

    def upload_finished(self, job_id: str) -> JobRecord:
        """The last ciphertext is in: the job runs. A store that fails here fails the job (as
        an upload) and raises its error (StoreFailedError, DiskFullError)."""
        with self._lock:
            active = self._require_active(job_id)
            active.upload_complete = True
            self.table.event(job_id, "upload_finished")
            started = time.time()
            try:
                self.store.update_job(job_id, state=JobState.RUNNING, started=started)
            except STORE_ERRORS as exc:
                error = store_error(exc)
                self.upload_failed(job_id, error)
                raise error from exc
            try:
                self.evaluation.maybe_finalize(active)
            except Exception as exc:  # noqa: BLE001 - fails the job, not the call
                self.failures.fail(active, exc)
            self.changed.notify_all()
            try:
                record = self.store.get_job(job_id)
            except STORE_ERRORS as exc:
                log.warning("job %s: the store could not be read back: %s", job_id, exc)
                record = None
            if record is None:
                held = self.failures.held(job_id)
                state = held.state if held is not None else JobState.RUNNING
                record = dataclasses.replace(active.record, state=state, started=started)
            return record

    def _require_active(self, job_id: str) -> ActiveJob:
        """The in-memory state of a job still receiving; JobFailedError if evaluation of an
        already uploaded batch failed meanwhile (its reason is kept)."""
        active = self._active.get(job_id)
        if active is None or active.done:
            held = self.failures.held(job_id)
            if held is not None:
                reason = held.error_reason
            else:
                try:
                    record = self.store.get_job(job_id)
                except STORE_ERRORS:
                    record = None
                reason = (record.error_reason if record else None) or "unknown"
            raise JobFailedError(f"job {job_id} failed during upload ({reason})", field="job_id")
        return active

    def upload_failed(self, job_id: str, error: RegauditError) -> None:
        """The stream broke or carried a bad object: the job fails, nothing more runs.
        A job that already failed keeps its first reason."""
        with self._lock:
            try:
                record = self.store.get_job(job_id)
                ended = record is None or record.state is JobState.FAILED
            except STORE_ERRORS as exc:
                log.warning("job %s: the store could not be read: %s", job_id, exc)
                ended = False
            if ended or self.failures.held(job_id) is not None:
                self._active.pop(job_id, None)
                self.retention.discard_quietly(job_id, self.retention.draining(job_id))
                return
            active = self._active.pop(job_id, None)
            if active is not None:
                active.done = True
                for future in active.futures:
                    future.cancel()
            reason = error.reason if error.reason else UPLOAD_INCOMPLETE
            recorded = self.failures.record(
                job_id,
                reason,
                str(error),
                n_chunks=active.plan.n_chunks if active is not None else 0,
                primitive=active.plan.circuit_id if active is not None else "",
            )
            # (not recorded: the next start fails the upload and sweeps its scratch; an
            # interrupted upload keeps its inputs: it may resume)
            if recorded and reason == UPLOAD_INCOMPLETE:
                drop_partials_when_idle(self, job_id, active.futures if active is not None else [])
            elif recorded:
                self.retention.discard_quietly(job_id, active.futures if active is not None else [])
            self.changed.notify_all()

    # --- restart ------------------------------------------------------------------------------

    def resume(
        self, plan_for: Callable[[JobHeader], Plan], keys_for: Callable[[str], KeyRecord]
    ) -> list[str]:
        """Re-queue jobs left QUEUED/RUNNING by a previous run; fail interrupted uploads; delete
        the scratch (inputs, partials) of every finished job.

        ``plan_for(header) -> Plan`` and ``keys_for(digest) -> KeyRecord`` are the server's
        own checks, so a resumed job is planned exactly like a new one.
        """
        resumed: list[str] = []
        for record in self.store.jobs_in_states((JobState.RECEIVING,)):
            message = "the daemon stopped while the job was being uploaded"
            self.store.update_job(
                record.id,
                state=JobState.FAILED,
                error_reason=UPLOAD_INCOMPLETE,
                error_message=message,
            )
            log_event(
                "job_failed",
                logging.WARNING,
                job_id=record.id,
                reason=UPLOAD_INCOMPLETE,
                message=message,
            )
        # scratch a previous run could not delete (a job that failed while its tasks ran, or
        # whose upload was interrupted): finished jobs keep only their record and outputs, and
        # their keys go unless a job that has not ended uses them
        with self._lock:
            for job_id in self.store.jobs_with_scratch():
                finished = self.store.get_job(job_id)
                if finished is None:
                    self.store.discard_scratch(job_id)
                elif keep_for_resumption(finished):  # (it may resume: its inputs stay)
                    shutil.rmtree(self.store.partials_dir(job_id), ignore_errors=True)
                elif finished.state in (JobState.FAILED, JobState.SUCCEEDED):
                    self.retention.release(job_id)
        self.sweep_idle_keys()
        for record in self.store.jobs_in_states((JobState.QUEUED, JobState.RUNNING)):
            with self._lock:
                try:
                    header = JobHeader.from_proto(pb.JobHeader.FromString(record.header))
                    plan = plan_for(header)
                    keys = keys_for(header.evaluation_keys_digest)
                except RegauditError as exc:
                    self.store.update_job(
                        record.id,
                        state=JobState.FAILED,
                        error_reason=exc.reason,
                        error_message=str(exc),
                    )
                    log_event(
                        "job_failed",
                        logging.WARNING,
                        job_id=record.id,
                        reason=exc.reason,
                        message=str(exc),
                    )
                    continue
                shutil.rmtree(self.store.partials_dir(record.id), ignore_errors=True)
                self.store.update_job(record.id, state=JobState.QUEUED, chunks_evaluated=0)
                active = ActiveJob(
                    record=record,
                    header=header,
                    plan=plan,
                    keys=keys,
                    total_ciphertexts=plan.input_count,
                    received=plan.input_count,
                    upload_complete=True,
                )
                self._active[record.id] = active
                for batch in range(active.n_batches):
                    self.evaluation.dispatch_batch(active, batch)
                self.store.update_job(record.id, state=JobState.RUNNING)
                resumed.append(record.id)
                log.info("resumed job %s", record.id)
        return resumed

    # --- progress -----------------------------------------------------------------------------

    def release_stale_uploads(self, now: float | None = None) -> list[str]:
        """Delete the inputs (and, unless another job uses them, the keys) of interrupted
        uploads whose resumption window has passed; a running daemon calls this from its
        collector, so an interrupted upload's ciphertexts never outlive the window by more than
        one collection interval. Returns the released job ids."""
        released: list[str] = []
        with self._lock:
            for job_id in self.store.jobs_with_scratch():
                record = self.store.get_job(job_id)
                if (
                    record is None
                    or job_id in self.table.active
                    or not interrupted(record)
                    or keep_for_resumption(record, now)
                ):
                    continue
                self.retention.release(job_id)
                released.append(job_id)
        if released:
            log_event("interrupted_uploads_released", jobs=len(released))
        return released

    def sweep_idle_keys(self, ttl: float = IDLE_KEYS_TTL_S) -> list[str]:
        """Delete evaluation keys stored more than ``ttl`` seconds ago that no job that has not
        ended uses (keys re-uploaded for a re-submission answered from a finished job, or for a
        job that never came). Returns the deleted digests."""
        with self._lock:
            return self.retention.sweep_idle_keys(ttl)

    def held_failure(self, job_id: str) -> JobProgress | None:
        """The failure of a job the store could not record (None for any other job)."""
        with self._lock:
            return self.failures.held(job_id)

    def progress(self, job_id: str) -> JobProgress | None:
        """The job's progress; a failure the store could not record comes from memory; a
        store that cannot be read raises StoreFailedError."""
        held = self.held_failure(job_id)
        if held is not None:
            return held
        try:
            record = self.store.get_job(job_id)
        except STORE_ERRORS as exc:
            raise store_error(exc) from exc
        if record is None:
            return None
        return progress_of(record)

    def worker_pids(self) -> list[int]:
        """Process ids of the current worker processes (for operators and tests)."""
        return self.executor.worker_pids()

    def stop(self) -> None:
        """Stop dispatching; running jobs stay QUEUED/RUNNING in the store for the next start."""
        with self._lock:
            self.table.stopping = True
            self.changed.notify_all()
        self._checkers.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown()


_STATE_MESSAGES = {
    JobState.RECEIVING: "receiving ciphertexts (evaluating complete batches)",
    JobState.QUEUED: "queued",
    JobState.RUNNING: "evaluating",
    JobState.SUCCEEDED: "evaluation finished; receipt signed",
}


def scoped_idempotency_key(header: JobHeader) -> str:
    """The store's idempotency key of a job: scoped to the client key that signed the header,
    so one client can neither claim nor block another client's key, and, for a sampled witness
    job, to its sample (it shares the primary's header, never its job)."""
    scoped = f"{header.client_key().key_id}/{header.idempotency_key}"
    if header.witness_sample is not None:
        scoped += f"#sample:{header.witness_sample.digest}"
    return scoped


def progress_of(record: JobRecord) -> JobProgress:
    """A stored job's progress as WatchJob reports it."""
    if record.state is JobState.FAILED:
        message = record.error_message or "failed"
    else:
        message = _STATE_MESSAGES[record.state]
    return JobProgress(
        job_id=record.id,
        state=record.state,
        chunks_received=record.chunks_received,
        chunks_evaluated=record.chunks_evaluated,
        n_chunks=record.n_chunks,
        message=message,
        error_reason=record.error_reason or "",
    )


__all__ = [
    "CHECK_THREADS",
    "JobManager",
    "new_executor",
    "progress_of",
    "scoped_idempotency_key",
]
