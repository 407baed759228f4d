"""``regaudit-evaluator``: ``init`` an identity, ``serve`` the daemon, ``gc`` a stopped store.

Exit codes: 0 ok, 2 bad arguments or input (usage errors, unreadable identity, refused address,
a port already in use, a store another evaluator holds).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from regaudit.evaluator.flow_control import (
    DEFAULT_MAX_STREAMS,
    DEFAULT_MIN_FREE_BYTES,
    DEFAULT_STREAM_STALL_S,
    FlowLimits,
)
from regaudit.evaluator.gc_command import gc
from regaudit.evaluator.quota_limits import QuotaLimits
from regaudit.evaluator.quota_options import (
    CallBurst,
    CallRate,
    MaxInflightBytes,
    MaxInflightBytesPerClient,
    MaxJobs,
    MaxJobsPerClient,
    MaxStoredBytes,
    MaxStoredBytesPerClient,
    MaxStreamsPerClient,
    SubmitBurst,
    SubmitRate,
)
from regaudit.shared.cli_app import JsonOption, json_mode, make_program, print_json
from regaudit.shared.cli_failure import fail, fail_usage
from regaudit.shared.errors import RegauditError
from regaudit.shared.key_export import build_key_app
from regaudit.shared.protocol import MAX_JOB_BYTES, SHUTDOWN_GRACE_S, TlsOptions

if TYPE_CHECKING:
    from regaudit.evaluator.authentication import ClientPolicy
    from regaudit.evaluator.dask_executor import DaskExecutor
    from regaudit.evaluator.metrics import EvaluatorMetrics
    from regaudit.evaluator.server import EvaluatorServer

#: The program's name (its --version line, config table ``[evaluator]``, REGAUDIT_EVALUATOR_*).
PROGRAM = "regaudit-evaluator"

app = make_program(
    PROGRAM,
    help_text="Keyless regaudit evaluator daemon (runs CKKS audit circuits, signs receipts).",
)
app.add_typer(build_key_app("evaluator"), name="key")  # key export (regaudit.shared.key_export)

#: Store directory used when --store is not given (inside the identity directory).
DEFAULT_STORE_NAME = "store"


class LogFormat(StrEnum):
    """``serve --log-format``: plain text (``key=value`` event fields) or JSON lines."""

    text = "text"
    json = "json"


def _fail(error: RegauditError) -> NoReturn:
    """The shared CLI failure path: ``error: ... [reason]`` on stderr, the error's exit code."""
    fail(error)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="identity directory to create")],
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing identity")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the evaluator's Ed25519 receipt-signing identity; DIR/evaluator.pub.json is public."""
    from regaudit.shared.evidence.identity import SigningIdentity

    json_mode(as_json)
    try:
        identity = SigningIdentity.generate("evaluator")
        public = identity.save(directory, overwrite=force)
    except RegauditError as exc:
        _fail(exc)
        return
    if as_json:
        print_json(
            {"ok": True, "kind": "evaluator", "key_id": identity.key_id, "public_key": str(public)}
        )
        return
    typer.echo(f"evaluator key {identity.key_id}")
    typer.echo(f"public key file {public}")


