"""Who may call the evaluator: signed requests, the client allow-list, replay protection and
the per-job authorization (only the client that submitted a job may watch it or fetch it).

Every RPC but GetCapabilities (and the standard health and reflection services) calls
:meth:`Authenticator.authenticate` first:

* a missing, malformed, badly signed, stale (outside :data:`MAX_CLOCK_SKEW_S`) or replayed
  request signature -> UNAUTHENTICATED, reason ``unauthenticated``;
* a correctly signed client key the :class:`ClientPolicy` does not allow -> PERMISSION_DENIED,
  reason ``client_not_allowed``.

A job belongs to the client key that signed its header (the prefix of its scoped idempotency
key); :func:`require_owner` answers a job of another client exactly as a job that does not
exist (NOT_FOUND, ``unknown_job``), so job ids leak nothing.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc

from regaudit.evaluator.collection import missing_job_error
from regaudit.evaluator.logs import log_event, prefix
from regaudit.evaluator.store import Store
from regaudit.shared.errors import (
    ClientNotAllowedError,
    IdentityError,
    InputError,
    UnauthenticatedError,
    UnknownJobError,
)
from regaudit.shared.evidence.canonical import utc_now
from regaudit.shared.evidence.identity import load_public_key_file
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.protocol import MAX_CLOCK_SKEW_S, verify_request

#: The most nonces remembered at once; past it the oldest are forgotten and requests signed
#: before the newest forgotten one are refused as too old to be checked for replay.
MAX_REMEMBERED_NONCES = 100_000
_KEY_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ClientPolicy:
    """Which signed clients may use the evaluator: ``allowed`` key ids, or any signed client
    when ``allowed`` is None (``explicit_any``: the operator asked for that on purpose)."""

    allowed: frozenset[str] | None = None
    explicit_any: bool = False

    def allows(self, key_id: str) -> bool:
        return self.allowed is None or key_id in self.allowed

    def check_listen(self, host: str, *, loopback: bool) -> None:
        """Refuse (InputError) to serve a non-loopback address to any signed client unless
        that was asked for explicitly (``--allow-any-client``)."""
        if not loopback and self.allowed is None and not self.explicit_any:
            raise InputError(
                f"refusing to serve non-loopback address {host!r} to any client: give "
                "--allow-client KEY_ID_OR_FILE or --client-allowlist TRUST.json, or "
                "--allow-any-client to accept every signed client",
                field="listen",
            )

    @classmethod
    def from_options(
        cls,
        allow_clients: Iterable[str] = (),
        allowlists: Iterable[str | os.PathLike[str]] = (),
        *,
        allow_any: bool = False,
    ) -> ClientPolicy:
        """The policy of ``serve``'s options: each ``--allow-client`` is a 64-hex key id or a
        client ``.pub.json`` file; each ``--client-allowlist`` a trust file whose unrevoked
        client keys are allowed. InputError names a bad value."""
        keys: set[str] = set()
        given = False
        for value in allow_clients:
            given = True
            keys.add(_client_key_id(value))
        for path in allowlists:
            given = True
            store = TrustStore.load(path)
            keys.update(
                entry.record.key_id
                for entry in store.keys
                if entry.record.kind == "client" and entry.revoked_at is None
            )
        if given and allow_any:
            raise InputError(
                "--allow-any-client and an allow-list exclude each other", field="allow_client"
            )
        if given and not keys:
            raise InputError("the client allow-list is empty", field="client_allowlist")
        return cls(allowed=frozenset(keys) if given else None, explicit_any=allow_any)


def _client_key_id(value: str) -> str:
    if _KEY_ID.fullmatch(value):
        return value
    path = Path(value)
    if not path.exists():
        raise InputError(
            f"--allow-client {value!r} is neither a 64-hex key id nor a file", field="allow_client"
        )
    try:
        record = load_public_key_file(path)
    except IdentityError as exc:
        raise InputError(str(exc), field="allow_client") from exc
    if record.kind != "client":
        raise InputError(
            f"{path} holds a {record.kind} key, not a client key", field="allow_client"
        )
    return record.key_id


class NonceCache:
    """The nonces of requests seen within the clock-skew window, per client key (bounded)."""

    def __init__(self, window_seconds: float, max_entries: int = MAX_REMEMBERED_NONCES) -> None:
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._floor = float("-inf")  # requests signed at or before this cannot be checked
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, key_id: str, nonce: str, signed_at: float, now: float) -> None:
        """Record a request's nonce; UnauthenticatedError if it was seen (a replay)."""
        entry = f"{key_id}:{nonce}"
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if at >= now - self.window_seconds:
                    break
                del self._seen[oldest]
            if entry in self._seen:
                raise UnauthenticatedError("replayed request (nonce already used)", field="nonce")
            if signed_at <= self._floor:
                raise UnauthenticatedError("request too old to check for replay; sign anew")
            self._seen[entry] = signed_at
            while len(self._seen) > self.max_entries:
                _gone, at = self._seen.popitem(last=False)
                self._floor = max(self._floor, at)


