"""Prometheus metrics of the daemon, on their own HTTP port (``serve --metrics-listen HOST:PORT``).

Off by default. The metrics live in a dedicated :class:`~prometheus_client.CollectorRegistry`
(never the process-global one) and are served as the Prometheus text format on every path of
``http://HOST:PORT/`` (``/metrics`` by convention), plaintext. They hold no secret and no
identifier: labels are method names, gRPC status codes, primitives, job states, error reasons,
byte kinds and quota names only (never job, audit or client ids, digests, peers or public
inputs), so any address may be given explicitly, loopback or not; restrict who can reach it as
for any monitoring port.

Where each metric comes from:

* a gRPC server interceptor (:meth:`EvaluatorMetrics.interceptors`, passed to ``grpc.server``
  by ``create_server``): ``rpcs_total`` (method, code), ``rpc_duration_seconds`` (method, to
  the end of a stream) and ``refusals_total`` (the ``reason`` of the ErrorInfo every refused
  call carries: ``unauthenticated``, ``server_busy``, ``stream_stalled``, ``disk_full``, ...);
* the lifecycle events of :mod:`.logs` (an observer, next to the log line):
  ``jobs_finished_total`` and ``job_duration_seconds`` from ``job_succeeded``/``job_failed``,
  ``received_bytes_total`` from ``keys_uploaded`` and ``upload_finished``,
  ``quota_refusals_total`` (quota, reason) from ``quota_refused``;
* at scrape time (cheap): ``jobs`` by state and ``queue_depth`` (one ``GROUP BY`` on a
  read-only SQLite connection of their own), ``store_bytes`` (a walk of the store folder:
  the job database, keys, outputs and scratch), ``worker_processes`` (the executor's workers;
  local ones still running), and from the quota ledger (:mod:`.quotas`, in memory)
  ``quota_usage`` (by quota: everyone's jobs, bytes in flight, stored bytes; no per-client
  label), ``quota_limit`` (by quota and scope) and ``quota_clients`` (client keys holding
  anything).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import WSGIServer

import grpc
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from regaudit.evaluator.addresses import split_address
from regaudit.evaluator.logs import add_observer, remove_observer
from regaudit.shared.errors import InputError
from regaudit.shared.protocol import ERROR_DOMAIN, JobState

if TYPE_CHECKING:
    from regaudit.evaluator.executors import Executor
    from regaudit.evaluator.quotas import QuotaLedger

#: Prefix of every metric name.
NAMESPACE = "regaudit_evaluator"
#: Buckets of ``rpc_duration_seconds``: short calls to long uploads and watches.
RPC_DURATION_BUCKETS_S: tuple[float, ...] = (
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0, 600.0, 3600.0,
)  # fmt: skip
#: Buckets of ``job_duration_seconds`` (admission to signed receipt).
JOB_DURATION_BUCKETS_S: tuple[float, ...] = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0,
)  # fmt: skip
#: ``received_bytes_total`` kinds.
BYTES_EVALUATION_KEYS = "evaluation_keys"
BYTES_CIPHERTEXTS = "ciphertexts"
#: Label value of a failed job whose primitive is not known (a job that failed on restart).
UNKNOWN = "unknown"
#: The trailing metadata key of a rich gRPC status (``google.rpc.Status``).
STATUS_DETAILS_KEY = "grpc-status-details-bin"

_Behavior = TypeVar("_Behavior", bound=Callable[..., Any])


class EvaluatorMetrics:
    """The daemon's metrics: one registry, the RPC interceptor, the event observer and the
    scrape-time gauges (after :meth:`watch`); :meth:`serve` exposes them over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.rpcs = Counter(
            f"{NAMESPACE}_rpcs",
            "gRPC calls ended, by method and status code",
            ("method", "code"),
            registry=registry,
        )
        self.rpc_seconds = Histogram(
            f"{NAMESPACE}_rpc_duration_seconds",
            "gRPC call duration (streams: to their end), by method",
            ("method",),
            buckets=RPC_DURATION_BUCKETS_S,
            registry=registry,
        )
        self.refusals = Counter(
            f"{NAMESPACE}_refusals",
            "gRPC calls refused, by the reason their error carries",
            ("reason",),
            registry=registry,
        )
        self.jobs_finished = Counter(
            f"{NAMESPACE}_jobs_finished",
            "jobs that ended, by primitive, outcome (succeeded/failed) and failure reason",
            ("primitive", "outcome", "reason"),
            registry=registry,
        )
        self.job_seconds = Histogram(
            f"{NAMESPACE}_job_duration_seconds",
            "succeeded jobs: seconds from admission to the signed receipt, by primitive",
            ("primitive",),
            buckets=JOB_DURATION_BUCKETS_S,
            registry=registry,
        )
        self.received_bytes = Counter(
            f"{NAMESPACE}_received_bytes",
            "bytes of completed uploads, by kind (evaluation_keys, ciphertexts)",
            ("kind",),
            registry=registry,
        )
        self.quota_refusals = Counter(
            f"{NAMESPACE}_quota_refusals",
            "calls refused by a quota or rate limit, by quota (its option) and reason",
            ("quota", "reason"),
            registry=registry,
        )
        self._state: _StateCollector | None = None
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        add_observer(self.observe_event)

    # --- wiring -------------------------------------------------------------------------------

    def interceptors(self) -> tuple[grpc.ServerInterceptor, ...]:
        """The server interceptors to pass to ``grpc.server`` (RPC counts, durations,
        refusals)."""
        return (_RpcInterceptor(self),)

    def watch(
        self, store_root: Path, executor: Executor, quotas: QuotaLedger | None = None
    ) -> None:
        """Add the scrape-time gauges of the store at ``store_root``, ``executor`` and the
        quota ledger ``quotas``."""
        if self._state is None:
            self._state = _StateCollector(store_root, executor)
            self.registry.register(self._state)
        if quotas is not None:
            self.registry.register(_QuotaCollector(quotas))

    def serve(self, listen: str) -> str:
        """Serve the metrics over HTTP on ``listen`` (``HOST:PORT``, port 0: any free port);
        returns the bound ``HOST:PORT``. :class:`InputError` (field ``metrics_listen``) if it
        is malformed or cannot be bound."""
        host, port = metrics_address(listen)
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            problem = (
                "is already in use" if port and exc.errno == errno.EADDRINUSE else f"failed: {exc}"
            )
            raise InputError(f"metrics address {shown} {problem}", field="metrics_listen") from exc
        bound = int(self._http.server_port)
        return f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"

    def close(self) -> None:
        """Stop the HTTP server and the event observer. Idempotent."""
        remove_observer(self.observe_event)
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()

    # --- lifecycle events ---------------------------------------------------------------------

    def observe_event(self, event: str, fields: dict[str, object]) -> None:
        """Count a lifecycle event of :mod:`.logs` (called after its log line)."""
        if event == "job_succeeded":
            primitive = _label(fields.get("primitive"))
            self.jobs_finished.labels(primitive, "succeeded", "").inc()
            total = fields.get("total_seconds")
            if isinstance(total, int | float):
                self.job_seconds.labels(primitive).observe(float(total))
        elif event == "job_failed":
            primitive = _label(fields.get("primitive"))
            self.jobs_finished.labels(primitive, "failed", _label(fields.get("reason"))).inc()
        elif event == "keys_uploaded":
            self._count_bytes(BYTES_EVALUATION_KEYS, fields.get("bytes"))
        elif event == "upload_finished":
            self._count_bytes(BYTES_CIPHERTEXTS, fields.get("bytes"))
        elif event == "quota_refused":
            self.quota_refusals.labels(
                _label(fields.get("quota")), _label(fields.get("reason"))
            ).inc()

    def _count_bytes(self, kind: str, value: object) -> None:
        if isinstance(value, int) and value > 0:
            self.received_bytes.labels(kind).inc(value)

    # --- RPCs ---------------------------------------------------------------------------------

    def rpc_ended(
        self, method: str, context: grpc.ServicerContext, began: float, *, raised: bool
    ) -> None:
        """Count a call of ``method`` that began at monotonic ``began``: its code (from the
        context), its duration and, if refused, the reason of its ErrorInfo."""
        code = _code_of(context, raised=raised)
        self.rpcs.labels(method, code).inc()
        self.rpc_seconds.labels(method).observe(max(0.0, time.monotonic() - began))
        if code != "OK":
            reason = _reason_of(context)
            if reason:
                self.refusals.labels(reason).inc()


