"""The options of ``regaudit-client audit <primitive>``: the common ones every subcommand has,
each primitive's own (declared by its :class:`~regaudit.shared.primitives.PrimitiveOption`), and
what the given values become (the primitive's :class:`~regaudit.shared.primitives.ColumnMapping`
and public-input overrides).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from regaudit.shared.errors import InputError
from regaudit.shared.primitives import ColumnMapping, Primitive, PrimitiveOption

#: Default deadline for the whole audit (seconds).
DEFAULT_TIMEOUT_S = 3600.0
#: Largest ``@FILE`` a JSON option (``--models``) reads.
MAX_JSON_OPTION_BYTES = 1024 * 1024
#: Environment variables read for the pins.
PIN_EVALUATOR_ENV = "REGAUDIT_PIN_EVALUATOR"
PIN_REGULATOR_ENV = "REGAUDIT_PIN_REGULATOR"

COMMON_PANEL = "Audit options"
CONNECTION_PANEL = "Evaluator connection and trust"
WITNESS_PANEL = "Witness evaluators"

_OPTION_TYPES: dict[str, type] = {"float": float, "int": int}


# --- the declarations -------------------------------------------------------------------------


def common_options(
    *,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="JSON (regaudit-fhe 0.1.0 shape), CSV, JSON Lines (.jsonl) or Parquet.",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    evaluator: Annotated[
        str | None,
        typer.Option(
            "--evaluator", help="Evaluator address HOST:PORT.", rich_help_panel=CONNECTION_PANEL
        ),
    ] = None,
    regulator_card: Annotated[
        Path | None,
        typer.Option(
            "--regulator-card",
            help="The regulator's public card (JSON).",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option(
            "--identity", help="Client identity directory (init).", rich_help_panel=COMMON_PANEL
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Bundle file to write (its folder must exist; an existing file needs --force).",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite an existing --out file.", rich_help_panel=COMMON_PANEL
        ),
    ] = False,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="Table column mapping FIELD=COLUMN (CSV, JSON Lines, Parquet), repeatable.",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Parameter profile (default: smallest fit).",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Deadline for the whole audit, seconds.",
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = DEFAULT_TIMEOUT_S,
    tls_ca: Annotated[
        Path | None,
        typer.Option("--tls-ca", help="CA certificate (PEM).", rich_help_panel=CONNECTION_PANEL),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            help="Client certificate for mTLS (PEM).",
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key", help="Client private key for mTLS (PEM).", rich_help_panel=CONNECTION_PANEL
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help=(
                "Name this audit so that a rerun of the same command after a crash or kill "
                "resumes it (keys kept in a resume journal, sealed under the identity; "
                "default: random, nothing kept)."
            ),
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Encryption processes (default: one per core).",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = None,
    pin_evaluator: Annotated[
        str | None,
        typer.Option(
            "--pin-evaluator",
            envvar=PIN_EVALUATOR_ENV,
            help="Accept this evaluator receipt key id (64 hex; from regaudit-evaluator "
            "init or evaluator.pub.json) and, with --trust, the trust file's evaluator keys; "
            "no other.",
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = None,
    pin_regulator: Annotated[
        str | None,
        typer.Option(
            "--pin-regulator",
            envvar=PIN_REGULATOR_ENV,
            help="Accept a regulator card signed by this key id (64 hex; printed by "
            "regaudit-regulator init, key_id in regulator.pub.json) and, with --trust, by the "
            "trust file's regulator keys; no other.",
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Client trust file (regaudit-client trust add): the evaluator and regulator "
            "keys accepted (with the pins). It anchors both parties: a party with no key in it "
            "and no pin is refused.",
            rich_help_panel=CONNECTION_PANEL,
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            metavar="HOST:PORT",
            help="A witness evaluator that re-executes the same job (repeatable): same keys, "
            "header and ciphertexts (one encryption); its key must be pinned/trusted and not "
            "the primary's, and its outputs must equal the primary's (else exit 1, "
            "witness_disagreement).",
            rich_help_panel=WITNESS_PANEL,
        ),
    ] = None,
    witness_optional: Annotated[
        bool,
        typer.Option(
            "--witness-optional",
            help="A witness that cannot deliver is recorded in the bundle as missing instead of "
            "failing the audit (exit 3); the regulator's witnesses_required policy decides.",
            rich_help_panel=WITNESS_PANEL,
        ),
    ] = False,
    witness_sample: Annotated[
        float | None,
        typer.Option(
            "--witness-sample",
            metavar="FRACTION",
            help="The --witness evaluators run sampled (0 < FRACTION <= 1): after the primary's "
            "receipt, each re-executes ceil(FRACTION x chunks) chunks drawn from that receipt's "
            "digest and a fresh nonce (the same ciphertext bytes, spooled to a temporary file "
            "during the upload); a differing partial fails the audit (exit 1).",
            rich_help_panel=WITNESS_PANEL,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only the result: no progress bars, notes or timings on stderr; stdout keeps the "
            "summary (audit id, bundle, job id, witnesses), or the --json object. Errors and the "
            "unpinned-key warning still go to stderr.",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object on stdout: the audit's summary, or the error (ok, "
            "reason, exit_code, field, message). Progress still goes to stderr (--quiet: none).",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = False,
    show_schema: Annotated[
        bool,
        typer.Option(
            "--schema",
            help="Print the primitive's input JSON Schema and exit.",
            rich_help_panel=COMMON_PANEL,
        ),
    ] = False,
) -> None:
    """The common options of every ``audit`` subcommand (the signature is read, never run)."""


def common_parameters() -> list[inspect.Parameter]:
    """The parameters of :func:`common_options`, annotations evaluated."""
    return list(inspect.signature(common_options, eval_str=True).parameters.values())


def primitive_parameters(primitive: Primitive) -> list[inspect.Parameter]:
    """The primitive's own parameters: ``--threshold`` when it has one, then its options."""
    parameters = []
    if primitive.threshold_key is not None:
        parameters.append(
            _primitive_parameter(
                primitive,
                "threshold",
                float,
                "--threshold",
                help_text=f"Breach threshold ({primitive.threshold_key}; overrides the file).",
            )
        )
    for option in primitive.options:
        kind: Any = _OPTION_TYPES.get(option.parser, str)
        parameters.append(
            _primitive_parameter(
                primitive,
                parameter_name(option),
                list[kind] if option.repeatable else kind,
                option.flag,
                help_text=option.help,
                metavar=option.metavar,
            )
        )
    return parameters


