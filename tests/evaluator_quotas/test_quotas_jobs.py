"""Concurrent-job quotas on a real daemon, with two (three) client identities and real signed
requests: a client over ``--max-jobs-per-client`` is refused (RESOURCE_EXHAUSTED
``quota_exceeded``, field ``max_jobs_per_client``, RetryInfo) at once while another client is
served; ``--max-jobs`` refuses anyone once the evaluator holds that many jobs; every refusal is
one ``quota_refused`` log event and one count in ``quota_refusals_total``; the jobs gauge
follows; once the held jobs end, the refused client's audit runs to the end."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.quota_daemon import ClientJob, QuotaDaemon, stalled_submission
from support.signing import connect

from regaudit.evaluator.quotas import QUOTA_RETRY_DELAY_S
from regaudit.shared.errors import QuotaExceededError, RegauditError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import JobState

ALICE = SigningIdentity.generate("client")
BOB = SigningIdentity.generate("client")
#: A refusal at admission takes well under this (an admitted stream would stall for 30 s).
AT_ONCE_S = 5.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotaDaemon]:
    root = tmp_path_factory.mktemp("quota-jobs")
    running = QuotaDaemon(
        root,
        ("--max-jobs-per-client", "2", "--max-jobs", "3", "--stream-stall-seconds", "30"),
    ).start()
    yield running
    running.stop()


def refused(job: ClientJob, address: str) -> tuple[RegauditError, float]:
    """Submit ``job`` under a fresh idempotency key; the error it was refused with."""
    began = time.monotonic()
    with connect(address, identity=job.client) as connection:
        try:
            connection.submit_job(job.header(idempotency_key=secrets.token_hex(8)), iter(()))
        except RegauditError as exc:
            return exc, time.monotonic() - began
    raise AssertionError("the submission was admitted")


def test_a_client_over_its_job_quota_is_refused_while_another_is_served(
    daemon: QuotaDaemon,
) -> None:
    alice, bob = ClientJob(ALICE, seed=1), ClientJob(BOB, seed=2)
    alice.upload_keys(daemon.address)
    bob.upload_keys(daemon.address)
    held = [stalled_submission(daemon.address, alice, secrets.token_hex(8)) for _ in range(2)]
    try:
        daemon.wait_for(lambda: daemon.usage("jobs") == 2)
        # 1. Alice's third job: refused at once, the quota named, a retry delay
        error, seconds = refused(alice, daemon.address)
        assert isinstance(error, QuotaExceededError), error
        assert error.grpc_code == "RESOURCE_EXHAUSTED"
        assert error.reason == "quota_exceeded"
        assert error.field == "max_jobs_per_client"
        assert error.retry_after_s == QUOTA_RETRY_DELAY_S
        assert "--max-jobs-per-client 2" in str(error)
        assert seconds < AT_ONCE_S
        # 2. Bob is served meanwhile: his audit runs to the end
        _job_id, state, reason = bob.submit(daemon.address, idempotency_key=secrets.token_hex(8))
        assert state is JobState.SUCCEEDED, reason
        # 3. the global quota: with Bob holding one job the evaluator holds 3 (--max-jobs 3);
        #    Bob (1 of his 2) is refused by the global quota (his keys went with his job)
        bob.upload_keys(daemon.address)
        bob_held = stalled_submission(daemon.address, bob, secrets.token_hex(8))
        try:
            daemon.wait_for(lambda: daemon.usage("jobs") == 3)
            error, seconds = refused(bob, daemon.address)
            assert isinstance(error, QuotaExceededError), error
            assert error.field == "max_jobs"
            assert error.retry_after_s == QUOTA_RETRY_DELAY_S
            assert "the evaluator already has 3 jobs" in str(error)
            assert seconds < AT_ONCE_S
        finally:
            bob_held.release()
    finally:
        for stalled in held:
            stalled.release()
    # 4. the held uploads ended (incomplete): their jobs failed and count no more
    daemon.wait_for(lambda: daemon.usage("jobs") == 0)
    # 5. each refusal: one log event, one count
    events = daemon.events("quota_refused")
    assert [(e["quota"], e["reason"], e["rpc"]) for e in events] == [
        ("max_jobs_per_client", "quota_exceeded", "SubmitJob"),
        ("max_jobs", "quota_exceeded", "SubmitJob"),
    ]
    assert events[0]["client_key_id"] == ALICE.key_id[:16]
    assert events[0]["level"] == "WARNING" and events[0]["retry_after_seconds"] == 5.0
    assert (
        daemon.value("quota_refusals_total", quota="max_jobs_per_client", reason="quota_exceeded")
        == 1
    )
    assert daemon.value("quota_refusals_total", quota="max_jobs", reason="quota_exceeded") == 1
    assert daemon.value("refusals_total", reason="quota_exceeded") == 2
    assert daemon.value("quota_limit", quota="max_jobs", scope="client") == 2
    assert daemon.value("quota_limit", quota="max_jobs", scope="global") == 3
    # 6. Alice, refused before, is served now
    _job_id, state, reason = alice.submit(daemon.address, idempotency_key=secrets.token_hex(8))
    assert state is JobState.SUCCEEDED, reason


def test_an_identical_resubmission_takes_no_quota(daemon: QuotaDaemon, tmp_path: Path) -> None:
    """Idempotency: resubmitting the same header answers the existing job (deduplicated),
    even when the client is at its quota."""
    alice = ClientJob(ALICE, seed=3)
    alice.upload_keys(daemon.address)
    key = secrets.token_hex(8)
    held = [stalled_submission(daemon.address, alice, key)]
    held.append(stalled_submission(daemon.address, alice, secrets.token_hex(8)))
    try:
        daemon.wait_for(lambda: daemon.usage("jobs") == 2)
        with connect(daemon.address, identity=ALICE) as connection:
            state = connection.upload_state(key)
            assert state.found and state.state is JobState.RECEIVING
            accepted = connection.submit_job(alice.header(idempotency_key=key), iter(()))
        assert accepted.deduplicated and accepted.job_id == state.job_id
    finally:
        for stalled in held:
            stalled.release()
    daemon.wait_for(lambda: daemon.usage("jobs") == 0)
