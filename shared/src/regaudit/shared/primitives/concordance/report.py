"""Concordance: the regulator's half -- decrypted outputs -> the released report.

The regulator checks that all slots of each output agree (noise only), averages them, divides
by ``mu`` and reports C with an error bound (:func:`decode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.layout import (
    OUTPUTS,
    SIGN_DEGREE,
    SIGN_MAX_ABS,
    TIME_TIES,
    output_scale,
    pair_count,
    sign_polynomial,
)
from regaudit.shared.release import release, round_bound_up, round_to_bound

#: Decrypted slots of one output may differ by at most this (in scaled units) before the
#: regulator refuses them: every slot holds the same aggregate, differences are CKKS noise.
SLOT_AGREEMENT_TOLERANCE = 1e-2
#: A-priori allowance for CKKS noise in each decoded aggregate, per pair slot (pair units):
#: about 10x the error measured on ckks-n16384-d6-v1 (docs/specs/concordance.md). The slot
#: spread under-estimates the noise (after a full slot sum every slot carries nearly the same
#: error), so it is only a consistency check.
CKKS_NOISE_PER_PAIR = 1e-6


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Decrypted output vectors -> the released report: see :func:`decode_outputs`,
    :func:`build_report` and :func:`release_report`."""
    public = ConcordanceCircuit().validate_public(public)
    comparable, balance, noise = decode_outputs(outputs, public, rows)
    report = build_report(comparable, balance, patients=public["patients"], noise=noise)
    return release_report(report, noise=noise)


def decode_outputs(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> tuple[float, float, float]:
    """(comparable, W, noise) in pair units from the decrypted outputs.

    Steps: 1. exactly two finite output vectors and ``rows`` equal to the pair count of
    ``public["patients"]``; 2. every slot of each output holds the same aggregate up to
    SLOT_AGREEMENT_TOLERANCE (scaled units), else NoiseBoundError; 3. the slot means divided by
    mu are the aggregates; the noise allowance is the larger of CKKS_NOISE_PER_PAIR * pairs and
    the largest slot deviation divided by mu."""
    # 1.
    if len(outputs) != len(OUTPUTS):
        raise BundleFormatError(f"concordance has {len(OUTPUTS)} outputs, got {len(outputs)}")
    pairs = pair_count(public["patients"])
    if rows != pairs:
        raise BundleFormatError(f"{rows} rows, but {public['patients']} patients make {pairs}")
    mu = output_scale(pairs)
    values: list[float] = []
    noise = 0.0
    for name, output in zip(OUTPUTS, outputs, strict=True):
        vector = np.asarray(output, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise BundleFormatError(f"output {name!r} is not a flat vector")
        if not np.isfinite(vector).all():
            raise NoiseBoundError(f"output {name!r} holds non-finite values")
        # 2.
        mean = float(vector.mean())
        spread = float(np.abs(vector - mean).max())
        if spread > SLOT_AGREEMENT_TOLERANCE:
            raise NoiseBoundError(
                f"output {name!r}: slots differ by more than {SLOT_AGREEMENT_TOLERANCE} "
                "(scaled units); every slot must hold the same aggregate"
            )
        # 3.
        values.append(mean / mu)
        noise = max(noise, spread / mu)
    return values[0], values[1], max(noise, CKKS_NOISE_PER_PAIR * pairs)


def approximation_bound(patients: int) -> tuple[float, float]:
    """Worst-case bounds (comparable, concordant) on the pair-count errors caused by p != sign,
    for ``patients`` patients without ties (no error cancellation assumed).

    Without ties the rank differences are k / (N - 1) with multiplicity N - k; per pair
    |delta comparable| <= e(dt) / 2 and |delta concordant| <= 3/4 e(dt) + (1/2 + P)/2 e(dr),
    e = |p - sign|, P = max |p|. Tied values give dt = 0 or dr = 0 exactly, where p is exact."""
    k = np.arange(1, patients, dtype=np.float64)
    error = np.abs(sign_polynomial(k / (patients - 1)) - 1.0)
    total = float(np.sum((patients - k) * error))
    return 0.5 * total, (0.75 + 0.5 * (0.5 + SIGN_MAX_ABS)) * total


def build_report(
    comparable: float, balance: float, *, patients: int, noise: float = 0.0
) -> dict[str, Any]:
    """The concordance report from the decoded aggregates (pair units).

    ``c_index_error_bound`` is rigorous for inputs without ties (worst case over every data set
    of that size, no error cancellation, plus the noise allowance): it is loose (0.4-1). The
    measured error on real data is about 1e-3 or less (docs/specs/concordance.md).
    ``c_index_noise`` is the CKKS part alone."""
    concordant = 0.5 * (comparable + balance)
    bound_comparable, bound_concordant = approximation_bound(patients)
    bound_comparable += noise
    bound_concordant += noise
    c_index: float | None = None
    error_bound: float | None = None
    noise_c: float | None = None
    if comparable > 0.5:
        c_index = min(1.0, max(0.0, concordant / comparable))
        if comparable > bound_comparable:
            error_bound = min(
                1.0,
                (bound_concordant + c_index * bound_comparable) / (comparable - bound_comparable),
            )
        else:
            error_bound = 1.0
        noise_c = 2.0 * noise / comparable
    return {
        "patients": patients,
        "pairs": pair_count(patients),
        "c_index": c_index,
        "concordant_pairs": concordant,
        "comparable_pairs": comparable,
        "c_index_error_bound": error_bound,
        "c_index_noise": noise_c,
        "approximation": f"odd least-squares sign polynomial, degree {SIGN_DEGREE}, on ranks",
        "time_ties": TIME_TIES,
    }


def release_report(report: dict[str, Any], *, noise: float) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): every
    decoded number rounded to the precision its CKKS noise bound supports.

    The pair counts are rounded to the step of ``noise`` (the CKKS allowance on each
    aggregate, pair units); ``c_index`` to the step of ``c_index_noise`` (which is widened by
    the half step the rounding may add). ``c_index_error_bound`` is rounded up to two
    significant digits after adding that half step. The rounding follows the noise, not the
    total bound: the rest of ``c_index_error_bound`` is the polynomial's deterministic
    approximation error (a function of the data alone, loose: 0.4-1), which carries no
    decryption noise; rounding C to it would report C to one decimal."""
    released = dict(report)
    released["concordant_pairs"] = round_to_bound(report["concordant_pairs"], noise)
    released["comparable_pairs"] = round_to_bound(report["comparable_pairs"], noise)
    if report["c_index"] is not None and report["c_index_noise"] is not None:
        c_index, c_noise = release(report["c_index"], report["c_index_noise"])
        released["c_index"], released["c_index_noise"] = c_index, c_noise
        assert c_index is not None
        widening = abs(c_index - report["c_index"])
        if report["c_index_error_bound"] is not None:
            released["c_index_error_bound"] = min(
                1.0, round_bound_up(report["c_index_error_bound"] + widening)
            )
    return released


__all__ = [
    "CKKS_NOISE_PER_PAIR",
    "SLOT_AGREEMENT_TOLERANCE",
    "approximation_bound",
    "build_report",
    "decode",
    "decode_outputs",
    "release_report",
]
