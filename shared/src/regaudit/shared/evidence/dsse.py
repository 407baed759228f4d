"""A small DSSE v1 (Dead Simple Signing Envelope) implementation over Ed25519.

Envelope (JSON)::

    {"payloadType": <str>, "payload": <base64>,
     "signatures": [{"keyid": <64 hex>, "sig": <base64>}]}

The signature covers the pre-authentication encoding (PAE) of the payload type and the raw
payload bytes, exactly as the DSSE specification defines it::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where LEN is the ASCII decimal byte length and SP a single space. regaudit envelopes carry
exactly one signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from regaudit.shared.errors import BadSignatureError, BundleFormatError
from regaudit.shared.evidence.canonical import b64decode, b64encode, is_hex64
from regaudit.shared.evidence.identity import SigningIdentity, key_id_for

PAYLOAD_TYPE_INTOTO = "application/vnd.in-toto+json"
ENVELOPE_FIELDS = ("payloadType", "payload", "signatures")
SIGNATURE_FIELDS = ("keyid", "sig")
ED25519_SIGNATURE_BYTES = 64
#: Largest payload (base64 text) an envelope may carry.
MAX_PAYLOAD_B64_CHARS = 16 * 1024 * 1024
MAX_PAYLOAD_TYPE_CHARS = 256


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def sign_envelope(
    payload: bytes, *, payload_type: str, identity: SigningIdentity
) -> dict[str, Any]:
    """Sign ``payload`` with ``identity`` and return the DSSE envelope dict."""
    signature = identity.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": b64encode(payload),
        "signatures": [{"keyid": identity.key_id, "sig": b64encode(signature)}],
    }


def envelope_payload_unverified(envelope: object) -> tuple[str, bytes, str]:
    """Structure-check an envelope and return (payload type, payload, signing key id).

    Nothing here is authenticated: use it only to find out which key to verify with.
    Raises BundleFormatError naming the malformed field.
    """
    if not isinstance(envelope, Mapping):
        raise BundleFormatError("a DSSE envelope must be a JSON object", field="envelope")
    missing = [name for name in ENVELOPE_FIELDS if name not in envelope]
    if missing:
        raise BundleFormatError("missing envelope field", field=missing[0])
    extra = sorted(set(envelope) - set(ENVELOPE_FIELDS))
    if extra:
        raise BundleFormatError("unexpected envelope field", field=str(extra[0]))
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str) or not 0 < len(payload_type) <= MAX_PAYLOAD_TYPE_CHARS:
        raise BundleFormatError("payloadType must be a non-empty string", field="payloadType")
    payload_b64 = envelope["payload"]
    if isinstance(payload_b64, str) and len(payload_b64) > MAX_PAYLOAD_B64_CHARS:
        raise BundleFormatError(
            f"payload larger than {MAX_PAYLOAD_B64_CHARS} base64 characters", field="payload"
        )
    payload = b64decode(payload_b64, field="payload")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list):
        raise BundleFormatError("signatures must be a list", field="signatures")
    if len(signatures) != 1:
        # 0 = unsigned, >1 = duplicate or foreign signatures: neither is a regaudit envelope.
        raise BadSignatureError(
            f"envelope must carry exactly one signature, found {len(signatures)}",
            field="signatures",
        )
    entry = signatures[0]
    if not isinstance(entry, Mapping) or set(entry) != set(SIGNATURE_FIELDS):
        raise BundleFormatError(
            "a signature must be an object with exactly 'keyid' and 'sig'", field="signatures"
        )
    if not is_hex64(entry["keyid"]):
        raise BundleFormatError("keyid must be 64 lowercase hex characters", field="keyid")
    return payload_type, payload, entry["keyid"]


def verify_envelope(
    envelope: Mapping[str, Any],
    *,
    public_key: Ed25519PublicKey,
    key_id: str,
    payload_type: str | None = PAYLOAD_TYPE_INTOTO,
) -> bytes:
    """Verify a single-signature DSSE envelope and return its payload bytes.

    Raises BundleFormatError for a malformed envelope (including bad base64) and
    BadSignatureError for a missing, duplicate, foreign or invalid signature. ``payload_type``
    (if not None) must equal the envelope's payload type.
    """
    # 1. The caller's key id must really name the caller's key (guards against mix-ups).
    if key_id_for(public_key) != key_id:
        raise BadSignatureError("key_id does not match the verification key", field="keyid")
    # 2. Structure: exact fields, strict base64, exactly one signature entry.
    envelope_type, payload, signer = envelope_payload_unverified(envelope)
    # 3. The signature must be by the expected key.
    if signer != key_id:
        raise BadSignatureError(
            f"envelope is signed by key {signer[:16]}..., expected {key_id[:16]}...",
            field="keyid",
        )
    signature = b64decode(envelope["signatures"][0]["sig"], field="sig")
    if len(signature) != ED25519_SIGNATURE_BYTES:
        raise BadSignatureError(
            f"an Ed25519 signature is {ED25519_SIGNATURE_BYTES} bytes, got {len(signature)}",
            field="sig",
        )
    # 4. Ed25519 over PAE(payloadType, payload): any change to type or payload fails here.
    try:
        public_key.verify(signature, pae(envelope_type, payload))
    except InvalidSignature as exc:
        raise BadSignatureError("signature does not verify", field="sig") from exc
    # 5. Only now interpret the (authenticated) payload type.
    if payload_type is not None and envelope_type != payload_type:
        raise BundleFormatError(
            f"payloadType is {envelope_type!r}, expected {payload_type!r}", field="payloadType"
        )
    return payload


__all__ = [
    "ED25519_SIGNATURE_BYTES",
    "ENVELOPE_FIELDS",
    "MAX_PAYLOAD_B64_CHARS",
    "MAX_PAYLOAD_TYPE_CHARS",
    "PAYLOAD_TYPE_INTOTO",
    "SIGNATURE_FIELDS",
    "envelope_payload_unverified",
    "pae",
    "sign_envelope",
    "verify_envelope",
]
