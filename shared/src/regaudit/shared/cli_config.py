"""What every run of a regaudit command line repeats, said once: environment variables and a
``regaudit.toml`` configuration file.

Precedence, for every option of every command: **command line > environment > config file >
built-in default**.

The config file is ``--config FILE`` (an option of the program itself, before the command),
else ``$REGAUDIT_CONFIG``, else ``regaudit.toml`` in the current directory if there is one. It
has one table per program; its keys are the long option names without ``--``, and a key
applies to every command of the program that has that option::

    [client]                          # regaudit-client
    evaluator = "127.0.0.1:50051"
    identity = "client"               # relative paths: relative to this file's directory
    regulator-card = "regulator/regulator-card.json"
    pin-evaluator = "9f0c..."

    [regulator]                       # regaudit-regulator
    identity = "regulator"
    trust = "trust.json"

    [evaluator]                       # regaudit-evaluator
    identity = "evaluator"

A key no command of the program has, a table other than these three, or a value of the wrong
type is an error (exit 2) naming the key and the file. ``force``, ``help``, ``version`` and
the completion options cannot be set in a file.

Environment variables exist for the options :data:`ENVIRONMENT_OPTIONS` lists (what every
audit repeats): ``REGAUDIT_<PROGRAM>_<OPTION>`` (``REGAUDIT_CLIENT_IDENTITY``) and, if that is
not set, ``REGAUDIT_<OPTION>`` (``REGAUDIT_IDENTITY``, ``REGAUDIT_EVALUATOR``,
``REGAUDIT_REGULATOR_CARD``, ``REGAUDIT_TRUST``). The program-specific name lets one shell
hold the identities of several parties. A repeatable option's variable holds its values
separated by whitespace.

The functions here take the command tree of the vendored Click that Typer builds, typed
structurally (:class:`ClickCommand`), so that shared code needs no CLI framework.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from regaudit.shared.errors import InputError

#: The config file looked for in the current directory.
CONFIG_FILE_NAME = "regaudit.toml"
#: Environment variable naming the config file.
CONFIG_ENV = "REGAUDIT_CONFIG"
#: Prefix of every regaudit environment variable.
ENV_PREFIX = "REGAUDIT_"
#: Largest config file read.
MAX_CONFIG_BYTES = 64 * 1024
#: The programs, as their config tables and program-specific environment variables name them.
PROGRAMS = ("client", "evaluator", "regulator")
#: Options that never come from a file or the environment.
NOT_CONFIGURABLE = frozenset(
    {"force", "help", "version", "config", "install-completion", "show-completion", "schema"}
)
#: Options read from the environment, per program.
ENVIRONMENT_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "client": (
        "evaluator",
        "identity",
        "regulator-card",
        "trust",
        "profile",
        "timeout",
        "workers",
        "tls-ca",
        "tls-cert",
        "tls-key",
        "witness",
        "dataset",
        "period",
        "source",
    ),
    "regulator": ("identity", "trust"),
    "evaluator": ("identity", "store", "listen"),
}


class ClickParameter(Protocol):
    """The part of a Click parameter read here."""

    name: str | None
    opts: list[str]
    multiple: bool
    param_type_name: str
    type_descriptor: Any


class ClickCommand(Protocol):
    """The part of a Click command (or group: ``commands``) read here."""

    params: list[Any]


@dataclass(frozen=True)
class ConfigFile:
    """A config file's table for one program (empty when there is no file)."""

    path: Path | None
    values: Mapping[str, object]


def environment_names(program: str, option: str) -> tuple[str, str]:
    """(program-specific, generic) environment variable names of ``--option``."""
    suffix = option.upper().replace("-", "_")
    return f"{ENV_PREFIX}{program.upper()}_{suffix}", f"{ENV_PREFIX}{suffix}"


