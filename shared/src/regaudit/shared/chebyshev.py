"""Chebyshev numerics: polynomials under encryption and certified bounds from moments.

Two general tools, neither tied to one primitive:

* :func:`chebyshev_polynomials` evaluates T_1(z) .. T_d(z) slot-wise on any
  :class:`~regaudit.shared.algebra.SlotBackend` with the product recurrences
  T_2m = 2 T_m² - 1 and T_m+n = 2 T_m T_n - T_|m-n|. The factor 2 is an addition, so no
  plaintext-coefficient multiplication spends a level: T_k sits ceil(log2 k) levels above z
  (T_16 four levels above it).
* :func:`chebyshev_sandwich` turns the moments ``m_k = sum_i T_k(z_i)`` of unknown points
  z_i in [-1, 1] (with absolute noise bounds) into a rigorous interval for
  ``sum_i target(z_i)``, where ``target(2t² - 1)`` is a polynomial in t in [0, 1] (for
  :func:`sqrt_target` it is t itself). Two small linear programs find polynomials
  l <= target <= u optimal for the moments by an exchange method (LP_GRID_POINTS Chebyshev
  nodes in t, plus the violation peaks found on the certification grid, at most
  LP_EXCHANGE_ROUNDS solves of a dual LP each). Whatever the LP returns, each polynomial's
  violation of the sandwich is **certified over all of [0, 1]** by :func:`certified_max`
  (Ehlich-Zeller on the CHECK_GRID_POINTS Chebyshev extreme points), and the interval is
  widened by it and by the moments' noise.

The drift primitive (:mod:`regaudit.shared.primitives.drift`) uses both: its evaluator
(:mod:`regaudit.shared.primitives.drift.circuit`) returns Chebyshev moments of y = x² and its
regulator (:mod:`regaudit.shared.primitives.drift.report`) certifies sum sqrt(y) from them; see
``docs/specs/drift.md`` for the numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial import chebyshev

from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.errors import CircuitError, NoiseBoundError
from regaudit.shared.extras import DRIFT_CERTIFICATION_EXTRA, require_module

#: Initial constraint grid of the linear programs (Chebyshev points in t = sqrt(y)), and the
#: certification grid (Chebyshev extreme points in t, see :func:`chebyshev_sandwich`).
LP_GRID_POINTS = 129
CHECK_GRID_POINTS = 100_001
#: Exchange rounds of each linear program: after a solve, the local maxima of the violation on
#: the certification grid above LP_EXCHANGE_TOLERANCE join the constraint grid.
LP_EXCHANGE_ROUNDS = 6
LP_EXCHANGE_TOLERANCE = 3e-4
#: |coefficient| limit of the sandwich polynomials (keeps the LPs bounded and well scaled).
LP_COEFFICIENT_BOUND = 10.0
#: Per-atom allowance for float64 rounding in the certificate (polynomial values are O(10)).
CERTIFICATE_ROUNDING = 1e-9


# ============================================================================================
# Chebyshev polynomials on a slot backend (evaluator side)
# ============================================================================================


def chebyshev_polynomials(backend: SlotBackend[V], z: V, degree: int) -> list[V]:
    """[T_1(z), T_2(z), ..., T_degree(z)] slot-wise (T_1 is ``z`` itself).

    T_k = 2 T_a T_b - T_(a-b) with a the largest power of two < k (a = b = k/2 for powers of
    two, where T_k = 2 T_a² - 1): T_k sits ceil(log2 k) levels above z."""
    t: dict[int, V] = {1: z}
    for k in range(2, degree + 1):
        half = 1 << ((k - 1).bit_length() - 1)
        product = backend.multiply(t[half], t[k - half])
        doubled = backend.add(product, product)
        if half == k - half:
            t[k] = backend.add_plain(doubled, -1.0)
        else:
            t[k] = backend.sub(doubled, t[2 * half - k])
    return [t[k] for k in range(1, degree + 1)]


# ============================================================================================
# Certified moment bounds (regulator side)
# ============================================================================================


def sqrt_target(z: FloatArray) -> FloatArray:
    """sqrt((z + 1) / 2): with z = 2t² - 1 (t in [0, 1]) this is t, a polynomial of degree 1."""
    return np.sqrt(np.clip((z + 1.0) / 2.0, 0.0, None))


@functools.lru_cache(maxsize=2)
def _certification_grid(degree: int) -> tuple[FloatArray, FloatArray]:
    """t_j = (cos(j pi / M) + 1) / 2, j = 0..M (Chebyshev extreme points mapped to [0, 1]), and
    the Chebyshev Vandermonde matrix at z_j = 2 t_j² - 1 (M = CHECK_GRID_POINTS - 1)."""
    t = (np.cos(np.linspace(0.0, math.pi, CHECK_GRID_POINTS)) + 1.0) / 2.0
    basis = np.asarray(chebyshev.chebvander(2.0 * t * t - 1.0, degree), dtype=np.float64)
    return t, basis


@functools.lru_cache(maxsize=4)
def _target_values(target: Callable[[FloatArray], FloatArray], degree: int) -> FloatArray:
    t = _certification_grid(degree)[0]
    return target(2.0 * t * t - 1.0)


def certified_max(samples: FloatArray, degree: int) -> float:
    """Rigorous max over [0, 1] of a polynomial of ``degree`` in t from its ``samples`` on the
    certification grid (Ehlich-Zeller: for p of degree n < M sampled at the M + 1 Chebyshev
    extreme points, max |p| <= sec(n pi / 2M) max_j |p(x_j)|; applied to p - c with c the
    mid-range of the samples)."""
    intervals = samples.shape[0] - 1
    if degree >= intervals:
        raise CircuitError("certification grid too coarse for the degree", field="degree")
    high, low = float(samples.max()), float(samples.min())
    middle = (high + low) / 2.0
    return middle + (high - low) / 2.0 / math.cos(degree * math.pi / (2 * intervals))


def _extremal_polynomial(
    moments: FloatArray,
    target: Callable[[FloatArray], FloatArray],
    *,
    upper: bool,
) -> tuple[FloatArray, float]:
    """Coefficients c of a degree-d Chebyshev polynomial p with p <= target (lower) or
    p >= target (upper) optimizing moments . c, and its certified violation of that side.

    Steps: 1. solve the LP on the constraint nodes in its dual form (a non-negative measure on
    the nodes matching the moments; the polynomial is the equality constraints' marginals);
    2. evaluate the violation on the certification grid; if above LP_EXCHANGE_TOLERANCE, add its
    local maxima to the nodes and repeat (at most LP_EXCHANGE_ROUNDS solves); 3. the violation
    is certified over all of [0, 1] by :func:`certified_max` (whatever the LP returned).
    """
    linprog = require_module(
        "scipy.optimize", extra=DRIFT_CERTIFICATION_EXTRA, purpose="the drift certification"
    ).linprog

    degree = moments.shape[0] - 1
    sign = -1.0 if upper else 1.0
    t_check, check_basis = _certification_grid(degree)
    check_values = _target_values(target, degree)
    nodes = (np.cos(np.linspace(0.0, math.pi, LP_GRID_POINTS)) + 1.0) / 2.0
    eye = np.eye(degree + 1)
    box = np.full(2 * (degree + 1), LP_COEFFICIENT_BOUND)
    for _ in range(LP_EXCHANGE_ROUNDS):
        # 1. max sign m.c  s.t.  sign (V c - target) <= 0 at the nodes, |c_k| <= bound
        z = 2.0 * nodes * nodes - 1.0
        basis = chebyshev.chebvander(z, degree)
        result = linprog(
            np.concatenate([sign * target(z), box]),
            A_eq=np.hstack([sign * basis.T, eye, -eye]),
            b_eq=sign * moments,
            bounds=(0.0, None),
            method="highs-ds",
        )
        if result.status != 0:
            raise NoiseBoundError("the moment bound has no solution (inconsistent moments)")
        coefficients = np.asarray(result.eqlin.marginals, dtype=np.float64)
        # 2.
        violation = sign * (check_basis @ coefficients - check_values)
        if violation.max() <= LP_EXCHANGE_TOLERANCE:
            break
        inner = violation[1:-1]
        peaks = np.flatnonzero(
            (inner >= violation[:-2]) & (inner >= violation[2:]) & (inner > LP_EXCHANGE_TOLERANCE)
        )
        ends = [i for i in (0, violation.shape[0] - 1) if violation[i] > LP_EXCHANGE_TOLERANCE]
        nodes = np.concatenate([nodes, t_check[peaks + 1], t_check[ends]])
    # 3. the violation is a polynomial of degree 2 d in t (target(2t² - 1) is linear in t)
    excess = certified_max(violation, 2 * degree) + CERTIFICATE_ROUNDING
    return coefficients, max(0.0, excess)


def chebyshev_sandwich(
    moments: FloatArray,
    noise: FloatArray,
    target: Callable[[FloatArray], FloatArray],
    *,
    atoms: int,
    clip_low: float | None = None,
) -> tuple[float, float, float]:
    """(lower, upper, estimate) for sum_i target(z_i) over ``atoms`` points z_i in [-1, 1],
    given ``moments[k] = sum_i T_k(z_i)`` (k = 0..degree, moments[0] = atoms) with absolute
    noise bounds ``noise[k]``. ``target(2t² - 1)`` must be a polynomial of degree <= 2 * degree
    in t in [0, 1] (for :func:`sqrt_target` it is t), which makes the certificate exact.

    Steps: 1. two linear programs (exchange method, see :func:`_extremal_polynomial`) find
    Chebyshev polynomials l <= target <= u optimal for these moments; 2. each optimum is widened
    by ``atoms`` times the polynomial's certified violation of the sandwich over all of [-1, 1]
    and by sum_k |c_k| noise[k]; 3. the estimate is the midpoint of the two optima before
    widening (so it does not move with the noise allowance).
    """
    # 1.
    lower, low_excess = _extremal_polynomial(moments, target, upper=False)
    upper, up_deficit = _extremal_polynomial(moments, target, upper=True)
    # 2.
    raw_low = float(moments @ lower)
    raw_high = float(moments @ upper)
    low = raw_low - atoms * low_excess - float(np.abs(lower) @ noise)
    high = raw_high + atoms * up_deficit + float(np.abs(upper) @ noise)
    # 3.
    estimate = (raw_low + raw_high) / 2.0
    if clip_low is not None:
        low, estimate = max(clip_low, low), max(clip_low, estimate)
    high = max(high, low)
    return low, high, min(max(estimate, low), high)


__all__ = [
    "CERTIFICATE_ROUNDING",
    "CHECK_GRID_POINTS",
    "LP_COEFFICIENT_BOUND",
    "LP_EXCHANGE_ROUNDS",
    "LP_EXCHANGE_TOLERANCE",
    "LP_GRID_POINTS",
    "certified_max",
    "chebyshev_polynomials",
    "chebyshev_sandwich",
    "sqrt_target",
]
