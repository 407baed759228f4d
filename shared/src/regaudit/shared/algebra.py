"""The slot-vector algebra every circuit is written against.

Two backends implement :class:`SlotBackend`:

* :class:`regaudit.shared.plaintext.PlaintextBackend` -- numpy, exact, the oracle and the planner;
* :class:`regaudit.shared.ckks.CkksBackend` -- SEAL CKKS through ``tenseal.sealapi``, keyless
  (evaluation keys only).

Level accounting is identical in both: a vector starts at the level it was encrypted at; every
ct x ct multiplication and every ct x pt multiplication consumes exactly one level (relinearize +
rescale happen inside ``multiply``); ``align`` raises a vector to a deeper level and is counted
as a ct x pt multiplication by ones (it keeps CKKS scales canonical, see ``ckks.py``). Additions
and rotations consume no level. Going past ``max_level`` raises DepthExceededError. Because the
accounting is identical, running a circuit on the plaintext backend predicts the CKKS run's depth,
rotation steps and operation counts exactly: that run *is* the plan.

Rotation keys. Every seeded Galois key is as large as the relinearization key (6 MB at N=2^14),
so circuits rotate only by powers of the profile's ``slot_sum_radix`` r (1, r, r^2, ... <
slot_count): any other rotation is composed explicitly from those (:func:`rotate_composed`, one
counted rotation per base-r digit unit), and slot sums are radix-r trees (:func:`strided_sum`:
per level x + rot(x, s) + rot(x, 2s) + ... by successive rotations by s). The backends never
synthesize a rotation from other keys on their own, so the plan counts every rotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass
class OpCounts:
    """Operation counters, shared by both backends."""

    ct_ct_multiplications: int = 0
    ct_pt_multiplications: int = 0
    rotations: int = 0
    additions: int = 0
    rescales: int = 0
    relinearizations: int = 0
    rotation_steps: set[int] = field(default_factory=set)
    max_level: int = 0

    def merge(self, other: OpCounts, times: int = 1) -> None:
        """Add ``times`` copies of ``other`` into self (steps are unioned, max level maxed)."""
        self.ct_ct_multiplications += other.ct_ct_multiplications * times
        self.ct_pt_multiplications += other.ct_pt_multiplications * times
        self.rotations += other.rotations * times
        self.additions += other.additions * times
        self.rescales += other.rescales * times
        self.relinearizations += other.relinearizations * times
        self.rotation_steps |= other.rotation_steps
        self.max_level = max(self.max_level, other.max_level)

    def to_dict(self) -> dict[str, object]:
        return {
            "ct_ct_multiplications": self.ct_ct_multiplications,
            "ct_pt_multiplications": self.ct_pt_multiplications,
            "rotations": self.rotations,
            "additions": self.additions,
            "rescales": self.rescales,
            "relinearizations": self.relinearizations,
            "rotation_steps": sorted(self.rotation_steps),
            "max_level": self.max_level,
        }


class SlotVector(Protocol):
    """A vector of ``slot_count`` real slots at a known level."""

    @property
    def level(self) -> int: ...


V = TypeVar("V", bound=SlotVector)


class SlotBackend(Protocol[V]):
    """Operations a circuit may use. All return new vectors; inputs are never mutated."""

    slot_count: int
    #: radix r of slot sums; rotations use only the steps r^k (see the module docstring)
    slot_sum_radix: int
    #: deepest level a vector may reach (the profile's depth, or the plan's for the planner)
    max_level: int
    counts: OpCounts

    def add(self, a: V, b: V) -> V:
        """a + b (the shallower operand is aligned to the deeper level first)."""
        ...

    def sub(self, a: V, b: V) -> V: ...

    def add_many(self, vectors: Sequence[V]) -> V: ...

    def add_plain(self, a: V, values: FloatArray | float) -> V:
        """a + public values (no level)."""
        ...

    def multiply(self, a: V, b: V) -> V:
        """a * b slot-wise, relinearized and rescaled: level = max(a, b) + 1."""
        ...

    def square(self, a: V) -> V: ...

    def multiply_plain(self, a: V, values: FloatArray | float) -> V:
        """a * public values slot-wise, rescaled: level = a + 1."""
        ...

    def align(self, a: V, level: int) -> V:
        """Bring a to ``level`` (>= a.level) keeping its values."""
        ...

    def rotate(self, a: V, steps: int) -> V:
        """Cyclic left rotation by ``steps`` slots (needs the Galois key for that step)."""
        ...

    def slot_sum(self, a: V, *, width: int | None = None) -> V:
        """Every slot i gets sum(a[i : i + width]) cyclically; width defaults to slot_count
        (then every slot holds the total). A radix-``slot_sum_radix`` tree (:func:`strided_sum`
        with stride 1); width must be a power of two."""
        ...


def _log2(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value & (value - 1):
        raise ValueError(f"{what} must be a power of two, got {value!r}")
    return value.bit_length() - 1


def check_radix(radix: int) -> int:
    """log2 of a valid slot-sum radix (a power of two >= 2)."""
    bits = _log2(radix, "slot_sum radix")
    if bits < 1:
        raise ValueError(f"slot_sum radix must be at least 2, got {radix}")
    return bits


def sum_levels(stride: int, count: int, radix: int = 2) -> list[tuple[int, int]]:
    """Levels ``(step, factor)`` of a radix-``radix`` tree that sums ``count`` slots spaced
    ``stride`` apart (both powers of two). Level boundaries sit on powers of the radix, so every
    step is a power of the radix except possibly the first (when ``stride`` is not one)."""
    bits = check_radix(radix)
    exponent = _log2(stride, "sum stride")
    end = exponent + _log2(count, "slot_sum width")
    levels = []
    while exponent < end:
        following = min(end, (exponent // bits + 1) * bits)
        levels.append((1 << exponent, 1 << (following - exponent)))
        exponent = following
    return levels


def rotation_key_steps(steps: int, *, radix: int, slot_count: int) -> list[int]:
    """The key steps (powers of ``radix`` below ``slot_count``) whose successive rotations make
    a cyclic left rotation by ``steps``: base-``radix`` digits of ``steps mod slot_count``,
    each digit d contributing d rotations by its power."""
    check_radix(radix)
    remaining = steps % slot_count
    keys: list[int] = []
    power = 1
    while remaining:
        remaining, digit = divmod(remaining, radix)
        keys += [power] * digit
        power *= radix
    return keys


def slot_sum_steps(width: int, radix: int = 2) -> list[int]:
    """Distinct rotation (key) steps used by ``slot_sum`` over ``width`` slots."""
    steps: set[int] = set()
    for step, _factor in sum_levels(1, width, radix):
        steps.update(rotation_key_steps(step, radix=radix, slot_count=step * radix))
    return sorted(steps)


def rotate_composed(backend: SlotBackend[V], a: V, steps: int) -> V:
    """Cyclic left rotation by any ``steps`` (negative: right) made of rotations by powers of
    ``backend.slot_sum_radix`` only (one counted rotation per base-r digit unit)."""
    result = a
    for key in rotation_key_steps(
        steps, radix=backend.slot_sum_radix, slot_count=backend.slot_count
    ):
        result = backend.rotate(result, key)
    return result


def strided_sum(backend: SlotBackend[V], a: V, *, stride: int, count: int) -> V:
    """Every slot i gets sum(a[i + k * stride] for k < count) cyclically (stride and count
    powers of two): a radix-``backend.slot_sum_radix`` tree of :func:`sum_levels`.

    A level (step s, factor f = 2^m) doubles m times: y = y + rot(y, 2^i s) for i < m, where
    rot(., 2^i s) is 2^i successive rotations by s. That is f - 1 rotations and m additions per
    level, like f - 1 successive rotations of x, but each key-switching noise is summed into
    fewer slots: measured at ckks-n16384-d6-v1 (levels 1-5), a full slot sum's RMS noise is
    about 1.5x that of the radix-2 tree (2.3e-6 against 1.5e-6), instead of 2.2x."""
    if stride * count > backend.slot_count:
        raise ValueError(f"a sum over {count} x {stride} slots exceeds {backend.slot_count}")
    result = a
    for step, factor in sum_levels(stride, count, backend.slot_sum_radix):
        span = 1
        while span < factor:
            shifted = result
            for _ in range(span):
                shifted = rotate_composed(backend, shifted, step)
            result = backend.add(result, shifted)
            span *= 2
    return result


__all__ = [
    "FloatArray",
    "OpCounts",
    "SlotBackend",
    "SlotVector",
    "V",
    "check_radix",
    "rotate_composed",
    "rotation_key_steps",
    "slot_sum_steps",
    "strided_sum",
    "sum_levels",
]
