"""The conventions the three command lines share (issue 12): --version, shell completion, the
environment and regaudit.toml with their precedence, --json on every command, --force, help
text that survives rich markup, output paths checked before any work, and messages that name
what a wrong file is. Fast: typer's CliRunner, no daemon (tests/cli/test_cli_roundtrip.py has
the wire)."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from regaudit.client import cli as client_cli
from regaudit.evaluator import cli as evaluator_cli
from regaudit.regulator import cli as regulator_cli
from regaudit.shared.primitives import all_primitives

PROGRAMS: dict[str, typer.Typer] = {
    "regaudit-client": client_cli.app,
    "regaudit-evaluator": evaluator_cli.app,
    "regaudit-regulator": regulator_cli.app,
}
#: Wide enough that rich wraps no help line.
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


def invoke(program: str, *args: str | Path, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(PROGRAMS[program], [str(a) for a in args], prog_name=program, env=env)


def one_json(result: Any) -> dict[str, Any]:
    """stdout holds exactly one JSON object."""
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


@pytest.fixture(autouse=True)
def _no_regaudit_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REGAUDIT_* variable and no ./regaudit.toml leaks in from the machine."""
    import os

    for name in list(os.environ):
        if name.startswith("REGAUDIT_"):
            monkeypatch.delenv(name)
    # shell detection reads SHELL, which a CI runner may not set ("Shell not supported")
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.chdir(tmp_path)


