"""Signed requests: every evaluator call (but GetCapabilities and the standard health and
reflection services) carries, in its gRPC metadata, the caller's Ed25519 client key and a
signature binding the call to one method, one subject, one moment and one random nonce.

Metadata (all ASCII values)::

    regaudit-client-key         base64 of the canonical JSON of the client's PublicKeyRecord
    regaudit-request-time       RFC 3339 UTC time the request was signed
    regaudit-request-nonce      32 lowercase hex characters (16 random bytes)
    regaudit-request-signature  base64 of the Ed25519 signature over the canonical JSON
                                {"purpose": "regaudit/v1/request", "method": <full method>,
                                 "subject": <job id for WatchJob/GetResult, "" otherwise>,
                                 "time": <the time above>, "nonce": <the nonce above>}

:func:`verify_request_metadata` checks the signature and the clock skew; the evaluator keeps the
nonces it has seen (replay) and decides which keys it allows.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature

from regaudit.shared.errors import IdentityError, UnauthenticatedError
from regaudit.shared.evidence.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_rfc3339,
    parse_rfc3339,
    utc_now,
)
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity
from regaudit.shared.protocol.limits import MAX_PUBLIC_KEY_JSON_BYTES, SERVICE_NAME

REQUEST_PURPOSE = "regaudit/v1/request"
CLIENT_KEY_HEADER = "regaudit-client-key"
TIME_HEADER = "regaudit-request-time"
NONCE_HEADER = "regaudit-request-nonce"
SIGNATURE_HEADER = "regaudit-request-signature"
AUTH_HEADERS = (CLIENT_KEY_HEADER, TIME_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
#: Random bytes in a nonce (hex-encoded on the wire).
NONCE_BYTES = 16
#: How far a request's time may be from the evaluator's clock (seconds, either way).
MAX_CLOCK_SKEW_S = 300.0
#: The longest metadata value accepted (the base64 key record dominates).
MAX_AUTH_HEADER_CHARS = 2 * MAX_PUBLIC_KEY_JSON_BYTES
_NONCE = re.compile(rf"[0-9a-f]{{{2 * NONCE_BYTES}}}")
_ED25519_SIGNATURE_BYTES = 64


def method_path(name: str) -> str:
    """The full gRPC method of an Evaluator RPC: ``/regaudit.v1.Evaluator/<name>``."""
    return f"/{SERVICE_NAME}/{name}"


def request_payload(*, method: str, subject: str, time: str, nonce: str) -> bytes:
    """The canonical JSON a request signature covers."""
    return canonical_json(
        {
            "purpose": REQUEST_PURPOSE,
            "method": method,
            "subject": subject,
            "time": time,
            "nonce": nonce,
        }
    )


def request_metadata(
    identity: SigningIdentity,
    method: str,
    subject: str = "",
    *,
    now: datetime | None = None,
    nonce: str | None = None,
) -> list[tuple[str, str]]:
    """The metadata that authenticates one call of ``method`` (full gRPC method) on
    ``subject`` (the job id of WatchJob/GetResult, "" otherwise), signed by ``identity``.
    ``now`` and ``nonce`` are for tests (replays, stale times)."""
    time = format_rfc3339(now or utc_now())
    nonce = nonce if nonce is not None else secrets.token_hex(NONCE_BYTES)
    record = b64encode(canonical_json(identity.public_record().to_dict()))
    signature = identity.sign(
        request_payload(method=method, subject=subject, time=time, nonce=nonce)
    )
    return [
        (CLIENT_KEY_HEADER, record),
        (TIME_HEADER, time),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, b64encode(signature)),
    ]


@dataclass(frozen=True)
class SignedRequest:
    """A verified request: the signing client key, the signed time and nonce."""

    client: PublicKeyRecord
    time: datetime
    nonce: str


def _headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in metadata:
        name = key.lower()
        if name not in AUTH_HEADERS:
            continue
        if name in found:
            raise UnauthenticatedError("request metadata repeats a header", field=name)
        if not isinstance(value, str) or len(value) > MAX_AUTH_HEADER_CHARS:
            raise UnauthenticatedError("malformed request metadata", field=name)
        found[name] = value
    missing = [name for name in AUTH_HEADERS if name not in found]
    if missing:
        raise UnauthenticatedError(
            "the call is not signed (missing request signature metadata)", field=missing[0]
        )
    return found


def verify_request(
    metadata: Iterable[tuple[str, str | bytes]],
    *,
    method: str,
    subject: str,
    now: datetime,
    max_skew_seconds: float = MAX_CLOCK_SKEW_S,
) -> SignedRequest:
    """Check a request's signature metadata; UnauthenticatedError on anything wrong.

    Steps: 1. the four headers, once each; 2. the key record is a valid client key; 3. nonce
    and time well-formed, the time within ``max_skew_seconds`` of ``now``; 4. the Ed25519
    signature over :func:`request_payload` verifies. The nonce's freshness (replay) is the
    caller's to check."""
    # 1. headers
    headers = _headers(metadata)
    # 2. the client key
    record_json = b64decode(
        headers[CLIENT_KEY_HEADER], field=CLIENT_KEY_HEADER, error=UnauthenticatedError
    )
    if len(record_json) > MAX_PUBLIC_KEY_JSON_BYTES:
        raise UnauthenticatedError("client key record too large", field=CLIENT_KEY_HEADER)
    try:
        record = PublicKeyRecord.from_dict(json.loads(record_json), error=IdentityError)
    except (ValueError, RecursionError, IdentityError) as exc:  # RecursionError: deep nesting
        raise UnauthenticatedError(
            f"malformed client key record: {exc}", field=CLIENT_KEY_HEADER
        ) from exc
    if record.kind != "client":
        raise UnauthenticatedError(
            f"requests are signed by a client key, not a {record.kind} key",
            field=CLIENT_KEY_HEADER,
        )
    # 3. nonce and time
    nonce = headers[NONCE_HEADER]
    if _NONCE.fullmatch(nonce) is None:
        raise UnauthenticatedError(
            f"the nonce must be {2 * NONCE_BYTES} lowercase hex characters", field=NONCE_HEADER
        )
    time_text = headers[TIME_HEADER]
    signed_at = parse_rfc3339(time_text, field=TIME_HEADER, error=UnauthenticatedError)
    skew = abs((now - signed_at).total_seconds())
    if skew > max_skew_seconds:
        raise UnauthenticatedError(
            f"request time {time_text} is {skew:.0f} s from the evaluator's clock "
            f"(at most {max_skew_seconds:.0f} s allowed)",
            field=TIME_HEADER,
        )
    # 4. signature
    signature = b64decode(
        headers[SIGNATURE_HEADER], field=SIGNATURE_HEADER, error=UnauthenticatedError
    )
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        raise UnauthenticatedError("malformed request signature", field=SIGNATURE_HEADER)
    payload = request_payload(method=method, subject=subject, time=time_text, nonce=nonce)
    try:
        record.public_key.verify(signature, payload)
    except InvalidSignature as exc:
        raise UnauthenticatedError(
            "the request signature does not verify for this call", field=SIGNATURE_HEADER
        ) from exc
    return SignedRequest(client=record, time=signed_at, nonce=nonce)


def verify_request_metadata(
    metadata: Iterable[tuple[str, str | bytes]],
    *,
    method: str,
    subject: str,
    now: datetime,
    max_skew_seconds: float = MAX_CLOCK_SKEW_S,
) -> PublicKeyRecord:
    """:func:`verify_request`, returning only the signing client's key record."""
    return verify_request(
        metadata, method=method, subject=subject, now=now, max_skew_seconds=max_skew_seconds
    ).client


__all__ = [
    "AUTH_HEADERS",
    "CLIENT_KEY_HEADER",
    "MAX_AUTH_HEADER_CHARS",
    "MAX_CLOCK_SKEW_S",
    "NONCE_BYTES",
    "NONCE_HEADER",
    "REQUEST_PURPOSE",
    "SIGNATURE_HEADER",
    "TIME_HEADER",
    "SignedRequest",
    "method_path",
    "request_metadata",
    "request_payload",
    "verify_request",
    "verify_request_metadata",
]
