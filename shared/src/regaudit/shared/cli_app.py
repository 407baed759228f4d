"""What the three command lines share as Typer code: the program itself (``--version``,
``--config``, shell completion, the environment and config-file defaults of
:mod:`regaudit.shared.cli_config`) and the ``--json`` option with its output.

Each program is ``make_program("regaudit-client", help=...)``; a command with ``as_json:
JsonOption = False`` calls :func:`json_mode` first (failures become JSON too) and
:func:`print_json` for its one object.
"""

# (no `from __future__ import annotations`: typer reads the callback's annotations at run time)

import json
from pathlib import Path
from typing import Annotated

import typer

from regaudit.shared.cli_config import CONFIG_ENV, start_invocation
from regaudit.shared.cli_failure import report_errors_as_json

#: ``--json`` of every command.
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout (errors too).")
]


def make_program(program: str, *, help_text: str) -> typer.Typer:
    """The Typer app of ``program`` (``regaudit-client``...), with ``--version``, ``--config``
    and shell completion; every invocation starts with the environment and config defaults."""
    table = program.removeprefix("regaudit-")
    app = typer.Typer(name=program, no_args_is_help=True, pretty_exceptions_enable=False)

    def print_version(value: bool) -> None:
        if value:
            from regaudit.shared.versioning import version_text

            typer.echo(version_text(program))
            raise typer.Exit()

    def root(
        ctx: typer.Context,
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=print_version, is_eager=True, help="Print the version."
            ),
        ] = False,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                envvar=CONFIG_ENV,
                help=f"Config file (TOML, table \\[{table}]; default ./regaudit.toml if present).",
            ),
        ] = None,
    ) -> None:
        start_invocation(ctx, program=table, config=config)

    root.__doc__ = (
        f"{help_text}\n\nOptions come from the command line, else the environment "
        f"(REGAUDIT_{table.upper()}_<OPTION> or REGAUDIT_<OPTION>), else the config file."
    )
    app.callback()(root)
    return app


def json_mode(as_json: bool) -> None:
    """The command's ``--json``: failures from now on print their JSON object too."""
    report_errors_as_json(as_json)


def print_json(document: object) -> None:
    """The command's one JSON object on stdout."""
    typer.echo(json.dumps(document, indent=2))


__all__ = ["JsonOption", "json_mode", "make_program", "print_json"]
