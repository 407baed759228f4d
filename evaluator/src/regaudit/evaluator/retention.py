"""Deleting a job's inputs and evaluation keys when it ends, and what the receipt says of it.

When a job ends (succeeded or failed) its input ciphertexts and partials are deleted, and so
are its evaluation keys once no other job that has not ended uses them (the last such job
deletes them when it ends). A succeeded job's are deleted before its receipt is signed, which
attests it (``retention``); anything still on disk that the receipt would call deleted fails the
job instead (:class:`DeletionFailedError`). A failed job whose tasks still run is released when
the last of them finishes: deleting inputs under a running batch, or letting it write partials
after the deletion, would leave files behind.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from regaudit.evaluator.active_jobs import JobTable, TaskFuture
from regaudit.evaluator.executors import Executor
from regaudit.evaluator.store import JobRecord, Store
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.errors import EXIT_USAGE, RegauditError

log = logging.getLogger("regaudit.evaluator.jobs")

#: Evaluation keys that no job uses are deleted after this long (s): keys uploaded again for a
#: re-submission that was answered from a finished job, or for a job that never came.
IDLE_KEYS_TTL_S = 3600.0
#: ``retention`` values attested in the receipt.
RETENTION_DELETED = "deleted"
RETENTION_KEYS_RETAINED = "retained_until_jobs_end"


class DeletionFailedError(RegauditError):
    """Inputs or evaluation keys the receipt would attest as deleted are still on disk: the
    job fails instead of signing an untrue receipt."""

    reason = "deletion_failed"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class Retention:
    """Releases ended jobs' inputs, partials and evaluation keys. Every method but
    :meth:`sweep_idle_keys` is called with the table's lock held (so is that one, by the
    job manager)."""

    def __init__(
        self, store: Store, executor: Executor, table: JobTable, background: ThreadPoolExecutor
    ) -> None:
        self.store = store
        self.executor = executor
        self.table = table
        #: where the executor's workers are told to forget deleted keys (off the lock)
        self.background = background
        #: failed jobs whose tasks still run (a running task cannot be cancelled): their scratch
        #: is deleted when the last one finishes
        self._draining: dict[str, set[TaskFuture]] = {}

    def release(self, job_id: str, digest: str | None = None) -> dict[str, str]:
        """A job ended: delete its input ciphertexts and partials, and its evaluation keys
        ``digest`` (read from the stored header when not given) unless another job that has not
        ended uses them. Returns what the receipt attests (``retention``). Idempotent. Raises
        DeletionFailedError when something it would attest as deleted is still on disk (the
        receipt never says "deleted" untruthfully)."""
        self.store.discard_scratch(job_id)
        if self.store.scratch_remains(job_id):
            raise DeletionFailedError(f"the inputs of job {job_id} could not be deleted")
        if digest is None:
            digest = keys_digest_of(self.store.get_job(job_id))
        keys = RETENTION_DELETED
        if digest:
            users = self.store.jobs_using_keys(digest, exclude=job_id)
            if users:
                keys = RETENTION_KEYS_RETAINED
                log.info("job %s ended; its keys stay for job(s) %s", job_id, ", ".join(users))
            else:
                self.delete_keys(digest)
                if self.store.get_keys(digest) is not None or self.store.key_files_remain(digest):
                    raise DeletionFailedError(f"evaluation keys {digest} could not be deleted")
        return {"input_ciphertexts": RETENTION_DELETED, "evaluation_keys": keys}

    def delete_keys(self, digest: str) -> None:
        """Delete stored keys and tell the executor's workers to forget them (a Dask key cache;
        off the lock, since that is a round trip to every worker)."""
        if self.store.delete_keys(digest):
            log.info("deleted evaluation keys %s", digest)
        forget = getattr(self.executor, "forget_keys", None)
        if forget is not None and not self.table.stopping:
            with contextlib.suppress(RuntimeError):  # background threads already shut down
                self.background.submit(_forget_quietly, forget, digest)

    def sweep_idle_keys(self, ttl: float = IDLE_KEYS_TTL_S) -> list[str]:
        """Delete evaluation keys stored more than ``ttl`` seconds ago that no job that has not
        ended uses. Returns the deleted digests."""
        deleted: list[str] = []
        now = time.time()
        for digest, stored in self.store.key_digests():
            if now - stored < ttl or self.store.jobs_using_keys(digest):
                continue
            self.delete_keys(digest)
            deleted.append(digest)
        return deleted

    def discard_when_idle(self, job_id: str, futures: Iterable[TaskFuture]) -> None:
        """Release a failed job (:meth:`release`) now if none of ``futures`` still runs, else
        when the last one finishes (:meth:`task_drained`). Releasing twice is harmless."""
        outstanding = {future for future in futures if not future.done()}
        if outstanding:
            self._draining[job_id] = outstanding
            return
        self._draining.pop(job_id, None)
        self.release(job_id)

    def discard_quietly(self, job_id: str, futures: Iterable[TaskFuture]) -> None:
        """:meth:`discard_when_idle` for a job that failed: a release that fails too (a
        failing store, files that stay) is logged; the next start sweeps what remains."""
        try:
            self.discard_when_idle(job_id, futures)
        except Exception as exc:  # noqa: BLE001 - the job has failed already
            log.warning("job %s: its inputs could not be released: %s", job_id, exc)

    def draining(self, job_id: str) -> set[TaskFuture]:
        """The tasks of a failed job that still run (empty if none)."""
        return self._draining.get(job_id, set())

    def task_drained(self, job_id: str, future: TaskFuture) -> None:
        """A task of a job that is no longer active finished."""
        outstanding = self._draining.get(job_id)
        if outstanding is None:
            return
        outstanding.discard(future)
        if not outstanding:
            del self._draining[job_id]
            self.release(job_id)


def keys_digest_of(record: JobRecord | None) -> str:
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
    "IDLE_KEYS_TTL_S",
    "RETENTION_DELETED",
    "RETENTION_KEYS_RETAINED",
    "DeletionFailedError",
    "Retention",
    "keys_digest_of",
]
