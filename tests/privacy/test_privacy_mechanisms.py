"""The OpenDP mechanisms alone: calibration to the request, and the noise actually drawn has the
distribution the requested epsilon (and delta) calls for (many draws, tolerances of several
standard errors, so the test is deterministic in practice although OpenDP cannot be seeded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regaudit.regulator.privacy import ReleaseRequest, Sensitivity, calibrate
from regaudit.regulator.privacy.mechanisms import DISCRETE_GAUSSIAN, DISCRETE_LAPLACE

#: Noise draws per check (one OpenDP call on a vector of zeros).
DRAWS = 100_000
#: Relative tolerance on the variance: its standard error is below 1 % at DRAWS draws.
VARIANCE_TOLERANCE = 0.05


def discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (1.0 - q) ** 2


@pytest.mark.parametrize(("epsilon", "l1"), [(1.0, 2.0), (0.25, 1.0)])
def test_pure_dp_draws_discrete_laplace_at_the_requested_epsilon(epsilon: float, l1: float) -> None:
    mechanism = calibrate(ReleaseRequest(epsilon), Sensitivity(l1, l1, "row"))
    assert mechanism.name == DISCRETE_LAPLACE
    assert math.isclose(mechanism.scale, l1 / epsilon, rel_tol=1e-6)
    assert mechanism.epsilon <= epsilon and mechanism.delta == 0.0
    noise = np.asarray(mechanism.release([0] * DRAWS), dtype=np.float64)
    assert abs(noise.mean()) < 5 * math.sqrt(discrete_laplace_variance(mechanism.scale) / DRAWS)
    expected = discrete_laplace_variance(l1 / epsilon)
    assert noise.var() == pytest.approx(expected, rel=VARIANCE_TOLERANCE)
    # epsilon recovered from the draws: P(0) / P(1) of the discrete Laplace is e^(1/scale), so
    # l1 * ln(n0 / n1) estimates epsilon, with a standard error of l1 * sqrt(1/n0 + 1/n1)
    zeros, ones = np.count_nonzero(noise == 0), np.count_nonzero(noise == 1)
    estimate = l1 * math.log(zeros / ones)
    error = l1 * math.sqrt(1 / zeros + 1 / ones)
    assert abs(estimate - epsilon) < 5 * error < epsilon / 2
    # twice the epsilon would be visibly less noise: the test can tell them apart
    assert noise.var() > 1.5 * discrete_laplace_variance(l1 / (2 * epsilon))


def test_approximate_dp_draws_discrete_gaussian_calibrated_by_opendp() -> None:
    sensitivity = Sensitivity(2.0, math.sqrt(2.0), "row")
    mechanism = calibrate(ReleaseRequest(1.0, 1e-6), sensitivity)
    assert mechanism.name == DISCRETE_GAUSSIAN
    assert mechanism.epsilon <= 1.0 and mechanism.delta <= 1e-6
    # the analytic zCDP calibration: rho = (l2 / sigma)^2 / 2 and
    # epsilon <= rho + 2 sqrt(rho ln(1/delta)), a looser bound than OpenDP's exact conversion:
    # at OpenDP's sigma it must give at least the requested epsilon, and not much more
    rho = (sensitivity.l2 / mechanism.scale) ** 2 / 2
    assert 1.0 <= rho + 2 * math.sqrt(rho * math.log(1e6)) <= 1.3
    noise = np.asarray(mechanism.release([0] * DRAWS), dtype=np.float64)
    assert noise.var() == pytest.approx(mechanism.scale**2, rel=VARIANCE_TOLERANCE)
    # a smaller delta costs more noise
    tighter = calibrate(ReleaseRequest(1.0, 1e-9), sensitivity)
    assert tighter.scale > mechanism.scale


def test_the_analysis_redraws_have_the_released_noise_distribution() -> None:
    mechanism = calibrate(ReleaseRequest(0.5), Sensitivity(2.0, 2.0, "row"))
    redrawn = mechanism.resample(np.zeros(1, dtype=np.int64), np.random.default_rng(1), DRAWS)
    assert redrawn.var() == pytest.approx(
        discrete_laplace_variance(mechanism.scale), rel=VARIANCE_TOLERANCE
    )
