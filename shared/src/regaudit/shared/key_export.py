"""``key export``: the ``key`` command group every regaudit program registers.

    regaudit-client    key export --identity DIR [--format json|pem] [--out FILE [--force]]
    regaudit-evaluator key export --identity DIR [--format json|pem] [--out FILE [--force]]
    regaudit-regulator key export --identity DIR [--format json|pem] [--out FILE [--force]]

prints (or writes) the identity's Ed25519 public key: ``json`` is the ``<kind>.pub.json`` record
every ``trust add`` reads, ``pem`` the same key as SubjectPublicKeyInfo PEM with ``Kind:`` /
``Key-Id:`` / ``Created:`` lines before it (:meth:`PublicKeyRecord.to_pem`), which OpenSSL,
cosign, pyca and securesystemslib read and ``trust add`` accepts too. Only the public key file
of the identity directory is read, never the private key.

Exit codes: 0 written; 2 bad input (no identity, a damaged public key file, an existing output
without ``--force``).
"""

# (no `from __future__ import annotations`: typer reads the annotations of the command that
# build_key_app defines, whose help texts name the kind)
import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from regaudit.shared.cli_app import JsonOption, json_mode, print_json
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import InputError, RegauditError

# (the evidence modules are imported when a command runs: the programs start fast)
#: The kinds of identity (regaudit.shared.evidence.identity.KINDS).
KINDS: tuple[str, ...] = ("evaluator", "client", "regulator")


class KeyFormat(enum.StrEnum):
    """The forms a public key exports in."""

    JSON = "json"
    PEM = "pem"


def export_public_key(directory: str | Path, *, kind: str, key_format: KeyFormat) -> bytes:
    """The public key of the ``kind`` identity in ``directory``, as ``key_format`` bytes.

    Steps: 1. read and validate ``<kind>.pub.json`` (IdentityError names the path and field);
    2. its kind is ``kind``; 3. serialize it (canonical JSON, or PEM).
    """
    from regaudit.shared.evidence.canonical import canonical_json
    from regaudit.shared.evidence.identity import load_public_key_file, public_key_path

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    # 1.
    record = load_public_key_file(public_key_path(directory, kind))
    # 2.
    if record.kind != kind:
        raise InputError(
            f"{public_key_path(directory, kind)} holds a {record.kind} key, not a {kind} key",
            field="identity",
        )
    # 3.
    if key_format is KeyFormat.PEM:
        return record.to_pem()
    return canonical_json(record.to_dict()) + b"\n"


def build_key_app(kind: str) -> typer.Typer:
    """The ``key`` command group of the program whose identity is of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    app = typer.Typer(help=f"The {kind}'s public key, for others to trust.", no_args_is_help=True)

    @app.command("export")
    def export(
        identity: Annotated[
            Path,
            typer.Option(
                "--identity",
                help=f"The {kind} identity directory (made by init).",
                show_default=False,
            ),
        ],
        key_format: Annotated[
            KeyFormat,
            typer.Option("--format", help="json: the .pub.json record; pem: SubjectPublicKeyInfo."),
        ] = KeyFormat.JSON,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write to FILE instead of stdout.", show_default=False),
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite FILE.")] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Print (or write) this program's public key as JSON or PEM (``--json``: one object
        with the key's text, or the file written)."""
        json_mode(as_json)
        try:
            data = export_public_key(identity, kind=kind, key_format=key_format)
            if out is not None:
                _write(out, data, force=force)
        except RegauditError as error:
            fail(error)
        if as_json:
            document: dict[str, str] = {"kind": kind, "format": key_format.value}
            if out is None:
                document["key"] = data.decode("utf-8")
            else:
                document["out"] = str(out)
            print_json(document)
        elif out is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            typer.echo(f"wrote {out}", err=True)

    return app


def _write(out: Path, data: bytes, *, force: bool) -> None:
    from regaudit.shared.files import write_file_atomic

    if out.is_dir():
        raise InputError(f"{out} is a directory", field="out")
    if not out.parent.is_dir():
        raise InputError(f"the folder {out.parent} does not exist", field="out")
    try:
        write_file_atomic(out, data, mode=0o644, overwrite=force)
    except FileExistsError as exc:
        raise InputError(f"{out} already exists (--force overwrites it)", field="out") from exc
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc}", field="out") from exc


__all__ = ["KeyFormat", "build_key_app", "export_public_key"]
