"""The one CLI failure path (regaudit.shared.cli_failure): its output and exit codes, and that
regaudit-client, regaudit-evaluator and regaudit-regulator all stop through it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from typer.testing import CliRunner

from regaudit.shared import cli_failure, errors
from regaudit.shared.release import scrub_message

runner = CliRunner()


def _exit_code(call: Callable[[], Any]) -> int:
    with pytest.raises(SystemExit) as stopped:
        call()
    code = stopped.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InputError("must be positive", field="timeout"), 2),
        (errors.DigestMismatchError("receipt differs", field="receipt"), 1),
        (errors.WrongParameterSetError("profile x is not allowed"), 1),
        (errors.RemoteError("evaluator: UNAVAILABLE: refused", code="UNAVAILABLE"), 3),
        (errors.JobFailedError("job j failed", job_reason="worker_crashed"), 3),
        (errors.InternalError("verification crashed: KeyError: 'x'"), 2),
    ],
)
def test_fail_prints_one_line_on_stderr_and_exits_with_the_class_code(
    error: errors.RegauditError, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(lambda: cli_failure.fail(error)) == code == errors.exit_code_for(error)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {error} [{error.reason}]\n"


def test_fail_prints_the_stdout_document_first_and_scrubs_the_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = errors.NoiseBoundError("count 12.345678912345 is not an integer", field="count")
    code = _exit_code(
        lambda: cli_failure.fail(
            error, stdout="REJECTED: noise_bound_exceeded", scrub=scrub_message
        )
    )
    assert code == 1
    out, err = capsys.readouterr()
    assert out == "REJECTED: noise_bound_exceeded\n"
    assert err == "error: count: count 12.3 is not an integer [noise_bound_exceeded]\n"
    assert cli_failure.failure_line(error) == f"error: {error} [noise_bound_exceeded]"


def test_fail_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(lambda: cli_failure.fail_usage("--a and --b go together")) == 2
    assert capsys.readouterr() == ("", "error: --a and --b go together\n")


# --- every command line stops through it ------------------------------------------------------


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], list[errors.RegauditError]]:
    """Route a CLI module's ``fail`` through a recorder (that still fails the real way)."""

    def install(module: Any) -> list[errors.RegauditError]:
        seen: list[errors.RegauditError] = []

        def recording_fail(error: errors.RegauditError, **options: Any) -> NoReturn:
            seen.append(error)
            cli_failure.fail(error, **options)

        monkeypatch.setattr(module, "fail", recording_fail)
        return seen

    return install


def test_the_client_fails_through_the_shared_path(failures: Any) -> None:
    from regaudit.client import audit_command, cli

    seen = failures(audit_command)  # the ``audit`` subcommands live in audit_command
    result = runner.invoke(cli.app, ["audit", "no-such-primitive", "--schema"])
    assert result.exit_code == errors.EXIT_USAGE
    assert len(seen) == 1
    assert result.stderr == cli_failure.failure_line(seen[0]) + "\n"


def test_the_evaluator_fails_through_the_shared_path(failures: Any, tmp_path: Path) -> None:
    from regaudit.evaluator import cli

    seen = failures(cli)
    assert runner.invoke(cli.app, ["init", str(tmp_path / "id")]).exit_code == 0
    again = runner.invoke(cli.app, ["init", str(tmp_path / "id")])
    assert again.exit_code == errors.EXIT_USAGE
    assert [type(e) for e in seen] == [errors.IdentityError]
    assert again.stderr == cli_failure.failure_line(seen[0]) + "\n"


def test_the_regulator_fails_through_the_shared_path(failures: Any, tmp_path: Path) -> None:
    from regaudit.regulator import cli

    seen = failures(cli)
    missing = tmp_path / "trust.json"
    result = runner.invoke(cli.app, ["trust", "list", "--trust", str(missing)])
    assert result.exit_code == errors.EXIT_USAGE
    assert [e.reason for e in seen] == ["invalid_input"]
    assert result.stderr == f"error: trust: trust store {missing} does not exist [invalid_input]\n"


def test_the_regulator_verify_json_failure_goes_the_same_way(failures: Any, tmp_path: Path) -> None:
    from regaudit.regulator import cli, verify_command

    seen = failures(verify_command)  # the ``verify`` command lives in verify_command
    bundle = tmp_path / "missing.bundle"
    args = ["verify", str(bundle), "--identity", str(tmp_path), "--trust", str(tmp_path / "t")]
    as_json = runner.invoke(cli.app, [*args, "--json"])
    assert as_json.exit_code == errors.EXIT_USAGE
    document = json.loads(as_json.stdout)
    assert (document["verified"], document["reason"], document["field"]) == (
        False,
        "invalid_input",
        "bundle",
    )
    assert as_json.stderr == cli_failure.failure_line(seen[0], scrub=scrub_message) + "\n"
    text = runner.invoke(cli.app, args)
    assert text.exit_code == errors.EXIT_USAGE
    assert text.stdout == ""  # REJECTED: is for verification failures (exit 1) only
    assert len(seen) == 2