class Authenticator:
    """Checks each call's signature, the allow-list and replays."""

    def __init__(
        self,
        policy: ClientPolicy | None = None,
        *,
        max_skew_seconds: float = MAX_CLOCK_SKEW_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.policy = policy or ClientPolicy()
        self.max_skew_seconds = max_skew_seconds
        self.clock = clock
        self.nonces = NonceCache(window_seconds=2 * max_skew_seconds)

    def authenticate(self, context: grpc.ServicerContext, method: str, subject: str = "") -> str:
        """The key id of the client that signed this call of ``method`` on ``subject``."""
        now = self.clock()
        try:
            request = verify_request(
                _metadata(context),
                method=method,
                subject=subject,
                now=now,
                max_skew_seconds=self.max_skew_seconds,
            )
            key_id = request.client.key_id
            if not self.policy.allows(key_id):
                raise ClientNotAllowedError(
                    f"client key {key_id} is not allowed on this evaluator", field="client_key"
                )
            self.nonces.remember(key_id, request.nonce, request.time.timestamp(), now.timestamp())
        except (UnauthenticatedError, ClientNotAllowedError) as exc:
            log_event(
                "request_refused",
                method=method.rsplit("/", 1)[-1],
                reason=exc.reason,
                detail=str(exc),
                peer=_peer(context),
            )
            raise
        return key_id


def job_owner(idempotency_key: str) -> str:
    """The client key id that submitted a job (its scoped idempotency key's prefix)."""
    return idempotency_key.partition("/")[0]


def require_owner(store: Store, job_id: str, key_id: str) -> None:
    """A job of another client (or none) -> NOT_FOUND ``unknown_job``, as for a missing job."""
    record = store.get_job(job_id) if job_id else None
    if record is None:  # result_expired if retention collected this client's job (collection)
        raise missing_job_error(store, job_id, owner=key_id)
    if job_owner(record.idempotency_key) != key_id:
        log_event("job_access_refused", job_id=job_id, client_key_id=prefix(key_id))
        raise UnknownJobError(f"no job {job_id!r}", field="job_id")


def require_submitter(header_key_id: str, key_id: str) -> None:
    """A job header must name the client key that signed the call (PERMISSION_DENIED)."""
    if header_key_id != key_id:
        raise ClientNotAllowedError(
            "the job header names another client key than the one that signed the call",
            field="client_key",
        )


def _metadata(context: grpc.ServicerContext) -> list[tuple[str, str | bytes]]:
    return [(str(key), value) for key, value in context.invocation_metadata() or ()]


def _peer(context: grpc.ServicerContext) -> str:
    try:
        return str(context.peer() or "")
    except Exception:  # noqa: BLE001 - a log field, never a failure
        return ""


__all__ = [
    "MAX_REMEMBERED_NONCES",
    "Authenticator",
    "ClientPolicy",
    "NonceCache",
    "job_owner",
    "require_owner",
    "require_submitter",
]
