"""Secret-key-only SEAL helpers (``tenseal.sealapi``). Not public API.

Together with :mod:`regaudit.shared._internal.seal` (contexts, canonical scales, public-object
(de)serialization), this is the only module that touches ``tenseal.sealapi``. Everything that
needs the CKKS secret key lives here: the key generator, the symmetric encryptor, the
decryptor, and the (de)serialization of the secret key itself.

**The serialized secret key never touches a named file.** SEAL's ``save``/``load`` take file
paths, so the key is written to and read from an anonymous in-memory file
(:func:`os.memfd_create`, close-on-exec) through its ``/proc/self/fd/<n>`` path. The file has
no name in any file system, is not inherited by child processes and vanishes with its last
descriptor, including when the process is killed. There is deliberately no fallback to
``/dev/shm`` or disk: without memfd (non-Linux, or ``/proc`` not mounted) secret-key
(de)serialization fails with :class:`~regaudit.shared.errors.KeyMaterialError`.
"""

from __future__ import annotations

import os
from typing import Any, TypeAlias

import tenseal.sealapi as sealapi

from regaudit.shared._internal import seal
from regaudit.shared.errors import KeyMaterialError

# ``tenseal.sealapi`` has no type stubs: its secret-key objects are named here, once (the public
# ones in regaudit.shared._internal.seal).
SealSecretKey: TypeAlias = Any  # tenseal.sealapi.SecretKey (no stubs)
SealKeyGenerator: TypeAlias = Any  # tenseal.sealapi.KeyGenerator (no stubs)
SealEncryptor: TypeAlias = Any  # tenseal.sealapi.Encryptor (no stubs)
SealDecryptor: TypeAlias = Any  # tenseal.sealapi.Decryptor (no stubs)

#: Name shown in ``/proc/<pid>/fd`` for the in-memory secret-key file (no file-system name).
MEMFD_NAME = "regaudit-secret-key"


def _memfd() -> int:
    """An anonymous close-on-exec in-memory file, or KeyMaterialError (no fallback)."""
    create = getattr(os, "memfd_create", None)
    if create is None or not os.path.isdir("/proc/self/fd"):
        raise KeyMaterialError(
            "memfd_create or /proc/self/fd is unavailable: refusing to serialize a CKKS secret "
            "key through a named file (Linux with /proc is required for secret-key operations)"
        )
    try:
        return int(create(MEMFD_NAME, os.MFD_CLOEXEC))
    except OSError as exc:
        raise KeyMaterialError(
            f"memfd_create failed ({exc}): refusing to serialize a CKKS secret key through a "
            "named file"
        ) from None


def _fd_path(fd: int) -> str:
    """The ``/proc`` path through which SEAL reads or writes descriptor ``fd``."""
    return f"/proc/self/fd/{fd}"


def _read_all(fd: int) -> bytes:
    """Every byte of the file behind ``fd``."""
    size = os.fstat(fd).st_size
    parts: list[bytes] = []
    offset = 0
    while offset < size:
        part = os.pread(fd, size - offset, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` from offset 0."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


def secret_key_to_bytes(secret_key: SealSecretKey) -> bytes:
    """Serialize a SEAL SecretKey (SEAL's default compression) through a memfd."""
    fd = _memfd()
    try:
        try:
            secret_key.save(_fd_path(fd))
        except (ValueError, RuntimeError, TypeError, OSError) as exc:
            raise KeyMaterialError(f"cannot serialize the secret key: {exc}") from None
        return _read_all(fd)
    finally:
        os.close(fd)


def secret_key_from_bytes(sctx: seal.SealContext, data: bytes) -> SealSecretKey:
    """Load a SEAL SecretKey from bytes through a memfd (framing checked first, like
    :func:`regaudit.shared._internal.seal.from_bytes`); KeyMaterialError on any failure."""
    seal.check_serialized(data, what="secret key", error=KeyMaterialError)
    key = sealapi.SecretKey()
    fd = _memfd()
    try:
        _write_all(fd, data)
        key.load(sctx.context, _fd_path(fd))
    except (ValueError, RuntimeError, TypeError, OSError, MemoryError) as exc:
        raise KeyMaterialError(f"malformed secret key: {exc}") from None
    finally:
        os.close(fd)
    return key


def new_key_generator(sctx: seal.SealContext) -> SealKeyGenerator:
    """A fresh SEAL KeyGenerator (it draws a new secret key)."""
    return sealapi.KeyGenerator(sctx.context)


def new_encryptor(sctx: seal.SealContext, secret_key: SealSecretKey) -> SealEncryptor:
    """A symmetric (secret-key) Encryptor; no public key is ever created."""
    return sealapi.Encryptor(sctx.context, secret_key)


def new_decryptor(sctx: seal.SealContext, secret_key: SealSecretKey) -> SealDecryptor:
    """A Decryptor for ``secret_key``."""
    return sealapi.Decryptor(sctx.context, secret_key)


def new_plaintext() -> seal.SealPlaintext:
    """An empty SEAL plaintext (to decrypt into)."""
    return sealapi.Plaintext()


__all__ = [
    "MEMFD_NAME",
    "SealDecryptor",
    "SealEncryptor",
    "SealKeyGenerator",
    "SealSecretKey",
    "new_decryptor",
    "new_encryptor",
    "new_key_generator",
    "new_plaintext",
    "secret_key_from_bytes",
    "secret_key_to_bytes",
]
