"""The client resumes by itself (issue 14): real daemons, real client processes, real SQLite.

* kill -9 of the daemon while the client uploads, then a restart on the same port and store:
  the same client process reconnects (``reconnecting (attempt N)``), resubmits the same signed
  header under the same idempotency key, uploads the evaluation keys again only because the
  daemon lacks them, finishes the audit, and the regulator verifies the bundle; one job of the
  store holds a receipt;
* a connection dropped (by a loopback TCP relay) while the client watches: it reconnects and
  finishes; one receipt.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import ROOT
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import FairnessJob, fairness_payload
from support.parties import Identities, make_identities
from support.signing import connect

from regaudit.client.reconnect import (
    RECONNECT_FACTOR,
    RECONNECT_INITIAL_S,
    RECONNECT_JITTER,
    RECONNECT_MAX_S,
    backoff_delay,
    is_transient,
)
from regaudit.client.transport import UploadState
from regaudit.evaluator.resumption import RESUME_WINDOW_S
from regaudit.evaluator.server import EvaluatorServer
from regaudit.shared.errors import ProtocolError, RemoteError
from regaudit.shared.evidence.canonical import sha256_digest
from regaudit.shared.evidence.statements import input_manifest_digest
from regaudit.shared.protocol import JobHeader, JobState

#: Rows of the test's audit: enough ciphertexts that the upload can be interrupted midway.
ROWS = 60_000
#: How often the test polls the store (seconds).
POLL_S = 0.01


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(store: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the daemon's store read-only (WAL allows a reader beside the daemon)."""
    try:
        with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
            return list(db.execute(sql).fetchall())
    except sqlite3.OperationalError:
        return []


