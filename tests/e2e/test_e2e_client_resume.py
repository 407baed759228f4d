"""A killed client finishes its audit on a rerun: ``kill -9`` of ``regaudit-client audit
--idempotency-key K`` mid-upload, then the same command again. The rerun restores the audit's
keys from its resume journal (sealed under the client identity), resumes the very job the
daemon holds, uploads only the ciphertexts it lacks, and the bundle verifies."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import ROOT
from support.jobs import fairness_payload
from support.parties import Parties

ROWS = 200_000  # 49 chunks of 4096 rows: 197 ciphertexts
KILL_AFTER = 30


def _rows(store: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
        return {
            job_id: (state, reason)
            for job_id, state, reason in db.execute("SELECT id, state, error_reason FROM jobs")
        }


def _held(store: Path) -> int:
    with sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM ciphertexts").fetchone()[0])


def _wait(check: object, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def _held_at_resume(log: Path, job_id: str) -> list[int]:
    """``ciphertexts_held`` of every ``upload_resumed`` event of ``job_id`` (text log)."""
    found = []
    for line in log.read_text().splitlines():
        if "upload_resumed" in line and job_id in line:
            match = re.search(r"ciphertexts_held=(\d+)", line)
            assert match, line
            found.append(int(match.group(1)))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups, /proc")
def test_a_killed_client_resumes_its_job_on_rerun(tmp_path: Path) -> None:
    parties = Parties.start(tmp_path)
    try:
        store = tmp_path / "store"
        input_file = tmp_path / "input.json"
        input_file.write_text(json.dumps(fairness_payload(ROWS, seed=3)))
        out = tmp_path / "bundle.json"
        key = ["--idempotency-key", "quarterly-2026-q4", "--workers", "1", "--quiet"]
        command = [
            sys.executable, "-m", "regaudit.client", "audit", "fairness",
            "--input", str(input_file), "--evaluator", parties.address,
            "--regulator-card", str(parties.card), "--identity", str(parties.client),
            "--out", str(out), *parties.pins, *key,
        ]  # fmt: skip
        client = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: _held(store) >= KILL_AFTER, 120)
        os.killpg(client.pid, signal.SIGKILL)  # the client and its encryption worker
        client.wait(timeout=30)
        held_at_kill = _held(store)
        (job_id,) = _wait(
            lambda: [j for j, (state, _) in _rows(store).items() if state == "FAILED"], 30
        )
        assert _rows(store)[job_id] == ("FAILED", "upload_incomplete")
        journals = list((parties.client / "audits" / "resume").glob("*/journal.json"))
        assert len(journals) == 1  # kept: the audit may still be finished

        rerun = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        # the same job, resumed after the ciphertexts it held, now done; no second job
        assert _rows(store) == {job_id: ("SUCCEEDED", None)}
        log = tmp_path / "store.log"
        (held,) = _held_at_resume(log, job_id)
        assert held >= held_at_kill >= KILL_AFTER
        assert not journals[0].parent.exists()  # the journal goes with the written bundle
        verified = parties.verify(out)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["evidence"]["evaluator"]["job_id"] == job_id
    finally:
        parties.stop()


def test_a_rerun_on_other_data_is_refused_and_keeps_nothing_half_done(tmp_path: Path) -> None:
    """The journal of an interrupted audit binds its input: the same idempotency key on other
    data is a usage error (exit 2) naming the option, and the journal stays for the real rerun."""
    from regaudit.client.resume_journal import JournalContent, ResumeJournal, journal_directory
    from regaudit.secretkey.ckks import ClientKeys
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.profiles import PROFILE_N8192_D3

    parties = Parties.start(tmp_path)
    try:
        identity = SigningIdentity.load(parties.client, kind="client")
        keys = ClientKeys.generate(PROFILE_N8192_D3, galois_steps=(1,))
        directory = journal_directory(
            parties.client, client_key_id=identity.key_id, idempotency_key="k-1"
        )
        content = JournalContent(
            idempotency_key="k-1",
            client_key_id=identity.key_id,
            audit_id="interrupted",
            canary_seed=bytes(32),
            primitive="fairness",
            plan_digest="sha256:" + "0" * 64,
            public_digest="sha256:" + "0" * 64,
            input_digest="sha256:" + "0" * 64,
            regulator_key_id="r",
            evaluation_keys_digest=keys.evaluation_keys().digest,
            profile_name=PROFILE_N8192_D3.name,
            galois_steps=keys.evaluation_keys().galois_steps,
        )
        ResumeJournal.create(
            directory,
            content,
            identity=identity,
            secret_key=keys.secret_key_bytes(),
            evaluation_keys=keys.evaluation_keys(),
        ).close()
        input_file = tmp_path / "input.json"
        input_file.write_text(json.dumps(fairness_payload(2000, seed=4)))
        result = parties.audit(input_file, tmp_path / "b.json", "--idempotency-key", "k-1")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "idempotency" in result.stderr and "differs from the interrupted audit" in (
            result.stderr
        )
        assert (directory / "journal.json").exists()
        assert not (tmp_path / "b.json").exists()
    finally:
        parties.stop()
