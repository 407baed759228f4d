"""The evaluator's gRPC server: the ``regaudit.v1.Evaluator`` service, health and reflection.

Every received object is checked before use (sizes first, then SEAL validity for the profile and
the exact level); a bad upload gets a precise status with ErrorInfo/BadRequest details and the
daemon keeps serving. Plaintext listening is refused unless the address is loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from regaudit.evaluator.executors import Executor
from regaudit.evaluator.jobs import JobManager, UploadIncompleteError, new_executor
from regaudit.evaluator.store import KeyRecord, Store
from regaudit.shared import ckks
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.circuits.base import CANARY_COLUMN, Plan
from regaudit.shared.custody import assert_no_secret_key_code
from regaudit.shared.errors import (
    InputError,
    KeyMaterialError,
    ProfileError,
    ProtocolError,
    RegauditError,
    VerificationError,
)
from regaudit.shared.evidence.canonical import parse_digest
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.planning import MAX_ROWS, make_plan
from regaudit.shared.profiles import PROFILES, get_profile
from regaudit.shared.protocol import (
    CHUNK_BYTES,
    GRPC_OPTIONS,
    MAX_CIPHERTEXT_BYTES,
    MAX_EVALUATION_KEY_BYTES,
    MAX_GALOIS_STEPS,
    MAX_JOB_CIPHERTEXTS,
    PROTOCOL_VERSION,
    SERVICE_NAME,
    SHUTDOWN_GRACE_S,
    Capabilities,
    JobFailedError,
    JobHeader,
    JobNotFinishedError,
    JobState,
    LimitExceededError,
    Limits,
    TlsOptions,
    UnknownJobError,
    capabilities_to_proto,
    error_status,
    profile_info,
    upload_order,
)

log = logging.getLogger("regaudit.evaluator.server")

#: gRPC handler threads (long-lived WatchJob streams each hold one).
SERVER_THREADS = 32
#: How often a WatchJob stream re-checks a job that did not signal a change.
WATCH_POLL_S = 0.5
SERVER_VERSION = "regaudit-evaluator 0.1.0"

T = TypeVar("T")


class RpcAbort(Exception):
    """Abort the current call with ``error`` mapped to ``code`` and field violations."""

    def __init__(
        self,
        error: RegauditError,
        code: grpc.StatusCode | None = None,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.code = code
        self.violations = violations or []


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, RpcAbort):
        status = error_status(exc.error, code=exc.code, violations=exc.violations)
    elif isinstance(exc, RegauditError):
        status = error_status(exc)
    else:
        log.exception("internal error", exc_info=exc)
        status = error_status(
            RegauditError(f"internal error: {type(exc).__name__}"), code=grpc.StatusCode.INTERNAL
        )
    context.abort_with_status(status)


def _guarded(context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
    """Run a handler body; regaudit errors become statuses with details, anything else
    INTERNAL (logged), so one bad call never takes the daemon down."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - mapped to a status, never swallowed
        _abort(context, exc)
        raise AssertionError("unreachable") from exc


def _list_circuits() -> list[tuple[str, str]]:
    try:
        from regaudit.shared.circuits.registry import list_circuits
    except ImportError:  # registry not installed: no circuits
        return []
    return list(list_circuits())


def _get_circuit(circuit_id: str, version: str) -> Any:
    from regaudit.shared.circuits.registry import get_circuit

    return get_circuit(circuit_id, version)


