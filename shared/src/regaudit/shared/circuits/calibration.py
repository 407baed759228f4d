"""The calibration primitive: conformal prediction sets under encryption.

Two forms, chosen by the input shape:

* **point** (the seed): ``scores`` = K nonconformity scores of one test point and public
  per-class ``quantiles``; class k is in the prediction set iff score_k <= quantile_k. The
  report gives ``membership`` (one 0/1 per class, "indeterminate" for exact ties within the
  noise) and ``set_size``.
* **batch**: ``scores`` = n x K, ``labels`` = the n true classes, ``quantiles``; the report
  gives ``coverage`` (fraction of points whose true class is in their set) and
  ``mean_set_size``, each with a rigorous error bound.

Client-side encoding: points occupy blocks of K2 slots (the next power of two >= K, so the
quantile pattern repeats identically in every chunk); the client encrypts ``score`` = s / R
(R = public ``score_range``, scores and quantiles lie in [0, R]) and, for batches, the one-hot
``label`` column and a ``valid`` column (1 on the n*K real slots). The evaluator forms
t = score - quantile / R in [-1, 1] with a public add_plain (no level); membership is t <= 0.

Point circuit: p(t) = sum_(odd k <= 15) c_k T_k(t), a least-squares odd Chebyshev fit of sign
that is strictly positive on (0, 1] (checked at import). Only the sign of p is used, so the
membership bit is exact for every |t| with |p(t)| above the noise bound (|t| >~ 1e-7); p is
close to +-1 away from the quantile, so the output reveals little beyond the bit. The
coefficients c_k are folded into the output mask multiplication (no extra level). Chebyshev
polynomials come from T_2m = 2 T_m² - 1 and T_m+n = 2 T_m T_n - T_|m-n| (no scalar levels):
T_15 at level 4, output at 5.

Batch circuit: the evaluator returns the Chebyshev moments sum valid * T_k(t) and
sum label * T_k(t), k = 1..16 (level 5; masked: depth 6). The regulator solves two small LPs
per quantity (the shared moment machinery of ``drift.chebyshev_sandwich``) for the best
polynomials l <= step <= u given those moments, step(t) = [t <= 0]: a rigorous interval for
the coverage count and the set-size total, reported as midpoint and error bound. Precision
depends on how many points lie close to their quantile (measured in the tests).
Both forms need depth > 3, so they plan on ``ckks-n16384-d6-v1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.polynomial import chebyshev

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.circuits.base import Plan, PublicInputs, iter_chunks
from regaudit.shared.circuits.drift import chebyshev_sandwich
from regaudit.shared.errors import BundleFormatError, CircuitError, InputError, NoiseBoundError
from regaudit.shared.profiles import ParameterProfile

#: Most classes per point.
MAX_CLASSES = 1024
#: Degree of the point-mode sign polynomial (odd) and of the batch moments.
SIGN_DEGREE = 15
MOMENT_DEGREE = 16
#: Points within this distance of 0 are excluded from the sign fit (fit weight only).
SIGN_FIT_GAP = 0.05
#: |p(t)| at or below this is a tie within CKKS noise: "indeterminate".
POINT_NOISE_BOUND = 1e-4
#: Per-slot CKKS noise bound on a batch moment (grows like k² with the Chebyshev degree).
MOMENT_NOISE_PER_SLOT = 2e-7
#: Noise is summed over every slot of a chunk, padding included.
MIN_NOISE_SLOTS = 8192
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3

_KEYS = frozenset({"scores", "quantiles", "labels", "score_range"})
_PUBLIC_KEYS = frozenset({"mode", "quantiles", "score_range", "classes", "points"})


def _sign_coefficients() -> FloatArray:
    """Chebyshev coefficients (length SIGN_DEGREE + 1, odd) of the least-squares sign fit."""
    grid = np.cos(np.linspace(0.0, math.pi, 20_001))
    grid = grid[np.abs(grid) >= SIGN_FIT_GAP]
    basis = chebyshev.chebvander(grid, SIGN_DEGREE)[:, 1::2]
    odd, *_ = np.linalg.lstsq(basis, np.sign(grid), rcond=None)
    coefficients = np.zeros(SIGN_DEGREE + 1)
    coefficients[1::2] = odd
    probe = np.linspace(1e-6, 1.0, 200_001)
    if chebyshev.chebval(probe, coefficients).min() <= 0.0:
        raise CircuitError("the sign polynomial is not sign-preserving", field="calibration")
    return coefficients


#: The point-mode sign polynomial p (odd; p(t) > 0 on (0, 1]).
SIGN_COEFFICIENTS = _sign_coefficients()


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


@dataclass(frozen=True)
class CalibrationData:
    """Validated calibration input (point: one row of scores, labels None)."""

    rows: int
    public: PublicInputs
    scores: FloatArray = field(repr=False)
    labels: FloatArray | None = field(default=None, repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted columns in the block layout (see module doc)."""
        return encode_calibration_columns(self.scores, self.labels, self.public)


