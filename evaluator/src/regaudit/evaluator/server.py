"""The evaluator's gRPC server: the ``regaudit.v1.Evaluator`` service, health and reflection.

The servicer only translates RPCs; the work lives beside it: admission of a job (header
signature, plan, keys, idempotency) in :mod:`.admission`, receiving evaluation keys and
ciphertexts in :mod:`.uploads`, progress and result streams in :mod:`.results`, errors to
statuses in :mod:`.status`, and waiting for a started daemon in :mod:`.readiness`.

Every received object is checked before use (sizes first, then SEAL validity for the profile and
the exact level); a bad upload gets a precise status with ErrorInfo/BadRequest details and the
daemon keeps serving. Plaintext listening is refused unless the address is loopback.

One daemon per port and per store: gRPC's ``SO_REUSEPORT`` is turned off, so a port another
process listens on is refused ("address HOST:PORT is already in use"), and the store is locked
(:class:`~regaudit.evaluator.store_lock.StoreLock`) before the workers start.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import ParamSpec, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from regaudit.evaluator.addresses import bind_error, is_loopback, peer_of, split_address
from regaudit.evaluator.admission import Admission
from regaudit.evaluator.authentication import Authenticator, ClientPolicy, require_owner
from regaudit.evaluator.collection import DEFAULT_RETAIN_S, Collector, daemon_guard
from regaudit.evaluator.executors import Executor
from regaudit.evaluator.flow_control import FlowControl, FlowLimits
from regaudit.evaluator.jobs import JobManager, new_executor
from regaudit.evaluator.metrics import EvaluatorMetrics
from regaudit.evaluator.quota_limits import QuotaLimits
from regaudit.evaluator.readiness import (
    READY_OUTPUT_LINES,
    EvaluatorStartError,
    read_ready_file,
    wait_for_ready_file,
    wait_until_serving,
)
from regaudit.evaluator.receipts import software_versions
from regaudit.evaluator.results import result_messages, watch_progress
from regaudit.evaluator.resumption import upload_state
from regaudit.evaluator.status import RpcAbort, abort, check_digest, guarded
from regaudit.evaluator.store import KeyRecord, Store
from regaudit.evaluator.store_lock import StoreLock
from regaudit.evaluator.uploads import receive_job_ciphertexts, receive_upload_keys
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.circuits.base import Plan
from regaudit.shared.circuits.registry import list_circuits
from regaudit.shared.custody import assert_no_secret_key_code
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.planning import MAX_ROWS
from regaudit.shared.profiles import PROFILES
from regaudit.shared.protocol import (
    GRPC_OPTIONS,
    MAX_JOB_BYTES,
    MAX_JOB_CIPHERTEXTS,
    PROTOCOL_VERSION,
    SERVICE_NAME,
    SHUTDOWN_GRACE_S,
    Capabilities,
    JobHeader,
    Limits,
    TlsOptions,
    capabilities_to_proto,
    method_path,
    profile_info,
)
from regaudit.shared.versioning import version_text

log = logging.getLogger("regaudit.evaluator.server")

#: The version string the daemon reports in its capabilities (regaudit.shared.versioning).
SERVER_VERSION = version_text("regaudit-evaluator")
#: The server's channel options: the protocol's, and no ``SO_REUSEPORT`` (gRPC turns it on by
#: default, which lets a second daemon bind a port that one already serves).
SERVER_GRPC_OPTIONS: tuple[tuple[str, int], ...] = (*GRPC_OPTIONS, ("grpc.so_reuseport", 0))

T = TypeVar("T")
P = ParamSpec("P")


class EvaluatorService(pb_grpc.EvaluatorServicer):
    """Implementation of ``regaudit.v1.Evaluator``: each method translates one RPC."""

    def __init__(
        self,
        store: Store,
        manager: JobManager,
        identity: SigningIdentity,
        *,
        max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS,
        max_job_bytes: int = MAX_JOB_BYTES,
        authenticator: Authenticator | None = None,
        flow: FlowControl | None = None,
    ) -> None:
        self.store = store
        #: stall timers, the long-stream limit, the free-disk check (see :mod:`.flow_control`)
        self.flow = flow or FlowControl(FlowLimits(), store.root)
        self.manager = manager
        self.identity = identity
        #: signed requests, the client allow-list, replays (see :mod:`.authentication`)
        self.auth = authenticator or Authenticator()
        self.admission = Admission(
            store, manager, max_job_ciphertexts=max_job_ciphertexts, max_job_bytes=max_job_bytes
        )
        self.admission.quotas = self.flow.quotas  # (per-client and global: see .quotas)
        #: set when a graceful stop begins: open WatchJob streams end with UNAVAILABLE
        self.stopping = threading.Event()

    @property
    def max_job_ciphertexts(self) -> int:
        """The most ciphertexts one job may have (canary included)."""
        return self.admission.max_job_ciphertexts

    @max_job_ciphertexts.setter
    def max_job_ciphertexts(self, value: int) -> None:
        self.admission.max_job_ciphertexts = value

    @property
    def max_job_bytes(self) -> int:
        """The most input bytes one job may claim (ciphertexts x their largest seeded size);
        not advertised: ``Limits`` has no field for it."""
        return self.admission.max_job_bytes

    @max_job_bytes.setter
    def max_job_bytes(self, value: int) -> None:
        self.admission.max_job_bytes = value

    def capabilities(self) -> Capabilities:
        return Capabilities(
            protocol_version=PROTOCOL_VERSION,
            profiles=tuple(profile_info(p) for p in PROFILES),
            circuits=tuple(list_circuits()),
            limits=Limits(max_rows=MAX_ROWS, max_job_ciphertexts=self.max_job_ciphertexts),
            evaluator_public_key=self.identity.public_record().to_dict(),
            server_version=SERVER_VERSION,
        )

    def plan_for(self, header: JobHeader) -> Plan:
        """See :meth:`.admission.Admission.plan_for`."""
        return self.admission.plan_for(header)

    def keys_for(self, digest: str, plan: Plan | None = None) -> KeyRecord:
        """See :meth:`.admission.Admission.keys_for`."""
        return self.admission.keys_for(digest, plan)

    # --- RPCs ---------------------------------------------------------------------------------

    def GetCapabilities(  # noqa: N802 - gRPC method name
        self, request: pb.GetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> pb.Capabilities:
        return guarded(context, lambda: capabilities_to_proto(self.capabilities()))

    def HasEvaluationKeys(  # noqa: N802
        self, request: pb.HasEvaluationKeysRequest, context: grpc.ServicerContext
    ) -> pb.HasEvaluationKeysResponse:
        def body() -> pb.HasEvaluationKeysResponse:
            self._authenticate(context, "HasEvaluationKeys")
            return self._has_keys(request.digest)

        return guarded(context, body)

    def UploadEvaluationKeys(  # noqa: N802
        self,
        request_iterator: Iterator[pb.UploadEvaluationKeysRequest],
        context: grpc.ServicerContext,
    ) -> pb.UploadEvaluationKeysResponse:
        def body() -> pb.UploadEvaluationKeysResponse:
            client = self._authenticate(context, "UploadEvaluationKeys")
            return self.flow.key_upload(
                client,
                iter(request_iterator),
                lambda m, reserve: receive_upload_keys(self.store, m, reserve=reserve),
            )

        return guarded(context, body)

    def SubmitJob(  # noqa: N802
        self, request_iterator: Iterator[pb.SubmitJobRequest], context: grpc.ServicerContext
    ) -> pb.JobAccepted:
        def body() -> pb.JobAccepted:
            client = self._authenticate(context, "SubmitJob")
            return self.flow.client_stream(
                "SubmitJob",
                iter(request_iterator),
                lambda messages: self._submit(messages, peer=peer_of(context), client=client),
                client=client,
            )

        return guarded(context, body)

    def GetUploadState(  # noqa: N802
        self, request: pb.GetUploadStateRequest, context: grpc.ServicerContext
    ) -> pb.UploadState:
        def body() -> pb.UploadState:
            client = self._authenticate(context, "GetUploadState")
            return upload_state(self.manager, client, request.idempotency_key)

        return guarded(context, body)

    def WatchJob(  # noqa: N802
        self, request: pb.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.JobProgress]:
        try:
            client = self._authenticate(context, "WatchJob", request.job_id)
            require_owner(self.store, request.job_id, client)
            with self.flow.stream_slot("WatchJob", client):
                yield from watch_progress(
                    self.manager,
                    request.job_id,
                    is_active=context.is_active,
                    stopping=self.stopping,
                )
        except Exception as exc:  # noqa: BLE001 - mapped to a status
            abort(context, exc)

    def GetResult(  # noqa: N802
        self, request: pb.GetResultRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetResultResponse]:
        try:
            client = self._authenticate(context, "GetResult", request.job_id)
            require_owner(self.store, request.job_id, client)
            with self.flow.stream_slot("GetResult", client):
                yield from result_messages(
                    self.store,
                    request.job_id,
                    held_failure=(
                        self.manager.held_failure(request.job_id) if request.job_id else None
                    ),
                )
        except Exception as exc:  # noqa: BLE001 - mapped to a status
            abort(context, exc)

    # --- RPC bodies ---------------------------------------------------------------------------

    def _authenticate(self, context: grpc.ServicerContext, name: str, subject: str = "") -> str:
        """The key id of the client that signed this call (see :mod:`.authentication`), within
        its rate limits (:meth:`.quotas.QuotaLedger.check_call`)."""
        client = self.auth.authenticate(context, method_path(name), subject)
        self.flow.quotas.check_call(client, name)
        return client

    def _has_keys(self, digest: str) -> pb.HasEvaluationKeysResponse:
        check_digest(digest, field="digest")
        record = self.store.get_keys(digest)
        if record is None:
            return pb.HasEvaluationKeysResponse(present=False)
        return pb.HasEvaluationKeysResponse(
            present=True, profile_name=record.profile_name, galois_steps=list(record.galois_steps)
        )

    def _submit(
        self, messages: Iterator[pb.SubmitJobRequest], *, peer: str = "", client: str | None = None
    ) -> pb.JobAccepted:
        # 1. header, plan, keys and idempotency; 2. ciphertexts, each validated before it is kept
        record, plan, deduplicated = self.admission.admit(messages, peer=peer, client=client)
        if not deduplicated:
            with self.flow.quotas.uploading(record.id):  # (its reservation ends with the stream)
                record = receive_job_ciphertexts(self.manager, record.id, plan, messages)
        return pb.JobAccepted(
            job_id=record.id, state=record.state.to_proto(), deduplicated=deduplicated
        )


# --- server assembly --------------------------------------------------------------------------


class EvaluatorServer:
    """A running (or ready) evaluator: gRPC server + job manager + health status."""

    def __init__(
        self,
        server: grpc.Server,
        *,
        service: EvaluatorService,
        manager: JobManager,
        health_servicer: health.HealthServicer,
        store: Store,
        port: int,
        host: str,
    ) -> None:
        self.server = server
        self.service = service
        self.manager = manager
        self.health = health_servicer
        self.store = store
        self.port = port
        self.host = host
        self._stopped = threading.Event()
        #: retention of ended jobs (:mod:`.collection`): collects at start, then periodically
        self.collector: Collector | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Resume interrupted jobs, start serving and report SERVING."""

        def unwrap(fn: Callable[P, T]) -> Callable[P, T]:
            def call(*args: P.args, **kwargs: P.kwargs) -> T:
                try:
                    return fn(*args, **kwargs)
                except RpcAbort as exc:
                    raise exc.error from exc

            return call

        resumed = self.manager.resume(unwrap(self.service.plan_for), unwrap(self.service.keys_for))
        if resumed:
            log.info("resumed %d job(s)", len(resumed))
        if self.collector is not None:
            self.collector.start()
        self.service.flow.start()  # (the quotas measure the store once resume cleaned it)
        self.server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = SHUTDOWN_GRACE_S) -> None:
        """Graceful stop: NOT_SERVING, let in-flight calls finish for ``grace`` s, stop workers.
        Unfinished jobs stay in the store and resume on the next start."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.service.stopping.set()
        with self.manager.changed:
            self.manager.changed.notify_all()
        # in-flight calls get `grace` seconds; then the workers stop (unfinished jobs stay
        # QUEUED/RUNNING in the store and resume on the next start)
        self.server.stop(grace).wait()
        if self.collector is not None:
            self.collector.stop()
        self.service.flow.stop()
        self.manager.stop()
        self.store.close()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(self.server.wait_for_termination(timeout))


def create_server(
    address: str,
    *,
    identity: SigningIdentity | str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    workers: int | None = None,
    tls: TlsOptions | None = None,
    max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS,
    max_job_bytes: int = MAX_JOB_BYTES,
    executor: Executor | None = None,
    client_policy: ClientPolicy | None = None,
    limits: FlowLimits | None = None,
    quotas: QuotaLimits | None = None,
    retain_s: float = DEFAULT_RETAIN_S,
    metrics: EvaluatorMetrics | None = None,
) -> tuple[EvaluatorServer, int]:
    """Build the evaluator server bound to ``address`` (port 0 picks a free port).

    The store's lock is taken first (a store another daemon holds raises :class:`InputError`
    "store PATH is in use by another evaluator (pid N)"), then the worker process pool is
    created (spawned, one per core unless ``workers``), before any gRPC object exists. A port
    another process listens on raises :class:`InputError` "address HOST:PORT is already in use"
    (``SO_REUSEPORT`` is off). Plaintext is refused unless ``address`` is loopback; with ``tls``
    the server uses TLS, and mutual TLS when ``tls.require_client_auth``.
    ``max_job_ciphertexts`` caps the ciphertexts of one job (canary included);
    ``max_job_bytes`` caps the input bytes a job may claim (its ciphertext count x the profile's
    largest seeded ciphertext at the plan's input level), refused at admission.
    ``executor`` (e.g. a ``DaskExecutor``, created before this call) replaces the local pool;
    the server owns it from here on and shuts it down on stop or on a failed start.
    ``client_policy`` (default: any signed client, loopback only) decides which signed clients
    may call; a non-loopback address needs an allow-list or an explicit "any client".
    ``limits`` bounds streams, stalls and free disk (:mod:`.flow_control`; its defaults
    otherwise) and sizes the gRPC thread pool. ``quotas`` (:mod:`.quotas`): None, no quotas.
    ``retain_s``: ended jobs older than this are collected (:mod:`.collection`).
    ``metrics`` (:mod:`.metrics`) counts every RPC and watches the store and workers.
    Returns (server, bound port); call ``server.start()``.
    """
    # custody: every primitive plug-in's circuit is loaded first (entry points are imported
    # dynamically, out of the import-linter's sight), then no regaudit.secretkey module may be
    # in the daemon
    list_circuits()
    assert_no_secret_key_code()
    host, port = split_address(address)
    if tls is None and not is_loopback(host):
        raise InputError(
            f"refusing to listen without TLS on non-loopback address {host!r}", field="listen"
        )
    if tls is not None and (tls.certificate_chain is None or tls.private_key is None):
        raise InputError("TLS needs a certificate chain and a private key", field="tls")
    policy = client_policy or ClientPolicy()
    policy.check_listen(host, loopback=is_loopback(host))
    if not isinstance(identity, SigningIdentity):
        identity = SigningIdentity.load(identity, kind="evaluator")
    limits = limits or FlowLimits()
    store_lock: StoreLock | None = None
    store: Store | None = None
    try:
        # 1. the store's lock first: a store another daemon holds is refused at once
        store_lock = StoreLock.acquire(store_path)
        # 2. worker processes before any gRPC server object
        if executor is None:
            executor = new_executor(workers)
        store = Store(store_path, lock=store_lock)
        manager = JobManager(
            store,
            executor,
            identity,
            workers=workers,
            software=software_versions(),
        )
        service = EvaluatorService(
            store,
            manager,
            identity,
            max_job_ciphertexts=max_job_ciphertexts,
            max_job_bytes=max_job_bytes,
            authenticator=Authenticator(policy),
            flow=FlowControl(limits, store.root, quotas),
        )
        if metrics is not None:
            metrics.watch(store.root, executor, service.flow.quotas)
        # 3. the gRPC server: a thread per long stream plus a reserve for short calls
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=limits.server_threads, thread_name_prefix="rpc"),
            options=list(SERVER_GRPC_OPTIONS),
            maximum_concurrent_rpcs=limits.maximum_concurrent_rpcs,
            interceptors=metrics.interceptors() if metrics is not None else (),
        )
        # (generated gRPC code: no annotations)
        pb_grpc.add_EvaluatorServicer_to_server(service, server)  # type: ignore[no-untyped-call]
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                bound = server.add_insecure_port(bind)
            else:
                credentials = grpc.ssl_server_credentials(
                    [(tls.private_key, tls.certificate_chain)],
                    root_certificates=tls.root_certificates,
                    require_client_auth=tls.require_client_auth,
                )
                bound = server.add_secure_port(bind, credentials)
        except RuntimeError:  # grpcio raises where older versions returned 0
            bound = 0
        if bound == 0:
            raise bind_error(host, port, bind)
    except BaseException:
        if executor is not None:
            executor.shutdown()
        if store is not None:
            store.close()
        elif store_lock is not None:
            store_lock.release()
        raise
    evaluator = EvaluatorServer(
        server,
        service=service,
        manager=manager,
        health_servicer=health_servicer,
        store=store,
        port=bound,
        host=host,
    )
    evaluator.collector = Collector(
        store,
        retain_s,
        guard=daemon_guard(manager),
        release_stale_uploads=manager.release_stale_uploads,
    )
    return evaluator, bound


__all__ = [
    "READY_OUTPUT_LINES",
    "EvaluatorServer",
    "EvaluatorService",
    "EvaluatorStartError",
    "create_server",
    "is_loopback",
    "read_ready_file",
    "split_address",
    "wait_for_ready_file",
    "wait_until_serving",
]