def metrics_for(listen: str | None) -> EvaluatorMetrics | None:
    """``serve --metrics-listen``: None when off, else new metrics once ``listen`` parses
    (:class:`InputError` otherwise, before any worker is spawned)."""
    if listen is None:
        return None
    metrics_address(listen)
    return EvaluatorMetrics()


def metrics_address(listen: str) -> tuple[str, int]:
    """``--metrics-listen HOST:PORT`` as (host, port); :class:`InputError` if malformed."""
    try:
        return split_address(listen)
    except InputError as exc:
        raise InputError(
            f"--metrics-listen must be HOST:PORT, got {listen!r}", field="metrics_listen"
        ) from exc


def _label(value: object) -> str:
    return value if isinstance(value, str) and value else UNKNOWN


def _code_of(context: grpc.ServicerContext, *, raised: bool) -> str:
    """The call's status code name: the one set by an abort or ``set_code``; else OK, or for
    a handler that raised, CANCELLED (the client went away) or UNKNOWN."""
    try:
        code = context.code()
    except Exception:  # noqa: BLE001 - a metric, never a failure
        code = None
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if not raised:
        return "OK"
    try:
        active = bool(context.is_active())
    except Exception:  # noqa: BLE001
        active = True
    return "UNKNOWN" if active else "CANCELLED"


def _reason_of(context: grpc.ServicerContext) -> str:
    """The ``reason`` of the regaudit ErrorInfo in the call's rich status, or ''."""
    try:
        metadata = context.trailing_metadata() or ()
        for key, value in metadata:
            if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
                continue
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    if info.domain == ERROR_DOMAIN:
                        return str(info.reason)
    except Exception:  # noqa: BLE001 - a metric, never a failure
        return ""
    return ""


