"""Ciphertext (de)serialization: levels, sizes and every rejection path of load_ciphertext."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared._internal import seal
from regaudit.shared.ckks import MAX_CIPHERTEXT_BYTES, load_ciphertext
from regaudit.shared.errors import CiphertextError, InputError
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

PROFILE = PROFILE_N8192_D3
SLOTS = PROFILE.slot_count


@pytest.fixture(scope="module")
def client() -> ClientKeys:
    return ClientKeys.generate(PROFILE, galois_steps=[])


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return np.random.default_rng(7).uniform(-10.0, 10.0, SLOTS)


def test_deeper_levels_give_smaller_ciphertexts_loadable_only_there(
    client: ClientKeys, values: np.ndarray
) -> None:
    blobs = [client.encrypt(values, level=level) for level in range(PROFILE.max_depth + 1)]
    sizes = [len(blob) for blob in blobs]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    decryptor = client.decryptor()
    for level, blob in enumerate(blobs):
        vector = load_ciphertext(PROFILE, blob, level=level)
        assert vector.level == level
        np.testing.assert_allclose(decryptor.decrypt(blob, level=level), values, atol=1e-4)
        for other in range(PROFILE.max_depth + 1):
            if other == level:
                continue
            with pytest.raises(CiphertextError) as info:
                load_ciphertext(PROFILE, blob, level=other)
            assert f"at level {level}" in str(info.value)
            assert f"expected level {other}" in str(info.value)


def test_seeded_encryption_is_half_a_saved_ciphertext(
    client: ClientKeys, values: np.ndarray
) -> None:
    blob = client.encrypt(values, level=0)
    full = load_ciphertext(PROFILE, blob, level=0).to_bytes()
    assert len(blob) < 0.6 * len(full)
    # a re-serialized ciphertext loads at the same level
    assert load_ciphertext(PROFILE, full, level=0).level == 0


def test_level_outside_profile(client: ClientKeys, values: np.ndarray) -> None:
    blob = client.encrypt(values, level=0)
    with pytest.raises(CiphertextError, match="outside"):
        load_ciphertext(PROFILE, blob, level=PROFILE.max_depth + 1)
    with pytest.raises(InputError):
        client.encrypt(values, level=PROFILE.max_depth + 1)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[:-10], id="truncated"),
        pytest.param(lambda b: b[: len(b) // 2], id="half"),
        pytest.param(lambda b: b + b"\0" * 8, id="trailing"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: os.urandom(len(b)), id="garbage"),
        pytest.param(lambda b: b[:16] + os.urandom(len(b) - 16), id="garbage-body"),
        pytest.param(lambda b: b[:40] + bytes(x ^ 0xFF for x in b[40:80]) + b[80:], id="flipped"),
    ],
)
def test_malformed_bytes_are_rejected(client: ClientKeys, values: np.ndarray, mangle) -> None:
    blob = client.encrypt(values, level=1)
    with pytest.raises(CiphertextError, match=r"malformed ciphertext|not valid"):
        load_ciphertext(PROFILE, mangle(blob), level=1)


def test_oversized_is_rejected_before_parsing(client: ClientKeys, values: np.ndarray) -> None:
    blob = client.encrypt(values, level=0)
    with pytest.raises(CiphertextError, match="exceeds the limit"):
        load_ciphertext(PROFILE, blob, level=0, max_bytes=len(blob) - 1)
    with pytest.raises(CiphertextError, match="exceeds the limit"):
        load_ciphertext(PROFILE, b"\0" * (MAX_CIPHERTEXT_BYTES + 1), level=0)


def test_decompression_bomb_is_rejected() -> None:
    """A SEAL header + zstd frame of RLE blocks (4 bytes -> 128 KiB each) never reaches SEAL."""
    blocks = b"".join(
        ((128 * 1024) << 3 | 1 << 1 | int(i == 999)).to_bytes(3, "little") + b"\x07"
        for i in range(1000)
    )
    frame = struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x58]) + blocks  # window 128 MiB
    body_size = 16 + len(frame)
    header = struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 1, 2, 0, body_size)
    with pytest.raises(CiphertextError, match="decompression bomb"):
        load_ciphertext(PROFILE, header + frame, level=0)


def test_ciphertext_of_other_profile_is_rejected(values: np.ndarray) -> None:
    other = ClientKeys.generate(PROFILE_N16384_D6, galois_steps=[])
    blob = other.encrypt(values, level=PROFILE_N16384_D6.max_depth)
    with pytest.raises(CiphertextError):
        load_ciphertext(PROFILE, blob, level=PROFILE.max_depth)


def _raw_context() -> tuple[seal.SealContext, object]:
    sctx = seal.get_context(PROFILE)
    return sctx, sealapi.KeyGenerator(sctx.context)


def test_non_canonical_scale_is_rejected(values: np.ndarray) -> None:
    sctx, generator = _raw_context()
    encryptor = sealapi.Encryptor(sctx.context, generator.secret_key())
    plain = sctx.encode(values, level=1, scale=2.0**31)
    blob = seal.to_bytes(encryptor.encrypt_symmetric(plain))
    with pytest.raises(CiphertextError, match="canonical scale"):
        load_ciphertext(PROFILE, blob, level=1)


def test_three_polynomials_are_rejected(values: np.ndarray) -> None:
    sctx, generator = _raw_context()
    encryptor = sealapi.Encryptor(sctx.context, generator.secret_key())
    ct = sealapi.Ciphertext()
    encryptor.encrypt_symmetric(sctx.encode(values, level=0), ct)
    product = sealapi.Ciphertext()
    sctx.evaluator.multiply(ct, ct, product)  # not relinearized: 3 polynomials
    with pytest.raises(CiphertextError, match="3 polynomials"):
        load_ciphertext(PROFILE, seal.to_bytes(product), level=0)


def test_canonical_scales_follow_the_chain() -> None:
    for profile in (PROFILE, PROFILE_N16384_D6):
        sctx = seal.get_context(profile)
        assert len(sctx.parms_ids) == profile.max_depth + 1
        assert sctx.parms_ids[0] == tuple(sctx.context.first_parms_id())
        assert sctx.parms_ids[-1] == tuple(sctx.context.last_parms_id())
        assert sctx.scales[0] == 2.0**profile.scale_bits
        for level in range(profile.max_depth):
            dropped = sctx.primes[level][-1]
            assert sctx.primes[level + 1] == sctx.primes[level][:-1]
            assert sctx.scales[level + 1] == sctx.scales[level] ** 2 / dropped
            assert abs(np.log2(sctx.scales[level + 1]) - profile.scale_bits) < 0.01
