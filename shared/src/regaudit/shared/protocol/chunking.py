"""How streamed uploads are cut and ordered: byte pieces of at most :data:`CHUNK_BYTES` and the
ciphertext order of a job (canary first, then chunk-major)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from regaudit.shared.circuits.base import CANARY_COLUMN
from regaudit.shared.protocol.limits import CHUNK_BYTES


def split_bytes(data: bytes, size: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """``(offset, piece)`` pairs covering ``data`` in pieces of at most ``size`` bytes
    (one empty piece for empty data)."""
    if size < 1:
        raise ValueError("piece size must be positive")
    if not data:
        yield 0, b""
        return
    view = memoryview(data)
    for offset in range(0, len(data), size):
        yield offset, bytes(view[offset : offset + size])


def upload_order(
    plan_columns: Sequence[str], n_chunks: int, *, chunks: Iterable[int] | None = None
) -> Iterator[tuple[str, int]]:
    """The order ciphertexts must be sent in: the canary, then chunk-major, columns in order;
    ``chunks``: the chunk indices a sampled witness job receives, instead of ``range(n_chunks)``."""
    yield CANARY_COLUMN, 0
    for chunk in range(n_chunks) if chunks is None else chunks:
        for column in plan_columns:
            yield column, chunk


__all__ = ["split_bytes", "upload_order"]
