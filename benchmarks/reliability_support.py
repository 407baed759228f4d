"""What the reliability benchmark's scenarios share: an evaluator daemon that can be killed with
SIGKILL and restarted on the same store (every generation's JSON log kept), read-only looks into
the store's SQLite (integrity check, jobs, receipts), the daemon's events, client audits as real
``regaudit-client`` processes (``server_busy`` retried after the hinted delay) and
``regaudit-regulator verify``, and the row every scenario reports.

Nothing here asserts: every figure is recorded, and a scenario's verdict (``green``) compares
what was observed with what was expected.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import ROOT, JsonObject, Parties, role_cli
from process_trees import process_tree, read_or_empty, rss_kb

sys.path.insert(0, str(ROOT / "tests"))

__all__ = [
    "CLIENT_TIMEOUT_S",
    "MAX_BUSY_RETRIES",
    "ClientAudit",
    "Daemon",
    "ScenarioResult",
    "audit_command",
    "dir_bytes",
    "job_rows",
    "poll",
    "receipt_counts",
    "run_client_audit",
    "store_integrity",
    "verify_bundle",
    "worker_pids",
]

#: How long the daemon may take to start (spawning its workers dominates; seconds).
START_TIMEOUT_S = 120.0
#: How long one client audit process may take (seconds).
CLIENT_TIMEOUT_S = 600.0
#: How many ``server_busy`` refusals one audit retries before it counts as failed.
MAX_BUSY_RETRIES = 20
#: The busy hint in the client's message: "... retry after 5 s".
_RETRY_AFTER = re.compile(r"retry after ([0-9.]+) s")


@dataclass
class ScenarioResult:
    """One row of the report."""

    scenario: str
    done: str
    expected: str
    observed: str
    green: bool
    numbers: JsonObject = field(default_factory=dict)
    seconds: float = 0.0


def poll(check: Any, timeout: float, interval: float = 0.05) -> Any:
    """Call ``check()`` until it returns something truthy (returned) or ``timeout`` passes
    (the last value is returned)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


class Daemon:
    """``regaudit-evaluator serve --log-format json`` on one store; :meth:`kill` sends SIGKILL,
    :meth:`start` starts the next generation on the same store (logs ``daemon-<n>.log``)."""

    def __init__(self, parties: Parties, store: Path, *extra: str) -> None:
        self.parties, self.store, self.extra = parties, store, extra
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.generation = 0
        self.logs: list[Path] = []

    def start(self) -> Daemon:
        from regaudit.evaluator.server import wait_for_ready_file

        self.generation += 1
        self.store.mkdir(parents=True, exist_ok=True)
        log = self.store.parent / f"{self.store.name}-daemon-{self.generation}.log"
        ready = self.store.parent / f"{self.store.name}.ready"
        ready.unlink(missing_ok=True)
        command = role_cli(
            "evaluator", "serve", "--listen", "127.0.0.1:0", "--identity", self.parties.evaluator,
            "--store", self.store, "--ready-file", ready, "--log-format", "json", *self.extra,
        )  # fmt: skip
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.logs.append(log)
        self.address = wait_for_ready_file(
            ready, process=self.process, timeout=START_TIMEOUT_S, output=log
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the daemon (its workers die with it: parent-death signal) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def events(self, name: str | None = None) -> list[JsonObject]:
        """Every JSON event of every generation (``name``: only those)."""
        found: list[JsonObject] = []
        for log in self.logs:
            for line in read_or_empty(str(log)).splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and (name is None or event.get("event") == name):
                    found.append(event)
        return found

    def succeeded_events_per_job(self) -> Counter[str]:
        """``job_succeeded`` events per job id over every generation (a receipt is signed
        once per such event)."""
        return Counter(str(e.get("job_id")) for e in self.events("job_succeeded"))

    def tree_rss_mb(self) -> float:
        """Resident memory of the daemon and its workers now (MB)."""
        return float(sum(rss_kb(pid) for pid in process_tree(self.pid))) / 1024


def worker_pids(daemon_pid: int) -> list[int]:
    """The daemon's worker processes (its ``multiprocessing`` spawn children, not the resource
    tracker)."""
    found = []
    for pid in process_tree(daemon_pid)[1:]:
        command = read_or_empty(f"/proc/{pid}/cmdline").replace("\0", " ")
        if "multiprocessing" in command and "resource_tracker" not in command:
            found.append(pid)
    return found


def _connect_ro(store: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{store / 'jobs.sqlite3'}?mode=ro", uri=True, timeout=10)


def store_integrity(store: Path) -> str:
    """``PRAGMA integrity_check`` of the store's database ("ok" when clean)."""
    with _connect_ro(store) as db:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows)


def job_rows(store: Path) -> dict[str, JsonObject]:
    """Every job in the store: state, failure reason, chunks, whether it holds a receipt."""
    with _connect_ro(store) as db:
        rows = db.execute(
            "SELECT id, state, error_reason, chunks_evaluated, n_chunks, receipt, header_digest "
            "FROM jobs"
        ).fetchall()
    return {
        r[0]: {
            "state": r[1],
            "reason": r[2],
            "chunks_evaluated": r[3],
            "n_chunks": r[4],
            "receipt_bytes": len(r[5]) if r[5] is not None else 0,
            "header_digest": r[6],
        }
        for r in rows
    }


def receipt_counts(store: Path) -> JsonObject:
    """Receipts held by the store: per job id and per signed header (the same submission);
    ``max_per_job`` / ``max_per_header`` above 1 would be a receipt issued twice."""
    with _connect_ro(store) as db:
        per_job = db.execute(
            "SELECT id, COUNT(receipt) FROM jobs GROUP BY id HAVING COUNT(receipt) > 0"
        ).fetchall()
        per_header = db.execute(
            "SELECT header_digest, COUNT(receipt) FROM jobs GROUP BY header_digest "
            "HAVING COUNT(receipt) > 0"
        ).fetchall()
    return {
        "jobs_with_receipt": len(per_job),
        "max_per_job": max((r[1] for r in per_job), default=0),
        "max_per_header": max((r[1] for r in per_header), default=0),
    }


def dir_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(directory, name)).st_size
    return total


