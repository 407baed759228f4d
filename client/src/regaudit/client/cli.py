"""``regaudit-client``: the vendor's command line.

Commands::

    regaudit-client init DIR [--force]
    regaudit-client audit PRIMITIVE --input FILE --evaluator HOST:PORT --regulator-card FILE
                          --identity DIR --out BUNDLE [--column FIELD=COL ...]
                          [--profile NAME] [--timeout S]
                          [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
                          [--pin-evaluator KEY_ID] [--pin-regulator KEY_ID]
                          [--trust CLIENT_TRUST.json] [PRIMITIVE OPTIONS]
    regaudit-client audit PRIMITIVE --schema
    regaudit-client trust add FILE.pub.json --trust CLIENT_TRUST.json [--note TEXT]
    regaudit-client schema [--list | NAME]

``audit`` has one subcommand per registered primitive (:mod:`regaudit.client.audit_command`);
each adds its primitive's own options (``regaudit-client audit drift --help``: ``--threshold``,
``--drift-threshold``, ``--bin-width``, ``--w1-range``).

Trust anchors: the regulator card must be signed by a pinned (``--pin-regulator``, or
``REGAUDIT_PIN_REGULATOR``) or trusted (``--trust``) regulator key, and the evaluator's receipt
key must be pinned (``--pin-evaluator``, ``REGAUDIT_PIN_EVALUATOR``) or trusted; otherwise the
audit stops with exit 1 (``untrusted_issuer``) before any key is generated (card) or any data
is encrypted or uploaded (evaluator). Without pins or a trust file every key is accepted and a
warning says so.

Conventions (the same on the three programs): ``--version``; shell completion
(``--install-completion``, ``--show-completion``); ``--config FILE`` / ``$REGAUDIT_CONFIG`` /
``./regaudit.toml`` and ``REGAUDIT_*`` variables for the options every audit repeats
(:mod:`regaudit.shared.cli_config`; command line > environment > file > default); ``--json``
on every command (one object on stdout, errors too); ``--force`` to overwrite an existing
output, every output path checked before any work.

Exit codes: 0 success; 1 the evaluator's receipt or output did not verify, or the regulator
card's signer or the evaluator's key is not pinned or trusted (``untrusted_issuer``); 2 bad input
or usage (the message names the offending field); 3 the evaluator is unreachable or failed the
job.
Progress goes to stderr; stdout ends with a short summary (audit id, bundle path, job id).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from regaudit.client.audit_command import build_audit_app
from regaudit.client.open_command import open_command
from regaudit.shared.cli_app import JsonOption, make_program
from regaudit.shared.cli_app import json_mode as _json_mode
from regaudit.shared.cli_app import print_json as _print_json
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFICATION_FAILED,
    InputError,
    PrimitiveRegistryError,
    RegauditError,
)
from regaudit.shared.key_export import build_key_app

if TYPE_CHECKING:
    from regaudit.shared.evidence.truststore import TrustStore

# The exit codes of this command line are every regaudit CLI's (EXIT_* from
# regaudit.shared.errors, re-exported).

#: Kinds of key a client trust file holds.
CLIENT_TRUST_KINDS = ("evaluator", "regulator")

#: The program's name (its --version line, config table ``[client]``, REGAUDIT_CLIENT_*).
PROGRAM = "regaudit-client"

app = make_program(
    PROGRAM,
    help_text="The audited vendor's side of regaudit: encrypt, submit, seal the key, write a "
    "bundle.",
)
trust_app = typer.Typer(
    help="Manage the client's trust file (the evaluator and regulator keys it accepts).",
    no_args_is_help=True,
)
app.add_typer(trust_app, name="trust")
app.add_typer(build_key_app("client"), name="key")  # key export (regaudit.shared.key_export)


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _fail(error: RegauditError) -> NoReturn:
    """Print ``error`` (field first) to stderr and exit with its code (the shared CLI failure
    path: 1 verification failed, 2 bad input, 3 the evaluator is unreachable or failed)."""
    fail(error)


def _usage(message: str, *, field: str) -> NoReturn:
    _fail(InputError(message, field=field))


# --- init -------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Identity directory to create.")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing client identity.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the client's Ed25519 identity: DIR/client.key (0600) and DIR/client.pub.json."""
    from regaudit.shared.evidence.identity import SigningIdentity

    _json_mode(as_json)
    try:
        identity = SigningIdentity.generate("client")
        public = identity.save(directory, overwrite=force)
    except RegauditError as error:
        if not force and "exists" in error.message:
            error = InputError(f"{error.message} (use --force to replace it)", field="directory")
        _fail(error)
    if as_json:
        _print_json(
            {"ok": True, "kind": "client", "key_id": identity.key_id, "public_key": str(public)}
        )
        return
    typer.echo(f"client key id {identity.key_id}")
    typer.echo(f"public key    {public}")


