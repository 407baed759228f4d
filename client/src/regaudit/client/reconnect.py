"""Reconnecting to the evaluator within the audit's deadline.

A call that fails because the evaluator went away (UNAVAILABLE: a restarted daemon, a dropped
connection), because one call ran out of time (DEADLINE_EXCEEDED, while the audit's own
``--timeout`` still has time left) or because the stream was cut (CANCELLED, ABORTED) is
retried on a fresh channel after an exponential, capped and jittered pause. A refusal with a
retry hint (RESOURCE_EXHAUSTED with a google.rpc.RetryInfo delay: ``server_busy``, quotas, rate
limits) is retried too, after at least the hinted delay -- or fails at once (exit 3) when the
hint reaches past the audit's deadline. Every other failure is mapped as
:func:`regaudit.client.remote.remote_call` maps it. Each retry is a progress note,
``reconnecting (attempt N)``. The primary evaluator and every witness
(:mod:`regaudit.client.witness`) are retried alike.

Within one process the audit's keys are in memory. A *killed* client resumes on a rerun only
with an explicit ``--idempotency-key``: its resume journal (:mod:`regaudit.client.resume_journal`,
the secret key sealed at rest under the client identity) restores the keys and the header, and
the rerun uploads only what the evaluator does not hold.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from regaudit.client.remote import EvaluatorUnavailableError, remaining, remote_call

if TYPE_CHECKING:
    from regaudit.client.progress import ProgressSink
    from regaudit.client.transport import EvaluatorConnection

_T = TypeVar("_T")

#: First pause before reconnecting (seconds).
RECONNECT_INITIAL_S = 0.25
#: Each further pause is this many times the previous one...
RECONNECT_FACTOR = 2.0
#: ...up to this cap (seconds).
RECONNECT_MAX_S = 5.0
#: Pauses are scaled by a random factor in [1 - JITTER, 1 + JITTER].
RECONNECT_JITTER = 0.25
#: Reconnections one step may make before it gives up (the audit's deadline bounds them too).
RECONNECT_MAX_ATTEMPTS = 12
#: gRPC status codes that mean "the evaluator or the connection went away": retried.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "ABORTED"})
#: The gRPC status code whose refusals carry a retry hint worth waiting for.
RETRY_HINT_CODE = "RESOURCE_EXHAUSTED"
#: gRPC core's own refusal when the server's ``maximum_concurrent_rpcs`` is reached: it comes
#: before any regaudit code runs, so it carries no RetryInfo; it is retried after
#: :data:`GRPC_CONCURRENCY_RETRY_S` (seconds) like a hinted refusal.
GRPC_CONCURRENCY_REFUSAL = "Concurrent RPC limit exceeded"
GRPC_CONCURRENCY_RETRY_S = 2.0


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure a reconnection may cure (see :data:`TRANSIENT_CODES`).
    An EvaluatorUnavailableError is judged by the error it was mapped from."""
    import grpc

    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 4:
        seen += 1
        if isinstance(current, grpc.RpcError):
            code = current.code() if callable(getattr(current, "code", None)) else None
            return code is not None and code.name in TRANSIENT_CODES
        code_name = getattr(current, "grpc_code", None)
        if code_name is not None:
            return code_name in TRANSIENT_CODES
        if not isinstance(current, EvaluatorUnavailableError):
            return False
        current = current.__cause__
    return False


