"""The plaintext backend: exact numpy slot vectors with the CKKS backend's level accounting.

It is the oracle for tests and the planner: a circuit run here uses exactly the levels, rotation
steps and operation counts the CKKS run will use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from regaudit.shared.algebra import FloatArray, OpCounts, check_radix, strided_sum
from regaudit.shared.errors import DepthExceededError
from regaudit.shared.profiles import slot_sum_radix_for


@dataclass(frozen=True)
class PlainVector:
    values: FloatArray
    level: int


class PlaintextBackend:
    """numpy implementation of :class:`regaudit.shared.algebra.SlotBackend`."""

    def __init__(
        self, slot_count: int, *, max_level: int, slot_sum_radix: int | None = None
    ) -> None:
        """``slot_sum_radix`` defaults to that of the profile with ``slot_count`` slots, so a
        plaintext run matches the CKKS run of that profile rotation for rotation."""
        self.slot_count = slot_count
        if slot_sum_radix is None:
            slot_sum_radix = slot_sum_radix_for(slot_count)
        check_radix(slot_sum_radix)
        self.slot_sum_radix = slot_sum_radix
        self.max_level = max_level
        self.counts = OpCounts()

    # --- construction -----------------------------------------------------------------------

    def vector(self, values: FloatArray | Sequence[float], *, level: int = 0) -> PlainVector:
        array = np.zeros(self.slot_count, dtype=np.float64)
        data = np.asarray(values, dtype=np.float64)
        if data.shape[0] > self.slot_count:
            raise ValueError(f"{data.shape[0]} values do not fit {self.slot_count} slots")
        array[: data.shape[0]] = data
        self._check_level(level)
        return PlainVector(array, level)

    # --- level bookkeeping ------------------------------------------------------------------

    def _check_level(self, level: int) -> None:
        if level > self.max_level:
            raise DepthExceededError(
                f"circuit needs level {level} but only {self.max_level} levels are available"
            )
        self.counts.max_level = max(self.counts.max_level, level)

    def _plain(self, values: FloatArray | float) -> FloatArray:
        if isinstance(values, float | int):
            return np.full(self.slot_count, float(values))
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (self.slot_count,):
            raise ValueError(f"plain operand must have {self.slot_count} slots")
        return array

    # --- operations -------------------------------------------------------------------------

    def align(self, a: PlainVector, level: int) -> PlainVector:
        if level < a.level:
            raise ValueError(f"cannot align a level-{a.level} vector up to level {level}")
        result = a
        while result.level < level:
            self._check_level(result.level + 1)
            self.counts.ct_pt_multiplications += 1
            self.counts.rescales += 1
            result = PlainVector(result.values.copy(), result.level + 1)
        return result

    def _pair(self, a: PlainVector, b: PlainVector) -> tuple[PlainVector, PlainVector]:
        level = max(a.level, b.level)
        return self.align(a, level), self.align(b, level)

    def add(self, a: PlainVector, b: PlainVector) -> PlainVector:
        a, b = self._pair(a, b)
        self.counts.additions += 1
        return PlainVector(a.values + b.values, a.level)

    def sub(self, a: PlainVector, b: PlainVector) -> PlainVector:
        a, b = self._pair(a, b)
        self.counts.additions += 1
        return PlainVector(a.values - b.values, a.level)

    def add_many(self, vectors: Sequence[PlainVector]) -> PlainVector:
        if not vectors:
            raise ValueError("add_many needs at least one vector")
        result = vectors[0]
        for vector in vectors[1:]:
            result = self.add(result, vector)
        return result

    def add_plain(self, a: PlainVector, values: FloatArray | float) -> PlainVector:
        self.counts.additions += 1
        return PlainVector(a.values + self._plain(values), a.level)

    def multiply(self, a: PlainVector, b: PlainVector) -> PlainVector:
        a, b = self._pair(a, b)
        self._check_level(a.level + 1)
        self.counts.ct_ct_multiplications += 1
        self.counts.relinearizations += 1
        self.counts.rescales += 1
        return PlainVector(a.values * b.values, a.level + 1)

    def square(self, a: PlainVector) -> PlainVector:
        return self.multiply(a, a)

    def multiply_plain(self, a: PlainVector, values: FloatArray | float) -> PlainVector:
        self._check_level(a.level + 1)
        self.counts.ct_pt_multiplications += 1
        self.counts.rescales += 1
        return PlainVector(a.values * self._plain(values), a.level + 1)

    def rotate(self, a: PlainVector, steps: int) -> PlainVector:
        steps %= self.slot_count
        if steps == 0:
            return a
        self.counts.rotations += 1
        self.counts.rotation_steps.add(steps)
        return PlainVector(np.roll(a.values, -steps), a.level)

    def slot_sum(self, a: PlainVector, *, width: int | None = None) -> PlainVector:
        return strided_sum(self, a, stride=1, count=width or self.slot_count)


__all__ = [
    "PlainVector",
    "PlaintextBackend",
]
