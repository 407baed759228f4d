"""The disagreement primitive: how much M >= 3 public polynomial model surrogates disagree on
encrypted test inputs.

Inputs (seed keys): ``model_polynomials`` (M lists of public coefficients, ascending powers:
``[c0, c1, c2]`` is c0 + c1 x + c2 x²), ``test_input`` (the encrypted inputs, any length,
chunked) and ``threshold``. Optional public ``input_bound``.

Design: every quantity of the report is a linear function of the input moments
mu_j = mean_i x_i^j, j = 0..2d (d = the highest degree):

* per-model mean output  mean_i f_m(x_i) = sum_k a_mk mu_k,
* mean pairwise squared difference = mean over pairs (a < b) of g_ab^T H g_ab with
  g_ab = a_a - a_b and the Hankel matrix H_kl = mu_(k+l).

So the evaluator computes only the moments under encryption (powers by a product tree, summed
over all rows, divided by the row count in the output mask) and the regulator combines them with
the public coefficients. No coefficient multiplication spends a level, and the differences
g_ab are formed exactly in plaintext (no cancellation under encryption).

Client-side encoding: x is encrypted as u = x / X with X = ``input_bound`` a public power of
two >= max |x| (automatic unless given; it discloses max |x| within a factor of 2), so every
u^j lies in [-1, 1] and every output sum is at most the row count in magnitude. To stay inside
the last level's headroom for any row count, the output mask holds 2^-s with
s = max(0, ceil(log2 rows) - 16) (a power of two, so encoding it costs no relative precision
worth mentioning at scale 2^40: 1/rows itself would, ~1/(value * scale)). The regulator
rescales mu_j = X^j * 2^s * (output j) / rows.

Depth: u^j sits at level ceil(log2 j); the mask multiplication adds one: depth
ceil(log2 2d) + 1: 2 for linear models, 3 for quadratics, 4 for cubics and quartics, up to 6
for degree 16. Precision decides the profile, not depth: at scale 2^30 (``ckks-n8192-d3-v1``)
the decrypted moment sums carry a relative error of ~3e-7 and the report ~2.5e-5 (measured),
missing the 1e-6 target; at 2^40 (``ckks-n16384-d6-v1``) the report's relative error is
~3e-7. The circuit therefore declares ``min_scale_bits = 40`` and :func:`plan_disagreement`
plans on the smallest profile with that scale (``planning.make_plan`` honours
``min_scale_bits`` too).
Layout: one slot per input row; output ONE vector with 2^-s sum_i u_i^j in slot j - 1, every
other slot zeroed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.circuits.base import Plan, PublicInputs, iter_chunks
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    InputError,
    NoiseBoundError,
)
from regaudit.shared.profiles import ParameterProfile

#: Threshold used when the input gives none.
DEFAULT_THRESHOLD = 0.1
#: Fewest / most models and highest polynomial degree.
MIN_MODELS = 3
MAX_MODELS = 64
MAX_DEGREE = 16
#: Range of the automatic / given input bound (powers of two).
MIN_INPUT_BOUND = 2.0**-20
MAX_INPUT_BOUND = 2.0**20
#: Absolute CKKS noise bound on one decrypted output slot (a scaled sum 2^-s sum u^j). The noise
#: is dominated by the key switching of the final slot-sum's rotations (~8e-7 each at
#: ckks-n16384-d6-v1) and does not grow with the row count; measured 2e-5 at most with the
#: radix-2 tree (13 rotations), 1.2e-5 at 20,000 rows with the profile's radix-4 tree (19
#: rotations, about 1.5x the radix-2 tree's RMS noise).
#: A mean moment therefore carries SUM_NOISE_BOUND * 2^s / rows (see moment_noise_bound).
SUM_NOISE_BOUND = 1e-4
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3
#: Smallest CKKS scale (bits) meeting the 1e-6 relative accuracy target.
MIN_SCALE_BITS = 40
#: Output sums are scaled to at most 2^OUTPUT_BITS (the depth-6 profile allows 2^18).
OUTPUT_BITS = 16
#: Row count above which the zero-slot tolerance grows proportionally (noise grows with sums).
ZERO_SCALE_ROWS = 10_000

_KEYS = frozenset({"model_polynomials", "test_input", "threshold", "input_bound"})
_PUBLIC_KEYS = frozenset({"model_polynomials", "threshold", "input_bound"})


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


@dataclass(frozen=True)
class DisagreementData:
    """Validated disagreement input: the private test inputs plus public inputs."""

    rows: int
    public: PublicInputs
    test_input: FloatArray = field(repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """The encrypted column: u = x / input_bound, one slot per row."""
        return {"u": self.test_input / self.public["input_bound"]}


def _number(value: object, *, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputError(f"must be a number, got {type(value).__name__}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InputError("must be a finite number", field=name)
    return number


def _numbers(name: str, value: object, *, limit: int) -> FloatArray:
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iuf":
            raise InputError("must be a flat array of numbers", field=name)
        array = value.astype(np.float64)
    else:
        if not isinstance(value, list | tuple):
            raise InputError("must be an array of numbers", field=name)
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                raise InputError(f"element {index} is not a number", field=name)
        array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        raise InputError("must not be empty", field=name)
    if array.size > limit:
        raise InputError(f"{array.size} values exceed the limit of {limit}", field=name)
    if not np.isfinite(array).all():
        index = int(np.argmin(np.isfinite(array)))
        raise InputError(f"element {index} is not finite", field=name)
    return array


def auto_input_bound(values: FloatArray) -> float:
    """The smallest power of two >= max |x| in [MIN_INPUT_BOUND, MAX_INPUT_BOUND]."""
    peak = max(float(np.abs(values).max()), MIN_INPUT_BOUND)
    bound = 2.0 ** math.ceil(math.log2(peak))
    if bound > MAX_INPUT_BOUND:
        raise InputError(f"max |x| = {peak:g} exceeds {MAX_INPUT_BOUND:g}", field="test_input")
    return bound


def parse_disagreement_input(payload: Mapping[str, Any]) -> DisagreementData:
    """Validate the seed's disagreement JSON shape; InputError naming the offending field."""
    if not isinstance(payload, Mapping):
        raise InputError("disagreement input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("model_polynomials", "test_input"):
        if key not in payload:
            raise InputError("is required", field=key)
    values = _numbers("test_input", payload["test_input"], limit=planning.MAX_ROWS)
    bound = payload.get("input_bound")
    if bound is None:
        bound = auto_input_bound(values)
    public = DisagreementCircuit().validate_public(
        {
            "model_polynomials": payload["model_polynomials"],
            "threshold": payload.get("threshold", DEFAULT_THRESHOLD),
            "input_bound": bound,
        }
    )
    peak = float(np.abs(values).max())
    if peak > public["input_bound"]:
        raise InputError(f"max |x| = {peak:g} exceeds input_bound", field="input_bound")
    return DisagreementData(rows=int(values.size), public=public, test_input=values)


def degree_of(public: PublicInputs) -> int:
    """Highest polynomial degree (at least 1)."""
    return max(1, max(len(c) for c in public["model_polynomials"]) - 1)


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================
#
# One slot per input row, column "u" = x / input_bound; chunks of plan.chunk_rows rows are
# zero-padded (base.iter_chunks). A padded slot has u = 0, so it adds nothing to any power sum
# with j >= 1 (mu_0 = 1 is never computed). Output slot j - 1 holds sum(u^j), j = 1..2d.


def output_shift(rows: int) -> int:
    """s such that the output mask 2^-s keeps every output sum <= 2^OUTPUT_BITS."""
    return max(0, math.ceil(math.log2(rows)) - OUTPUT_BITS)


def output_slot(power: int) -> int:
    """Output slot of sum(u^power)."""
    return power - 1


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


class DisagreementCircuit:
    """Sums of u^j, j = 1..2d, over all rows. Depth ceil(log2 2d) + 1."""

    circuit_id: ClassVar[str] = "disagreement"
    version: ClassVar[str] = "1"
    #: The 1e-6 relative accuracy target needs a CKKS scale of at least 2^40.
    min_scale_bits: ClassVar[int] = MIN_SCALE_BITS

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"model_polynomials": M >= 3 coefficient lists, "threshold" >= 0,
        "input_bound": power of two}`` (exactly these keys)."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - _PUBLIC_KEYS)
        if unknown:
            raise InputError("unknown public input", field=unknown[0])
        for key in sorted(_PUBLIC_KEYS):
            if key not in public:
                raise InputError("is required", field=key)
        models = public["model_polynomials"]
        if not isinstance(models, list | tuple):
            raise InputError("must be a list of coefficient lists", field="model_polynomials")
        if not MIN_MODELS <= len(models) <= MAX_MODELS:
            raise InputError(
                f"needs {MIN_MODELS} to {MAX_MODELS} models, got {len(models)}",
                field="model_polynomials",
            )
        coefficients: list[list[float]] = []
        for m, model in enumerate(models):
            where = f"model_polynomials[{m}]"
            array = _numbers(where, model, limit=MAX_DEGREE + 1)
            coefficients.append([float(c) for c in array])
        threshold = _number(public["threshold"], name="threshold")
        if threshold < 0:
            raise InputError("must be >= 0", field="threshold")
        bound = _number(public["input_bound"], name="input_bound")
        if not MIN_INPUT_BOUND <= bound <= MAX_INPUT_BOUND or math.log2(bound) % 1:
            raise InputError("must be a power of two in [2^-20, 2^20]", field="input_bound")
        return {"model_polynomials": coefficients, "threshold": threshold, "input_bound": bound}

    def columns(self, public: PublicInputs) -> list[str]:
        return ["u"]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return float(rows) / 2.0 ** output_shift(rows)

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Slot-wise [u, u², ..., u^2d]; u^j = u^a * u^(j-a) with a the largest power of two
        < j, so u^j sits at level ceil(log2 j)."""
        if "u" not in inputs:
            raise CircuitError("chunk lacks column 'u'", field="columns")
        powers: dict[int, V] = {1: inputs["u"]}
        for j in range(2, 2 * degree_of(public) + 1):
            half = 1 << ((j - 1).bit_length() - 1)
            powers[j] = backend.multiply(powers[half], powers[j - half])
        return [powers[j] for j in sorted(powers)]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Complete each power sum over all slots and keep it in slot j - 1. (The mask holds 1,
        not 1/rows: a small plaintext value would be encoded with a relative error of about
        1 / (value * scale), so the regulator divides by the row count instead.)"""
        count = 2 * degree_of(public)
        if len(accumulators) != count:
            raise CircuitError(
                f"expected {count} accumulators, got {len(accumulators)}", field="accumulators"
            )
        by_level: dict[int, list[V]] = {}
        for j, accumulator in enumerate(accumulators, start=1):
            mask = np.zeros(backend.slot_count)
            mask[output_slot(j)] = 2.0 ** -output_shift(rows)
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
        """Regulator side: see :func:`decode_moments` and :func:`build_disagreement_report`."""
        public = self.validate_public(public)
        return build_disagreement_report(decode_moments(outputs, public, rows), public, rows=rows)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> FloatArray:
    """[mean u^0 = 1, mean u^1, ..., mean u^2d] from the decrypted sums of u^j.

    Steps: 1. exactly one finite output vector with 2d used slots; 2. every other slot is within
    ZERO_TOLERANCE of 0; 3. every mean lies in [-1, 1] and every even one in [0, 1] (up to
    noise), as |u| <= 1.
    """
    count = 2 * degree_of(public)
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"disagreement has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < count:
        raise BundleFormatError("disagreement output is too short")
    if not np.isfinite(vector).all():
        raise NoiseBoundError("the disagreement output holds non-finite values")
    # 2.
    tail = vector[count:]
    if tail.size and np.abs(tail).max() > ZERO_TOLERANCE * max(1.0, rows / ZERO_SCALE_ROWS):
        slot = count + int(np.argmax(np.abs(tail)))
        raise NoiseBoundError(f"output slot {slot} should be zero but holds {vector[slot]!r}")
    means = vector[:count] * 2.0 ** output_shift(rows) / rows
    # 3.
    if np.abs(means).max() > 1.0 + ZERO_TOLERANCE or means[1::2].min() < -ZERO_TOLERANCE:
        raise NoiseBoundError("a decrypted input moment is outside its possible range")
    return np.concatenate([[1.0], means])