def _wait_for(predicate: Callable[[], bool], client: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        if client.poll() is not None:
            pytest.fail(f"the client exited ({client.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def _start_client(ids: Identities, address: str, root: Path) -> subprocess.Popen[str]:
    input_file = root / "input.json"
    input_file.write_text(json.dumps(fairness_payload(ROWS, seed=14)))
    command = [
        sys.executable, "-m", "regaudit.client", "audit", "fairness",
        "--input", str(input_file), "--evaluator", address,
        "--regulator-card", str(ids.card), "--identity", str(ids.client),
        "--out", str(root / "bundle.json"), "--profile", "ckks-n8192-d3-v1",
        "--idempotency-key", "resume-test", "--workers", "1", "--timeout", "120",
        *ids.pins,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(client: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = client.communicate(timeout=120)
    return client.returncode, out + err


def _verify(ids: Identities, root: Path) -> None:
    command = [
        sys.executable, "-m", "regaudit.regulator", "verify", str(root / "bundle.json"),
        "--identity", str(ids.regulator), "--trust", str(ids.trust), "--json",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _receipts(store: Path) -> int:
    return int(_query(store, "SELECT COUNT(*) FROM jobs WHERE receipt IS NOT NULL")[0][0])


def test_client_resumes_after_daemon_killed_during_upload(tmp_path: Path) -> None:
    ids = make_identities(tmp_path / "ids")
    store = tmp_path / "store"
    listen = f"127.0.0.1:{_free_port()}"
    daemon, address = start_evaluator(ids.evaluator, store, "--listen", listen)
    assert address == listen
    client = _start_client(ids, address, tmp_path)
    try:
        received = "SELECT COUNT(*) FROM ciphertexts"
        _wait_for(
            lambda: bool(rows := _query(store, received)) and int(str(rows[0][0])) >= 3,
            client,
            "the upload started",
        )
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        [(job_id, state)] = _query(store, "SELECT id, state FROM jobs")
        assert state == "RECEIVING"  # killed mid-upload
        time.sleep(0.5)  # the client sees the daemon gone and starts reconnecting
        daemon, address = start_evaluator(ids.evaluator, store, "--listen", listen)
        code, output = _finish(client)
        assert code == 0, output
        assert "reconnecting (attempt 1)" in output
        # the same job, resumed after the ciphertexts the daemon held: not uploaded again
        assert re.search(r"resuming the upload of job \S+ after [1-9]\d* ciphertexts", output)
        assert "uploading them again" not in output  # the keys stayed
        _verify(ids, tmp_path)
        assert _receipts(store) == 1
        assert [tuple(r) for r in _query(store, "SELECT id, state FROM jobs")] == [
            (job_id, "SUCCEEDED")
        ]
    finally:
        if client.poll() is None:
            client.kill()
        stop_evaluator(daemon)


class _Relay:
    """A loopback TCP relay to ``upstream`` whose connections the test can cut."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.refuse_until = 0.0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refuse_until:
                downstream.close()
                continue
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self, refuse_s: float) -> None:
        """Cut every connection and refuse new ones for ``refuse_s`` seconds."""
        self.refuse_until = time.monotonic() + refuse_s
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def close(self) -> None:
        self.listener.close()


def test_client_resumes_a_dropped_watch(tmp_path: Path) -> None:
    ids = make_identities(tmp_path / "ids")
    store = tmp_path / "store"
    daemon, address = start_evaluator(ids.evaluator, store)
    host, _, port = address.rpartition(":")
    relay = _Relay((host, int(port)))
    client = _start_client(ids, relay.address, tmp_path)
    try:
        _wait_for(
            lambda: [s for (s,) in _query(store, "SELECT state FROM jobs")] == ["RUNNING"],
            client,
            "the upload finished",
        )
        relay.cut(refuse_s=1.0)
        code, output = _finish(client)
        assert code == 0, output
        assert "reconnecting (attempt 1)" in output
        _verify(ids, tmp_path)
        assert _receipts(store) == 1
    finally:
        if client.poll() is None:
            client.kill()
        relay.close()
        stop_evaluator(daemon)


def test_client_resumes_an_upload_whose_connection_dropped(tmp_path: Path) -> None:
    ids = make_identities(tmp_path / "ids")
    store = tmp_path / "store"
    daemon, address = start_evaluator(ids.evaluator, store)
    host, _, port = address.rpartition(":")
    relay = _Relay((host, int(port)))
    client = _start_client(ids, relay.address, tmp_path)
    try:
        received = "SELECT COUNT(*) FROM ciphertexts"
        _wait_for(
            lambda: bool(rows := _query(store, received)) and int(str(rows[0][0])) >= 3,
            client,
            "the upload started",
        )
        relay.cut(refuse_s=0.5)
        code, output = _finish(client)
        assert code == 0, output
        assert "reconnecting (attempt 1)" in output
        assert re.search(r"resuming the upload of job \S+ after [1-9]\d* ciphertexts", output)
        _verify(ids, tmp_path)
        assert _receipts(store) == 1
        assert [s for (s,) in _query(store, "SELECT state FROM jobs")] == ["SUCCEEDED"]
    finally:
        if client.poll() is None:
            client.kill()
        relay.close()
        stop_evaluator(daemon)


# --- the wire: GetUploadState, a resumed SubmitJob, a duplicate of a held ciphertext ----------

#: Ciphertexts sent before the test breaks its own upload.
SENT_BEFORE_BREAK = 4


def _interrupted_upload(job: FairnessJob, address: str) -> tuple[JobHeader, UploadState]:
    """Send the header and SENT_BEFORE_BREAK ciphertexts, then close the channel under the
    open stream (the daemon sees it cancelled) and wait until the daemon has failed the job
    ``upload_incomplete``; returns the header and the upload state."""
    release = threading.Event()

    def stalled() -> Iterator[tuple[str, int, bytes]]:
        yield from job.ciphertexts[:SENT_BEFORE_BREAK]
        release.wait(30)

    header = job.header()
    uploader = connect(address)
    uploader.upload_evaluation_keys(job.keys.evaluation_keys())
    failures: list[BaseException] = []

    def submit() -> None:
        try:
            uploader.submit_job(header, stalled())
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            failures.append(exc)

    thread = threading.Thread(target=submit)
    thread.start()
    with connect(address) as connection:
        deadline = time.monotonic() + 30
        while connection.upload_state(job.idempotency_key).ciphertexts_held < SENT_BEFORE_BREAK:
            assert time.monotonic() < deadline, "the daemon did not receive the first ciphertexts"
            time.sleep(POLL_S)
        uploader.close()  # the connection drops under the open stream
        release.set()
        thread.join(30)
        assert failures, "the interrupted upload did not fail"
        while True:
            state = connection.upload_state(job.idempotency_key)
            if state.state is JobState.FAILED or time.monotonic() > deadline:
                return header, state
            time.sleep(POLL_S)


@pytest.fixture(scope="module")
def resume_job() -> FairnessJob:
    return FairnessJob(rows=9000, seed=21)


def test_upload_state_then_resumed_submit(address: str, resume_job: FairnessJob) -> None:
    header, state = _interrupted_upload(resume_job, address)
    assert state.found and state.resumable
    assert state.ciphertexts_held == SENT_BEFORE_BREAK
    assert state.header_digest == header.digest
    assert state.held_digests == tuple(
        sha256_digest(data) for _column, _chunk, data in resume_job.ciphertexts[:SENT_BEFORE_BREAK]
    )
    with connect(address) as connection:
        unknown = connection.upload_state("no-such-key")
        assert not unknown.found and unknown.state is None
        accepted = connection.submit_job(header, iter(resume_job.ciphertexts[SENT_BEFORE_BREAK:]))
        assert accepted.job_id == state.job_id and not accepted.deduplicated
        final = connection.wait_for_job(accepted.job_id)
        assert final.state is JobState.SUCCEEDED
        result = connection.fetch_result(accepted.job_id)
    # the receipt attests every ciphertext: the held ones and the resumed ones
    statement = json.loads(base64.b64decode(result.receipt_envelope["payload"]))
    assert statement["predicate"]["inputs_manifest_digest"] == input_manifest_digest(
        (column, chunk, sha256_digest(data)) for column, chunk, data in resume_job.ciphertexts
    )


def test_a_held_ciphertext_sent_again_is_refused(address: str) -> None:
    job = FairnessJob(rows=9000, seed=22)
    header, state = _interrupted_upload(job, address)
    assert state.ciphertexts_held == SENT_BEFORE_BREAK
    with connect(address) as connection:
        with pytest.raises(ProtocolError) as caught:
            connection.submit_job(header, iter(job.ciphertexts))
        assert caught.value.grpc_code == "INVALID_ARGUMENT"
        assert "duplicate" in caught.value.message
        # the daemon keeps serving
        assert connection.capabilities().protocol_version


def test_reconnection_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(14)  # noqa: S311 - reproducible jitter, not cryptography
    for attempt in range(1, 20):
        base = min(RECONNECT_MAX_S, RECONNECT_INITIAL_S * RECONNECT_FACTOR ** (attempt - 1))
        delay = backoff_delay(attempt, rng)
        assert base * (1 - RECONNECT_JITTER) <= delay <= base * (1 + RECONNECT_JITTER)
    assert backoff_delay(50, rng) <= RECONNECT_MAX_S * (1 + RECONNECT_JITTER)
    assert is_transient(
        RemoteError("gone", code="UNAVAILABLE").from_remote(grpc_code="UNAVAILABLE")
    )
    assert not is_transient(ProtocolError("bad").from_remote(grpc_code="INVALID_ARGUMENT"))
    assert not is_transient(ProtocolError("local"))


def test_an_interrupted_upload_past_its_window_loses_its_inputs(
    server: EvaluatorServer, address: str
) -> None:
    """Resumption keeps an interrupted upload's ciphertexts only for RESUME_WINDOW_S: the running
    daemon's collector then deletes them (no restart needed), and the job cannot resume."""
    job = FairnessJob(rows=9000, seed=23)
    _header, state = _interrupted_upload(job, address)
    inputs = server.store.job_dir(state.job_id) / "inputs"
    assert any(inputs.iterdir())  # held for resumption
    # within the window nothing goes
    assert state.job_id not in server.manager.release_stale_uploads()
    assert any(inputs.iterdir())
    # past it, the inputs go (what the collector runs every STALE_UPLOAD_CHECK_S)
    released = server.manager.release_stale_uploads(now=time.time() + RESUME_WINDOW_S + 1.0)
    assert state.job_id in released
    assert not inputs.exists() or not any(inputs.iterdir())
    with connect(address) as connection:
        assert connection.capabilities().protocol_version  # still serving
