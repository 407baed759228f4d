"""Rate limits on a real daemon: key uploads and job submissions take a token of their client's
bucket (``--submit-rate`` per minute, ``--submit-burst``); an empty bucket refuses at once,
before any message is read, with RESOURCE_EXHAUSTED ``rate_limited`` and the time to the next
token as RetryInfo; waiting that long is enough; other clients are not limited. The client
command line meets a rate limit, waits the hint and succeeds within its ``--timeout``, or exits
3 at once, naming the hint, when the hint reaches past its deadline."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.cli import cli
from support.quota_daemon import QuotaDaemon, key_header
from support.signing import signed

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.errors import RateLimitedError, RegauditError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import GRPC_OPTIONS, error_from_rpc

ALICE = SigningIdentity.generate("client")
BOB = SigningIdentity.generate("client")
#: --submit-rate 30 a minute: one token every 2 s; burst 2.
RATE_PER_MIN, BURST = 30, 2
TOKEN_S = 60 / RATE_PER_MIN


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotaDaemon]:
    root = tmp_path_factory.mktemp("quota-rate")
    running = QuotaDaemon(
        root, ("--submit-rate", str(RATE_PER_MIN), "--submit-burst", str(BURST))
    ).start()
    yield running
    running.stop()


def upload_without_bytes(address: str, client: SigningIdentity) -> RegauditError:
    """A key upload whose header is admitted (a token taken) and whose bytes never come: the
    error it ends with."""
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        digest = "sha256:" + secrets.token_hex(32)
        try:
            stub.UploadEvaluationKeys(
                iter([key_header(1_000_000, digest=digest)]),
                metadata=signed("UploadEvaluationKeys", identity=client),
                timeout=30,
            )
        except grpc.RpcError as exc:
            return error_from_rpc(exc)
    raise AssertionError("an upload without bytes was accepted")


def test_an_empty_bucket_refuses_with_the_time_to_the_next_token(limited: QuotaDaemon) -> None:
    # 1. the burst: two uploads pass the limiter (and fail for want of bytes)
    for _ in range(BURST):
        error = upload_without_bytes(limited.address, ALICE)
        assert error.reason == "invalid_key_material", error
    # 2. the third is refused: rate_limited, retry after (about) one token's time
    began = time.monotonic()
    refused = upload_without_bytes(limited.address, ALICE)
    assert isinstance(refused, RateLimitedError), refused
    assert refused.grpc_code == "RESOURCE_EXHAUSTED"
    assert refused.field == "submit_rate"
    assert refused.retry_after_s is not None
    assert TOKEN_S * 0.5 < refused.retry_after_s <= TOKEN_S
    # 3. Bob's bucket is his own
    assert upload_without_bytes(limited.address, BOB).reason == "invalid_key_material"
    # 4. a submission with the bucket empty is refused before its first message is read
    release = threading.Event()

    def stalling() -> Iterator[pb.SubmitJobRequest]:
        release.wait(30)
        yield from ()

    with grpc.insecure_channel(limited.address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        try:
            with pytest.raises(grpc.RpcError) as info:
                stub.SubmitJob(stalling(), metadata=signed("SubmitJob", identity=ALICE), timeout=30)
        finally:
            release.set()
    early = error_from_rpc(info.value)
    assert isinstance(early, RateLimitedError) and early.field == "submit_rate"
    assert time.monotonic() - began < TOKEN_S  # (not after a stall)
    # 5. waiting out the hint is enough
    time.sleep(refused.retry_after_s)
    assert upload_without_bytes(limited.address, ALICE).reason == "invalid_key_material"
    events = limited.events("quota_refused")
    assert [(e["reason"], e["quota"], e["rpc"]) for e in events] == [
        ("rate_limited", "submit_rate", "UploadEvaluationKeys"),
        ("rate_limited", "submit_rate", "SubmitJob"),
    ]
    assert limited.value("quota_refusals_total", quota="submit_rate", reason="rate_limited") == 2


def audit(daemon: QuotaDaemon, root: Path, timeout: int) -> tuple[int, str, float]:
    """``regaudit-client audit fairness`` (a client identity of its own): exit code, stderr,
    seconds."""
    from support.jobs import fairness_payload

    from regaudit.secretkey.sealing import RegulatorKeys

    root.mkdir(parents=True, exist_ok=True)
    if not (root / "client" / "client.pub.json").exists():
        cli("client", "init", root / "client", check=True)
        signer = SigningIdentity.generate("regulator")
        RegulatorKeys.generate().save(root / "regulator", signer=signer)
        signer.save(root / "regulator")
        (root / "input.json").write_text(json.dumps(fairness_payload(500, 3)))
    began = time.monotonic()
    card = root / "regulator" / "regulator-card.json"
    result = cli(
        "client", "audit", "fairness", "--input", root / "input.json",
        "--evaluator", daemon.address, "--regulator-card", card,
        "--identity", root / "client", "--out", root / f"bundle-{secrets.token_hex(4)}.json",
        "--timeout", str(timeout),
    )  # fmt: skip
    return result.returncode, result.stderr, time.monotonic() - began


def test_client_waits_out_a_rate_limit_within_its_timeout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``--submit-rate 20 --submit-burst 1``: the audit's key upload takes the one token, its
    submission is refused (about 3 s to the next token), waited for, and admitted."""
    root = tmp_path_factory.mktemp("quota-rate-cli")
    daemon = QuotaDaemon(root / "daemon", ("--submit-rate", "20", "--submit-burst", "1")).start()
    try:
        code, stderr, _seconds = audit(daemon, root / "vendor", timeout=120)
        assert code == 0, stderr[-3000:]
        refusals = daemon.events("quota_refused")
        assert [(e["reason"], e["rpc"]) for e in refusals] == [("rate_limited", "SubmitJob")]
        assert "rate" in stderr  # the client noted why it waited
    finally:
        daemon.stop()


def test_client_exits_3_when_the_hint_reaches_past_its_timeout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``--submit-rate 1``: the submission would have to wait about a minute; the audit's 30 s
    ``--timeout`` cannot, so the client exits 3 at once, saying so."""
    root = tmp_path_factory.mktemp("quota-rate-cli-short")
    daemon = QuotaDaemon(root / "daemon", ("--submit-rate", "1", "--submit-burst", "1")).start()
    try:
        code, stderr, seconds = audit(daemon, root / "vendor", timeout=30)
        assert code == 3, stderr[-3000:]
        assert "retry after" in stderr and "deadline" in stderr, stderr[-2000:]
        assert seconds < 30  # it did not sleep into its deadline
        # the daemon keeps serving: another client has a bucket of its own
        assert upload_without_bytes(daemon.address, BOB).reason == "invalid_key_material"
    finally:
        daemon.stop()
