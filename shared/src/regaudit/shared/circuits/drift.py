"""The drift primitive: CDF L2² distance and a bounded Wasserstein-1 distance under encryption.

Inputs (seed keys): ``p`` and ``q`` -- two histograms over the same bins (one feature), or two
F x B batches (F features, B bins each) -- and ``drift_threshold``. Optional public inputs:
``bin_width`` (W1 = sum_b |P_b - Q_b| * bin_width, default 1) and ``w1_range`` (see below).

Design decisions:

* **Prefix sums by client-side layout.** The client normalizes each histogram to a probability
  vector and encrypts its cumulative sums P, Q (a linear bijection of the histogram: the same
  information, committed as such). An encrypted Hillis-Steele scan would cost log2(B) rotations
  plus one mask level to cut the scan's spill into the padding, and the spill mask cannot be
  folded into anything else; the client-side layout costs nothing under encryption.
* **Scaled CDF differences.** The client encrypts P / R_f and Q / R_f where R_f (public
  ``w1_range``, one per feature) is a power of two >= max_b |P_b - Q_b| of feature f, chosen
  automatically as the smallest such power of two in [2^-10, 1] unless given. It discloses each
  feature's max |P - Q| (the Kolmogorov-Smirnov statistic) within a factor of 2; pass
  ``w1_range = 1`` to disclose nothing at the price of a wider W1 bound. So x = (P - Q) / R_f
  lies in [-1, 1] (the client checks this before encrypting).
* **Chebyshev moments, combined by the regulator.** With y = x² in [0, 1] and z = 2y - 1, the
  evaluator returns per feature the aggregates sum_b y_b and sum_b T_k(z_b) for k = 2..16
  (Chebyshev polynomials built with T_2m = 2 T_m² - 1 and T_m+n = 2 T_m T_n - T_|m-n|: the
  factor 2 is an addition, so no plaintext-coefficient multiplication spends a level). The
  regulator gets the distance directly (R² sum y, CKKS noise ~1e-9) and a rigorous interval
  for W1 = R * width * sum_b sqrt(y_b): two small linear programs find the best polynomials
  l <= sqrt <= u (degree 16 in y, on a grid, then widened by their measured violation on a
  25x finer grid and by the moment noise) for the decrypted moments. The report gives the
  midpoint of the two optima as ``w1_distance`` and the distance to the farther end of the
  widened interval as ``w1_error_bound``. Measured on shifted /
  rescaled normal histograms (16-128 bins): midpoint relative error mostly 0.2-0.8 %, worst 0.9 %;
  guaranteed bound 2-8 %. A uniform |x| approximation of the same degree is off by ~3 %.
  Leakage: the regulator learns these 17 moments per feature, not only W1 and the distance.
* **Depth 6** (y: 1, T_2: 2, T_3..T_4: 3, T_5..T_8: 4, T_9..T_16: 5, output mask: 6): the
  whole budget, so the planner picks ``ckks-n16384-d6-v1`` (whose 2^40 scale the distance's
  1e-6 accuracy also needs). The depth-3 profile cannot host any useful |x| approximation.

Layout: feature f occupies slots f*S .. f*S + B - 1 of the single chunk, S = max(16, the next
power of two >= B); the rest of its block is zero padding (y = 0 there: an atom at 0 that adds
nothing to W1). F*S must fit in MAX_LAYOUT_SLOTS. Output: ONE vector; aggregate j of feature f
sits in slot f*S + j (j = 0: sum y; j = k - 1: sum T_k); every other slot is zeroed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.polynomial import chebyshev

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V, rotate_composed
from regaudit.shared.circuits.base import Plan, PublicInputs, iter_chunks
from regaudit.shared.errors import BundleFormatError, CircuitError, InputError, NoiseBoundError
from regaudit.shared.profiles import ParameterProfile

#: Threshold used when the input gives none.
DEFAULT_DRIFT_THRESHOLD = 0.1
#: Largest number of bins per feature and of features per audit.
MAX_BINS = 4096
MAX_FEATURES = 512
#: The whole F x S layout must fit one chunk of the smallest profile.
MAX_LAYOUT_SLOTS = 4096
#: Smallest block stride (the output needs CHEBYSHEV_DEGREE slots per feature).
MIN_STRIDE = 16
#: Highest Chebyshev degree returned (degree 16 in y = x², 32 in x).
CHEBYSHEV_DEGREE = 16
#: Smallest and largest automatic ``w1_range``.
MIN_W1_RANGE = 2.0**-10
MAX_W1_RANGE = 1.0
#: CKKS noise bound per summed slot on a decrypted moment sum of y (|y| <= 1); T_k's noise
#: grows like k² (|T_k'| <= k²). Measured at scale 2^40 (128 bins): 4.6e-8 per slot for sum y,
#: 1.2e-7 per slot for T_16; these bounds hold 4x and 50x margins.
MOMENT_NOISE_PER_SLOT = 2e-7
#: Smallest reported distance error bound.
MIN_DISTANCE_ERROR_BOUND = 1e-9
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3
#: Grid sizes for the W1 linear programs (constraint grid; verification grid).
LP_GRID_POINTS = 8001
CHECK_GRID_POINTS = 100_001
#: |coefficient| limit of the sandwich polynomials (keeps the LPs bounded and well scaled).
LP_COEFFICIENT_BOUND = 1e3

_KEYS = frozenset({"p", "q", "drift_threshold", "bin_width", "w1_range"})
_PUBLIC_KEYS = frozenset({"drift_threshold", "bin_width", "w1_range", "features", "bins"})


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


@dataclass(frozen=True)
class DriftData:
    """Validated drift input: normalized probability vectors (F x B) plus public inputs."""

    rows: int
    public: PublicInputs
    p: FloatArray = field(repr=False)
    q: FloatArray = field(repr=False)
    batch: bool = False

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted columns: scaled CDFs in the F x S block layout (see module doc)."""
        return encode_drift_columns(self.p, self.q, self.public)