class EvaluatorService(pb_grpc.EvaluatorServicer):
    """Implementation of ``regaudit.v1.Evaluator``."""

    def __init__(
        self,
        store: Store,
        manager: JobManager,
        identity: SigningIdentity,
        *,
        max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS,
    ) -> None:
        self.store = store
        self.manager = manager
        self.identity = identity
        self.max_job_ciphertexts = max_job_ciphertexts
        #: set when a graceful stop begins: open WatchJob streams end with UNAVAILABLE
        self.stopping = threading.Event()

    # --- capabilities -------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(
            protocol_version=PROTOCOL_VERSION,
            profiles=tuple(profile_info(p) for p in PROFILES),
            circuits=tuple(_list_circuits()),
            limits=Limits(max_rows=MAX_ROWS, max_job_ciphertexts=self.max_job_ciphertexts),
            evaluator_public_key=self.identity.public_record().to_dict(),
            server_version=SERVER_VERSION,
        )

    def GetCapabilities(  # noqa: N802 - gRPC method name
        self, request: pb.GetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> pb.Capabilities:
        return _guarded(context, lambda: capabilities_to_proto(self.capabilities()))

    # --- evaluation keys ----------------------------------------------------------------------

    def HasEvaluationKeys(  # noqa: N802
        self, request: pb.HasEvaluationKeysRequest, context: grpc.ServicerContext
    ) -> pb.HasEvaluationKeysResponse:
        def run() -> pb.HasEvaluationKeysResponse:
            _check_digest(request.digest, field="digest")
            record = self.store.get_keys(request.digest)
            if record is None:
                return pb.HasEvaluationKeysResponse(present=False)
            return pb.HasEvaluationKeysResponse(
                present=True,
                profile_name=record.profile_name,
                galois_steps=list(record.galois_steps),
            )

        return _guarded(context, run)

    def UploadEvaluationKeys(  # noqa: N802
        self,
        request_iterator: Iterator[pb.UploadEvaluationKeysRequest],
        context: grpc.ServicerContext,
    ) -> pb.UploadEvaluationKeysResponse:
        return _guarded(context, lambda: self._upload_keys(iter(request_iterator)))

    def _upload_keys(
        self, messages: Iterator[pb.UploadEvaluationKeysRequest]
    ) -> pb.UploadEvaluationKeysResponse:
        # 1. the header comes first and is within limits
        first = next(messages, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise RpcAbort(
                ProtocolError("the first message must be the keys header", field="header")
            )
        header = first.header
        profile = _profile(header.profile_name)
        _check_digest(header.digest, field="digest")
        steps = tuple(int(s) for s in header.galois_steps)
        if len(steps) > MAX_GALOIS_STEPS:
            raise RpcAbort(
                LimitExceededError(
                    f"{len(steps)} Galois steps exceed {MAX_GALOIS_STEPS}", field="galois_steps"
                )
            )
        total = header.relin_size + header.galois_size
        if total > MAX_EVALUATION_KEY_BYTES:
            raise RpcAbort(
                LimitExceededError(
                    f"evaluation keys of {total} bytes exceed {MAX_EVALUATION_KEY_BYTES}",
                    field="relin_size",
                )
            )
        if header.relin_size == 0 or header.galois_size == 0:
            raise RpcAbort(InputError("key sizes must be positive", field="relin_size"))
        # 2. content addressing: a known digest needs no bytes
        existing = self.store.get_keys(header.digest)
        if existing is not None:
            return pb.UploadEvaluationKeysResponse(digest=existing.digest, already_present=True)
        # 3. receive to disk, sizes checked per piece
        scratch = self.store.temp_dir()
        try:
            relin_path, galois_path = scratch / "relin.bin", scratch / "galois.bin"
            received = 0
            with relin_path.open("wb") as relin_file, galois_path.open("wb") as galois_file:
                for message in messages:
                    if message.WhichOneof("kind") != "piece":
                        raise RpcAbort(ProtocolError("a second header", field="header"))
                    data = message.piece.data
                    if len(data) > CHUNK_BYTES:
                        raise RpcAbort(
                            LimitExceededError(
                                f"piece of {len(data)} bytes exceeds {CHUNK_BYTES}", field="piece"
                            )
                        )
                    if received + len(data) > total:
                        raise RpcAbort(
                            KeyMaterialError("more key bytes than the header declared"),
                            code=grpc.StatusCode.INVALID_ARGUMENT,
                        )
                    split = max(0, min(len(data), header.relin_size - received))
                    relin_file.write(data[:split])
                    galois_file.write(data[split:])
                    received += len(data)
            if received != total:
                raise RpcAbort(
                    KeyMaterialError(f"received {received} of {total} declared key bytes"),
                    code=grpc.StatusCode.INVALID_ARGUMENT,
                )
            # 4. recompute the digest and let SEAL validate the keys for the profile
            keys = ckks.EvaluationKeys(
                profile_name=profile.name,
                relin_keys=relin_path.read_bytes(),
                galois_keys=galois_path.read_bytes(),
                galois_steps=steps,
            )
            if keys.digest != header.digest:
                raise RpcAbort(
                    KeyMaterialError(
                        f"keys hash to {keys.digest}, header says {header.digest}", field="digest"
                    ),
                    code=grpc.StatusCode.INVALID_ARGUMENT,
                )
            try:
                ckks.load_evaluation_keys(profile, keys, required_steps=())
            except KeyMaterialError as exc:
                raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc
            del keys
            record = self.store.put_keys(
                digest=header.digest,
                profile_name=profile.name,
                galois_steps=steps,
                relin_path=relin_path,
                galois_path=galois_path,
            )
            log.info("stored evaluation keys %s (%d bytes)", record.digest, total)
            return pb.UploadEvaluationKeysResponse(digest=record.digest, already_present=False)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # --- jobs ---------------------------------------------------------------------------------

    def plan_for(self, header: JobHeader) -> Plan:
        """Recompute the plan from the header and reject any disagreement.

        Steps: 1. known profile with the same hash; 2. known circuit; 3. plan from rows and
        public inputs; 4. ciphertext count within limits; 5. header fields equal the plan.
        """
        # 1. profile
        profile = _profile(header.profile_name)
        if header.profile_hash != profile.profile_hash:
            raise RpcAbort(
                ProfileError(
                    f"profile {profile.name} has hash {profile.profile_hash} here, header says "
                    f"{header.profile_hash}",
                    field="profile_hash",
                ),
                code=grpc.StatusCode.FAILED_PRECONDITION,
            )
        # 2. circuit
        circuit = _get_circuit(header.circuit_id, header.circuit_version)
        # 3. plan
        plan = make_plan(circuit, header.public_inputs, rows=header.rows, profile=profile)
        # 4. limit
        total = plan.input_count
        if total > self.max_job_ciphertexts:
            raise RpcAbort(
                LimitExceededError(
                    f"the job needs {total} ciphertexts, more than {self.max_job_ciphertexts}",
                    field="rows",
                )
            )
        # 5. header agrees with the plan
        violations: list[tuple[str, str]] = []
        if header.n_chunks != plan.n_chunks:
            violations.append(("n_chunks", f"plan has {plan.n_chunks}, header {header.n_chunks}"))
        if tuple(header.columns) != plan.columns:
            violations.append(
                ("columns", f"plan has {list(plan.columns)}, header {list(header.columns)}")
            )
        if header.input_level != plan.input_level:
            violations.append(
                ("input_level", f"plan has {plan.input_level}, header {header.input_level}")
            )
        if violations:
            raise RpcAbort(
                InputError(
                    "the job header disagrees with the evaluator's plan: "
                    + "; ".join(f"{f}: {d}" for f, d in violations),
                    field=violations[0][0],
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
                violations=violations,
            )
        return plan

    def keys_for(self, digest: str, plan: Plan | None = None) -> KeyRecord:
        """The uploaded keys for a job; FAILED_PRECONDITION if absent or lacking a step."""
        _check_digest(digest, field="evaluation_keys_digest")
        record = self.store.get_keys(digest)
        if record is None:
            raise RpcAbort(
                KeyMaterialError(
                    f"evaluation keys {digest} were not uploaded", field="evaluation_keys_digest"
                ),
                code=grpc.StatusCode.FAILED_PRECONDITION,
            )
        if plan is not None:
            if record.profile_name != plan.profile.name:
                raise RpcAbort(
                    KeyMaterialError(
                        f"evaluation keys are for {record.profile_name}, job uses "
                        f"{plan.profile.name}",
                        field="evaluation_keys_digest",
                    ),
                    code=grpc.StatusCode.FAILED_PRECONDITION,
                )
            missing = sorted(set(plan.rotation_steps) - set(record.galois_steps))
            if missing:
                raise RpcAbort(
                    KeyMaterialError(
                        f"evaluation keys lack Galois keys for rotation steps {missing}",
                        field="evaluation_keys_digest",
                    ),
                    code=grpc.StatusCode.FAILED_PRECONDITION,
                    violations=[("galois_steps", f"missing rotation step {s}") for s in missing],
                )
        return record

    def SubmitJob(  # noqa: N802
        self, request_iterator: Iterator[pb.SubmitJobRequest], context: grpc.ServicerContext
    ) -> pb.JobAccepted:
        return _guarded(context, lambda: self._submit(iter(request_iterator)))

    def _submit(self, messages: Iterator[pb.SubmitJobRequest]) -> pb.JobAccepted:
        # 1. header, plan, keys
        first = next(messages, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise RpcAbort(
                ProtocolError("the first message must be the job header", field="header")
            )
        header = JobHeader.from_proto(first.header)
        # the client authenticates the job's bindings (audit id, its key, the regulator's key)
        try:
            header.verify_signature()
        except VerificationError as exc:
            raise RpcAbort(exc, code=grpc.StatusCode.UNAUTHENTICATED) from exc
        plan = self.plan_for(header)
        # 2a. an identical resubmission of a job that exists: its keys may be gone already
        existing = self.manager.existing(header)
        if existing is not None:
            return pb.JobAccepted(
                job_id=existing.id, state=existing.state.to_proto(), deduplicated=True
            )
        keys = self.keys_for(header.evaluation_keys_digest, plan)
        # 2. idempotency: same key + same header = the existing job, never run twice
        record, deduplicated = self.manager.admit(header, plan, keys)
        if deduplicated:
            return pb.JobAccepted(
                job_id=record.id, state=record.state.to_proto(), deduplicated=True
            )
        # 3. ciphertexts, every one validated before it is stored
        try:
            self._receive(record.id, plan, messages)
        except BaseException as exc:
            error = exc.error if isinstance(exc, RpcAbort) else exc
            if not isinstance(error, RegauditError):
                error = UploadIncompleteError(f"upload stream broke: {type(exc).__name__}")
            self.manager.upload_failed(record.id, error)
            raise
        final = self.manager.upload_finished(record.id)
        return pb.JobAccepted(job_id=final.id, state=final.state.to_proto(), deduplicated=False)

    def _receive(self, job_id: str, plan: Plan, messages: Iterator[pb.SubmitJobRequest]) -> None:
        profile = plan.profile
        max_bytes = min(MAX_CIPHERTEXT_BYTES, ckks.MAX_CIPHERTEXT_BYTES)
        order = upload_order(plan.columns, plan.n_chunks)
        total = plan.input_count
        expected: tuple[str, int] | None = next(order)
        index = 0
        buffer = bytearray()
        size = 0
        for message in messages:
            if message.WhichOneof("kind") != "piece":
                raise RpcAbort(ProtocolError("a second header", field="header"))
            piece = message.piece
            where = f"{piece.column}[{piece.chunk}]"
            if expected is None:
                raise RpcAbort(
                    LimitExceededError(
                        f"more than the plan's {total} ciphertexts (extra: {where})", field=where
                    )
                )
            if (piece.column, piece.chunk) != expected:
                raise RpcAbort(
                    ProtocolError(
                        f"expected ciphertext {expected[0]}[{expected[1]}], got {where} "
                        f"({_misorder_kind(piece.column, piece.chunk, expected, plan)})",
                        field=where,
                    ),
                    code=grpc.StatusCode.INVALID_ARGUMENT,
                )
            if len(piece.data) > CHUNK_BYTES:
                raise RpcAbort(
                    LimitExceededError(
                        f"piece of {len(piece.data)} bytes exceeds {CHUNK_BYTES}", field=where
                    )
                )
            if piece.total_size > max_bytes:
                raise RpcAbort(
                    LimitExceededError(
                        f"ciphertext of {piece.total_size} bytes exceeds {max_bytes}", field=where
                    )
                )
            if not buffer:
                size = piece.total_size
                if size == 0:
                    raise RpcAbort(ProtocolError("empty ciphertext", field=where))
            elif piece.total_size != size:
                raise RpcAbort(ProtocolError("total_size changed between pieces", field=where))
            if piece.offset != len(buffer) or len(buffer) + len(piece.data) > size:
                raise RpcAbort(
                    ProtocolError(
                        f"piece at offset {piece.offset} (+{len(piece.data)}) does not continue "
                        f"{len(buffer)} of {size} bytes",
                        field=where,
                    )
                )
            buffer += piece.data
            if len(buffer) < size:
                continue
            data = bytes(buffer)
            buffer = bytearray()
            try:
                ckks.load_ciphertext(profile, data, level=plan.input_level, max_bytes=max_bytes)
            except RegauditError as exc:
                exc.field = exc.field or where
                if exc.field != where:
                    exc.field = f"{where}.{exc.field}"
                raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc
            self.manager.ciphertext_received(
                job_id, index=index, column=expected[0], chunk=expected[1], data=data
            )
            index += 1
            expected = next(order, None)
        if expected is not None or buffer:
            raise RpcAbort(
                ProtocolError(
                    f"stream ended after {index} of {total} ciphertexts", field="ciphertexts"
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )

    def WatchJob(  # noqa: N802
        self, request: pb.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.JobProgress]:
        try:
            last = None
            while True:
                progress = self.manager.progress(request.job_id)
                if progress is None:
                    raise UnknownJobError(f"no job {request.job_id!r}", field="job_id")
                if progress != last:
                    yield progress.to_proto()
                    last = progress
                if progress.state.terminal or not context.is_active():
                    return
                if self.stopping.is_set():
                    raise RpcAbort(
                        ProtocolError("the evaluator is shutting down; watch again later"),
                        code=grpc.StatusCode.UNAVAILABLE,
                    )
                with self.manager.changed:
                    self.manager.changed.wait(timeout=WATCH_POLL_S)
        except Exception as exc:  # noqa: BLE001 - mapped to a status
            _abort(context, exc)

    def GetResult(  # noqa: N802
        self, request: pb.GetResultRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetResultResponse]:
        try:
            record = self.store.get_job(request.job_id) if request.job_id else None
            if record is None:
                raise UnknownJobError(f"no job {request.job_id!r}", field="job_id")
            if record.state is JobState.FAILED:
                raise JobFailedError(
                    f"job {record.id} failed ({record.error_reason}): {record.error_message}",
                    field="job_id",
                )
            if record.state is not JobState.SUCCEEDED or record.receipt is None:
                raise JobNotFinishedError(
                    f"job {record.id} is {record.state.value}", field="job_id"
                )
            outputs = [self.store.output_path(record.id, i) for i in range(record.output_count)]
            canary = self.store.canary_output_path(record.id)
            yield pb.GetResultResponse(
                header=pb.ResultHeader(
                    job_id=record.id,
                    receipt_envelope_json=record.receipt,
                    output_sizes=[p.stat().st_size for p in outputs],
                    canary_size=canary.stat().st_size,
                )
            )
            names = [f"output/{i}" for i in range(len(outputs))] + ["canary"]
            for name, path in zip(names, [*outputs, canary], strict=True):
                with path.open("rb") as handle:
                    offset = 0
                    while True:
                        data = handle.read(CHUNK_BYTES)
                        if not data and offset:
                            break
                        yield pb.GetResultResponse(
                            piece=pb.ResultPiece(name=name, offset=offset, data=data)
                        )
                        offset += len(data)
                        if not data:
                            break
        except Exception as exc:  # noqa: BLE001 - mapped to a status
            _abort(context, exc)


def _misorder_kind(column: str, chunk: int, expected: tuple[str, int], plan: Plan) -> str:
    known = (column == CANARY_COLUMN and chunk == 0) or (
        column in plan.columns and chunk < plan.n_chunks
    )
    if not known:
        return "not part of the plan"
    order = list(upload_order(plan.columns, plan.n_chunks))
    if order.index((column, chunk)) < order.index(expected):
        return "duplicate"
    return "out of order; an earlier ciphertext is missing"


def _profile(name: str) -> Any:
    try:
        return get_profile(name)
    except ProfileError as exc:
        raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc


def _check_digest(digest: str, *, field: str) -> None:
    try:
        parse_digest(digest, field=field, error=KeyMaterialError)
    except KeyMaterialError as exc:
        raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc


# --- server assembly --------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` / ``[V6]:PORT`` -> (host, port); InputError if malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"address must be HOST:PORT, got {address!r}", field="listen")
    return host.strip("[]"), int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Resume interrupted jobs, start serving and report SERVING."""

        def unwrap(fn: Callable[..., T]) -> Callable[..., T]:
            def call(*args: Any) -> T:
                try:
                    return fn(*args)
                except RpcAbort as exc:
                    raise exc.error from exc

            return call

        resumed = self.manager.resume(unwrap(self.service.plan_for), unwrap(self.service.keys_for))
        if resumed:
            log.info("resumed %d job(s)", len(resumed))
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
        self.manager.stop()
        self.store.close()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)


def _read_pem(value: bytes | str | os.PathLike[str] | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def create_server(
    address: str,
    *,
    identity: SigningIdentity | str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    workers: int | None = None,
    tls: TlsOptions | None = None,
    max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS,
    executor: Executor | None = None,
) -> tuple[EvaluatorServer, int]:
    """Build the evaluator server bound to ``address`` (port 0 picks a free port).

    The worker process pool is created first (spawned, one per core unless ``workers``), before
    any gRPC object exists. Plaintext is refused unless ``address`` is loopback; with ``tls``
    the server uses TLS, and mutual TLS when ``tls.require_client_auth``.
    ``max_job_ciphertexts`` caps the ciphertexts of one job (canary included).
    ``executor`` (e.g. a ``DaskExecutor``, created before this call) replaces the local pool;
    the server owns it from here on and shuts it down on stop or on a failed start.
    Returns (server, bound port); call ``server.start()``.
    """
    assert_no_secret_key_code()  # custody: no regaudit.secretkey module in the daemon
    host, port = split_address(address)
    if tls is None and not is_loopback(host):
        raise InputError(
            f"refusing to listen without TLS on non-loopback address {host!r}", field="listen"
        )
    if tls is not None and (tls.certificate_chain is None or tls.private_key is None):
        raise InputError("TLS needs a certificate chain and a private key", field="tls")
    if not isinstance(identity, SigningIdentity):
        identity = SigningIdentity.load(identity, kind="evaluator")
    # 1. worker processes before any gRPC server object
    if executor is None:
        executor = new_executor(workers)
    try:
        store = Store(store_path)
        manager = JobManager(
            store,
            executor,
            identity,
            workers=workers,
            software={"regaudit-evaluator": "0.1.0", "tenseal": _tenseal_version()},
        )
        service = EvaluatorService(
            store, manager, identity, max_job_ciphertexts=max_job_ciphertexts
        )
        # 2. the gRPC server
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=SERVER_THREADS, thread_name_prefix="rpc"),
            options=list(GRPC_OPTIONS),
        )
        pb_grpc.add_EvaluatorServicer_to_server(service, server)
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls is None:
            bound = server.add_insecure_port(bind)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.private_key, tls.certificate_chain)],
                root_certificates=tls.root_certificates,
                require_client_auth=tls.require_client_auth,
            )
            bound = server.add_secure_port(bind, credentials)
        if bound == 0:
            raise InputError(f"cannot bind {address}", field="listen")
    except BaseException:
        executor.shutdown()
        raise
    return (
        EvaluatorServer(
            server,
            service=service,
            manager=manager,
            health_servicer=health_servicer,
            store=store,
            port=bound,
            host=host,
        ),
        bound,
    )


def _tenseal_version() -> str:
    try:
        from importlib.metadata import version

        return version("tenseal")
    except Exception:  # noqa: BLE001
        return "unknown"


def wait_until_serving(address: str, *, timeout: float = 30.0) -> None:
    """Block until the health service at ``address`` (loopback, plaintext) reports SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise ProtocolError(f"evaluator at {address} not serving after {timeout} s")
            time.sleep(0.1)


#: Lines of a daemon's output quoted when it ends before it is ready.
READY_OUTPUT_LINES = 20


class EvaluatorStartError(RuntimeError):
    """An evaluator daemon ended, or wrote no ready file in time, before it was serving.

    ``returncode`` is its exit code (None while it still runs), ``output`` the last lines it
    printed (when they could be read)."""

    def __init__(self, message: str, *, returncode: int | None = None, output: str = "") -> None:
        super().__init__(f"{message}\n{output}" if output else message)
        self.returncode = returncode
        self.output = output


def read_ready_file(path: str | os.PathLike[str]) -> str | None:
    """The ``HOST:PORT`` in a ``serve --ready-file`` file, or None while there is none (the
    daemon writes it atomically: absent or whole)."""
    try:
        address = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return address or None


def wait_for_ready_file(
    path: str | os.PathLike[str],
    *,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 60.0,
    output: str | os.PathLike[str] | None = None,
    check_health: bool = True,
) -> str:
    """Wait until ``regaudit-evaluator serve --ready-file PATH`` is serving; return its
    ``HOST:PORT`` (the bound port, also after ``--listen HOST:0``).

    The daemon writes PATH once its health service reports SERVING and removes it when it shuts
    down. ``check_health`` then asks the health service at that address to confirm
    (:func:`wait_until_serving`, plaintext); pass False for a TLS daemon. If ``process`` (the
    daemon's ``Popen``) ends first, :class:`EvaluatorStartError` names its exit code and the
    last lines of its output, read from ``output`` (a log file the daemon writes to) or else
    from the process's stdout/stderr pipes. Remove a stale PATH before starting the daemon.
    """
    ready = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        exited = process is not None and process.poll() is not None
        address = read_ready_file(ready)
        if exited and process is not None:
            raise EvaluatorStartError(
                f"evaluator exited with code {process.returncode} before it was ready",
                returncode=process.returncode,
                output=_last_output(process, output),
            )
        if address is not None:
            break
        if time.monotonic() > deadline:
            raise EvaluatorStartError(
                f"evaluator wrote no ready file {ready} within {timeout} s",
                output=_last_output(None, output),
            )
        time.sleep(0.05)
    if check_health:
        wait_until_serving(address, timeout=max(deadline - time.monotonic(), 5.0))
    return address


def _last_output(
    process: subprocess.Popen[Any] | None, output: str | os.PathLike[str] | None
) -> str:
    """The last :data:`READY_OUTPUT_LINES` lines of a daemon's output ('' if unreadable)."""
    text = ""
    if output is not None:
        try:
            text = Path(output).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    elif process is not None and (process.stdout is not None or process.stderr is not None):
        try:
            parts = process.communicate(timeout=5)  # the process has ended: pipes are at EOF
        except (subprocess.TimeoutExpired, ValueError, OSError):
            parts = (None, None)  # a child still holds the pipe, or it was read already
        for part in parts:
            if isinstance(part, bytes):
                text += part.decode("utf-8", errors="replace")
            elif isinstance(part, str):
                text += part
    return "\n".join(text.splitlines()[-READY_OUTPUT_LINES:])


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
