"""``regaudit-regulator verify BUNDLE``: verify an audit bundle and report it (text, ``--json``,
``--short``, ``--quiet``), optionally as an HTML report, a signed finding, an evidence pack, a DP
release (``--dp-epsilon``) and a policy gate (``--fail-on-breach``, exit 4).

Every output path is checked before any work (bad input, exit 2); nothing of the exact result is
printed or written when verification, the DP release or a write fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from regaudit.regulator.check_command import TrustOption, load_trust
from regaudit.regulator.evidence_pack import check_pack_directory
from regaudit.regulator.result_policy import EXIT_BREACH, decisions_of, outcome_json, outcome_text
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import (
    EXIT_OK,
    EXIT_VERIFICATION_FAILED,
    IdentityError,
    InputError,
    InternalError,
    RegauditError,
    exit_code_for,
)

if TYPE_CHECKING:
    from regaudit.regulator.findings import SignedFinding
    from regaudit.regulator.verified import VerifiedAudit
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.evidence.truststore import TrustStore

#: Kind of the regulator's Ed25519 report-signing identity.
REPORT_IDENTITY_KIND = "regulator"


def _fail(error: RegauditError) -> NoReturn:
    """Print ``error`` to stderr and exit with its code (2 for input errors)."""
    fail(error)


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
        typer.Option(
            "--force", help="Overwrite an existing --report, --signed-report or --evidence-pack."
        ),
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
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon",
            metavar="EPSILON",
            help="Release the aggregates under differential privacy with this epsilon (OpenDP "
            "noise on the counts; charged to the privacy ledger of --identity, refused past the "
            "client's budget: 'privacy budget'). Decisions the noise could flip become "
            "indeterminate.",
            show_default=False,
        ),
    ] = None,
    dp_delta: Annotated[
        float,
        typer.Option(
            "--dp-delta",
            metavar="DELTA",
            help="With --dp-epsilon: delta > 0 uses the Gaussian mechanism, 0 the Laplace one.",
        ),
    ] = 0.0,
    evidence_pack: Annotated[
        Path | None,
        typer.Option(
            "--evidence-pack",
            metavar="DIR",
            help="Also write a filing's evidence pack into DIR: the report (HTML, JSON, text), "
            "the signed finding, the bundle, the trust-store entries used, the regulator's "
            "public key, a summary mapping each result to the regulation it supports, and "
            "SHA256SUMS. DIR must be absent or empty (--force replaces it).",
        ),
    ] = None,
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
        if dp_delta != 0.0 and dp_epsilon is None:
            raise InputError("--dp-delta needs --dp-epsilon", field="dp-delta")
        _check_output_path(report, field="report", force=force)
        _check_output_path(signed_report, field="signed-report", force=force)
        if evidence_pack is not None:
            check_pack_directory(evidence_pack, force=force)
        if not bundle.is_file():
            raise InputError(f"bundle file {bundle} does not exist", field="bundle")
        if not identity.is_dir():
            raise IdentityError(f"identity directory {identity} does not exist", field="identity")
        keys = RegulatorKeys.load(identity)
        wants_finding = signed_report is not None or evidence_pack is not None
        signer = _load_signer(identity) if wants_finding else None
        store = load_trust(trust)
        parsed = AuditBundle.read(bundle)
        with ReplayGuard.for_identity(identity) as guard:
            verified = verify_bundle(parsed, regulator_keys=keys, trust=store, replay_guard=guard)
        if dp_epsilon is not None:
            # before anything is rendered: only the noised release leaves this process
            from regaudit.regulator.privacy_command import release_verified

            verified = release_verified(
                verified, identity=identity, epsilon=dp_epsilon, delta=dp_delta
            )
        document = result_json(verified, trust=store)
        outcome = _outcome(verified, store, indeterminate_ok) if fail_on_breach else None
        finding = None
        if signer is not None:
            signed = document if outcome is None else {**document, "outcome": outcome}
            finding = sign_verified(signed, verified, signer=signer, bundle=bundle)
        if finding is not None and signed_report is not None:
            _write_text(signed_report, finding.text, field="signed-report")
        if report is not None:
            page = render_html(
                verified,
                trust=store,
                finding_digest=None if finding is None else finding.digest,
                finding_signer=None if finding is None else finding.signer_key_id,
            )
            _write_text(report, page, field="report")
        if evidence_pack is not None and finding is not None and signer is not None:
            _write_pack(
                evidence_pack,
                verified=verified,
                bundle=bundle,
                document=document if outcome is None else {**document, "outcome": outcome},
                finding=finding,
                trust=store,
                signer=signer,
                indeterminate_ok=indeterminate_ok,
                force=force,
            )
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
        typer.echo(render_text(verified, trust=store), nl=False)
        if report is not None:
            typer.echo(f"HTML report written to {report}")
        if signed_report is not None:
            typer.echo(f"signed report written to {signed_report}")
        if evidence_pack is not None:
            typer.echo(f"evidence pack written to {evidence_pack}")
        if outcome is not None:
            typer.echo(outcome_text(outcome), nl=False)
    if breached:
        raise typer.Exit(EXIT_BREACH)


def _outcome(verified: VerifiedAudit, store: TrustStore, indeterminate_ok: bool) -> dict[str, Any]:
    """The ``outcome`` of ``verify --fail-on-breach`` (:mod:`regaudit.regulator.result_policy`)."""
    decisions = decisions_of(verified.primitive, verified.result, store.result_policy)
    return outcome_json(decisions, indeterminate_ok=indeterminate_ok)


def _write_pack(
    directory: Path,
    *,
    verified: VerifiedAudit,
    bundle: Path,
    document: Mapping[str, Any],
    finding: SignedFinding,
    trust: TrustStore,
    signer: SigningIdentity,
    indeterminate_ok: bool,
    force: bool,
) -> None:
    """``verify --evidence-pack``: the report in its three forms beside the signed finding
    (:mod:`regaudit.regulator.evidence_pack`)."""
    from regaudit.regulator.evidence_pack import write_evidence_pack
    from regaudit.regulator.report import render_html, render_text

    write_evidence_pack(
        directory,
        verified=verified,
        bundle=bundle,
        document=document,
        report_text=render_text(verified),
        report_html=render_html(
            verified, finding_digest=finding.digest, finding_signer=finding.signer_key_id
        ),
        finding=finding,
        trust=trust,
        signer=signer,
        indeterminate_ok=indeterminate_ok,
        force=force,
    )


def _load_signer(identity: Path) -> SigningIdentity:
    """The regulator's Ed25519 report-signing identity."""
    from regaudit.shared.evidence.identity import SigningIdentity

    return SigningIdentity.load(identity, kind=REPORT_IDENTITY_KIND)


__all__ = ["REPORT_IDENTITY_KIND", "short_line", "verify"]
