"""How jobs fail: the runner's failure reasons and error classes, and failing a job.

Any exception that ends a job maps to a reason and a message (:func:`failure_of`): a worker's
typed failure keeps its reason, a dead worker process is ``worker_crashed``, and a failing store
never leaves a job hanging: an SQLite or OS error while a job is received, evaluated, checked or
completed fails it with reason ``store_failed`` (``disk_full`` for a full disk or quota:
RESOURCE_EXHAUSTED). If the store cannot even record the failure, the job is held failed in
memory (WatchJob and GetResult answer with its reason) and the next start fails or re-queues it
from what the store holds.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from regaudit.evaluator.active_jobs import ActiveJob, JobTable
from regaudit.evaluator.logs import log_event
from regaudit.evaluator.retention import Retention
from regaudit.evaluator.store import UPLOAD_INCOMPLETE, Column, Store
from regaudit.evaluator.worker_pool import WorkerCrashedError
from regaudit.evaluator.workers import REASON_EVALUATION_FAILED, WorkerFailure
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    EXIT_USAGE,
    DiskFullError,
    ProtocolError,
    RegauditError,
    is_disk_full,
)
from regaudit.shared.protocol import JobProgress, JobState

log = logging.getLogger("regaudit.evaluator.jobs")

#: Reasons recorded on failed jobs that are not regaudit error reasons (``worker_crashed``
#: is :class:`~regaudit.evaluator.worker_pool.WorkerCrashedError`'s).
REASON_WORKER_CRASHED = WorkerCrashedError.reason
REASON_PLAN_MISMATCH = "plan_mismatch"
#: Longest failure message stored with a job.
MAX_MESSAGE_CHARS = 2000

#: What a failing store raises: SQLite's errors and the operating system's (blob files).
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError)


class StoreFailedError(RegauditError):
    """The evaluator's store failed (an SQLite error such as "disk I/O error", or an OS error
    on a blob file): the job fails with this reason; the daemon keeps serving."""

    reason = "store_failed"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


def store_error(exc: BaseException) -> RegauditError:
    """The regaudit error a store failure ``exc`` (one of :data:`STORE_ERRORS`) stands for:
    :class:`~regaudit.shared.errors.DiskFullError` (RESOURCE_EXHAUSTED) for a full disk or
    quota, :class:`StoreFailedError` otherwise."""
    if is_disk_full(exc):
        return DiskFullError(f"the evaluator's disk is full: {exc}")
    return StoreFailedError(f"the evaluator's store failed: {type(exc).__name__}: {exc}")


class PlanMismatchError(RegauditError):
    """What the evaluator observed while running differs from the plan (depth or counts)."""

    reason = REASON_PLAN_MISMATCH
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class UploadIncompleteError(ProtocolError):
    """The upload stream broke before the last ciphertext for a reason that is not a regaudit
    error (the client went away, the call was cancelled): the job fails with this reason."""

    reason = UPLOAD_INCOMPLETE
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INVALID_ARGUMENT"


def failure_of(error: BaseException) -> tuple[str, str]:
    """The (reason, message) a job that ``error`` ended fails with."""
    if isinstance(error, WorkerFailure):
        return error.reason, error.message
    if isinstance(error, RegauditError):
        return error.reason, str(error)
    if isinstance(error, STORE_ERRORS):
        mapped = store_error(error)
        return mapped.reason, str(mapped)
    return REASON_EVALUATION_FAILED, f"{type(error).__name__}: {error}"


class JobFailures:
    """Fails jobs, in the store or (when the store fails too) in memory. Called with the
    table's lock held."""

    def __init__(self, table: JobTable, store: Store, retention: Retention) -> None:
        self.table = table
        self.store = store
        self.retention = retention
        #: failed jobs whose failure the store could not record (it failed): answered from here
        #: until the next start, which fails or re-queues them from what the store holds
        self.unrecorded: dict[str, JobProgress] = {}

    def fail(self, active: ActiveJob, error: BaseException) -> None:
        """Fail an active job. Never raises: a store that cannot record the failure leaves it
        held in memory (:meth:`record`)."""
        job_id = active.record.id
        reason, message = failure_of(error)
        active.done = True
        # (a task already running cannot be cancelled: its result is ignored when it returns)
        for future in active.futures:
            future.cancel()
        self.table.active.pop(job_id, None)
        # the job had started evaluating: keep `started` so it is not replaced on resubmission
        recorded = self.record(
            job_id,
            reason,
            message[:MAX_MESSAGE_CHARS],
            n_chunks=active.plan.n_chunks,
            started=active.record.started or time.time(),
            primitive=active.plan.circuit_id,
        )
        # (during an upload the handler may still write inputs; upload_failed discards again
        # once it is done). A failure the store could not record keeps the job's inputs and
        # keys: the next start re-queues it from them, as after a crash.
        if recorded:
            self.retention.discard_quietly(job_id, active.futures)
        self.table.changed.notify_all()

    def record(
        self,
        job_id: str,
        reason: str,
        message: str,
        *,
        n_chunks: int,
        started: float | None = None,
        primitive: str = "",
    ) -> bool:
        """Store a job's failure (and its ``started`` time, if given); whether the store
        recorded it. If the store fails too, the failure is held in memory: WatchJob and
        GetResult answer from it, the next start fails or re-queues the job from what the store
        holds."""
        log_event(
            "job_failed",
            logging.WARNING,
            job_id=job_id,
            reason=reason,
            message=message,
            **({"primitive": primitive} if primitive else {}),
        )
        fields: dict[str, Column] = {
            "state": JobState.FAILED,
            "error_reason": reason,
            "error_message": message,
        }
        if started is not None:
            fields["started"] = started
        try:
            self.store.update_job(job_id, **fields)
        except STORE_ERRORS as exc:
            log.error(
                "job %s failed (%s) and the store could not record it (%s: %s); "
                "holding the failure in memory until the next start",
                job_id,
                reason,
                type(exc).__name__,
                exc,
            )
            self.unrecorded[job_id] = JobProgress(
                job_id=job_id,
                state=JobState.FAILED,
                chunks_received=0,
                chunks_evaluated=0,
                n_chunks=n_chunks,
                message=f"{message} (not recorded: the store failed)",
                error_reason=reason,
            )
            return False
        self.unrecorded.pop(job_id, None)
        return True

    def held(self, job_id: str) -> JobProgress | None:
        """The failure of a job the store could not record (None for any other job)."""
        return self.unrecorded.get(job_id)


__all__ = [
    "MAX_MESSAGE_CHARS",
    "REASON_PLAN_MISMATCH",
    "REASON_WORKER_CRASHED",
    "STORE_ERRORS",
    "JobFailures",
    "PlanMismatchError",
    "StoreFailedError",
    "UploadIncompleteError",
    "failure_of",
    "store_error",
]
