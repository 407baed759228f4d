"""``regaudit-client audit <primitive>``: one subcommand per registered primitive.

Every subcommand has the same common options (input, evaluator, regulator card, identity, out,
trust anchors, TLS, profile, deadline...) and its primitive's own options, declared by the
primitive's descriptor (:class:`regaudit.shared.primitives.PrimitiveOption`) and shown in a help
panel of their own (both in :mod:`regaudit.client.audit_options`). A primitive registered by any
installed distribution gets its subcommand without a change here.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from regaudit.client.audit_options import (
    DEFAULT_TIMEOUT_S,
    PIN_EVALUATOR_ENV,
    PIN_REGULATOR_ENV,
    column_mapping,
    common_parameters,
    parameter_name,
    primitive_parameters,
    public_overrides,
)
from regaudit.client.data_description import data_description_parameters, describe_data
from regaudit.client.progress import RichProgress
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import InputError, RegauditError
from regaudit.shared.primitives import Primitive, all_primitives, get_primitive

if TYPE_CHECKING:
    from typer import _click  # the click typer vendors: TyperGroup's Context and Command

    from regaudit.client.audit import AuditOutcome
    from regaudit.shared.protocol import TlsOptions

#: Largest regulator card file read.
MAX_CARD_BYTES = 256 * 1024


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _usage(message: str, *, field: str) -> NoReturn:
    fail(InputError(message, field=field))


# --- reading the common options ---------------------------------------------------------------


def _read_card(path: Path) -> dict[str, Any]:
    if not path.is_file():
        _usage(f"regulator card {path} does not exist", field="regulator-card")
    if path.stat().st_size > MAX_CARD_BYTES:
        _usage(
            f"regulator card {path} is larger than {MAX_CARD_BYTES} bytes", field="regulator-card"
        )
    from regaudit.shared.evidence.canonical import strict_json_loads

    try:
        card = strict_json_loads(path.read_bytes(), what="regulator card", error=InputError)
    except (RegauditError, OSError) as exc:
        _usage(f"regulator card {path}: {exc}", field="regulator-card")
    if not isinstance(card, dict):
        _usage(f"regulator card {path} must be a JSON object", field="regulator-card")
    if {"public_key", "key_id", "algorithm"} <= card.keys():
        _usage(
            f"{path}: this file is a {card.get('kind', '')} public key, not a regulator card: "
            "--regulator-card takes regulator-card.json from regaudit-regulator init (a "
            "regulator's public key goes to --pin-regulator KEY_ID or regaudit-client trust add)",
            field="regulator-card",
        )
    from regaudit.client.audit import check_regulator_card

    try:
        check_regulator_card(card)
    except RegauditError as exc:
        _usage(f"regulator card {path}: {exc}", field="regulator-card")
    return card


def _tls_options(ca: Path | None, cert: Path | None, key: Path | None) -> TlsOptions | None:
    if ca is None and cert is None and key is None:
        return None
    if (cert is None) != (key is None):
        _usage("--tls-cert and --tls-key must be given together", field="tls-cert")
    for option, path in (("tls-ca", ca), ("tls-cert", cert), ("tls-key", key)):
        if path is not None and not path.is_file():
            _usage(f"{path} does not exist", field=option)
    from regaudit.shared.protocol import TlsOptions

    try:
        return TlsOptions(
            root_certificates=ca.read_bytes() if ca is not None else None,
            certificate_chain=cert.read_bytes() if cert is not None else None,
            private_key=key.read_bytes() if key is not None else None,
        )
    except OSError as exc:
        _usage(f"cannot read TLS material: {exc}", field="tls")


# --- the command ------------------------------------------------------------------------------


def make_command(primitive: Primitive) -> Callable[..., None]:
    """The ``audit <primitive>`` command: the common options plus the primitive's own."""
    parameters = [
        *common_parameters(),
        *data_description_parameters(),
        *primitive_parameters(primitive),
    ]
    by_parameter = {parameter_name(option): option for option in primitive.options}

    def command(**values: Any) -> None:
        given = {
            by_parameter[name].flag: value for name, value in values.items() if name in by_parameter
        }
        common = {name: value for name, value in values.items() if name not in by_parameter}
        run_audit_command(primitive, given=given, **common)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = primitive.name
    command.__doc__ = (
        f"{primitive.summary}\n\nRun an encrypted {primitive.name} audit and write the bundle "
        "for the regulator. Exit codes: 0 bundle written; 1 the evaluator's receipt or output "
        "did not verify, or the regulator card or the evaluator key is not pinned/trusted "
        "(untrusted_issuer), or a witness disagrees (witness_disagreement); 2 bad input or "
        "usage (the message names the field); 3 the evaluator or a required witness is "
        "unreachable or failed the job."
    )
    return command


