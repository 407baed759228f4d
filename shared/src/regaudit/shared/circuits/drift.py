"""The drift primitive: CDF L2² distance and a bounded Wasserstein-1 distance under encryption.

Inputs (regaudit-fhe 0.1.0's keys): ``p`` and ``q`` -- two histograms over the same bins (one
feature), or two F x B batches (F features, B bins each) -- and ``drift_threshold``. Optional public
inputs: ``bin_width`` (W1 = sum_b |P_b - Q_b| * bin_width, default 1) and ``w1_range`` (see below).

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
* **W1 from an encrypted sign column.** |x| has no low-degree polynomial that is accurate near
  0, so the client also encrypts s_b = sign(P_b - Q_b) (+1 or -1; 0 in padding), and the
  evaluator sums s * x: with a truthful sign column this IS sum |x|, exact up to CKKS noise.
  Like concordance's ranks and calibration's positions, the sign column is a client-side
  encoding of the client's own data, committed with the CDFs, so the evaluator still never sees
  a value.
* **Chebyshev moments certify W1 whatever the sign column says.** With y = x² in [0, 1] and
  z = 2y - 1, the evaluator also returns per feature sum_b T_k(z_b) for k = 2..16 (by the
  product recurrences of :func:`regaudit.shared.chebyshev.chebyshev_polynomials`: no
  plaintext-coefficient multiplication spends a level), computed from the CDFs alone. The
  regulator gets the distance directly (R² sum y) and a rigorous interval for
  W1 = R * width * sum_b sqrt(y_b) from the decrypted moments
  (:func:`regaudit.shared.chebyshev.chebyshev_sandwich`: polynomials l <= sqrt <= u of degree 16
  in y found by two linear programs, their violation certified over all of [0, 1]); the padding
  slots and the last bin are known zeros and are taken out of the unknown atoms. A signed sum
  outside the interval is a lying sign column: verification fails (SignColumnError,
  ``inconsistent_sign_column``). Inside it, the report gives the signed sum as ``w1_distance``
  and the distance to the farther end of the interval as ``w1_error_bound`` (rigorous even if
  the sign column lies: a flipped sign can only lower the sum, so an undetected lie understates
  W1 by at most W1 minus the interval's lower end). Measured interval widths and regulator
  cost: ``docs/specs/drift.md``.
  Leakage: the regulator learns these 17 aggregates per feature, not only W1 and the distance.
* **Output gain.** Every aggregate is doubled g times (additions) before its block sum: the
  sum's rotations add key-switching noise of fixed absolute size, so the gain 2^g
  (g = min(8, 17 - log2 S), outputs <= 2^17) divides it away (measured effect:
  ``docs/specs/drift.md``).
* **Depth 6** (y and s * x: 1, T_2: 2, T_3..T_4: 3, T_5..T_8: 4, T_9..T_16: 5, output
  mask: 6): the whole budget, so the planner picks ``ckks-n16384-d6-v1`` (whose 2^40 scale the
  distance's 1e-6 accuracy also needs). The depth-3 profile cannot host the certificate.

Layout: S = max(32, the next power of two >= B); a part holds PART_SLOTS / S features (PART_SLOTS
= 8192, the depth-6 profile's slot count), feature f in part f // (PART_SLOTS / S), block
b = f % (PART_SLOTS / S), slots b*S .. b*S + B - 1; the rest of its block is zero padding
(y = 0 there: an atom at 0 that adds nothing to W1). Each part is three encrypted columns of
the single chunk: ``cdf_p``, ``cdf_q``, ``sign`` (part 0), ``cdf_p/1``, ``cdf_q/1``, ``sign/1``,
...; at most MAX_PARTS = 4 parts (F*S <= 32,768 slots: e.g. 100 features x 128 bins is 2 parts).
One part's columns hold F*S slots, several parts' PART_SLOTS each. Output: S // 17 parts share
one output vector (all of them from S = 64 up): aggregate j of feature f sits in slot
b*S + 17 * (part mod S // 17) + j (see :func:`output_position`), times the output gain; every
other slot is zeroed. Galois keys: only the profile's radix-4 steps (48 MB with relin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V, rotate_composed
from regaudit.shared.chebyshev import chebyshev_polynomials, chebyshev_sandwich, sqrt_target
from regaudit.shared.circuits.base import Plan, PublicInputs, iter_chunks
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    InputError,
    NoiseBoundError,
    SignColumnError,
)
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.release import (
    release,
    round_bound_up,
    round_down_to_bound,
    round_up_to_bound,
)

#: Threshold used when the input gives none.
DEFAULT_DRIFT_THRESHOLD = 0.1
#: Largest number of bins per feature and of features per audit.
MAX_BINS = 4096
MAX_FEATURES = 512
#: Slots of one layout part: the slot count of the depth-6 profile ``ckks-n16384-d6-v1`` (the
#: only profile deep enough for this circuit). A part is one pair of encrypted columns.
PART_SLOTS = 8192
#: At most this many parts (column pairs) in the single chunk of an audit.
MAX_PARTS = 4
#: The whole F x S layout (all parts) must fit these many slots.
MAX_LAYOUT_SLOTS = PART_SLOTS * MAX_PARTS
#: Highest Chebyshev degree returned (degree 16 in y = x², 32 in x).
CHEBYSHEV_DEGREE = 16
#: Aggregates per feature and part: sum y, sum T_2 .. sum T_16 and the signed sum sum s * x.
QUANTITIES = CHEBYSHEV_DEGREE + 1
#: Index of the signed sum among a feature's aggregates.
SIGNED_SUM = CHEBYSHEV_DEGREE
#: Smallest block stride (the output needs QUANTITIES slots per feature, a power of two).
MIN_STRIDE = 32
#: Every aggregate is multiplied by 2^gain_bits (gain_bits additions, no level) before its
#: block sum: the sum's rotations add key-switching noise of fixed absolute size (measured at
#: ckks-n16384-d6-v1: ~1e-5 on a 128-slot sum of y in [0, 1]), which the gain divides away.
#: The gain keeps S * 2^gain_bits <= 2^GAIN_HEADROOM_BITS (the profile's outputs reach 2^18).
MAX_GAIN_BITS = 8
GAIN_HEADROOM_BITS = 17
#: Smallest and largest automatic ``w1_range``.
MIN_W1_RANGE = 2.0**-10
MAX_W1_RANGE = 1.0
#: CKKS noise bound per summed slot on a decrypted moment sum of y (|y| <= 1); T_k's noise
#: grows like k² (|T_k'| <= k²). Measured at scale 2^40 (128 bins): 4.6e-8 per slot for sum y,
#: 1.2e-7 per slot for T_16; these bounds hold 4x and 50x margins.
MOMENT_NOISE_PER_SLOT = 2e-7
#: The same for sum y since the output gain (measured 2e-10 .. 6e-10 per slot at 128 and 4096
#: bins; this bound holds a >= 8x margin).
SUM_Y_NOISE_PER_SLOT = 5e-9
#: The same for the signed sum sum s * x (s = +-1, |x| <= 1: the noise of sum y's kind, one
#: level earlier). Measured at scale 2^40 with the output gain: see docs/specs/drift.md.
SIGNED_SUM_NOISE_PER_SLOT = 5e-9
#: Smallest reported distance error bound.
MIN_DISTANCE_ERROR_BOUND = 1e-9
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3

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
    """Validate regaudit-fhe 0.1.0's drift JSON shape; InputError naming the offending field."""
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
    rows = layout_rows(public["features"], public["bins"])
    return DriftData(rows=rows, public=public, p=p, q=q, batch=batch_p)


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================


