"""``regaudit-client``: the vendor's command line.

Commands::

    regaudit-client init DIR [--force]
    regaudit-client audit PRIMITIVE --input FILE --evaluator HOST:PORT --regulator-card FILE
                          --identity DIR --out BUNDLE [--threshold X]
                          [--y-true COL --y-pred COL --group COL] [--column FIELD=COL ...]
                          [--drift-threshold X --bin-width W --w1-range R]
                          [--models JSON|@FILE --input-bound X]
                          [--quantiles Q[,Q...] --score-range R --scores COL,COL...]
                          [--n-buckets B --k K --attribution-scale A] [--profile NAME]
                          [--timeout S] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
                          [--pin-evaluator KEY_ID] [--pin-regulator KEY_ID]
                          [--trust CLIENT_TRUST.json]
    regaudit-client audit PRIMITIVE --schema
    regaudit-client trust add FILE.pub.json --trust CLIENT_TRUST.json [--note TEXT]
    regaudit-client schema [--list | NAME]

Trust anchors: the regulator card must be signed by a pinned (``--pin-regulator``, or
``REGAUDIT_PIN_REGULATOR``) or trusted (``--trust``) regulator key, and the evaluator's receipt
key must be pinned (``--pin-evaluator``, ``REGAUDIT_PIN_EVALUATOR``) or trusted; otherwise the
audit stops with exit 1 (``untrusted_issuer``) before any key is generated (card) or any data
is encrypted or uploaded (evaluator). Without pins or a trust file every key is accepted and a
warning says so.

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
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFICATION_FAILED,
    InputError,
    RegauditError,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# The exit codes of this command line are every regaudit CLI's (EXIT_* from
# regaudit.shared.errors, re-exported).
#: Default deadline for the whole audit (seconds).
DEFAULT_TIMEOUT_S = 3600.0
#: Largest regulator card file read.
MAX_CARD_BYTES = 256 * 1024

#: Kinds of key a client trust file holds.
CLIENT_TRUST_KINDS = ("evaluator", "regulator")
#: Environment variables read for the pins.
PIN_EVALUATOR_ENV = "REGAUDIT_PIN_EVALUATOR"
PIN_REGULATOR_ENV = "REGAUDIT_PIN_REGULATOR"

app = typer.Typer(
    name="regaudit-client",
    help="The audited vendor's side of regaudit: encrypt, submit, seal the key, write a bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
trust_app = typer.Typer(
    help="Manage the client's trust file (the evaluator and regulator keys it accepts).",
    no_args_is_help=True,
)
app.add_typer(trust_app, name="trust")


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
        bool, typer.Option("--force", help="Replace an existing client identity.")
    ] = False,
) -> None:
    """Create the client's Ed25519 identity: DIR/client.key (0600) and DIR/client.pub.json."""
    from regaudit.shared.evidence.identity import SigningIdentity

    try:
        identity = SigningIdentity.generate("client")
        public = identity.save(directory, overwrite=force)
    except RegauditError as error:
        if not force and "exists" in error.message:
            error = InputError(f"{error.message} (use --force to replace it)", field="directory")
        _fail(error)
    typer.echo(f"client key id {identity.key_id}")
    typer.echo(f"public key    {public}")


# --- trust ------------------------------------------------------------------------------------


def _load_client_trust(path: Path, *, create: bool = False) -> Any:
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
) -> None:
    """Trust an evaluator's receipt key or a regulator's card-signing key (creates the trust
    file if missing)."""
    from regaudit.shared.evidence.truststore import describe_trusted

    try:
        store = _load_client_trust(trust, create=True)
        entry, already = store.add_key_file(
            public_key_file, note=note, kinds=CLIENT_TRUST_KINDS, holder="a client"
        )
        store.save(trust)
    except RegauditError as error:
        _fail(error)
    typer.echo(describe_trusted(entry, already=already))