class _PrimitiveGroup(TyperGroup):
    """``audit``: an unknown primitive is a usage error naming the field ``primitive`` and the
    registered ones (exit 2, ``invalid_input``), like every other bad input."""

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            try:
                get_primitive(args[0])
            except RegauditError as error:
                fail(error)
        return super().resolve_command(ctx, args)


def build_audit_app() -> typer.Typer:
    """The ``audit`` command group: one subcommand per registered primitive."""
    audit_app = typer.Typer(
        cls=_PrimitiveGroup,
        help="Run an encrypted audit of one primitive and write the bundle for the regulator.",
        no_args_is_help=True,
    )
    for primitive in all_primitives():
        audit_app.command(primitive.name, help=make_command(primitive).__doc__)(
            make_command(primitive)
        )
    return audit_app


def audit_json(primitive: Primitive, outcome: AuditOutcome) -> dict[str, object]:
    """``audit --json``: the summary of a written bundle."""
    return {
        "ok": True,
        "primitive": primitive.name,
        "audit_id": outcome.audit_id,
        "bundle": str(outcome.bundle_path),
        "job_id": outcome.job_id,
        "rows": outcome.plan.rows,
        "profile": outcome.plan.profile.name,
        "ciphertexts": outcome.ciphertexts,
        "uploaded_bytes": outcome.uploaded_bytes,
        "timings_s": {name: round(float(value), 3) for name, value in outcome.timings.items()},
        "witnesses": [{"address": a, "key_id": k} for a, k in outcome.witnesses],
        "missing_witnesses": [
            {"address": m.address, "reason": m.reason} for m in outcome.missing_witnesses
        ],
    }


