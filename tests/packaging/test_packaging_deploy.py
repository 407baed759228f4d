"""The deployment files say only what the code does: the Dockerfile's role images keep custody
physical (the evaluator image has no secret-key code), and every command line written in the
compose file and the systemd unit is accepted by the real command line it names (each option
exists on that subcommand). Running the images needs a Docker daemon, which this test does not."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ROLES = {
    "regaudit-client": "client",
    "regaudit-evaluator": "evaluator",
    "regaudit-regulator": "regulator",
}


def _stages() -> dict[str, list[str]]:
    """Dockerfile stage name -> its lines."""
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line)
        if match:
            current = stages.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return stages


def test_each_role_has_its_image_and_the_evaluator_image_holds_no_secret_key_code() -> None:
    stages = _stages()
    assert {"base", "evaluator", "client", "regulator"} <= set(stages)
    evaluator = "\n".join(stages["base"] + stages["evaluator"])
    for package in ("secretkey/", "client/", "regulator/"):
        assert package not in evaluator, package
    for role in ("client", "regulator"):
        assert "secretkey/" in "\n".join(stages[role])
    for stage in ("evaluator", "client", "regulator"):
        assert "USER regaudit" in stages[stage], stage


def _invocations(text: str) -> list[list[str]]:
    """Every ``regaudit-*`` command in a shell command line (joined with && / ;)."""
    words = shlex.split(text.replace("\\\n", " "))
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", ";", "||"):
            commands.append([])
        else:
            commands[-1].append(word)
    found = []
    for command in commands:
        while command and command[0] in ("exec", "sudo"):
            command = command[1:]
        if command and Path(command[0]).name in ROLES:
            found.append([Path(command[0]).name, *command[1:]])
    return found


@cache
def _help(program: str, subcommand: tuple[str, ...]) -> str:
    role = ROLES[program]
    result = subprocess.run(
        [sys.executable, "-m", f"regaudit.{role}", *subcommand, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
        check=False,
    )
    assert result.returncode == 0, (program, subcommand, result.stderr)
    return result.stdout


def _check(command: list[str]) -> None:
    program, *args = command
    subcommand: list[str] = []
    for word in args:  # subcommands come first (audit fairness, trust add)
        if word.startswith("-"):
            break
        candidate = (*subcommand, word)
        if "Usage" in _help(program, tuple(subcommand)) and re.search(
            rf"^\s*│?\s*{re.escape(word)}\s", _help(program, tuple(subcommand)), re.MULTILINE
        ):
            subcommand = list(candidate)
        else:
            break
    assert subcommand, command
    text = _help(program, tuple(subcommand))
    for word in args:
        if word.startswith("--"):
            assert word.split("=")[0] in text, f"{program} {' '.join(subcommand)}: {word}"


def _compose_commands() -> list[list[str]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    commands = []
    for name, service in compose["services"].items():
        target = service["build"]["target"]
        assert target in _stages(), (name, target)
        for text in service.get("command", []):
            commands += _invocations(text)
    return commands


def _unit_commands() -> list[list[str]]:
    text = (DEPLOY / "regaudit-evaluator.service").read_text(encoding="utf-8")
    match = re.search(r"^ExecStart=(.+?)(?<!\\)$", text, re.MULTILINE | re.DOTALL)
    assert match
    return _invocations(match.group(1))


def test_compose_runs_the_three_parties_in_order() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["client"]["network_mode"] == "service:evaluator"
    assert services["client"]["depends_on"]["evaluator"]["condition"] == "service_healthy"
    assert services["regulator"]["depends_on"]["client"]["condition"] == (
        "service_completed_successfully"
    )
    programs = [command[0] for command in _compose_commands()]
    assert {"regaudit-client", "regaudit-evaluator", "regaudit-regulator"} <= set(programs)
    assert (ROOT / "examples/data/fairness-sample.csv").is_file()


@pytest.mark.parametrize("source", ["compose", "systemd"])
def test_every_written_command_line_is_accepted(source: str) -> None:
    commands = _compose_commands() if source == "compose" else _unit_commands()
    assert commands
    for command in commands:
        _check(command)