def output_gain(bins: int) -> float:
    """The factor 2^gain_bits every aggregate carries in the output (see MAX_GAIN_BITS)."""
    bits = min(MAX_GAIN_BITS, GAIN_HEADROOM_BITS - (stride_for(bins).bit_length() - 1))
    return float(2 ** max(0, bits))


def features_per_part(bins: int) -> int:
    """Features in one layout part (PART_SLOTS / S)."""
    return PART_SLOTS // stride_for(bins)


def part_count(features: int, bins: int) -> int:
    """Layout parts (encrypted column pairs) of an F x B audit."""
    return -(-features // features_per_part(bins))


def parts_per_output(bins: int) -> int:
    """Parts whose aggregates share one output vector: S // QUANTITIES (each feature's block
    of S output slots holds QUANTITIES aggregates per part)."""
    return stride_for(bins) // QUANTITIES


def output_count(features: int, bins: int) -> int:
    """Output vectors of an F x B audit."""
    return -(-part_count(features, bins) // parts_per_output(bins))


def layout_rows(features: int, bins: int) -> int:
    """Slots of each encrypted column: F * S for one part, else PART_SLOTS."""
    if part_count(features, bins) == 1:
        return features * stride_for(bins)
    return PART_SLOTS


#: Encrypted columns of one part, in order (see :func:`column_names`).
PART_COLUMNS = ("cdf_p", "cdf_q", "sign")


def column_names(features: int, bins: int) -> list[str]:
    """``cdf_p``, ``cdf_q``, ``sign`` for part 0, then ``cdf_p/1``, ``cdf_q/1``, ``sign/1``,
    ... for further parts."""
    names = []
    for part in range(part_count(features, bins)):
        suffix = "" if part == 0 else f"/{part}"
        names += [f"{column}{suffix}" for column in PART_COLUMNS]
    return names


def encode_drift_columns(
    p: FloatArray, q: FloatArray, public: PublicInputs
) -> dict[str, FloatArray]:
    """cdf_p / cdf_q / sign (per part): each feature's CDFs divided by w1_range, and the sign
    (+1 or -1) of their difference, in its block of S slots; feature f is in part
    f // (PART_SLOTS / S), block f % (PART_SLOTS / S). Padding slots are 0 in all three."""
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    per_part = features_per_part(bins)
    rows = layout_rows(features, bins)
    names = column_names(features, bins)
    columns: dict[str, FloatArray] = {name: np.zeros(rows) for name in names}
    scale = 1.0 / np.asarray(public["w1_range"], dtype=np.float64)
    cdf_p = np.cumsum(p, axis=1) * scale[:, None]
    cdf_q = np.cumsum(q, axis=1) * scale[:, None]
    signs = np.where(cdf_p >= cdf_q, 1.0, -1.0)
    width = len(PART_COLUMNS)
    for offset, values in enumerate((cdf_p, cdf_q, signs)):
        for f in range(features):
            part, block = divmod(f, per_part)
            column = columns[names[width * part + offset]]
            column[block * stride : block * stride + bins] = values[f]
    return columns


def output_position(feature: int, quantity: int, bins: int) -> tuple[int, int]:
    """(output vector, slot) of aggregate ``quantity`` (0: sum y; k-1: sum T_k; SIGNED_SUM:
    sum s * x) of ``feature``: part p = f // (PART_SLOTS / S) goes to vector
    p // (S // QUANTITIES), block f % (PART_SLOTS / S), offset
    QUANTITIES * (p % (S // QUANTITIES)) + quantity inside the block."""
    stride = stride_for(bins)
    part, block = divmod(feature, features_per_part(bins))
    vector, rank = divmod(part, parts_per_output(bins))
    return vector, block * stride + QUANTITIES * rank + quantity


def output_slot(feature: int, quantity: int, bins: int) -> int:
    """Slot (within its output vector, see :func:`output_position`) of an aggregate."""
    return output_position(feature, quantity, bins)[1]


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


def _chebyshev_quantities(backend: SlotBackend[V], x: V) -> list[V]:
    """[y, T_2(z), ..., T_16(z)] slot-wise for y = x², z = 2y - 1 (T_16 at level 5)."""
    y = backend.square(x)
    z = backend.add_plain(backend.add(y, y), -1.0)
    return [y, *chebyshev_polynomials(backend, z, CHEBYSHEV_DEGREE)[1:]]


class DriftCircuit:
    """Per feature: sum y, sum T_k(2y - 1) (k = 2..16) and sum s * x, with x = (P - Q) / R,
    y = x² and s the client's sign column. Depth 6."""

    circuit_id: ClassVar[str] = "drift"
    version: ClassVar[str] = "2"

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
        return column_names(public["features"], public["bins"])

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(stride_for(public["bins"])) * output_gain(public["bins"])

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Per part, slot-wise [y, T_2(z), ..., T_16(z), s * x] with x = cdf_p - cdf_q,
        y = x², z = 2y - 1, s = the sign column (QUANTITIES accumulators per part, parts in
        order)."""
        names = self.columns(public)
        for name in names:
            if name not in inputs:
                raise CircuitError(f"chunk lacks column {name!r}", field="columns")
        accumulators: list[V] = []
        width = len(PART_COLUMNS)
        for part in range(len(names) // width):
            cdf_p, cdf_q, sign = (inputs[name] for name in names[width * part : width * (part + 1)])
            x = backend.sub(cdf_p, cdf_q)
            accumulators += _chebyshev_quantities(backend, x)
            accumulators.append(backend.multiply(x, sign))
        return accumulators

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Per part and quantity j: multiply by the gain 2^g (g doublings), sum each block of S
        slots (slot b*S gets block b's total),
        keep slots b*S (the only mask: level 6). The parts of one output vector are packed by
        Horner with rotations by one (h = rot(h, 1) + masked, K = QUANTITIES x parts terms) which
        leaves term i at b*S - (K - 1 - i), and one rotation right by K - 1 (composed from the
        profile's power-of-radix keys) puts it at b*S + i. Rotations by -i per term would each
        need their own Galois key (6 MB at N = 2^14).

        The planner's first trace runs at the smallest profile's slot count, where a layout of
        more than its slots is cut off (masks only cover existing slots); that trace only
        fixes the depth, which then refuses the shallow profile."""
        features, bins = public["features"], public["bins"]
        parts = part_count(features, bins)
        if len(accumulators) != QUANTITIES * parts:
            raise CircuitError(
                f"expected {QUANTITIES * parts} accumulators, got {len(accumulators)}",
                field="accumulators",
            )
        stride = stride_for(bins)
        per_part = features_per_part(bins)
        group = parts_per_output(bins)
        gain_bits = int(output_gain(bins)).bit_length() - 1
        outputs: list[V] = []
        for first in range(0, parts, group):
            result: V | None = None
            terms = 0
            for part in range(first, min(first + group, parts)):
                blocks = min(per_part, features - part * per_part)
                mask = np.zeros(backend.slot_count)
                starts = np.arange(blocks) * stride
                mask[starts[starts < backend.slot_count]] = 1.0
                quantities = accumulators[part * QUANTITIES : (part + 1) * QUANTITIES]
                for accumulator in quantities:
                    amplified = accumulator
                    for _ in range(gain_bits):
                        amplified = backend.add(amplified, amplified)
                    summed = backend.slot_sum(amplified, width=stride)
                    masked = backend.multiply_plain(summed, mask)
                    result = (
                        masked if result is None else backend.add(backend.rotate(result, 1), masked)
                    )
                    terms += 1
            assert result is not None
            outputs.append(rotate_composed(backend, result, -(terms - 1)))
        return outputs

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: see :func:`decode_moments` and :func:`build_drift_report`."""
        public = self.validate_public(public)
        return release_report(decode_unrounded(outputs, public), public)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def decode_unrounded(outputs: Sequence[FloatArray], public: PublicInputs) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (``DriftCircuit.decode``)."""
    return build_drift_report(decode_moments(outputs, public), public)


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs) -> FloatArray:
    """F x QUANTITIES array [sum y, sum T_2 .. sum T_16, sum s * x] from the decrypted outputs.

    Steps: 1. exactly :func:`output_count` finite output vectors, each large enough for the
    layout; 2. every slot that is not an aggregate is within ZERO_TOLERANCE of 0; 3. every
    moment is within its possible range (0 <= sum y <= S, |sum T_k| <= S, |sum s * x| <= S,
    up to noise).
    """
    features, bins = public["features"], public["bins"]
    stride = stride_for(bins)
    expected = output_count(features, bins)
    # 1.
    if len(outputs) != expected:
        raise BundleFormatError(f"drift has {expected} output vector(s), got {len(outputs)}")
    vectors = [np.asarray(output, dtype=np.float64) for output in outputs]
    positions = np.array(
        [output_position(f, j, bins) for f in range(features) for j in range(QUANTITIES)],
        dtype=np.int64,
    )
    for index, vector in enumerate(vectors):
        mine = positions[positions[:, 0] == index, 1]
        if vector.ndim != 1 or vector.shape[0] <= int(mine.max()):
            raise BundleFormatError("drift output is too short for its layout")
        if not np.isfinite(vector).all():
            raise NoiseBoundError("the drift output holds non-finite values")
        # 2.
        used = np.zeros(vector.shape[0], dtype=bool)
        used[mine] = True
        if (~used).any() and np.abs(vector[~used]).max() > ZERO_TOLERANCE:
            slot = int(np.argmax(np.where(used, 0.0, np.abs(vector))))
            raise NoiseBoundError(
                f"output {index} slot {slot} should be zero but is not within {ZERO_TOLERANCE} of 0"
            )
    moments = np.array([vectors[v][s] for v, s in positions]) / output_gain(bins)
    moments = moments.reshape(features, QUANTITIES)
    # 3.
    slack = ZERO_TOLERANCE * stride
    if (moments[:, 0] < -slack).any() or (moments[:, 0] > stride + slack).any():
        raise NoiseBoundError("a decrypted sum of squares is outside [0, S]")
    if (np.abs(moments[:, 1:SIGNED_SUM]) > stride + slack).any():
        raise NoiseBoundError(
            "a Chebyshev moment exceeds its range: a CDF difference lies outside w1_range"
        )
    if (np.abs(moments[:, SIGNED_SUM]) > stride + slack).any():
        raise NoiseBoundError("a decrypted signed sum is outside [-S, S]")
    return moments


def moment_noise_bounds(atoms: int) -> FloatArray:
    """Noise bound of each decrypted moment [sum y, sum T_2 .. sum T_16] over ``atoms`` slots."""
    degrees = np.array([1, *range(2, CHEBYSHEV_DEGREE + 1)], dtype=np.float64)
    bounds = atoms * MOMENT_NOISE_PER_SLOT * np.maximum(1.0, degrees**2 / 8.0)
    bounds[0] = atoms * SUM_Y_NOISE_PER_SLOT
    return bounds


def sqrt_sum_bounds(
    moments: FloatArray, atoms: int, *, zeros: int = 0
) -> tuple[float, float, float]:
    """(lower, upper, estimate) for sum_b sqrt(y_b) over ``atoms`` values y_b in [0, 1] given
    the decrypted [sum y, sum T_2(z) .. sum T_16(z)] (z = 2y - 1); see
    :func:`regaudit.shared.chebyshev.chebyshev_sandwich`.
    ``zeros`` of the atoms are known to be 0 (padding slots, the last bin where both CDFs are
    1): their exact contribution T_k(-1) = (-1)^k is removed, so the linear programs bound only
    the unknown ``atoms - zeros`` values (a tighter interval)."""
    if not 0 <= zeros < atoms:
        raise CircuitError(f"zeros must be in 0..{atoms - 1}", field="zeros")
    unknown = atoms - zeros
    signs = (-1.0) ** np.arange(CHEBYSHEV_DEGREE + 1)
    chebyshev_moments = np.empty(CHEBYSHEV_DEGREE + 1)
    chebyshev_moments[0] = atoms
    chebyshev_moments[1] = 2.0 * moments[0] - atoms
    chebyshev_moments[2:] = moments[1:]
    chebyshev_moments -= zeros * signs
    bounds = moment_noise_bounds(atoms)
    # T_0 = atoms is exact; sum y enters T_1 = 2y - 1 twice
    noise = np.concatenate([[0.0, 2.0 * bounds[0]], bounds[1:]])
    return chebyshev_sandwich(chebyshev_moments, noise, sqrt_target, atoms=unknown, clip_low=0.0)


def _decision(value: float, threshold: float, bound: float) -> bool | str:
    if abs(value - threshold) <= bound:
        return "indeterminate"
    return value > threshold


def signed_sum_noise_bound(atoms: int) -> float:
    """Noise bound of a decrypted signed sum sum s * x over ``atoms`` slots."""
    return atoms * SIGNED_SUM_NOISE_PER_SLOT


def check_signed_sum(
    signed_sum: float, low: float, high: float, *, atoms: int, feature: int
) -> None:
    """Raise SignColumnError unless the signed sum lies in the certified interval [low, high]
    for sum |x| (widened by the signed sum's noise bound).

    Steps: 1. the certified interval comes from the Chebyshev moments alone, which the client
    cannot bias except by changing its CDFs; 2. with a truthful sign column the signed sum IS
    sum |x| (so it lies inside); 3. a sign column that moves it outside is rejected.
    """
    # 1. - 2.
    slack = signed_sum_noise_bound(atoms)
    # 3.
    if not low - slack <= signed_sum <= high + slack:
        # no decrypted value in the message: the feature and the rule
        raise SignColumnError(
            f"feature {feature}: the signed sum lies outside the certified interval for "
            f"sum |P - Q| / w1_range (widened by its noise bound {slack:.3g}): the client's "
            "sign column does not match its CDFs"
        )


def build_drift_report(moments: FloatArray, public: PublicInputs) -> dict[str, Any]:
    """The drift report from per-feature aggregates (regaudit-fhe 0.1.0's field names, per-feature
    for batches); SignColumnError if a feature's signed sum contradicts its certified interval.

    W1 is the signed sum (exact up to CKKS noise when the sign column is truthful); its error
    bound is rigorous whatever the sign column says: the distance from W1 to the farther end of
    the certified interval [w1_certified_low, w1_certified_high] (see :func:`sqrt_sum_bounds`),
    which W1 must lie in."""
    stride = stride_for(public["bins"])
    width = public["bin_width"]
    threshold = public["drift_threshold"]
    features: list[dict[str, Any]] = []
    for f, (row, scale) in enumerate(zip(moments, public["w1_range"], strict=True)):
        distance = max(0.0, float(row[0])) * scale * scale
        distance_bound = max(MIN_DISTANCE_ERROR_BOUND, moment_noise_bounds(stride)[0] * scale**2)
        # padding slots and the last bin (both CDFs end at 1) are exactly 0
        low, high, _ = sqrt_sum_bounds(
            row[:CHEBYSHEV_DEGREE], stride, zeros=stride - public["bins"] + 1
        )
        signed = float(row[SIGNED_SUM])
        check_signed_sum(signed, low, high, atoms=stride, feature=f)
        w1 = min(max(signed, low), high)
        bound = max(w1 - low, high - w1, signed_sum_noise_bound(stride))
        features.append(
            {
                "distance": distance,
                "distance_error_bound": distance_bound,
                "w1_distance": w1 * scale * width,
                "w1_error_bound": bound * scale * width,
                "w1_certified_low": low * scale * width,
                "w1_certified_high": high * scale * width,
                "drift_detected": _decision(distance, threshold, distance_bound),
            }
        )
    return _assemble(features, public)


def w1_noise_bound(public: PublicInputs, feature: int) -> float:
    """CKKS noise bound of feature ``feature``'s reported ``w1_distance`` (data units)."""
    scale = public["w1_range"][feature]
    return signed_sum_noise_bound(stride_for(public["bins"])) * scale * public["bin_width"]


def release_report(report: dict[str, Any], public: PublicInputs) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`), per
    feature:

    * ``distance`` rounded to the step of ``distance_error_bound`` (widened by the half step
      the rounding may add, see :func:`regaudit.shared.release.release`);
    * ``w1_distance`` rounded to the step of its CKKS noise bound (:func:`w1_noise_bound`):
      the rest of ``w1_error_bound`` is the certified interval's width, a function of the
      moments' bounds and not of the decryption noise, and rounding W1 to it would throw away
      the precision the signed sum has;
    * ``w1_error_bound`` widened by that rounding (never below the widened noise bound) and
      rounded up to two significant digits;
    * ``w1_certified_low`` / ``_high`` rounded outwards (down / up) to the step of the
      released ``w1_error_bound``, so the interval still contains the truth and W1.

    The top-level fields are re-assembled from the released features; decisions are the
    decoder's (unrounded values, unwidened bounds)."""
    features: list[dict[str, Any]] = []
    for f, feature in enumerate(report["features"]):
        released = dict(feature)
        released["distance"], released["distance_error_bound"] = release(
            feature["distance"], feature["distance_error_bound"]
        )
        w1, w1_noise = release(feature["w1_distance"], w1_noise_bound(public, f))
        assert w1 is not None
        bound = max(
            w1_noise, round_bound_up(feature["w1_error_bound"] + abs(w1 - feature["w1_distance"]))
        )
        released["w1_distance"] = w1
        released["w1_error_bound"] = bound
        released["w1_certified_low"] = round_down_to_bound(feature["w1_certified_low"], bound)
        released["w1_certified_high"] = round_up_to_bound(feature["w1_certified_high"], bound)
        features.append(released)
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
                "w1_certified_low": float(np.abs(gap).sum()) * public["bin_width"],
                "w1_certified_high": float(np.abs(gap).sum()) * public["bin_width"],
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
    "MAX_BINS",
    "MAX_FEATURES",
    "MAX_LAYOUT_SLOTS",
    "MAX_PARTS",
    "MOMENT_NOISE_PER_SLOT",
    "PART_COLUMNS",
    "PART_SLOTS",
    "QUANTITIES",
    "SIGNED_SUM",
    "SIGNED_SUM_NOISE_PER_SLOT",
    "SUM_Y_NOISE_PER_SLOT",
    "DriftCircuit",
    "DriftData",
    "auto_w1_range",
    "build_drift_report",
    "check_signed_sum",
    "column_names",
    "decode_moments",
    "decode_unrounded",
    "drift_reference",
    "encode_drift_columns",
    "evaluate_plaintext",
    "features_per_part",
    "layout_rows",
    "moment_noise_bounds",
    "output_count",
    "output_gain",
    "output_position",
    "output_slot",
    "parse_drift_input",
    "part_count",
    "parts_per_output",
    "release_report",
    "signed_sum_noise_bound",
    "sqrt_sum_bounds",
    "stride_for",
    "w1_noise_bound",
]
