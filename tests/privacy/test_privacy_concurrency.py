"""Two real processes racing for the last of a budget: exactly one release passes, the ledger
never records more than the budget (check-and-charge is one BEGIN IMMEDIATE transaction)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from regaudit.regulator.privacy import PrivacyLedger
from regaudit.regulator.verified import VerifiedAudit

WORKER = Path(__file__).with_name("ledger_worker.py")
#: Seconds to wait for both workers to be ready / to finish.
WORKER_TIMEOUT_SECONDS = 120.0


def race(identity: Path, audit: VerifiedAudit, *, epsilon: float, hold: float) -> list[Any]:
    """Start two workers, release them together, return their JSON outcomes."""
    audit_path = identity.parent / "audit.pickle"
    audit_path.write_bytes(pickle.dumps(audit))
    go = identity.parent / "go"
    readies = [identity.parent / f"ready-{n}" for n in range(2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(identity),
                str(audit_path),
                str(epsilon),
                str(hold),
                str(ready),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    while not all(ready.exists() for ready in readies):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.01)
    go.touch()
    outcomes = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=WORKER_TIMEOUT_SECONDS)
        assert worker.returncode == 0, stderr
        outcomes.append(json.loads(stdout.strip().splitlines()[-1]))
    return outcomes


def _spent(identity: Path) -> tuple[float, int]:
    with PrivacyLedger.for_identity(identity) as ledger:
        listing = ledger.listing()
    return sum(r["epsilon"] for r in listing["releases"]), len(listing["releases"])


@pytest.mark.parametrize("hold", [0.0, 1.0], ids=["apply_release", "overlapping_charges"])
def test_two_processes_cannot_both_spend_the_last_of_a_budget(
    verified: dict[str, VerifiedAudit], identity: Path, hold: float
) -> None:
    with PrivacyLedger.for_identity(identity) as ledger:
        ledger.set_budget(client=None, dataset=None, epsilon=1.0, delta=0.0)
    started = time.monotonic()
    outcomes = race(identity, verified["breach"], epsilon=0.6, hold=hold)
    assert sorted(o["ok"] for o in outcomes) == [False, True], outcomes
    (refused,) = [o for o in outcomes if not o["ok"]]
    assert refused["reason"] == "privacy_budget_exceeded"
    assert _spent(identity) == (0.6, 1)
    if hold:
        # the loser waited for the winner's transaction instead of reading a stale total
        assert time.monotonic() - started >= hold
