"""Fixtures of the witness tests: the three parties as their command lines create them, a
primary and a witness evaluator daemon (two real ``regaudit-evaluator serve`` processes with
their own keys, both trusted), and -- for the cheating tests -- a third daemon whose
installation was modified to compute wrong results (``cheat/sitecustomize.py``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import cli
from support.daemon import stop_evaluator
from support.jobs import fairness_payload
from support.parties import make_identities
from support.witnesses import ROWS, Witnessed, start_daemon


@pytest.fixture(scope="session")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    root = tmp_path_factory.mktemp("witnessed")
    ids = make_identities(root)  # regulator, client, the primary evaluator; trust.json
    witness, cheat = root / "witness", root / "cheat"
    client_trust = root / "client-trust.json"
    for directory in (witness, cheat):
        cli("evaluator", "init", directory, check=True)
        pub = directory / "evaluator.pub.json"
        cli("regulator", "trust", "add", pub, "--trust", ids.trust, check=True)
    for pub in (
        ids.evaluator / "evaluator.pub.json",
        witness / "evaluator.pub.json",
        cheat / "evaluator.pub.json",
        ids.regulator / "regulator.pub.json",
    ):
        cli("client", "trust", "add", pub, "--trust", client_trust, check=True)
    input_file = root / "input.json"
    input_file.write_text(json.dumps(fairness_payload(ROWS, 11)))
    daemons: list[subprocess.Popen[str]] = []
    try:
        primary_daemon, primary_address = start_daemon(ids.evaluator, root / "primary-store")
        daemons.append(primary_daemon)
        witness_daemon, witness_address = start_daemon(witness, root / "witness-store")
        daemons.append(witness_daemon)
        yield Witnessed(
            root=root,
            regulator=ids.regulator,
            client=ids.client,
            primary=ids.evaluator,
            witness=witness,
            cheat=cheat,
            trust=ids.trust,
            client_trust=client_trust,
            input=input_file,
            primary_address=primary_address,
            witness_address=witness_address,
            daemons=daemons,
        )
    finally:
        for daemon in daemons:
            stop_evaluator(daemon)


@pytest.fixture(scope="session")
def cheat_address(witnessed: Witnessed) -> Iterator[str]:
    """A daemon with the cheater's (trusted) key that swaps y_true and y_pred in every chunk."""
    daemon, address = start_daemon(witnessed.cheat, witnessed.root / "cheat-store", cheat=True)
    try:
        yield address
    finally:
        stop_evaluator(daemon)


@pytest.fixture(scope="session")
def witnessed_bundle(witnessed: Witnessed) -> Path:
    """A bundle of an audit with one full witness that agreed (made once; do not modify)."""
    bundle = witnessed.root / "witnessed.bundle"
    result = witnessed.audit(bundle, "--witness", witnessed.witness_address)
    assert result.returncode == 0, result.stderr
    return bundle