def _scaled(coefficients: Sequence[float], bound: float, length: int) -> FloatArray:
    """Coefficients of f in powers of u = x / bound, zero-padded to ``length``."""
    result = np.zeros(length)
    for k, c in enumerate(coefficients):
        result[k] = c * bound**k
    return result


def _decision(value: float, threshold: float, bound: float) -> bool | str:
    if abs(value - threshold) <= bound:
        return "indeterminate"
    return value > threshold


def moment_noise_bound(rows: int) -> float:
    """Absolute noise bound on one decrypted mean moment mean(u^j) of ``rows`` inputs."""
    return SUM_NOISE_BOUND * 2.0 ** output_shift(rows) / rows


def build_disagreement_report(
    moments: FloatArray, public: PublicInputs, *, rows: int
) -> dict[str, Any]:
    """The report from [mean u^0 .. mean u^2d] (exact arithmetic on the decrypted moments; the
    error bound propagates moment_noise_bound(rows) through |g|^T |g| for every pair)."""
    moment_noise = moment_noise_bound(rows)
    degree = degree_of(public)
    size = degree + 1
    scaled = [_scaled(c, public["input_bound"], size) for c in public["model_polynomials"]]
    hankel = np.array([[moments[k + m] for m in range(size)] for k in range(size)])
    noise = np.full((size, size), moment_noise)
    noise[0, 0] = 0.0  # mu_0 = 1 exactly
    means = [float(c @ moments[:size]) for c in scaled]
    mean_bounds = [float(np.abs(c[1:]).sum() * moment_noise) for c in scaled]
    pairs = list(combinations(range(len(scaled)), 2))
    values, bounds = [], []
    for a, b in pairs:
        g = scaled[a] - scaled[b]
        values.append(float(g @ hankel @ g))
        bounds.append(float(np.abs(g) @ noise @ np.abs(g)))
    mpsd = max(0.0, float(np.mean(values)))
    error = float(np.mean(bounds))
    return {
        "mean_pairwise_squared_difference": mpsd,
        "error_bound": error,
        "threshold": public["threshold"],
        "threshold_breached": _decision(mpsd, public["threshold"], error),
        "per_model_mean_outputs": means,
        "per_model_error_bounds": mean_bounds,
        "models": len(scaled),
        "pairs": len(pairs),
    }


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def disagreement_reference(data: DisagreementData) -> dict[str, Any]:
    """Exact report in numpy, evaluating every model on every input directly."""
    x = data.test_input
    outputs = [
        np.polynomial.polynomial.polyval(x, np.asarray(c)) for c in data.public["model_polynomials"]
    ]
    pairs = list(combinations(range(len(outputs)), 2))
    mpsd = float(np.mean([np.mean((outputs[a] - outputs[b]) ** 2) for a, b in pairs]))
    return {
        "mean_pairwise_squared_difference": mpsd,
        "error_bound": 0.0,
        "threshold": data.public["threshold"],
        "threshold_breached": mpsd > data.public["threshold"],
        "per_model_mean_outputs": [float(np.mean(o)) for o in outputs],
        "per_model_error_bounds": [0.0] * len(outputs),
        "models": len(outputs),
        "pairs": len(pairs),
    }


def plan_disagreement(
    public: PublicInputs, *, rows: int, profile: ParameterProfile | None = None
) -> Plan:
    """Plan on ``profile`` or, by default, on the smallest profile whose depth fits and whose
    scale has at least MIN_SCALE_BITS bits (``make_plan`` reads ``min_scale_bits``)."""
    circuit = DisagreementCircuit()
    return planning.make_plan(circuit, public, rows=rows, profile=profile)


def evaluate_plaintext(
    data: DisagreementData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend."""
    return planning.run_plaintext(
        DisagreementCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(data.columns(), chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_DEGREE",
    "MIN_SCALE_BITS",
    "MAX_MODELS",
    "MIN_MODELS",
    "DisagreementCircuit",
    "DisagreementData",
    "auto_input_bound",
    "build_disagreement_report",
    "moment_noise_bound",
    "decode_moments",
    "degree_of",
    "disagreement_reference",
    "evaluate_plaintext",
    "output_slot",
    "parse_disagreement_input",
    "plan_disagreement",
]
