"""Which refusals the client waits out: a RetryInfo hint, and gRPC core's own refusal at the
server's ``maximum_concurrent_rpcs`` (no details possible: a fixed delay); nothing else."""

from __future__ import annotations

from regaudit.client.reconnect import (
    GRPC_CONCURRENCY_RETRY_S,
    is_retryable,
    retry_hint_s,
)
from regaudit.shared.errors import ProtocolError, RemoteError


def _remote(code: str, message: str, retry_after_s: float | None = None) -> RemoteError:
    error = RemoteError(message, code=code)
    error.grpc_code = code
    error.retry_after_s = retry_after_s
    return error


def test_a_hinted_refusal_waits_its_hint() -> None:
    error = _remote("RESOURCE_EXHAUSTED", "server_busy", retry_after_s=5.0)
    assert retry_hint_s(error) == 5.0 and is_retryable(error)


def test_grpc_cores_concurrency_refusal_waits_a_fixed_delay_even_when_wrapped() -> None:
    core = _remote(
        "RESOURCE_EXHAUSTED", "evaluator: RESOURCE_EXHAUSTED: Concurrent RPC limit exceeded!"
    )
    assert retry_hint_s(core) == GRPC_CONCURRENCY_RETRY_S and is_retryable(core)
    try:
        raise ProtocolError("the evaluator refused") from core
    except ProtocolError as wrapped:
        assert retry_hint_s(wrapped) == GRPC_CONCURRENCY_RETRY_S


def test_other_unhinted_refusals_are_not_retried() -> None:
    for error in (
        _remote("RESOURCE_EXHAUSTED", "ciphertext of 4194305 bytes exceeds 4194304"),
        _remote("INVALID_ARGUMENT", "Concurrent RPC limit exceeded"),
    ):
        assert retry_hint_s(error) is None and not is_retryable(error)
