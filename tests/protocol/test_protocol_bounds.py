"""Bounded resources on a real daemon over loopback: stalled client streams are aborted
(DEADLINE_EXCEEDED ``stream_stalled``) while short calls keep answering, streams over
``--max-streams`` are refused (RESOURCE_EXHAUSTED ``server_busy`` with a retry delay), a daemon
short of free disk refuses uploads (``disk_full``), and a normal audit still completes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import FairnessJob, fairness_payload
from support.parties import Parties, make_identities
from support.signing import connect, signed

from regaudit.client.remote import EvaluatorUnavailableError, remote_call
from regaudit.evaluator.flow_control import BUSY_RETRY_DELAY_S
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.errors import DiskFullError, ServerBusyError, StreamStalledError
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

MAX_STREAMS = 4
STALL_S = 1.0
STALLED_CLIENTS = 32
#: What a short call may take while the stalled streams are open (seconds).
SHORT_CALL_BUDGET_S = 2.0


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    """The three parties and a daemon with ``--max-streams 4 --stream-stall-seconds 1``."""
    root = tmp_path_factory.mktemp("bounds")
    ids = make_identities(root)
    daemon, address = start_evaluator(
        ids.evaluator,
        root / "store",
        "--workers", "1",
        "--max-streams", str(MAX_STREAMS),
        "--stream-stall-seconds", str(STALL_S),
    )  # fmt: skip
    yield Parties(ids.root, ids.regulator, ids.evaluator, ids.client, ids.trust, address, daemon)
    stop_evaluator(daemon)


def keys_header() -> pb.UploadEvaluationKeysRequest:
    """A well-formed key-upload header for keys nobody has uploaded (bytes must follow)."""
    return pb.UploadEvaluationKeysRequest(
        header=pb.EvaluationKeysHeader(
            profile_name=PROFILE_N8192_D3.name,
            digest="sha256:" + "ab" * 32,
            galois_steps=[1],
            relin_size=1024,
            galois_size=1024,
        )
    )


def stalling(release: threading.Event) -> Iterator[pb.UploadEvaluationKeysRequest]:
    """The header, then nothing until ``release`` (a client that stalls)."""
    yield keys_header()
    release.wait(60)


@dataclass
class Outcome:
    error: grpc.RpcError
    seconds: float


def capabilities_seconds(stub: pb_grpc.EvaluatorStub) -> float:
    began = time.monotonic()
    reply = stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=SHORT_CALL_BUDGET_S)
    assert reply.protocol_version
    return time.monotonic() - began


def daemon_threads(process_id: int) -> int:
    for line in Path(f"/proc/{process_id}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_stalled_streams_end_and_short_calls_answer(bounded: Parties) -> None:
    release = threading.Event()
    outcomes: dict[int, Outcome] = {}
    done = threading.Condition()
    with grpc.insecure_channel(bounded.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        capabilities_seconds(stub)  # warm the channel
        began = time.monotonic()

        def finished(index: int, future: grpc.Future) -> None:
            error = future.exception()
            assert isinstance(error, grpc.RpcError), future
            with done:
                outcomes[index] = Outcome(error, time.monotonic() - began)
                done.notify_all()

        futures = []
        for index in range(STALLED_CLIENTS):
            future = stub.UploadEvaluationKeys.future(
                stalling(release), metadata=signed("UploadEvaluationKeys"), timeout=30
            )
            future.add_done_callback(lambda f, i=index: finished(i, f))
            futures.append(future)
        try:
            # while the admitted streams stall, short calls still find a thread at once
            latencies = [capabilities_seconds(stub) for _ in range(5)]
            health = stub.HasEvaluationKeys(
                pb.HasEvaluationKeysRequest(digest="sha256:" + "cd" * 32),
                metadata=signed("HasEvaluationKeys"),
                timeout=SHORT_CALL_BUDGET_S,
            )
            assert not health.present
            with done:
                open_now = STALLED_CLIENTS - len(outcomes)
            assert open_now >= 1, "the stalled streams ended before the short calls ran"
            assert max(latencies) < SHORT_CALL_BUDGET_S
            with done:
                assert done.wait_for(lambda: len(outcomes) == STALLED_CLIENTS, timeout=20)
        finally:
            release.set()

        errors = {i: error_from_rpc(o.error) for i, o in outcomes.items()}
        stalled = [i for i, e in errors.items() if isinstance(e, StreamStalledError)]
        busy = [i for i, e in errors.items() if isinstance(e, ServerBusyError)]
        assert len(stalled) + len(busy) == STALLED_CLIENTS, {e.reason for e in errors.values()}
        # exactly max-streams streams were admitted, and they stalled; the others were busy
        assert len(stalled) == MAX_STREAMS
        for i in stalled:
            assert errors[i].grpc_code == "DEADLINE_EXCEEDED"
            assert STALL_S * 0.9 <= outcomes[i].seconds < STALL_S + 2.0, outcomes[i].seconds
        for i in busy:
            assert errors[i].grpc_code == "RESOURCE_EXHAUSTED"
            assert errors[i].retry_after_s == BUSY_RETRY_DELAY_S
            assert outcomes[i].seconds < STALL_S  # refused at once, not after a stall

        # the client shows the hint, whether it sees the raw call or the rebuilt error
        raw = outcomes[busy[0]].error

        def fail_raw() -> None:
            raise raw

        def fail_rebuilt() -> None:
            raise error_from_rpc(raw)

        for call in (fail_raw, fail_rebuilt):
            with pytest.raises(EvaluatorUnavailableError) as info:
                remote_call(call, bounded.address)
            assert f"retry after {BUSY_RETRY_DELAY_S:g} s" in str(info.value)
            assert info.value.retry_after_s == BUSY_RETRY_DELAY_S

        # the daemon keeps serving and its slots are free again: a second round of stalled
        # streams is admitted and aborted the same way, and leaves no thread behind (the gRPC
        # pool has grown to its size in the first round; each stall reader has ended)
        assert capabilities_seconds(stub) < SHORT_CALL_BUDGET_S
        time.sleep(0.5)
        threads_after_first = daemon_threads(bounded.daemon.pid)
        again = threading.Event()
        second = [
            stub.UploadEvaluationKeys.future(
                stalling(again), metadata=signed("UploadEvaluationKeys"), timeout=30
            )
            for _ in range(MAX_STREAMS)
        ]
        try:
            for future in second:
                assert isinstance(error_from_rpc(future.exception()), StreamStalledError)
        finally:
            again.set()
        deadline = time.monotonic() + 5
        while (
            daemon_threads(bounded.daemon.pid) > threads_after_first and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert daemon_threads(bounded.daemon.pid) <= threads_after_first


def test_stalled_submission_is_aborted(bounded: Parties) -> None:
    """A SubmitJob stream that sends nothing is aborted too (before any job is admitted)."""
    release = threading.Event()

    def nothing() -> Iterator[pb.SubmitJobRequest]:
        release.wait(60)
        yield from ()

    with grpc.insecure_channel(bounded.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitJob(nothing(), metadata=signed("SubmitJob"), timeout=30)
        release.set()
        error = error_from_rpc(info.value)
        assert isinstance(error, StreamStalledError), error
        assert error.grpc_code == "DEADLINE_EXCEEDED"
        assert time.monotonic() - began < STALL_S + 2.0
        capabilities_seconds(stub)


def test_stall_after_admission_fails_the_job_upload_incomplete(bounded: Parties) -> None:
    """A submission that stalls after its header and canary: the stream ends
    ``stream_stalled`` and the admitted job fails ``upload_incomplete``, as for any broken
    upload."""
    job = FairnessJob(rows=500, seed=3)
    with connect(bounded.address) as connection:
        connection.upload_evaluation_keys(job.keys.evaluation_keys())
    release = threading.Event()
    column, chunk, canary = job.ciphertexts[0]

    def header_canary_then_nothing() -> Iterator[pb.SubmitJobRequest]:
        yield pb.SubmitJobRequest(header=job.header().to_proto())
        yield pb.SubmitJobRequest(
            piece=pb.CiphertextPiece(
                column=column, chunk=chunk, offset=0, total_size=len(canary), data=canary
            )
        )
        release.wait(60)

    with grpc.insecure_channel(bounded.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitJob(header_canary_then_nothing(), metadata=signed("SubmitJob"), timeout=30)
        release.set()
    assert isinstance(error_from_rpc(info.value), StreamStalledError)
    log = bounded.root / "store.log"
    deadline = time.monotonic() + 5
    while "upload_incomplete" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    failed = [line for line in log.read_text().splitlines() if "job_failed" in line]
    assert any("upload_incomplete" in line for line in failed), failed
    # the same job submitted whole afterwards runs (a new idempotency key: a new job)
    _job_id, state, reason = job.submit(bounded.address, idempotency_key="again-" + "0" * 16)
    assert reason == "" and state.name == "SUCCEEDED", (state, reason)


def test_normal_audit_completes_after_the_stalls(bounded: Parties, tmp_path: Path) -> None:
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps(fairness_payload(3000, seed=5)))
    out = tmp_path / "bundle"
    result = bounded.audit(input_file, out)
    assert result.returncode == 0, result.stdout + result.stderr
    bundles = sorted(out.parent.glob(f"{out.name}*"))
    assert bundles, list(tmp_path.iterdir())
    verified = bounded.verify(bundles[0])
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_too_little_free_disk_refuses_key_uploads(tmp_path: Path) -> None:
    ids = make_identities(tmp_path)
    daemon, address = start_evaluator(
        ids.evaluator, tmp_path / "store", "--workers", "1", "--min-free-bytes", str(2**62)
    )
    try:
        with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
            stub = pb_grpc.EvaluatorStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.UploadEvaluationKeys(
                    iter([keys_header()]), metadata=signed("UploadEvaluationKeys"), timeout=10
                )
            error = error_from_rpc(info.value)
            assert isinstance(error, DiskFullError), error
            assert error.grpc_code == "RESOURCE_EXHAUSTED"
            assert "--min-free-bytes" in error.message
            with pytest.raises(grpc.RpcError) as info:
                stub.SubmitJob(iter([]), metadata=signed("SubmitJob"), timeout=10)
            assert isinstance(error_from_rpc(info.value), DiskFullError)
            # and the daemon keeps serving
            assert capabilities_seconds(stub) < SHORT_CALL_BUDGET_S
    finally:
        stop_evaluator(daemon)
