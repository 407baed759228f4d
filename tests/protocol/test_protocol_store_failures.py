"""A failing store never hangs a job, and a full disk is a status the client can act on.

A real in-process daemon (real gRPC on port 0, real SEAL workers, real SQLite) whose store is
made to fail on purpose:

* SQLite "disk I/O error" in the worker callbacks while a job runs: the job fails with reason
  ``store_failed`` (recorded if the store still can, else held in memory), the client's wait ends
  with that failure instead of hanging, GetResult answers with an error, the daemon keeps serving,
  and a failure the store could not record is re-queued by the next start;
* no space left (ENOSPC) while an input ciphertext or the evaluation keys are written: the call
  answers RESOURCE_EXHAUSTED with reason ``disk_full`` (exit code 3 on the client), the job
  fails with that reason, no temporary file is left, and the daemon keeps serving.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.signing import connect

from regaudit.client.remote import EvaluatorUnavailableError, remote_call
from regaudit.evaluator import store as store_module
from regaudit.evaluator.jobs import scoped_idempotency_key
from regaudit.evaluator.server import EvaluatorServer, create_server
from regaudit.evaluator.workers import _wrap
from regaudit.shared import errors
from regaudit.shared import files as files_module
from regaudit.shared.protocol import JobFailedError, JobState

#: Bound on every wait in this module (s): a hang fails the test instead of blocking it.
WAIT_S = 120.0


def _start(store: Path, identity: Any) -> tuple[EvaluatorServer, str]:
    daemon, port = create_server("127.0.0.1:0", identity=identity, store_path=store, workers=1)
    daemon.start()
    return daemon, f"127.0.0.1:{port}"


@pytest.fixture
def daemon(tmp_path: Path, evaluator_identity: Any) -> Iterator[tuple[EvaluatorServer, str]]:
    running, address = _start(tmp_path / "store", evaluator_identity)
    try:
        yield running, address
    finally:
        running.stop(grace=1.0)


def still_serving(address: str, proto: Any) -> None:
    proto.assert_serving(address)
    with connect(address) as connection:
        assert ("fairness", "1") in connection.capabilities().circuits


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(files_module.TEMP_PREFIX)]


def _disk_io_error() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("disk I/O error")


@pytest.mark.parametrize("recordable", [True, False], ids=["recorded", "held_in_memory"])
def test_store_failure_under_a_running_job_fails_it_and_the_daemon_keeps_serving(
    daemon: tuple[EvaluatorServer, str],
    small_case: Any,
    proto: Any,
    monkeypatch: pytest.MonkeyPatch,
    evaluator_identity: Any,
    recordable: bool,
) -> None:
    server, address = daemon
    store = server.store
    original = store.update_job
    failed_calls: list[dict[str, Any]] = []

    def update_job(job_id: str, **fields: Any) -> None:
        # the worker callback's progress update fails; so does recording the failure unless
        # the store is "recordable"
        evaluated = "chunks_evaluated" in fields and "state" not in fields
        failing = fields.get("state") is JobState.FAILED and not recordable
        if evaluated or failing:
            failed_calls.append(fields)
            raise _disk_io_error()
        original(job_id, **fields)

    monkeypatch.setattr(store, "update_job", update_job)
    header = small_case.header()
    with connect(address) as connection:
        connection.upload_evaluation_keys(small_case.keys.evaluation_keys())
        accepted = connection.submit_job(header, small_case.ciphertexts(header))
        job_id = accepted.job_id
        # (bounded: a job left RUNNING would end this wait with DEADLINE_EXCEEDED, not hang)
        with pytest.raises(JobFailedError) as info:
            connection.wait_for_job(job_id, timeout=WAIT_S)
        assert info.value.job_reason == "store_failed"
        assert "disk I/O error" in str(info.value)
        # the result is an error too, never a wait
        with pytest.raises(errors.RegauditError) as result_info:
            connection.fetch_result(job_id, timeout=30)
        assert "store_failed" in str(result_info.value)
    assert failed_calls
    still_serving(address, proto)

    record = store.get_job(job_id)
    assert record is not None
    if recordable:
        assert record.state is JobState.FAILED
        assert record.error_reason == "store_failed"
        assert server.manager.held_failure(job_id) is None
        return
    # the store could not record the failure: held in memory, the store still says RUNNING,
    # the job's inputs and keys stay for the next start
    assert record.state is JobState.RUNNING
    held = server.manager.held_failure(job_id)
    assert held is not None and held.error_reason == "store_failed"
    assert store.scratch_remains(job_id)
    # the next start re-queues it from the store (as after a crash) and it runs to the end
    monkeypatch.undo()
    root = store.root
    server.stop(grace=1.0)
    restarted, again = _start(root, evaluator_identity)
    try:
        with connect(again) as connection:
            final = connection.wait_for_job(job_id, timeout=WAIT_S)
        assert final.state is JobState.SUCCEEDED
        still_serving(again, proto)
    finally:
        restarted.stop(grace=1.0)


class _FullDisk:
    """``os`` for ``regaudit.shared.files`` whose writes of input ciphertexts (from the
    ``nth`` on) write half their bytes, then fail with ENOSPC."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.seen = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdopen(self, fd: int, mode: str) -> Any:
        handle = os.fdopen(fd, mode)
        if "/inputs/" not in os.readlink(f"/proc/self/fd/{fd}"):
            return handle
        self.seen += 1
        if self.seen < self.nth:
            return handle
        return _HalfWriter(handle)