def _trust_anchors(
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


def _print_schema(name: str) -> None:
    from regaudit.shared import schemas

    names = _schema_names()
    if name not in names:
        _usage(f"unknown schema {name!r} (known: {', '.join(names)})", field="name")
    typer.echo(json.dumps(schemas.load_schema(name), indent=2, sort_keys=False))


@app.command()
def schema(
    name: Annotated[str | None, typer.Argument(help="Schema name, e.g. fairness.input.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the schema names.")] = False,
) -> None:
    """Print a JSON Schema (or, with --list, the names of all schemas)."""
    if list_ or name is None:
        for item in _schema_names():
            typer.echo(item)
        return
    _print_schema(name)


# --- audit ------------------------------------------------------------------------------------


class RichProgress:
    """A :class:`regaudit.client.audit.ProgressSink` drawing rich progress bars on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def stage(self, name: str, *, total: float | None = None) -> None:
        if name in self._tasks:
            self._progress.update(self._tasks[name], total=total)
        else:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def advance(self, name: str, amount: float = 1.0) -> None:
        if name not in self._tasks:
            self.stage(name)
        self._progress.advance(self._tasks[name], amount)

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        if name not in self._tasks:
            self.stage(name, total=total)
        if total is not None:
            self._progress.update(self._tasks[name], completed=completed, total=total)
        else:
            self._progress.update(self._tasks[name], completed=completed)

    def note(self, text: str) -> None:
        self._progress.console.print(text)


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
    from regaudit.client.audit import check_regulator_card

    try:
        check_regulator_card(card)
    except RegauditError as exc:
        _usage(f"regulator card {path}: {exc}", field="regulator-card")
    return card


def _tls_options(ca: Path | None, cert: Path | None, key: Path | None) -> Any:
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


#: Largest --models file read.
MAX_MODELS_BYTES = 1024 * 1024


def _overrides(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _models(text: str | None) -> Any:
    """--models: JSON text or @FILE holding a list of coefficient lists."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise InputError(f"{path} does not exist", field="models")
        if path.stat().st_size > MAX_MODELS_BYTES:
            raise InputError(f"{path} is larger than {MAX_MODELS_BYTES} bytes", field="models")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", field="models") from exc


def _quantiles(text: str | None) -> Any:
    """--quantiles: one number (every class) or a comma-separated list."""
    if text is None:
        return None
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        raise InputError(
            f"{text!r} is not a comma-separated list of numbers", field="quantiles"
        ) from None
    return values[0] if len(values) == 1 else values


def _mapping(
    *,
    y_true: str | None,
    y_pred: str | None,
    group: str | None,
    column: list[str] | None,
    scores: str | None,
) -> Any:
    """The ColumnMapping of the --y-true/--y-pred/--group, --column and --scores options."""
    from dataclasses import fields

    from regaudit.client.inputs import ColumnMapping

    known = {f.name for f in fields(ColumnMapping)} - {"scores"}
    values: dict[str, Any] = {"y_true": y_true, "y_pred": y_pred, "group": group}
    for item in column or []:
        name, sep, target = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not target or name not in known:
            raise InputError(
                f"{item!r} is not FIELD=COLUMN with FIELD one of {', '.join(sorted(known))}",
                field="column",
            )
        values[name] = target
    if scores is not None:
        values["scores"] = tuple(name.strip() for name in scores.split(",") if name.strip())
    return ColumnMapping(**values)


@app.command()
def audit(
    primitive: Annotated[
        str,
        typer.Argument(
            help="Audit primitive: fairness, concordance, drift, disagreement, calibration or "
            "provenance."
        ),
    ],
    input_file: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="JSON (regaudit-fhe 0.1.0 shape), CSV or Parquet."),
    ] = None,
    evaluator: Annotated[
        str | None, typer.Option("--evaluator", help="Evaluator address HOST:PORT.")
    ] = None,
    regulator_card: Annotated[
        Path | None, typer.Option("--regulator-card", help="The regulator's public card (JSON).")
    ] = None,
    identity: Annotated[
        Path | None, typer.Option("--identity", help="Client identity directory (init).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle file to write.")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Breach threshold (overrides the file).")
    ] = None,
    y_true: Annotated[str | None, typer.Option("--y-true", help="CSV column of y_true.")] = None,
    y_pred: Annotated[str | None, typer.Option("--y-pred", help="CSV column of y_pred.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="CSV column of the (categorical) group.")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="CSV/Parquet column mapping FIELD=COLUMN, repeatable (e.g. risk=score, "
            "time=weeks, event=arrest, p=reference, q=current, test_input=x, label=y, "
            "attribution=shap, row_id=id).",
        ),
    ] = None,
    scores: Annotated[
        str | None,
        typer.Option("--scores", help="calibration: comma-separated score columns (class order)."),
    ] = None,
    drift_threshold: Annotated[
        float | None, typer.Option("--drift-threshold", help="drift: threshold on the distance.")
    ] = None,
    bin_width: Annotated[
        float | None, typer.Option("--bin-width", help="drift: bin width for W1.")
    ] = None,
    w1_range: Annotated[
        float | None, typer.Option("--w1-range", help="drift: public bound on max |P - Q|.")
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="disagreement: model polynomials as JSON ([[c0, c1, ...], ...]) or @FILE.",
        ),
    ] = None,
    input_bound: Annotated[
        float | None, typer.Option("--input-bound", help="disagreement: public bound on |x|.")
    ] = None,
    quantiles: Annotated[
        str | None,
        typer.Option("--quantiles", help="calibration: one quantile or comma-separated per class."),
    ] = None,
    score_range: Annotated[
        float | None, typer.Option("--score-range", help="calibration: scores lie in [0, R].")
    ] = None,
    n_buckets: Annotated[
        int | None, typer.Option("--n-buckets", help="provenance: number of hash buckets.")
    ] = None,
    top_k: Annotated[int | None, typer.Option("--k", help="provenance: top-K buckets.")] = None,
    attribution_scale: Annotated[
        float | None,
        typer.Option("--attribution-scale", help="provenance: public power-of-two scale."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Parameter profile (default: smallest fit).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Deadline for the whole audit, seconds.")
    ] = DEFAULT_TIMEOUT_S,
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="CA certificate (PEM).")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Client certificate for mTLS (PEM).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="Client private key for mTLS (PEM).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Reuse a job (default: random).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Encryption processes (default: one per core).")
    ] = None,
    pin_evaluator: Annotated[
        str | None,
        typer.Option(
            "--pin-evaluator",
            envvar=PIN_EVALUATOR_ENV,
            help="Accept this evaluator receipt key id (64 hex; from regaudit-evaluator "
            "init or evaluator.pub.json) and, with --trust, the trust file's evaluator keys; "
            "no other.",
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
        ),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Client trust file (regaudit-client trust add): the evaluator and regulator "
            "keys accepted (with the pins). It anchors both parties: a party with no key in it "
            "and no pin is refused.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    show_schema: Annotated[
        bool, typer.Option("--schema", help="Print the primitive's input JSON Schema and exit.")
    ] = False,
) -> None:
    """Run an encrypted audit and write the bundle for the regulator.

    Exit codes: 0 bundle written; 1 the evaluator's receipt did not verify, or the regulator
    card or the evaluator key is not pinned/trusted (untrusted_issuer); 2 bad input or usage
    (the message names the field); 3 the evaluator is unreachable or failed the job.
    """
    from regaudit.client.inputs import get_loader, load_audit_input

    try:
        get_loader(primitive)
    except RegauditError as error:
        _fail(error)
    if show_schema:
        _print_schema(f"{primitive}.input")
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
    if timeout <= 0:
        _usage("must be positive", field="timeout")
    if workers is not None and workers < 1:
        _usage("must be at least 1", field="workers")

    from regaudit.client.audit import run_audit
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.profiles import get_profile

    try:
        if primitive == "fairness" and threshold is not None and not (0.0 <= threshold <= 1.0):
            raise InputError(f"{threshold} is outside [0, 1]", field="threshold")
        if profile is not None:
            get_profile(profile)
        overrides = _overrides(
            drift_threshold=drift_threshold,
            bin_width=bin_width,
            w1_range=w1_range,
            model_polynomials=_models(models),
            input_bound=input_bound,
            quantiles=_quantiles(quantiles),
            score_range=score_range,
            n_buckets=n_buckets,
            k=top_k,
            attribution_scale=attribution_scale,
        )
        data = load_audit_input(
            primitive,
            input_file,
            threshold=threshold,
            mapping=_mapping(
                y_true=y_true, y_pred=y_pred, group=group, column=column, scores=scores
            ),
            overrides=overrides,
        )
        card = _read_card(regulator_card)
        trusted_evaluators, trusted_regulators = _trust_anchors(
            pin_evaluator=pin_evaluator, pin_regulator=pin_regulator, trust=trust
        )
        tls = _tls_options(tls_ca, tls_cert, tls_key)
        signer = SigningIdentity.load(identity, kind="client")
    except RegauditError as error:
        _fail(error)
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
        disable=quiet,
        transient=False,
    )
    try:
        with bars:
            outcome = run_audit(
                primitive,
                data,
                evaluator=evaluator,
                regulator_card=card,
                identity=signer,
                identity_dir=identity,
                out=out,
                profile=profile,
                progress=RichProgress(bars),
                timeout=timeout,
                tls=tls,
                idempotency_key=idempotency_key,
                workers=workers,
                pinned_evaluator_key_id=pin_evaluator,
                pinned_regulator_key_id=pin_regulator,
                trusted_evaluator_key_ids=trusted_evaluators,
                trusted_regulator_key_ids=trusted_regulators,
            )
    except RegauditError as error:  # EvaluatorUnavailableError and ProtocolError exit 3
        _fail(error)
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
