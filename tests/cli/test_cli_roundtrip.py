"""The command-line conventions on the wire (issue 12): a closed port is "cannot reach the
evaluator", ``audit --quiet`` prints only its result, ``audit --json`` one object,
``verify --short`` one line and ``verify --quiet`` nothing, with the options an audit repeats
taken from regaudit.toml and the environment. Real daemon, real gRPC on 127.0.0.1, real SEAL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import ROOT
from support.parties import Parties

#: A small profile: the conventions, not the cryptography, are under test.
PROFILE = "ckks-n8192-d3-v1"


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    running = Parties.start(tmp_path_factory.mktemp("cli-roundtrip"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def fairness_input(parties: Parties) -> Path:
    path = parties.root / "input.json"
    path.write_text(
        json.dumps(
            {
                "y_true": [0, 1, 1, 0, 1, 0, 1, 1],
                "y_pred": [0, 1, 0, 1, 1, 0, 1, 0],
                "group_a": [1, 1, 1, 1, 0, 0, 0, 0],
                "group_b": [0, 0, 0, 0, 1, 1, 1, 1],
                "threshold": 0.1,
            }
        )
    )
    return path


def run(
    role: str, *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m regaudit.<role>`` in ``cwd`` with no REGAUDIT_* variable but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGAUDIT_")}
    return subprocess.run(
        [sys.executable, "-m", f"regaudit.{role}", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**clean, **(env or {})},
        check=False,
    )


def closed_port() -> str:
    """HOST:PORT on loopback where nothing listens (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


def test_a_closed_port_is_cannot_reach_the_evaluator(
    parties: Parties, fairness_input: Path, tmp_path: Path
) -> None:
    address = closed_port()
    args = [
        "audit", "fairness", "--input", fairness_input, "--evaluator", address,
        "--regulator-card", parties.card, "--identity", parties.client,
        "--out", tmp_path / "a.bundle", *parties.pins, "--timeout", "30",
    ]  # fmt: skip
    text = run("client", *args)
    assert text.returncode == 3, text.stderr
    assert text.stderr == (
        f"error: cannot reach the evaluator at {address} (connection refused) — is "
        "`regaudit-evaluator serve` running? [evaluator_unreachable]\n"
    )
    assert "UNAVAILABLE" not in text.stderr and "ipv4:" not in text.stderr
    as_json = run("client", *args, "--json")
    document = json.loads(as_json.stdout)
    assert as_json.returncode == 3
    assert (document["reason"], document["exit_code"]) == ("evaluator_unreachable", 3)


def test_config_and_environment_quiet_json_short(
    parties: Parties, fairness_input: Path, tmp_path: Path
) -> None:
    """One audit with everything it repeats in regaudit.toml and the environment; --quiet
    prints only the result; --json one object; verify --short one line, --quiet nothing."""
    pins = parties.pins
    (tmp_path / "regaudit.toml").write_text(
        "[client]\n"
        f'regulator-card = "{parties.card}"\n'
        f'identity = "{parties.client}"\n'
        f'pin-evaluator = "{pins[1]}"\n'
        f'pin-regulator = "{pins[3]}"\n'
        f'profile = "{PROFILE}"\n'
        "[regulator]\n"
        f'identity = "{parties.regulator}"\n'
    )
    env = {"REGAUDIT_EVALUATOR": parties.address, "REGAUDIT_REGULATOR_TRUST": str(parties.trust)}
    quiet = run("client", "audit", "fairness", "--input", fairness_input, "--out", "q.bundle",
                "--quiet", cwd=tmp_path, env=env)  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # no progress, no notes ("uploading evaluation keys ...")
    assert [line.split()[0] for line in quiet.stdout.splitlines()] == ["audit", "bundle", "job"]
    assert (tmp_path / "q.bundle").is_file()

    as_json = run("client", "audit", "fairness", "--input", fairness_input, "--out", "j.bundle",
                  "--json", "--quiet", cwd=tmp_path, env=env)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    assert summary["ok"] is True and summary["primitive"] == "fairness"
    assert summary["bundle"] == "j.bundle" and summary["rows"] == 8
    assert summary["profile"] == PROFILE

    short = run("regulator", "verify", "q.bundle", "--short", cwd=tmp_path, env=env)
    assert short.returncode == 0, short.stderr
    audit_id = short.stdout.split()[-1]
    assert short.stdout == f"Verified OK: fairness audit {audit_id}\n"
    silent = run("regulator", "verify", "j.bundle", "--quiet", cwd=tmp_path, env=env)
    assert (silent.returncode, silent.stdout) == (0, "")
    assert json.loads(as_json.stdout)["audit_id"] != audit_id

    # a trust store that trusts nobody (the command line over the environment)
    empty = run("regulator", "trust", "policy", "--trust", "empty.json",
                "--witnesses-required", "0", cwd=tmp_path)  # fmt: skip
    assert empty.returncode == 0, empty.stderr
    rejected = run("regulator", "verify", "q.bundle", "--short", "--trust", "empty.json",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert (rejected.returncode, rejected.stdout) == (1, "REJECTED: untrusted_issuer\n")
    silent = run("regulator", "verify", "q.bundle", "--quiet", "--trust", "empty.json",
                 cwd=tmp_path, env=env)  # fmt: skip
    assert (silent.returncode, silent.stdout) == (1, "")
    assert silent.stderr.rstrip().endswith("[untrusted_issuer]")
