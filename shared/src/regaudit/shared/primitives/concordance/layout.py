"""Concordance: what every party agrees on (client, evaluator and regulator all read it).

The public constants, the validation of the public inputs ``{"patients": N}`` and the
per-patient block layout (:class:`Geometry`): every quantity below is a function of N alone.

Encoding (docs/specs/concordance.md): a patient's value ``v`` in ``[0, V - 2]`` is uploaded as
the thermometer ``theta(v)[k] = [v < k]`` over a block of ``V`` slots (V a power of two);
the evaluator derives the one-hot ``onehot(v)[k] = theta[k + 1] - theta[k]`` itself (one
rotation by one slot and a public correction of +1 at the block's last slot), so a patient's
one-hot and thermometer cannot disagree, and ``<onehot(u), theta(v)> = [v < u]`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.validation import describe

#: Fewest and most patients one audit may hold. The most: buckets and bucket sizes both fit a
#: block of V = 128 slots ((V - 1)^2 = 16,129 >= N) at 64 blocks per ciphertext.
MIN_PATIENTS = 2
MAX_PATIENTS = 16_000

#: The input's fields (regaudit-fhe 0.1.0's keys), also the table fields a column mapping names.
FIELDS: tuple[str, ...] = ("risk", "time", "event")

#: Slots of every ciphertext of the layout: the circuit runs on ckks-n16384-d6-v1 (its 2^40
#: scale keeps the summed CKKS noise far below a quarter count at N = 16,000).
LAYOUT_SLOTS = 8192
#: The layout is one chunk of LAYOUT_SLOTS rows whose columns are the patients' ciphertexts.
ROWS = LAYOUT_SLOTS
#: Smallest block width (a power of two): at most 64 lanes keep the lane suffix at 63 rotations.
MIN_BLOCK = 128
#: Per-patient tie counts packed per ciphertext: 4 slots per patient (tied-event partners,
#: of which with a different risk, equal-risk comparable partners, 0).
TIE_SLOTS = 4
#: Every accumulator is multiplied by this public power of two on a ct x pt multiplication
#: the circuit makes anyway, so that the final scalar (2 mu / PRESCALE, mu / PRESCALE) stays
#: >= 2^-5. Why: a scalar c is encoded as round(c * s) at the scale s ~ 2^40, a relative error
#: up to 1 / (2 c s), the same for every slot; 2^-10 (mu at N = 16,000) alone would put 0.06
#: counts of systematic error into a count of 1.3e8, 2^-5 steps put < 0.01.
PRESCALE = 2.0**-5
#: A decoded count may lie at most this far from an integer (in counts; after the output scale).
COUNT_TOLERANCE = 0.25
#: Outputs are scaled by a power of two mu so that mu * N (N - 1) <= this (2^18 is the depth-6
#: profile's limit, which keeps one bit for the sign and one for noise).
OUTPUT_SCALE_TARGET = 2**18

#: Output vectors, in order (each a full-width slot sum times mu; every slot holds the total).
OUTPUTS: tuple[str, ...] = (
    "twice_concordant",
    "comparable",
    "tied_risk",
    "tied_event",
)

#: How time ties are treated (the only convention implemented; recorded in every report).
TIME_TIES = "event-before-censoring-comparable; tied-events-not-comparable (sksurv, lifelines)"


@dataclass(frozen=True)
class Geometry:
    """The public block layout for N patients (see :func:`geometry`).

    * X part (time order): patient at time position p sits in lane
      ``lanes - 1 - p // x_count`` of ciphertext ``p % x_count`` (lane-major, lanes backwards:
      lower lanes hold later patients);
    * Y part (risk order): risk position rho = B * H + L; bucket H is lane ``H % lanes`` of
      group ``H // lanes``; L is the ciphertext index within the group (``group * B + L``);
    * ties: patient p's four tie slots start at slot ``4 * (p % tie_patients)`` of ciphertext
      ``p // tie_patients``."""

    patients: int
    block: int
    lanes: int
    bucket_size: int
    buckets: int
    x_count: int
    groups: int
    tie_count: int

    @property
    def y_count(self) -> int:
        return self.groups * self.bucket_size

    @property
    def tie_patients(self) -> int:
        return LAYOUT_SLOTS // TIE_SLOTS

    def columns(self) -> list[str]:
        """Column names in upload order (one ciphertext each)."""
        names: list[str] = []
        for part, count in (("x", self.x_count), ("y", self.y_count)):
            for c in range(count):
                names += [f"{part}_theta_{c}", f"{part}_event_{c}"]
        names += [f"ties_{j}" for j in range(self.tie_count)]
        return names


def geometry(patients: int) -> Geometry:
    """The layout of ``patients`` patients: the smallest block V with (V - 1)^2 >= N, then the
    bucket size B in [ceil(N / (V - 1)), V - 1] that needs the fewest Y ciphertexts (the
    smallest such B); buckets = ceil(N / B)."""
    block = MIN_BLOCK
    while (block - 1) ** 2 < patients:
        block *= 2
    lanes = LAYOUT_SLOTS // block
    best: tuple[int, int] | None = None
    for size in range(max(1, math.ceil(patients / (block - 1))), block):
        buckets = math.ceil(patients / size)
        cost = math.ceil(buckets / lanes) * size
        if best is None or cost < best[0]:
            best = (cost, size)
    assert best is not None
    size = best[1]
    buckets = math.ceil(patients / size)
    return Geometry(
        patients=patients,
        block=block,
        lanes=lanes,
        bucket_size=size,
        buckets=buckets,
        x_count=math.ceil(patients / lanes),
        groups=math.ceil(buckets / lanes),
        tie_count=math.ceil(patients / (LAYOUT_SLOTS // TIE_SLOTS)),
    )


def output_scale(patients: int) -> float:
    """The public power of two ``mu`` every output is multiplied by (mu * N (N - 1) <= 2^18)."""
    largest = max(patients * (patients - 1), 1)
    shift = max(0, math.ceil(math.log2(largest / OUTPUT_SCALE_TARGET)))
    return 2.0**-shift


def pair_count(patients: int) -> int:
    """Number of unordered pairs of ``patients`` patients."""
    return patients * (patients - 1) // 2


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
    "COUNT_TOLERANCE",
    "FIELDS",
    "LAYOUT_SLOTS",
    "MAX_PATIENTS",
    "MIN_PATIENTS",
    "OUTPUTS",
    "OUTPUT_SCALE_TARGET",
    "PRESCALE",
    "ROWS",
    "TIE_SLOTS",
    "TIME_TIES",
    "Geometry",
    "describe",
    "geometry",
    "output_scale",
    "pair_count",
    "validate_public",
]
