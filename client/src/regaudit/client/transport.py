"""Client side of the wire protocol: one :class:`EvaluatorConnection` per evaluator.

Every call has a deadline, message sizes are set explicitly, large objects are streamed lazily
in pieces of at most ``CHUNK_BYTES``, and gRPC failures become regaudit errors carrying the
evaluator's stable reason (``error.reason``), its status code (``error.grpc_code``) and field
violations (``error.violations``). Plaintext channels are refused unless the address is
loopback. With an ``identity`` (the audit's client key) every call but GetCapabilities carries a
request signature (:mod:`regaudit.shared.protocol.authentication`); the evaluator refuses
unsigned calls (UNAUTHENTICATED) and clients it does not allow (PERMISSION_DENIED).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

import grpc

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.ckks import EvaluationKeys
from regaudit.shared.errors import InputError, ProtocolError, RegauditError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import (
    CANARY_OUTPUT_NAME,
    CHUNK_BYTES,
    DEADLINE_RESULT_S,
    DEADLINE_SUBMIT_S,
    DEADLINE_UNARY_S,
    DEADLINE_UPLOAD_KEYS_S,
    DEADLINE_WATCH_S,
    GRPC_OPTIONS,
    MAX_CIPHERTEXT_BYTES,
    Capabilities,
    JobAccepted,
    JobFailedError,
    JobHeader,
    JobProgress,
    JobResult,
    JobState,
    TlsOptions,
    capabilities_from_proto,
    error_from_rpc,
    method_path,
    output_name,
    request_metadata,
    split_bytes,
)

#: progress(ciphertexts_sent, ciphertexts_total, bytes_sent)
UploadProgress = Callable[[int, int, int], None]
#: The generated ``regaudit.v1.Evaluator`` client stub (grpc_tools emits it without type hints).
EvaluatorStub: TypeAlias = Any
_new_stub: Callable[[grpc.Channel], EvaluatorStub] = pb_grpc.EvaluatorStub


@dataclass(frozen=True)
class UploadState:
    """``GetUploadState``: the caller's job under an idempotency key (``found``) and the
    ciphertexts it holds (the first ``ciphertexts_held`` in upload order); ``resumable``: a
    SubmitJob with the same header continues after them."""

    found: bool
    job_id: str
    #: (None when no job was found)
    state: JobState | None
    header_digest: str
    ciphertexts_held: int
    resumable: bool
    #: the digest of each held ciphertext, in upload order
    held_digests: tuple[str, ...] = ()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EvaluatorConnection:
    """A channel to one evaluator. Use as a context manager."""

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEADLINE_UNARY_S,
        tls: TlsOptions | None = None,
        identity: SigningIdentity | None = None,
    ) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InputError(
                f"evaluator address must be HOST:PORT, got {address!r}", field="evaluator"
            )
        if tls is None and not _is_loopback(host):
            raise InputError(
                f"refusing a plaintext channel to non-loopback {host!r}; use TLS", field="evaluator"
            )
        self.address = address
        self.timeout = timeout
        #: the client key that signs every call (None: unsigned, only GetCapabilities works)
        self.identity = identity
        self._tls = tls
        self._channel = self._open_channel()
        self._stub: EvaluatorStub = _new_stub(self._channel)

    def _open_channel(self) -> grpc.Channel:
        options: list[tuple[str, int | str]] = list(GRPC_OPTIONS)
        tls = self._tls
        if tls is None:
            return grpc.insecure_channel(self.address, options=options)
        if tls.server_name_override:
            options.append(("grpc.ssl_target_name_override", tls.server_name_override))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.root_certificates,
            private_key=tls.private_key,
            certificate_chain=tls.certificate_chain,
        )
        return grpc.secure_channel(self.address, credentials, options=options)

    def reconnect(self) -> None:
        """Close the channel and open a fresh one to the same address (after the evaluator
        restarted or the connection dropped: a new channel does not wait out the old one's
        reconnection backoff)."""
        self._channel.close()
        self._channel = self._open_channel()
        self._stub = _new_stub(self._channel)

    # --- context manager ----------------------------------------------------------------------

    def __enter__(self) -> EvaluatorConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def _signed(self, name: str, subject: str = "") -> list[tuple[str, str]] | None:
        """The request signature metadata of one call of ``name`` on ``subject``."""
        if self.identity is None:
            return None
        return request_metadata(self.identity, method_path(name), subject)

    # --- calls --------------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        try:
            reply = self._stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return capabilities_from_proto(reply)

    def has_evaluation_keys(self, digest: str) -> bool:
        try:
            reply = self._stub.HasEvaluationKeys(
                pb.HasEvaluationKeysRequest(digest=digest),
                timeout=self.timeout,
                metadata=self._signed("HasEvaluationKeys"),
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return bool(reply.present)

    def upload_evaluation_keys(self, keys: EvaluationKeys, *, force: bool = False) -> str:
        """Upload ``keys`` unless the evaluator has them; returns their digest."""
        digest = keys.digest
        if not force and self.has_evaluation_keys(digest):
            return digest

        def messages() -> Iterator[pb.UploadEvaluationKeysRequest]:
            yield pb.UploadEvaluationKeysRequest(
                header=pb.EvaluationKeysHeader(
                    profile_name=keys.profile_name,
                    digest=digest,
                    galois_steps=list(keys.galois_steps),
                    relin_size=len(keys.relin_keys),
                    galois_size=len(keys.galois_keys),
                )
            )
            for part in (keys.relin_keys, keys.galois_keys):
                for _offset, data in split_bytes(part, CHUNK_BYTES):
                    if data:
                        yield pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=data))

        try:
            reply = self._stub.UploadEvaluationKeys(
                messages(),
                timeout=max(self.timeout, DEADLINE_UPLOAD_KEYS_S),
                metadata=self._signed("UploadEvaluationKeys"),
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        if reply.digest != digest:
            raise ProtocolError(f"evaluator stored keys as {reply.digest}, expected {digest}")
        return digest

    def submit_job(
        self,
        header: JobHeader,
        ciphertexts: Iterable[tuple[str, int, bytes]],
        *,
        progress: UploadProgress | None = None,
        timeout: float = DEADLINE_SUBMIT_S,
    ) -> JobAccepted:
        """Stream the header and then every ``(column, chunk, ciphertext)`` (canary first, then
        chunk-major in plan order), consuming ``ciphertexts`` lazily."""
        total = header.input_count
        failure: list[BaseException] = []
        lock = threading.Lock()

        def messages() -> Iterator[pb.SubmitJobRequest]:
            yield pb.SubmitJobRequest(header=header.to_proto())
            sent = 0
            sent_bytes = 0
            try:
                for column, chunk, data in ciphertexts:
                    if len(data) > MAX_CIPHERTEXT_BYTES:
                        raise InputError(
                            f"ciphertext {column}[{chunk}] of {len(data)} bytes exceeds "
                            f"{MAX_CIPHERTEXT_BYTES}",
                            field=column,
                        )
                    for offset, piece in split_bytes(data, CHUNK_BYTES):
                        yield pb.SubmitJobRequest(
                            piece=pb.CiphertextPiece(
                                column=column,
                                chunk=chunk,
                                offset=offset,
                                total_size=len(data),
                                data=piece,
                            )
                        )
                    sent += 1
                    sent_bytes += len(data)
                    if progress is not None:
                        progress(sent, total, sent_bytes)
            except BaseException as exc:
                with lock:
                    failure.append(exc)
                raise

        try:
            reply = self._stub.SubmitJob(
                messages(), timeout=timeout, metadata=self._signed("SubmitJob")
            )
        except grpc.RpcError as exc:
            with lock:
                if failure:  # our own iterator failed (e.g. encryption): report that
                    raise failure[0] from exc
            raise error_from_rpc(exc) from exc
        return JobAccepted.from_proto(reply)

    def upload_state(self, idempotency_key: str) -> UploadState:
        """How much of the caller's job under ``idempotency_key`` the evaluator holds."""
        try:
            reply = self._stub.GetUploadState(
                pb.GetUploadStateRequest(idempotency_key=idempotency_key),
                timeout=self.timeout,
                metadata=self._signed("GetUploadState"),
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return UploadState(
            found=bool(reply.found),
            job_id=str(reply.job_id),
            state=JobState.from_proto(reply.state) if reply.found else None,
            header_digest=str(reply.header_digest),
            ciphertexts_held=int(reply.ciphertexts_held),
            resumable=bool(reply.resumable),
            held_digests=tuple(str(d) for d in reply.held_digests),
        )

    def watch_job(self, job_id: str, *, timeout: float = DEADLINE_WATCH_S) -> Iterator[JobProgress]:
        """Progress updates until the job is SUCCEEDED or FAILED."""
        try:
            stream = self._stub.WatchJob(
                pb.WatchJobRequest(job_id=job_id),
                timeout=timeout,
                metadata=self._signed("WatchJob", job_id),
            )
            for message in stream:
                yield JobProgress.from_proto(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc

    def wait_for_job(
        self,
        job_id: str,
        *,
        progress: Callable[[JobProgress], None] | None = None,
        timeout: float = DEADLINE_WATCH_S,
    ) -> JobProgress:
        """Watch until terminal; raises JobFailedError (with the job's reason) on failure."""
        last: JobProgress | None = None
        for update in self.watch_job(job_id, timeout=timeout):
            last = update
            if progress is not None:
                progress(update)
        if last is None or not last.state.terminal:
            raise ProtocolError(f"job {job_id} watch ended before the job finished")
        if last.state is JobState.FAILED:
            raise JobFailedError(
                f"job {job_id} failed: {last.message}", field="job_id", job_reason=last.error_reason
            )
        return last

    def fetch_result(self, job_id: str, *, timeout: float = DEADLINE_RESULT_S) -> JobResult:
        """Encrypted outputs ("output/0"...), the canary output and the receipt envelope."""
        try:
            stream = self._stub.GetResult(
                pb.GetResultRequest(job_id=job_id),
                timeout=timeout,
                metadata=self._signed("GetResult", job_id),
            )
            first = next(stream, None)
            if first is None or first.WhichOneof("kind") != "header":
                raise ProtocolError("result stream did not start with a header")
            header = first.header
            sizes = {output_name(i): int(s) for i, s in enumerate(header.output_sizes)}
            sizes[CANARY_OUTPUT_NAME] = int(header.canary_size)
            if any(size > MAX_CIPHERTEXT_BYTES for size in sizes.values()):
                raise ProtocolError("result object exceeds the ciphertext size limit")
            buffers: dict[str, bytearray] = {name: bytearray() for name in sizes}
            for message in stream:
                if message.WhichOneof("kind") != "piece":
                    raise ProtocolError("a second result header")
                piece = message.piece
                buffer = buffers.get(piece.name)
                if buffer is None:
                    raise ProtocolError(f"unexpected result object {piece.name!r}")
                if piece.offset != len(buffer) or len(buffer) + len(piece.data) > sizes[piece.name]:
                    raise ProtocolError(f"result piece of {piece.name} out of order")
                buffer += piece.data
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        for name, buffer in buffers.items():
            if len(buffer) != sizes[name]:
                raise ProtocolError(f"result object {name} incomplete")
        try:
            envelope = json.loads(header.receipt_envelope_json)
        except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested JSON
            raise ProtocolError(f"receipt envelope is not JSON: {exc}") from exc
        if not isinstance(envelope, dict):
            raise ProtocolError("receipt envelope is not a JSON object")
        n_outputs = len(header.output_sizes)
        return JobResult(
            job_id=header.job_id,
            outputs=[bytes(buffers[output_name(i)]) for i in range(n_outputs)],
            canary=bytes(buffers[CANARY_OUTPUT_NAME]),
            receipt_envelope=envelope,
            partial_digests=tuple(str(digest) for digest in header.partial_digests),
        )


__all__ = ["EvaluatorConnection", "RegauditError", "UploadProgress", "UploadState"]
