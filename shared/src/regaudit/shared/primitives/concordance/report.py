"""Concordance: the regulator's half -- decrypted outputs -> the released report.

Every output is a full-width slot sum of an exact integer times the public power of two mu.
The regulator divides by mu and rounds: anything further than COUNT_TOLERANCE from the integer
all slots agree on cannot be CKKS noise and is refused. C is then computed from exact integers:
its error bound is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import BundleFormatError, NoiseBoundError
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.layout import (
    COUNT_TOLERANCE,
    OUTPUTS,
    ROWS,
    TIME_TIES,
    output_scale,
    pair_count,
)


def decode(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, Any]:
    """Decrypted output vectors -> the released report (:func:`decode_counts`,
    :func:`build_report`). Nothing to round on release: every number is exact."""
    public = ConcordanceCircuit().validate_public(public)
    counts = decode_counts(outputs, public, rows)
    return build_report(counts, patients=public["patients"])


def decode_counts(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> dict[str, int]:
    """The four exact integers (``twice_concordant``, ``comparable``, ``tied_risk``,
    ``tied_event``) from the decrypted outputs.

    Steps: 1. exactly four finite flat output vectors and ``rows`` equal to the layout's one
    chunk; 2. each vector divided by mu: every slot within COUNT_TOLERANCE of the same integer,
    else NoiseBoundError (the message names the output, never a decrypted value); 3. the
    integers are consistent: 0 <= tied_risk <= comparable <= N (N - 1) / 2, 0 <= tied_event
    <= pairs, 0 <= twice_concordant <= 2 comparable."""
    # 1.
    if len(outputs) != len(OUTPUTS):
        raise BundleFormatError(f"concordance has {len(OUTPUTS)} outputs, got {len(outputs)}")
    if rows != ROWS:
        raise BundleFormatError(f"concordance runs on one chunk of {ROWS} rows, got {rows}")
    patients = int(public["patients"])
    mu = output_scale(patients)
    counts: dict[str, int] = {}
    for name, output in zip(OUTPUTS, outputs, strict=True):
        vector = np.asarray(output, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise BundleFormatError(f"output {name!r} is not a flat vector")
        if not np.isfinite(vector).all():
            raise NoiseBoundError(f"output {name!r} holds non-finite values")
        # 2.
        scaled = vector / mu
        value = float(np.rint(scaled.mean()))
        if float(np.abs(scaled - value).max()) > COUNT_TOLERANCE:
            raise NoiseBoundError(
                f"output {name!r}: a slot is not within {COUNT_TOLERANCE} of the integer "
                "count every slot must hold (after the output scale)"
            )
        counts[name] = int(value)
    # 3.
    pairs = pair_count(patients)
    consistent = (
        0 <= counts["tied_risk"] <= counts["comparable"] <= pairs
        and 0 <= counts["tied_event"] <= pairs
        and 0 <= counts["twice_concordant"] <= 2 * counts["comparable"]
    )
    if not consistent:
        raise NoiseBoundError("the decoded concordance counts are inconsistent with each other")
    return counts


def build_report(counts: dict[str, int], *, patients: int) -> dict[str, Any]:
    """The concordance report from the exact counts: ``concordant_pairs`` (risk ties count
    1/2, so a multiple of 1/2), ``comparable_pairs``, ``tied_risk_pairs`` (comparable pairs
    with equal risk), ``tied_event_pairs`` (event pairs at the same time: not comparable) and
    ``c_index`` = concordant / comparable (None when there is no comparable pair), exact:
    ``c_index_error_bound`` and ``c_index_noise`` are 0."""
    comparable = counts["comparable"]
    twice = counts["twice_concordant"]
    concordant: int | float = twice // 2 if twice % 2 == 0 else twice / 2.0
    c_index = None if comparable == 0 else float(Fraction(twice, 2 * comparable))
    return {
        "patients": patients,
        "pairs": pair_count(patients),
        "c_index": c_index,
        "concordant_pairs": concordant,
        "comparable_pairs": comparable,
        "tied_risk_pairs": counts["tied_risk"],
        "tied_event_pairs": counts["tied_event"],
        "c_index_error_bound": 0.0,
        "c_index_noise": 0.0,
        "exact": True,
        "method": "exact integer counts (one-hot x thermometer encodings, depth 4)",
        "time_ties": TIME_TIES,
    }


__all__ = ["build_report", "decode", "decode_counts"]
