"""Talking to the evaluator: its failures as :class:`EvaluatorUnavailableError` (exit code 3),
the audit's deadline, and following a job until it is final.

Errors the evaluator reports keep their class when they are the client's fault (InputError,
exit 2) or a verification failure (exit 1); anything else means the evaluator could not do the
job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from regaudit.shared.errors import EXIT_EVALUATOR_FAILED, InputError, RegauditError

if TYPE_CHECKING:
    import grpc

    from regaudit.client.progress import ProgressSink
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.protocol import JobState

_T = TypeVar("_T")

#: Pause before re-attaching to a job whose progress stream ended early (seconds).
WATCH_RETRY_S = 0.5


class EvaluatorUnavailableError(RegauditError):
    """The evaluator could not be reached, refused the job or failed it (CLI exit code 3)."""

    reason = "evaluator_unavailable"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INTERNAL"


class EvaluatorUnreachableError(EvaluatorUnavailableError):
    """No connection to the evaluator at all (refused, unknown host, timed out): said in one
    sentence with what to check, instead of gRPC's own text (exit code 3)."""

    reason = "evaluator_unreachable"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "UNAVAILABLE"


#: (text in gRPC's UNAVAILABLE message, what the user is told) for a failed connection.
CONNECT_FAILURES = (
    ("connection refused", "connection refused"),
    ("dns resolution failed", "host name not found"),
    ("name or service not known", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("timed out", "connection timed out"),
    ("deadline exceeded", "connection timed out"),
    ("failed to connect", "cannot connect"),
)


def unreachable(code: str | None, message: str, address: str) -> EvaluatorUnreachableError | None:
    """An :class:`EvaluatorUnreachableError` when an UNAVAILABLE status says the connection
    itself failed; None otherwise (the evaluator answered)."""
    if code != "UNAVAILABLE":
        return None
    lowered = message.lower()
    for needle, why in CONNECT_FAILURES:
        if needle in lowered:
            return EvaluatorUnreachableError(
                f"cannot reach the evaluator at {address} ({why}) — is `regaudit-evaluator "
                "serve` running?"
            )
    return None


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (EvaluatorUnavailableError once it has passed)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise EvaluatorUnavailableError("the audit did not finish before its deadline")
    return left


def keep_watching(
    connection: EvaluatorConnection,
    job_id: str,
    *,
    address: str,
    deadline: float,
    sink: ProgressSink,
) -> JobState:
    """Follow a job until it succeeds, fails (EvaluatorUnavailableError) or the deadline
    passes; returns the final state."""
    from regaudit.shared.protocol import JobState

    while True:
        for update in remote_iter(
            lambda: connection.watch_job(job_id, timeout=remaining(deadline)), address
        ):
            sink.update(
                "evaluate", completed=update.chunks_evaluated, total=max(update.n_chunks, 1)
            )
            if update.state == JobState.FAILED:
                raise EvaluatorUnavailableError(
                    f"the evaluator failed job {job_id}: "
                    f"{update.error_reason or 'error'}: {update.message}",
                    field="job",
                )
            if update.state.terminal:
                return update.state
            if time.monotonic() > deadline:
                break
        if time.monotonic() > deadline:
            raise EvaluatorUnavailableError(
                f"job {job_id} did not finish before the deadline", field="job"
            )
        time.sleep(WATCH_RETRY_S)


# --- transport error mapping ------------------------------------------------------------------


def remote_call(call: Callable[[], _T], address: str) -> _T:
    """Run a transport call, mapping connection failures to EvaluatorUnavailableError."""
    try:
        return call()
    except RegauditError as exc:
        raise _classify(exc, address) from exc
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            raise _classify_rpc(exc, address) from exc
        raise


def remote_iter(make: Callable[[], Iterable[_T]], address: str) -> Iterator[_T]:
    """The items of the stream ``make()`` opens, failures mapped as by :func:`remote_call`."""
    try:
        yield from make()
    except RegauditError as exc:
        raise _classify(exc, address) from exc
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            raise _classify_rpc(exc, address) from exc
        raise


def _classify(exc: RegauditError, address: str) -> RegauditError:
    """Errors the evaluator reported: input errors (exit 2) and verification errors (exit 1)
    keep their class; anything else means the evaluator could not do the job (exit 3)."""
    from regaudit.shared.errors import (
        ClientNotAllowedError,
        UnauthenticatedError,
        VerificationError,
    )

    if isinstance(exc, EvaluatorUnavailableError | InputError | VerificationError):
        return exc
    not_connected = unreachable(getattr(exc, "grpc_code", None), exc.message, address)
    if not_connected is not None:
        return not_connected
    if isinstance(exc, UnauthenticatedError | ClientNotAllowedError):
        # the evaluator refused this client: keep the reason (exit 3) and say so plainly
        refused = type(exc)(
            f"evaluator {address} refused the call ({exc.reason}): {exc.message}",
            field=exc.field,
        )
        return refused
    error = EvaluatorUnavailableError(
        f"evaluator {address} could not do the job: {exc.message} (reason: {exc.reason}"
        f"{retry_hint(exc.retry_after_s)})",
        field=exc.field,
    )
    error.retry_after_s = exc.retry_after_s
    return error


def _classify_rpc(exc: grpc.RpcError, address: str) -> RegauditError:
    from regaudit.shared.protocol import remote_error_info

    info = remote_error_info(exc)
    not_connected = unreachable(info.code.name, info.message, address)
    if not_connected is not None:
        return not_connected
    error = EvaluatorUnavailableError(
        f"evaluator {address}: {info.code.name}: {info.message}"
        f"{retry_hint(info.retry_delay_s, alone=True)}"
    )
    error.retry_after_s = info.retry_delay_s
    return error


def retry_hint(delay_s: float | None, *, alone: bool = False) -> str:
    """``"; retry after N s"`` for an evaluator's retry delay (RESOURCE_EXHAUSTED with a
    google.rpc.RetryInfo), ``" (retry after N s)"`` with ``alone``; "" without a delay."""
    if delay_s is None:
        return ""
    text = f"retry after {delay_s:g} s"
    return f" ({text})" if alone else f"; {text}"


__all__ = [
    "CONNECT_FAILURES",
    "WATCH_RETRY_S",
    "EvaluatorUnavailableError",
    "EvaluatorUnreachableError",
    "keep_watching",
    "remaining",
    "remote_call",
    "remote_iter",
    "retry_hint",
    "unreachable",
]
