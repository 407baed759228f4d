"""A pool of ``spawn`` worker processes in which one worker's death touches one task only.

:class:`concurrent.futures.ProcessPoolExecutor` treats any dead worker as a broken pool: every
pending future fails, so one ``kill -9`` (or one OOM kill) fails every job evaluating at the
time. Here each worker process has its own *slot*: a thread in the daemon that spawns the
process, hands it one task at a time over a private pipe and waits for the result or the
process's death. A death touches only the task that slot was running:

1. the slot spawns a fresh worker (warmed up: SEAL and every circuit imported, custody checked);
2. it runs the same task again on the new worker -- evaluation is deterministic, so a retry
   yields the bytes the first attempt would have -- up to :data:`MAX_TASK_ATTEMPTS` attempts;
3. a task whose workers die on every attempt fails with :class:`WorkerCrashedError` (reason
   ``worker_crashed``); its job fails, every other task goes on.

Every worker dies with the daemon: a worker asks Linux for ``SIGKILL`` when the *thread* that
spawned it exits (``die_with_parent``), and each worker is spawned by its slot's thread, which
lives as long as the pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from regaudit.evaluator.logs import log_event
from regaudit.evaluator.workers import WorkerFailure, initialize_worker, warm_up
from regaudit.shared.errors import EXIT_EVALUATOR_FAILED, RegauditError

log = logging.getLogger("regaudit.evaluator.executors")

Task = TypeVar("Task")
Result = TypeVar("Result")

#: Attempts at one task before its job fails ``worker_crashed`` (a retry runs on a new worker).
MAX_TASK_ATTEMPTS = 2
#: How long a new worker may take to import SEAL and the circuits (seconds).
WARM_UP_TIMEOUT_S = 120.0
#: How often a slot waiting on its worker looks at the pool's stop flag (seconds).
POLL_S = 0.5
#: How long shutdown waits for a worker to exit after SIGTERM before SIGKILL (seconds).
STOP_WAIT_S = 5.0


class WorkerCrashedError(RegauditError):
    """A worker process died while running a task, on every attempt: the task's job fails;
    the daemon and every other job go on."""

    reason = "worker_crashed"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INTERNAL"


class PoolStoppedError(RegauditError):
    """The pool was shut down before the task ran to its end."""

    reason = "evaluator_stopping"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "UNAVAILABLE"


@dataclass(eq=False)
class _Work(Generic[Task, Result]):
    fn: Callable[[Task], Result]
    task: Task
    future: Future[Result] = field(default_factory=Future)
    attempts: int = 0


class _Died(Exception):
    """The slot's worker process died (or its pipe broke) while it held a task."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(exitcode)
        self.exitcode = exitcode


def _serve(conn: Connection, parent_pid: int) -> None:  # pragma: no cover - runs in a worker
    """A worker's life: die with the parent, warm up, then run (fn, task) pairs until the pipe
    closes. Every outcome is sent back; an exception that cannot be pickled is sent as a
    :class:`WorkerFailure`."""
    initialize_worker(parent_pid)
    # Ctrl-C in a terminal reaches the whole process group: the daemon decides, not the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(("ready", warm_up()))
    while True:
        try:
            fn, task = conn.recv()
        except (EOFError, OSError):
            return
        try:
            outcome: tuple[str, object] = ("ok", fn(task))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the daemon
            outcome = ("error", exc)
        try:
            conn.send(outcome)
        except Exception as exc:  # noqa: BLE001 - e.g. an exception that cannot be pickled
            failure = WorkerFailure("evaluation_failed", repr(exc), "RegauditError")
            conn.send(("error", failure))


