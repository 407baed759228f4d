"""Hiding commitments to the client's input columns.

A commitment is ``"sha256:" + hex(SHA-256(TAG || salt || len(name) || name || column))``:

* ``TAG`` = ``b"regaudit/v1/column-commitment\\0"`` (domain separation);
* ``salt`` = 32 fresh random bytes per column and audit, kept by the client (the "opening");
* ``len(name)`` = 4-byte big-endian length of the UTF-8 column name, then the name;
* ``column`` = the canonical column bytes: every value as an IEEE 754 binary64, little-endian,
  in row order, with ``-0.0`` normalised to ``0.0``; NaN and infinities are refused.

Without the salt a 0/1 label column has few plausible values and a bare hash could be
brute-forced; with 256 random bits the commitment reveals nothing about the column.
:class:`ColumnCommitter` computes the same digest incrementally over chunks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Sequence

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import BundleFormatError, DigestMismatchError, InputError
from regaudit.shared.evidence.canonical import DIGEST_PREFIX, parse_digest

COMMITMENT_TAG = b"regaudit/v1/column-commitment\0"
SALT_BYTES = 32
MAX_COLUMN_NAME_BYTES = 1024


def canonical_column_bytes(values: FloatArray | Sequence[float], *, name: str = "values") -> bytes:
    """Little-endian float64 bytes of a 1-D finite column, ``-0.0`` normalised to ``0.0``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InputError(f"a column must be one-dimensional, got shape {array.shape}", field=name)
    if not np.all(np.isfinite(array)):
        raise InputError("a column must not contain NaN or infinity", field=name)
    return (array + 0.0).astype("<f8", copy=False).tobytes()


class ColumnCommitter:
    """Incremental commitment to one column: ``update`` with chunks in row order, then
    ``finalize``. Equal to :func:`commit_column` over the concatenated chunks."""

    def __init__(self, name: str, *, salt: bytes | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InputError("column name must be a non-empty string", field="name")
        encoded = name.encode("utf-8")
        if len(encoded) > MAX_COLUMN_NAME_BYTES:
            raise InputError(f"column name longer than {MAX_COLUMN_NAME_BYTES} bytes", field="name")
        self.salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        if len(self.salt) != SALT_BYTES:
            raise InputError(f"salt must be {SALT_BYTES} bytes", field="salt")
        self.name = name
        self._hash = hashlib.sha256()
        self._hash.update(COMMITMENT_TAG + self.salt + struct.pack(">I", len(encoded)) + encoded)

    def update(self, values: FloatArray | Sequence[float]) -> None:
        self._hash.update(canonical_column_bytes(values, name=self.name))

    def finalize(self) -> tuple[str, str]:
        """(commitment digest, salt hex)."""
        return DIGEST_PREFIX + self._hash.hexdigest(), self.salt.hex()


def commit_column(
    name: str, values: FloatArray | Sequence[float], *, salt: bytes | None = None
) -> tuple[str, str]:
    """Commit to column ``name`` with a fresh random salt (or ``salt``, for re-computation).

    Returns ``(commitment digest, salt hex)``; the salt is the opening and must stay with the
    client until the column is opened to the regulator.
    """
    committer = ColumnCommitter(name, salt=salt)
    committer.update(values)
    return committer.finalize()


def verify_opening(
    digest: str, *, name: str, values: FloatArray | Sequence[float], salt_hex: str
) -> None:
    """Check that (name, values, salt) opens ``digest``.

    Steps: 1. the digest and salt are well formed (BundleFormatError); 2. recompute the
    commitment; 3. compare in constant time (DigestMismatchError).
    """
    # 1. well-formed inputs
    parse_digest(digest, field="commitment")
    if not isinstance(salt_hex, str) or len(salt_hex) != 2 * SALT_BYTES:
        raise BundleFormatError(f"salt must be {2 * SALT_BYTES} hex characters", field="salt")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError as exc:
        raise BundleFormatError("salt is not hex", field="salt") from exc
    # 2. recompute
    expected, _ = commit_column(name, values, salt=salt)
    # 3. compare
    if not hmac.compare_digest(expected, digest):
        raise DigestMismatchError(
            f"column {name!r} does not open its commitment", field="input_commitments"
        )


__all__ = [
    "COMMITMENT_TAG",
    "MAX_COLUMN_NAME_BYTES",
    "SALT_BYTES",
    "ColumnCommitter",
    "canonical_column_bytes",
    "commit_column",
    "verify_opening",
]