def find_config(given: Path | None, *, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: ``--config``, ``$REGAUDIT_CONFIG``, ``./regaudit.toml``."""
    if given is not None:
        return given
    named = environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    local = Path(CONFIG_FILE_NAME)
    return local if local.is_file() else None


def read_config(path: Path | None, *, program: str) -> ConfigFile:
    """``program``'s table of the TOML file ``path`` (InputError, field ``config``, for a
    missing, oversized or malformed file or an unknown table)."""
    if path is None:
        return ConfigFile(None, {})
    if not path.is_file():
        raise InputError(f"config file {path} does not exist", field="config")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes", field="config"
        )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}", field="config") from exc
    for table, value in document.items():
        if table not in PROGRAMS or not isinstance(value, dict):
            raise InputError(
                f"unknown key {table!r} in config file {path} (tables: "
                f"{', '.join(f'[{name}]' for name in PROGRAMS)})",
                field="config",
            )
    section = document.get(program, {})
    return ConfigFile(path, section)


def default_map(
    root: ClickCommand,
    *,
    program: str,
    config: ConfigFile,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Click's ``default_map`` for the command tree under ``root``: config values overlaid
    with environment values, for every command that has the option. Click itself puts the
    command line above both.

    1. Every option of the tree, by long name (the config keys).
    2. Unknown or unsettable config keys, and values of the wrong shape: InputError naming the
       key and the file.
    3. The values: config (relative paths resolved against the file's directory), then the
       environment over them.
    4. The nested map, one level per command name.
    """
    # 1. the options
    options: dict[str, list[ClickParameter]] = {}
    for _path, command in _walk(root, ()):
        for parameter in command.params:
            name = _long_name(parameter)
            if name is not None:
                options.setdefault(name, []).append(parameter)
    # 2. the config keys
    values: dict[str, object] = {}
    for key, value in config.values.items():
        if key not in options or key in NOT_CONFIGURABLE:
            why = "cannot be set in a config file" if key in options else "is not an option"
            raise InputError(
                f"unknown key {key!r} in [{program}] of config file {config.path}: it {why} of "
                f"regaudit-{program}",
                field="config",
            )
        values[key] = _config_value(key, value, options[key][0], config.path, program)
    # 3. the environment over the file
    for key in ENVIRONMENT_OPTIONS.get(program, ()):
        if key not in options:
            continue
        for variable in environment_names(program, key):
            text = environ.get(variable)
            if text:
                values[key] = text.split() if options[key][0].multiple else text
                break
    # 4. the map
    return _nested(root, values)


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, child in getattr(command, "commands", {}).items():
        yield from _walk(child, (*path, name))


def _long_name(parameter: ClickParameter) -> str | None:
    if parameter.param_type_name != "option":
        return None
    for opt in parameter.opts:
        if opt.startswith("--"):
            return opt[2:]
    return None


def _config_value(
    key: str, value: object, parameter: ClickParameter, path: Path | None, program: str
) -> object:
    """A config value checked for shape; relative paths made relative to the file."""
    items = value if isinstance(value, list) else [value]
    if not parameter.multiple and isinstance(value, list):
        items = []
    if not items or not all(isinstance(item, str | int | float | bool) for item in items):
        raise InputError(
            f"key {key!r} in [{program}] of config file {path}: expected "
            f"{'a list of values' if parameter.multiple else 'one string, number or boolean'}",
            field="config",
        )
    if path is not None and _is_path(parameter):
        items = [
            str(path.parent / item)
            if isinstance(item, str) and not Path(item).is_absolute()
            else item
            for item in items
        ]
    return items if parameter.multiple else items[0]


def _is_path(parameter: ClickParameter) -> bool:
    return bool(getattr(parameter.type_descriptor, "is_path", False))


def _nested(command: Any, values: Mapping[str, object]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for parameter in command.params:
        name = _long_name(parameter)
        if name is not None and name in values and parameter.name is not None:
            mapping[parameter.name] = values[name]
    for name, child in getattr(command, "commands", {}).items():
        below = _nested(child, values)
        if below:
            mapping[name] = below
    return mapping


def check_output_path(path: Path, *, option: str, force: bool) -> None:
    """A file a command will write, checked before any work (InputError naming ``option``,
    exit 2): its folder must exist (never created silently), it must not be a folder, and an
    existing file is overwritten only with ``--force``."""
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file", field=option)
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist (create it first)", field=option)
    if path.exists() and not force:
        raise InputError(f"{path} already exists (use --force to overwrite it)", field=option)


def start_invocation(context: Any, *, program: str, config: Path | None) -> None:
    """What each program's root callback does first: errors back to text (a command's
    ``--json`` switches JSON on again), then ``context.default_map`` from the environment and
    the config file (a bad file: exit 2 through the shared failure path)."""
    from regaudit.shared.cli_failure import fail, report_errors_as_json

    report_errors_as_json(False)
    try:
        context.default_map = resolve_defaults(context.command, program=program, config=config)
    except InputError as error:
        fail(error)


def resolve_defaults(root: ClickCommand, *, program: str, config: Path | None) -> dict[str, Any]:
    """The ``default_map`` for ``root`` from this process's environment and config file (the
    one call each program's root callback makes)."""
    environ = os.environ
    found = find_config(config, environ=environ)
    return default_map(
        root, program=program, config=read_config(found, program=program), environ=environ
    )


__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE_NAME",
    "ENVIRONMENT_OPTIONS",
    "ENV_PREFIX",
    "MAX_CONFIG_BYTES",
    "NOT_CONFIGURABLE",
    "PROGRAMS",
    "ClickCommand",
    "ClickParameter",
    "ConfigFile",
    "check_output_path",
    "default_map",
    "environment_names",
    "find_config",
    "read_config",
    "resolve_defaults",
    "start_invocation",
]
