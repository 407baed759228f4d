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
                              [--fail-on-breach [--indeterminate-ok]]
    regaudit-regulator verify-report FILE --trust TRUST.json [--bundle BUNDLE] [--json]

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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from regaudit.regulator.finding_command import verify_report_command
from regaudit.regulator.opening_command import check_opening_command
from regaudit.regulator.policy_command import trust_policy
from regaudit.regulator.result_policy import EXIT_BREACH, decisions_of, outcome_json, outcome_text
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
    exit_code_for,
)
from regaudit.shared.key_export import build_key_app

if TYPE_CHECKING:
    from regaudit.regulator.verified import VerifiedAudit
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.evidence.truststore import TrustStore

# The exit codes of this command line are every regaudit CLI's (EXIT_* from
# regaudit.shared.errors, re-exported).
#: Reason reported when verification crashed on something that is neither bad input nor a
#: verification failure (a bug): exit code 2, never "accepted".
INTERNAL_ERROR_REASON = InternalError.reason
#: Kind of the regulator's Ed25519 report-signing identity.
REPORT_IDENTITY_KIND = "regulator"

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

TrustOption = Annotated[
    Path, typer.Option("--trust", help="Trust store file (JSON).", show_default=False)
]


def _load_trust(path: Path, *, create: bool = False) -> TrustStore:
    """The trust store at ``path`` (a new default one with ``create``); InputError if missing."""
    from regaudit.shared.evidence.truststore import TrustStore

    if not path.exists():
        if create:
            return TrustStore.new_default()
        raise InputError(f"trust store {path} does not exist", field="trust")
    return TrustStore.load(path)


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
        store = _load_trust(trust, create=True)
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
        store = _load_trust(trust)
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
        store = _load_trust(trust)
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


def _check_output_path(path: Path | None, *, field: str, force: bool) -> None:
    from regaudit.shared.cli_config import check_output_path

    if path is not None:
        check_output_path(path, option=field, force=force)


def _write_text(path: Path, text: str, *, field: str) -> None:
    from regaudit.shared.evidence.identity import write_file_atomic

    try:
        write_file_atomic(path, text.encode("utf-8"), mode=0o644, overwrite=True)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}", field=field) from exc


def _emit_failure(error: RegauditError, *, as_json: bool, quiet: bool = False) -> NoReturn:
    """Report a failed verification. Decoders word their errors without decrypted values; the
    message is still scrubbed of long decimals before it leaves (stdout JSON and stderr).
    ``quiet``: nothing on stdout (the error line on stderr stays)."""
    from regaudit.regulator.report import failure_json
    from regaudit.shared.release import scrub_message

    stdout = None
    if as_json:
        stdout = json.dumps(failure_json(error), sort_keys=True)
    elif exit_code_for(error) == EXIT_VERIFICATION_FAILED and not quiet:
        stdout = f"REJECTED: {error.reason}"
    fail(error, stdout=stdout, scrub=scrub_message)


