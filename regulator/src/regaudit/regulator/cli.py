"""``regaudit-regulator``: the regulator's command line.

Commands::

    regaudit-regulator init DIR [--force]
    regaudit-regulator trust add FILE.pub.json --trust TRUST.json [--note TEXT]
    regaudit-regulator trust revoke KEY_ID --trust TRUST.json [--at RFC3339]
    regaudit-regulator trust list --trust TRUST.json [--json]
    regaudit-regulator trust policy --trust TRUST.json [--witnesses-required N]
                              [--threshold METRIC=VALUE ...] [--four-fifths TAU]
                              [--reference-group GROUP]
    regaudit-regulator verify BUNDLE --identity DIR --trust TRUST.json [--json | --short | --quiet]
                              [--report FILE.html] [--signed-report FILE.json] [--force]
                              [--fail-on-breach [--indeterminate-ok]] [--evidence-pack DIR]
                              [--dp-epsilon E [--dp-delta D]]
    regaudit-regulator verify-report FILE --trust TRUST.json [--bundle BUNDLE] [--json]
    regaudit-regulator verify-pack DIR --trust TRUST.json [--json]
    regaudit-regulator privacy budget --identity DIR (--client KEY_ID [--dataset NAME] | --default)
                              --epsilon E [--delta D]
    regaudit-regulator privacy ledger --identity DIR [--json]

Every command takes ``--json``; ``--identity``/``--trust`` may come from the environment or
``regaudit.toml`` (:mod:`regaudit.shared.cli_config`). ``verify --short``: one line
(``Verified OK: <primitive> audit <id>`` or ``REJECTED: <reason>``); ``--quiet``: exit code only.

Exit codes: 0 accepted / done; 1 verification failed (the stable reason string is printed);
2 bad input or usage (missing or unreadable files, malformed trust store...; the message on
stderr names the file and field); 4 (``verify --fail-on-breach``) the evidence verified but a
decision breached the result policy (:mod:`regaudit.regulator.result_policy`). ``verify --json``
prints exactly one JSON object on stdout in every case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from regaudit.regulator.check_command import TrustOption, load_trust
from regaudit.regulator.finding_command import verify_report_command
from regaudit.regulator.opening_command import check_opening_command
from regaudit.regulator.pack_command import verify_pack_command
from regaudit.regulator.policy_command import trust_policy
from regaudit.regulator.privacy_command import privacy_app
from regaudit.regulator.verify_command import REPORT_IDENTITY_KIND, verify
from regaudit.shared.cli_app import JsonOption, make_program
from regaudit.shared.cli_app import json_mode as _json_mode
from regaudit.shared.cli_app import print_json as _print_json
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFICATION_FAILED,
    IdentityError,
    InputError,
    InternalError,
    RegauditError,
)
from regaudit.shared.key_export import build_key_app

if TYPE_CHECKING:
    pass

# The exit codes of this command line are every regaudit CLI's (EXIT_* from
# regaudit.shared.errors, re-exported).
#: Reason reported when verification crashed on something that is neither bad input nor a
#: verification failure (a bug): exit code 2, never "accepted".
INTERNAL_ERROR_REASON = InternalError.reason

#: The program's name (its --version line, config table ``[regulator]``, REGAUDIT_REGULATOR_*).
PROGRAM = "regaudit-regulator"

app = make_program(
    PROGRAM,
    help_text="The regulator's side of regaudit: unseal the key, verify every signature and "
    "binding, decrypt aggregates only, write the report.",
)
trust_app = typer.Typer(
    help="Manage the trust store (trusted evaluator and client keys, revocations).",
    no_args_is_help=True,
)
app.add_typer(trust_app, name="trust")
trust_app.command("policy")(trust_policy)  # (regaudit.regulator.policy_command)
app.add_typer(build_key_app("regulator"), name="key")  # key export (regaudit.shared.key_export)
app.command("check-opening")(check_opening_command)  # (regaudit.regulator.opening_command)
app.command("verify-report")(verify_report_command)  # (regaudit.regulator.finding_command)
app.command("verify-pack")(verify_pack_command)  # (regaudit.regulator.pack_command)
app.command("verify")(verify)  # (regaudit.regulator.verify_command)
app.add_typer(privacy_app, name="privacy")  # privacy budget / ledger (regulator.privacy_command)


def _fail(error: RegauditError) -> NoReturn:
    """Print ``error`` to stderr and exit with its code (2 for input errors)."""
    fail(error)


# --- init -------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Identity directory to create.")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing regulator identity.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the regulator's keys: HPKE (ML-KEM-768 + X25519) to unseal CKKS secret keys and
    an Ed25519 key that signs the regulator card and reports. DIR/regulator-card.json and
    DIR/regulator.pub.json are public; give them to clients, who pin the signing key id
    (regaudit-client audit --pin-regulator KEY_ID, or regaudit-client trust add
    DIR/regulator.pub.json)."""
    from regaudit.secretkey.sealing import CARD_FILE, PRIVATE_KEY_FILE, RegulatorKeys
    from regaudit.shared.evidence.identity import (
        SigningIdentity,
        private_key_path,
        public_key_path,
    )

    _json_mode(as_json)
    files = [
        directory / PRIVATE_KEY_FILE,
        directory / CARD_FILE,
        private_key_path(directory, REPORT_IDENTITY_KIND),
        public_key_path(directory, REPORT_IDENTITY_KIND),
    ]
    existing = [path for path in files if path.exists()]
    if existing and not force:
        _fail(
            IdentityError(
                f"{existing[0]} already exists; refusing to overwrite a regulator identity "
                "(use --force to replace it)",
                field="directory",
            )
        )
    if directory.exists() and not directory.is_dir():
        _fail(InputError(f"{directory} exists and is not a directory", field="directory"))
    try:
        keys = RegulatorKeys.generate()
        signer = SigningIdentity.generate(REPORT_IDENTITY_KIND)
        card_path = keys.save(directory, signer=signer, overwrite=force)
        signer_path = signer.save(directory, overwrite=force)
    except RegauditError as error:
        _fail(error)
    if as_json:
        made = {"ok": True, "kind": "regulator", "key_id": keys.key_id, "card": str(card_path)}
        _print_json({**made, "signing_key_id": signer.key_id, "public_key": str(signer_path)})
        return
    typer.echo(f"regulator key id   {keys.key_id}")
    typer.echo(f"regulator card     {card_path}  (public: give it to audited clients)")
    typer.echo(f"signing key id     {signer.key_id}  (signs the card and reports; clients pin it)")
    typer.echo(f"signing public key {signer_path}")


