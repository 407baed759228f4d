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

    @property
    def pins(self) -> list[str]:
        """The client's trust anchors: the evaluator's receipt key and the regulator's
        card-signing key, as printed by their ``init`` (key_id of their .pub.json)."""
        return pin_options(self.evaluator, self.regulator)

    def audit(
        self, input_file: Path, out: Path, *extra: str, pin: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``regaudit-client audit fairness`` with both keys pinned (``pin=False``: none)."""
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
            *(self.pins if pin else []),
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


def key_id(public_key_file: Path) -> str:
    """key_id of a ``<kind>.pub.json`` file."""
    value = json.loads(public_key_file.read_text())["key_id"]
    assert isinstance(value, str)
    return value


def pin_options(evaluator_dir: Path, regulator_dir: Path) -> list[str]:
    """``--pin-evaluator KEY_ID --pin-regulator KEY_ID`` for identities made by ``init``."""
    return [
        "--pin-evaluator",
        key_id(evaluator_dir / "evaluator.pub.json"),
        "--pin-regulator",
        key_id(regulator_dir / "regulator.pub.json"),
    ]


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
