"""The job runner: admits jobs, pipelines batches of chunks to the executor (local worker
processes by default, or a Dask cluster: see ``executors``) as soon as they are uploaded,
finalizes, checks what the workers returned against the plan and signs the receipt.

The daemon does not take a worker's word (``checks``): every ciphertext a worker returns is
loaded here at the level and scale the plan says, from the file name the daemon chose; the
receipt's operation counts are the plan's and its observed depth is the level of the outputs the
daemon loaded; a worker's self-reported counts are only compared. Any disagreement fails the job
with reason ``worker_output_invalid``.

When a job ends (succeeded or failed) its input ciphertexts, partials and evaluation keys are
deleted (keys once no other job that has not ended uses them); on success before the receipt is
signed, which says so (``retention``).

A failing store never leaves a job hanging: an SQLite or OS error while a job is received,
evaluated, checked or completed fails the job with reason ``store_failed`` (``disk_full`` for a
full disk or quota: RESOURCE_EXHAUSTED). If the store cannot even record the failure, the job is
held failed in memory (WatchJob and GetResult answer with its reason) and the next start fails
or re-queues it from what the store holds.

Memory stays bounded: the upload handler holds one ciphertext at a time and writes it to disk;
a worker holds one batch (``BATCH_CHUNKS`` chunks) plus its accumulators; finalization folds
partials in batch by batch. Job state lives in the store, so a restarted daemon re-queues every
job that was QUEUED or RUNNING and evaluates it again from its blobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regaudit.evaluator.checks import (
    Expectations,
    WorkerOutputError,
    check_counts,
    check_files,
    expectations,
)
from regaudit.evaluator.executors import Executor, LocalExecutor
from regaudit.evaluator.logs import log_event, seconds
from regaudit.evaluator.store import UPLOAD_INCOMPLETE, JobRecord, KeyRecord, Store
from regaudit.evaluator.workers import (
    BatchResult,
    BatchTask,
    FinalizeResult,
    FinalizeTask,
    KeyFiles,
    WorkerFailure,
    merge_counts,
)
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    EXIT_USAGE,
    DiskFullError,
    KeyMaterialError,
    ProtocolError,
    RegauditError,
    is_disk_full,
)
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import build_receipt_statement, input_manifest_digest
from regaudit.shared.protocol import (
    CANARY_OUTPUT_NAME,
    IdempotencyConflictError,
    JobFailedError,
    JobHeader,
    JobProgress,
    JobState,
    output_name,
)

log = logging.getLogger("regaudit.evaluator.jobs")

#: Chunks evaluated by one worker task (bounds worker memory; 8 chunks x columns ciphertexts).
BATCH_CHUNKS = 8
#: Entries kept in the in-memory measurement logs.
EVENT_LOG_SIZE = 10_000
#: Daemon threads that check what workers return (SEAL loads; the job lock is not held).
CHECK_THREADS = max(2, min(8, os.cpu_count() or 1))
#: Evaluation keys that no job uses are deleted after this long (s): keys uploaded again for a
#: re-submission that was answered from a finished job, or for a job that never came.
IDLE_KEYS_TTL_S = 3600.0
#: ``retention`` values attested in the receipt.
RETENTION_DELETED = "deleted"
RETENTION_KEYS_RETAINED = "retained_until_jobs_end"
#: Reasons recorded on failed jobs that are not regaudit error reasons.
REASON_WORKER_CRASHED = "worker_crashed"
REASON_PLAN_MISMATCH = "plan_mismatch"


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


class DeletionFailedError(RegauditError):
    """Inputs or evaluation keys the receipt would attest as deleted are still on disk: the
    job fails instead of signing an untrue receipt."""

    reason = "deletion_failed"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


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


def new_executor(workers: int | None) -> LocalExecutor:
    """The default executor: a spawn-context process pool of ``workers`` (default: every core),
    fully started. Create it before any gRPC server exists: workers are spawned here, eagerly.
    """
    return LocalExecutor(workers)


@dataclass
class _Active:
    """In-memory state of a job that is receiving or evaluating."""

    record: JobRecord
    header: JobHeader
    plan: Plan
    keys: KeyRecord
    total_ciphertexts: int
    received: int = 0
    dispatched: set[int] = field(default_factory=set)
    results: dict[int, BatchResult] = field(default_factory=dict)
    upload_complete: bool = False
    finalizing: bool = False
    done: bool = False
    futures: list[Future[Any]] = field(default_factory=list)
    #: what every task must return (computed by the daemon from the plan, on first use)
    expected: Expectations | None = None

    @property
    def n_batches(self) -> int:
        return -(-self.plan.n_chunks // BATCH_CHUNKS)

    def expectations(self) -> Expectations:
        if self.expected is None:
            self.expected = expectations(self.plan, self.header.public_inputs)
        return self.expected


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
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._active: dict[str, _Active] = {}
        #: failed jobs whose tasks still run (a running task cannot be cancelled): their scratch
        #: is deleted when the last one finishes
        self._draining: dict[str, set[Future[Any]]] = {}
        self._stopping = False
        #: per-batch evaluation seconds (for measurements and logs)
        self.batch_seconds: deque[tuple[int, float]] = deque(maxlen=EVENT_LOG_SIZE)
        #: (job id, event, monotonic time): "dispatch", "upload_finished", "finalize"
        self.events: deque[tuple[str, str, float]] = deque(maxlen=EVENT_LOG_SIZE)
        #: threads that check what the workers returned, outside the job lock
        self._checkers = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="check")
        #: failed jobs whose failure the store could not record (it failed): answered from here
        #: until the next start, which fails or re-queues them from what the store holds
        self._unrecorded: dict[str, JobProgress] = {}

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
                self.store.delete_job(record.id)
                record, created = self.store.create_job(
                    idempotency_key=scoped_key,
                    header_digest=digest,
                    header=header_bytes,
                    n_chunks=plan.n_chunks,
                )
            self._active[record.id] = _Active(
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
                        self._dispatch_batch(active, completed_chunk // BATCH_CHUNKS)
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
            self.events.append((job_id, "upload_finished", time.monotonic()))
            started = time.time()
            try:
                self.store.update_job(job_id, state=JobState.RUNNING, started=started)
            except STORE_ERRORS as exc:
                error = store_error(exc)
                self.upload_failed(job_id, error)
                raise error from exc
            try:
                self._maybe_finalize(active)
            except Exception as exc:  # noqa: BLE001 - fails the job, not the call
                self._fail(active, exc)
            self.changed.notify_all()
            try:
                record = self.store.get_job(job_id)
            except STORE_ERRORS as exc:
                log.warning("job %s: the store could not be read back: %s", job_id, exc)
                record = None
            if record is None:
                held = self._unrecorded.get(job_id)
                state = held.state if held is not None else JobState.RUNNING
                record = dataclasses.replace(active.record, state=state, started=started)
            return record

    def _require_active(self, job_id: str) -> _Active:
        """The in-memory state of a job still receiving; JobFailedError if evaluation of an
        already uploaded batch failed meanwhile (its reason is kept)."""
        active = self._active.get(job_id)
        if active is None or active.done:
            held = self._unrecorded.get(job_id)
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
            if ended or job_id in self._unrecorded:
                self._active.pop(job_id, None)
                self._discard_quietly(job_id, self._draining.get(job_id, set()))
                return
            active = self._active.pop(job_id, None)
            if active is not None:
                active.done = True
                for future in active.futures:
                    future.cancel()
            reason = error.reason if error.reason else UPLOAD_INCOMPLETE
            recorded = self._record_failure(
                job_id,
                reason,
                str(error),
                n_chunks=active.plan.n_chunks if active is not None else 0,
            )
            if recorded:  # (else the next start fails the upload and sweeps its scratch)
                self._discard_quietly(job_id, active.futures if active is not None else [])
            self.changed.notify_all()

    # --- evaluation ---------------------------------------------------------------------------

    def _key_files(self, keys: KeyRecord) -> KeyFiles:
        return KeyFiles(
            digest=keys.digest,
            profile_name=keys.profile_name,
            galois_steps=keys.galois_steps,
            relin_path=str(keys.directory / "relin.bin"),
            galois_path=str(keys.directory / "galois.bin"),
        )

    def _dispatch_batch(self, active: _Active, batch: int) -> None:
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
            job_id=job_id,
            batch=batch,
            keys=self._key_files(active.keys),
            profile_name=plan.profile.name,
            circuit_id=plan.circuit_id,
            circuit_version=plan.circuit_version,
            public=active.header.public_inputs,
            columns=plan.columns,
            input_level=plan.input_level,
            max_level=plan.profile.max_depth,
            chunk_files=chunk_files,
            partial_dir=str(partial_dir),
        )
        active.dispatched.add(batch)
        self.events.append((job_id, "dispatch", time.monotonic()))
        future = self.executor.submit_batch(task)
        active.futures.append(future)
        future.add_done_callback(self._on_checker(self._batch_done, job_id, task))

    def _on_checker(
        self, handler: Callable[[str, Any, Future[Any]], None], job_id: str, task: Any
    ) -> Callable[[Future[Any]], None]:
        """A done-callback that runs ``handler(job_id, task, future)`` on a checking thread
        (never on the executor's own result thread, which must keep collecting results)."""

        def callback(future: Future[Any]) -> None:
            try:
                self._checkers.submit(self._handle_checked, handler, job_id, task, future)
            except RuntimeError:  # the manager is stopping: the job resumes on the next start
                log.info("job %s: result arrived during shutdown", job_id)

        return callback

    def _handle_checked(
        self,
        handler: Callable[[str, Any, Future[Any]], None],
        job_id: str,
        task: Any,
        future: Future[Any],
    ) -> None:
        """Run a result handler; anything it raises (a failing store: SQLite or OS errors in
        its bookkeeping) fails the job rather than vanishing in the checking thread and leaving
        the job RUNNING."""
        try:
            handler(job_id, task, future)
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            with self._lock:
                active = self._active.get(job_id)
                if active is not None and not (self._stopping or active.done):
                    self._fail(active, exc)
                    return
            log.warning(
                "job %s: handling a task's result failed: %s: %s", job_id, type(exc).__name__, exc
            )

    def _returned(self, job_id: str, future: Future[Any]) -> _Active | None:
        """The active job a task's successful result belongs to, or None after handling a
        failure, a cancellation or a job that is no longer active (lock held)."""
        if self._stopping or future.cancelled():
            return None
        active = self._active.get(job_id)
        if active is None or active.done:
            self._task_drained(job_id, future)
            return None
        error = future.exception()
        if error is not None:
            self._fail(active, error)
            return None
        return active

    def _check_batch(self, active: _Active, task: BatchTask, result: BatchResult) -> None:
        """The daemon's own check of a batch (see ``checks``): the partials are the files the
        daemon named, each valid at the plan's accumulator level; the reported counts are what
        the plan says this batch performs."""
        expected = active.expectations()
        what = f"batch {task.batch}"
        if result.job_id != task.job_id or result.batch != task.batch:
            raise WorkerOutputError(f"{what}: the worker answered for another task")
        n_chunks = len(task.chunk_files)
        if result.n_chunks != n_chunks:
            raise WorkerOutputError(f"{what}: {result.n_chunks} chunks reported, {n_chunks} sent")
        if tuple(result.partial_levels) != expected.partial_levels:
            raise WorkerOutputError(
                f"{what}: partial levels {list(result.partial_levels)} reported, the plan "
                f"says {list(expected.partial_levels)}",
                field="partial_levels",
            )
        check_counts(result.counts, expected.batch_counts(n_chunks), what=what)
        directory = Path(task.partial_dir)
        check_files(
            active.plan,
            result.partial_files,
            [
                directory / f"batch{task.batch:06d}-{index:03d}.ct"
                for index in range(len(expected.partial_levels))
            ],
            expected.partial_levels,
            what=f"{what} partial",
        )

    def _batch_done(self, job_id: str, task: BatchTask, future: Future[Any]) -> None:
        with self._lock:
            active = self._returned(job_id, future)
            if active is None:
                return
        result: BatchResult = future.result()
        try:
            self._check_batch(active, task, result)  # outside the lock: SEAL loads
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            with self._lock:
                if not (self._stopping or active.done):
                    self._fail(active, exc)
            return
        with self._lock:
            if self._stopping or active.done:
                return
            active.results[result.batch] = result
            self.batch_seconds.append((result.n_chunks, result.seconds))
            evaluated = sum(r.n_chunks for r in active.results.values())
            self.store.update_job(job_id, chunks_evaluated=evaluated)
            self._maybe_finalize(active)
            self.changed.notify_all()

    def _maybe_finalize(self, active: _Active) -> None:
        if (
            active.finalizing
            or active.done
            or not active.upload_complete
            or len(active.results) != active.n_batches
        ):
            return
        active.finalizing = True
        self.events.append((active.record.id, "finalize", time.monotonic()))
        plan = active.plan
        job_id = active.record.id
        outputs_dir = self.store.output_path(job_id, 0).parent
        outputs_dir.mkdir(parents=True, exist_ok=True)
        task = FinalizeTask(
            job_id=job_id,
            keys=self._key_files(active.keys),
            profile_name=plan.profile.name,
            circuit_id=plan.circuit_id,
            circuit_version=plan.circuit_version,
            public=active.header.public_inputs,
            rows=plan.rows,
            input_level=plan.input_level,
            max_level=plan.profile.max_depth,
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

    def _check_final(
        self, active: _Active, task: FinalizeTask, final: FinalizeResult
    ) -> tuple[list[tuple[str, bytes]], int]:
        """The daemon's own check of finalization: every output and the canary output are the
        files the daemon named, valid at the plan's output (canary) level; the counts the
        workers reported (batches + finalize) are what the plan says. Returns the checked
        (name, bytes) outputs, canary last, and the depth observed from their levels."""
        plan = active.plan
        expected = active.expectations()
        if final.job_id != task.job_id:
            raise WorkerOutputError("finalize: the worker answered for another job")
        check_counts(final.counts, expected.finalize_counts(len(task.partials)), what="finalize")
        reported = merge_counts([r.counts for r in active.results.values()] + [final.counts])
        check_counts(reported.to_dict(), plan.counts, what="job")
        job_id = active.record.id
        datas = check_files(
            plan,
            final.output_files,
            [self.store.output_path(job_id, i) for i in range(plan.n_outputs)],
            expected.output_levels,
            what="output",
        )
        [canary] = check_files(
            plan,
            [final.canary_output_file],
            [self.store.canary_output_path(job_id)],
            [expected.canary_level],
            what="canary output",
        )
        outputs = [(output_name(i), data) for i, data in enumerate(datas)]
        outputs.append((CANARY_OUTPUT_NAME, canary))
        # the levels the daemon itself loaded them at
        depth = max((*expected.output_levels, expected.canary_level)) - plan.input_level
        return outputs, depth

    def _finalize_done(self, job_id: str, task: FinalizeTask, future: Future[Any]) -> None:
        with self._lock:
            active = self._returned(job_id, future)
            if active is None:
                return
        try:
            checked = self._check_final(active, task, future.result())  # outside the lock
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
            with self._lock:
                if not (self._stopping or active.done):
                    self._fail(active, exc)
            return
        with self._lock:
            if self._stopping or active.done:
                return
            try:
                self._complete(active, future.result(), checked)
            except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
                self._fail(active, exc)

    def _complete(
        self, active: _Active, final: FinalizeResult, checked: tuple[list[tuple[str, bytes]], int]
    ) -> None:
        """Compare depth with the plan, delete the inputs and keys, sign the receipt, store it.

        The receipt's counts are the plan's (the workers' reports were compared with them in
        :meth:`_check_final`); its observed depth is the level of the outputs the daemon loaded.
        """
        plan = active.plan
        job_id = active.record.id
        outputs, depth_observed = checked
        counts = plan.counts.to_dict()
        if depth_observed != plan.depth:  # (each output's level was checked on loading)
            raise PlanMismatchError(f"observed depth {depth_observed}, planned {plan.depth}")
        manifest = self.store.manifest(job_id)
        record = self.store.get_job(job_id)
        assert record is not None
        retention = self._release_inputs(active)
        statement = build_receipt_statement(
            job_id=job_id,
            circuit_id=plan.circuit_id,
            circuit_version=plan.circuit_version,
            profile_name=plan.profile.name,
            profile_hash=plan.profile.profile_hash,
            evaluation_keys_digest=active.keys.digest,
            inputs_manifest_digest=input_manifest_digest(manifest),
            input_count=len(manifest),
            rows=plan.rows,
            public_inputs=active.header.public_inputs,
            canary_seed_hex=active.header.canary_seed.hex(),
            outputs=outputs,
            depth_planned=plan.depth,
            depth_observed=depth_observed,
            operation_counts=counts,
            started_at=datetime.fromtimestamp(record.created, UTC),
            finished_at=datetime.now(UTC),
            evaluator_key_id=self.identity.key_id,
            software=self.software,
            audit_id=active.header.audit_id,
            client_key_id=active.header.client_key().key_id,
            regulator_key_id=active.header.regulator_key_id,
            job_header_digest=active.header.digest,
            retention=retention,
        )
        envelope = sign_envelope(
            canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=self.identity
        )
        self.store.update_job(
            job_id,
            state=JobState.SUCCEEDED,
            receipt=canonical_json(envelope),
            output_count=len(final.output_files),
            chunks_evaluated=plan.n_chunks,
        )
        active.done = True
        self._active.pop(job_id, None)
        self.changed.notify_all()
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

    # --- deletion at job end ------------------------------------------------------------------

    def _release_inputs(self, active: _Active) -> dict[str, str]:
        """A job ended: delete its input ciphertexts and partials, and its evaluation keys
        unless another job that has not ended uses them (then the last such job deletes them
        when it ends). Returns what the receipt attests (``retention``). Lock held."""
        return self._release_job(active.record.id, active.keys.digest)

    def _release_job(self, job_id: str, digest: str | None = None) -> dict[str, str]:
        """:meth:`_release_inputs` by job id (the key digest read from the stored header when
        not given). Idempotent. Lock held. Raises DeletionFailedError when something it would
        attest as deleted is still on disk (the receipt never says "deleted" untruthfully)."""
        self.store.discard_scratch(job_id)
        if self.store.scratch_remains(job_id):
            raise DeletionFailedError(f"the inputs of job {job_id} could not be deleted")
        if digest is None:
            digest = _keys_digest_of(self.store.get_job(job_id))
        keys = RETENTION_DELETED
        if digest:
            users = self.store.jobs_using_keys(digest, exclude=job_id)
            if users:
                keys = RETENTION_KEYS_RETAINED
                log.info("job %s ended; its keys stay for job(s) %s", job_id, ", ".join(users))
            else:
                self._delete_keys(digest)
                if self.store.get_keys(digest) is not None or self.store.key_files_remain(digest):
                    raise DeletionFailedError(f"evaluation keys {digest} could not be deleted")
        return {"input_ciphertexts": RETENTION_DELETED, "evaluation_keys": keys}

    def _delete_keys(self, digest: str) -> None:
        """Delete stored keys and tell the executor's workers to forget them (a Dask key cache;
        off the lock, since that is a round trip to every worker)."""
        if self.store.delete_keys(digest):
            log.info("deleted evaluation keys %s", digest)
        forget = getattr(self.executor, "forget_keys", None)
        if forget is not None and not self._stopping:
            with contextlib.suppress(RuntimeError):  # checking threads already shut down
                self._checkers.submit(_forget_quietly, forget, digest)

    def sweep_idle_keys(self, ttl: float = IDLE_KEYS_TTL_S) -> list[str]:
        """Delete evaluation keys stored more than ``ttl`` seconds ago that no job that has not
        ended uses (keys re-uploaded for a re-submission answered from a finished job, or for a
        job that never came). Returns the deleted digests."""
        deleted: list[str] = []
        now = time.time()
        with self._lock:
            for digest, stored in self.store.key_digests():
                if now - stored < ttl or self.store.jobs_using_keys(digest):
                    continue
                self._delete_keys(digest)
                deleted.append(digest)
        return deleted

    def _discard_when_idle(self, job_id: str, futures: Iterable[Future[Any]]) -> None:
        """Release a failed job's inputs, partials and keys (:meth:`_release_job`) now if none
        of ``futures`` still runs, else when the last one finishes (:meth:`_task_drained`):
        deleting inputs under a running batch, or letting it write partials after the deletion,
        would leave files behind. Called with the lock held; releasing twice is harmless."""
        outstanding = {future for future in futures if not future.done()}
        if outstanding:
            self._draining[job_id] = outstanding
            return
        self._draining.pop(job_id, None)
        self._release_job(job_id)

    def _task_drained(self, job_id: str, future: Future[Any]) -> None:
        """A task of a job that is no longer active finished (with the lock held)."""
        outstanding = self._draining.get(job_id)
        if outstanding is None:
            return
        outstanding.discard(future)
        if not outstanding:
            del self._draining[job_id]
            self._release_job(job_id)

    def _fail(self, active: _Active, error: BaseException) -> None:
        """Fail a job (lock held). Never raises: a store that cannot record the failure leaves
        it held in memory (:meth:`_record_failure`)."""
        job_id = active.record.id
        if isinstance(error, WorkerFailure):
            reason, message = error.reason, error.message
        elif isinstance(error, RegauditError):
            reason, message = error.reason, str(error)
        elif isinstance(error, BrokenProcessPool):
            reason, message = REASON_WORKER_CRASHED, "a worker process died"
        elif isinstance(error, STORE_ERRORS):
            mapped = store_error(error)
            reason, message = mapped.reason, str(mapped)
        else:
            reason, message = "evaluation_failed", f"{type(error).__name__}: {error}"
        active.done = True
        if not isinstance(error, BrokenProcessPool):
            # (a broken pool fails every pending future itself; cancelling them here would race
            # with its own clean-up thread)
            for future in active.futures:
                future.cancel()
        self._active.pop(job_id, None)
        # the job had started evaluating: keep `started` so it is not replaced on resubmission
        recorded = self._record_failure(
            job_id,
            reason,
            message[:2000],
            n_chunks=active.plan.n_chunks,
            started=active.record.started or time.time(),
        )
        # (during an upload the handler may still write inputs; upload_failed discards again
        # once it is done). A failure the store could not record keeps the job's inputs and
        # keys: the next start re-queues it from them, as after a crash.
        if recorded:
            self._discard_quietly(job_id, active.futures)
        self.changed.notify_all()

    def _record_failure(
        self, job_id: str, reason: str, message: str, *, n_chunks: int, **fields: Any
    ) -> bool:
        """Store a job's failure (lock held); whether the store recorded it. If the store fails
        too, the failure is held in memory: WatchJob and GetResult answer from it, the next
        start fails or re-queues the job from what the store holds."""
        log_event("job_failed", logging.WARNING, job_id=job_id, reason=reason, message=message)
        try:
            self.store.update_job(
                job_id,
                state=JobState.FAILED,
                error_reason=reason,
                error_message=message,
                **fields,
            )
        except STORE_ERRORS as exc:
            log.error(
                "job %s failed (%s) and the store could not record it (%s: %s); "
                "holding the failure in memory until the next start",
                job_id,
                reason,
                type(exc).__name__,
                exc,
            )
            self._unrecorded[job_id] = JobProgress(
                job_id=job_id,
                state=JobState.FAILED,
                chunks_received=0,
                chunks_evaluated=0,
                n_chunks=n_chunks,
                message=f"{message} (not recorded: the store failed)",
                error_reason=reason,
            )
            return False
        self._unrecorded.pop(job_id, None)
        return True

    def _discard_quietly(self, job_id: str, futures: Iterable[Future[Any]]) -> None:
        """:meth:`_discard_when_idle` for a job that failed: a release that fails too (a
        failing store, files that stay) is logged; the next start sweeps what remains."""
        try:
            self._discard_when_idle(job_id, futures)
        except Exception as exc:  # noqa: BLE001 - the job has failed already
            log.warning("job %s: its inputs could not be released: %s", job_id, exc)

    def held_failure(self, job_id: str) -> JobProgress | None:
        """The failure of a job the store could not record (None for any other job)."""
        with self._lock:
            return self._unrecorded.get(job_id)

    # --- restart ------------------------------------------------------------------------------

    def resume(self, plan_for: Any, keys_for: Any) -> list[str]:
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
                elif finished.state in (JobState.FAILED, JobState.SUCCEEDED):
                    self._release_job(job_id)
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
                active = _Active(
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
                    self._dispatch_batch(active, batch)
                self.store.update_job(record.id, state=JobState.RUNNING)
                resumed.append(record.id)
                log.info("resumed job %s", record.id)
        return resumed

    # --- progress -----------------------------------------------------------------------------

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
            self._stopping = True
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
    so one client can neither claim nor block another client's key."""
    return f"{header.client_key().key_id}/{header.idempotency_key}"


def progress_of(record: JobRecord) -> JobProgress:
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


def _keys_digest_of(record: JobRecord | None) -> str:
    """The evaluation keys digest named in a stored job header ("" if unreadable)."""
    if record is None or not record.header:
        return ""
    try:
        return str(pb.JobHeader.FromString(record.header).evaluation_keys_digest)
    except Exception:  # noqa: BLE001 - a header that does not parse names no keys
        return ""


def _forget_quietly(forget: Callable[[str], None], digest: str) -> None:
    try:
        forget(digest)
    except Exception as exc:  # noqa: BLE001 - best effort: the keys are gone from the store
        log.warning("workers could not forget evaluation keys %s: %s", digest, exc)


__all__ = [
    "BATCH_CHUNKS",
    "STORE_ERRORS",
    "DeletionFailedError",
    "JobManager",
    "PlanMismatchError",
    "StoreFailedError",
    "UploadIncompleteError",
    "new_executor",
    "progress_of",
    "scoped_idempotency_key",
    "store_error",
]