def audit_command(
    parties: Parties, address: str, input_file: Path, out: Path, *extra: str
) -> list[str]:
    """``regaudit-client audit fairness`` pinned to the parties' evaluator and regulator."""
    from support.parties import pin_options

    command: list[str] = role_cli(
        "client", "audit", "fairness", "--input", input_file, "--evaluator", address,
        "--regulator-card", parties.card, "--identity", parties.client, "--out", out,
        "--quiet", "--workers", "1", *pin_options(parties.evaluator, parties.regulator),
        *extra,
    )  # fmt: skip
    return command


@dataclass
class ClientAudit:
    """One client audit, its ``server_busy`` retries included."""

    returncode: int
    attempts: int
    busy_refusals: int
    wall_s: float
    bundle: Path | None
    output: str


def run_client_audit(
    parties: Parties,
    address: str,
    input_file: Path,
    out: Path,
    *extra: str,
    timeout: float = CLIENT_TIMEOUT_S,
) -> ClientAudit:
    """Run the client until it succeeds or fails for a reason other than ``server_busy`` (after
    which it sleeps the hinted delay and runs again, at most MAX_BUSY_RETRIES times)."""
    began = time.monotonic()
    busy = 0
    attempt = 0
    while True:
        attempt += 1
        result = subprocess.run(
            audit_command(parties, address, input_file, out, *extra),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        output = result.stdout + result.stderr
        hint = _RETRY_AFTER.search(output)
        if result.returncode != 0 and hint and busy < MAX_BUSY_RETRIES:
            busy += 1
            time.sleep(float(hint.group(1)))
            continue
        bundles = sorted(out.parent.glob(f"{out.name}*"))
        return ClientAudit(
            returncode=result.returncode,
            attempts=attempt,
            busy_refusals=busy,
            wall_s=time.monotonic() - began,
            bundle=bundles[0] if result.returncode == 0 and bundles else None,
            output=output[-1500:],
        )


def verify_bundle(parties: Parties, bundle: Path) -> tuple[bool, str]:
    """``regaudit-regulator verify BUNDLE --json``: (verified, its last output)."""
    result = subprocess.run(
        role_cli(
            "regulator",
            "verify",
            bundle,
            "--identity",
            parties.regulator,
            "--trust",
            parties.trust,
            "--json",
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=CLIENT_TIMEOUT_S,
    )
    return result.returncode == 0, (result.stdout + result.stderr)[-500:]
