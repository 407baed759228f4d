"""Radix-r slot sums and composed rotations: exact values, exact rotation counts, and only the
Galois steps r^k (the evaluation keys a profile's plans need)."""

from __future__ import annotations

import numpy as np
import pytest

from regaudit.shared.algebra import (
    rotate_composed,
    rotation_key_steps,
    slot_sum_steps,
    strided_sum,
    sum_levels,
)
from regaudit.shared.plaintext import PlaintextBackend
from regaudit.shared.profiles import (
    PROFILE_N8192_D3,
    PROFILE_N16384_D6,
    slot_sum_radix_for,
)

SLOTS = 64


def _strided_reference(values: np.ndarray, stride: int, count: int) -> np.ndarray:
    return sum(np.roll(values, -k * stride) for k in range(count))


def test_profiles_carry_their_radix_in_the_hash() -> None:
    assert PROFILE_N8192_D3.slot_sum_radix == 2
    assert PROFILE_N16384_D6.slot_sum_radix == 4
    assert PROFILE_N16384_D6.describe()["slot_sum_radix"] == 4
    assert slot_sum_radix_for(PROFILE_N16384_D6.slot_count) == 4
    assert slot_sum_radix_for(PROFILE_N8192_D3.slot_count) == 2
    assert slot_sum_radix_for(SLOTS) == 2  # no profile: binary
    assert PlaintextBackend(PROFILE_N16384_D6.slot_count, max_level=1).slot_sum_radix == 4


def test_sum_levels_and_key_steps() -> None:
    assert sum_levels(1, 8192, 2) == [(1 << i, 2) for i in range(13)]
    assert sum_levels(1, 8192, 4) == [(4**i, 4) for i in range(6)] + [(4096, 2)]
    # a stride that is not a power of the radix: the first level reaches the next power
    assert sum_levels(8, 1024, 4) == [(8, 2), (16, 4), (64, 4), (256, 4), (1024, 4), (4096, 2)]
    assert sum_levels(2, 2, 4) == [(2, 2)]
    assert slot_sum_steps(8192, 4) == [4**i for i in range(7)]
    assert slot_sum_steps(4096) == [1 << i for i in range(12)]
    assert slot_sum_steps(128, 4) == [1, 4, 16, 64]
    # right shift by 15 at 8192 slots: 8177 = 4096 + 3 (1024 + 256 + 64 + 16) + 1
    assert sorted(rotation_key_steps(-15, radix=4, slot_count=8192)) == (
        [1] + [16] * 3 + [64] * 3 + [256] * 3 + [1024] * 3 + [4096]
    )
    assert rotation_key_steps(8, radix=4, slot_count=8192) == [4, 4]
    assert rotation_key_steps(0, radix=4, slot_count=8192) == []
    with pytest.raises(ValueError):
        sum_levels(3, 4, 4)
    with pytest.raises(ValueError):
        sum_levels(1, 4, 3)


@pytest.mark.parametrize("radix", [2, 4, 8])
@pytest.mark.parametrize(("stride", "count"), [(1, 64), (1, 8), (2, 16), (8, 8), (4, 2), (1, 1)])
def test_strided_sum_values_counts_and_steps(radix: int, stride: int, count: int) -> None:
    backend = PlaintextBackend(SLOTS, max_level=1, slot_sum_radix=radix)
    values = np.random.default_rng(radix * 100 + stride).uniform(-1, 1, SLOTS)
    result = strided_sum(backend, backend.vector(values), stride=stride, count=count)
    np.testing.assert_allclose(result.values, _strided_reference(values, stride, count))
    assert result.level == 0
    powers = {radix**k for k in range(8) if radix**k < SLOTS}
    assert backend.counts.rotation_steps <= powers
    expected = sum(
        (factor - 1) * len(rotation_key_steps(step, radix=radix, slot_count=SLOTS))
        for step, factor in sum_levels(stride, count, radix)
    )
    assert backend.counts.rotations == expected
    if stride == 1:
        assert backend.counts.rotation_steps == set(slot_sum_steps(count, radix))


def test_slot_sum_radix4_costs_and_refusals() -> None:
    backend = PlaintextBackend(8192, max_level=1)
    values = np.arange(8192, dtype=np.float64)
    total = backend.slot_sum(backend.vector(values))
    np.testing.assert_allclose(total.values, values.sum())
    assert backend.counts.rotations == 6 * 3 + 1
    assert backend.counts.additions == 6 * 2 + 1
    assert backend.counts.rotation_steps == {4**i for i in range(7)}
    with pytest.raises(ValueError):
        strided_sum(backend, total, stride=2, count=8192)
    with pytest.raises(ValueError):
        backend.slot_sum(total, width=12)


@pytest.mark.parametrize("radix", [2, 4])
@pytest.mark.parametrize("steps", [1, -1, -15, 5, 63, 64, -64, 0, 37])
def test_rotate_composed(radix: int, steps: int) -> None:
    backend = PlaintextBackend(SLOTS, max_level=1, slot_sum_radix=radix)
    values = np.random.default_rng(7).uniform(-1, 1, SLOTS)
    rotated = rotate_composed(backend, backend.vector(values), steps)
    np.testing.assert_array_equal(rotated.values, np.roll(values, -steps))
    digits = np.base_repr(steps % SLOTS, radix) if steps % SLOTS else "0"
    assert backend.counts.rotations == sum(int(d) for d in digits)
    assert backend.counts.rotation_steps <= {radix**k for k in range(7)}
