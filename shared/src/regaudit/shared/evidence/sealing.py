"""Sealing the client's CKKS secret key to the regulator with HPKE (RFC 9180).

Suite: KEM ML-KEM-768 + X25519 hybrid (post-quantum: CKKS itself is lattice-based, so sealing
its key with X25519 alone would be the weak link), KDF HKDF-SHA256, AEAD AES-256-GCM, base
mode, pyca ``cryptography`` >= 50.

The regulator publishes a *card*::

    {"kind": "regulator", "regulator_key_id": <64 hex>, "created": <RFC 3339>,
     "hpke": {"kem": "MLKEM768_X25519", "kdf": "HKDF_SHA256", "aead": "AES_256_GCM",
              "public_key": <base64 of ML-KEM-768 public key (1184 B) || X25519 public key (32 B)>}}

``regulator_key_id`` = lowercase hex SHA-256 of the same concatenated public key bytes. The HPKE
``info`` binds the sealed key to one audit, profile and regulator (:func:`sealing_info`).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    IdentityError,
    InputError,
    RegauditError,
    WrongRegulatorKeyError,
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
    utc_now,
)
from regaudit.shared.evidence.identity import read_small_file, write_file_atomic

KEM_NAME = "MLKEM768_X25519"
KDF_NAME = "HKDF_SHA256"
AEAD_NAME = "AES_256_GCM"
SUITE_DESCRIPTION: dict[str, str] = {"kem": KEM_NAME, "kdf": KDF_NAME, "aead": AEAD_NAME}
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SEALING_PURPOSE = "regaudit/v1/ckks-secret-key"

MLKEM768_PUBLIC_KEY_BYTES = 1184
MLKEM768_SEED_BYTES = 64
X25519_KEY_BYTES = 32
PUBLIC_KEY_BYTES = MLKEM768_PUBLIC_KEY_BYTES + X25519_KEY_BYTES

PRIVATE_KEY_FILE = "regulator.hpke.key"
CARD_FILE = "regulator-card.json"
PRIVATE_KEY_FORMAT = "regaudit.regulator-hpke-key.v1"
CARD_FIELDS = ("kind", "regulator_key_id", "hpke", "created")
HPKE_FIELDS = ("kem", "kdf", "aead", "public_key")
SEALED_FIELDS = ("suite", "regulator_key_id", "info", "ciphertext")
PRIVATE_FIELDS = ("format", "kem", "mlkem768_seed", "x25519_private", "created")

MAX_KEY_FILE_BYTES = 64 * 1024
#: A SEAL secret key at N=2^15 is a few MB; anything larger is refused before decryption.
MAX_SEALED_CIPHERTEXT_BYTES = 16 * 1024 * 1024
MAX_INFO_BYTES = 4096


def _public_key_raw(
    mlkem_public: mlkem.MLKEM768PublicKey, x_public: x25519.X25519PublicKey
) -> bytes:
    return mlkem_public.public_bytes_raw() + x_public.public_bytes_raw()


@dataclass(frozen=True)
class RegulatorCard:
    """A parsed, validated regulator card."""

    regulator_key_id: str
    public_key_raw: bytes
    public_key: hpke.MLKEM768X25519PublicKey
    created: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "regulator",
            "regulator_key_id": self.regulator_key_id,
            "hpke": {**SUITE_DESCRIPTION, "public_key": b64encode(self.public_key_raw)},
            "created": format_rfc3339(self.created),
        }


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
    """Validate a regulator card dict and rebuild its HPKE public key; InputError names the
    field.

    Steps: 1. exact fields, kind; 2. suite names; 3. key bytes decode and have the right
    lengths and form; 4. regulator_key_id = SHA-256 of the key bytes; 5. created is RFC 3339.
    """
    # 1. shape
    card = _exact(data, CARD_FIELDS, what="regulator card", error=InputError)
    if card["kind"] != "regulator":
        raise InputError("must be 'regulator'", field="kind")
    hpke_part = _exact(card["hpke"], HPKE_FIELDS, what="hpke", error=InputError)
    # 2. suite
    for name, expected in SUITE_DESCRIPTION.items():
        if hpke_part[name] != expected:
            raise InputError(
                f"unsupported {name} {hpke_part[name]!r:.40}, expected {expected!r}",
                field=f"hpke.{name}",
            )
    # 3. key bytes
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
    # 4. key id
    key_id = card["regulator_key_id"]
    if not is_hex64(key_id):
        raise InputError("must be 64 lowercase hex characters", field="regulator_key_id")
    if not hmac.compare_digest(key_id, sha256_hex(raw)):
        raise InputError("does not match the HPKE public key", field="regulator_key_id")
    # 5. time
    created = parse_rfc3339(card["created"], field="created", error=InputError)
    return RegulatorCard(
        regulator_key_id=key_id,
        public_key_raw=raw,
        public_key=hpke.MLKEM768X25519PublicKey(mlkem_public, x_public),
        created=created,
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


class RegulatorKeys:
    """The regulator's HPKE key pair (ML-KEM-768 + X25519)."""

    def __init__(
        self,
        *,
        mlkem_private: mlkem.MLKEM768PrivateKey,
        x25519_private: x25519.X25519PrivateKey,
        created: datetime,
    ) -> None:
        self._mlkem = mlkem_private
        self._x25519 = x25519_private
        self._private = hpke.MLKEM768X25519PrivateKey(mlkem_private, x25519_private)
        self.public_key_raw = _public_key_raw(
            mlkem_private.public_key(), x25519_private.public_key()
        )
        self.key_id: str = sha256_hex(self.public_key_raw)
        self.created = created

    def __repr__(self) -> str:
        return f"RegulatorKeys(key_id={self.key_id[:16]}...)"

    @classmethod
    def generate(cls) -> RegulatorKeys:
        return cls(
            mlkem_private=mlkem.MLKEM768PrivateKey.generate(),
            x25519_private=x25519.X25519PrivateKey.generate(),
            created=utc_now(),
        )

    def card(self) -> dict[str, Any]:
        """The public regulator card (safe to publish)."""
        return RegulatorCard(
            regulator_key_id=self.key_id,
            public_key_raw=self.public_key_raw,
            public_key=self._private.public_key(),
            created=self.created,
        ).to_dict()

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write ``regulator.hpke.key`` (mode 0600) and the public ``regulator-card.json``;
        returns the card path. Refuses to overwrite unless ``overwrite=True``."""
        key_path = Path(directory) / PRIVATE_KEY_FILE
        card_path = Path(directory) / CARD_FILE
        if not overwrite:
            for existing in (key_path, card_path):
                if existing.exists():
                    raise IdentityError(f"{existing} already exists; refusing to overwrite keys")
        private = {
            "format": PRIVATE_KEY_FORMAT,
            "kem": KEM_NAME,
            "mlkem768_seed": b64encode(self._mlkem.private_bytes_raw()),
            "x25519_private": b64encode(self._x25519.private_bytes_raw()),
            "created": format_rfc3339(self.created),
        }
        try:
            Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
            write_file_atomic(
                key_path, canonical_json(private) + b"\n", mode=0o600, overwrite=overwrite
            )
            write_file_atomic(
                card_path, canonical_json(self.card()) + b"\n", mode=0o644, overwrite=overwrite
            )
        except FileExistsError as exc:
            raise IdentityError(f"{exc.filename} already exists; refusing to overwrite") from exc
        except OSError as exc:
            raise IdentityError(f"cannot write regulator keys to {directory}: {exc}") from exc
        return card_path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> RegulatorKeys:
        """Load ``regulator.hpke.key`` from ``directory`` (IdentityError naming the path).

        Steps: 1. the file exists, is private (no group/other access) and small; 2. exact
        fields and format; 3. the seed and X25519 key decode to keys of the right size.
        """
        key_path = Path(directory) / PRIVATE_KEY_FILE
        # 1. file
        data = read_small_file(key_path, limit=MAX_KEY_FILE_BYTES, what="regulator key file")
        mode = key_path.stat().st_mode & 0o777
        if mode & 0o077:
            raise IdentityError(
                f"regulator key file {key_path} has mode {mode:04o}; it must "
                "not be accessible to group or others (chmod 600)"
            )
        try:
            # 2. fields
            parsed = _exact(
                strict_json_loads(data, what="regulator key file", error=IdentityError),
                PRIVATE_FIELDS,
                what="regulator key file",
                error=IdentityError,
            )
            if parsed["format"] != PRIVATE_KEY_FORMAT or parsed["kem"] != KEM_NAME:
                raise IdentityError(f"not a {PRIVATE_KEY_FORMAT} / {KEM_NAME} key", field="format")
            # 3. keys
            seed = b64decode(parsed["mlkem768_seed"], field="mlkem768_seed", error=IdentityError)
            x_raw = b64decode(parsed["x25519_private"], field="x25519_private", error=IdentityError)
            if len(seed) != MLKEM768_SEED_BYTES or len(x_raw) != X25519_KEY_BYTES:
                raise IdentityError("wrong key length", field="mlkem768_seed/x25519_private")
            created = parse_rfc3339(parsed["created"], field="created", error=IdentityError)
            return cls(
                mlkem_private=mlkem.MLKEM768PrivateKey.from_seed_bytes(seed),
                x25519_private=x25519.X25519PrivateKey.from_private_bytes(x_raw),
                created=created,
            )
        except IdentityError as exc:
            raise IdentityError(f"{key_path}: {exc.message}", field=exc.field) from exc
        except ValueError as exc:
            raise IdentityError(f"{key_path}: invalid key material: {exc}") from exc

    def _open(self, ciphertext: bytes, *, info: bytes) -> bytes:
        return SUITE.decrypt(ciphertext, self._private, info=info)


def sealing_info(*, audit_id: str, profile_hash: str, regulator_key_id: str) -> bytes:
    """HPKE ``info`` for one audit: canonical JSON of the purpose, audit id, profile hash and
    regulator key id."""
    return canonical_json(
        {
            "purpose": SEALING_PURPOSE,
            "audit_id": audit_id,
            "profile_hash": profile_hash,
            "regulator_key_id": regulator_key_id,
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


def unseal_secret_key(sealed: Mapping[str, Any], *, keys: RegulatorKeys, info: bytes) -> bytes:
    """Open a sealed key with the regulator's keys, expecting HPKE ``info``.

    Steps: 1. exact structure and known suite (BundleFormatError); 2. the sealed key names
    this regulator's key id (WrongRegulatorKeyError); 3. the recorded info equals the expected
    info, i.e. the key was sealed for this audit and profile (DigestMismatchError); 4. size
    cap, then HPKE open with the expected info; any failure means the ciphertext was not made
    for this key or was altered (WrongRegulatorKeyError).
    """
    # 1. structure
    obj = _exact(sealed, SEALED_FIELDS, what="sealed_key", error=BundleFormatError)
    if obj["suite"] != SUITE_DESCRIPTION:
        raise BundleFormatError(
            f"unsupported HPKE suite {obj['suite']!r:.120}", field="sealed_key.suite"
        )
    if not is_hex64(obj["regulator_key_id"]):
        raise BundleFormatError(
            "must be 64 lowercase hex characters", field="sealed_key.regulator_key_id"
        )
    recorded_info = b64decode(obj["info"], field="sealed_key.info")
    # 2. addressed to us?
    if not hmac.compare_digest(obj["regulator_key_id"], keys.key_id):
        raise WrongRegulatorKeyError(
            f"the key was sealed to regulator key {obj['regulator_key_id'][:16]}..., "
            f"this regulator is {keys.key_id[:16]}...",
            field="sealed_key.regulator_key_id",
        )
    # 3. bound to this audit/profile?
    if not hmac.compare_digest(recorded_info, info):
        raise DigestMismatchError(
            "the sealed key was bound to a different audit, profile or regulator "
            "(HPKE info mismatch)",
            field="sealed_key.info",
        )
    # 4. open
    ciphertext_text = obj["ciphertext"]
    if isinstance(ciphertext_text, str) and len(ciphertext_text) > (
        MAX_SEALED_CIPHERTEXT_BYTES * 4 // 3 + 4
    ):
        raise BundleFormatError("sealed ciphertext too large", field="sealed_key.ciphertext")
    ciphertext = b64decode(ciphertext_text, field="sealed_key.ciphertext")
    try:
        return keys._open(ciphertext, info=info)
    except (InvalidTag, ValueError) as exc:
        raise WrongRegulatorKeyError(
            "HPKE decryption failed: the sealed key was not made for this regulator key "
            "or was altered",
            field="sealed_key.ciphertext",
        ) from exc