def retry_hint_s(exc: BaseException) -> float | None:
    """The delay a RESOURCE_EXHAUSTED refusal asked the client to wait (its RetryInfo), found
    on ``exc`` or the errors it was mapped from; None without one."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 4:
        seen += 1
        delay = getattr(current, "retry_after_s", None)
        if getattr(current, "grpc_code", None) == RETRY_HINT_CODE:
            if delay is not None:
                return max(0.0, float(delay))
            if GRPC_CONCURRENCY_REFUSAL in str(current):
                return GRPC_CONCURRENCY_RETRY_S
        current = current.__cause__
    return None


def is_retryable(exc: BaseException) -> bool:
    """A transient failure (:func:`is_transient`) or a refusal with a retry hint
    (:func:`retry_hint_s`)."""
    return is_transient(exc) or retry_hint_s(exc) is not None


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """The pause before reconnection ``attempt`` (1, 2, ...): exponential, capped, jittered."""
    base = min(RECONNECT_MAX_S, RECONNECT_INITIAL_S * RECONNECT_FACTOR ** max(0, attempt - 1))
    jitter = (rng or random).uniform(1.0 - RECONNECT_JITTER, 1.0 + RECONNECT_JITTER)
    return base * jitter


def _raise(exc: BaseException) -> NoReturn:
    raise exc


class Reconnector:
    """Retries calls on ``connection`` after transient failures until ``deadline``."""

    def __init__(
        self,
        connection: EvaluatorConnection,
        *,
        address: str,
        deadline: float,
        sink: ProgressSink,
    ) -> None:
        self.connection = connection
        self.address = address
        self.deadline = deadline
        self.sink = sink
        #: reconnections so far
        self.attempts = 0

    def give_up(self, exc: BaseException) -> NoReturn:
        """Raise ``exc`` mapped as a transport failure (exit 3 unless it is the client's
        fault or a verification failure)."""
        remote_call(lambda: _raise(exc), self.address)
        raise exc  # (remote_call always raises; this line satisfies the type checker)

    def pause(self, why: str, *, at_least: float = 0.0) -> None:
        """Note the reconnection, wait out its backoff -- at least ``at_least`` seconds (the
        evaluator's retry hint), never past the deadline -- and open a fresh channel.
        EvaluatorUnavailableError once the deadline has passed or when the hint reaches past
        it."""
        self.attempts += 1
        if self.attempts > RECONNECT_MAX_ATTEMPTS:
            raise EvaluatorUnavailableError(
                f"evaluator {self.address} still unreachable after {RECONNECT_MAX_ATTEMPTS} "
                f"reconnections: {why}"
            )
        left = remaining(self.deadline)
        if at_least >= left:
            raise EvaluatorUnavailableError(
                f"evaluator {self.address} asks to retry after {at_least:g} s, past the "
                f"audit's deadline ({left:.0f} s left): {why}"
            )
        self.sink.note(f"reconnecting (attempt {self.attempts}) to {self.address}: {why}")
        delay = min(max(backoff_delay(self.attempts), at_least), max(0.0, left - 0.05))
        time.sleep(delay)
        remaining(self.deadline)
        self.connection.reconnect()

    def call(self, call: Callable[[], _T]) -> _T:
        """``call()``, retried after transient failures and hinted refusals; other failures
        are mapped."""
        while True:
            try:
                return call()
            except Exception as exc:
                self.retry_or_give_up(exc)

    def retry_or_give_up(self, exc: BaseException) -> None:
        """After ``exc``: pause for a retry if it is retryable (:func:`is_retryable`) and time
        is left, else raise it mapped (:meth:`give_up`)."""
        if not is_retryable(exc) or time.monotonic() >= self.deadline:
            self.give_up(exc)
        self.pause(_short(exc), at_least=retry_hint_s(exc) or 0.0)


def _short(exc: BaseException) -> str:
    code = getattr(exc, "grpc_code", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{code}: {text}"[:200] if code else text[:200]


__all__ = [
    "RECONNECT_FACTOR",
    "RECONNECT_INITIAL_S",
    "RECONNECT_JITTER",
    "RECONNECT_MAX_ATTEMPTS",
    "RECONNECT_MAX_S",
    "RETRY_HINT_CODE",
    "TRANSIENT_CODES",
    "Reconnector",
    "backoff_delay",
    "is_retryable",
    "is_transient",
    "retry_hint_s",
]
