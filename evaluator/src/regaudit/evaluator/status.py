"""Errors to gRPC statuses: how every evaluator RPC ends when it cannot answer.

A handler raises :class:`RpcAbort` (an error with the status code and field violations to
report) or any :class:`~regaudit.shared.errors.RegauditError`; :func:`guarded` turns either into
a status with ErrorInfo/BadRequest details, a failing store (SQLite or OS error) into
``store_failed`` (``disk_full``, RESOURCE_EXHAUSTED, for a full disk), and anything else into
INTERNAL (logged), so one bad call never takes the daemon down. The two argument checks shared
by admission and uploads (a known parameter profile, a well-formed digest) live here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import grpc

from regaudit.evaluator.failures import STORE_ERRORS, store_error
from regaudit.shared.errors import KeyMaterialError, ProfileError, RegauditError
from regaudit.shared.evidence.canonical import parse_digest
from regaudit.shared.profiles import ParameterProfile, get_profile
from regaudit.shared.protocol import error_status

log = logging.getLogger("regaudit.evaluator.server")

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


def abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    """End the call with the status ``exc`` maps to (a failing store as ``store_failed`` or
    ``disk_full``; INTERNAL, logged, for any other non-regaudit error)."""
    if isinstance(exc, RpcAbort):
        status = error_status(exc.error, code=exc.code, violations=exc.violations)
    elif isinstance(exc, RegauditError):
        status = error_status(exc)
    elif isinstance(exc, STORE_ERRORS):
        error = store_error(exc)
        log.warning("store failure: %s", error, exc_info=exc)
        status = error_status(error)
    else:
        log.exception("internal error", exc_info=exc)
        status = error_status(
            RegauditError(f"internal error: {type(exc).__name__}"), code=grpc.StatusCode.INTERNAL
        )
    context.abort_with_status(status)


def guarded(context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
    """Run a handler body; regaudit errors become statuses with details, anything else
    INTERNAL (logged), so one bad call never takes the daemon down."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - mapped to a status, never swallowed
        abort(context, exc)
        raise AssertionError("unreachable") from exc


def profile_named(name: str) -> ParameterProfile:
    """The parameter profile ``name``; INVALID_ARGUMENT if there is none."""
    try:
        return get_profile(name)
    except ProfileError as exc:
        raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc


def check_digest(digest: str, *, field: str) -> None:
    """``digest`` is a well-formed digest; INVALID_ARGUMENT naming ``field`` otherwise."""
    try:
        parse_digest(digest, field=field, error=KeyMaterialError)
    except KeyMaterialError as exc:
        raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc


__all__ = ["RpcAbort", "abort", "check_digest", "guarded", "profile_named"]
