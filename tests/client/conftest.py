"""Fixtures of the client tests: a regulator card, a client identity, seed-shaped inputs, and
(for the end-to-end tests) a real evaluator daemon started as a subprocess."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import daemon as support_daemon
from support.cli import cli


@pytest.fixture(scope="session")
def regulator_card_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real regulator card (HPKE ML-KEM-768 + X25519), signed by the regulator identity
    (regulator.key / regulator.pub.json) saved with its private half in the same dir."""
    from regaudit.secretkey.sealing import RegulatorKeys
    from regaudit.shared.evidence.identity import SigningIdentity

    directory = tmp_path_factory.mktemp("regulator")
    signer = SigningIdentity.generate("regulator")
    card = RegulatorKeys.generate().save(directory, signer=signer)
    signer.save(directory)
    return card


@pytest.fixture(scope="session")
def client_identity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from regaudit.shared.evidence.identity import SigningIdentity

    directory = tmp_path_factory.mktemp("client-identity")
    SigningIdentity.generate("client").save(directory)
    return directory


def seed_payload(rows: int = 64, *, seed: int = 3) -> dict[str, Any]:
    """A valid seed-shaped fairness input with both groups non-empty."""
    rng = np.random.default_rng(seed)
    membership = rng.integers(0, 2, size=rows)
    membership[0], membership[1] = 0, 1
    return {
        "y_true": rng.integers(0, 2, size=rows).tolist(),
        "y_pred": rng.integers(0, 2, size=rows).tolist(),
        "group_a": (membership == 0).astype(int).tolist(),
        "group_b": (membership == 1).astype(int).tolist(),
        "threshold": 0.1,
    }


@pytest.fixture
def make_payload() -> Callable[..., dict[str, Any]]:
    """:func:`seed_payload` as a fixture (test modules cannot import this conftest)."""
    return seed_payload


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[Any, str], Path]:
    def write(payload: Any, name: str = "input.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(payload))  # json.dumps writes NaN literally
        return path

    return write


@dataclass
class Evaluator:
    process: subprocess.Popen[str]
    address: str
    identity: Path

    @property
    def public_key_file(self) -> Path:
        return self.identity / "evaluator.pub.json"


def start_evaluator(identity: Path, store: Path, *extra: str) -> Evaluator:
    """``regaudit-evaluator init``, then ``serve --listen 127.0.0.1:0`` until ready
    (tests/support)."""
    cli("evaluator", "init", identity, check=True, timeout=60)
    process, address = support_daemon.start_evaluator(identity, store, *extra)
    return Evaluator(process, address, identity)


@pytest.fixture(scope="session")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    """A real evaluator daemon for the whole session."""
    root = tmp_path_factory.mktemp("evaluator")
    daemon = start_evaluator(root / "identity", root / "store")
    try:
        yield daemon
    finally:
        _stop(daemon)


def _stop(daemon: Evaluator) -> None:
    support_daemon.stop_evaluator(daemon.process)


@pytest.fixture
def evaluator_factory(tmp_path: Path) -> Iterator[Callable[..., Evaluator]]:
    """Start extra evaluator daemons (e.g. with TLS options); all are stopped afterwards."""
    started: list[Evaluator] = []

    def start(*extra: str) -> Evaluator:
        root = tmp_path / f"evaluator-{len(started)}"
        daemon = start_evaluator(root / "identity", root / "store", *extra)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        _stop(daemon)
