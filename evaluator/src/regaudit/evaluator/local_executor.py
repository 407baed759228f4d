"""The default executor: worker processes on this machine (:mod:`~regaudit.evaluator.worker_pool`).

Workers read their inputs from the daemon's store and write partials and outputs into it
(``workers``). A worker that dies fails nothing but its own task's attempt: it is replaced and
that task is retried once on the new worker (``worker_pool.MAX_TASK_ATTEMPTS``); only a task whose
workers die on every attempt fails its job, with reason ``worker_crashed``.
"""

from __future__ import annotations

import os
from concurrent.futures import Future

from regaudit.evaluator.tasks import BatchResult, BatchTask, FinalizeResult, FinalizeTask
from regaudit.evaluator.worker_pool import WorkerPool
from regaudit.evaluator.workers import evaluate_batch, finalize_job


class LocalExecutor:
    """Worker processes on this machine, one task each at a time; a dead worker is replaced
    and only its task retried.

    Create it before any gRPC server exists: workers are spawned (and warmed up) here.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = WorkerPool(self.workers)

    def submit_batch(self, task: BatchTask) -> Future[BatchResult]:
        return self._pool.submit(evaluate_batch, task)

    def submit_finalize(self, task: FinalizeTask) -> Future[FinalizeResult]:
        return self._pool.submit(finalize_job, task)

    def worker_pids(self) -> list[int]:
        return self._pool.worker_pids()

    @property
    def worker_deaths(self) -> int:
        """Worker processes that died since the daemon started."""
        return self._pool.deaths

    def forget_keys(self, digest: str) -> None:
        """Nothing to do: local workers read keys from the daemon's store (now deleted) and
        keep at most ``worker_keys.KEY_CACHE_SIZE`` loaded sets in memory, replaced by newer
        jobs' keys."""

    def shutdown(self) -> None:
        self._pool.shutdown()


__all__ = ["LocalExecutor"]