class _RpcInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # (grpc: no annotations)
    """Wraps every known method's handler to count it when it ends (unknown methods are not
    counted: their names are the caller's choice)."""

    def __init__(self, metrics: EvaluatorMetrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return None
        method = str(details.method).rsplit("/", 1)[-1]
        serializers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method), **serializers
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, method), **serializers
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, method), **serializers
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(handler.stream_stream, method), **serializers
            )
        return handler

    def _unary(self, behavior: _Behavior, method: str) -> Callable[[object, Any], object]:
        def call(request: object, context: grpc.ServicerContext) -> object:
            began = time.monotonic()
            try:
                response = behavior(request, context)
            except BaseException:
                self.metrics.rpc_ended(method, context, began, raised=True)
                raise
            self.metrics.rpc_ended(method, context, began, raised=False)
            return response

        return call

    def _streaming(
        self, behavior: _Behavior, method: str
    ) -> Callable[[object, Any], Iterator[object]]:
        def call(request: object, context: grpc.ServicerContext) -> Iterator[object]:
            began = time.monotonic()
            raised = True
            try:
                yield from behavior(request, context)
                raised = False
            finally:
                self.metrics.rpc_ended(method, context, began, raised=raised)

        return call


# --- scrape-time gauges -----------------------------------------------------------------------


@dataclass(eq=False)  # (hashable: the registry keys its collectors)
class _StateCollector(Collector):
    """Gauges read when scraped: jobs by state, queue depth, store bytes, live workers."""

    store_root: Path
    executor: Executor

    def collect(self) -> Iterable[Metric]:
        counts = _job_counts(self.store_root / "jobs.sqlite3")
        if counts is not None:
            jobs = GaugeMetricFamily(
                f"{NAMESPACE}_jobs", "jobs in the store, by state", labels=("state",)
            )
            for state in JobState:
                jobs.add_metric((state.value.lower(),), counts.get(state.value, 0))
            yield jobs
            yield GaugeMetricFamily(
                f"{NAMESPACE}_queue_depth",
                "jobs waiting for workers (QUEUED: uploaded, not yet evaluating)",
                value=counts.get(JobState.QUEUED.value, 0),
            )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_store_bytes",
            "bytes of the files in the store folder (database, keys, jobs, scratch)",
            value=_folder_bytes(self.store_root),
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_worker_processes",
            "worker processes of the executor (local: those still running)",
            value=_workers_alive(self.executor),
        )


@dataclass(eq=False)
class _QuotaCollector(Collector):
    """Gauges of the quota ledger (global figures only: no label names a client)."""

    quotas: QuotaLedger

    def collect(self) -> Iterable[Metric]:
        usage = self.quotas.usage()
        gauge = GaugeMetricFamily(
            f"{NAMESPACE}_quota_usage",
            "what every client holds or has reserved, by quota: jobs that have not ended, "
            "upload bytes in flight, stored bytes (jobs' folders and evaluation keys)",
            labels=("quota",),
        )
        gauge.add_metric(("jobs",), usage.jobs)
        gauge.add_metric(("inflight_bytes",), usage.inflight)
        gauge.add_metric(("stored_bytes",), usage.stored)
        yield gauge
        limits = GaugeMetricFamily(
            f"{NAMESPACE}_quota_limit",
            "the quotas and rate limits (per minute; 0: off), by quota and scope",
            labels=("quota", "scope"),
        )
        for name, value in vars(self.quotas.limits).items():
            scope = "client" if name.endswith("_per_client") or "_rate" in name else "global"
            if "_burst" not in name:
                limits.add_metric((name.removesuffix("_per_client"), scope), float(value))
        yield limits
        yield GaugeMetricFamily(
            f"{NAMESPACE}_quota_clients",
            "client keys that hold or reserve anything now",
            value=self.quotas.clients(),
        )


def _job_counts(database: Path) -> dict[str, int] | None:
    """Jobs per state value, from a read-only connection of our own (WAL: no lock on the
    daemon's writers); None if the database cannot be read."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1.0)) as db:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
    except sqlite3.Error:
        return None
    return {str(state): int(count) for state, count in rows}


def _folder_bytes(root: Path) -> int:
    """The sizes of the regular files under ``root`` (files that vanish meanwhile: skipped)."""
    total = 0
    pending = [str(root)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _workers_alive(executor: Executor) -> int:
    """The executor's worker processes; for the local pool, only those still running."""
    try:
        pids = executor.worker_pids()
    except Exception:  # noqa: BLE001 - a metric, never a failure
        return 0
    if executor.name != "local":
        return len(pids)
    alive = 0
    for pid in pids:
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        alive += 1
    return alive


__all__ = [
    "BYTES_CIPHERTEXTS",
    "BYTES_EVALUATION_KEYS",
    "JOB_DURATION_BUCKETS_S",
    "NAMESPACE",
    "RPC_DURATION_BUCKETS_S",
    "EvaluatorMetrics",
    "metrics_address",
    "metrics_for",
]