# --- --version ----------------------------------------------------------------------------------


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_version_on_every_program(program: str) -> None:
    result = invoke(program, "--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{program} {version(program)}\n"


# --- completion ---------------------------------------------------------------------------------


def test_bash_completion_lists_the_primitives_after_audit() -> None:
    env = {
        "_REGAUDIT_CLIENT_COMPLETE": "complete_bash",
        "COMP_WORDS": "regaudit-client audit ",
        "COMP_CWORD": "2",
    }
    result = invoke("regaudit-client", env=env)
    assert result.exit_code == 0, result.output
    offered = result.stdout.split()
    assert offered == sorted(p.name for p in all_primitives())
    assert "fairness" in offered and "drift" in offered


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_program_prints_its_bash_completion_script(program: str) -> None:
    result = invoke(program, "--show-completion", "bash")
    assert result.exit_code == 0, result.output
    variable = "_" + program.upper().replace("-", "_") + "_COMPLETE"
    assert variable in result.stdout and "complete -o default -F" in result.stdout


# --- the environment and regaudit.toml --------------------------------------------------------


def _missing_trust(result: Any) -> str:
    """The trust store a failed ``trust list`` looked for (its message names it)."""
    assert result.exit_code == 2, result.output
    found = re.search(r"trust store (\S+) does not exist", result.stderr)
    assert found, result.stderr
    return found.group(1)


def test_command_line_beats_environment_beats_config_beats_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "conf"
    home.mkdir()
    config = home / "regaudit.toml"
    config.write_text('[regulator]\ntrust = "from-config.json"\n')
    monkeypatch.setenv("REGAUDIT_CONFIG", str(config))
    # the config file (a relative path: relative to the file's folder)
    assert _missing_trust(invoke("regaudit-regulator", "trust", "list")) == str(
        home / "from-config.json"
    )
    # the generic variable over the file, the program's own over the generic one
    monkeypatch.setenv("REGAUDIT_TRUST", "generic.json")
    assert _missing_trust(invoke("regaudit-regulator", "trust", "list")) == "generic.json"
    monkeypatch.setenv("REGAUDIT_REGULATOR_TRUST", "regulator.json")
    assert _missing_trust(invoke("regaudit-regulator", "trust", "list")) == "regulator.json"
    # the command line over everything
    given = invoke("regaudit-regulator", "trust", "list", "--trust", "given.json")
    assert _missing_trust(given) == "given.json"
    # another program's variable is not this one's
    monkeypatch.delenv("REGAUDIT_REGULATOR_TRUST")
    monkeypatch.delenv("REGAUDIT_TRUST")
    monkeypatch.setenv("REGAUDIT_CLIENT_TRUST", "client.json")
    assert _missing_trust(invoke("regaudit-regulator", "trust", "list")) == str(
        home / "from-config.json"
    )


def test_regaudit_toml_in_the_current_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "regaudit.toml").write_text('[regulator]\ntrust = "here.json"\n')
    found = _missing_trust(invoke("regaudit-regulator", "trust", "list"))
    assert Path(found).resolve() == (tmp_path / "here.json").resolve()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[client]\nidentity = "x"\nevaluater = "1.2.3.4:5"\n', "'evaluater'"),
        ('[clients]\nidentity = "x"\n', "'clients'"),
        ("[client]\nforce = true\n", "'force'"),
        ("[client]\nidentity = [1, 2]\n", "'identity'"),
        ("[client\n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_exits_2_naming_the_key_and_the_file(
    tmp_path: Path, text: str, named: str
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(text)
    result = invoke("regaudit-client", "--config", config, "schema", "--list")
    assert result.exit_code == 2, result.output
    assert named in result.stderr and str(config) in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith("[invalid_input]")


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = invoke("regaudit-evaluator", "--config", tmp_path / "none.toml", "init", tmp_path)
    assert result.exit_code == 2 and "none.toml does not exist" in result.stderr


def test_config_and_environment_fill_the_audit_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything an audit repeats comes from the file and the environment: the command fails
    only on the first thing neither gave (the input file), not on a missing option."""
    (tmp_path / "regaudit.toml").write_text(
        '[client]\nidentity = "client"\nregulator-card = "card.json"\n'
    )
    monkeypatch.setenv("REGAUDIT_EVALUATOR", "127.0.0.1:9")
    result = invoke(
        "regaudit-client", "audit", "fairness", "--input", "nowhere.json", "--out", "a.bundle"
    )
    assert result.exit_code == 2, result.output
    assert "missing option" not in result.stderr
    assert "nowhere.json" in result.stderr


# --- --json everywhere ------------------------------------------------------------------------


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_init_json_prints_one_object_and_errors_as_json(program: str, tmp_path: Path) -> None:
    directory = tmp_path / "identity"
    made = invoke(program, "init", directory, "--json")
    assert made.exit_code == 0, made.output
    document = one_json(made)
    assert document["ok"] is True and re.fullmatch(r"[0-9a-f]{64}", document["key_id"])
    again = invoke(program, "init", directory, "--json")
    assert again.exit_code == 2
    error = one_json(again)
    assert error["ok"] is False and error["exit_code"] == 2
    assert error["reason"] in {"invalid_input", "invalid_identity"} and error["message"]
    # --force means "overwrite the existing output" here too
    forced = invoke(program, "init", directory, "--json", "--force")
    assert forced.exit_code == 0 and one_json(forced)["key_id"] != document["key_id"]


def test_trust_commands_print_json(tmp_path: Path) -> None:
    invoke("regaudit-evaluator", "init", tmp_path / "evaluator")
    key = tmp_path / "evaluator" / "evaluator.pub.json"
    trust = tmp_path / "trust.json"
    added = one_json(invoke("regaudit-regulator", "trust", "add", key, "--trust", trust, "--json"))
    assert added["kind"] == "evaluator" and added["already_trusted"] is False
    client_trust = tmp_path / "client-trust.json"
    added = invoke("regaudit-client", "trust", "add", key, "--trust", client_trust, "--json")
    assert one_json(added)["key_id"] == json.loads(key.read_text())["key_id"]
    policy = one_json(invoke("regaudit-regulator", "trust", "policy", "--trust", trust, "--json"))
    result_policy = {"thresholds": {}, "four_fifths": 0.8, "reference_group": None}
    assert policy == {"ok": True, "witnesses_required": 0, "result_policy": result_policy}
    key_id = json.loads(key.read_text())["key_id"]
    revoked = invoke("regaudit-regulator", "trust", "revoke", key_id, "--trust", trust, "--json")
    assert one_json(revoked)["revoked_at"]
    names = json.loads(invoke("regaudit-client", "schema", "--list", "--json").stdout)
    assert "fairness.input" in names


def test_audit_errors_are_json_with_json(tmp_path: Path) -> None:
    result = invoke(
        "regaudit-client", "audit", "fairness", "--json", "--input", "x.json",
        "--evaluator", "127.0.0.1:9", "--regulator-card", "card.json",
        "--identity", "id", "--out", tmp_path / "no" / "such" / "a.bundle",
    )  # fmt: skip
    assert result.exit_code == 2
    error = one_json(result)
    assert (error["reason"], error["field"], error["exit_code"]) == ("invalid_input", "out", 2)


# --- help text --------------------------------------------------------------------------------


def _commands(program: str) -> list[tuple[list[str], Any]]:
    root = typer.main.get_command(PROGRAMS[program])
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append((path, command))
        for name, child in getattr(command, "commands", {}).items():
            walk(child, [*path, name])

    walk(root, [])
    return found


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_help_text_with_square_brackets_survives_rich_markup(program: str) -> None:
    """``[c0, c1]`` or ``regaudit-evaluator[dask]`` in a help text is shown, not eaten as a
    rich markup tag."""
    checked = 0
    for path, command in _commands(program):
        bracketed = [
            bit.replace("\\[", "[")
            for parameter in command.params
            for bit in re.findall(r"\S*\[[^\]]*\]\S*", getattr(parameter, "help", None) or "")
        ]
        if not bracketed:
            continue
        result = invoke(program, *path, "--help", env=WIDE)
        assert result.exit_code == 0, result.output
        shown = " ".join(result.stdout.replace("│", " ").split())
        for bit in bracketed:
            assert " ".join(bit.split()) in shown, (path, bit)
            checked += 1
    assert checked, "no help text with brackets: the test checks nothing"


def test_the_primitive_options_have_their_panel_and_the_primitive_is_a_choice() -> None:
    result = invoke("regaudit-client", "audit", "drift", "--help", env=WIDE)
    panel = result.stdout.split("drift options", 1)
    assert len(panel) == 2 and "--drift-threshold" in panel[1], result.stdout
    listing = invoke("regaudit-client", "audit", "--help", env=WIDE).stdout
    for primitive in all_primitives():
        assert primitive.name in listing
    models = invoke("regaudit-client", "audit", "disagreement", "--help", env=WIDE).stdout
    assert "[[c0, c1], [c0, c1, c2]]" in models


# --- output paths before any work -------------------------------------------------------------


def _audit(tmp_path: Path, out: Path, *extra: str) -> Any:
    """An audit whose every input is missing: only the --out check can speak first."""
    return invoke(
        "regaudit-client", "audit", "fairness", "--input", tmp_path / "missing.json",
        "--evaluator", "127.0.0.1:9", "--regulator-card", tmp_path / "missing-card.json",
        "--identity", tmp_path / "missing-identity", "--out", out, *extra,
    )  # fmt: skip


def test_out_in_a_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "not-made" / "a.bundle"
    result = _audit(tmp_path, out)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: out: folder") and "does not exist" in result.stderr
    assert not out.parent.exists()


def test_an_existing_out_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "a.bundle"
    out.write_text("an earlier bundle")
    refused = _audit(tmp_path, out)
    assert refused.exit_code == 2 and "already exists (use --force" in refused.stderr
    assert out.read_text() == "an earlier bundle"
    forced = _audit(tmp_path, out, "--force")  # passes the --out check, stops at the input
    assert forced.exit_code == 2 and "error: out:" not in forced.stderr
    assert "missing.json" in forced.stderr


def test_verify_checks_its_report_paths_first_and_force_overwrites(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("old")
    result = invoke(
        "regaudit-regulator", "verify", tmp_path / "missing.bundle", "--identity", tmp_path,
        "--trust", tmp_path / "t.json", "--report", report,
    )  # fmt: skip
    assert result.exit_code == 2 and "report" in result.stderr and "--force" in result.stderr
    forced = invoke(
        "regaudit-regulator", "verify", tmp_path / "missing.bundle", "--identity", tmp_path,
        "--trust", tmp_path / "t.json", "--report", report, "--force",
    )  # fmt: skip
    assert forced.exit_code == 2 and "missing.bundle" in forced.stderr


def test_verify_output_modes_exclude_each_other(tmp_path: Path) -> None:
    result = invoke(
        "regaudit-regulator", "verify", tmp_path / "b", "--identity", tmp_path,
        "--trust", tmp_path / "t.json", "--short", "--json",
    )  # fmt: skip
    assert result.exit_code == 2 and "exclude each other" in result.stderr


# --- messages that name what a wrong file is --------------------------------------------------


@pytest.fixture(scope="module")
def regulator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("regulator") / "regulator"
    assert invoke("regaudit-regulator", "init", directory).exit_code == 0
    return directory


def test_a_regulator_card_given_as_a_public_key_is_named(
    regulator_dir: Path, tmp_path: Path
) -> None:
    card = regulator_dir / "regulator-card.json"
    for program in ("regaudit-regulator", "regaudit-client"):
        result = invoke(program, "trust", "add", card, "--trust", tmp_path / "t.json")
        assert result.exit_code == 2, result.output
        assert "this file is a regulator card, not a public key: use it with --regulator-card" in (
            result.stderr
        )


def test_a_public_key_given_as_the_regulator_card_is_named(
    regulator_dir: Path, tmp_path: Path
) -> None:
    result = invoke(
        "regaudit-client", "audit", "fairness", "--input", _fairness_input(tmp_path),
        "--evaluator", "127.0.0.1:9", "--regulator-card", regulator_dir / "regulator.pub.json",
        "--identity", tmp_path / "id", "--out", tmp_path / "a.bundle",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "error: regulator-card:" in result.stderr
    assert "is a regulator public key, not a regulator card" in result.stderr


def _fairness_input(tmp_path: Path, **changes: Any) -> Path:
    payload: dict[str, Any] = {
        "y_true": [0, 1, 1, 0, 1, 0],
        "y_pred": [0, 1, 0, 1, 1, 0],
        "group_a": [1, 1, 1, 0, 0, 0],
        "group_b": [0, 0, 0, 1, 1, 1],
        "threshold": 0.1,
    }
    payload.update(changes)
    path = tmp_path / "input.json"
    path.write_text(json.dumps(payload))
    return path


def test_no_numpy_repr_in_an_input_message(regulator_dir: Path, tmp_path: Path) -> None:
    """A label of 2.5 is reported as 2.5, never as np.float64(2.5)."""
    bad = _fairness_input(tmp_path, y_pred=[0, 1, 0, 2.5, 1, 0])
    result = invoke(
        "regaudit-client", "audit", "fairness", "--input", bad,
        "--evaluator", "127.0.0.1:9", "--regulator-card", regulator_dir / "regulator-card.json",
        "--identity", tmp_path / "id", "--out", tmp_path / "a.bundle",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "2.5" in result.stderr and "np." not in result.stderr, result.stderr


def test_plain_numbers_rewrites_numpy_scalar_reprs() -> None:
    import numpy as np

    from regaudit.shared.errors import InputError

    message = f"{np.float64(0.5)!r} {np.int64(3)!r} {np.True_!r} {np.str_('a')!r}"
    assert "np." in message  # numpy 2 reprs: what users saw
    assert InputError(message, field="x").message == "0.5 3 True 'a'"


# --- --quiet ----------------------------------------------------------------------------------


def test_quiet_progress_drops_notes(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from regaudit.client.progress import RichProgress

    bars = Progress(console=Console(stderr=True, force_terminal=False), disable=True)
    RichProgress(bars, quiet=True).note("uploading evaluation keys")
    assert capsys.readouterr() == ("", "")
    RichProgress(bars).note("uploading evaluation keys [x]")
    assert "uploading evaluation keys [x]" in capsys.readouterr().err


# --- one vocabulary ---------------------------------------------------------------------------

#: Commands without --json, and why: ``key export`` prints the key itself (``--format json``
#: is JSON already; helper-owned shared.key_export).
WITHOUT_JSON: set[tuple[str, ...]] = set()
#: Names that would be synonyms of the vocabulary's --out, --force, --identity, --trust, --json.
SYNONYMS = {"--output", "--overwrite", "--yes", "--identity-dir", "--trust-store", "--format-json"}


def _leaves(program: str) -> list[tuple[tuple[str, ...], set[str]]]:
    return [
        (tuple(path), {opt for p in command.params for opt in p.opts})
        for path, command in _commands(program)
        if not getattr(command, "commands", None)
    ]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_one_vocabulary_across_the_programs(program: str) -> None:
    for path, options in _leaves(program):
        assert not options & SYNONYMS, (path, options & SYNONYMS)
        if path not in WITHOUT_JSON:
            assert "--json" in options, f"{program} {' '.join(path)} has no --json"
        if "--out" in options or path[-1] == "init":
            assert "--force" in options, f"{program} {' '.join(path)} writes without --force"


def test_gc_errors_are_json_with_json(tmp_path: Path) -> None:
    result = invoke("regaudit-evaluator", "gc", "--store", tmp_path / "none", "--json")
    assert result.exit_code == 2
    assert one_json(result)["field"] == "store"
