"""Sealing the client's CKKS secret key to the regulator with HPKE (RFC 9180).

Suite: KEM ML-KEM-768 + X25519 hybrid (post-quantum: CKKS itself is lattice-based, so sealing
its key with X25519 alone would be the weak link), KDF HKDF-SHA256, AEAD AES-256-GCM, base
mode, pyca ``cryptography`` >= 50.

The regulator publishes a *card*, signed by its Ed25519 identity (kind ``regulator``, the key
that also signs its reports)::

    {"kind": "regulator", "regulator_key_id": <64 hex>, "created": <RFC 3339>,
     "hpke": {"kem": "MLKEM768_X25519", "kdf": "HKDF_SHA256", "aead": "AES_256_GCM",
              "public_key": <base64 of ML-KEM-768 public key (1184 B) || X25519 public key (32 B)>},
     "signer": <the regulator's public key record: {"kind": "regulator", "key_id", "algorithm":
                "ed25519", "public_key", "created"}, as in regulator.pub.json>,
     "signature": <base64 of the 64-byte Ed25519 signature>}

``regulator_key_id`` = lowercase hex SHA-256 of the same concatenated public key bytes. The
signature is by ``signer`` over the DSSE pre-authentication encoding
``PAE("application/vnd.regaudit.regulator-card+json", JCS(card without "signature"))``
(:func:`card_signing_input`; RFC 8785 canonical JSON), so it covers the HPKE key, its id, the
creation time and the signer record itself, and cannot be replayed as any other signed object.
:func:`parse_card` is strict: exactly these fields, the signer is a regulator key and the
signature verifies with it. A self-signed card proves only that whoever holds ``signer``'s key
published it: a client must pin the signer's key id (``RegulatorCard.signer_key_id``), else
anybody can make a valid card. The HPKE ``info`` binds the sealed key to one audit, profile and
regulator (:func:`sealing_info`).

This module holds only the public side (cards, sealing to a card, digests). The regulator's
private side -- its HPKE key pair (:class:`regaudit.secretkey.sealing.RegulatorKeys`) and
:func:`regaudit.secretkey.sealing.unseal_secret_key` -- lives in the ``regaudit-secretkey``
distribution, which the evaluator does not install.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from regaudit.shared.errors import (
    InputError,
    RegauditError,
)
from regaudit.shared.evidence.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_rfc3339,
    is_hex64,
    parse_rfc3339,
    sha256_digest,
    sha256_hex,
    strict_json_loads,
)
from regaudit.shared.evidence.dsse import ED25519_SIGNATURE_BYTES, pae
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity, read_small_file

KEM_NAME = "MLKEM768_X25519"
KDF_NAME = "HKDF_SHA256"
AEAD_NAME = "AES_256_GCM"
SUITE_DESCRIPTION: dict[str, str] = {"kem": KEM_NAME, "kdf": KDF_NAME, "aead": AEAD_NAME}
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SEALING_PURPOSE = "regaudit/v2/ckks-secret-key"

MLKEM768_PUBLIC_KEY_BYTES = 1184
MLKEM768_SEED_BYTES = 64
X25519_KEY_BYTES = 32
PUBLIC_KEY_BYTES = MLKEM768_PUBLIC_KEY_BYTES + X25519_KEY_BYTES

PRIVATE_KEY_FILE = "regulator.hpke.key"
CARD_FILE = "regulator-card.json"
PRIVATE_KEY_FORMAT = "regaudit.regulator-hpke-key.v1"
CARD_FIELDS = ("kind", "regulator_key_id", "hpke", "created", "signer", "signature")
#: DSSE payload type under which the regulator signs its card (domain separation).
CARD_PAYLOAD_TYPE = "application/vnd.regaudit.regulator-card+json"
#: Kind of the Ed25519 identity that signs a card.
CARD_SIGNER_KIND = "regulator"
HPKE_FIELDS = ("kem", "kdf", "aead", "public_key")
SEALED_FIELDS = ("suite", "regulator_key_id", "info", "ciphertext")
PRIVATE_FIELDS = ("format", "kem", "mlkem768_seed", "x25519_private", "created")

MAX_KEY_FILE_BYTES = 64 * 1024
#: A SEAL secret key at N=2^15 is a few MB; anything larger is refused before decryption.
MAX_SEALED_CIPHERTEXT_BYTES = 16 * 1024 * 1024
MAX_INFO_BYTES = 4096


@dataclass(frozen=True)
class RegulatorCard:
    """A parsed, validated regulator card, signed by ``signer`` (a regulator key)."""

    regulator_key_id: str
    public_key_raw: bytes
    public_key: hpke.MLKEM768X25519PublicKey
    created: datetime
    signer: PublicKeyRecord
    signature: bytes

    @property
    def signer_key_id(self) -> str:
        """Key id of the regulator's Ed25519 identity that signed the card (what a client pins;
        ``regaudit-regulator init`` prints it and it is in ``DIR/regulator.pub.json``)."""
        return self.signer.key_id

    def to_dict(self) -> dict[str, Any]:
        return {
            **unsigned_card(
                regulator_key_id=self.regulator_key_id,
                public_key_raw=self.public_key_raw,
                created=self.created,
                signer=self.signer,
            ),
            "signature": b64encode(self.signature),
        }


def unsigned_card(
    *, regulator_key_id: str, public_key_raw: bytes, created: datetime, signer: PublicKeyRecord
) -> dict[str, Any]:
    """Every card field but ``signature``: what the signature covers."""
    return {
        "kind": "regulator",
        "regulator_key_id": regulator_key_id,
        "hpke": {**SUITE_DESCRIPTION, "public_key": b64encode(public_key_raw)},
        "created": format_rfc3339(created),
        "signer": signer.to_dict(),
    }


def card_signing_input(unsigned: Mapping[str, Any]) -> bytes:
    """The bytes a card signature covers: ``PAE(CARD_PAYLOAD_TYPE, JCS(unsigned))``."""
    return pae(CARD_PAYLOAD_TYPE, canonical_json(dict(unsigned)))


def sign_card(unsigned: Mapping[str, Any], *, signer: SigningIdentity) -> dict[str, Any]:
    """Sign an unsigned card (:func:`unsigned_card`) with the regulator's identity ``signer``;
    returns the complete card dict. The card's ``signer`` record must be ``signer``'s."""
    if signer.kind != CARD_SIGNER_KIND:
        raise InputError(
            f"a regulator card is signed by a {CARD_SIGNER_KIND} identity, not a {signer.kind}",
            field="signer",
        )
    if unsigned.get("signer") != signer.public_record().to_dict():
        raise InputError("the card's signer record is not the signing identity's", field="signer")
    signature = signer.sign(card_signing_input(unsigned))
    return {**unsigned, "signature": b64encode(signature)}


def _exact(
    obj: object, fields: tuple[str, ...], *, what: str, error: type[RegauditError]
) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise error(f"{what} must be a JSON object", field=what)
    missing = [name for name in fields if name not in obj]
    if missing:
        raise error(f"missing field in {what}", field=missing[0])
    extra = sorted(set(obj) - set(fields))
    if extra:
        raise error(f"unexpected field in {what}", field=str(extra[0]))
    return obj


def parse_card(data: object) -> RegulatorCard:
    """Validate a signed regulator card dict and rebuild its HPKE public key; InputError names
    the field.

    Steps: 1. signed (a legacy unsigned card names ``signature``), exact fields, kind;
    2. the signer is a well-formed Ed25519 key record of kind ``regulator``; 3. the signature
    is 64 bytes and verifies with the signer's key over :func:`card_signing_input` of every
    other field (before anything else of the card is interpreted); 4. suite names; 5. key
    bytes decode and have the right lengths and form; 6. regulator_key_id = SHA-256 of the key
    bytes; 7. created is RFC 3339.

    The signature proves only that the holder of ``signer`` made the card: who that may be is
    for the caller to decide (pin ``signer_key_id``).
    """
    # 1. shape
    if isinstance(data, Mapping) and "signature" not in data:
        raise InputError(
            "the regulator card is not signed (a card from before signed cards: re-create it "
            "with 'regaudit-regulator init')",
            field="signature",
        )
    card = _exact(data, CARD_FIELDS, what="regulator card", error=InputError)
    if card["kind"] != "regulator":
        raise InputError("must be 'regulator'", field="kind")
    # 2. signer
    try:
        signer = PublicKeyRecord.from_dict(card["signer"], error=InputError)
    except InputError as exc:
        field = f"signer.{exc.field}" if exc.field else "signer"
        raise InputError(f"signer: {exc.message}", field=field) from exc
    if signer.kind != CARD_SIGNER_KIND:
        raise InputError(
            f"the card is signed by a {signer.kind} key, not a {CARD_SIGNER_KIND} key",
            field="signer.kind",
        )
    # 3. signature over everything else, by the embedded key
    signature = b64decode(card["signature"], field="signature", error=InputError)
    if len(signature) != ED25519_SIGNATURE_BYTES:
        raise InputError(
            f"an Ed25519 signature is {ED25519_SIGNATURE_BYTES} bytes, got {len(signature)}",
            field="signature",
        )
    unsigned = {name: card[name] for name in CARD_FIELDS if name != "signature"}
    try:
        signing_input = card_signing_input(unsigned)
    except InputError as exc:
        raise InputError(f"regulator card: {exc.message}", field="regulator card") from exc
    try:
        signer.public_key.verify(signature, signing_input)
    except InvalidSignature as exc:
        raise InputError(
            "the card's signature does not verify with its signer key (altered card)",
            field="signature",
        ) from exc
    # 4. suite
    hpke_part = _exact(card["hpke"], HPKE_FIELDS, what="hpke", error=InputError)
    for name, expected in SUITE_DESCRIPTION.items():
        if hpke_part[name] != expected:
            raise InputError(
                f"unsupported {name} {hpke_part[name]!r:.40}, expected {expected!r}",
                field=f"hpke.{name}",
            )
    # 5. key bytes
    raw = b64decode(hpke_part["public_key"], field="hpke.public_key", error=InputError)
    if len(raw) != PUBLIC_KEY_BYTES:
        raise InputError(
            f"must be {PUBLIC_KEY_BYTES} bytes (ML-KEM-768 || X25519), got {len(raw)}",
            field="hpke.public_key",
        )
    try:
        mlkem_public = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC_KEY_BYTES])
        x_public = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC_KEY_BYTES:])
    except ValueError as exc:
        raise InputError(f"not a valid public key: {exc}", field="hpke.public_key") from exc
    # 6. key id
    key_id = card["regulator_key_id"]
    if not is_hex64(key_id):
        raise InputError("must be 64 lowercase hex characters", field="regulator_key_id")
    if not hmac.compare_digest(key_id, sha256_hex(raw)):
        raise InputError("does not match the HPKE public key", field="regulator_key_id")
    # 7. time
    created = parse_rfc3339(card["created"], field="created", error=InputError)
    return RegulatorCard(
        regulator_key_id=key_id,
        public_key_raw=raw,
        public_key=hpke.MLKEM768X25519PublicKey(mlkem_public, x_public),
        created=created,
        signer=signer,
        signature=signature,
    )


def load_card(path: str | os.PathLike[str]) -> RegulatorCard:
    """Read and validate a regulator card file (InputError naming the path and field)."""
    file_path = Path(path)
    data = read_small_file(
        file_path, limit=MAX_KEY_FILE_BYTES, what="regulator card", error=InputError
    )
    try:
        return parse_card(strict_json_loads(data, what="regulator card", error=InputError))
    except InputError as exc:
        raise InputError(f"{file_path}: {exc.message}", field=exc.field) from exc


def sealing_info(
    *,
    audit_id: str,
    profile_hash: str,
    regulator_key_id: str,
    client_key_id: str,
    receipt_digest: str,
) -> bytes:
    """HPKE ``info`` for one audit: canonical JSON of the purpose, audit id, profile hash,
    regulator key id, the key id of the client that seals and the digest of the receipt the
    key's ciphertexts were evaluated under. A sealed key therefore opens only for the audit,
    client and evaluation it was sealed for: it cannot be re-used under another client's
    signature or another receipt."""
    return canonical_json(
        {
            "purpose": SEALING_PURPOSE,
            "audit_id": audit_id,
            "profile_hash": profile_hash,
            "regulator_key_id": regulator_key_id,
            "client_key_id": client_key_id,
            "receipt_digest": receipt_digest,
        }
    )


def seal_secret_key(
    secret_key: bytes, *, card: Mapping[str, Any] | RegulatorCard, info: bytes
) -> dict[str, Any]:
    """Seal ``secret_key`` (serialized SEAL SecretKey) to the regulator on ``card``."""
    parsed = card if isinstance(card, RegulatorCard) else parse_card(card)
    if not isinstance(secret_key, bytes) or not secret_key:
        raise InputError("secret key must be non-empty bytes", field="secret_key")
    if not isinstance(info, bytes) or len(info) > MAX_INFO_BYTES:
        raise InputError(f"info must be bytes of at most {MAX_INFO_BYTES}", field="info")
    ciphertext = SUITE.encrypt(secret_key, parsed.public_key, info=info)
    return {
        "suite": dict(SUITE_DESCRIPTION),
        "regulator_key_id": parsed.regulator_key_id,
        "info": b64encode(info),
        "ciphertext": b64encode(ciphertext),
    }


def sealed_key_digest(sealed: Mapping[str, Any]) -> str:
    """Digest of a sealed key object: SHA-256 of its RFC 8785 canonical JSON."""
    return sha256_digest(canonical_json(dict(sealed)))


__all__ = [
    "AEAD_NAME",
    "CARD_FIELDS",
    "CARD_FILE",
    "CARD_PAYLOAD_TYPE",
    "CARD_SIGNER_KIND",
    "HPKE_FIELDS",
    "KDF_NAME",
    "KEM_NAME",
    "MAX_INFO_BYTES",
    "MAX_KEY_FILE_BYTES",
    "MAX_SEALED_CIPHERTEXT_BYTES",
    "MLKEM768_PUBLIC_KEY_BYTES",
    "MLKEM768_SEED_BYTES",
    "PRIVATE_FIELDS",
    "PRIVATE_KEY_FILE",
    "PRIVATE_KEY_FORMAT",
    "PUBLIC_KEY_BYTES",
    "SEALED_FIELDS",
    "SEALING_PURPOSE",
    "SUITE",
    "SUITE_DESCRIPTION",
    "X25519_KEY_BYTES",
    "RegulatorCard",
    "card_signing_input",
    "load_card",
    "parse_card",
    "seal_secret_key",
    "sealed_key_digest",
    "sealing_info",
    "sign_card",
    "unsigned_card",
]