class _HalfWriter:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_an_upload_is_resource_exhausted_and_leaves_nothing_half_written(
    daemon: tuple[EvaluatorServer, str],
    small_case: Any,
    proto: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, address = daemon
    root = server.store.root
    full = _FullDisk(nth=3)
    monkeypatch.setattr(files_module, "os", full)
    header = small_case.header()
    with connect(address) as connection:
        connection.upload_evaluation_keys(small_case.keys.evaluation_keys())
        with pytest.raises(errors.DiskFullError) as info:
            connection.submit_job(header, small_case.ciphertexts(header))
    error = info.value
    assert error.grpc_code == "RESOURCE_EXHAUSTED"
    assert error.reason == "disk_full"
    assert full.seen == 3
    # the client exits 3, like for every failure of the evaluator
    with pytest.raises(EvaluatorUnavailableError) as mapped:
        remote_call(lambda: (_ for _ in ()).throw(error), address)
    assert errors.exit_code_for(mapped.value) == errors.EXIT_EVALUATOR_FAILED == 3
    # the job failed with that reason; nothing half-written (or at all) of it is left
    record = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
    assert record is not None
    assert record.state is JobState.FAILED
    assert record.error_reason == "disk_full"
    assert temp_files(root) == []
    assert not server.store.scratch_remains(record.id)
    still_serving(address, proto)

    # space freed: the same submission is accepted again and runs to the end
    monkeypatch.undo()
    with connect(address) as connection:
        connection.upload_evaluation_keys(small_case.keys.evaluation_keys())
        accepted = connection.submit_job(header, small_case.ciphertexts(header))
        final = connection.wait_for_job(accepted.job_id, timeout=WAIT_S)
    assert final.state is JobState.SUCCEEDED


def test_disk_full_while_storing_evaluation_keys(
    daemon: tuple[EvaluatorServer, str],
    small_case: Any,
    proto: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, address = daemon
    root = server.store.root
    original = store_module.write_file_atomic

    def write_file_atomic(path: Any, data: bytes, **kwargs: Any) -> None:
        if Path(path).name == "meta.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(path, data, **kwargs)

    monkeypatch.setattr(store_module, "write_file_atomic", write_file_atomic)
    keys = small_case.keys.evaluation_keys()
    with connect(address) as connection:
        with pytest.raises(errors.DiskFullError) as info:
            connection.upload_evaluation_keys(keys, force=True)
        assert info.value.grpc_code == "RESOURCE_EXHAUSTED"
        assert not connection.has_evaluation_keys(keys.digest)
    # neither the upload's scratch nor a key directory without meta.json is left
    assert list((root / "tmp").iterdir()) == []
    assert not server.store.key_files_remain(keys.digest)
    assert temp_files(root) == []
    still_serving(address, proto)


def test_a_worker_that_cannot_write_for_a_full_disk_reports_disk_full() -> None:
    for code in (errno.ENOSPC, errno.EDQUOT):
        failure = _wrap(OSError(code, os.strerror(code)))
        assert failure.reason == "disk_full"
        assert failure.error_class == "DiskFullError"
    assert _wrap(OSError(errno.EIO, "I/O error")).reason == "evaluation_failed"
    assert errors.is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not errors.is_disk_full(_disk_io_error())
