"""Canonical ciphertext content: the digest a witness comparison uses does not depend on the
compression of the bytes an evaluator returned, and the framing around the content is checked
strictly (real SEAL ciphertexts, the small profile)."""

from __future__ import annotations

import io
import struct
from functools import cache

import numpy as np
import pytest
import zstandard

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.ciphertext_content import (
    MAX_CONTENT_BYTES,
    ciphertext_content,
    ciphertext_content_digest,
    seal_serialization_version,
)
from regaudit.shared.ckks import load_ciphertext
from regaudit.shared.errors import CiphertextError
from regaudit.shared.profiles import get_profile

PROFILE = get_profile("ckks-n8192-d3-v1")
HEADER = struct.Struct("<HBBBBHQ")


@cache
def ciphertexts() -> tuple[bytes, bytes]:
    """Two evaluated (non-seeded) ciphertexts as an evaluator returns them (zstd)."""
    keys = ClientKeys.generate(PROFILE, galois_steps=())
    first = load_ciphertext(PROFILE, keys.encrypt(np.ones(4), level=0), level=0).to_bytes()
    second = load_ciphertext(PROFILE, keys.encrypt(np.ones(4), level=0), level=0).to_bytes()
    return first, second


def body_of(data: bytes) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data[16:]))
    with reader:
        return reader.read()


def reframed(data: bytes, body: bytes, compression: int) -> bytes:
    magic, size, major, minor, _mode, reserved, _total = HEADER.unpack_from(data)
    return HEADER.pack(magic, size, major, minor, compression, reserved, 16 + len(body)) + body


def test_content_is_independent_of_compression() -> None:
    data, _ = ciphertexts()
    body = body_of(data)
    uncompressed = reframed(data, body, 0)
    recompressed = reframed(data, zstandard.ZstdCompressor(level=19).compress(body), 2)
    assert len({data, uncompressed, recompressed}) == 3
    digests = {ciphertext_content_digest(x) for x in (data, uncompressed, recompressed)}
    assert len(digests) == 1
    # SEAL itself loads the uncompressed framing: it is the same ciphertext
    reloaded = load_ciphertext(PROFILE, uncompressed, level=0)
    assert ciphertext_content_digest(reloaded.to_bytes()) == digests.pop()


def test_content_ignores_the_nested_serialization_version_only() -> None:
    data, other = ciphertexts()
    assert ciphertext_content_digest(data) != ciphertext_content_digest(other)
    body = bytearray(body_of(data))
    body[73 + 4] ^= 0x01  # the coefficient array's SEAL minor version
    assert ciphertext_content(reframed(data, bytes(body), 0)) == ciphertext_content(data)
    body[-1] ^= 0x01  # one coefficient bit
    assert ciphertext_content(reframed(data, bytes(body), 0)) != ciphertext_content(data)
    assert seal_serialization_version(data).startswith("4.")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:10], "shorter than a SEAL header"),
        (lambda d: b"\x00\x00" + d[2:], "not a SEAL serialization"),
        (lambda d: d[:-1], "declares"),
        (lambda d: d[:5] + b"\x01" + d[6:], "compression mode 1"),
        (lambda d: d[:16] + b"\x00" * 8 + d[24:], "zstd"),
    ],
)
def test_malformed_framing_is_refused(mutate: object, message: str) -> None:
    data, _ = ciphertexts()
    with pytest.raises(CiphertextError, match=message):
        ciphertext_content(mutate(data))  # type: ignore[operator]


def test_truncated_or_padded_content_is_refused() -> None:
    data, _ = ciphertexts()
    body = body_of(data)
    with pytest.raises(CiphertextError, match="wrong length"):
        ciphertext_content(reframed(data, body[:-8], 0))
    with pytest.raises(CiphertextError, match="wrong length"):
        ciphertext_content(reframed(data, body + b"\x00" * 8, 0))


def test_a_decompression_bomb_is_refused() -> None:
    data, _ = ciphertexts()
    bomb = zstandard.ZstdCompressor().compress(b"\x00" * (MAX_CONTENT_BYTES + 4096))
    with pytest.raises(CiphertextError, match="inflates beyond"):
        ciphertext_content(reframed(data, bomb, 2))