@app.command()
def serve(
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT (port 0 = any free port)")],
    identity: Annotated[Path, typer.Option("--identity", help="identity directory (init)")],
    store: Annotated[
        Path | None, typer.Option("--store", help="job store directory (default DIR/store)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="worker processes (default: cores)")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM chain")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option("--tls-client-ca", help="PEM CA; requires client certs (mTLS)")
    ] = None,
    grace: Annotated[float, typer.Option(help="shutdown grace period (s)")] = SHUTDOWN_GRACE_S,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            help="run evaluation on this Dask scheduler instead of local worker processes: "
            "tcp://HOST:PORT on loopback only, or tls://HOST:PORT with --dask-tls-ca, "
            "--dask-tls-cert and --dask-tls-key (mutual TLS); needs "
            "regaudit-evaluator\\[dask] (pip install 'regaudit-evaluator\\[dask]'). "
            "A Dask worker is as trusted as this daemon: the cluster can run code in the "
            "daemon (pickle) and computes what it signs.",
        ),
    ] = None,
    dask_tls_ca: Annotated[
        Path | None,
        typer.Option("--dask-tls-ca", help="PEM CA of the Dask cluster (required for tls://)"),
    ] = None,
    dask_tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--dask-tls-cert", help="PEM client certificate for Dask (required for tls://)"
        ),
    ] = None,
    dask_tls_key: Annotated[
        Path | None,
        typer.Option("--dask-tls-key", help="PEM client key for Dask (required for tls://)"),
    ] = None,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            help="once serving, write HOST:PORT (the bound port) to this file, atomically; "
            "it is removed on shutdown. Its directory must exist.",
        ),
    ] = None,
    max_job_bytes: Annotated[
        int,
        typer.Option(
            "--max-job-bytes",
            min=1,
            help="refuse at admission a job whose input ciphertexts could take more than this "
            "many bytes (ciphertext count x the largest seeded ciphertext at its input level)",
        ),
    ] = MAX_JOB_BYTES,
    max_streams: Annotated[
        int,
        typer.Option(
            "--max-streams",
            min=1,
            help="long streams (key uploads, job submissions, watches, results) served at "
            "once; more are refused with RESOURCE_EXHAUSTED server_busy and a retry delay. "
            "The gRPC thread pool is this plus a reserve for short calls",
        ),
    ] = DEFAULT_MAX_STREAMS,
    stream_stall_seconds: Annotated[
        float,
        typer.Option(
            "--stream-stall-seconds",
            min=0.001,
            help="abort a key upload or job submission whose client sends no message for "
            "this long (DEADLINE_EXCEEDED stream_stalled; the partial upload is discarded)",
        ),
    ] = DEFAULT_STREAM_STALL_S,
    min_free_bytes: Annotated[
        int,
        typer.Option(
            "--min-free-bytes",
            min=0,
            help="refuse a key upload or a job (RESOURCE_EXHAUSTED disk_full) while the "
            "store's file system has less free space than this",
        ),
    ] = DEFAULT_MIN_FREE_BYTES,
    max_jobs_per_client: MaxJobsPerClient = QuotaLimits.max_jobs_per_client,
    max_jobs: MaxJobs = QuotaLimits.max_jobs,
    max_streams_per_client: MaxStreamsPerClient = QuotaLimits.max_streams_per_client,
    max_inflight_bytes_per_client: MaxInflightBytesPerClient = (
        QuotaLimits.max_inflight_bytes_per_client
    ),
    max_inflight_bytes: MaxInflightBytes = QuotaLimits.max_inflight_bytes,
    max_stored_bytes_per_client: MaxStoredBytesPerClient = QuotaLimits.max_stored_bytes_per_client,
    max_stored_bytes: MaxStoredBytes = QuotaLimits.max_stored_bytes,
    submit_rate: SubmitRate = QuotaLimits.submit_rate,
    submit_burst: SubmitBurst = QuotaLimits.submit_burst,
    call_rate: CallRate = QuotaLimits.call_rate,
    call_burst: CallBurst = QuotaLimits.call_burst,
    allow_client: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-client",
            help="allow this client: a 64-hex key id or a client.pub.json file (repeatable)",
        ),
    ] = None,
    client_allowlist: Annotated[
        list[Path] | None,
        typer.Option(
            "--client-allowlist",
            help="allow the unrevoked client keys of this trust file ('regaudit-regulator "
            "trust add' writes it; repeatable)",
        ),
    ] = None,
    allow_any_client: Annotated[
        bool,
        typer.Option(
            "--allow-any-client",
            help="accept every signed client on a non-loopback address (no allow-list); "
            "each job stays visible to its submitter only",
        ),
    ] = False,
    retain: Annotated[
        str,
        typer.Option(
            "--retain",
            help="delete a succeeded or failed job's outputs, receipt and row this long after "
            "it ended: 30m, 12h, 7d (a tombstone answers result_expired); collected at start "
            "and every min(DURATION/10, 1h)",
        ),
    ] = "30d",
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            "--metrics-listen",
            help="serve Prometheus metrics over plain HTTP on HOST:PORT (port 0: any free "
            "port; off by default). They hold no secrets or identifiers, so any address may "
            "be given; the bound address is the 'metrics' field of evaluator_started",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            help="text, or json: one JSON object per line (time, level, event, fields), "
            "the human 'listening on' and 'shutting down' lines left out",
        ),
    ] = LogFormat.text,
    as_json: Annotated[bool, typer.Option("--json", help="the same as --log-format json")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the regaudit.v1.Evaluator gRPC service until SIGTERM/SIGINT.

    With --ready-file PATH, PATH appears once the daemon is serving and holds "HOST:PORT\\n";
    wait for it (e.g. regaudit.evaluator.server.wait_for_ready_file) instead of reading the
    "listening on" line, which stays for humans (text format only).

    Lifecycle events (startup, keys uploaded, job admitted, upload finished, job succeeded or
    failed, shutdown) are logged at INFO on stderr, one line each, with or without -v
    (see :mod:`regaudit.evaluator.logs`).
    """
    from regaudit.evaluator.logs import configure_logging, log_event

    if as_json:
        log_format = LogFormat.json
    configure_logging(log_format.value, verbose=verbose)
    human = log_format is LogFormat.text
    from regaudit.evaluator.collection import parse_duration
    from regaudit.evaluator.metrics import metrics_for
    from regaudit.evaluator.server import create_server
    from regaudit.shared.evidence.identity import SigningIdentity

    if (tls_cert is None) != (tls_key is None):
        fail_usage("--tls-cert and --tls-key go together")
    if tls_client_ca is not None and tls_cert is None:
        fail_usage("--tls-client-ca needs --tls-cert/--tls-key")
    if dask_scheduler is None and (dask_tls_ca or dask_tls_cert or dask_tls_key):
        fail_usage("--dask-tls-* options need --dask-scheduler")
    if dask_scheduler is not None and workers is not None:
        fail_usage("--workers sizes the local pool; not with --dask-scheduler")
    if (dask_tls_cert is None) != (dask_tls_key is None):
        fail_usage("--dask-tls-cert and --dask-tls-key go together")
    if ready_file is not None and not ready_file.parent.is_dir():
        typer.echo(f"error: --ready-file: no directory {ready_file.parent}", err=True)
        raise typer.Exit(code=2)
    if dask_scheduler is not None:
        from regaudit.evaluator.dask_security import check_scheduler_address

        tls_files = (dask_tls_ca, dask_tls_cert, dask_tls_key)
        try:
            if any(tls_files) and not all(tls_files):
                check_scheduler_address(dask_scheduler, tls=False)  # names the problem first
                fail_usage("--dask-tls-ca, --dask-tls-cert and --dask-tls-key go together")
            check_scheduler_address(dask_scheduler, tls=all(tls_files))
        except RegauditError as exc:
            _fail(exc)
    tls = None
    try:
        if tls_cert is not None and tls_key is not None:
            tls = TlsOptions(
                certificate_chain=tls_cert.read_bytes(),
                private_key=tls_key.read_bytes(),
                root_certificates=tls_client_ca.read_bytes() if tls_client_ca else None,
                require_client_auth=tls_client_ca is not None,
            )
    except OSError as exc:
        fail_usage(f"cannot read TLS material: {exc}")
    try:
        retain_s = parse_duration(retain)
        metrics = metrics_for(metrics_listen)
        policy = _client_policy(allow_client, client_allowlist, allow_any_client)
        signing = SigningIdentity.load(identity, kind="evaluator")
        executor = None
        if dask_scheduler is not None:
            executor = _dask_executor(dask_scheduler, dask_tls_ca, dask_tls_cert, dask_tls_key)
        server, _port = create_server(
            listen,
            identity=signing,
            store_path=store or identity / DEFAULT_STORE_NAME,
            workers=workers,
            tls=tls,
            max_job_bytes=max_job_bytes,
            executor=executor,
            client_policy=policy,
            limits=FlowLimits(max_streams, stream_stall_seconds, min_free_bytes),
            quotas=QuotaLimits(
                max_jobs_per_client=max_jobs_per_client,
                max_jobs=max_jobs,
                max_streams_per_client=max_streams_per_client,
                max_inflight_bytes_per_client=max_inflight_bytes_per_client,
                max_inflight_bytes=max_inflight_bytes,
                max_stored_bytes_per_client=max_stored_bytes_per_client,
                max_stored_bytes=max_stored_bytes,
                submit_rate=submit_rate,
                submit_burst=submit_burst,
                call_rate=call_rate,
                call_burst=call_burst,
            ),
            retain_s=retain_s,
            metrics=metrics,
        )
    except RegauditError as exc:
        _fail(exc)
        return
    if ready_file is not None:
        # only now (the port and the store are ours): a stale file from a killed daemon goes;
        # a refused start above never touches the file of the daemon that is running
        try:
            ready_file.unlink(missing_ok=True)
        except OSError as exc:
            server.stop(0)
            typer.echo(f"error: --ready-file: {exc}", err=True)
            raise typer.Exit(code=2) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics_at = _serve_metrics(server, metrics, metrics_listen)
    server.start()
    log_event(
        "evaluator_started",
        address=server.address,
        store=str(server.store.root),
        workers=getattr(server.manager.executor, "workers", None),
        executor="dask" if dask_scheduler is not None else "local",
        tls=tls is not None,
        mtls=tls is not None and tls.require_client_auth,
        metrics=metrics_at,  # the bound --metrics-listen address (None: off)
    )
    if human:
        print(f"listening on {server.address}", flush=True)
        if metrics_at:
            print(f"metrics on http://{metrics_at}/metrics", flush=True)
    try:
        if ready_file is not None:
            _write_ready_file(ready_file, server.address)
        while not stop.wait(timeout=1.0):
            pass
    except OSError as exc:
        typer.echo(f"error: --ready-file: {exc}", err=True)
        server.stop(grace)
        raise typer.Exit(code=2) from None
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)  # not ready any more
    if human:
        print("shutting down", file=sys.stderr, flush=True)
    log_event("evaluator_stopping", address=server.address, grace_seconds=grace)
    server.stop(grace)
    if metrics is not None:
        metrics.close()
    log_event("evaluator_stopped", address=server.address)


def _client_policy(
    allow_client: list[str] | None, allowlists: list[Path] | None, allow_any: bool
) -> ClientPolicy:
    """The :class:`~regaudit.evaluator.authentication.ClientPolicy` of ``serve``'s options."""
    from regaudit.evaluator.authentication import ClientPolicy
    from regaudit.evaluator.logs import log_event

    policy = ClientPolicy.from_options(allow_client or (), allowlists or (), allow_any=allow_any)
    if allow_any:
        log_event("any_signed_client_allowed", logging.WARNING)
    return policy


def _serve_metrics(
    server: EvaluatorServer, metrics: EvaluatorMetrics | None, listen: str | None
) -> str | None:
    """Bind ``--metrics-listen`` before serving gRPC; its bound ``HOST:PORT`` (None when off).
    A refused address stops the unstarted server and exits 2."""
    if metrics is None or listen is None:
        return None
    try:
        return metrics.serve(listen)
    except RegauditError as exc:
        server.stop(0)
        _fail(exc)


def _write_ready_file(path: Path, address: str) -> None:
    """``HOST:PORT`` + newline, atomically: a reader sees no file or the whole address."""
    from regaudit.shared.files import write_file_atomic

    write_file_atomic(path, f"{address}\n".encode(), mode=0o644, overwrite=True)


def _dask_executor(
    address: str, ca: Path | None, cert: Path | None, key: Path | None
) -> DaskExecutor:
    """Connect to the Dask scheduler: plaintext on loopback, else mutual TLS (CA, client
    certificate and key all given; :func:`~regaudit.evaluator.dask_security.check_scheduler_address`
    refuses anything else)."""
    from regaudit.evaluator.dask_executor import DaskExecutor

    security = None
    if ca is not None and cert is not None and key is not None:
        from distributed.security import Security

        security = Security(  # type: ignore[no-untyped-call]  # (distributed: no annotations)
            tls_ca_file=str(ca),
            tls_client_cert=str(cert),
            tls_client_key=str(key),
            require_encryption=True,
        )
    return DaskExecutor(address, security=security)


app.command("gc")(gc)


def main() -> None:
    app()


__all__ = ["LogFormat", "app", "gc", "init", "main", "serve"]


if __name__ == "__main__":
    main()
