"""Quota figures survive a ``kill -9``: they are measured from the store when the daemon starts.
A job that was running when the daemon was killed counts again (and still bounds its client's
``--max-jobs-per-client``), the keys and job folders a client stores count for that client (a
``--max-stored-bytes-per-client`` just above them refuses its next key upload, not another
client's), and a settled store gives the same figures before and after a kill, equal to an
independent measurement of the store."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from support.quota_daemon import ClientJob, QuotaDaemon, stalled_submission
from support.signing import connect

from regaudit.evaluator.quotas import STORED_RETRY_DELAY_S
from regaudit.shared.errors import QuotaExceededError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import JobState

ALICE = SigningIdentity.generate("client")
BOB = SigningIdentity.generate("client")
MB = 1_000_000
#: Rows of the job that runs while the daemon is killed (seconds of evaluation on one worker).
LONG_ROWS = 200_000


def restart(daemon: QuotaDaemon, *extra: str) -> QuotaDaemon:
    """SIGKILL ``daemon``, then a new one on the same store with ``extra`` options."""
    daemon.kill()
    return QuotaDaemon(daemon.root, extra).start()


def test_quota_figures_are_right_after_kill_9(tmp_path: Path) -> None:
    daemon = QuotaDaemon(tmp_path, ("--max-jobs-per-client", "1")).start()
    try:
        # 1. Alice: a finished job (its results stay), idle keys, and a long job running
        _job_id, state, reason = ClientJob(ALICE, seed=1).submit(
            daemon.address, idempotency_key=secrets.token_hex(8)
        )
        assert state is JobState.SUCCEEDED, reason
        idle = ClientJob(ALICE, seed=2)
        idle.upload_keys(daemon.address)
        long = ClientJob(ALICE, rows=LONG_ROWS, seed=3)
        long.upload_keys(daemon.address)
        with connect(daemon.address, identity=ALICE) as connection:
            accepted = connection.submit_job(long.header(), iter(long.ciphertexts))
            seen = next(iter(connection.watch_job(accepted.job_id))).state
        assert seen is JobState.RUNNING, seen
        # 2. kill -9 while it runs; the new daemon's per-client stored quota is just above
        #    what Alice holds on disk, so only its measurement of her files can refuse her
        alice_bytes = daemon.held_bytes()
        quota = alice_bytes + 5 * MB
        daemon = restart(daemon, "--max-jobs-per-client", "1", "--max-stored-bytes-per-client",
                         str(quota))  # fmt: skip
        # 3. the running job counts again: Alice is at her one job
        assert daemon.usage("jobs") == 1
        held = stalled_submission(daemon.address, idle, secrets.token_hex(8))
        held.thread.join(timeout=30)
        assert isinstance(held.error, QuotaExceededError), held.error
        assert held.error.field == "max_jobs_per_client"
        # 4. her stored bytes count for her: another key set is refused, with a retry delay
        #    (her running job may free space); Bob's is stored
        with pytest.raises(QuotaExceededError) as refused:
            ClientJob(ALICE, seed=4).upload_keys(daemon.address)
        assert refused.value.field == "max_stored_bytes_per_client"
        assert refused.value.retry_after_s == STORED_RETRY_DELAY_S
        ClientJob(BOB, seed=5).upload_keys(daemon.address)
        # 5. the long job resumes and succeeds; once settled, the figures are the store's
        with connect(daemon.address, identity=ALICE) as connection:
            assert connection.wait_for_job(accepted.job_id).state is JobState.SUCCEEDED
        daemon.wait_for(lambda: daemon.usage("jobs") == 0)
        daemon.wait_for(lambda: daemon.usage("stored_bytes") == daemon.held_bytes())
        settled = daemon.usage("stored_bytes")
        assert settled > 2 * 12 * MB  # (two idle key sets and two jobs' results)
        # 6. a second kill -9 of a settled store: the same figures at once
        daemon = restart(daemon)
        assert daemon.usage("stored_bytes") == settled == daemon.held_bytes()
        assert daemon.usage("jobs") == 0
        assert daemon.value("quota_clients") == 2
    finally:
        daemon.stop()