# --- trust ------------------------------------------------------------------------------------


def _load_client_trust(path: Path, *, create: bool = False) -> TrustStore:
    """The client trust file (the regulator's trust store format); InputError if missing."""
    from regaudit.shared.evidence.truststore import TrustStore

    if not path.exists():
        if create:
            return TrustStore.new_default()
        raise InputError(f"trust file {path} does not exist", field="trust")
    if path.is_dir():
        raise InputError(f"trust file {path} is a directory", field="trust")
    return TrustStore.load(path)


@trust_app.command("add")
def trust_add(
    public_key_file: Annotated[
        Path, typer.Argument(help="An evaluator.pub.json or regulator.pub.json file.")
    ],
    trust: Annotated[
        Path,
        typer.Option("--trust", help="Client trust file (JSON).", show_default=False),
    ],
    note: Annotated[str, typer.Option("--note", help="Free-text note stored with the key.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Trust an evaluator's receipt key or a regulator's card-signing key (creates the trust
    file if missing)."""
    from regaudit.shared.evidence.truststore import describe_trusted, trusted_json

    _json_mode(as_json)
    try:
        store = _load_client_trust(trust, create=True)
        entry, already = store.add_key_file(
            public_key_file, note=note, kinds=CLIENT_TRUST_KINDS, holder="a client"
        )
        store.save(trust)
    except RegauditError as error:
        _fail(error)
    if as_json:
        _print_json({**trusted_json(entry, already=already), "trust": str(trust)})
        return
    typer.echo(describe_trusted(entry, already=already))


def trust_anchors(
    *, pin_evaluator: str | None, pin_regulator: str | None, trust: Path | None
) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """(trusted evaluator key ids, trusted regulator key ids) from the trust file (keys not
    revoked now); (None, None) without one. Pins are checked to be key ids."""
    from regaudit.shared.evidence.canonical import is_hex64, utc_now

    for option, value in (("pin-evaluator", pin_evaluator), ("pin-regulator", pin_regulator)):
        if value is not None and not is_hex64(value):
            raise InputError(
                "must be a key id: 64 lowercase hex characters (regaudit-evaluator init and "
                "regaudit-regulator init print it; it is key_id in the .pub.json file)",
                field=option,
            )
    if trust is None:
        return None, None
    store = _load_client_trust(trust)
    now = utc_now()
    trusted: dict[str, set[str]] = {kind: set() for kind in CLIENT_TRUST_KINDS}
    for entry in store.keys:
        if entry.record.kind in trusted and (entry.revoked_at is None or now < entry.revoked_at):
            trusted[entry.record.kind].add(entry.record.key_id)
    return frozenset(trusted["evaluator"]), frozenset(trusted["regulator"])


# --- schema -----------------------------------------------------------------------------------


def _schema_names() -> list[str]:
    from regaudit.shared import schemas

    return list(schemas.list_schemas())


def print_schema(name: str) -> None:
    """Print the JSON Schema ``name`` (InputError, exit 2, if there is none)."""
    from regaudit.shared import schemas

    names = _schema_names()
    if name not in names:
        _usage(f"unknown schema {name!r} (known: {', '.join(names)})", field="name")
    typer.echo(json.dumps(schemas.load_schema(name), indent=2, sort_keys=False))


@app.command()
def schema(
    name: Annotated[str | None, typer.Argument(help="Schema name, e.g. fairness.input.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the schema names.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Print a JSON Schema, or with --list the schema names (--json: as a JSON list)."""
    _json_mode(as_json)
    if list_ or name is None:
        if as_json:
            _print_json(_schema_names())
            return
        for item in _schema_names():
            typer.echo(item)
        return
    print_schema(name)


# --- audit ---------------------------------------------------------------------------------------


def _add_audit_commands() -> None:
    """``audit <primitive>`` for every registered primitive; a broken primitive plug-in turns
    ``audit`` into a command that reports it (exit 2, reason ``primitive_registry``)."""
    try:
        app.add_typer(build_audit_app(), name="audit")
    except PrimitiveRegistryError as error:
        broken = error

        @app.command(
            "audit",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )
        def audit_unavailable() -> None:
            """Unavailable: an installed primitive plug-in is broken."""
            _fail(broken)


_add_audit_commands()
app.command("open")(open_command)  # open rows to the regulator (regaudit.client.open_command)


def main() -> None:
    """Entry point of ``python -m regaudit.client``."""
    try:
        app()
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)


__all__ = [
    "EXIT_EVALUATOR_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFICATION_FAILED",
    "app",
    "main",
]