def run_audit_command(
    primitive: Primitive,
    *,
    given: dict[str, Any],
    input_file: Path | None,
    evaluator: str | None,
    regulator_card: Path | None,
    identity: Path | None,
    out: Path | None,
    force: bool,
    as_json: bool,
    column: list[str] | None,
    profile: str | None,
    timeout: float,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    idempotency_key: str | None,
    workers: int | None,
    pin_evaluator: str | None,
    pin_regulator: str | None,
    trust: Path | None,
    quiet: bool,
    show_schema: bool,
    threshold: float | None = None,
    witness: list[str] | None = None,
    witness_optional: bool = False,
    witness_sample: float | None = None,
    dataset: str | None = None,
    period: str | None = None,
    source: str | None = None,
) -> None:
    """The body of every ``audit <primitive>`` subcommand."""
    from regaudit.client.cli import print_schema, trust_anchors
    from regaudit.client.inputs import load_audit_input
    from regaudit.shared.cli_config import check_output_path
    from regaudit.shared.cli_failure import report_errors_as_json

    report_errors_as_json(as_json)
    if show_schema:
        print_schema(f"{primitive.name}.input")
        return
    required = {
        "input": input_file,
        "evaluator": evaluator,
        "regulator-card": regulator_card,
        "identity": identity,
        "out": out,
    }
    for option, value in required.items():
        if value is None:
            _usage(f"missing option --{option}", field=option)
    assert input_file is not None and evaluator is not None and regulator_card is not None
    assert identity is not None and out is not None
    try:  # every output path before any work
        check_output_path(out, option="out", force=force)
    except RegauditError as error:
        fail(error)
    if timeout <= 0:
        _usage("must be positive", field="timeout")
    if workers is not None and workers < 1:
        _usage("must be at least 1", field="workers")
    if witness_optional and not witness:
        _usage("--witness-optional needs at least one --witness", field="witness-optional")
    if witness_sample is not None:
        if not witness:
            _usage("--witness-sample needs at least one --witness", field="witness-sample")
        if not 0 < witness_sample <= 1:
            _usage("must be in (0, 1]", field="witness-sample")
    try:
        data_description = describe_data(dataset=dataset, period=period, source=source)
    except RegauditError as error:
        fail(error)

    from regaudit.client.audit import run_audit
    from regaudit.client.witness import witness_addresses
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.profiles import get_profile

    try:
        if profile is not None:
            get_profile(profile)
        data = load_audit_input(
            primitive.name,
            input_file,
            threshold=threshold,
            mapping=column_mapping(primitive, column, given),
            overrides=public_overrides(primitive, given),
        )
        card = _read_card(regulator_card)
        trusted_evaluators, trusted_regulators = trust_anchors(
            pin_evaluator=pin_evaluator, pin_regulator=pin_regulator, trust=trust
        )
        tls = _tls_options(tls_ca, tls_cert, tls_key)
        signer = SigningIdentity.load(identity, kind="client")
        witnesses = witness_addresses(witness or [], primary=evaluator)
    except RegauditError as error:
        fail(error)
    unpinned = [
        party
        for party, pin, trusted in (
            ("evaluator", pin_evaluator, trusted_evaluators),
            ("regulator", pin_regulator, trusted_regulators),
        )
        if pin is None and trusted is None
    ]
    if unpinned:
        _err(
            f"warning: the {' and '.join(unpinned)} key{'s are' if len(unpinned) > 1 else ' is'} "
            "not pinned (--pin-evaluator/--pin-regulator or --trust): a substituted "
            f"{' or '.join(unpinned)} would be accepted"
        )

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,  # bars only on a terminal: no stray lines
        transient=False,
    )
    try:
        with bars:
            outcome = run_audit(
                primitive.name,
                data,
                evaluator=evaluator,
                regulator_card=card,
                identity=signer,
                identity_dir=identity,
                out=out,
                profile=profile,
                progress=RichProgress(bars, quiet=quiet),
                timeout=timeout,
                tls=tls,
                idempotency_key=idempotency_key,
                workers=workers,
                pinned_evaluator_key_id=pin_evaluator,
                pinned_regulator_key_id=pin_regulator,
                trusted_evaluator_key_ids=trusted_evaluators,
                trusted_regulator_key_ids=trusted_regulators,
                witnesses=witnesses,
                witness_optional=witness_optional,
                witness_sample=witness_sample,
                data_description=data_description or None,
            )
    except RegauditError as error:  # EvaluatorUnavailableError and ProtocolError exit 3
        fail(error)
    if as_json:
        typer.echo(json.dumps(audit_json(primitive, outcome), indent=2))
        return
    if not quiet:
        t = outcome.timings
        console.print(
            f"{outcome.ciphertexts} ciphertexts ({outcome.uploaded_bytes / 1e6:.1f} MB) for "
            f"{outcome.plan.rows} rows on {outcome.plan.profile.name}; key generation "
            f"{t.get('keygen_s', 0):.1f} s, encryption+upload "
            f"{t.get('encrypt_upload_s', 0):.1f} s, "
            f"evaluation {t.get('evaluate_s', 0):.1f} s, total {t.get('total_s', 0):.1f} s",
            soft_wrap=True,
        )
    typer.echo(f"audit id  {outcome.audit_id}")
    typer.echo(f"bundle    {outcome.bundle_path}")
    typer.echo(f"job id    {outcome.job_id}")
    for address, key_id in outcome.witnesses:
        typer.echo(f"witness   {address} agrees (key {key_id})")
    for missing in outcome.missing_witnesses:
        typer.echo(f"witness   {missing.address} MISSING ({missing.reason})")


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_CARD_BYTES",
    "PIN_EVALUATOR_ENV",
    "PIN_REGULATOR_ENV",
    "audit_json",
    "build_audit_app",
    "make_command",
    "run_audit_command",
]
