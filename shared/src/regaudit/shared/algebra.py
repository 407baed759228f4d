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
        (then every slot holds the total). Uses rotations by 1, 2, 4, ..., width/2; width must
        be a power of two."""
        ...


def slot_sum_steps(width: int) -> list[int]:
    """Rotation steps used by ``slot_sum`` over ``width`` slots (a power of two)."""
    if width < 1 or width & (width - 1):
        raise ValueError(f"slot_sum width must be a power of two, got {width}")
    steps = []
    step = 1
    while step < width:
        steps.append(step)
        step *= 2
    return steps