def _number(value: object, *, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    return number


def _matrix(name: str, value: object) -> tuple[FloatArray, bool]:
    """A histogram (flat list) or batch (list of equal-length lists) as an F x B array."""
    nested = False
    if isinstance(value, np.ndarray):
        array = value
        if array.dtype.kind not in "iuf":
            raise InputError(f"must hold numbers, got dtype {array.dtype}", field=name)
    else:
        if not isinstance(value, list | tuple) or len(value) == 0:
            raise InputError("must be a non-empty array of numbers or of arrays", field=name)
        nested = isinstance(value[0], list | tuple | np.ndarray)
        rows = value if nested else [value]
        width = None
        for i, row in enumerate(rows):
            where = f"{name}[{i}]" if nested else name
            if not isinstance(row, list | tuple | np.ndarray):
                raise InputError("every feature must be an array of numbers", field=where)
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise InputError(f"has {len(row)} bins, the first feature has {width}", field=where)
            for j, item in enumerate(row):
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise InputError(f"element {j} is not a number", field=where)
        array = np.asarray(rows, dtype=np.float64)
    batch = array.ndim == 2 if isinstance(value, np.ndarray) else nested
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError("must be a histogram or a features x bins array", field=name)
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError("holds a NaN or infinite value", field=name)
    if (array < 0).any():
        raise InputError("histogram values must be >= 0", field=name)
    sums = array.sum(axis=1)
    if (sums <= 0).any():
        f = int(np.argmin(sums > 0))
        raise InputError(f"feature {f} has total 0: cannot normalize", field=name)
    return array / sums[:, None], batch


def stride_for(bins: int) -> int:
    """Slots per feature block: the next power of two >= bins, at least MIN_STRIDE."""
    return max(MIN_STRIDE, 1 << max(0, (bins - 1).bit_length()))


def auto_w1_range(p: FloatArray, q: FloatArray) -> list[float]:
    """Per feature: the smallest power of two in [MIN_W1_RANGE, 1] bounding max |P - Q|."""
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    ranges = []
    for gap in gaps:
        exponent = math.ceil(math.log2(max(float(gap), MIN_W1_RANGE)))
        ranges.append(min(MAX_W1_RANGE, 2.0**exponent))
    return ranges


def parse_drift_input(payload: Mapping[str, Any]) -> DriftData:
    """Validate the seed's drift JSON shape; InputError naming the offending field."""
    if not isinstance(payload, Mapping):
        raise InputError("drift input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("p", "q"):
        if key not in payload:
            raise InputError("is required", field=key)
    p, batch_p = _matrix("p", payload["p"])
    q, batch_q = _matrix("q", payload["q"])
    if p.shape != q.shape or batch_p != batch_q:
        raise InputError(f"has shape {q.shape} but p has {p.shape}", field="q")
    w1_range = payload.get("w1_range")
    if w1_range is None:
        w1_range = auto_w1_range(p, q)
    elif not isinstance(w1_range, list | tuple):
        w1_range = [w1_range] * p.shape[0]
    public = DriftCircuit().validate_public(
        {
            "drift_threshold": payload.get("drift_threshold", DEFAULT_DRIFT_THRESHOLD),
            "bin_width": payload.get("bin_width", 1.0),
            "w1_range": w1_range,
            "features": p.shape[0],
            "bins": p.shape[1],
        }
    )
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    for f, (gap, bound) in enumerate(zip(gaps, public["w1_range"], strict=True)):
        if gap > bound:
            raise InputError(
                f"feature {f}: max |P - Q| = {gap:.6g} exceeds {bound!r}", field="w1_range"
            )
    rows = public["features"] * stride_for(public["bins"])
    return DriftData(rows=rows, public=public, p=p, q=q, batch=batch_p)


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================


def encode_drift_columns(
    p: FloatArray, q: FloatArray, public: PublicInputs
) -> dict[str, FloatArray]:
    """cdf_p / cdf_q: each feature's CDF divided by w1_range in its block of S slots."""
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    columns: dict[str, FloatArray] = {}
    for name, hist in (("cdf_p", p), ("cdf_q", q)):
        column = np.zeros(features * stride)
        for f in range(features):
            scale = 1.0 / public["w1_range"][f]
            column[f * stride : f * stride + bins] = np.cumsum(hist[f]) * scale
        columns[name] = column
    return columns


def output_slot(feature: int, quantity: int, bins: int) -> int:
    """Slot of aggregate ``quantity`` (0: sum y; k-1: sum T_k) of ``feature``."""
    return feature * stride_for(bins) + quantity


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


class DriftCircuit:
    """Per feature: sum y and sum T_k(2y - 1), k = 2..16, with y = ((P - Q) / R)². Depth 6."""

    circuit_id: ClassVar[str] = "drift"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"drift_threshold" >= 0, "bin_width" > 0, "w1_range" power of two in
        [2^-10, 1], "features", "bins"}`` (exactly these keys)."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - _PUBLIC_KEYS)
        if unknown:
            raise InputError("unknown public input", field=unknown[0])
        for key in sorted(_PUBLIC_KEYS):
            if key not in public:
                raise InputError("is required", field=key)
        threshold = _number(public["drift_threshold"], name="drift_threshold")
        if threshold < 0:
            raise InputError("must be >= 0", field="drift_threshold")
        width = _number(public["bin_width"], name="bin_width")
        if width <= 0:
            raise InputError("must be > 0", field="bin_width")
        sizes = {}
        for key, limit in (("features", MAX_FEATURES), ("bins", MAX_BINS)):
            value = public[key]
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError("must be an integer", field=key)
            if not 1 <= value <= limit:
                raise InputError(f"must be in 1..{limit}, got {value}", field=key)
            sizes[key] = int(value)
        ranges = public["w1_range"]
        if not isinstance(ranges, list | tuple) or len(ranges) != sizes["features"]:
            raise InputError("must list one range per feature", field="w1_range")
        w1_range = []
        for f, value in enumerate(ranges):
            number = _number(value, name=f"w1_range[{f}]")
            if not MIN_W1_RANGE <= number <= MAX_W1_RANGE or math.log2(number) % 1:
                raise InputError("must be a power of two in [2^-10, 1]", field=f"w1_range[{f}]")
            w1_range.append(number)
        if sizes["features"] * stride_for(sizes["bins"]) > MAX_LAYOUT_SLOTS:
            raise InputError(
                f"{sizes['features']} features x {stride_for(sizes['bins'])} slots exceed "
                f"{MAX_LAYOUT_SLOTS} slots",
                field="features",
            )
        return {
            "drift_threshold": threshold,
            "bin_width": width,
            "w1_range": w1_range,
            **sizes,
        }

    def columns(self, public: PublicInputs) -> list[str]:
        return ["cdf_p", "cdf_q"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(stride_for(public["bins"]))

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Slot-wise [y, T_2(z), ..., T_16(z)] with x = cdf_p - cdf_q, y = x², z = 2y - 1."""
        for name in self.columns(public):
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        x = backend.sub(inputs["cdf_p"], inputs["cdf_q"])
        y = backend.square(x)
        t: dict[int, V] = {1: backend.add_plain(backend.add(y, y), -1.0)}

        for k in range(2, CHEBYSHEV_DEGREE + 1):
            # T_k = 2 T_a T_b - T_(a-b) with a the largest power of two < k (a = b = k/2 for
            # powers of two): T_k sits at level 1 + ceil(log2 k)
            half = 1 << ((k - 1).bit_length() - 1)
            product = backend.multiply(t[half], t[k - half])
            doubled = backend.add(product, product)
            if half == k - half:
                t[k] = backend.add_plain(doubled, -1.0)
            else:
                t[k] = backend.sub(doubled, t[2 * half - k])
        return [y, *(t[k] for k in range(2, CHEBYSHEV_DEGREE + 1))]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Quantity j: sum each block of S slots (slot f*S gets block f's total), keep slots
        f*S; Horner over j with rotations by one (h = rot(h, 1) + masked_j) leaves quantity j
        at f*S - (15 - j), and one final rotation right by 15 (composed from the profile's
        power-of-radix keys) puts it at f*S + j. Rotations by -j per quantity would each need
        their own Galois key (6 MB at N = 2^14)."""
        if len(accumulators) != CHEBYSHEV_DEGREE:
            raise CircuitError(
                f"expected {CHEBYSHEV_DEGREE} accumulators, got {len(accumulators)}",
                field="accumulators",
            )
        features, bins = public["features"], public["bins"]
        stride = stride_for(bins)
        if features * stride > backend.slot_count:
            raise CircuitError("layout does not fit the slots", field="features")
        mask = np.zeros(backend.slot_count)
        mask[[f * stride for f in range(features)]] = 1.0
        result: V | None = None
        for accumulator in accumulators:
            masked = backend.multiply_plain(backend.slot_sum(accumulator, width=stride), mask)
            result = masked if result is None else backend.add(backend.rotate(result, 1), masked)
        assert result is not None
        return [rotate_composed(backend, result, -(CHEBYSHEV_DEGREE - 1))]

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: see :func:`decode_moments` and :func:`build_drift_report`."""
        public = self.validate_public(public)
        moments = decode_moments(outputs, public)
        return build_drift_report(moments, public)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs) -> FloatArray:
    """F x 16 array [sum y, sum T_2 .. sum T_16] from the decrypted output.

    Steps: 1. exactly one finite output vector large enough for the layout; 2. every slot that
    is not an aggregate is within ZERO_TOLERANCE of 0; 3. every moment is within its possible
    range (0 <= sum y <= S, |sum T_k| <= S, up to noise).
    """
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"drift has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < features * stride:
        raise BundleFormatError("drift output is too short for its layout")
    if not np.isfinite(vector).all():
        raise NoiseBoundError("the drift output holds non-finite values")
    # 2.
    used = np.zeros(vector.shape[0], dtype=bool)
    slots = [f * stride + j for f in range(features) for j in range(CHEBYSHEV_DEGREE)]
    used[slots] = True
    if (~used).any() and np.abs(vector[~used]).max() > ZERO_TOLERANCE:
        slot = int(np.argmax(np.where(used, 0.0, np.abs(vector))))
        raise NoiseBoundError(f"output slot {slot} should be zero but holds {vector[slot]!r}")
    moments = vector[slots].reshape(features, CHEBYSHEV_DEGREE)
    # 3.
    slack = ZERO_TOLERANCE * stride
    if (moments[:, 0] < -slack).any() or (moments[:, 0] > stride + slack).any():
        raise NoiseBoundError("a decrypted sum of squares is outside [0, S]")
    if (np.abs(moments[:, 1:]) > stride + slack).any():
        raise NoiseBoundError(
            "a Chebyshev moment exceeds its range: a CDF difference lies outside w1_range"
        )
    return moments


def moment_noise_bounds(atoms: int) -> FloatArray:
    """Noise bound of each decrypted moment [sum y, sum T_2 .. sum T_16] over ``atoms`` slots."""
    degrees = np.array([1, *range(2, CHEBYSHEV_DEGREE + 1)], dtype=np.float64)
    return atoms * MOMENT_NOISE_PER_SLOT * np.maximum(1.0, degrees**2 / 8.0)


def _sqrt_target(z: FloatArray) -> FloatArray:
    return np.sqrt(np.clip((z + 1.0) / 2.0, 0.0, None))


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
    noise bounds ``noise[k]``.

    Steps: 1. two linear programs find the best Chebyshev polynomials l <= target <= u on a
    cos-spaced grid (coefficients bounded to keep them well posed) for these moments; 2. each
    optimum is widened by the polynomial's violation of the sandwich on a 25x finer grid times
    ``atoms`` and by sum_k |c_k| noise[k]; 3. the estimate is the midpoint of the two optima
    before widening (so it does not move with the noise allowance).
    """
    from scipy.optimize import linprog

    degree = moments.shape[0] - 1
    # 1.
    grid = np.cos(np.linspace(0.0, math.pi, LP_GRID_POINTS))
    basis = chebyshev.chebvander(grid, degree)
    values = target(grid)
    box = [(-LP_COEFFICIENT_BOUND, LP_COEFFICIENT_BOUND)] * (degree + 1)
    lower = linprog(-moments, A_ub=basis, b_ub=values, bounds=box, method="highs")
    upper = linprog(moments, A_ub=-basis, b_ub=-values, bounds=box, method="highs")
    if lower.status != 0 or upper.status != 0:
        raise NoiseBoundError("the moment bound has no solution (inconsistent moments)")
    # 2.
    check = np.cos(np.linspace(0.0, math.pi, CHECK_GRID_POINTS))
    check_values = target(check)
    low_excess = max(0.0, float((chebyshev.chebval(check, lower.x) - check_values).max()))
    up_deficit = max(0.0, float((check_values - chebyshev.chebval(check, upper.x)).max()))
    raw_low = float(moments @ lower.x)
    raw_high = float(moments @ upper.x)
    low = raw_low - atoms * low_excess - float(np.abs(lower.x) @ noise)
    high = raw_high + atoms * up_deficit + float(np.abs(upper.x) @ noise)
    # 3.
    estimate = (raw_low + raw_high) / 2.0
    if clip_low is not None:
        low, estimate = max(clip_low, low), max(clip_low, estimate)
    high = max(high, low)
    return low, high, min(max(estimate, low), high)


def sqrt_sum_bounds(moments: FloatArray, atoms: int) -> tuple[float, float, float]:
    """(lower, upper, estimate) for sum_b sqrt(y_b) over ``atoms`` values y_b in [0, 1] given
    the decrypted [sum y, sum T_2(z) .. sum T_16(z)] (z = 2y - 1); see chebyshev_sandwich."""
    chebyshev_moments = np.empty(CHEBYSHEV_DEGREE + 1)
    chebyshev_moments[0] = atoms
    chebyshev_moments[1] = 2.0 * moments[0] - atoms
    chebyshev_moments[2:] = moments[1:]
    bounds = moment_noise_bounds(atoms)
    # T_0 = atoms is exact; sum y enters T_1 = 2y - 1 twice
    noise = np.concatenate([[0.0, 2.0 * bounds[0]], bounds[1:]])
    return chebyshev_sandwich(chebyshev_moments, noise, _sqrt_target, atoms=atoms, clip_low=0.0)


def _decision(value: float, threshold: float, bound: float) -> bool | str:
    if abs(value - threshold) <= bound:
        return "indeterminate"
    return value > threshold


def build_drift_report(moments: FloatArray, public: PublicInputs) -> dict[str, Any]:
    """The drift report from per-feature moments (seed field names, per-feature for batches)."""
    stride = stride_for(public["bins"])
    width = public["bin_width"]
    threshold = public["drift_threshold"]
    features: list[dict[str, Any]] = []
    for row, scale in zip(moments, public["w1_range"], strict=True):
        distance = max(0.0, float(row[0])) * scale * scale
        distance_bound = max(MIN_DISTANCE_ERROR_BOUND, moment_noise_bounds(stride)[0] * scale**2)
        low, high, estimate = sqrt_sum_bounds(row, stride)
        features.append(
            {
                "distance": distance,
                "distance_error_bound": distance_bound,
                "w1_distance": estimate * scale * width,
                "w1_error_bound": max(estimate - low, high - estimate) * scale * width,
                "drift_detected": _decision(distance, threshold, distance_bound),
            }
        )
    return _assemble(features, public)


def _assemble(features: list[dict[str, Any]], public: PublicInputs) -> dict[str, Any]:
    decisions = [f["drift_detected"] for f in features]
    if any(d is True for d in decisions):
        overall: bool | str = True
    elif any(d == "indeterminate" for d in decisions):
        overall = "indeterminate"
    else:
        overall = False
    top = max(range(len(features)), key=lambda i: features[i]["distance"])
    return {
        "distance": features[top]["distance"],
        "w1_distance": features[top]["w1_distance"],
        "w1_error_bound": features[top]["w1_error_bound"],
        "drift_detected": overall,
        "drift_threshold": public["drift_threshold"],
        "bin_width": public["bin_width"],
        "w1_range": public["w1_range"],
        "features": features,
    }


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def drift_reference(data: DriftData) -> dict[str, Any]:
    """Exact report in numpy: distance and W1 straight from the CDFs (error bounds 0)."""
    public = data.public
    cdf_gap = np.cumsum(data.p, axis=1) - np.cumsum(data.q, axis=1)
    features = []
    for gap in cdf_gap:
        distance = float(np.sum(gap * gap))
        features.append(
            {
                "distance": distance,
                "distance_error_bound": 0.0,
                "w1_distance": float(np.abs(gap).sum()) * public["bin_width"],
                "w1_error_bound": 0.0,
                "drift_detected": distance > public["drift_threshold"],
            }
        )
    return _assemble(features, public)


def evaluate_plaintext(
    data: DriftData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend."""
    return planning.run_plaintext(
        DriftCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(data.columns(), chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "CHEBYSHEV_DEGREE",
    "DEFAULT_DRIFT_THRESHOLD",
    "MOMENT_NOISE_PER_SLOT",
    "MAX_BINS",
    "MAX_FEATURES",
    "MAX_LAYOUT_SLOTS",
    "DriftCircuit",
    "DriftData",
    "auto_w1_range",
    "build_drift_report",
    "chebyshev_sandwich",
    "decode_moments",
    "drift_reference",
    "encode_drift_columns",
    "evaluate_plaintext",
    "moment_noise_bounds",
    "output_slot",
    "parse_drift_input",
    "sqrt_sum_bounds",
    "stride_for",
]
