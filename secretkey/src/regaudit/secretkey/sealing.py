"""The regulator's private side of HPKE sealing: its key pair and unsealing.

Part of the ``regaudit-secretkey`` distribution (client and regulator only). The public side --
the regulator card, :func:`~regaudit.shared.evidence.sealing.sealing_info`,
:func:`~regaudit.shared.evidence.sealing.seal_secret_key` and
:func:`~regaudit.shared.evidence.sealing.sealed_key_digest` -- stays in
:mod:`regaudit.shared.evidence.sealing`; see there for the suite and the card format.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
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
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_rfc3339,
    is_hex64,
    parse_rfc3339,
    sha256_hex,
    strict_json_loads,
    utc_now,
)
from regaudit.shared.evidence.identity import SigningIdentity, read_small_file
from regaudit.shared.evidence.sealing import (
    CARD_FILE,
    KEM_NAME,
    MAX_KEY_FILE_BYTES,
    MAX_SEALED_CIPHERTEXT_BYTES,
    MLKEM768_SEED_BYTES,
    PRIVATE_FIELDS,
    PRIVATE_KEY_FILE,
    PRIVATE_KEY_FORMAT,
    SEALED_FIELDS,
    SUITE,
    SUITE_DESCRIPTION,
    X25519_KEY_BYTES,
    _exact,
    sign_card,
    unsigned_card,
)
from regaudit.shared.files import write_file_atomic


def _public_key_raw(
    mlkem_public: mlkem.MLKEM768PublicKey, x_public: x25519.X25519PublicKey
) -> bytes:
    return mlkem_public.public_bytes_raw() + x_public.public_bytes_raw()


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

    def card(self, *, signer: SigningIdentity) -> dict[str, Any]:
        """The public regulator card (safe to publish), signed by the regulator's Ed25519
        identity ``signer`` (kind ``regulator``; see
        :mod:`regaudit.shared.evidence.sealing` for the format)."""
        return sign_card(
            unsigned_card(
                regulator_key_id=self.key_id,
                public_key_raw=self.public_key_raw,
                created=self.created,
                signer=signer.public_record(),
            ),
            signer=signer,
        )

    def save(
        self,
        directory: str | os.PathLike[str],
        *,
        signer: SigningIdentity,
        overwrite: bool = False,
    ) -> Path:
        """Write ``regulator.hpke.key`` (mode 0600) and the public ``regulator-card.json``
        signed by ``signer``; returns the card path. Refuses to overwrite unless
        ``overwrite=True``. The signing identity itself is saved by the caller
        (:meth:`SigningIdentity.save`)."""
        key_path = Path(directory) / PRIVATE_KEY_FILE
        card_path = Path(directory) / CARD_FILE
        if not overwrite:
            for existing in (key_path, card_path):
                if existing.exists():
                    raise IdentityError(f"{existing} already exists; refusing to overwrite keys")
        card = canonical_json(self.card(signer=signer)) + b"\n"  # a bad signer fails first
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
            write_file_atomic(card_path, card, mode=0o644, overwrite=overwrite)
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


__all__ = [
    "CARD_FILE",
    "PRIVATE_KEY_FILE",
    "RegulatorKeys",
    "unseal_secret_key",
]
