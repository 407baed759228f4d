"""Differential privacy on release: the request and the noise mechanisms (OpenDP).

Every noised aggregate is an integer count, so the mechanisms are OpenDP's integer ones
(``opendp.prelude``, features ``contrib``): with ``delta == 0`` the discrete Laplace mechanism
on an integer vector domain under the l1 distance (pure epsilon-DP); with ``delta > 0`` the
discrete Gaussian mechanism under the l2 distance, whose zero-concentrated privacy loss OpenDP
converts to (epsilon, delta)-DP. The noise scale is found by OpenDP's ``binary_search_param``
on the mechanism's own privacy map, and the map at the release's sensitivity is what the ledger
is charged (never more than requested). No sampler is written here: OpenDP draws the noise from
the operating system's randomness, so a release cannot be seeded. The ``resample`` method draws
noise of the same distribution with numpy, for the decision-flip analysis only (post-processing
of the released values; it never produces a released number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import opendp.prelude as dp

from regaudit.shared.errors import InputError

dp.enable_features("contrib")

#: The largest epsilon one release may ask for (a larger one protects nobody).
MAX_EPSILON = 10.0
#: Integer type of OpenDP's vector domain (counts of millions of rows, pair counts).
ATOM_TYPE = "i64"
#: Mechanism names, as released.
DISCRETE_LAPLACE = "discrete_laplace"
DISCRETE_GAUSSIAN = "discrete_gaussian"

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def _check_finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("must be a number", field=name)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InputError("must be finite", field=name)
    return number


@dataclass(frozen=True)
class ReleaseRequest:
    """What the regulator asks for one release: ``epsilon`` in (0, MAX_EPSILON], ``delta`` in
    [0, 1) (0: pure DP, discrete Laplace; else discrete Gaussian), and ``seed``, which seeds
    only the decision-flip analysis (OpenDP's noise cannot be seeded)."""

    epsilon: float
    delta: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        """Validate. Steps: 1. epsilon and delta are finite numbers; 2. 0 < epsilon <=
        MAX_EPSILON; 3. 0 <= delta < 1; 4. the seed is an integer or None."""
        # 1.
        epsilon = _check_finite(self.epsilon, "epsilon")
        delta = _check_finite(self.delta, "delta")
        # 2.
        if not 0.0 < epsilon <= MAX_EPSILON:
            raise InputError(f"must be above 0 and at most {MAX_EPSILON}", field="epsilon")
        # 3.
        if not 0.0 <= delta < 1.0:
            raise InputError("must be at least 0 and below 1", field="delta")
        # 4.
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise InputError("must be an integer", field="seed")
        object.__setattr__(self, "epsilon", epsilon)
        object.__setattr__(self, "delta", delta)


@dataclass(frozen=True)
class Sensitivity:
    """How far one individual's data can move the aggregate vector (l1 and l2 norms)."""

    l1: float
    l2: float
    #: in words, for the release's ``differential_privacy`` block
    unit: str


@dataclass(frozen=True)
class CalibratedMechanism:
    """An OpenDP measurement calibrated to a request and a sensitivity."""

    name: str
    #: OpenDP's noise scale (Laplace b; Gaussian sigma)
    scale: float
    sensitivity: Sensitivity
    #: the privacy map at the sensitivity: what one release costs (<= the request)
    epsilon: float
    delta: float
    measurement: dp.Measurement = field(repr=False, compare=False)

    def release(self, values: list[int]) -> list[int]:
        """The noised vector (OpenDP's sampler)."""
        return [int(v) for v in self.measurement([int(v) for v in values])]

    def resample(self, values: IntArray, rng: np.random.Generator, draws: int) -> IntArray:
        """``draws`` fresh noisings of ``values`` with numpy (analysis only): discrete Laplace as
        the difference of two geometric variables, discrete Gaussian as a rounded normal (a
        close approximation for sigma >= 1)."""
        shape = (draws, len(values))
        if self.name == DISCRETE_LAPLACE:
            p = -math.expm1(-1.0 / self.scale)
            noise = rng.geometric(p, size=shape) - rng.geometric(p, size=shape)
        else:
            noise = np.rint(rng.normal(0.0, self.scale, size=shape))
        return np.asarray(values, dtype=np.int64)[None, :] + noise.astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mechanism": self.name,
            "noise_scale": self.scale,
            "l1_sensitivity": self.sensitivity.l1,
            "l2_sensitivity": self.sensitivity.l2,
            "sensitivity_unit": self.sensitivity.unit,
            "epsilon_spent": self.epsilon,
            "delta_spent": self.delta,
        }


def _domain() -> Any:
    return dp.vector_domain(dp.atom_domain(T=ATOM_TYPE))


def calibrate(request: ReleaseRequest, sensitivity: Sensitivity) -> CalibratedMechanism:
    """The mechanism for ``request`` at ``sensitivity``.

    Steps: 1. pick discrete Laplace (delta 0, l1) or discrete Gaussian (delta > 0, l2 through
    zCDP -> approximate DP at the requested delta); 2. OpenDP's binary search finds the
    smallest scale whose privacy map at the sensitivity is within the request; 3. the map of
    the calibrated measurement is re-read and checked against the request."""
    # 1.
    if request.delta == 0.0:
        name = DISCRETE_LAPLACE
        d_in: float = sensitivity.l1

        def make(scale: float) -> dp.Measurement:
            return dp.m.make_laplace(_domain(), dp.l1_distance(T=float), scale=scale)

        d_out: Any = request.epsilon
    else:
        name = DISCRETE_GAUSSIAN
        d_in = sensitivity.l2
        delta = request.delta

        def make(scale: float) -> dp.Measurement:
            gaussian = dp.m.make_gaussian(_domain(), dp.l2_distance(T=float), scale=scale)
            return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), delta=delta)

        d_out = (request.epsilon, request.delta)
    # 2.
    scale = float(dp.binary_search_param(make, d_in=d_in, d_out=d_out))
    measurement = make(scale)
    # 3.
    spent = measurement.map(d_in)  # type: ignore[no-untyped-call]
    epsilon, delta_spent = (float(spent), 0.0) if name == DISCRETE_LAPLACE else map(float, spent)
    if epsilon > request.epsilon or delta_spent > request.delta:
        raise InputError("OpenDP found no noise scale within the requested epsilon and delta")
    return CalibratedMechanism(
        name=name,
        scale=scale,
        sensitivity=sensitivity,
        epsilon=epsilon,
        delta=delta_spent,
        measurement=measurement,
    )


__all__ = [
    "DISCRETE_GAUSSIAN",
    "DISCRETE_LAPLACE",
    "MAX_EPSILON",
    "CalibratedMechanism",
    "ReleaseRequest",
    "Sensitivity",
    "calibrate",
]
