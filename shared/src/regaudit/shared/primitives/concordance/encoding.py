"""Concordance: the client-side transforms and the per-patient encodings.

A pure function of the raw per-patient (risk, time, event): the client runs it to encode, the
regulator runs it again on an opening of the committed raw values and must find the same
transforms, tie counts and encodings (docs/specs/concordance.md, "Integrity").

Transforms (ties broken deterministically, so every quantity is a function of the raw values
and the input order):

1. time position p: sort by (time ascending, event descending, risk descending, input index);
2. risk position rho: sort by (risk ascending, p ascending); H = rho // B, L = rho % B;
3. tau: rank of p among the patients of the same bucket H; sigma = B - 1 - tau;
4. tie counts per patient a (zero unless e_a = 1), over patients b with p_b > p_a:
   ``tied`` = b is an event at the same time; ``tied_other`` = of those, risk_b != risk_a;
   ``equal`` = b is comparable to a (not a tied event) and risk_b == risk_a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from regaudit.shared.algebra import FloatArray
from regaudit.shared.primitives.concordance.layout import (
    LAYOUT_SLOTS,
    TIE_SLOTS,
    Geometry,
    geometry,
)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Transforms:
    """Per-patient transforms (indexed by input order)."""

    shape: Geometry
    time_position: IntArray
    risk_position: IntArray
    bucket: IntArray
    within: IntArray
    sigma: IntArray
    tied: IntArray
    tied_other: IntArray
    equal: IntArray


def _later_in_group(group: IntArray, position: IntArray) -> IntArray:
    """For each i: the number of j with ``group[j] == group[i]`` and ``position[j] >
    position[i]`` (positions distinct)."""
    order = np.lexsort((position, group))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sizes = np.diff(np.r_[starts, group.size])
    end_of = np.repeat(starts + sizes, sizes)
    rank = np.arange(group.size)
    result = np.empty(group.size, dtype=np.int64)
    result[order] = end_of - 1 - rank
    return result


def _group_ids(*keys: FloatArray) -> IntArray:
    """Dense ids of the distinct rows of the stacked ``keys``."""
    _, inverse = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)
    return np.asarray(inverse.reshape(-1), dtype=np.int64)


def transforms(risk: FloatArray, time: FloatArray, event: FloatArray) -> Transforms:
    """The transforms of the module docstring for validated arrays of equal length."""
    n = risk.size
    shape = geometry(n)
    index = np.arange(n)
    time_position = np.empty(n, dtype=np.int64)
    time_position[np.lexsort((index, -risk, -event, time))] = index
    risk_position = np.empty(n, dtype=np.int64)
    risk_position[np.lexsort((time_position, risk))] = index
    bucket = risk_position // shape.bucket_size
    within = risk_position % shape.bucket_size
    tau = np.empty(n, dtype=np.int64)
    members = np.lexsort((time_position, bucket))
    first = np.searchsorted(bucket[members], bucket[members], side="left")
    tau[members] = np.arange(n) - first
    sigma = shape.bucket_size - 1 - tau
    is_event = event == 1.0
    events_at = _group_ids(time, event)
    same_time_events = _later_in_group(events_at, time_position)
    same_time_risk_events = _later_in_group(_group_ids(time, event, risk), time_position)
    same_risk = _later_in_group(_group_ids(risk), time_position)
    tied = np.where(is_event, same_time_events, 0)
    tied_same_risk = np.where(is_event, same_time_risk_events, 0)
    return Transforms(
        shape=shape,
        time_position=time_position,
        risk_position=risk_position,
        bucket=bucket,
        within=within,
        sigma=sigma,
        tied=tied,
        tied_other=tied - tied_same_risk,
        equal=np.where(is_event, same_risk - tied_same_risk, 0),
    )


def thermometer(value: int, block: int) -> FloatArray:
    """``theta(v)[k] = [v < k]`` over one block."""
    return (np.arange(block) > value).astype(np.float64)


def encode(transform: Transforms, event: FloatArray) -> dict[str, FloatArray]:
    """Every column of :meth:`Geometry.columns` (LAYOUT_SLOTS slots each) from the transforms.

    X ciphertext c, lane l: the patient at time position p = (lanes - 1 - l) * x_count + c
    (lanes run backwards in time; thermometer of its bucket H, its event over the block).
    Y ciphertext g * B + L, lane H % lanes: the patient with H // lanes = g and position L in
    bucket H (thermometer of sigma, event).
    Empty positions are all zero. Ties: the tie counts at 4 slots per patient (time order)."""
    shape = transform.shape
    block = shape.block
    columns = {name: np.zeros(LAYOUT_SLOTS) for name in shape.columns()}
    levels = np.arange(block)
    for patient in range(shape.patients):
        p = int(transform.time_position[patient])
        back, c = divmod(p, shape.x_count)
        lane = shape.lanes - 1 - back
        span = slice(lane * block, (lane + 1) * block)
        columns[f"x_theta_{c}"][span] = levels > transform.bucket[patient]
        columns[f"x_event_{c}"][span] = event[patient]
        h = int(transform.bucket[patient])
        group, lane = divmod(h, shape.lanes)
        name = group * shape.bucket_size + int(transform.within[patient])
        span = slice(lane * block, (lane + 1) * block)
        columns[f"y_theta_{name}"][span] = levels > transform.sigma[patient]
        columns[f"y_event_{name}"][span] = event[patient]
        j, slot = divmod(p, shape.tie_patients)
        ties = columns[f"ties_{j}"]
        ties[TIE_SLOTS * slot] = transform.tied[patient]
        ties[TIE_SLOTS * slot + 1] = transform.tied_other[patient]
        ties[TIE_SLOTS * slot + 2] = transform.equal[patient]
    return columns


def counts(transform: Transforms, event: FloatArray) -> dict[str, int]:
    """The circuit's exact integers in plaintext (X, Y by direct sums; O(N * B) memory):
    ``twice_concordant``, ``comparable``, ``tied_risk``, ``tied_event``."""
    shape = transform.shape
    p = transform.time_position
    h = transform.bucket
    order = np.argsort(p)
    # X: for each event a, later patients (in time) with a lower bucket
    x = 0
    later_buckets = np.zeros(shape.buckets + 1, dtype=np.int64)
    for patient in order[::-1]:
        if event[patient] == 1.0:
            x += int(later_buckets[: h[patient]].sum())
        later_buckets[h[patient]] += 1
    y = 0
    for bucket in range(shape.buckets):
        members = np.flatnonzero(h == bucket)
        members = members[np.argsort(transform.within[members])]
        sigma = transform.sigma[members]
        for i, patient in enumerate(members):
            if event[patient] == 1.0:
                y += int(np.count_nonzero(sigma[:i] < sigma[i]))
    events = event == 1.0
    comparable = int(np.sum((shape.patients - 1 - p)[events])) - int(transform.tied.sum())
    twice = 2 * (x + y) - 2 * int(transform.tied_other.sum()) + int(transform.equal.sum())
    return {
        "twice_concordant": twice,
        "comparable": comparable,
        "tied_risk": int(transform.equal.sum()),
        "tied_event": int(transform.tied.sum()),
    }


__all__ = ["Transforms", "counts", "encode", "thermometer", "transforms"]
