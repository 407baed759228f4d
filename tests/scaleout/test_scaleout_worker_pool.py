"""The evaluator's worker pool: one worker's death touches one task only.

Real spawned processes and real SIGKILLs: a killed worker is replaced and only its task is
retried (and succeeds); a task that kills its worker on every attempt fails with
``worker_crashed``; tasks on other workers never notice; shutdown leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest
from support.pool_tasks import fail, kill_own_worker, pid_then_sleep

from regaudit.evaluator.worker_pool import MAX_TASK_ATTEMPTS, WorkerCrashedError, WorkerPool


def _pid_in(path: Path, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"no pid written to {path}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not yet reaped counts as gone
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(2)
    yield pool
    pool.shutdown()


def test_tasks_run_and_ordinary_failures_come_back_typed(pool: WorkerPool, tmp_path: Path) -> None:
    done = pool.submit(pid_then_sleep, (str(tmp_path / "a"), 0.0, 7))
    value, pid = done.result(timeout=60)
    assert value == 7 and pid in pool.worker_pids()
    failed = pool.submit(fail, "no such column")
    with pytest.raises(ValueError, match="no such column"):
        failed.result(timeout=60)


def test_a_killed_worker_fails_no_task_and_its_own_is_retried(
    pool: WorkerPool, tmp_path: Path
) -> None:
    deaths = pool.deaths
    victim_file, other_file = tmp_path / "victim", tmp_path / "other"
    victim = pool.submit(pid_then_sleep, (str(victim_file), 3.0, 1))
    other = pool.submit(pid_then_sleep, (str(other_file), 3.0, 2))
    victim_pid, other_pid = _pid_in(victim_file), _pid_in(other_file)
    assert victim_pid != other_pid  # two workers, one task each
    victim_file.unlink()
    os.kill(victim_pid, signal.SIGKILL)
    # the task is retried on a fresh worker: it writes the new pid and succeeds
    retried_pid = _pid_in(victim_file)
    assert retried_pid not in (victim_pid, other_pid)
    assert victim.result(timeout=60) == (1, retried_pid)
    assert other.result(timeout=60) == (2, other_pid)  # the other worker's task never noticed
    assert pool.deaths == deaths + 1
    assert sorted(pool.worker_pids()) == sorted([retried_pid, other_pid])
    assert not _alive(victim_pid)


def test_a_task_that_kills_every_worker_fails_worker_crashed_alone(
    pool: WorkerPool, tmp_path: Path
) -> None:
    deaths = pool.deaths
    poison = pool.submit(kill_own_worker, None)
    bystander = pool.submit(pid_then_sleep, (str(tmp_path / "b"), 1.0, 3))
    wait([poison, bystander], timeout=120)
    with pytest.raises(WorkerCrashedError) as info:
        poison.result()
    assert info.value.reason == "worker_crashed"
    assert f"each of {MAX_TASK_ATTEMPTS} attempts" in str(info.value)
    assert bystander.result()[0] == 3
    assert pool.deaths == deaths + MAX_TASK_ATTEMPTS
    # the pool still serves on all its workers
    results = [pool.submit(pid_then_sleep, (str(tmp_path / f"n{i}"), 0.0, i)) for i in range(4)]
    assert [f.result(timeout=60)[0] for f in results] == [0, 1, 2, 3]
    assert len(pool.worker_pids()) == 2


def test_a_cancelled_queued_task_never_runs(pool: WorkerPool, tmp_path: Path) -> None:
    busy = [pool.submit(pid_then_sleep, (str(tmp_path / f"busy{i}"), 1.5, i)) for i in range(2)]
    queued = pool.submit(pid_then_sleep, (str(tmp_path / "queued"), 0.0, 9))
    assert queued.cancel()
    wait(busy, timeout=60)
    time.sleep(0.5)
    assert not (tmp_path / "queued").exists()


def test_shutdown_stops_every_worker_and_refuses_new_tasks(tmp_path: Path) -> None:
    pool = WorkerPool(1)
    running = pool.submit(pid_then_sleep, (str(tmp_path / "r"), 30.0, 1))
    pid = _pid_in(tmp_path / "r")
    started = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - started < 15
    assert not _alive(pid)
    assert running.done() and running.exception() is not None
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(pid_then_sleep, (str(tmp_path / "x"), 0.0, 1))
