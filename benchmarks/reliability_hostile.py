"""Hostile wire input for the reliability benchmark: raw, signed gRPC calls (as in
``tests/protocol/test_protocol_rejections.py`` and ``test_protocol_bounds.py``) that each must
get a precise status and stable reason, each followed by a normal job on the same daemon."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import Parties
from reliability_support import Daemon, ScenarioResult, job_rows, poll

__all__ = ["STALL_S", "hostile_input"]

#: ``--stream-stall-seconds`` of the hostile-input daemon.
STALL_S = 1.0
#: Rows of the victim job whose header and ciphertexts the cases bend, and of the normal job.
ROWS = 2_000
#: Deadline of one raw call (seconds).
CALL_TIMEOUT_S = 60.0


def _piece(column: str, chunk: int, data: bytes, *, total: int | None = None) -> Any:
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

    return pb.SubmitJobRequest(
        piece=pb.CiphertextPiece(
            column=column,
            chunk=chunk,
            offset=0,
            total_size=len(data) if total is None else total,
            data=data,
        )
    )


def _raw_submit(address: str, messages: Iterator[Any]) -> tuple[str, str, str]:
    """Send hand-made SubmitJob messages: (gRPC code, reason, message) of the refusal (code
    "OK" if the call was accepted)."""
    import grpc
    from support.signing import signed

    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.SubmitJob(messages, timeout=CALL_TIMEOUT_S, metadata=signed("SubmitJob"))
        except grpc.RpcError as exc:
            return _described(exc, error_from_rpc(exc))
    return "OK", "", ""


def _described(exc: Any, error: Any) -> tuple[str, str, str]:
    code = exc.code().name if hasattr(exc, "code") else getattr(error, "grpc_code", "?")
    return str(code), str(getattr(error, "reason", "")), str(error)[:160]


class _Victim:
    """A fairness job whose keys are uploaded before each case (a failed job deletes them)."""

    def __init__(self, daemon: Daemon) -> None:
        from support.jobs import FairnessJob

        self.daemon = daemon
        self.job = FairnessJob(rows=ROWS, seed=41)

    def header(self, **changes: Any) -> Any:
        import dataclasses

        from support.jobs import CLIENT
        from support.signing import connect

        with connect(self.daemon.address) as connection:
            connection.upload_evaluation_keys(self.job.keys.evaluation_keys())
        header = self.job.header(idempotency_key=secrets.token_hex(16))
        if changes:
            header = dataclasses.replace(header, client_signature=b"", **changes).signed(CLIENT)
        return header

    def messages(self, header: Any, replace: dict[int, bytes] | None = None) -> Iterator[Any]:
        from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

        yield pb.SubmitJobRequest(header=header.to_proto())
        for index, (column, chunk, data) in enumerate(self.job.ciphertexts):
            yield _piece(column, chunk, (replace or {}).get(index, data))


def _garbage(victim: _Victim) -> tuple[str, str, str]:
    return _raw_submit(
        victim.daemon.address, victim.messages(victim.header(), {1: secrets.token_bytes(5000)})
    )


def _truncated(victim: _Victim) -> tuple[str, str, str]:
    data = victim.job.ciphertexts[1][2]
    return _raw_submit(
        victim.daemon.address, victim.messages(victim.header(), {1: data[: len(data) // 2]})
    )


def _oversize(victim: _Victim) -> tuple[str, str, str]:
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
    from regaudit.shared.protocol import CHUNK_BYTES

    header = victim.header()
    big = b"\0" * (CHUNK_BYTES + 1)
    return _raw_submit(
        victim.daemon.address,
        iter([pb.SubmitJobRequest(header=header.to_proto()), _piece("__canary__", 0, big)]),
    )


def _header_lies_rows(victim: _Victim) -> tuple[str, str, str]:
    plan = victim.job.plan
    header = victim.header(rows=plan.rows + 2 * plan.chunk_rows)
    return _raw_submit(victim.daemon.address, victim.messages(header))


def _header_lies_size(victim: _Victim) -> tuple[str, str, str]:
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
    from regaudit.shared.protocol import MAX_CIPHERTEXT_BYTES

    header = victim.header()
    return _raw_submit(
        victim.daemon.address,
        iter(
            [
                pb.SubmitJobRequest(header=header.to_proto()),
                _piece("__canary__", 0, b"\0" * 1000, total=MAX_CIPHERTEXT_BYTES + 1),
            ]
        ),
    )


def _unknown_job(victim: _Victim) -> tuple[str, str, str]:
    import grpc
    from support.signing import signed

    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

    job_id = secrets.token_hex(16)
    with grpc.insecure_channel(victim.daemon.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        try:
            for _ in stub.GetResult(
                pb.GetResultRequest(job_id=job_id),
                timeout=CALL_TIMEOUT_S,
                metadata=signed("GetResult", job_id),
            ):
                pass
        except grpc.RpcError as exc:
            return _described(exc, error_from_rpc(exc))
    return "OK", "", ""


def _job_reason(victim: _Victim, before: set[str]) -> str:
    """The failure reason of the job admitted since ``before`` (once it has one)."""

    def ended() -> str:
        for job_id, row in job_rows(victim.daemon.store).items():
            if job_id not in before and row["state"] == "FAILED":
                return f"job FAILED {row['reason']}"
        return ""

    return str(poll(ended, 10)) or "job not failed"


def _cancelled(victim: _Victim) -> tuple[str, str, str]:
    import grpc
    from support.signing import signed

    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
    from regaudit.shared.protocol import GRPC_OPTIONS

    before = set(job_rows(victim.daemon.store))
    header = victim.header()
    release = threading.Event()

    def held() -> Iterator[Any]:
        messages = victim.messages(header)
        yield next(messages)
        yield next(messages)
        release.wait(CALL_TIMEOUT_S)

    with grpc.insecure_channel(victim.daemon.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)  # type: ignore[no-untyped-call]
        future = stub.SubmitJob.future(held(), timeout=CALL_TIMEOUT_S, metadata=signed("SubmitJob"))
        poll(lambda: set(job_rows(victim.daemon.store)) - before, 10)
        future.cancel()
        release.set()
    return "CANCELLED", "", _job_reason(victim, before)


def _stalled(victim: _Victim) -> tuple[str, str, str]:
    before = set(job_rows(victim.daemon.store))
    header = victim.header()
    release = threading.Event()

    def held() -> Iterator[Any]:
        messages = victim.messages(header)
        yield next(messages)
        yield next(messages)
        release.wait(CALL_TIMEOUT_S)

    began = time.monotonic()
    code, reason, message = _raw_submit(victim.daemon.address, held())
    release.set()
    seconds = time.monotonic() - began
    return code, reason, f"after {seconds:.1f} s; {_job_reason(victim, before)}; {message}"


#: name -> (what is sent, the expected gRPC code and reason, the case)
CASES: dict[str, tuple[str, str, str, Callable[[_Victim], tuple[str, str, str]]]] = {
    "garbage ciphertext": (
        "5000 random bytes as y_true[0]",
        "INVALID_ARGUMENT",
        "invalid_ciphertext",
        _garbage,
    ),
    "truncated ciphertext": (
        "first half of a valid ciphertext",
        "INVALID_ARGUMENT",
        "invalid_ciphertext",
        _truncated,
    ),
    "oversize message": (
        "a piece of CHUNK_BYTES + 1 bytes",
        "RESOURCE_EXHAUSTED",
        "limit_exceeded",
        _oversize,
    ),
    "header lies (rows)": (
        "signed header with 2 chunks more rows than sent",
        "INVALID_ARGUMENT",
        "invalid_input",
        _header_lies_rows,
    ),
    "header lies (size)": (
        "piece total_size = MAX_CIPHERTEXT_BYTES + 1",
        "RESOURCE_EXHAUSTED",
        "limit_exceeded",
        _header_lies_size,
    ),
    "unknown job id": ("GetResult for a random job id", "NOT_FOUND", "unknown_job", _unknown_job),
    "cancellation mid-stream": (
        "client cancels after header + canary",
        "CANCELLED",
        "",
        _cancelled,
    ),
    "stalled stream": (
        f"header + canary, then silence (--stream-stall-seconds {STALL_S:g})",
        "DEADLINE_EXCEEDED",
        "stream_stalled",
        _stalled,
    ),
}


def hostile_input(parties: Parties, root: Path) -> list[ScenarioResult]:
    """Every case of :data:`CASES` against one daemon, each followed by a normal job."""
    from support.jobs import FairnessJob

    results: list[ScenarioResult] = []
    daemon = Daemon(
        parties, root / "hostile-store", "--workers", "1", "--stream-stall-seconds", str(STALL_S)
    ).start()
    try:
        victim = _Victim(daemon)
        normal = FairnessJob(rows=ROWS, seed=42)
        for name, (sent, code, reason, case) in CASES.items():
            began = time.monotonic()
            try:
                got_code, got_reason, message = case(victim)
            except Exception as exc:  # recorded, not raised: the report shows it
                got_code, got_reason, message = "EXCEPTION", type(exc).__name__, str(exc)[:160]
            after = time.monotonic()
            _id, state, failure = normal.submit(
                daemon.address, idempotency_key=secrets.token_hex(16)
            )
            normal_s = time.monotonic() - after
            precise = got_code == code and (not reason or got_reason == reason)
            if name == "cancellation mid-stream":
                precise = "upload_incomplete" in message
            results.append(
                ScenarioResult(
                    f"hostile: {name}",
                    sent + "; then a normal job",
                    f"{code} {reason}".strip()
                    + ("; job FAILED upload_incomplete" if "stream" in name else "")
                    + "; next job SUCCEEDED",
                    f"{got_code} {got_reason}: {message}; next job {state.name} {failure}",
                    precise and state.name == "SUCCEEDED" and daemon.alive(),
                    {"case_s": round(after - began, 2), "next_job_s": round(normal_s, 2)},
                    time.monotonic() - began,
                )
            )
    finally:
        daemon.stop()
    return results
