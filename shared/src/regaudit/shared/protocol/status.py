"""Regaudit errors <-> gRPC status: the rich status the evaluator aborts a call with
(``google.rpc.Status`` with an ``ErrorInfo`` in domain :data:`ERROR_DOMAIN` and ``BadRequest``
field violations) and the regaudit error a client rebuilds from a failed call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from regaudit.shared.errors import REASONS, RegauditError, RemoteError

#: Domain of every ErrorInfo the evaluator sends.
ERROR_DOMAIN = "regaudit.dev"


def default_status_code(error: RegauditError) -> grpc.StatusCode:
    """The status ``error``'s class declares (``grpc_status``, a ``grpc.StatusCode`` name)."""
    return cast(grpc.StatusCode, grpc.StatusCode[type(error).grpc_status])


def error_status(
    error: RegauditError,
    *,
    code: grpc.StatusCode | None = None,
    violations: Sequence[tuple[str, str]] = (),
) -> grpc.Status:
    """A ``grpc.Status`` (for ``context.abort_with_status``) carrying ErrorInfo and BadRequest
    (and RetryInfo when ``error.retry_after_s`` is set); the code is the error class's
    ``grpc_status`` unless ``code`` overrides it."""
    code = code or default_status_code(error)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason,
        domain=ERROR_DOMAIN,
        metadata={
            "error_class": type(error).__name__,
            **({"field": error.field} if error.field else {}),
        },
    )
    details: list[Message] = [info]
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(0, round(error.retry_after_s * 1000)))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    all_violations = list(violations)
    if error.field and not any(f == error.field for f, _ in all_violations):
        all_violations.insert(0, (error.field, error.message))
    packed: list[any_pb2.Any] = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    if all_violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in all_violations
            ]
        )
        item = any_pb2.Any()
        item.Pack(bad)
        packed.append(item)
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=str(error)[:1024], details=packed
    )
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class RemoteErrorInfo:
    """What the client learns from a failed call."""

    code: grpc.StatusCode
    message: str
    reason: str | None
    error_class: str | None
    field: str | None
    violations: tuple[tuple[str, str], ...]
    #: the google.rpc.RetryInfo delay in seconds, ``None`` without one
    retry_delay_s: float | None = None


def remote_error_info(exc: grpc.RpcError) -> RemoteErrorInfo:
    """Decode the status details of a failed call (tolerates calls without details).

    Details the evaluator sent are untrusted bytes: an undecodable
    ``grpc-status-details-bin`` trailer is ignored (only the plain status code and message
    are used), and so is any single detail that does not decode."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = exc.details() if hasattr(exc, "details") else str(exc)
    reason = error_class = error_field = None
    violations: list[tuple[str, str]] = []
    retry_delay_s: float | None = None
    try:
        status = rpc_status.from_call(exc)
    except (ValueError, AttributeError, DecodeError):
        status = None
    if status is not None:
        for detail in status.details:
            try:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    if info.domain == ERROR_DOMAIN:
                        reason = info.reason
                        error_class = info.metadata.get("error_class")
                        error_field = info.metadata.get("field")
                elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    violations.extend((v.field, v.description) for v in bad.field_violations)
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    retry = error_details_pb2.RetryInfo()
                    detail.Unpack(retry)
                    retry_delay_s = retry.retry_delay.ToMilliseconds() / 1000
            except DecodeError:
                continue  # an undecodable detail is ignored, like an unknown one
    return RemoteErrorInfo(
        code=code,
        message=message or "",
        reason=reason,
        error_class=error_class,
        field=error_field,
        violations=tuple(violations),
        retry_delay_s=retry_delay_s,
    )


def error_from_rpc(exc: grpc.RpcError) -> RegauditError:
    """The regaudit error a failed call stands for, rebuilt from its reason through
    :data:`regaudit.shared.errors.REASONS` (the ``error_class`` the server names is not
    trusted to pick a class). A reason not registered in this process, a call without regaudit
    details, or the base class's reason ``error`` (an internal error on the evaluator) becomes
    a :class:`~regaudit.shared.errors.RemoteError` keeping the remote reason string.

    The error's ``grpc_code`` is the status code name and ``violations`` the BadRequest field
    violations; ``retry_after_s`` the RetryInfo delay, if any."""
    info = remote_error_info(exc)
    message = f"evaluator: {info.code.name}: {info.message}"
    cls = REASONS.get(info.reason) if info.reason else None
    error: RegauditError
    if cls is None or cls is RegauditError:
        error = RemoteError(
            message, field=info.field, code=info.code.name, remote_reason=info.reason
        )
    else:
        error = cls(message, field=info.field)
    error = error.from_remote(grpc_code=info.code.name, violations=info.violations)
    error.retry_after_s = info.retry_delay_s
    return error


__all__ = [
    "ERROR_DOMAIN",
    "RemoteErrorInfo",
    "default_status_code",
    "error_from_rpc",
    "error_status",
    "remote_error_info",
]
