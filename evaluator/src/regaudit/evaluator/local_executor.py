"""The default executor: a ``spawn`` process pool of worker processes on this machine.

Workers read their inputs from the daemon's store and write partials and outputs into it
(``workers``); a broken pool (a worker died) is replaced on the next submit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import TypeVar

from regaudit.evaluator.tasks import BatchResult, BatchTask, FinalizeResult, FinalizeTask
from regaudit.evaluator.workers import evaluate_batch, finalize_job, initialize_worker, warm_up

log = logging.getLogger("regaudit.evaluator.executors")

Task = TypeVar("Task")
Result = TypeVar("Result")


class LocalExecutor:
    """A ``spawn`` process pool on this machine; a broken pool is replaced on the next submit.

    Create it before any gRPC server exists: workers are spawned eagerly here.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # every worker dies with the daemon, even one killed with SIGKILL (Linux); the warm-up
        # below spawns all of them from this thread, as a parent-death signal is tied to it
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=initialize_worker,
            initargs=(os.getpid(),),
        )
        # one warm-up task per worker; they finish only once every process has imported SEAL
        for future in [pool.submit(warm_up) for _ in range(self.workers * 2)]:
            future.result()
        return pool

    def _submit(self, fn: Callable[[Task], Result], task: Task) -> Future[Result]:
        with self._lock:
            try:
                return self._pool.submit(fn, task)
            except BrokenProcessPool:
                log.error("worker pool broken; starting a new one")
                self._pool.shutdown(wait=False, cancel_futures=False)
                self._pool = self._new_pool()
                return self._pool.submit(fn, task)

    def submit_batch(self, task: BatchTask) -> Future[BatchResult]:
        return self._submit(evaluate_batch, task)

    def submit_finalize(self, task: FinalizeTask) -> Future[FinalizeResult]:
        return self._submit(finalize_job, task)

    def worker_pids(self) -> list[int]:
        return [p.pid for p in _processes(self._pool) if p.pid is not None]

    def forget_keys(self, digest: str) -> None:
        """Nothing to do: local workers read keys from the daemon's store (now deleted) and
        keep at most ``worker_keys.KEY_CACHE_SIZE`` loaded sets in memory, replaced by newer
        jobs' keys; a process pool cannot address each of its processes."""

    def shutdown(self) -> None:
        pool = self._pool
        pool.shutdown(wait=False, cancel_futures=True)
        for process in _processes(pool):
            process.terminate()
        for process in _processes(pool):
            process.join(timeout=5)


def _processes(pool: ProcessPoolExecutor) -> list[BaseProcess]:
    """The pool's current worker processes (a private attribute of the pool; empty once it
    has been shut down)."""
    processes: dict[int, BaseProcess] | None = getattr(pool, "_processes", None)
    return list((processes or {}).values())


__all__ = ["LocalExecutor"]
