"""The job runner's in-memory state: the jobs being received or evaluated, and its logs.

Job state lives in the store; what is here is only what a running daemon needs on top of it
(which batches were dispatched, what they returned, the futures of running tasks) and is
rebuilt from the store when a restarted daemon re-queues its jobs. Every part of the runner
(``jobs``, ``evaluation``, ``failures``, ``retention``) reads and writes it with
:attr:`JobTable.lock` held.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeAlias

from regaudit.evaluator.checks import Expectations, expectations
from regaudit.evaluator.store import JobRecord, KeyRecord
from regaudit.evaluator.tasks import BatchResult, FinalizeResult
from regaudit.shared.circuits.base import Plan
from regaudit.shared.protocol import JobHeader

#: Chunks evaluated by one worker task (bounds worker memory; 8 chunks x columns ciphertexts).
BATCH_CHUNKS = 8
#: Entries kept in the in-memory measurement logs.
EVENT_LOG_SIZE = 10_000

#: A running task of a job: a batch or its finalization.
TaskFuture: TypeAlias = "Future[BatchResult] | Future[FinalizeResult]"


@dataclass
class ActiveJob:
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
    futures: list[TaskFuture] = field(default_factory=list)
    #: what every task must return (computed by the daemon from the plan, on first use)
    expected: Expectations | None = None

    @property
    def n_batches(self) -> int:
        return -(-self.plan.n_chunks // BATCH_CHUNKS)

    def expectations(self) -> Expectations:
        if self.expected is None:
            self.expected = expectations(self.plan, self.header.public_inputs)
        return self.expected


class JobTable:
    """The active jobs and the measurement logs, guarded by :attr:`lock`; :attr:`changed` is
    notified whenever a job's progress may have changed."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.active: dict[str, ActiveJob] = {}
        #: set when the daemon stops: nothing more is dispatched or recorded
        self.stopping = False
        #: per-batch evaluation seconds (for measurements and logs)
        self.batch_seconds: deque[tuple[int, float]] = deque(maxlen=EVENT_LOG_SIZE)
        #: (job id, event, monotonic time): "dispatch", "upload_finished", "finalize"
        self.events: deque[tuple[str, str, float]] = deque(maxlen=EVENT_LOG_SIZE)

    def event(self, job_id: str, name: str) -> None:
        """Log a pipeline event of ``job_id`` (``events``) at the current monotonic time."""
        self.events.append((job_id, name, time.monotonic()))


__all__ = ["BATCH_CHUNKS", "EVENT_LOG_SIZE", "ActiveJob", "JobTable", "TaskFuture"]