class _Slot(threading.Thread):
    """One worker process and the daemon thread that feeds it (see the module docstring)."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        super().__init__(name=f"regaudit-worker-slot-{index}", daemon=True)
        self.pool = pool
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.ready = threading.Event()
        self.failed: BaseException | None = None

    # --- the worker process ---------------------------------------------------------------

    def _spawn(self) -> None:
        """Start a worker and wait until it has warmed up (_Died if it dies first)."""
        parent, child = multiprocessing.Pipe(duplex=True)
        process = self.pool.context.Process(
            target=_serve, args=(child, os.getpid()), name=f"{self.name}-worker", daemon=True
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent
        kind, value = self._receive(timeout=WARM_UP_TIMEOUT_S)
        if kind != "ready":  # pragma: no cover - warm_up raised (e.g. custody_violation)
            raise value if isinstance(value, BaseException) else RuntimeError(repr(value))

    def _receive(self, *, timeout: float | None = None) -> tuple[str, Any]:
        """The worker's next message; _Died when it dies first, PoolStoppedError on stop."""
        assert self.process is not None and self.conn is not None
        waited = 0.0
        while True:
            ready = wait([self.conn, self.process.sentinel], timeout=POLL_S)
            if self.conn in ready or self.conn.poll():
                try:
                    message: tuple[str, Any] = self.conn.recv()
                except (EOFError, OSError):
                    raise _Died(self._reap()) from None
                return message
            if ready:  # the sentinel: the process is gone and sent nothing
                raise _Died(self._reap())
            if self.pool.stopping.is_set():
                raise PoolStoppedError("the evaluator is stopping")
            waited += POLL_S
            if timeout is not None and waited >= timeout:
                self._kill()
                raise _Died(self._reap())

    def _reap(self) -> int | None:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        process.join(timeout=STOP_WAIT_S)
        return process.exitcode

    def _kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    def stop_worker(self) -> None:
        """Terminate this slot's worker (pool shutdown)."""
        process = self.process
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(timeout=STOP_WAIT_S)
        if process.is_alive():
            process.kill()
            process.join(timeout=STOP_WAIT_S)

    # --- the slot's loop ------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._spawn()
        except BaseException as exc:  # noqa: BLE001 - reported to the pool's constructor
            self.failed = exc
            self.ready.set()
            return
        self.ready.set()
        while not self.pool.stopping.is_set():
            try:
                work: _Work[Any, Any] | None = self.pool.work.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if work is None:
                break
            if work.future.set_running_or_notify_cancel():
                self._run(work)
        self._reap_quietly()

    def _reap_quietly(self) -> None:
        self.stop_worker()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _run(self, work: _Work[Any, Any]) -> None:
        """Run ``work`` to an outcome on this slot's worker, respawning it after a death."""
        while True:
            work.attempts += 1
            try:
                if self.process is None:
                    self._spawn()
                assert self.conn is not None
                self.conn.send((work.fn, work.task))
                kind, value = self._receive()
            except _Died as died:
                self._on_death(work, died.exitcode)
                if work.future.done():
                    return
                continue
            except PoolStoppedError as exc:
                work.future.set_exception(exc)
                return
            except BaseException as exc:  # noqa: BLE001 - e.g. a task that cannot be pickled
                work.future.set_exception(exc)
                return
            if kind == "ok":
                work.future.set_result(value)
            else:
                work.future.set_exception(value)
            return

    def _on_death(self, work: _Work[Any, Any], exitcode: int | None) -> None:
        job_id = str(getattr(work.task, "job_id", ""))
        retry = work.attempts < MAX_TASK_ATTEMPTS and not self.pool.stopping.is_set()
        log_event(
            "worker_died",
            logging.WARNING,
            job_id=job_id,
            exit_code=exitcode,
            attempt=work.attempts,
            retried=retry,
        )
        self.pool.deaths += 1
        if self.pool.stopping.is_set():
            work.future.set_exception(PoolStoppedError("the evaluator is stopping"))
        elif not retry:
            work.future.set_exception(
                WorkerCrashedError(
                    f"a worker process died (exit code {exitcode}) on each of "
                    f"{work.attempts} attempts at this job's task"
                )
            )


class WorkerPool:
    """``workers`` spawned worker processes, each fed by its own slot thread; a dead worker
    is replaced and only its task is retried (see the module docstring).

    Create it before any gRPC server exists: the workers are spawned (and warmed up) here.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.context = multiprocessing.get_context("spawn")
        self.stopping = threading.Event()
        self.work: queue.SimpleQueue[_Work[Any, Any] | None] = queue.SimpleQueue()
        #: worker deaths seen since the pool started (for tests and metrics)
        self.deaths = 0
        self._slots = [_Slot(self, index) for index in range(workers)]
        for slot in self._slots:
            slot.start()
        for slot in self._slots:
            slot.ready.wait()
        failures = [slot.failed for slot in self._slots if slot.failed is not None]
        if failures:
            self.shutdown()
            raise failures[0]

    def submit(self, fn: Callable[[Task], Result], task: Task) -> Future[Result]:
        """Queue ``fn(task)`` for the next free worker (``fn`` must be importable by name).
        RuntimeError after :meth:`shutdown`, as :class:`concurrent.futures.Executor` raises."""
        if self.stopping.is_set():
            raise RuntimeError("cannot schedule new tasks after shutdown")
        work: _Work[Task, Result] = _Work(fn, task)
        self.work.put(work)
        return work.future

    def worker_pids(self) -> list[int]:
        """The pids of the live worker processes."""
        return [
            process.pid
            for process in (slot.process for slot in self._slots)
            if process is not None and process.pid is not None
        ]

    def shutdown(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL); queued and running tasks fail
        :class:`PoolStoppedError`."""
        self.stopping.set()
        for _ in self._slots:
            self.work.put(None)
        for slot in self._slots:
            slot.stop_worker()
        for slot in self._slots:
            if slot.is_alive():
                slot.join(timeout=STOP_WAIT_S + POLL_S)
        while True:
            try:
                work = self.work.get_nowait()
            except queue.Empty:
                break
            if work is not None and work.future.set_running_or_notify_cancel():
                work.future.set_exception(PoolStoppedError("the evaluator is stopping"))


__all__ = [
    "MAX_TASK_ATTEMPTS",
    "PoolStoppedError",
    "WorkerCrashedError",
    "WorkerPool",
]