# --- trust ------------------------------------------------------------------------------------


@trust_app.command("add")
def trust_add(
    public_key_file: Annotated[
        Path, typer.Argument(help="An evaluator.pub.json or client.pub.json file.")
    ],
    trust: TrustOption,
    note: Annotated[str, typer.Option("--note", help="Free-text note stored with the key.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Trust an evaluator or client key (creates the trust store with defaults if missing)."""
    from regaudit.shared.evidence.truststore import describe_trusted, trusted_json

    _json_mode(as_json)
    try:
        store = load_trust(trust, create=True)
        entry, already = store.add_key_file(public_key_file, note=note)
        store.save(trust)
    except RegauditError as error:
        _fail(error)
    if as_json:
        _print_json({**trusted_json(entry, already=already), "trust": str(trust)})
        return
    typer.echo(describe_trusted(entry, already=already))


@trust_app.command("revoke")
def trust_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (64 hex) to revoke.")],
    trust: TrustOption,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Revocation time (RFC 3339); evidence from then on is refused."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a trusted key from a date on (default: now)."""
    from regaudit.shared.evidence.canonical import (
        format_rfc3339,
        is_hex64,
        parse_rfc3339,
        utc_now,
    )

    _json_mode(as_json)
    try:
        if not is_hex64(key_id):
            raise InputError("must be 64 lowercase hex characters", field="key_id")
        moment = utc_now() if at is None else parse_rfc3339(at, field="at", error=InputError)
        store = load_trust(trust)
        entry = store.revoke(key_id, at=moment)
        store.save(trust)
    except RegauditError as error:
        _fail(error)
    assert entry.revoked_at is not None
    if as_json:
        _print_json(
            {
                "ok": True,
                "kind": entry.record.kind,
                "key_id": key_id,
                "revoked_at": format_rfc3339(entry.revoked_at),
            }
        )
        return
    typer.echo(f"revoked: {entry.record.kind} key {key_id} from {format_rfc3339(entry.revoked_at)}")


@trust_app.command("list")
def trust_list(
    trust: TrustOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trust store as JSON.")] = False,
) -> None:
    """Show trusted keys, revocations, allowed profiles and circuits."""
    from regaudit.shared.evidence.canonical import format_rfc3339

    _json_mode(as_json)
    try:
        store = load_trust(trust)
    except RegauditError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(store.to_dict(), indent=2))
        return
    typer.echo(f"trust store {trust}")
    typer.echo("keys:")
    if not store.keys:
        typer.echo("  (none)")
    for entry in store.keys:
        revoked = (
            "" if entry.revoked_at is None else f"  REVOKED {format_rfc3339(entry.revoked_at)}"
        )
        note = f"  # {entry.note}" if entry.note else ""
        typer.echo(
            f"  {entry.record.kind:<9} {entry.record.key_id}  added "
            f"{format_rfc3339(entry.added_at)}{revoked}{note}"
        )
    typer.echo("profiles:")
    for name, profile_hash in store.profiles.items():
        typer.echo(f"  {name}  {profile_hash}")
    typer.echo("circuits:")
    for circuit_id, versions in store.circuits.items():
        typer.echo(f"  {circuit_id}  versions {', '.join(versions)}")
    typer.echo(
        f"max evidence age {store.max_age_seconds} s, clock skew {store.clock_skew_seconds} s"
    )
    typer.echo(f"witnesses required {store.witnesses_required}")
    typer.echo(f"result policy {json.dumps(store.result_policy.to_dict(), sort_keys=True)}")


# --- verify -----------------------------------------------------------------------------------


def main() -> None:
    """Console entry point."""
    app()


__all__ = [
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFICATION_FAILED",
    "INTERNAL_ERROR_REASON",
    "app",
    "main",
]


if __name__ == "__main__":  # pragma: no cover
    main()
