"""Three real processes over loopback gRPC: evaluator daemon, client CLI, regulator CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def cli(
    role: str, *args: str | Path, check: bool = False, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run ``regaudit-<role>`` as a real subprocess."""
    command = [sys.executable, "-m", f"regaudit.{role}", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}"
        )
    return result


@dataclass
class Parties:
    """Identities, trust store and a running evaluator daemon shared by the e2e tests."""

    root: Path
    regulator: Path
    evaluator: Path
    client: Path
    trust: Path
    address: str
    daemon: subprocess.Popen[str]

    @property
    def card(self) -> Path:
        return self.regulator / "regulator-card.json"

    def audit(self, input_file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return cli(
            "client",
            "audit",
            "fairness",
            "--input",
            input_file,
            "--evaluator",
            self.address,
            "--regulator-card",
            self.card,
            "--identity",
            self.client,
            "--out",
            out,
            *extra,
        )

    def verify(
        self,
        bundle: Path,
        *extra: str | Path,
        trust: Path | None = None,
        identity: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return cli(
            "regulator",
            "verify",
            bundle,
            "--identity",
            identity or self.regulator,
            "--trust",
            trust or self.trust,
            "--json",
            *extra,
        )


def start_evaluator(identity: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regaudit.evaluator",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--identity",
            str(identity),
            "--store",
            str(store),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("listening on "):
            return process, line.split("listening on ", 1)[1].strip()
    process.kill()
    raise AssertionError("evaluator did not start:\n" + "".join(lines))


def verified_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"not JSON: {result.stdout!r}\nstderr: {result.stderr}") from error
    assert isinstance(payload, dict)
    return payload
