"""What every primitive's DP release is made of (:class:`Aggregates`, :class:`PrimitiveRelease`)
and the quantization of real-valued sums into the integer vectors OpenDP's mechanisms noise.

Quantization (:func:`quantized_sensitivity`): a real aggregate vector ``x`` is released as the
integer vector ``round(x / step)`` at a PUBLIC ``step`` (derived from public inputs only). If
one individual moves the exact ``x`` by at most ``L1`` (l1) and ``L2`` (l2), and every computed
coordinate lies within a public ``error`` of the exact one (the CKKS bound of the decoder),
then the integer vectors of two neighbouring datasets differ by ``v = (dx + de) / step + dr``
with ``|de_i| <= 2 error`` and ``|dr_i| < 1`` (two roundings), so by the triangle inequality
``||v||_1 <= L1 / step + k (2 error / step + 1)`` and
``||v||_2 <= L2 / step + sqrt(k) (2 error / step + 1)`` over the ``k`` coordinates. The step is
``L1 / QUANTA``: the rounding adds at most ``k / QUANTA`` (relative) to the sensitivity and a
rounding error of ``step / 2 = L1 / (2 QUANTA)`` to each released value, against a noise scale
of at least ``L1 / MAX_EPSILON`` -- over 13,000 times smaller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regaudit.regulator.privacy.mechanisms import Sensitivity
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: Integer units per l1 sensitivity of a quantized real aggregate (see the module doc).
QUANTA = 2**16


@dataclass(frozen=True)
class Aggregates:
    """The exact integer aggregates a release noises, with a name for each."""

    names: tuple[str, ...]
    values: tuple[int, ...]
    sensitivity: Sensitivity


@dataclass(frozen=True)
class PrimitiveRelease:
    """How one primitive is released under DP."""

    primitive: str
    #: the exact aggregates of a verified audit
    aggregates: Callable[[VerifiedAudit], Aggregates]
    #: the report rebuilt from (noised) aggregates, post-processed into a consistent domain
    rebuild: Callable[[Sequence[int], VerifiedAudit], dict[str, Any]]
    #: top-level numbers whose spread under the noise is reported
    metrics: tuple[str, ...]
    #: what stays exact because it is public
    public: tuple[str, ...]
    #: headline metric -> the report field holding its error bound (to which the noise's
    #: half-width belongs, for ``value +- bound`` and the policy gates)
    error_bounds: Mapping[str, str] = field(default_factory=dict)


def integer(value: object, where: str) -> int:
    """``value`` as an exact count (InputError naming ``where`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InputError("is not an exact count in the verified result", field=where)
    return int(value)


def number(value: object, where: str) -> float:
    """``value`` as a finite number (InputError naming ``where`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError("is not a finite number in the verified result", field=where)
    return float(value)


@dataclass(frozen=True)
class Quantization:
    """A public step and the sensitivity of the quantized vector (see the module doc)."""

    step: float
    sensitivity: Sensitivity

    def quantize(self, values: Sequence[float]) -> tuple[int, ...]:
        return tuple(round(v / self.step) for v in values)

    def restore(self, values: Sequence[int]) -> list[float]:
        return [int(v) * self.step for v in values]


def quantized_sensitivity(
    *, l1: float, l2: float, error: float, coordinates: int, unit: str
) -> Quantization:
    """The step ``l1 / QUANTA`` and the integer sensitivity of ``coordinates`` real aggregates
    that one ``unit`` moves by at most ``l1`` / ``l2`` exactly, each computed within ``error``.

    Steps: 1. the bounds are finite and positive (else there is no public bound to calibrate
    to); 2. the step; 3. the integer l1 and l2 bounds of the module doc."""
    # 1.
    if not (math.isfinite(l1) and math.isfinite(l2) and l1 > 0.0 and l2 > 0.0):
        raise InputError(
            f"no finite positive sensitivity per {unit} follows from the public inputs"
        )
    if not (math.isfinite(error) and error >= 0.0) or coordinates < 1:
        raise InputError("the public error bound of the aggregates is not usable")
    # 2.
    step = l1 / QUANTA
    # 3.
    per_coordinate = 2.0 * error / step + 1.0
    return Quantization(
        step=step,
        sensitivity=Sensitivity(
            l1=l1 / step + coordinates * per_coordinate,
            l2=l2 / step + math.sqrt(coordinates) * per_coordinate,
            unit=unit,
        ),
    )


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


__all__ = [
    "QUANTA",
    "Aggregates",
    "PrimitiveRelease",
    "Quantization",
    "clamp",
    "integer",
    "number",
    "quantized_sensitivity",
]