def _primitive_parameter(
    primitive: Primitive,
    name: str,
    kind: Any,
    flag: str,
    *,
    help_text: str,
    metavar: str | None = None,
) -> inspect.Parameter:
    """A keyword-only ``--flag`` of type ``kind`` (default None) in the primitive's help panel."""
    from rich.markup import escape

    # help is rich markup: escape it, or "[1, 2]" in an example disappears
    info = typer.Option(
        flag, help=escape(help_text), metavar=metavar, rich_help_panel=f"{primitive.name} options"
    )
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, info],
    )


def parameter_name(option: PrimitiveOption) -> str:
    """The Python parameter name of a primitive's option (``--bin-width`` -> ``opt_bin_width``)."""
    return "opt_" + option.flag.lstrip("-").replace("-", "_")


# --- the values -------------------------------------------------------------------------------


def column_mapping(
    primitive: Primitive, column: list[str] | None, given: Mapping[str, Any]
) -> ColumnMapping:
    """The ColumnMapping of the primitive's column options and the generic --column."""
    values: dict[str, Any] = {}
    #: field -> the option that set it (named by a missing-column error)
    sources: dict[str, str] = {}
    for option in primitive.options:
        value = given.get(option.flag)
        if isinstance(value, list | tuple):  # a repeatable option: its columns joined by ","
            value = ",".join(str(item) for item in value) or None
        if value is None or option.target == "override":
            continue
        sources[option.key] = option.flag
        if option.target == "columns":
            values[option.key] = tuple(name.strip() for name in value.split(",") if name.strip())
        else:
            values[option.key] = value
    known = set(primitive.table_fields)
    for item in column or []:
        name, sep, target = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not target or name not in known:
            raise InputError(
                f"{item!r} is not FIELD=COLUMN with FIELD one of {', '.join(sorted(known))}",
                field="column",
            )
        values[name] = target
        sources[name] = f"--column {item}"
    return ColumnMapping(**values).with_sources(sources)


def public_overrides(primitive: Primitive, given: Mapping[str, Any]) -> dict[str, object]:
    """The public inputs the primitive's ``override`` options set."""
    return {
        option.key: _option_value(option, given[option.flag])
        for option in primitive.options
        if option.target == "override" and given.get(option.flag) is not None
    }


def _option_field(option: PrimitiveOption) -> str:
    return option.flag.lstrip("-")


def _option_value(option: PrimitiveOption, value: object) -> object:
    """The option's typed value (typer already converted float/int/str)."""
    if option.parser == "json":
        return _parse_json_option(str(value), field=_option_field(option))
    if option.parser == "float_list":
        return _parse_float_list(str(value), field=_option_field(option))
    return value


def _parse_json_option(text: str, *, field: str) -> object:
    """JSON text, or ``@FILE`` holding it."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise InputError(f"{path} does not exist", field=field)
        if path.stat().st_size > MAX_JSON_OPTION_BYTES:
            raise InputError(f"{path} is larger than {MAX_JSON_OPTION_BYTES} bytes", field=field)
        text = path.read_text(encoding="utf-8")
    try:
        parsed: object = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", field=field) from exc
    return parsed


def _parse_float_list(text: str, *, field: str) -> float | list[float]:
    """One number, or a comma-separated list (one number stays a number)."""
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        raise InputError(
            f"{text!r} is not a comma-separated list of numbers", field=field
        ) from None
    return values[0] if len(values) == 1 else values


__all__ = [
    "COMMON_PANEL",
    "CONNECTION_PANEL",
    "DEFAULT_TIMEOUT_S",
    "MAX_JSON_OPTION_BYTES",
    "PIN_EVALUATOR_ENV",
    "PIN_REGULATOR_ENV",
    "WITNESS_PANEL",
    "column_mapping",
    "common_options",
    "common_parameters",
    "parameter_name",
    "primitive_parameters",
    "public_overrides",
]
