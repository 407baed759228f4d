"""Ed25519 signing identities of the evaluator, the client and the regulator, and their public
key files.

An identity directory holds ``<kind>.key`` (PKCS#8 PEM, unencrypted, file mode 0600) and
``<kind>.pub.json``::

    {"kind": "evaluator" | "client" | "regulator", "key_id": <64 hex>, "algorithm": "ed25519",
     "public_key": <base64 of the raw 32-byte key>, "created": <RFC 3339>}

``key_id`` is the lowercase hex SHA-256 of the raw 32-byte public key, so a key id can never
name two different keys.

The same public key also exports as PEM (SubjectPublicKeyInfo, what OpenSSL, cosign, pyca and
securesystemslib read), preceded by RFC 7468 explanatory lines that say whose key it is::

    Kind: client
    Key-Id: <64 hex>
    Created: <RFC 3339>
    -----BEGIN PUBLIC KEY-----
    MCowBQYDK2VwAyEA...
    -----END PUBLIC KEY-----

(:meth:`PublicKeyRecord.to_pem`, :meth:`PublicKeyRecord.from_pem`); :func:`load_public_key_file`
reads either form.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InternalError as CryptographyInternalError
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from regaudit.shared.errors import IdentityError, RegauditError
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
from regaudit.shared.files import write_file_atomic as write_file_atomic  # re-exported

ALGORITHM = "ed25519"
KINDS: tuple[str, ...] = ("evaluator", "client", "regulator")
ED25519_PUBLIC_KEY_BYTES = 32
#: Identity files are tiny; anything larger is not one of ours.
MAX_IDENTITY_FILE_BYTES = 64 * 1024
PUBLIC_KEY_FIELDS = ("kind", "key_id", "algorithm", "public_key", "created")
#: The explanatory lines a PEM export carries before its ``-----BEGIN PUBLIC KEY-----``.
PEM_HEADER_FIELDS = ("Kind", "Key-Id", "Created")
PEM_BEGIN = b"-----BEGIN PUBLIC KEY-----"


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """Key id: lowercase hex SHA-256 of the raw 32-byte Ed25519 public key."""
    return sha256_hex(public_key.public_bytes_raw())


def _check_kind(kind: object, *, error: type[RegauditError] = IdentityError) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise error(f"kind must be one of {', '.join(KINDS)}, got {kind!r:.40}", field="kind")
    return kind


def private_key_path(directory: str | os.PathLike[str], kind: str) -> Path:
    return Path(directory) / f"{kind}.key"


def public_key_path(directory: str | os.PathLike[str], kind: str) -> Path:
    return Path(directory) / f"{kind}.pub.json"


def read_small_file(
    path: Path, *, limit: int, what: str, error: type[RegauditError] = IdentityError
) -> bytes:
    """Read a file of at most ``limit`` bytes; ``error`` (naming the path) otherwise."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(f"{what} {path} is {size} bytes, more than the {limit} allowed")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc


@dataclass(frozen=True)
class PublicKeyRecord:
    """A published Ed25519 public key (the content of a ``<kind>.pub.json`` file).

    ``created`` is None only for records returned by the trust store (which keeps ``added_at``
    instead); such records cannot be serialized back into a ``.pub.json`` file.
    """

    kind: str
    key_id: str
    public_key_raw: bytes
    created: datetime | None = None
    algorithm: str = ALGORITHM

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key as a pyca object, ready for :func:`dsse.verify_envelope`."""
        return Ed25519PublicKey.from_public_bytes(self.public_key_raw)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "kind": self.kind,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "public_key": b64encode(self.public_key_raw),
        }
        if self.created is not None:
            result["created"] = format_rfc3339(self.created)
        return result

    @classmethod
    def from_dict(
        cls, data: object, *, error: type[RegauditError] = IdentityError
    ) -> PublicKeyRecord:
        """Validate every field of a public key record; ``error`` names the bad field.

        Steps: 1. a JSON object with exactly the five fields; 2. kind and algorithm known;
        3. the key decodes to 32 valid Ed25519 bytes; 4. key_id is 64 hex and equals SHA-256 of
        the key; 5. created is RFC 3339.
        """
        # 1. shape
        if not isinstance(data, Mapping):
            raise error("public key record must be a JSON object")
        missing = [name for name in PUBLIC_KEY_FIELDS if name not in data]
        if missing:
            raise error("missing field", field=missing[0])
        extra = sorted(set(data) - set(PUBLIC_KEY_FIELDS))
        if extra:
            raise error("unexpected field", field=str(extra[0]))
        # 2. kind and algorithm
        kind = _check_kind(data["kind"], error=error)
        if data["algorithm"] != ALGORITHM:
            raise error(f"algorithm must be {ALGORITHM!r}", field="algorithm")
        # 3. key bytes
        raw = b64decode(data["public_key"], field="public_key", error=error)
        if len(raw) != ED25519_PUBLIC_KEY_BYTES:
            raise error(
                f"an Ed25519 public key is {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(raw)}",
                field="public_key",
            )
        try:
            Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise error(f"not an Ed25519 public key: {exc}", field="public_key") from exc
        # 4. key id binds the key
        key_id = data["key_id"]
        if not is_hex64(key_id):
            raise error("key_id must be 64 lowercase hex characters", field="key_id")
        if key_id != sha256_hex(raw):
            raise error("key_id does not match the public key", field="key_id")
        # 5. creation time
        created = parse_rfc3339(data["created"], field="created", error=error)
        return cls(kind=kind, key_id=key_id, public_key_raw=raw, created=created)

    def to_pem(self) -> bytes:
        """The key as PEM (SubjectPublicKeyInfo), after ``Kind``/``Key-Id``/``Created`` lines."""
        lines = [f"Kind: {self.kind}", f"Key-Id: {self.key_id}"]
        if self.created is not None:
            lines.append(f"Created: {format_rfc3339(self.created)}")
        spki = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "\n".join(lines).encode("ascii") + b"\n" + spki

    @classmethod
    def from_pem(
        cls,
        data: bytes,
        *,
        kind: str | None = None,
        error: type[RegauditError] = IdentityError,
    ) -> PublicKeyRecord:
        """Read a PEM Ed25519 public key (ours, or any SubjectPublicKeyInfo PEM); ``error``
        names the field.

        Steps: 1. the explanatory lines before ``-----BEGIN PUBLIC KEY-----`` are ``Name:
        value`` lines of :data:`PEM_HEADER_FIELDS`, each at most once; 2. the PEM holds an
        Ed25519 public key; 3. the kind is ``kind`` or the ``Kind`` line (both given: they
        agree; neither: refused); 4. a ``Key-Id`` line equals SHA-256 of the key; 5. a
        ``Created`` line is RFC 3339.
        """
        # 1. explanatory lines
        start = data.find(PEM_BEGIN)
        if start < 0:
            raise error("not a PEM public key (no -----BEGIN PUBLIC KEY----- line)")
        headers: dict[str, str] = {}
        for raw_line in data[:start].decode("utf-8", errors="replace").splitlines():
            if not raw_line.strip():
                continue
            name, sep, value = raw_line.partition(":")
            if not sep or name.strip() not in PEM_HEADER_FIELDS or name.strip() in headers:
                raise error(
                    f"unexpected line before the PEM key: {raw_line.strip()!r:.60} "
                    f"(allowed: {', '.join(f'{n}: ...' for n in PEM_HEADER_FIELDS)})",
                    field="pem",
                )
            headers[name.strip()] = value.strip()
        # 2. the key
        try:
            public_key = serialization.load_pem_public_key(data[start:])
        except (ValueError, TypeError, UnsupportedAlgorithm, CryptographyInternalError) as exc:
            raise error(
                f"not a readable PEM public key: {exc or type(exc).__name__}", field="pem"
            ) from exc
        if not isinstance(public_key, Ed25519PublicKey):
            raise error(
                f"a regaudit key is Ed25519, this PEM holds a {type(public_key).__name__}",
                field="algorithm",
            )
        raw = public_key.public_bytes_raw()
        # 3. kind
        named = headers.get("Kind")
        if kind is not None and named is not None and kind != named:
            raise error(f"the PEM says Kind: {named}, not {kind}", field="kind")
        chosen = kind if kind is not None else named
        if chosen is None:
            raise error(
                "a PEM public key without a 'Kind:' line does not say whose key it is: "
                f"add a line 'Kind: <{'|'.join(KINDS)}>' before -----BEGIN PUBLIC KEY-----",
                field="kind",
            )
        chosen = _check_kind(chosen, error=error)
        # 4. key id
        key_id = sha256_hex(raw)
        if "Key-Id" in headers and headers["Key-Id"] != key_id:
            raise error("Key-Id does not match the public key", field="key_id")
        # 5. creation time
        created = None
        if "Created" in headers:
            created = parse_rfc3339(headers["Created"], field="created", error=error)
        return cls(kind=chosen, key_id=key_id, public_key_raw=raw, created=created)


def load_public_key_file(
    path: str | os.PathLike[str], *, kind: str | None = None
) -> PublicKeyRecord:
    """Read and validate a public key file: a ``<kind>.pub.json`` record, or a PEM public key
    (:meth:`PublicKeyRecord.from_pem`; ``kind`` for a PEM without a ``Kind:`` line);
    IdentityError names the path and field."""
    file_path = Path(path)
    data = read_small_file(file_path, limit=MAX_IDENTITY_FILE_BYTES, what="public key file")
    try:
        if PEM_BEGIN in data:
            return PublicKeyRecord.from_pem(data, kind=kind)
        parsed = strict_json_loads(data, what="public key file", error=IdentityError)
        if isinstance(parsed, dict) and {"hpke", "regulator_key_id", "signer"} <= parsed.keys():
            raise IdentityError(
                "this file is a regulator card, not a public key: use it with --regulator-card "
                "(the regulator's public key is regulator.pub.json next to it)",
                field="public_key_file",
            )
        return PublicKeyRecord.from_dict(parsed)
    except IdentityError as exc:
        raise IdentityError(f"{file_path}: {exc.message}", field=exc.field) from exc


class SigningIdentity:
    """An Ed25519 private key with its kind (evaluator, client or regulator)."""

    def __init__(self, *, kind: str, private_key: Ed25519PrivateKey, created: datetime) -> None:
        self.kind = _check_kind(kind)
        self._private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.key_id: str = key_id_for(self.public_key)
        self.created = created

    def __repr__(self) -> str:
        return f"SigningIdentity(kind={self.kind!r}, key_id={self.key_id[:16]}...)"

    @classmethod
    def generate(cls, kind: str) -> SigningIdentity:
        """A fresh random identity of ``kind``."""
        return cls(kind=kind, private_key=Ed25519PrivateKey.generate(), created=utc_now())

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature (64 bytes) over ``data``."""
        return self._private_key.sign(data)

    def derive_secret(self, *, info: bytes, salt: bytes, length: int = 32) -> bytes:
        """A secret only this identity can derive: HKDF-SHA256 over the raw private key, with
        ``salt`` and a purpose label ``info`` (e.g. the key that seals a client's resume
        journal at rest). Never the signing key itself; distinct ``info`` gives unrelated keys."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        if not info:
            raise ValueError("derive_secret needs a purpose label (info)")
        raw = self._private_key.private_bytes_raw()
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(raw)

    def public_pem(self) -> bytes:
        """This identity's public key as PEM (:meth:`PublicKeyRecord.to_pem`)."""
        return self.public_record().to_pem()

    def public_record(self) -> PublicKeyRecord:
        return PublicKeyRecord(
            kind=self.kind,
            key_id=self.key_id,
            public_key_raw=self.public_key.public_bytes_raw(),
            created=self.created,
        )

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write ``<kind>.key`` (mode 0600) and ``<kind>.pub.json``; returns the public file.

        Refuses (IdentityError) to replace existing files unless ``overwrite=True``.
        """
        key_path = private_key_path(directory, self.kind)
        pub_path = public_key_path(directory, self.kind)
        if not overwrite:
            for existing in (key_path, pub_path):
                if existing.exists():
                    raise IdentityError(
                        f"{existing} already exists; refusing to overwrite an identity"
                    )
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
            write_file_atomic(key_path, pem, mode=0o600, overwrite=overwrite)
            write_file_atomic(
                pub_path,
                canonical_json(self.public_record().to_dict()) + b"\n",
                mode=0o644,
                overwrite=overwrite,
            )
        except FileExistsError as exc:
            raise IdentityError(f"{exc.filename} already exists; refusing to overwrite") from exc
        except OSError as exc:
            raise IdentityError(f"cannot write identity to {directory}: {exc}") from exc
        return pub_path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, kind: str) -> SigningIdentity:
        """Load the identity of ``kind`` from ``directory``.

        Steps: 1. the private key file exists, is not readable by group/others, and is an
        unencrypted PKCS#8 Ed25519 key; 2. the public key file is valid, of the same kind, and
        names the same key.
        """
        _check_kind(kind)
        key_path = private_key_path(directory, kind)
        pub_path = public_key_path(directory, kind)
        # 1. private key
        pem = read_small_file(key_path, limit=MAX_IDENTITY_FILE_BYTES, what="private key file")
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            raise IdentityError(
                f"private key file {key_path} has mode {mode:04o}; it must not be accessible "
                "to group or others (chmod 600)"
            )
        try:
            private_key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise IdentityError(f"{key_path} is not a PKCS#8 PEM private key: {exc}") from exc
        except (UnsupportedAlgorithm, CryptographyInternalError) as exc:
            # an algorithm OpenSSL does not know, or a key that does not fit its algorithm
            # (e.g. Ed448's OID on 32 key bytes): not an Ed25519 key either way
            raise IdentityError(
                f"{key_path} does not hold a usable Ed25519 key: {exc or type(exc).__name__}"
            ) from exc
        if not isinstance(private_key, Ed25519PrivateKey):
            raise IdentityError(f"{key_path} does not hold an Ed25519 key")
        # 2. public record matches
        record = load_public_key_file(pub_path)
        if record.kind != kind:
            raise IdentityError(f"{pub_path}: kind is {record.kind!r}, expected {kind!r}")
        if record.public_key_raw != private_key.public_key().public_bytes_raw():
            raise IdentityError(f"{pub_path} does not match the private key in {key_path}")
        assert record.created is not None  # from_dict always sets it
        return cls(kind=kind, private_key=private_key, created=record.created)


__all__ = [
    "ALGORITHM",
    "ED25519_PUBLIC_KEY_BYTES",
    "KINDS",
    "MAX_IDENTITY_FILE_BYTES",
    "PEM_BEGIN",
    "PEM_HEADER_FIELDS",
    "PUBLIC_KEY_FIELDS",
    "PublicKeyRecord",
    "SigningIdentity",
    "key_id_for",
    "load_public_key_file",
    "private_key_path",
    "public_key_path",
    "read_small_file",
    "write_file_atomic",
]
