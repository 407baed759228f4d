"""The witness tests' parties and daemons: identities made by the command lines, trust files, and
evaluator daemons (honest, or cheating with ``tests/witness/cheat/sitecustomize.py``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.cli import cli
from support.daemon import start_evaluator
from support.parties import key_id

#: Rows of the witness tests' audits: two chunks at ckks-n8192-d3-v1 (9 ciphertexts).
ROWS = 5_000
#: The directory whose sitecustomize.py makes a daemon cheat.
CHEAT_DIR = Path(__file__).resolve().parents[1] / "witness" / "cheat"


@dataclass
class Witnessed:
    """Identities, trust files, the input, and the running primary and witness daemons."""

    root: Path
    regulator: Path
    client: Path
    #: evaluator identity directories: the primary, the witness, the cheater
    primary: Path
    witness: Path
    cheat: Path
    #: the regulator's trust store (trusts the client and all three evaluators)
    trust: Path
    #: the client's trust file (the three evaluators and the regulator's signing key)
    client_trust: Path
    input: Path
    primary_address: str
    witness_address: str
    daemons: list[subprocess.Popen[str]]

    def key(self, evaluator: Path) -> str:
        return key_id(evaluator / "evaluator.pub.json")

    def audit(
        self, out: Path, *extra: str | Path, evaluator: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``regaudit-client audit fairness`` against the primary (or ``evaluator``)."""
        return cli(
            "client", "audit", "fairness",
            "--input", self.input,
            "--evaluator", evaluator or self.primary_address,
            "--regulator-card", self.regulator / "regulator-card.json",
            "--identity", self.client,
            "--trust", self.client_trust,
            "--out", out,
            "--quiet",
            *extra,
        )  # fmt: skip

    def verify(self, bundle: Path, *, trust: Path | None = None) -> dict[str, object]:
        """``regaudit-regulator verify BUNDLE --json``: its one JSON object, with the exit code
        under ``"exit"``."""
        result = cli(
            "regulator", "verify", bundle,
            "--identity", self.regulator,
            "--trust", trust or self.trust,
            "--json",
        )  # fmt: skip
        try:
            document = json.loads(result.stdout)
        except json.JSONDecodeError as error:
            raise AssertionError(f"not JSON: {result.stdout!r}\n{result.stderr}") from error
        assert isinstance(document, dict)
        document["exit"] = result.returncode
        return document

    def trust_with_policy(self, witnesses_required: int, name: str) -> Path:
        """A copy of the regulator's trust store with ``witnesses_required`` set by the CLI."""
        path = self.root / name
        path.write_bytes(self.trust.read_bytes())
        cli(
            "regulator", "trust", "policy", "--trust", path,
            "--witnesses-required", str(witnesses_required),
            check=True,
        )  # fmt: skip
        return path


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the block (a daemon started in it inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_daemon(
    identity: Path, store: Path, *extra: str, cheat: bool = False
) -> tuple[subprocess.Popen[str], str]:
    """A daemon with one worker; ``cheat``: with the cheating sitecustomize on its path."""
    if not cheat:
        return start_evaluator(identity, store, "--workers", "1", *extra)
    path = os.pathsep.join(p for p in (str(CHEAT_DIR), os.environ.get("PYTHONPATH", "")) if p)
    with environment(PYTHONPATH=path, REGAUDIT_TEST_CHEAT="swap-labels"):
        return start_evaluator(identity, store, "--workers", "1", *extra)


__all__ = ["CHEAT_DIR", "ROWS", "Witnessed", "environment", "start_daemon"]
