"""The calibration primitive: conformal prediction sets under encryption.

Two forms, chosen by the input shape:

* **point** (as in regaudit-fhe 0.1.0): ``scores`` = K nonconformity scores of one test point
  and public per-class ``quantiles``; class k is in the prediction set iff score_k <= quantile_k.
  The report gives ``membership`` (one 0/1 per class, "indeterminate" for exact ties within the
  noise) and ``set_size``.
* **batch**: ``scores`` = n x K, ``labels`` = the n true classes, ``quantiles``; the report
  gives ``coverage`` (fraction of points whose true class is in their set) and
  ``mean_set_size``, each with an error bound.

Point form. Blocks of K2 slots (the next power of two >= K); the client encrypts
``score`` = s / R (R = public ``score_range``); the evaluator forms t = score - quantile / R in
[-1, 1] with a public add_plain (no level); membership is t <= 0. p(t) = sum_(odd k <= 15)
c_k T_k(t) is a least-squares odd Chebyshev fit of sign, strictly positive on (0, 1] (checked at
import), so the membership bit is exact for every |t| with |p(t)| above the noise bound; the
coefficients are folded into the output mask multiplication: depth 5.

Batch form (see ``docs/specs/calibration.md`` for the measurements behind every choice).
Membership depends only on the order of score_ik relative to q_k, so the client replaces each
class's scores by an order-preserving *position* anchored at the public quantile
(:func:`rank_positions`): members (score <= q_k, ties with q_k included) get
-(g + (1 - g) u) and non-members g + (1 - g) u, where u in (0, 1) is the average rank of the
score among that class's members (counted from the quantile downwards) resp. non-members
(upwards), and g = :data:`BATCH_GAP`. Positions are therefore never within g of 0, and a fixed
odd polynomial s of degree 15 (:data:`BATCH_SIGN_COEFFICIENTS`, least squares on [g, 1]) equals
sign to within :data:`BATCH_SIGN_ERROR` on every position. Layout: blocks of K2' = next power
of two >= K + 1 slots per point; slots 0..K-1 hold the point's K positions, slot K a copy of
the position of its true class, every other slot 0 (s(0) = 0 exactly: padding adds nothing).

The evaluator computes the odd Chebyshev polynomials T_1..T_15 of the position (10 ct x ct
products, T_15 at level 4) and two accumulators
``A = sum_k T_k * (mu_set * c_k on class slots)`` and ``B = sum_k T_k * (mu_cov * c_k on the
true-class slots)`` (the coefficients, masks and a power-of-two scale mu that keeps the result
within the profile's headroom are one plaintext multiplication: level 5). ``finalize``
slot-sums both over the whole vector, so EVERY slot of output 0 holds mu_set * sum s over the
n*K (point, class) positions and every slot of output 1 holds mu_cov * sum s over the n
true-class positions; no slot carries a per-point value. The regulator checks that all slots
agree, and reports set total = (n K - S_set) / 2 and covered = (n - S_cov) / 2 with error bounds
from the polynomial's error and a CKKS noise bound. Depth 5, rotations by the profile's
radix-4 steps 1, 4, ..., 4096 (the canary's own steps: no extra Galois key).
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
from regaudit.shared.errors import BundleFormatError, CircuitError, InputError, NoiseBoundError
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.release import release

#: Most classes per point.
MAX_CLASSES = 1024
#: Degree of the point-mode sign polynomial (odd).
SIGN_DEGREE = 15
#: Points within this distance of 0 are excluded from the sign fit (fit weight only).
SIGN_FIT_GAP = 0.05
#: |p(t)| at or below this is a tie within CKKS noise: "indeterminate".
POINT_NOISE_BOUND = 1e-4
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3

#: Batch form: positions lie in [-1, -BATCH_GAP] (members) or [BATCH_GAP, 1] (non-members).
BATCH_GAP = 0.75
#: Degree of the batch sign polynomial (odd; T_15 at level 4, the masked sum at level 5).
BATCH_DEGREE = 15
#: Largest |output| of a batch sum after the power-of-two scale mu (the depth-6 profile allows
#: 2^18; the rest is margin for noise and the polynomial's overshoot).
BATCH_OUTPUT_LIMIT = 2.0**15
#: CKKS noise bound per slot on a decrypted batch sum, in units of s (measured on
#: ckks-n16384-d6-v1: <= 1e-9 per slot; see the spec). Summed over every evaluated slot, so
#: the bound is linear in the slot count (conservative: real noise grows like its square root).
BATCH_NOISE_PER_SLOT = 1e-8
#: Largest spread between the slots of a batch output (all of them hold the same sum).
BATCH_SPREAD_TOLERANCE = 1e-3

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


def _batch_sign_coefficients() -> tuple[FloatArray, float]:
    """Chebyshev coefficients (length BATCH_DEGREE + 1, odd) of the least-squares fit of 1 on
    [BATCH_GAP, 1] (so of sign on both intervals), and max |s - sign| there."""
    grid = np.linspace(BATCH_GAP, 1.0, 20_001)
    basis = chebyshev.chebvander(grid, BATCH_DEGREE)[:, 1::2]
    odd, *_ = np.linalg.lstsq(basis, np.ones_like(grid), rcond=None)
    coefficients = np.zeros(BATCH_DEGREE + 1)
    coefficients[1::2] = odd
    probe = np.linspace(BATCH_GAP, 1.0, 400_001)
    error = float(np.abs(chebyshev.chebval(probe, coefficients) - 1.0).max())
    if error > 1e-6:
        raise CircuitError("the batch sign polynomial is not accurate", field="calibration")
    # a safety factor of 2 over the dense-grid maximum covers points between grid nodes
    return coefficients, 2.0 * error


#: The batch sign polynomial s (odd; |s - sign| <= BATCH_SIGN_ERROR on |x| in [g, 1]).
BATCH_SIGN_COEFFICIENTS, BATCH_SIGN_ERROR = _batch_sign_coefficients()


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
    """Validate the point shape (regaudit-fhe 0.1.0's) or the batch shape; InputError naming
    the field."""
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
    rows = points * (batch_block_for(classes) if batch else block_for(classes))
    return CalibrationData(rows=rows, public=public, scores=scores, labels=labels)


def block_for(classes: int) -> int:
    """Slots per point (point form): the next power of two >= classes."""
    return 1 << max(0, (classes - 1).bit_length())


def batch_block_for(classes: int) -> int:
    """Slots per point (batch form): the next power of two >= classes + 1 (the true-class
    copy lives in slot ``classes`` of the block)."""
    return block_for(classes + 1)


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks of ``values``, ties sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts + 1) / 2.0)[inverse]


def rank_positions(scores: FloatArray, quantiles: Sequence[float]) -> FloatArray:
    """Client side, batch form: the order-preserving position of every score relative to its
    class quantile (n x K, see the module doc). Members (score <= q_k) lie in
    [-1, -BATCH_GAP], non-members in [BATCH_GAP, 1]; within each side positions follow the
    average rank of the score (ties share one position), so position_ik <= position_jk iff
    score_ik <= score_jk."""
    points, classes = scores.shape
    positions = np.zeros((points, classes))
    spread = 1.0 - BATCH_GAP
    for k in range(classes):
        column = scores[:, k]
        member = column <= quantiles[k]
        inside, outside = column[member], column[~member]
        if inside.size:
            closeness = (inside.size - _average_ranks(inside) + 0.5) / inside.size
            positions[member, k] = -(BATCH_GAP + spread * closeness)
        if outside.size:
            distance = (_average_ranks(outside) - 0.5) / outside.size
            positions[~member, k] = BATCH_GAP + spread * distance
    return positions


def encode_calibration_columns(
    scores: FloatArray, labels: FloatArray | None, public: PublicInputs
) -> dict[str, FloatArray]:
    """Point: ``score`` = s / R in blocks of K2 slots. Batch: ``position`` in blocks of K2'
    slots (K positions, the true class's position in slot K, zeros)."""
    points, classes = scores.shape
    if public["mode"] == "point":
        block = block_for(classes)
        score = np.zeros((points, block))
        score[:, :classes] = scores / public["score_range"]
        return {"score": score.ravel()}
    if labels is None:
        raise InputError("a batch of points needs labels", field="labels")
    positions = rank_positions(scores, public["quantiles"])
    block = batch_block_for(classes)
    layout = np.zeros((points, block))
    layout[:, :classes] = positions
    layout[:, classes] = positions[np.arange(points), labels.astype(np.int64)]
    return {"position": layout.ravel()}


def batch_scales(public: PublicInputs) -> tuple[float, float]:
    """Powers of two (mu_set, mu_cov) keeping both batch sums within BATCH_OUTPUT_LIMIT."""
    bound = 1.0 + BATCH_SIGN_ERROR

    def scale(atoms: int) -> float:
        exponent = max(0, math.ceil(math.log2(atoms * bound / BATCH_OUTPUT_LIMIT)))
        return 2.0**-exponent

    return scale(public["points"] * public["classes"]), scale(public["points"])


def batch_masks(public: PublicInputs, slot_count: int) -> tuple[FloatArray, FloatArray]:
    """Public 0/1 patterns of a chunk: the class slots and the true-class slots."""
    classes = public["classes"]
    block = batch_block_for(classes)
    one_set, one_cov = np.zeros(block), np.zeros(block)
    one_set[:classes] = 1.0
    one_cov[classes] = 1.0
    return np.tile(one_set, slot_count // block), np.tile(one_cov, slot_count // block)


def quantile_pattern(public: PublicInputs, slot_count: int) -> FloatArray:
    """The public vector -q_k / R in every class slot of every point block of a chunk."""
    block = block_for(public["classes"])
    one = np.zeros(block)
    one[: public["classes"]] = -np.asarray(public["quantiles"]) / public["score_range"]
    return np.tile(one, slot_count // block)


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


def _odd_chebyshev(backend: SlotBackend[V], t: V, degree: int) -> dict[int, V]:
    """T_k(t) for odd k <= degree (and the powers of two on the way): T_(2^j) by doubling,
    odd k in (2^j, 2^(j+1)) as 2 T_(2^j) T_(k-2^j) - T_(2^(j+1)-k); T_k at level
    t.level + ceil(log2 k), one ct x ct product per polynomial."""
    polys: dict[int, V] = {1: t}
    power = 1
    while 2 * power <= degree:
        square = backend.multiply(polys[power], polys[power])
        polys[2 * power] = backend.add_plain(backend.add(square, square), -1.0)
        power *= 2
    for k in range(3, degree + 1, 2):
        high = 1 << ((k - 1).bit_length() - 1)
        product = backend.multiply(polys[high], polys[k - high])
        polys[k] = backend.sub(backend.add(product, product), polys[2 * high - k])
    return polys


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
    """Point: p(t_k) per class (depth 5). Batch: slot-summed sign polynomial of the client's
    rank positions, over all classes and over the true classes (depth 5)."""

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
        return ["position"] if public["mode"] == "batch" else ["score"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        if public["mode"] == "point":
            return float(np.abs(SIGN_COEFFICIENTS).sum())
        mu_set, mu_cov = batch_scales(public)
        bound = 1.0 + BATCH_SIGN_ERROR
        return bound * max(mu_set * public["points"] * public["classes"], mu_cov * public["points"])

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Point: [T_1, T_3, ..., T_15](t). Batch: [A, B], the slot-wise sign polynomial of
        the positions times mu_set on the class slots, resp. mu_cov on the true-class slots."""
        for name in self.columns(public):
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        if public["mode"] == "point":
            if block_for(public["classes"]) > backend.slot_count:
                raise CircuitError("too many classes for the slots", field="classes")
            t = backend.add_plain(inputs["score"], quantile_pattern(public, backend.slot_count))
            polys = _chebyshev(backend, t, SIGN_DEGREE)
            return [polys[k] for k in range(1, SIGN_DEGREE + 1, 2)]
        if batch_block_for(public["classes"]) > backend.slot_count:
            raise CircuitError("too many classes for the slots", field="classes")
        polys = _odd_chebyshev(backend, inputs["position"], BATCH_DEGREE)
        mask_set, mask_cov = batch_masks(public, backend.slot_count)
        mu_set, mu_cov = batch_scales(public)
        sums: list[V] = []
        for mask, mu in ((mask_set, mu_set), (mask_cov, mu_cov)):
            by_level: dict[int, list[V]] = {}
            for k in range(1, BATCH_DEGREE + 1, 2):
                term = backend.multiply_plain(polys[k], mask * (mu * BATCH_SIGN_COEFFICIENTS[k]))
                by_level.setdefault(term.level, []).append(term)
            total: V | None = None
            for level in sorted(by_level):
                partial = backend.add_many(by_level[level])
                total = partial if total is None else backend.add(total, partial)
            assert total is not None
            sums.append(total)
        return sums

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Point: sum_k c_k T_k masked to the K class slots (coefficients in the mask).
        Batch: both sums slot-summed over the whole vector (every slot holds the total)."""
        if public["mode"] == "batch":
            if len(accumulators) != 2:
                raise CircuitError("expected 2 accumulators", field="accumulators")
            return [backend.slot_sum(accumulator) for accumulator in accumulators]
        by_level: dict[int, list[V]] = {}
        expected = (SIGN_DEGREE + 1) // 2
        if len(accumulators) != expected:
            raise CircuitError(f"expected {expected} accumulators", field="accumulators")
        for index, accumulator in enumerate(accumulators):
            mask = np.zeros(backend.slot_count)
            mask[: public["classes"]] = SIGN_COEFFICIENTS[2 * index + 1]
            masked = backend.multiply_plain(accumulator, mask)
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
        return release_batch(decode_batch(outputs, public))


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
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {ZERO_TOLERANCE} of 0"
        )
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


def batch_noise_bounds(public: PublicInputs, slot_count: int) -> tuple[float, float]:
    """CKKS noise bounds on S_set and S_cov (unscaled sums of s): every evaluated slot of
    every chunk may contribute BATCH_NOISE_PER_SLOT, amplified by 1 / mu."""
    block = batch_block_for(public["classes"])
    chunks = math.ceil(public["points"] * block / slot_count)
    slots = chunks * slot_count * BATCH_NOISE_PER_SLOT
    mu_set, mu_cov = batch_scales(public)
    return slots / mu_set, slots / mu_cov


def _uniform_output(vector: FloatArray, name: str) -> float:
    """Steps: 1. finite; 2. every slot holds the same sum (within noise); 3. their mean."""
    # 1.
    if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
        raise BundleFormatError(f"calibration {name} output is malformed")
    # 2.
    spread = float(vector.max() - vector.min())
    if spread > BATCH_SPREAD_TOLERANCE:
        raise NoiseBoundError(
            f"the {name} output's slots disagree by more than {BATCH_SPREAD_TOLERANCE}: "
            "not a slot-sum"
        )
    # 3.
    return float(vector.mean())


def decode_batch(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """Coverage and mean set size with error bounds from the two decrypted slot-sums.

    Steps: 1. two output vectors, each uniform; 2. unscale S = output / mu and check its
    range; 3. totals (atoms - S) / 2, error bound atoms * BATCH_SIGN_ERROR / 2 plus noise / 2;
    4. per point. Unrounded: what leaves the regulator is :func:`release_batch` of it."""
    # 1.
    if len(outputs) != 2:
        raise BundleFormatError(f"calibration batch has 2 output vectors, got {len(outputs)}")
    vectors = [np.asarray(o, dtype=np.float64) for o in outputs]
    values = [_uniform_output(v, n) for v, n in zip(vectors, ("set size", "coverage"), strict=True)]
    points, classes = public["points"], public["classes"]
    mu_set, mu_cov = batch_scales(public)
    noise_set, noise_cov = batch_noise_bounds(public, vectors[0].shape[0])
    report: dict[str, Any] = {"points": points, "quantiles": public["quantiles"]}
    for name, atoms, value, mu, noise in (
        ("mean_set_size", points * classes, values[0], mu_set, noise_set),
        ("coverage", points, values[1], mu_cov, noise_cov),
    ):
        # 2.
        total = value / mu
        if abs(total) > atoms * (1.0 + BATCH_SIGN_ERROR) + noise:
            raise NoiseBoundError(
                f"the {name} sum exceeds its range (at most {atoms} plus the error bound)"
            )
        # 3.
        count = min(max((atoms - total) / 2.0, 0.0), float(atoms))
        error = (atoms * BATCH_SIGN_ERROR + noise) / 2.0
        # 4.
        report[name] = count / points
        report[f"{name}_error_bound"] = error / points
    return report


def release_batch(report: dict[str, Any]) -> dict[str, Any]:
    """The batch report as it may leave the regulator (see :mod:`regaudit.shared.release`):
    ``coverage`` and ``mean_set_size`` rounded to the decimal step of their error bounds, each bound
    widened by the half step the rounding may add (see :func:`regaudit.shared.release.release`). The
    point form needs nothing: it reports 0/1 bits and integer set sizes only."""
    released = dict(report)
    for name in ("mean_set_size", "coverage"):
        bound = f"{name}_error_bound"
        released[name], released[bound] = release(report[name], report[bound])
    return released


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
    "BATCH_DEGREE",
    "BATCH_GAP",
    "BATCH_SIGN_COEFFICIENTS",
    "BATCH_SIGN_ERROR",
    "MAX_CLASSES",
    "SIGN_COEFFICIENTS",
    "SIGN_DEGREE",
    "CalibrationCircuit",
    "CalibrationData",
    "batch_block_for",
    "batch_masks",
    "batch_scales",
    "block_for",
    "calibration_reference",
    "decode_batch",
    "decode_point",
    "encode_calibration_columns",
    "evaluate_plaintext",
    "parse_calibration_input",
    "quantile_pattern",
    "rank_positions",
    "release_batch",
]
