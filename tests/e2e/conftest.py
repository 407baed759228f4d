"""Fixtures for the end-to-end tests (harness code lives in e2e_harness.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from e2e_harness import Parties, cli, start_evaluator


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    root = tmp_path_factory.mktemp("parties")
    regulator, evaluator, client = root / "regulator", root / "evaluator", root / "client"
    trust = root / "trust.json"
    cli("regulator", "init", regulator, check=True)
    cli("evaluator", "init", evaluator, check=True)
    cli("client", "init", client, check=True)
    cli("regulator", "trust", "add", evaluator / "evaluator.pub.json", "--trust", trust, check=True)
    cli("regulator", "trust", "add", client / "client.pub.json", "--trust", trust, check=True)
    daemon, address = start_evaluator(evaluator, root / "store")
    try:
        yield Parties(root, regulator, evaluator, client, trust, address, daemon)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
