"""CKKS backend vs the plaintext oracle: same values, same levels, same operation counts."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.algebra import slot_sum_steps
from regaudit.shared.ckks import CkksBackend, CkksVector, load_evaluation_keys
from regaudit.shared.errors import DepthExceededError
from regaudit.shared.plaintext import PlaintextBackend, PlainVector
from regaudit.shared.profiles import PROFILE_N8192_D3

PROFILE = PROFILE_N8192_D3
SLOTS = PROFILE.slot_count
#: absolute tolerance between CKKS and the exact oracle at scale 2^30 for values in [-1, 1]
#: (measured: fresh encryption ~1e-6, each rescale adds up to ~1e-5, three squarings ~2.4e-5)
TOLERANCE = 1e-4
#: a rotation's key-switching noise at N=2^13 is up to ~1.1e-3 in the worst slot (measured),
#: independent of level and magnitude
ROTATION_TOLERANCE = 3e-3
#: circuits with rotations: tolerance scaled by how many rotated noises can pile up in a slot
TOLERANCES = {
    "rotate": ROTATION_TOLERANCE,
    "rotate_negative": ROTATION_TOLERANCE,
    "slot_sum_width": 4 * ROTATION_TOLERANCE,
    "mixed": 8 * ROTATION_TOLERANCE,
    "slot_sum": 8 * ROTATION_TOLERANCE,
}
STEPS = [*slot_sum_steps(SLOTS), 3, 100]


@pytest.fixture(scope="module")
def client() -> ClientKeys:
    return ClientKeys.generate(PROFILE, galois_steps=STEPS)


@pytest.fixture()
def backends(client: ClientKeys) -> tuple[CkksBackend, PlaintextBackend]:
    keys = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=STEPS)
    return CkksBackend(PROFILE, keys), PlaintextBackend(SLOTS, max_level=PROFILE.max_depth)


def _inputs(
    client: ClientKeys,
    ckks: CkksBackend,
    plain: PlaintextBackend,
    arrays: list[np.ndarray],
    levels: list[int],
) -> tuple[list[CkksVector], list[PlainVector]]:
    enc = [
        ckks.load(client.encrypt(a, level=lv), level=lv)
        for a, lv in zip(arrays, levels, strict=True)
    ]
    ref = [plain.vector(a, level=lv) for a, lv in zip(arrays, levels, strict=True)]
    return enc, ref


def _decrypt(client: ClientKeys, vector: CkksVector) -> np.ndarray:
    return client.decryptor().decrypt(vector.to_bytes(), level=vector.level)


Circuit = Callable[[Any, list[Any]], Any]
RNG = np.random.default_rng(20261126)
MASK = (RNG.uniform(size=SLOTS) < 0.5).astype(np.float64)
COEFFS = RNG.uniform(-1.0, 1.0, SLOTS)

CIRCUITS: dict[str, tuple[Circuit, list[int]]] = {
    "add": (lambda b, v: b.add(v[0], v[1]), [0, 0]),
    "add_mixed_levels": (lambda b, v: b.add(v[0], v[1]), [0, 2]),
    "sub": (lambda b, v: b.sub(v[1], v[0]), [1, 0]),
    "add_many": (lambda b, v: b.add_many(v), [0, 1, 2]),
    "multiply": (lambda b, v: b.multiply(v[0], v[1]), [0, 0]),
    "multiply_mixed": (lambda b, v: b.multiply(v[0], v[1]), [0, 1]),
    "square_chain": (lambda b, v: b.square(b.square(b.square(v[0]))), [0]),
    "multiply_plain_vector": (lambda b, v: b.multiply_plain(v[0], COEFFS), [0]),
    "multiply_plain_scalar": (lambda b, v: b.multiply_plain(v[0], -2.5), [1]),
    "multiply_plain_zero": (lambda b, v: b.multiply_plain(v[0], 0.0), [0]),
    "multiply_plain_mask": (lambda b, v: b.multiply_plain(v[0], MASK), [2]),
    "align": (lambda b, v: b.align(v[0], 3), [0]),
    "align_noop": (lambda b, v: b.align(v[0], 1), [1]),
    "rotate": (lambda b, v: b.rotate(v[0], 3), [0]),
    "rotate_negative": (lambda b, v: b.rotate(v[0], 100 - SLOTS), [1]),
    "rotate_zero": (lambda b, v: b.rotate(v[0], SLOTS), [0]),
    "slot_sum": (lambda b, v: b.slot_sum(v[0]), [0]),
    "slot_sum_width": (lambda b, v: b.slot_sum(v[0], width=16), [2]),
    "add_plain_scalar": (lambda b, v: b.add_plain(v[0], 0.75), [0]),
    "add_plain_vector": (lambda b, v: b.add_plain(v[0], COEFFS), [3]),
    "mixed": (
        lambda b, v: b.slot_sum(
            b.multiply_plain(b.add_plain(b.multiply(v[0], b.sub(v[1], v[2])), 0.5), MASK),
            width=64,
        ),
        [0, 1, 0],
    ),
}


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_ckks_matches_plaintext(
    name: str, client: ClientKeys, backends: tuple[CkksBackend, PlaintextBackend]
) -> None:
    circuit, levels = CIRCUITS[name]
    ckks, plain = backends
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [rng.uniform(-1.0, 1.0, SLOTS) for _ in levels]
    enc, ref = _inputs(client, ckks, plain, arrays, levels)

    out = circuit(ckks, enc)
    expected = circuit(plain, ref)

    assert out.level == expected.level
    assert ckks.counts.to_dict() == plain.counts.to_dict()
    got = _decrypt(client, out)
    tolerance = TOLERANCES.get(name, TOLERANCE)
    np.testing.assert_allclose(got, expected.values, atol=tolerance, rtol=0)
    assert out.scale == pytest.approx(
        ckks._sctx.scales[out.level], rel=1e-12
    )  # canonical scale kept


def test_counts_record_rotation_steps(
    client: ClientKeys, backends: tuple[CkksBackend, PlaintextBackend]
) -> None:
    ckks, _ = backends
    assert ckks.counts.rotation_steps == set()
    vector = ckks.load(client.encrypt(np.ones(SLOTS), level=0), level=0)
    ckks.rotate(vector, 0)  # a no-op, not counted
    ckks.rotate(vector, SLOTS)  # also 0 modulo the slot count
    assert ckks.counts.rotations == 0
    ckks.slot_sum(vector)
    assert ckks.counts.rotations == 12
    assert ckks.counts.rotation_steps == set(slot_sum_steps(SLOTS))
    ckks.rotate(vector, -SLOTS + 3)
    assert ckks.counts.rotation_steps == {*slot_sum_steps(SLOTS), 3}


@pytest.mark.parametrize("start", [0, 2])
def test_depth_exceeded_in_both_backends(
    start: int, client: ClientKeys, backends: tuple[CkksBackend, PlaintextBackend]
) -> None:
    ckks, plain = backends
    x = np.full(SLOTS, 0.9)
    (ex,), (px,) = _inputs(client, ckks, plain, [x], [start])
    for backend, vector in ((ckks, ex), (plain, px)):
        for _ in range(PROFILE.max_depth - start):
            vector = backend.multiply(vector, vector)
        assert vector.level == PROFILE.max_depth
        with pytest.raises(DepthExceededError):
            backend.multiply(vector, vector)
        with pytest.raises(DepthExceededError):
            backend.multiply_plain(vector, 2.0)
    assert ckks.counts.to_dict() == plain.counts.to_dict()


def test_max_level_below_profile(client: ClientKeys) -> None:
    keys = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=[])
    ckks = CkksBackend(PROFILE, keys, max_level=1)
    plain = PlaintextBackend(SLOTS, max_level=1)
    (ex,), (px,) = _inputs(client, ckks, plain, [np.ones(SLOTS)], [0])
    for backend, vector in ((ckks, ex), (plain, px)):
        deeper = backend.align(vector, 1)
        with pytest.raises(DepthExceededError):
            backend.align(deeper, 2)
    with pytest.raises(DepthExceededError):
        ckks.load(client.encrypt(np.ones(4), level=2), level=2)


def test_sum_of_2_pow_20_ones_is_exact(client: ClientKeys) -> None:
    """Headroom at the last level: 4096 slots x 256 = 2^20 decrypts to the exact integer."""
    keys = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=STEPS)
    ckks = CkksBackend(PROFILE, keys)
    chunk = ckks.load(client.encrypt(np.ones(SLOTS), level=2), level=2)
    total = ckks.add_many([chunk] * 256)  # 256 chunks of ones
    total = ckks.slot_sum(total)
    mask = np.zeros(SLOTS)
    mask[0] = 1.0
    out = ckks.multiply_plain(total, mask)
    assert out.level == PROFILE.max_depth
    values = _decrypt(client, out)
    assert round(values[0]) == 2**20
    assert abs(values[0] - 2**20) < 0.25
    # masked slots: the mask's encoding error times 2^20 (~0.1), still rounds to 0
    assert np.all(np.round(values[1:]) == 0)
