"""Concordance: what every party agrees on (client, evaluator and regulator all read it).

The public constants, the validation of the public inputs ``{"patients": N}``, the pair-slot
layout (one slot per unordered pair i < j, :data:`COLUMNS`), the output scale ``mu`` and the
public sign polynomial ``p`` (its coefficients and its plaintext view).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import describe

#: Fewest and most patients one audit may hold (pairs grow quadratically: 4096 patients are
#: 8,386,560 pair slots, 1,024 chunks of 8 ciphertexts at N = 2^14).
MIN_PATIENTS = 2
MAX_PATIENTS = 4096

#: The input's fields (regaudit-fhe 0.1.0's keys), also the table fields a column mapping names.
FIELDS: tuple[str, ...] = ("risk", "time", "event")

#: Monomial coefficients of the odd sign polynomial p(x) = sum c_k x^k, k = 1, 3, ..., 15: weighted
#: least-squares fit of sign(x) on a uniform grid of (0, 1] (8,000 points, Chebyshev weight
#: 1/sqrt(1 - x^2), fitted in the Chebyshev basis and converted). Inputs are differences of ranks
#: scaled into [0, 1], so x lies in [-1, 1]; max |p| = 1.18028, p(1) = 0.966. Why this fit (and
#: not the unweighted one): docs/specs/concordance.md.
SIGN_COEFFICIENTS: tuple[float, ...] = (
    10.180204853570224,
    -142.3629766390054,
    1023.8623802382541,
    -3826.471448674534,
    7927.454868015659,
    -9188.10718876222,
    5575.436128303616,
    -1379.0259050301784,
)
SIGN_DEGREE = 2 * len(SIGN_COEFFICIENTS) - 1
#: max |p(x)| over [-1, 1] (drives the output magnitude bound)
SIGN_MAX_ABS = 1.1803
#: Outputs are scaled so that mu * pairs <= this (the depth-6 profile allows 2^18).
OUTPUT_SCALE_TARGET = 2**15

#: Column names (one slot per unordered pair i < j), in upload order.
COLUMNS: tuple[str, ...] = (
    "risk_i",
    "risk_j",
    "time_i",
    "time_j",
    "event_i",
    "event_j",
    "ties_i",
    "ties_j",
)
#: Output vectors, in order (each a full-width slot sum times mu).
OUTPUTS: tuple[str, ...] = ("comparable", "concordance_balance")

#: How time ties are treated (the only convention implemented; recorded in every report).
TIME_TIES = "event-before-censoring-comparable; tied-events-not-comparable (sksurv, lifelines)"


def pair_count(patients: int) -> int:
    """Number of unordered pairs (= slots = plan rows) of ``patients`` patients."""
    return patients * (patients - 1) // 2


def output_scale(pairs: int) -> float:
    """The public power of two ``mu`` every output is multiplied by (mu * pairs <= 2^15)."""
    shift = max(0, math.ceil(math.log2(max(pairs, 1))) - int(math.log2(OUTPUT_SCALE_TARGET)))
    return 2.0**-shift


def sign_polynomial(x: FloatArray | float) -> FloatArray:
    """p(x) in float64 (Horner on x^2), the plaintext view of the circuit's sign."""
    values = np.asarray(x, dtype=np.float64)
    square = values * values
    acc = np.zeros_like(values)
    for coefficient in reversed(SIGN_COEFFICIENTS):
        acc = acc * square + coefficient
    return np.asarray(acc * values, dtype=np.float64)


def validate_public(public: Mapping[str, Any]) -> PublicInputs:
    """``{"patients": integer in [MIN_PATIENTS, MAX_PATIENTS]}`` (exactly)."""
    if not isinstance(public, Mapping):
        raise InputError("public inputs must be an object", field="public")
    unknown = sorted(set(public) - {"patients"})
    if unknown:
        raise InputError("unknown public input", field=str(unknown[0]))
    if "patients" not in public:
        raise InputError("is required", field="patients")
    patients = public["patients"]
    if isinstance(patients, bool) or not isinstance(patients, int | np.integer):
        raise InputError(f"must be an integer, got {describe(patients)}", field="patients")
    if not MIN_PATIENTS <= int(patients) <= MAX_PATIENTS:
        raise InputError(
            f"must be in [{MIN_PATIENTS}, {MAX_PATIENTS}], got {int(patients)}",
            field="patients",
        )
    return {"patients": int(patients)}


__all__ = [
    "COLUMNS",
    "FIELDS",
    "MAX_PATIENTS",
    "MIN_PATIENTS",
    "OUTPUTS",
    "OUTPUT_SCALE_TARGET",
    "SIGN_COEFFICIENTS",
    "SIGN_DEGREE",
    "SIGN_MAX_ABS",
    "TIME_TIES",
    "describe",
    "output_scale",
    "pair_count",
    "sign_polynomial",
    "validate_public",
]
