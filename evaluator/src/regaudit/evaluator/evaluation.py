"""Evaluating admitted jobs: batches to the executor, results checked, the receipt signed.

Batches of chunks (``BATCH_CHUNKS`` each) go to the executor as soon as they are uploaded;
once every batch is back and the upload is complete, one finalize task folds the partials in,
finalizes the circuit and runs the canary. The daemon does not take a worker's word
(``checks``): every ciphertext a worker returns is loaded here at the level and scale the plan
says, from the file name the daemon chose; the receipt's operation counts are the plan's and
its observed depth is the level of the outputs the daemon loaded; a worker's self-reported
counts are only compared. Any disagreement fails the job with reason ``worker_output_invalid``.
Checks run on the daemon's checking threads, never on the executor's result thread and never
with the job lock held (they load ciphertexts with SEAL).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from regaudit.evaluator.active_jobs import BATCH_CHUNKS, ActiveJob, JobTable, TaskFuture
from regaudit.evaluator.checks import CheckedOutputs, check_batch, check_final
from regaudit.evaluator.executors import Executor
from regaudit.evaluator.failures import JobFailures, PlanMismatchError
from regaudit.evaluator.logs import log_event, seconds
from regaudit.evaluator.receipts import sign_receipt
from regaudit.evaluator.retention import Retention
from regaudit.evaluator.store import KeyRecord, Store
from regaudit.evaluator.tasks import (
    BatchResult,
    BatchTask,
    CircuitFields,
    FinalizeResult,
    FinalizeTask,
    KeyFiles,
)
from regaudit.evaluator.witness_jobs import (
    commits_partials,
    complete_sampled,
    job_partial_digests,
    write_partial_digests,
)
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import JobState

log = logging.getLogger("regaudit.evaluator.jobs")

Task = TypeVar("Task")
Result = TypeVar("Result")
#: What handles a task's outcome: (job id, task, its finished future).
Handler = Callable[[str, Task, "Future[Result]"], None]


def key_files(keys: KeyRecord) -> KeyFiles:
    """Where a worker finds stored evaluation keys."""
    return KeyFiles(
        digest=keys.digest,
        profile_name=keys.profile_name,
        galois_steps=keys.galois_steps,
        relin_path=str(keys.directory / "relin.bin"),
        galois_path=str(keys.directory / "galois.bin"),
    )


def _circuit_fields(active: ActiveJob) -> CircuitFields:
    """What every task of an active job names: the job, its planned circuit and levels."""
    plan = active.plan
    return CircuitFields(
        job_id=active.record.id,
        profile_name=plan.profile.name,
        circuit_id=plan.circuit_id,
        circuit_version=plan.circuit_version,
        public=active.header.public_inputs,
        input_level=plan.input_level,
        max_level=plan.profile.max_depth,
    )


class Evaluation:
    """Dispatches active jobs' tasks and handles their results. :meth:`dispatch_batch` and
    :meth:`maybe_finalize` are called with the table's lock held."""

    def __init__(
        self,
        table: JobTable,
        store: Store,
        executor: Executor,
        *,
        failures: JobFailures,
        retention: Retention,
        checkers: ThreadPoolExecutor,
        identity: SigningIdentity,
        software: dict[str, str],
    ) -> None:
        self.table = table
        self.store = store
        self.executor = executor
        self.failures = failures
        self.retention = retention
        #: threads that check what the workers returned, outside the job lock
        self.checkers = checkers
        self.identity = identity
        self.software = software

    # --- dispatch ---------------------------------------------------------------------------

    def dispatch_batch(self, active: ActiveJob, batch: int) -> None:
        """Hand batch ``batch`` of an active job to the executor (once)."""
        if batch in active.dispatched or active.done:
            return
        plan = active.plan
        job_id = active.record.id
        ncols = len(plan.columns)
        first = batch * BATCH_CHUNKS
        last = min(first + BATCH_CHUNKS, plan.n_chunks)
        chunk_files = tuple(
            tuple(
                str(self.store.input_path(job_id, 1 + chunk * ncols + col)) for col in range(ncols)
            )
            for chunk in range(first, last)
        )
        partial_dir = self.store.partials_dir(job_id)
        partial_dir.mkdir(parents=True, exist_ok=True)
        task = BatchTask(
            **_circuit_fields(active),
            batch=batch,
            keys=key_files(active.keys),
            columns=plan.columns,
            chunk_files=chunk_files,
            chunk_indices=tuple(plan.chunk_index(chunk) for chunk in range(first, last)),
            partial_dir=str(partial_dir),
            commit_partials=commits_partials(active.header),
        )
        active.dispatched.add(batch)
        self.table.event(job_id, "dispatch")
        future = self.executor.submit_batch(task)
        active.futures.append(future)
        future.add_done_callback(self._on_checker(self._batch_done, job_id, task))

    def maybe_finalize(self, active: ActiveJob) -> None:
        """Hand the finalize task to the executor once every batch is back and the upload is
        complete (once)."""
        if (
            active.finalizing
            or active.done
            or not active.upload_complete
            or len(active.results) != active.n_batches
        ):
            return
        active.finalizing = True
        if active.header.witness_sample is not None:  # a sampled witness: no finalization
            complete_sampled(self, active)
            return
        self.table.event(active.record.id, "finalize")
        plan = active.plan
        job_id = active.record.id
        outputs_dir = self.store.output_path(job_id, 0).parent
        outputs_dir.mkdir(parents=True, exist_ok=True)
        task = FinalizeTask(
            **_circuit_fields(active),
            keys=key_files(active.keys),
            rows=plan.rows,
            canary_file=str(self.store.input_path(job_id, 0)),
            partials=tuple(
                (active.results[b].partial_files, active.results[b].partial_levels)
                for b in range(active.n_batches)
            ),
            outputs_dir=str(outputs_dir),
        )
        future = self.executor.submit_finalize(task)
        active.futures.append(future)
        future.add_done_callback(self._on_checker(self._finalize_done, job_id, task))

    # --- results ----------------------------------------------------------------------------

    def _on_checker(
        self, handler: Handler[Task, Result], job_id: str, task: Task
    ) -> Callable[[Future[Result]], None]:
        """A done-callback that runs ``handler(job_id, task, future)`` on a checking thread
        (never on the executor's own result thread, which must keep collecting results)."""

        def callback(future: Future[Result]) -> None:
            try:
                self.checkers.submit(self._handle_checked, handler, job_id, task, future)
            except RuntimeError:  # the manager is stopping: the job resumes on the next start
                log.info("job %s: result arrived during shutdown", job_id)

        return callback

    def _handle_checked(
        self,
        handler: Handler[Task, Result],
        job_id: str,
        task: Task,
        future: Future[Result],
    ) -> None:
        """Run a result handler; anything it raises (a failing store: SQLite or OS errors in
        its bookkeeping) fails the job rather than vanishing in the checking thread and leaving
        the job RUNNING."""
        try:
            handler(job_id, task, future)
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            with self.table.lock:
                active = self.table.active.get(job_id)
                if active is not None and not (self.table.stopping or active.done):
                    self.failures.fail(active, exc)
                    return
            log.warning(
                "job %s: handling a task's result failed: %s: %s", job_id, type(exc).__name__, exc
            )

    def _returned(self, job_id: str, future: TaskFuture) -> ActiveJob | None:
        """The active job a task's successful result belongs to, or None after handling a
        failure, a cancellation or a job that is no longer active (lock held)."""
        if self.table.stopping or future.cancelled():
            return None
        active = self.table.active.get(job_id)
        if active is None or active.done:
            self.retention.task_drained(job_id, future)
            return None
        error = future.exception()
        if error is not None:
            self.failures.fail(active, error)
            return None
        return active

    def _fail_unless_ended(self, active: ActiveJob, error: BaseException) -> None:
        """Fail a job whose check failed, unless it ended meanwhile or the daemon stops."""
        with self.table.lock:
            if not (self.table.stopping or active.done):
                self.failures.fail(active, error)

    def _batch_done(self, job_id: str, task: BatchTask, future: Future[BatchResult]) -> None:
        with self.table.lock:
            active = self._returned(job_id, future)
            if active is None:
                return
        result = future.result()
        try:  # outside the lock: SEAL loads
            check_batch(active.plan, active.expectations(), task, result)
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            self._fail_unless_ended(active, exc)
            return
        with self.table.lock:
            if self.table.stopping or active.done:
                return
            active.results[result.batch] = result
            self.table.batch_seconds.append((result.n_chunks, result.seconds))
            evaluated = sum(r.n_chunks for r in active.results.values())
            self.store.update_job(job_id, chunks_evaluated=evaluated)
            self.maybe_finalize(active)
            self.table.changed.notify_all()

    def _finalize_done(
        self, job_id: str, task: FinalizeTask, future: Future[FinalizeResult]
    ) -> None:
        with self.table.lock:
            active = self._returned(job_id, future)
            if active is None:
                return
        try:  # outside the lock: SEAL loads
            checked = check_final(
                active.plan,
                active.expectations(),
                task,
                future.result(),
                batch_counts=[r.counts for r in active.results.values()],
                outputs=[self.store.output_path(job_id, i) for i in range(active.plan.n_outputs)],
                canary=self.store.canary_output_path(job_id),
            )
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            self._fail_unless_ended(active, exc)
            return
        with self.table.lock:
            if self.table.stopping or active.done:
                return
            try:
                self._complete(active, future.result(), checked)
            except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
                self.failures.fail(active, exc)

    def _complete(self, active: ActiveJob, final: FinalizeResult, checked: CheckedOutputs) -> None:
        """Compare depth with the plan, delete the inputs and keys, sign the receipt, store it
        (lock held). The receipt's counts are the plan's; its observed depth is the level of
        the outputs the daemon loaded (:func:`~regaudit.evaluator.checks.check_final`)."""
        plan = active.plan
        job_id = active.record.id
        if checked.depth != plan.depth:  # (each output's level was checked on loading)
            raise PlanMismatchError(f"observed depth {checked.depth}, planned {plan.depth}")
        manifest = self.store.manifest(job_id)
        record = self.store.get_job(job_id)
        assert record is not None
        partial_digests = job_partial_digests(active)
        retention = self.retention.release(job_id, active.keys.digest)
        receipt = sign_receipt(
            job_id=job_id,
            plan=plan,
            header=active.header,
            keys_digest=active.keys.digest,
            manifest=manifest,
            started_at=datetime.fromtimestamp(record.created, UTC),
            outputs=checked.outputs,
            partial_digests=partial_digests,
            depth_observed=checked.depth,
            retention=retention,
            identity=self.identity,
            software=self.software,
        )
        write_partial_digests(self.store, job_id, partial_digests)
        self.store.update_job(
            job_id,
            state=JobState.SUCCEEDED,
            receipt=receipt,
            output_count=len(final.output_files),
            chunks_evaluated=plan.n_chunks,
        )
        active.done = True
        self.table.active.pop(job_id, None)
        self.table.changed.notify_all()
        now = time.time()
        log_event(
            "job_succeeded",
            job_id=job_id,
            audit_id=active.header.audit_id,
            primitive=plan.circuit_id,
            rows=plan.rows,
            chunks=plan.n_chunks,
            evaluation_seconds=seconds(now - (record.started or record.created)),
            total_seconds=seconds(now - record.created),
        )


__all__ = ["Evaluation", "key_files"]
