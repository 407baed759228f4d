"""The job runner: admits jobs, pipelines batches of chunks to the executor (local worker
processes by default, or a Dask cluster: see ``executors``) as soon as they are uploaded,
finalizes, compares what ran with the plan and signs the receipt.

Memory stays bounded: the upload handler holds one ciphertext at a time and writes it to disk;
a worker holds one batch (``BATCH_CHUNKS`` chunks) plus its accumulators; finalization folds
partials in batch by batch. Job state lives in the store, so a restarted daemon re-queues every
job that was QUEUED or RUNNING and evaluates it again from its blobs.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regaudit.evaluator.executors import Executor, LocalExecutor
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
from regaudit.shared.algebra import OpCounts
from regaudit.shared.circuits.base import Plan
from regaudit.shared.errors import RegauditError
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
#: Reasons recorded on failed jobs that are not regaudit error reasons.
REASON_WORKER_CRASHED = "worker_crashed"
REASON_PLAN_MISMATCH = "plan_mismatch"


class PlanMismatchError(RegauditError):
    """What the evaluator observed while running differs from the plan (depth or counts)."""

    reason = REASON_PLAN_MISMATCH


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

    @property
    def n_batches(self) -> int:
        return -(-self.plan.n_chunks // BATCH_CHUNKS)


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

    # --- admission ----------------------------------------------------------------------------

    def admit(self, header: JobHeader, plan: Plan, keys: KeyRecord) -> tuple[JobRecord, bool]:
        """Create the job, or return the existing job for the same idempotency key and header
        (``deduplicated=True``). A different header under the same key raises KeyError (the
        caller answers ALREADY_EXISTS). A job whose upload failed is replaced."""
        header_bytes = header.to_proto().SerializeToString(deterministic=True)
        digest = header.digest
        with self._lock:
            record, created = self.store.create_job(
                idempotency_key=header.idempotency_key,
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
                    idempotency_key=header.idempotency_key,
                    header_digest=digest,
                    header=header_bytes,
                    n_chunks=plan.n_chunks,
                )
            self._active[record.id] = _Active(
                record=record,
                header=header,
                plan=plan,
                keys=keys,
                total_ciphertexts=1 + plan.n_chunks * len(plan.columns),
            )
            self.changed.notify_all()
            return record, False

    # --- upload -------------------------------------------------------------------------------

    def ciphertext_received(
        self, job_id: str, *, index: int, column: str, chunk: int, data: bytes
    ) -> None:
        """Persist one validated ciphertext; dispatch its batch once every chunk of it is in."""
        with self._lock:
            active = self._require_active(job_id)
        self.store.write_input(job_id, index, data)
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
                # index = 1 + chunk * ncols + (ncols - 1): the chunk's last column just arrived
                completed_chunk = (index - 1) // ncols
                last_of_batch = (
                    min((completed_chunk // BATCH_CHUNKS + 1) * BATCH_CHUNKS, active.plan.n_chunks)
                    - 1
                )
                if completed_chunk == last_of_batch:
                    self._dispatch_batch(active, completed_chunk // BATCH_CHUNKS)
            self.changed.notify_all()

    def upload_finished(self, job_id: str) -> JobRecord:
        with self._lock:
            active = self._require_active(job_id)
            active.upload_complete = True
            self.events.append((job_id, "upload_finished", time.monotonic()))
            self.store.update_job(job_id, state=JobState.RUNNING, started=time.time())
            self._maybe_finalize(active)
            self.changed.notify_all()
            record = self.store.get_job(job_id)
            assert record is not None
            return record

    def _require_active(self, job_id: str) -> _Active:
        """The in-memory state of a job still receiving; JobFailedError if evaluation of an
        already uploaded batch failed meanwhile (its reason is kept)."""
        active = self._active.get(job_id)
        if active is None or active.done:
            record = self.store.get_job(job_id)
            reason = record.error_reason if record else "unknown"
            raise JobFailedError(f"job {job_id} failed during upload ({reason})", field="job_id")
        return active

    def upload_failed(self, job_id: str, error: RegauditError) -> None:
        """The stream broke or carried a bad object: the job fails, nothing more runs.
        A job that already failed keeps its first reason."""
        with self._lock:
            record = self.store.get_job(job_id)
            if record is None or record.state is JobState.FAILED:
                self._active.pop(job_id, None)
                self._discard_when_idle(job_id, self._draining.get(job_id, set()))
                return
            active = self._active.pop(job_id, None)
            if active is not None:
                active.done = True
                for future in active.futures:
                    future.cancel()
            reason = error.reason if error.reason else UPLOAD_INCOMPLETE
            self.store.update_job(
                job_id, state=JobState.FAILED, error_reason=reason, error_message=str(error)
            )
            self._discard_when_idle(job_id, active.futures if active is not None else [])
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
        future.add_done_callback(functools.partial(self._batch_done, job_id))

    def _batch_done(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            if self._stopping or future.cancelled():
                return
            active = self._active.get(job_id)
            if active is None or active.done:
                self._task_drained(job_id, future)
                return
            error = future.exception()
            if error is not None:
                self._fail(active, error)
                return
            result: BatchResult = future.result()
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
        future.add_done_callback(functools.partial(self._finalize_done, job_id))

    def _finalize_done(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            if self._stopping or future.cancelled():
                return
            active = self._active.get(job_id)
            if active is None or active.done:
                self._task_drained(job_id, future)
                return
            error = future.exception()
            if error is not None:
                self._fail(active, error)
                return
            try:
                self._complete(active, future.result())
            except Exception as exc:  # noqa: BLE001 - any failure fails the job, not the daemon
                self._fail(active, exc)

    def _complete(self, active: _Active, final: FinalizeResult) -> None:
        """Check observed depth and counts against the plan, sign the receipt, store it."""
        plan = active.plan
        job_id = active.record.id
        observed = merge_counts([r.counts for r in active.results.values()] + [final.counts])
        depth_observed = observed.max_level - plan.input_level
        _compare_with_plan(plan, observed, depth_observed)
        outputs = [
            (output_name(i), Path(path).read_bytes()) for i, path in enumerate(final.output_files)
        ]
        outputs.append((CANARY_OUTPUT_NAME, Path(final.canary_output_file).read_bytes()))
        manifest = self.store.manifest(job_id)
        record = self.store.get_job(job_id)
        assert record is not None
        counts = observed.to_dict()
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
        self.store.discard_scratch(job_id)
        self.changed.notify_all()
        log.info("job %s succeeded (%d chunks)", job_id, plan.n_chunks)

    def _discard_when_idle(self, job_id: str, futures: Iterable[Future[Any]]) -> None:
        """Delete a failed job's scratch (inputs, partials) now if none of ``futures`` still
        runs, else when the last one finishes (:meth:`_task_drained`): deleting inputs under a
        running batch, or letting it write partials after the deletion, would leave files
        behind. Called with the lock held; discarding twice is harmless."""
        outstanding = {future for future in futures if not future.done()}
        if outstanding:
            self._draining[job_id] = outstanding
            return
        self._draining.pop(job_id, None)
        self.store.discard_scratch(job_id)

    def _task_drained(self, job_id: str, future: Future[Any]) -> None:
        """A task of a job that is no longer active finished (with the lock held)."""
        outstanding = self._draining.get(job_id)
        if outstanding is None:
            return
        outstanding.discard(future)
        if not outstanding:
            del self._draining[job_id]
            self.store.discard_scratch(job_id)

    def _fail(self, active: _Active, error: BaseException) -> None:
        job_id = active.record.id
        if isinstance(error, WorkerFailure):
            reason, message = error.reason, error.message
        elif isinstance(error, RegauditError):
            reason, message = error.reason, str(error)
        elif isinstance(error, BrokenProcessPool):
            reason, message = REASON_WORKER_CRASHED, "a worker process died"
        else:
            reason, message = "evaluation_failed", f"{type(error).__name__}: {error}"
        log.warning("job %s failed: %s (%s)", job_id, message, reason)
        active.done = True
        if not isinstance(error, BrokenProcessPool):
            # (a broken pool fails every pending future itself; cancelling them here would race
            # with its own clean-up thread)
            for future in active.futures:
                future.cancel()
        self._active.pop(job_id, None)
        # the job had started evaluating: keep `started` so it is not replaced on resubmission
        self.store.update_job(
            job_id,
            state=JobState.FAILED,
            error_reason=reason,
            error_message=message[:2000],
            started=active.record.started or time.time(),
        )
        # (during an upload the handler may still write inputs; upload_failed discards again
        # once it is done)
        self._discard_when_idle(job_id, active.futures)
        self.changed.notify_all()

    # --- restart ------------------------------------------------------------------------------

    def resume(self, plan_for: Any, keys_for: Any) -> list[str]:
        """Re-queue jobs left QUEUED/RUNNING by a previous run; fail interrupted uploads; delete
        the scratch (inputs, partials) of every finished job.

        ``plan_for(header) -> Plan`` and ``keys_for(digest) -> KeyRecord`` are the server's
        own checks, so a resumed job is planned exactly like a new one.
        """
        resumed: list[str] = []
        for record in self.store.jobs_in_states((JobState.RECEIVING,)):
            self.store.update_job(
                record.id,
                state=JobState.FAILED,
                error_reason=UPLOAD_INCOMPLETE,
                error_message="the daemon stopped while the job was being uploaded",
            )
        # scratch a previous run could not delete (a job that failed while its tasks ran, or
        # whose upload was interrupted): finished jobs keep only their record and outputs
        for job_id in self.store.jobs_with_scratch():
            finished = self.store.get_job(job_id)
            if finished is None or finished.state in (JobState.FAILED, JobState.SUCCEEDED):
                self.store.discard_scratch(job_id)
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
                    continue
                shutil.rmtree(self.store.partials_dir(record.id), ignore_errors=True)
                self.store.update_job(record.id, state=JobState.QUEUED, chunks_evaluated=0)
                active = _Active(
                    record=record,
                    header=header,
                    plan=plan,
                    keys=keys,
                    total_ciphertexts=1 + plan.n_chunks * len(plan.columns),
                    received=1 + plan.n_chunks * len(plan.columns),
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
        record = self.store.get_job(job_id)
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
        self.executor.shutdown()


_STATE_MESSAGES = {
    JobState.RECEIVING: "receiving ciphertexts (evaluating complete batches)",
    JobState.QUEUED: "queued",
    JobState.RUNNING: "evaluating",
    JobState.SUCCEEDED: "evaluation finished; receipt signed",
}


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


def _compare_with_plan(plan: Plan, observed: OpCounts, depth_observed: int) -> None:
    """Raise PlanMismatchError unless depth, rotation steps and op counts equal the plan.

    Steps: 1. observed depth equals the planned depth; 2. every operation counter equals the
    plan's; 3. rotation steps used are the planned ones.
    """
    # 1. depth
    if depth_observed != plan.depth:
        raise PlanMismatchError(f"observed depth {depth_observed}, planned {plan.depth}")
    # 2. counters
    planned: dict[str, Any] = plan.counts.to_dict()
    seen: dict[str, Any] = observed.to_dict()
    for name in (
        "ct_ct_multiplications",
        "ct_pt_multiplications",
        "rotations",
        "additions",
        "rescales",
        "relinearizations",
    ):
        if planned[name] != seen[name]:
            raise PlanMismatchError(f"observed {seen[name]} {name}, planned {planned[name]}")
    # 3. steps
    if set(planned["rotation_steps"]) != set(seen["rotation_steps"]):
        raise PlanMismatchError(
            f"observed rotation steps {seen['rotation_steps']}, planned {planned['rotation_steps']}"
        )


__all__ = [
    "BATCH_CHUNKS",
    "JobManager",
    "PlanMismatchError",
    "new_executor",
    "progress_of",
]