def _number(value: object, *, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    return number


def _scores(value: object) -> tuple[FloatArray, bool]:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf" or value.ndim not in (1, 2):
            raise InputError("must be numbers: K scores or n x K", field="scores")
        array = value.astype(np.float64)
        nested = value.ndim == 2
    else:
        if not isinstance(value, list | tuple) or not value:
            raise InputError("must be a non-empty array", field="scores")
        nested = isinstance(value[0], list | tuple)
        rows = value if nested else [value]
        width = len(rows[0])
        for i, row in enumerate(rows):
            where = f"scores[{i}]" if nested else "scores"
            if not isinstance(row, list | tuple) or len(row) != width:
                raise InputError(f"every point needs {width} class scores", field=where)
            for j, item in enumerate(row):
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise InputError(f"element {j} is not a number", field=where)
        array = np.asarray(rows, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.size == 0 or array.shape[1] == 0:
        raise InputError("must not be empty", field="scores")
    if not np.isfinite(array).all():
        raise InputError("holds a NaN or infinite value", field="scores")
    return array, nested


def parse_calibration_input(payload: Mapping[str, Any]) -> CalibrationData:
    """Validate the seed's point shape or the batch shape; InputError naming the field."""
    if not isinstance(payload, Mapping):
        raise InputError("calibration input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("scores", "quantiles"):
        if key not in payload:
            raise InputError("is required", field=key)
    scores, batch = _scores(payload["scores"])
    points, classes = scores.shape
    quantiles = payload["quantiles"]
    if not isinstance(quantiles, list | tuple):
        quantiles = [quantiles] * classes
    labels: FloatArray | None = None
    if batch:
        if "labels" not in payload:
            raise InputError("is required for a batch of points", field="labels")
        raw = payload["labels"]
        if not isinstance(raw, list | tuple | np.ndarray) or len(raw) != points:
            raise InputError(f"must list one class index per point ({points})", field="labels")
        for i, label in enumerate(raw):
            if isinstance(label, bool) or not isinstance(label, int | np.integer):
                raise InputError(f"element {i} is not an integer class index", field="labels")
            if not 0 <= int(label) < classes:
                raise InputError(
                    f"element {i} = {label} is not in 0..{classes - 1}", field="labels"
                )
        labels = np.asarray(raw, dtype=np.int64).astype(np.float64)
    elif "labels" in payload:
        raise InputError("only a batch of points (n x K scores) has labels", field="labels")
    public = CalibrationCircuit().validate_public(
        {
            "mode": "batch" if batch else "point",
            "quantiles": list(quantiles),
            "score_range": payload.get("score_range", 1.0),
            "classes": classes,
            "points": points,
        }
    )
    if scores.min() < 0.0 or scores.max() > public["score_range"]:
        raise InputError("every score must lie in [0, score_range]", field="scores")
    rows = points * block_for(classes)
    return CalibrationData(rows=rows, public=public, scores=scores, labels=labels)


def block_for(classes: int) -> int:
    """Slots per point: the next power of two >= classes."""
    return 1 << max(0, (classes - 1).bit_length())


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================


def encode_calibration_columns(
    scores: FloatArray, labels: FloatArray | None, public: PublicInputs
) -> dict[str, FloatArray]:
    """score = s / R in point blocks of K2 slots; batch adds one-hot label and valid."""
    points, classes = scores.shape
    block = block_for(classes)
    score = np.zeros((points, block))
    score[:, :classes] = scores / public["score_range"]
    columns = {"score": score.ravel()}
    if public["mode"] == "batch":
        assert labels is not None
        onehot = np.zeros((points, block))
        onehot[np.arange(points), labels.astype(np.int64)] = 1.0
        valid = np.zeros((points, block))
        valid[:, :classes] = 1.0
        columns["label"] = onehot.ravel()
        columns["valid"] = valid.ravel()
    return columns


def quantile_pattern(public: PublicInputs, slot_count: int) -> FloatArray:
    """The public vector -q_k / R in every class slot of every point block of a chunk."""
    block = block_for(public["classes"])
    one = np.zeros(block)
    one[: public["classes"]] = -np.asarray(public["quantiles"]) / public["score_range"]
    return np.tile(one, slot_count // block)


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


def _chebyshev(backend: SlotBackend[V], t: V, degree: int) -> dict[int, V]:
    """T_1..T_degree of t; T_k at level t.level + ceil(log2 k)."""
    polys: dict[int, V] = {1: t}
    for k in range(2, degree + 1):
        half = 1 << ((k - 1).bit_length() - 1)
        product = backend.multiply(polys[half], polys[k - half])
        doubled = backend.add(product, product)
        if half == k - half:
            polys[k] = backend.add_plain(doubled, -1.0)
        else:
            polys[k] = backend.sub(doubled, polys[2 * half - k])
    return polys


class CalibrationCircuit:
    """Point: p(t_k) per class (depth 5). Batch: valid/label-weighted Chebyshev moments of t
    (depth 6)."""

    circuit_id: ClassVar[str] = "calibration"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"mode": "point"|"batch", "quantiles": K numbers in [0, R], "score_range": R > 0,
        "classes": K, "points": n}`` (exactly these keys; a point has n = 1)."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - _PUBLIC_KEYS)
        if unknown:
            raise InputError("unknown public input", field=unknown[0])
        for key in sorted(_PUBLIC_KEYS):
            if key not in public:
                raise InputError("is required", field=key)
        mode = public["mode"]
        if mode not in ("point", "batch"):
            raise InputError("must be 'point' or 'batch'", field="mode")
        sizes = {}
        for key, limit in (("classes", MAX_CLASSES), ("points", planning.MAX_ROWS)):
            value = public[key]
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError("must be an integer", field=key)
            if not 1 <= value <= limit:
                raise InputError(f"must be in 1..{limit}", field=key)
            sizes[key] = int(value)
        if sizes["classes"] < 2:
            raise InputError("a prediction set needs at least 2 classes", field="classes")
        if mode == "point" and sizes["points"] != 1:
            raise InputError("a point audit has exactly one point", field="points")
        score_range = _number(public["score_range"], name="score_range")
        if score_range <= 0:
            raise InputError("must be > 0", field="score_range")
        quantiles = public["quantiles"]
        if not isinstance(quantiles, list | tuple) or len(quantiles) != sizes["classes"]:
            raise InputError(
                f"must give one quantile per class ({sizes['classes']})", field="quantiles"
            )
        values = []
        for k, q in enumerate(quantiles):
            number = _number(q, name=f"quantiles[{k}]")
            if not 0.0 <= number <= score_range:
                raise InputError("must lie in [0, score_range]", field=f"quantiles[{k}]")
            values.append(number)
        return {"mode": mode, "quantiles": values, "score_range": score_range, **sizes}

    def columns(self, public: PublicInputs) -> list[str]:
        return ["score", "label", "valid"] if public["mode"] == "batch" else ["score"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        if public["mode"] == "point":
            return float(np.abs(SIGN_COEFFICIENTS).sum())
        return float(public["points"] * public["classes"])

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Point: [T_1, T_3, ..., T_15](t). Batch: [valid * T_k, label * T_k for k = 1..16]."""
        for name in self.columns(public):
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        if block_for(public["classes"]) > backend.slot_count:
            raise CircuitError("too many classes for the slots", field="classes")
        t = backend.add_plain(inputs["score"], quantile_pattern(public, backend.slot_count))
        if public["mode"] == "point":
            polys = _chebyshev(backend, t, SIGN_DEGREE)
            return [polys[k] for k in range(1, SIGN_DEGREE + 1, 2)]
        polys = _chebyshev(backend, t, MOMENT_DEGREE)
        valid, label = inputs["valid"], inputs["label"]
        weighted = [backend.multiply(valid, polys[k]) for k in range(1, MOMENT_DEGREE + 1)]
        weighted += [backend.multiply(label, polys[k]) for k in range(1, MOMENT_DEGREE + 1)]
        return weighted

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Point: sum_k c_k T_k masked to the K class slots (coefficients in the mask).
        Batch: each moment slot-summed and kept in its own slot j."""
        by_level: dict[int, list[V]] = {}
        if public["mode"] == "point":
            expected = (SIGN_DEGREE + 1) // 2
            if len(accumulators) != expected:
                raise CircuitError(f"expected {expected} accumulators", field="accumulators")
            for index, accumulator in enumerate(accumulators):
                mask = np.zeros(backend.slot_count)
                mask[: public["classes"]] = SIGN_COEFFICIENTS[2 * index + 1]
                masked = backend.multiply_plain(accumulator, mask)
                by_level.setdefault(masked.level, []).append(masked)
        else:
            if len(accumulators) != 2 * MOMENT_DEGREE:
                raise CircuitError(
                    f"expected {2 * MOMENT_DEGREE} accumulators", field="accumulators"
                )
            for slot, accumulator in enumerate(accumulators):
                mask = np.zeros(backend.slot_count)
                mask[slot] = 1.0
                masked = backend.multiply_plain(backend.slot_sum(accumulator), mask)
                by_level.setdefault(masked.level, []).append(masked)
        result: V | None = None
        for level in sorted(by_level):
            partial = backend.add_many(by_level[level])
            result = partial if result is None else backend.add(result, partial)
        assert result is not None
        return [result]

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: :func:`decode_point` or :func:`decode_batch`."""
        public = self.validate_public(public)
        if public["mode"] == "point":
            return decode_point(outputs, public)
        return decode_batch(outputs, public)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def _output(outputs: Sequence[FloatArray], used: int) -> FloatArray:
    """Steps: 1. one finite vector with ``used`` leading slots; 2. the rest is ~0."""
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"calibration has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < used or not np.isfinite(vector).all():
        raise BundleFormatError("calibration output is malformed")
    # 2.
    tail = vector[used:]
    if tail.size and np.abs(tail).max() > ZERO_TOLERANCE:
        slot = used + int(np.argmax(np.abs(tail)))
        raise NoiseBoundError(f"output slot {slot} should be zero but holds {vector[slot]!r}")
    return vector[:used]


def decode_point(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """membership_k = 1 if p(t_k) < 0 (score <= quantile), 0 if p(t_k) > 0, "indeterminate"
    within POINT_NOISE_BOUND of 0; set_size counts members (None if any is indeterminate)."""
    values = _output(outputs, public["classes"])
    if np.abs(values).max() > 1.0 + 2 * np.abs(SIGN_COEFFICIENTS).sum():
        raise NoiseBoundError("a decrypted sign value is outside the polynomial's range")
    membership: list[int | str] = []
    for value in values:
        if abs(value) <= POINT_NOISE_BOUND:
            membership.append("indeterminate")
        else:
            membership.append(1 if value < 0 else 0)
    indeterminate = sum(1 for m in membership if m == "indeterminate")
    members = sum(1 for m in membership if m == 1)
    return {
        "membership": membership,
        "set_size": None if indeterminate else members,
        "set_size_range": [members, members + indeterminate],
        "quantiles": public["quantiles"],
    }


def moment_noise_bounds(public: PublicInputs) -> FloatArray:
    """Noise bound of sum weight * T_k, k = 0..MOMENT_DEGREE (T_0 terms are exact)."""
    slots = max(MIN_NOISE_SLOTS, public["points"] * block_for(public["classes"]))
    degrees = np.arange(MOMENT_DEGREE + 1, dtype=np.float64)
    noise = slots * MOMENT_NOISE_PER_SLOT * np.maximum(1.0, degrees**2 / 8.0)
    noise[0] = 0.0
    return noise


def _step(t: FloatArray) -> FloatArray:
    return (t <= 0.0).astype(np.float64)


def decode_batch(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """Coverage and mean set size with rigorous bounds from the decrypted moments."""
    values = _output(outputs, 2 * MOMENT_DEGREE)
    points, classes = public["points"], public["classes"]
    noise = moment_noise_bounds(public)
    report: dict[str, Any] = {"points": points, "quantiles": public["quantiles"]}
    for name, atoms, part in (
        ("mean_set_size", points * classes, values[:MOMENT_DEGREE]),
        ("coverage", points, values[MOMENT_DEGREE:]),
    ):
        if np.abs(part).max() > atoms * (1.0 + ZERO_TOLERANCE) + noise.max():
            raise NoiseBoundError(f"a {name} moment exceeds its range")
        moments = np.concatenate([[float(atoms)], part])
        low, high, estimate = chebyshev_sandwich(moments, noise, _step, atoms=atoms, clip_low=0.0)
        high = min(high, float(atoms))
        estimate = min(estimate, high)
        report[name] = estimate / points
        report[f"{name}_error_bound"] = max(estimate - low, high - estimate) / points
    return report


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def calibration_reference(data: CalibrationData) -> dict[str, Any]:
    """Exact report in numpy straight from the scores."""
    quantiles = np.asarray(data.public["quantiles"])
    member = data.scores <= quantiles[None, :]
    if data.public["mode"] == "point":
        bits = [int(b) for b in member[0]]
        return {
            "membership": bits,
            "set_size": sum(bits),
            "set_size_range": [sum(bits), sum(bits)],
            "quantiles": data.public["quantiles"],
        }
    assert data.labels is not None
    covered = member[np.arange(member.shape[0]), data.labels.astype(np.int64)]
    return {
        "points": data.public["points"],
        "quantiles": data.public["quantiles"],
        "mean_set_size": float(member.sum(axis=1).mean()),
        "mean_set_size_error_bound": 0.0,
        "coverage": float(covered.mean()),
        "coverage_error_bound": 0.0,
    }


def evaluate_plaintext(
    data: CalibrationData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend."""
    return planning.run_plaintext(
        CalibrationCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(data.columns(), chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "MAX_CLASSES",
    "MOMENT_DEGREE",
    "SIGN_COEFFICIENTS",
    "SIGN_DEGREE",
    "CalibrationCircuit",
    "CalibrationData",
    "block_for",
    "calibration_reference",
    "decode_batch",
    "decode_point",
    "encode_calibration_columns",
    "evaluate_plaintext",
    "parse_calibration_input",
    "quantile_pattern",
]