def short_line(document: Mapping[str, object]) -> str:
    """``verify --short``: ``Verified OK: <primitive> audit <id>`` (cosign's one line)."""
    return f"Verified OK: {document.get('primitive')} audit {document.get('audit_id')}"


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="The audit bundle file.")],
    identity: Annotated[
        Path, typer.Option("--identity", help="Regulator identity directory (from init).")
    ],
    trust: TrustOption,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML report.")
    ] = None,
    signed_report: Annotated[
        Path | None,
        typer.Option(
            "--signed-report",
            help="Also write the signed finding: an in-toto Statement (subject: the bundle's "
            "SHA-256; predicate: the verified result) in a DSSE envelope signed with the "
            "regulator's Ed25519 key (check it with verify-report).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite an existing --report or --signed-report file."),
    ] = False,
    short: Annotated[
        bool,
        typer.Option(
            "--short",
            help="Print one line: 'Verified OK: <primitive> audit <id>' or 'REJECTED: <reason>'.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing on stdout: the exit code says it (0 accepted, 1 rejected, 2 bad "
            "input); the error line still goes to stderr.",
        ),
    ] = False,
    fail_on_breach: Annotated[
        bool,
        typer.Option(
            "--fail-on-breach",
            help="Exit 4 when the evidence verified but a decision breached its threshold "
            "(the trust store's result policy, else the audit's); --json gains 'outcome'.",
        ),
    ] = False,
    indeterminate_ok: Annotated[
        bool,
        typer.Option(
            "--indeterminate-ok",
            help="With --fail-on-breach: an indeterminate decision does not fail the gate.",
        ),
    ] = False,
    seed_compatible: Annotated[
        bool,
        typer.Option(
            "--seed-compatible",
            help="With --json: 'result' in regaudit-fhe 0.1.0's output shape (its field names, "
            "nothing else); exit 2 (seed_incompatible) where that shape cannot express it.",
        ),
    ] = False,
) -> None:
    """Verify an audit bundle: signatures, trust, bindings, freshness, replay, the sealed key
    and the key canary; then decrypt the aggregates and report.

    Output: the text report; --json one JSON object; --short one line; --quiet nothing."""
    from regaudit.regulator.findings import sign_verified
    from regaudit.regulator.replay import ReplayGuard
    from regaudit.regulator.report import render_html, render_text, result_json
    from regaudit.regulator.verify import verify_bundle
    from regaudit.secretkey.sealing import RegulatorKeys
    from regaudit.shared.bundle import AuditBundle

    if sum((as_json, short, quiet)) > 1:
        _fail(InputError("--json, --short and --quiet exclude each other", field="short"))
    if seed_compatible and not as_json:
        _fail(InputError("--seed-compatible shapes the --json output", field="seed-compatible"))
    try:
        # bad input first (exit 2): every file named on the command line must be usable
        _check_output_path(report, field="report", force=force)
        _check_output_path(signed_report, field="signed-report", force=force)
        if not bundle.is_file():
            raise InputError(f"bundle file {bundle} does not exist", field="bundle")
        if not identity.is_dir():
            raise IdentityError(f"identity directory {identity} does not exist", field="identity")
        keys = RegulatorKeys.load(identity)
        signer = _load_signer(identity) if signed_report is not None else None
        store = _load_trust(trust)
        parsed = AuditBundle.read(bundle)
        with ReplayGuard.for_identity(identity) as guard:
            verified = verify_bundle(parsed, regulator_keys=keys, trust=store, replay_guard=guard)
        document = result_json(verified)
        outcome = _outcome(verified, store, indeterminate_ok) if fail_on_breach else None
        finding = None
        if signer is not None and signed_report is not None:
            signed = document if outcome is None else {**document, "outcome": outcome}
            finding = sign_verified(signed, verified, signer=signer, bundle=bundle)
            _write_text(signed_report, finding.text, field="signed-report")
        if report is not None:
            page = render_html(
                verified,
                finding_digest=None if finding is None else finding.digest,
                finding_signer=None if finding is None else finding.signer_key_id,
            )
            _write_text(report, page, field="report")
        if seed_compatible:
            from regaudit.regulator.report.seed_view import seed_result_json

            printed: Mapping[str, object] = seed_result_json(verified)
        else:
            printed = document
    except RegauditError as error:
        _emit_failure(error, as_json=as_json, quiet=quiet)
    except Exception as exc:  # noqa: BLE001 - a crash must never look like "accepted"
        _emit_failure(
            InternalError(f"verification crashed: {type(exc).__name__}: {exc}"),
            as_json=as_json,
            quiet=quiet,
        )
    breached = outcome is not None and outcome["gate"] != "pass"
    if quiet:
        raise typer.Exit(EXIT_BREACH if breached else EXIT_OK)
    if as_json:
        printed = printed if outcome is None else {**printed, "outcome": outcome}
        typer.echo(json.dumps(printed, sort_keys=False))
    elif short:
        typer.echo(short_line(document))
    else:
        typer.echo(render_text(verified), nl=False)
        if report is not None:
            typer.echo(f"HTML report written to {report}")
        if signed_report is not None:
            typer.echo(f"signed report written to {signed_report}")
        if outcome is not None:
            typer.echo(outcome_text(outcome), nl=False)
    if breached:
        raise typer.Exit(EXIT_BREACH)


def _outcome(verified: VerifiedAudit, store: TrustStore, indeterminate_ok: bool) -> dict[str, Any]:
    """The ``outcome`` of ``verify --fail-on-breach`` (:mod:`regaudit.regulator.result_policy`)."""
    decisions = decisions_of(verified.primitive, verified.result, store.result_policy)
    return outcome_json(decisions, indeterminate_ok=indeterminate_ok)


def _load_signer(identity: Path) -> SigningIdentity:
    """The regulator's Ed25519 report-signing identity."""
    from regaudit.shared.evidence.identity import SigningIdentity

    return SigningIdentity.load(identity, kind=REPORT_IDENTITY_KIND)


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
