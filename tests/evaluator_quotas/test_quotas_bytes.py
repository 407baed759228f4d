"""Byte quotas on a real daemon: bytes in flight (a key upload's declared size is reserved from
its header, before a byte of it is read) per client and global, and stored bytes per client (the
keys and job folders a client holds, plus what its admitted uploads may add), freed when a job
ends and retention deletes its inputs and keys, and when ``--retain`` collects its results."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from support.quota_daemon import (
    ClientJob,
    QuotaDaemon,
    declared,
    key_upload_refusal,
    stalled_key_upload,
)

from regaudit.evaluator.quotas import QUOTA_RETRY_DELAY_S
from regaudit.shared.errors import QuotaExceededError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import JobState

ALICE = SigningIdentity.generate("client")
BOB = SigningIdentity.generate("client")
CAROL = SigningIdentity.generate("client")
MB = 1_000_000
#: In-flight quotas of the first daemon: 20 MB per client, 40 MB for everyone.
INFLIGHT_PER_CLIENT = 20 * MB
INFLIGHT_GLOBAL = 40 * MB
#: Long streams one client may hold (``--max-streams`` stays 32).
STREAMS_PER_CLIENT = 3
#: A refusal at the header takes well under this (an admitted stream would stall for 30 s).
AT_ONCE_S = 5.0


def digest() -> str:
    return "sha256:" + secrets.token_hex(32)


@pytest.fixture(scope="module")
def inflight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotaDaemon]:
    root = tmp_path_factory.mktemp("quota-inflight")
    running = QuotaDaemon(
        root,
        (
            "--max-inflight-bytes-per-client", str(INFLIGHT_PER_CLIENT),
            "--max-inflight-bytes", str(INFLIGHT_GLOBAL),
            "--max-streams-per-client", str(STREAMS_PER_CLIENT),
            "--stream-stall-seconds", "30",
        ),
    ).start()  # fmt: skip
    yield running
    running.stop()


def scratch_dirs(daemon: QuotaDaemon) -> int:
    return sum(1 for _ in (daemon.store / "tmp").iterdir())


def test_bytes_in_flight_are_reserved_from_the_header(inflight: QuotaDaemon) -> None:
    daemon = inflight
    first = stalled_key_upload(daemon.address, ALICE, 14 * MB, digest=digest())
    try:
        daemon.wait_for(lambda: daemon.usage("inflight_bytes") == declared(14 * MB))
        assert scratch_dirs(daemon) == 1
        # 1. Alice's second upload would hold 30 MB in flight: refused at the header, at once,
        #    before any of its bytes (no scratch folder was made for it)
        error, seconds = key_upload_refusal(daemon.address, ALICE, 14 * MB, digest=digest())
        assert isinstance(error, QuotaExceededError), error
        assert error.grpc_code == "RESOURCE_EXHAUSTED"
        assert error.field == "max_inflight_bytes_per_client"
        assert error.retry_after_s == QUOTA_RETRY_DELAY_S
        assert seconds < AT_ONCE_S
        assert scratch_dirs(daemon) == 1
        # 2. an upload that alone claims more than the quota: refused, and no retry hint
        error, seconds = key_upload_refusal(daemon.address, BOB, 25 * MB, digest=digest())
        assert isinstance(error, QuotaExceededError), error
        assert error.field == "max_inflight_bytes_per_client"
        assert error.retry_after_s is None
        assert "alone exceeds" in str(error)
        assert seconds < AT_ONCE_S
        # 3. Bob holds 15 MB in flight too (30 MB in all); Carol's 15 MB would take the
        #    evaluator past its 40 MB: the global quota refuses her
        second = stalled_key_upload(daemon.address, BOB, 14 * MB, digest=digest())
        try:
            daemon.wait_for(lambda: daemon.usage("inflight_bytes") == 2 * declared(14 * MB))
            error, _seconds = key_upload_refusal(daemon.address, CAROL, 14 * MB, digest=digest())
            assert isinstance(error, QuotaExceededError), error
            assert error.field == "max_inflight_bytes"
            assert error.retry_after_s == QUOTA_RETRY_DELAY_S
        finally:
            second.release()
    finally:
        first.release()
    # 4. the stalled uploads ended: nothing in flight, nothing stored for them
    daemon.wait_for(lambda: daemon.usage("inflight_bytes") == 0)
    assert daemon.usage("stored_bytes") == 0
    # 5. Carol, refused before, uploads real keys and runs an audit to the end
    carol = ClientJob(CAROL, seed=5)
    _job_id, state, reason = carol.submit(daemon.address, idempotency_key=secrets.token_hex(8))
    assert state is JobState.SUCCEEDED, reason
    refusals = [(e["quota"], e["rpc"]) for e in daemon.events("quota_refused")]
    assert refusals == [
        ("max_inflight_bytes_per_client", "UploadEvaluationKeys"),
        ("max_inflight_bytes_per_client", "UploadEvaluationKeys"),
        ("max_inflight_bytes", "UploadEvaluationKeys"),
    ]


def test_one_client_cannot_hold_every_stream(inflight: QuotaDaemon) -> None:
    """Alice holds her 3 long streams: a 4th is refused at once (before its header is read)
    with a retry delay; Bob still gets one; once hers end, she gets one again."""
    daemon = inflight
    before = len(daemon.events("quota_refused"))
    held = [stalled_key_upload(daemon.address, ALICE, MB, digest=digest()) for _ in range(3)]
    try:
        daemon.wait_for(lambda: daemon.usage("inflight_bytes") == 3 * declared(MB))
        error, seconds = key_upload_refusal(daemon.address, ALICE, MB, digest=digest())
        assert isinstance(error, QuotaExceededError), error
        assert error.field == "max_streams_per_client"
        assert error.retry_after_s == QUOTA_RETRY_DELAY_S
        assert seconds < AT_ONCE_S
        bob = stalled_key_upload(daemon.address, BOB, MB, digest=digest())
        try:
            daemon.wait_for(lambda: daemon.usage("inflight_bytes") == 4 * declared(MB))
        finally:
            bob.release()
    finally:
        for stalled in held:
            stalled.release()
    daemon.wait_for(lambda: daemon.usage("inflight_bytes") == 0)
    again = stalled_key_upload(daemon.address, ALICE, MB, digest=digest())
    try:
        daemon.wait_for(lambda: daemon.usage("inflight_bytes") == declared(MB))
    finally:
        again.release()
    refusals = daemon.events("quota_refused")[before:]
    assert [(e["quota"], e["rpc"]) for e in refusals] == [
        ("max_streams_per_client", "UploadEvaluationKeys")
    ]


def test_stored_bytes_quota_frees_when_retention_deletes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Alice may store one key set and one small job's claim, not two key sets; her job's end
    deletes its inputs and keys (retention), so the second set fits; ``--retain`` then
    collects her results."""
    alice, spare = ClientJob(ALICE, seed=6), ClientJob(ALICE, seed=7)
    key_bytes = len(alice.keys.evaluation_keys().relin_keys) + len(
        alice.keys.evaluation_keys().galois_keys
    )
    quota = int(key_bytes * 1.5)
    root = tmp_path_factory.mktemp("quota-stored")
    daemon = QuotaDaemon(
        root, ("--max-stored-bytes-per-client", str(quota), "--retain", "3s")
    ).start()
    try:
        alice.upload_keys(daemon.address)
        daemon.wait_for(lambda: daemon.usage("stored_bytes") >= key_bytes)
        # 1. a second key set would take Alice past her quota: refused; she has no job that
        #    could free space, so no retry hint
        with pytest.raises(QuotaExceededError) as refused:
            spare.upload_keys(daemon.address)
        assert refused.value.field == "max_stored_bytes_per_client"
        assert refused.value.retry_after_s is None
        assert "space frees when jobs end" in str(refused.value)
        # 2. Bob is not Alice: his keys are stored
        ClientJob(BOB, seed=8).upload_keys(daemon.address)
        # 3. Alice's job ends: its inputs and keys are deleted, her results stay
        _job_id, state, reason = alice.submit(daemon.address, idempotency_key=secrets.token_hex(8))
        assert state is JobState.SUCCEEDED, reason
        # 4. ... so the second key set fits now (once the store was measured again)
        daemon.wait_for(lambda: daemon.usage("stored_bytes") == daemon.held_bytes())
        spare.upload_keys(daemon.address)
        # 5. --retain 3s collects the job; what is left is exactly the stored key folders
        daemon.wait_for(lambda: not any((daemon.store / "jobs").iterdir()), timeout=30)
        daemon.wait_for(lambda: daemon.usage("stored_bytes") == daemon.held_bytes())
        assert daemon.usage("jobs") == 0
        assert [e["quota"] for e in daemon.events("quota_refused")] == [
            "max_stored_bytes_per_client"
        ]
    finally:
        daemon.stop()
