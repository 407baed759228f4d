"""Concordance: the client's half -- validate the input, read tables, encode per patient.

Parts, in order: 1. the validated data and its per-patient encoding (:mod:`.encoding`),
2. input validation (:func:`parse`, :func:`load_table`) and the exact counts of the oracle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import InputError
from regaudit.shared.primitives import tables
from regaudit.shared.primitives.concordance.encoding import Transforms, encode, transforms
from regaudit.shared.primitives.concordance.layout import (
    FIELDS,
    LAYOUT_SLOTS,
    MAX_PATIENTS,
    MIN_PATIENTS,
    ROWS,
    describe,
    pair_count,
    validate_public,
)
from regaudit.shared.primitives.tables import ColumnMapping
from regaudit.shared.primitives.validation import float_array

# ============================================================================================
# 1. The validated input and its per-patient encoding
# ============================================================================================


@dataclass(frozen=True)
class ConcordanceData:
    """Validated plaintext concordance input plus its client-side transforms."""

    #: slots of the one chunk (LAYOUT_SLOTS); this is the plan's ``rows``
    rows: int
    public: PublicInputs
    risk: FloatArray = field(repr=False)
    time: FloatArray = field(repr=False)
    event: FloatArray = field(repr=False)
    #: the public-rule transforms of (risk, time, event) (:mod:`.encoding`)
    transform: Transforms = field(repr=False)

    @property
    def patients(self) -> int:
        return int(self.public["patients"])

    def columns(self) -> dict[str, FloatArray]:
        """Every encrypted column (one ciphertext of LAYOUT_SLOTS slots each), in upload
        order."""
        return encode(self.transform, self.event)

    def iter_chunks(self, chunk_rows: int) -> Iterator[dict[str, FloatArray]]:
        """The one chunk (the layout is made for LAYOUT_SLOTS slots)."""
        if chunk_rows != LAYOUT_SLOTS:
            raise InputError(
                f"the concordance layout needs {LAYOUT_SLOTS}-slot chunks, got {chunk_rows}",
                field="profile",
            )
        yield self.columns()


# ============================================================================================
# 2. Input validation
# ============================================================================================


def _numbers(name: str, values: object, *, allow_bool: bool = False) -> FloatArray:
    """A flat, finite float64 array; InputError naming ``name`` otherwise."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputError(f"must be a flat array, got {values.ndim} dimensions", field=name)
        kinds = "iufb" if allow_bool else "iuf"
        if values.dtype.kind not in kinds:
            raise InputError(f"must hold numbers, got dtype {values.dtype}", field=name)
        array = values.astype(np.float64)
    elif isinstance(values, list | tuple):
        allowed = (int, float, bool) if allow_bool else (int, float)
        for index, item in enumerate(values):
            if type(item) not in allowed and not isinstance(item, np.integer | np.floating):
                raise InputError(
                    f"element {index} is {describe(item)}, expected a number", field=name
                )
            if isinstance(item, bool) and not allow_bool:
                raise InputError(f"element {index} is a boolean, expected a number", field=name)
        array = float_array(values)
    else:
        raise InputError(f"must be an array, got {describe(values)}", field=name)
    if array.size > MAX_PATIENTS:
        raise InputError(
            f"{array.size} patients exceed the limit of {MAX_PATIENTS}",
            field=name,
        )
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        raise InputError(f"element {index} is {array[index]!r}, not a finite number", field=name)
    return array + 0.0  # normalizes -0.0


def parse(payload: Mapping[str, Any]) -> ConcordanceData:
    """Validate regaudit-fhe 0.1.0's concordance JSON shape
    ``{"risk": [...], "time": [...], "event": [...]}`` and encode it. Raises InputError naming
    the offending field: unknown or missing key, non-numbers, NaN/inf, negative time, non-binary
    event, length mismatch, fewer than MIN_PATIENTS or more than MAX_PATIENTS patients, or no
    comparable pair at all."""
    if not isinstance(payload, Mapping):
        raise InputError(f"concordance input must be a JSON object, got {describe(payload)}")
    for key in payload:
        if key not in FIELDS:
            raise InputError("unknown field", field=str(key))
    for key in FIELDS:
        if key not in payload:
            raise InputError("is required", field=key)
    risk = _numbers("risk", payload["risk"])
    time = _numbers("time", payload["time"])
    event = _numbers("event", payload["event"], allow_bool=True)
    n = risk.size
    for name, column in (("time", time), ("event", event)):
        if column.size != n:
            raise InputError(f"has {column.size} values but risk has {n}", field=name)
    if n < MIN_PATIENTS:
        raise InputError(f"needs at least {MIN_PATIENTS} patients, got {n}", field="risk")
    negative = time < 0
    if negative.any():
        index = int(np.argmax(negative))
        raise InputError(f"element {index} is {time[index]!r}, times must be >= 0", field="time")
    binary = (event == 0.0) | (event == 1.0)
    if not binary.all():
        index = int(np.argmax(~binary))
        raise InputError(f"element {index} is {event[index]!r}, expected 0 or 1", field="event")
    transform = transforms(risk, time, event)
    comparable = int(np.sum((n - 1 - transform.time_position)[event == 1.0]))
    if comparable - int(transform.tied.sum()) == 0:
        raise InputError(
            "no comparable pair: C is undefined (every patient is censored, or all events "
            "happen at the same time with nobody at risk afterwards)",
            field="event",
        )
    public = validate_public({"patients": n})
    return ConcordanceData(
        rows=ROWS,
        public=public,
        risk=risk,
        time=time,
        event=event,
        transform=transform,
    )


def load_table(path: Path, mapping: ColumnMapping, overrides: dict[str, Any]) -> ConcordanceData:
    """One row per patient: the ``risk``, ``time`` and ``event`` columns (renamed by
    ``mapping``). Concordance has no public input to override: ``overrides`` is not read."""
    table = tables.read_table(path)
    payload = {
        name: tables.numbers(path, tables.column(path, table, mapping, name), field_name=name)
        for name in FIELDS
    }
    return parse(payload)


def exact_counts(risk: FloatArray, time: FloatArray, event: FloatArray) -> dict[str, Any]:
    """Exact Harrell counts (sksurv semantics, exact risk equality), O(N^2) in numpy rows.

    Used by :func:`parse` (C must be defined) and by the plaintext reference."""
    n = risk.size
    concordant = 0
    tied_risk = 0
    comparable = 0
    tied_time = 0
    for a in np.flatnonzero(event == 1.0):
        later = (time > time[a]) | ((time == time[a]) & (event == 0.0))
        tied_time += int(np.count_nonzero((time == time[a]) & (event == 0.0)))
        others = risk[later]
        comparable += others.size
        concordant += int(np.count_nonzero(risk[a] > others))
        tied_risk += int(np.count_nonzero(risk[a] == others))
    c_index = None if comparable == 0 else (concordant + 0.5 * tied_risk) / comparable
    return {
        "patients": n,
        "pairs": pair_count(n),
        "c_index": c_index,
        "concordant_pairs": concordant + 0.5 * tied_risk,
        "comparable_pairs": comparable,
        "tied_risk_pairs": tied_risk,
        "tied_time_pairs": tied_time,
    }


__all__ = [
    "ConcordanceData",
    "exact_counts",
    "load_table",
    "parse",
]
