"""The daemon as a real process (``python -m regaudit.evaluator``): CLI contract, graceful stop
with NOT_SERVING, jobs surviving a restart; and TLS / mutual TLS in-process."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.daemon import start_evaluator, stop_evaluator
from support.signing import CLIENT, connect

from regaudit.evaluator.jobs import scoped_idempotency_key
from regaudit.evaluator.server import EvaluatorStartError, create_server, wait_for_ready_file
from regaudit.shared.errors import ProtocolError
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import load_public_key_file
from regaudit.shared.evidence.statements import parse_receipt
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.protocol import SERVICE_NAME, JobFailedError, JobState, TlsOptions

PYTHON = sys.executable


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "regaudit.evaluator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def identity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("daemon") / "identity"
    result = cli("init", str(directory))
    assert result.returncode == 0, result.stderr
    assert (directory / "evaluator.pub.json").exists()
    return directory


def test_cli_init_and_usage_errors(identity_dir: Path, tmp_path: Path) -> None:
    record = json.loads((identity_dir / "evaluator.pub.json").read_text())
    assert record["kind"] == "evaluator"
    again = cli("init", str(identity_dir))  # refuses to overwrite
    assert again.returncode == 2
    assert cli("serve", "--listen", "127.0.0.1:0").returncode == 2  # missing --identity
    assert cli("serve", "--listen", "nonsense", "--identity", str(identity_dir)).returncode == 2
    refused = cli("serve", "--listen", "0.0.0.0:0", "--identity", str(identity_dir))
    assert refused.returncode == 2 and "TLS" in refused.stderr
    missing = cli("serve", "--listen", "127.0.0.1:0", "--identity", str(tmp_path / "none"))
    assert missing.returncode == 2
    assert cli("bogus-command").returncode == 2


def test_evaluator_runtime_never_loads_secret_key_code() -> None:
    probe = (
        "import sys, regaudit.evaluator.cli, regaudit.evaluator.server, "
        "regaudit.evaluator.workers, regaudit.evaluator.jobs, regaudit.evaluator.store\n"
        "bad = [m for m in sys.modules if m.startswith(('regaudit.secretkey', "
        "'regaudit.client', 'regaudit.regulator'))]\n"
        "assert not bad, bad\n"
        "assert 'regaudit.shared.ckks' in sys.modules\n"
    )
    result = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- --ready-file ---------------------------------------------------------------------------


def _serve(identity: Path, store: Path, ready: Path, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0",
         "--identity", str(identity), "--store", str(store), "--workers", "1", "--grace", "1",
         "--ready-file", str(ready)],
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        **popen,
    )  # fmt: skip


def test_ready_file_holds_the_serving_address_until_sigterm(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    ready, log = tmp_path / "evaluator.ready", tmp_path / "evaluator.log"
    with log.open("w") as output:
        process = _serve(identity_dir, tmp_path / "store", ready, stdout=output, stderr=output)
    try:
        address = wait_for_ready_file(ready, process=process, timeout=90, output=log)
        host, _, port = address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 1  # the bound port, not the requested 0
        assert ready.read_text() == f"{address}\n"
        proto.assert_serving(address)  # the health service answers at that address
        assert f"listening on {address}" in log.read_text().splitlines()  # kept for humans
        assert stop_evaluator(process, signal.SIGTERM) == 0
        assert not ready.exists()  # removed on graceful shutdown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_ready_file_in_a_missing_directory_is_a_usage_error(
    identity_dir: Path, tmp_path: Path
) -> None:
    result = cli(
        "serve", "--listen", "127.0.0.1:0", "--identity", str(identity_dir),
        "--store", str(tmp_path / "store"), "--ready-file", str(tmp_path / "missing" / "ready"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--ready-file" in result.stderr and str(tmp_path / "missing") in result.stderr
    assert not (tmp_path / "missing").exists()
    assert not (tmp_path / "store").exists()  # refused before anything started


def test_wait_for_ready_file_reports_a_daemon_that_died(tmp_path: Path) -> None:
    """No identity: ``serve`` exits 2 before it is ready; the waiter says so at once, with
    the exit code and the daemon's last lines (from its pipes, or from its log file)."""
    ready = tmp_path / "evaluator.ready"
    piped = _serve(
        tmp_path / "no-identity", tmp_path / "store", ready,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    with pytest.raises(EvaluatorStartError) as info:
        wait_for_ready_file(ready, process=piped, timeout=90)
    assert info.value.returncode == 2
    assert "exited with code 2" in str(info.value)
    assert "error:" in info.value.output and "error:" in str(info.value)
    log = tmp_path / "evaluator.log"
    with log.open("w") as output:
        logged = _serve(
            tmp_path / "no-identity", tmp_path / "store", ready, stdout=output, stderr=output
        )
    with pytest.raises(EvaluatorStartError) as info:
        wait_for_ready_file(ready, process=logged, timeout=90, output=log)
    assert info.value.returncode == 2
    assert info.value.output.strip() and info.value.output in log.read_text()
    assert not ready.exists()


# --- one daemon per port and per store ----------------------------------------------------------


def _serve_once(
    identity: Path, store: Path, ready: Path, listen: str
) -> subprocess.CompletedProcess[str]:
    """``serve`` expected to be refused (so it returns by itself)."""
    return cli(
        "serve", "--listen", listen, "--identity", str(identity), "--store", str(store),
        "--workers", "1", "--grace", "1", "--ready-file", str(ready),
        timeout=120,
    )  # fmt: skip


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (its workers and resource tracker), which a ``kill -9``
    of ``pid`` may leave running for a moment: the test ends them itself."""
    # every thread's children: each worker is spawned by its own slot thread in the daemon
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in children.read_text().split()]
    return found


def _end(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _is_worker(pid: int) -> bool:
    """Whether ``pid`` is a spawned multiprocessing worker (not the resource tracker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_workers_die_with_a_killed_daemon(identity_dir: Path, tmp_path: Path) -> None:
    """kill -9 of the daemon takes its worker processes with it: no orphans."""
    daemon, _address = start_evaluator(
        identity_dir, tmp_path / "store", "--workers", "2", "--grace", "1"
    )
    children = _children(daemon.pid)
    try:
        workers = [pid for pid in children if _is_worker(pid)]
        assert len(workers) == 2
        daemon.kill()
        assert daemon.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _running(pid)]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
        _end(children)


def test_a_second_serve_on_a_served_port_is_refused(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    """gRPC's SO_REUSEPORT is off: a second daemon on the same port exits 2, writes no ready
    file, and the first keeps serving."""
    first, address = start_evaluator(
        identity_dir, tmp_path / "first" / "store", "--workers", "1", "--grace", "1"
    )
    try:
        ready = tmp_path / "second.ready"
        second = _serve_once(identity_dir, tmp_path / "second" / "store", ready, address)
        assert second.returncode == 2, second.stderr
        assert f"address {address} is already in use" in second.stderr
        assert "listening" not in second.stdout
        assert not ready.exists()
        proto.assert_serving(address)
        with connect(address) as connection:
            assert connection.capabilities().server_version.startswith("regaudit-evaluator")
        assert first.poll() is None
        assert stop_evaluator(first) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)


def test_a_second_serve_on_a_store_in_use_is_refused(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    """The store is locked (flock on STORE/evaluator.lock, naming the holder's pid): a second
    daemon on another port exits 2 before it opens SQLite or touches a file of the store."""
    store = tmp_path / "store"
    first, address = start_evaluator(identity_dir, store, "--workers", "1", "--grace", "1")
    try:
        assert (store / "evaluator.lock").read_text() == f"{first.pid}\n"
        before = {path: path.stat().st_mtime_ns for path in store.rglob("*")}
        ready = tmp_path / "second.ready"
        second = _serve_once(identity_dir, store, ready, "127.0.0.1:0")
        assert second.returncode == 2, second.stderr
        assert f"store {store} is in use by another evaluator (pid {first.pid})" in second.stderr
        assert "listening" not in second.stdout
        assert not ready.exists()
        assert {path: path.stat().st_mtime_ns for path in store.rglob("*")} == before
        # ... nor the running daemon's ready file, even when given the same path
        first_ready = store.parent / f"{store.name}.ready"
        again = _serve_once(identity_dir, store, first_ready, "127.0.0.1:0")
        assert again.returncode == 2, again.stderr
        assert first_ready.read_text() == f"{address}\n"
        proto.assert_serving(address)
        with connect(address) as connection:
            assert connection.capabilities().protocol_version
        assert stop_evaluator(first) == 0
        assert (store / "evaluator.lock").read_text() == ""  # released on a graceful stop
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)


def test_the_store_of_a_killed_daemon_opens_again(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    """kill -9 leaves the lock file (with the dead pid) but the kernel drops the flock: the
    store opens again at once, and a new daemon on it serves and resumes its jobs."""
    from regaudit.evaluator.store import Store

    store = tmp_path / "store"
    first, _address = start_evaluator(identity_dir, store, "--workers", "1", "--grace", "1")
    orphans = _children(first.pid)
    try:
        first.kill()
        assert first.wait(timeout=30) == -signal.SIGKILL
        assert (store / "evaluator.lock").read_text() == f"{first.pid}\n"  # stale file stays
        # the lock is free: an interrupted upload is left for the next daemon to resume
        opened = Store(store)
        record, _ = opened.create_job(
            idempotency_key="interrupted", header_digest="sha256:" + "0" * 64, header=b"",
            n_chunks=1,
        )  # fmt: skip
        opened.close()
    finally:
        _end(orphans)
    second, address = start_evaluator(identity_dir, store, "--workers", "1", "--grace", "1")
    try:
        assert (store / "evaluator.lock").read_text() == f"{second.pid}\n"
        proto.assert_serving(address)
        state, _evaluated, _chunks = _job_state(store, record.id)
        assert state == "FAILED"  # resumed: the interrupted upload is failed, not left hanging
        assert stop_evaluator(second) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=30)


def _job_state(store: Path, job_id: str) -> tuple[str, int, int]:
    with sqlite3.connect(store / "jobs.sqlite3") as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        row = db.execute(
            "SELECT state, chunks_evaluated, n_chunks FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    return row[0], row[1], row[2]


def test_job_survives_a_daemon_restart(identity_dir: Path, tmp_path: Path, proto: Any) -> None:
    store = tmp_path / "store"
    # big enough that one worker is still evaluating when the upload returns
    case = proto.make_case(rows=300_000, seed=11)
    header = case.header()
    daemon = proto.start_daemon(identity_dir, store, workers=1, grace=0.2)
    try:
        with connect(daemon.address) as connection:
            connection.upload_evaluation_keys(case.keys.evaluation_keys())
            # encrypted up front so the upload is much faster than the single worker
            accepted = connection.submit_job(header, iter(list(case.ciphertexts(header))))
            # a health Watch stream open across the shutdown sees NOT_SERVING
            watch = health_pb2_grpc.HealthStub(connection.channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=60
            )
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            assert daemon.stop(signal.SIGTERM) == 0
            statuses = []
            try:
                for update in watch:
                    statuses.append(update.status)
            except grpc.RpcError:
                pass
            assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    state, evaluated, n_chunks = _job_state(store, accepted.job_id)
    print(f"\nstopped with {evaluated} of {n_chunks} chunks evaluated ({state})")
    assert state in ("QUEUED", "RUNNING"), "job finished before the stop: test would prove nothing"
    assert evaluated < n_chunks == case.plan.n_chunks

    restarted = proto.start_daemon(identity_dir, store, workers=2)
    try:
        with connect(restarted.address) as connection:
            final = connection.wait_for_job(accepted.job_id)
            assert final.state is JobState.SUCCEEDED
            result = connection.fetch_result(accepted.job_id)
            # re-submitting after the restart is deduplicated, not re-run
            again = connection.submit_job(header, case.ciphertexts(header))
            assert again.deduplicated and again.job_id == accepted.job_id
    finally:
        assert restarted.stop() == 0
    values = case.keys.decryptor().decrypt(result.outputs[0], level=case.plan.output_level)
    assert decode_counts([values], case.public, case.data.rows) == plaintext_counts(case.data)
    record = load_public_key_file(identity_dir / "evaluator.pub.json")
    payload = verify_envelope(
        result.receipt_envelope, public_key=record.public_key, key_id=record.key_id
    )
    assert parse_receipt(payload).rows == 300_000


# --- logs ---------------------------------------------------------------------------------------


def _audit_once(address: str, case: Any) -> tuple[Any, str]:
    """One fairness audit against ``address``: (its header, the job id), once it succeeded."""
    header = case.header()
    with connect(address) as connection:
        connection.upload_evaluation_keys(case.keys.evaluation_keys())
        accepted = connection.submit_job(header, case.ciphertexts(header))
        assert connection.wait_for_job(accepted.job_id).state is JobState.SUCCEEDED
    return header, accepted.job_id


def test_json_logs_one_event_per_line_without_verbose(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    """``--log-format json`` (no ``-v``): every line of the daemon's output is one JSON object,
    lifecycle events at INFO with the job id, audit id, primitive, rows, peer and durations."""
    store = tmp_path / "store"
    case = proto.make_case(rows=5000, seed=21)
    process, address = start_evaluator(
        identity_dir, store, "--workers", "1", "--grace", "1", "--log-format", "json"
    )
    try:
        header, job_id = _audit_once(address, case)
    finally:
        assert stop_evaluator(process) == 0
    lines = (tmp_path / "store.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, or the test fails here
    for record in records:
        assert {"time", "level", "event"} <= record.keys(), record
        assert datetime.datetime.fromisoformat(record["time"]).tzinfo is not None  # RFC 3339
    by_event: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_event.setdefault(record["event"], []).append(record)
    (started,) = by_event["evaluator_started"]
    assert started["address"] == address and started["store"] == str(store)
    assert started["workers"] == 1 and started["level"] == "INFO"
    (keys,) = by_event["keys_uploaded"]
    assert keys["bytes"] > 0 and keys["digest"] in case.keys.evaluation_keys().digest
    (admitted,) = by_event["job_admitted"]
    assert admitted["level"] == "INFO"
    assert admitted["job_id"] == job_id and admitted["audit_id"] == header.audit_id
    assert admitted["primitive"] == "fairness" and admitted["circuit_version"] == "1"
    assert admitted["rows"] == 5000 and admitted["chunks"] == case.plan.n_chunks
    assert admitted["profile"] == case.plan.profile.name
    assert header.client_key().key_id.startswith(admitted["client_key_id"])
    assert "127.0.0.1" in admitted["peer"] and admitted["deduplicated"] is False
    (upload,) = by_event["upload_finished"]
    assert upload["job_id"] == job_id and upload["ciphertexts"] == case.plan.input_count
    assert upload["bytes"] > 0 and upload["seconds"] >= 0
    (succeeded,) = by_event["job_succeeded"]
    assert succeeded["job_id"] == job_id and succeeded["audit_id"] == header.audit_id
    assert succeeded["primitive"] == "fairness" and succeeded["rows"] == 5000
    assert 0 <= succeeded["evaluation_seconds"] <= succeeded["total_seconds"]
    assert "job_failed" not in by_event
    assert by_event["evaluator_stopping"] and by_event["evaluator_stopped"]
    order = [r["event"] for r in records if r["event"] != "log"]
    assert order.index("job_admitted") < order.index("upload_finished")
    assert order.index("upload_finished") < order.index("job_succeeded")
    # no ciphertext bytes or public inputs: every line stays small
    assert max(len(line) for line in lines) < 2000


def test_text_logs_render_event_fields_as_key_value(
    identity_dir: Path, tmp_path: Path, proto: Any
) -> None:
    """The default text format: the human lines stay, each event is one line with its fields
    as ``key=value``."""
    store = tmp_path / "store"
    case = proto.make_case(rows=5000, seed=22)
    process, address = start_evaluator(identity_dir, store, "--workers", "1", "--grace", "1")
    try:
        header, job_id = _audit_once(address, case)
    finally:
        assert stop_evaluator(process) == 0
    lines = (tmp_path / "store.log").read_text().splitlines()
    assert f"listening on {address}" in lines and "shutting down" in lines
    (admitted,) = [line for line in lines if " job_admitted " in line]
    assert " INFO regaudit.evaluator.events: job_admitted " in admitted
    for pair in (f"job_id={job_id}", f"audit_id={header.audit_id}", "primitive=fairness",
                 "rows=5000", "deduplicated=false"):  # fmt: skip
        assert f" {pair}" in admitted, admitted
    (succeeded,) = [line for line in lines if " job_succeeded " in line]
    assert f" job_id={job_id}" in succeeded and " evaluation_seconds=" in succeeded
    assert any(f"address={address}" in line for line in lines if "evaluator_started" in line)


def test_log_formatters_quote_and_keep_fields_out_of_the_message() -> None:
    import logging

    from regaudit.evaluator.logs import JsonFormatter, TextFormatter

    record = logging.LogRecord(
        "regaudit.evaluator.events", logging.WARNING, __file__, 1, "job_failed", None, None
    )
    record.fields = {"job_id": "j1", "reason": "upload_incomplete", "message": 'a "b" c=d',
                     "time": "not-a-time"}  # fmt: skip
    text = TextFormatter().format(record)
    assert text.endswith(
        ' job_failed job_id=j1 reason=upload_incomplete message="a \\"b\\" c=d" time=not-a-time'
    ), text
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "job_failed" and line["level"] == "WARNING"
    assert line["message"] == 'a "b" c=d' and line["time"] != "not-a-time"
    plain = logging.LogRecord("x", logging.ERROR, __file__, 1, "two\nlines %d", (1,), None)
    formatted = JsonFormatter().format(plain)
    assert "\n" not in formatted and json.loads(formatted)["message"] == "two\nlines 1"


# --- TLS ----------------------------------------------------------------------------------------


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_mutual_tls(tmp_path: Path, evaluator_identity: Any) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("regaudit test CA", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("localhost", server_key, ("regaudit test CA", ca_key), ca=False)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _certificate("vendor", client_key, ("regaudit test CA", ca_key), ca=False)

    tls = TlsOptions(
        certificate_chain=_pem(server_cert),
        private_key=_key_pem(server_key),
        root_certificates=_pem(ca),
        require_client_auth=True,
    )
    server, port = create_server(
        "localhost:0", identity=evaluator_identity, store_path=tmp_path, workers=1, tls=tls
    )
    server.start()
    try:
        client_tls = TlsOptions(
            root_certificates=_pem(ca),
            certificate_chain=_pem(client_cert),
            private_key=_key_pem(client_key),
        )
        with connect(f"localhost:{port}", tls=client_tls) as connection:
            assert ("fairness", "1") in connection.capabilities().circuits
        # without a client certificate the handshake fails
        with (
            connect(
                f"localhost:{port}", tls=TlsOptions(root_certificates=_pem(ca)), timeout=5
            ) as connection,
            pytest.raises(ProtocolError) as info,
        ):
            connection.capabilities()
        assert info.value.grpc_code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")  # type: ignore[attr-defined]
        # a plaintext client cannot talk to the TLS port
        with (
            connect(f"127.0.0.1:{port}", timeout=5) as connection,
            pytest.raises(ProtocolError),
        ):
            connection.capabilities()
    finally:
        server.stop(grace=1.0)


def _new_worker(server: Any, old: set[int], timeout: float = 60.0) -> int:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = set(server.manager.worker_pids()) - old
        if fresh:
            return fresh.pop()
        time.sleep(0.01)
    raise AssertionError("no new worker appeared")


def test_a_killed_worker_is_replaced_and_its_job_still_succeeds_unless_it_dies_again(
    tmp_path: Path, evaluator_identity: Any, proto: Any
) -> None:
    """One SIGKILL of the worker: the job's task is retried on a new worker and the job
    SUCCEEDS with the outputs it would have had; the worker killed again on the retry: the job
    fails ``worker_crashed``; the daemon serves the next job either way."""
    import os

    server, port = create_server(
        "127.0.0.1:0", identity=evaluator_identity, store_path=tmp_path, workers=1
    )
    server.start()
    address = f"127.0.0.1:{port}"
    try:
        with connect(address) as connection:
            big = proto.make_case(rows=200_000, seed=5)
            connection.upload_evaluation_keys(big.keys.evaluation_keys())
            header = big.header()
            ciphertexts = list(big.ciphertexts(header))
            accepted = connection.submit_job(header, iter(ciphertexts))
            (pid,) = server.manager.worker_pids()
            os.kill(pid, signal.SIGKILL)
            assert connection.wait_for_job(accepted.job_id).state is JobState.SUCCEEDED
            retried = connection.fetch_result(accepted.job_id)
            assert pid not in server.manager.worker_pids()
            # the same job on a daemon whose worker was never killed: the same output bytes
            # (evaluation is deterministic, so a retried task changes nothing); the keys were
            # deleted with the job: upload them again
            connection.upload_evaluation_keys(big.keys.evaluation_keys())
            again = big.header(canary_seed=header.canary_seed)
            clean = connection.submit_job(again, iter(ciphertexts))
            assert connection.wait_for_job(clean.job_id).state is JobState.SUCCEEDED
            assert connection.fetch_result(clean.job_id).outputs == retried.outputs

            # killed on the first attempt and again on the retry: worker_crashed
            connection.upload_evaluation_keys(big.keys.evaluation_keys())
            header = big.header()
            failing = connection.submit_job(header, iter(list(big.ciphertexts(header))))
            (first,) = server.manager.worker_pids()
            os.kill(first, signal.SIGKILL)
            os.kill(_new_worker(server, {first}), signal.SIGKILL)
            with pytest.raises(JobFailedError) as info:
                connection.wait_for_job(failing.job_id)
            assert info.value.job_reason == "worker_crashed"  # type: ignore[attr-defined]
            with pytest.raises(JobFailedError):
                connection.fetch_result(failing.job_id)
            proto.assert_serving(address)
            small = proto.make_case(rows=5000, seed=6)
            connection.upload_evaluation_keys(small.keys.evaluation_keys())
            last = small.header()
            job = connection.submit_job(last, small.ciphertexts(last))
            assert connection.wait_for_job(job.job_id).state is JobState.SUCCEEDED
    finally:
        server.stop(grace=1.0)


def test_a_failed_job_leaves_no_partials_behind(
    tmp_path: Path, evaluator_identity: Any, proto: Any
) -> None:
    """A batch still running in the pool when its job fails cannot be cancelled: the job's
    scratch (inputs, partials) is deleted when it finishes, not under it. Here the client's
    stream breaks right after the first batch's chunks (dispatched while the upload goes on)."""
    import concurrent.futures
    import time

    from regaudit.evaluator.active_jobs import BATCH_CHUNKS
    from regaudit.shared.errors import InputError

    server, port = create_server(
        "127.0.0.1:0", identity=evaluator_identity, store_path=tmp_path, workers=1
    )
    server.start()
    try:
        case = proto.make_case(rows=2 * BATCH_CHUNKS * 4096, seed=7)  # two batches
        header = case.header()
        ciphertexts = list(case.ciphertexts(header))
        first_batch = 1 + BATCH_CHUNKS * len(case.plan.columns)  # the canary + 8 chunks
        running: list[Any] = []

        def breaking() -> Any:
            yield from ciphertexts[:first_batch]
            deadline = time.monotonic() + 10
            while not running and time.monotonic() < deadline:
                with server.manager._lock:  # wait for batch 0 to be dispatched
                    for active in server.manager._active.values():
                        running.extend(active.futures)
                time.sleep(0.01)
            raise InputError("encryption failed on the client", field="y_pred")

        with connect(f"127.0.0.1:{port}") as connection:
            connection.upload_evaluation_keys(case.keys.evaluation_keys())
            with pytest.raises(InputError):
                connection.submit_job(header, breaking())
        assert running, "the first batch was never dispatched"
        assert not running[0].done(), "the batch finished before the job failed: too fast"
        record = None
        deadline = time.monotonic() + 10
        while record is None or record.state is not JobState.FAILED:
            assert time.monotonic() < deadline, record
            record = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
            time.sleep(0.02)
        concurrent.futures.wait(running, timeout=120)
        # its inputs were kept until it finished: it succeeded and wrote its partials
        assert running[0].exception() is None, running[0].exception()
        partials = server.store.partials_dir(record.id)
        deadline = time.monotonic() + 10
        while partials.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the done-callbacks run just after the futures resolve
        assert not partials.exists(), sorted(p.name for p in partials.iterdir())
        # an interrupted upload keeps the inputs it holds: its client may resume it
        assert record.error_reason == "upload_incomplete"
        assert (server.store.job_dir(record.id) / "inputs").exists()
    finally:
        server.stop(grace=1.0)


def test_restart_deletes_the_scratch_of_finished_jobs(
    tmp_path: Path, evaluator_identity: Any
) -> None:
    """Scratch a previous run could not delete (its daemon stopped first) goes at the next
    start: failed and succeeded jobs keep only their record and outputs; an interrupted upload
    keeps its inputs (not its partials) for its client to resume."""
    from regaudit.evaluator.store import Store

    store = Store(tmp_path)
    jobs = {}
    for name in ("failed", "succeeded", "uploading"):
        record, _ = store.create_job(
            idempotency_key=name, header_digest="sha256:" + "0" * 64, header=b"", n_chunks=1
        )
        jobs[name] = record.id
        store.write_input(record.id, 0, b"ciphertext")
        store.partials_dir(record.id).mkdir(parents=True)
        (store.partials_dir(record.id) / "batch000000-000.ct").write_bytes(b"partial")
    store.update_job(jobs["failed"], state=JobState.FAILED, error_reason="evaluation_failed")
    store.update_job(jobs["succeeded"], state=JobState.SUCCEEDED)
    store.output_path(jobs["succeeded"], 0).parent.mkdir(parents=True)
    store.output_path(jobs["succeeded"], 0).write_bytes(b"output")
    store.close()

    server, _port = create_server(
        "127.0.0.1:0", identity=evaluator_identity, store_path=tmp_path, workers=1
    )
    server.start()
    try:
        for name, job_id in jobs.items():
            # an interrupted upload keeps its inputs for RESUME_WINDOW_S: its client may resume
            kept = name == "uploading"
            assert (server.store.job_dir(job_id) / "inputs").exists() is kept, name
            assert not server.store.partials_dir(job_id).exists()
        assert server.store.output_path(jobs["succeeded"], 0).read_bytes() == b"output"
        interrupted = server.store.get_job(jobs["uploading"])
        assert interrupted is not None and interrupted.state is JobState.FAILED
        assert interrupted.error_reason == "upload_incomplete"
    finally:
        server.stop(grace=1.0)


@pytest.mark.perf  # the stream ends within 10 s, not after the 30 s grace
def test_graceful_stop_ends_open_watch_streams(tmp_path: Path, evaluator_identity: Any) -> None:
    import threading
    import time

    server, port = create_server(
        "127.0.0.1:0", identity=evaluator_identity, store_path=tmp_path, workers=1
    )
    server.start()
    record, _ = server.store.create_job(
        # the tests' client owns it (only the submitting identity may watch a job)
        idempotency_key=f"{CLIENT.key_id}/never-finishes",
        header_digest="sha256:" + "0" * 64,
        header=b"",
        n_chunks=1,
    )
    with connect(f"127.0.0.1:{port}") as connection:
        updates = connection.watch_job(record.id)
        assert next(updates).state is JobState.RECEIVING
        stopper = threading.Thread(target=server.stop, kwargs={"grace": 30.0})
        started = time.monotonic()
        stopper.start()
        with pytest.raises(ProtocolError) as info:
            next(updates)
        assert info.value.grpc_code == "UNAVAILABLE"  # type: ignore[attr-defined]
        stopper.join(timeout=30)
        assert time.monotonic() - started < 10  # did not sit out the 30 s grace
