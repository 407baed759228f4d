"""The quota ledger on its own: a check and its reservation are one step (many streams of one
client racing for its last job slot: exactly the quota's number win), a rate limit's retry
delay is the time to its next token, and a reservation given back frees its quota."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from regaudit.evaluator.quota_limits import QuotaLimits
from regaudit.evaluator.quotas import QuotaLedger
from regaudit.shared.errors import QuotaExceededError, RateLimitedError

CLIENT = "ab" * 32
OTHER = "cd" * 32
RACERS = 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_racing_reservations_never_exceed_the_quota(tmp_path: Path) -> None:
    limits = QuotaLimits(max_jobs_per_client=3, max_stored_bytes_per_client=10_000, submit_rate=0)
    ledger = QuotaLedger(limits, tmp_path)
    start = threading.Barrier(RACERS)
    won: list[object] = []
    refused: list[QuotaExceededError] = []
    lock = threading.Lock()

    def race() -> None:
        start.wait()
        try:
            ticket = ledger.admit_job(CLIENT, claim_bytes=1_000)
        except QuotaExceededError as exc:
            with lock:
                refused.append(exc)
            return
        with lock:
            won.append(ticket)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 3 and len(refused) == RACERS - 3
    assert {e.field for e in refused} == {"max_jobs_per_client"}
    usage = ledger.usage(CLIENT)
    assert (usage.jobs, usage.stored) == (3, 3_000)
    # the other client is not touched; giving reservations back frees the quota
    assert ledger.usage(OTHER).jobs == 0
    for ticket in won:
        ledger.release(ticket)  # type: ignore[arg-type]
    assert ledger.usage().jobs == 0 and ledger.usage().stored == 0
    ledger.release(won[0])  # type: ignore[arg-type]  # (twice: harmless)
    assert ledger.usage().jobs == 0


def test_stored_bytes_refusal_names_an_upload_that_can_never_fit(tmp_path: Path) -> None:
    ledger = QuotaLedger(QuotaLimits(max_stored_bytes_per_client=5_000), tmp_path)
    with pytest.raises(QuotaExceededError) as alone:
        ledger.admit_job(CLIENT, claim_bytes=6_000)
    assert alone.value.retry_after_s is None and "alone exceeds" in str(alone.value)
    held = ledger.admit_job(CLIENT, claim_bytes=4_000)
    with pytest.raises(QuotaExceededError) as later:
        ledger.reserve_keys(CLIENT, 2_000)
    assert later.value.field == "max_stored_bytes_per_client"
    assert later.value.retry_after_s is not None  # (the held job may end and free space)
    ledger.release(held)
    ledger.release(ledger.reserve_keys(CLIENT, 2_000))


def test_rate_limit_delay_is_the_time_to_the_next_token(tmp_path: Path) -> None:
    clock = Clock()
    ledger = QuotaLedger(QuotaLimits(submit_rate=6, submit_burst=2), tmp_path, clock=clock)
    for _ in range(2):
        ledger.release(ledger.admit_job(CLIENT, claim_bytes=1))
    with pytest.raises(RateLimitedError) as first:
        ledger.admit_job(CLIENT, claim_bytes=1)
    assert first.value.retry_after_s == 10.0  # 6 a minute: one token every 10 s
    clock.now += 4.0
    with pytest.raises(RateLimitedError) as second:
        ledger.check_call(CLIENT, "SubmitJob")  # (refused early: no message read yet)
    assert second.value.retry_after_s == 6.0
    ledger.check_call(OTHER, "SubmitJob")  # another client's bucket is full
    clock.now += 6.0
    ledger.release(ledger.admit_job(CLIENT, claim_bytes=1))  # the hinted wait was enough
    with pytest.raises(RateLimitedError):
        ledger.admit_job(CLIENT, claim_bytes=1)
