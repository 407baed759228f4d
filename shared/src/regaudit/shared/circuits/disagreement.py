"""The disagreement primitive: how much M >= 3 public polynomial model surrogates disagree on
encrypted test inputs.

Inputs (regaudit-fhe 0.1.0's keys): ``model_polynomials`` (M lists of public coefficients,
ascending powers: ``[c0, c1, c2]`` is c0 + c1 x + c2 x²), ``test_input`` (the encrypted inputs,
any length, chunked) and ``threshold``. Optional public ``input_bound``.

Design: every quantity of the report is a linear function of the input moments
mu_j = mean_i x_i^j, j = 0..2d (d = the highest degree):

* per-model mean output  mean_i f_m(x_i) = sum_k a_mk mu_k,
* mean pairwise squared difference = mean over pairs (a < b) of g_ab^T H g_ab with
  g_ab = a_a - a_b and the Hankel matrix H_kl = mu_(k+l).

So the evaluator computes only the power sums under encryption (powers by a product tree,
summed over all rows) and the regulator divides by the row count and combines them with the
public coefficients. No coefficient multiplication spends a level, and the differences g_ab are
formed exactly in plaintext (no cancellation under encryption).

Client-side encoding: x is encrypted as u = x / X with X = ``input_bound`` a public power of
two >= max |x| (automatic unless given; it discloses max |x| within a factor of 2), so every
u^j lies in [-1, 1] and every power sum is at most the row count in magnitude.

Accuracy (version 2). CKKS noise on a decrypted power sum is mostly of FIXED ABSOLUTE size
(the slot sum's key switching dominates), while the sums of high powers are small, so absolute
noise, not cancellation in g^T H g, sets the error. Version 2 therefore applies gains
(doublings: additions, no level) before the noise enters: a top power (one no later product
uses) is u^a * (4 u^(j-a)) (PRODUCT_GAIN_BITS), and every power is doubled up to 2^G,
G = max(2, 20 - ceil(log2 rows)), before its rotations. The regulator divides the gain out at
decoding as far as the last level's headroom allows (outputs <= 2^18) and the mask 2^-e removes
the rest: e = 2 up to 2^18 rows (then e = ceil(log2 rows) - 16, as version 1's mask). A one-hot
mask is NOT exact to encode even for a power of two (its slot value carries a small absolute
error, relative 2^e times it), which is why e stays small. The per-moment noise bounds are
:func:`moment_noise_bounds`. The measured noise sources, errors and bounds are in
``docs/specs/disagreement.md``.

Depth: u^j sits at level ceil(log2 j); the mask multiplication adds one: depth
ceil(log2 2d) + 1: 2 for linear models, 3 for quadratics, 4 for cubics and quartics, up to 6
for degree 16. Precision decides the profile, not depth: at scale 2^30 (``ckks-n8192-d3-v1``)
the report's relative error misses the 1e-6 target (see the spec). The circuit
declares ``min_scale_bits = 40`` and :func:`plan_disagreement` plans on the smallest profile
with that scale (``planning.make_plan`` honours ``min_scale_bits`` too); the noise constants
below are for that profile.
Layout: one slot per input row; output ONE vector with output_scale(rows) * sum_i u_i^j in slot
j - 1 (output_scale = 2^(G - e)), every other slot zeroed. The regulator computes
mu_j = X^j * (output j) / (output_scale * rows).
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
from regaudit.shared.release import release

#: Threshold used when the input gives none.
DEFAULT_THRESHOLD = 0.1
#: Fewest / most models and highest polynomial degree.
MIN_MODELS = 3
MAX_MODELS = 64
MAX_DEGREE = 16
#: Range of the automatic / given input bound (powers of two).
MIN_INPUT_BOUND = 2.0**-20
MAX_INPUT_BOUND = 2.0**20
#: Noise bounds on one decoded power sum sum_i u_i^j (absolute, in units of the sum), measured on
#: ``ckks-n16384-d6-v1`` on this 2-core box (see the module docstring and the spec):
#: the key-switching noise of one full radix-4 slot sum (19 rotations). It does not depend on the
#: values and is largely fixed by the Galois keys (a per-slot bias: ~1e-5 in slot 0, ~1e-6
#: elsewhere); max 1.4e-5 over 6 levels x 8,192 slots x 3 keys. The gain 2^G divides it.
ROTATION_NOISE_BOUND = 5e-5
#: The rescaling / relinearization noise of one product ciphertext summed over its slots (a
#: chunk; theory: (N/2) e_0 / scale, rms ~2.2e-7), divided by the product gain for top powers.
PRODUCT_NOISE_BOUND = 1.5e-6
#: The lower powers' noise carried into u^j by the later products, per unit of
#: j * sqrt(sum u^2 / slots) (coherent for u = 1 in every slot: 1.7e-6 measured for u^6,
#: 1.4e-5 for u^32).
PROPAGATED_NOISE_BOUND = 1e-6
#: The multiplication by the mask and the aligning of the output levels (in output units:
#: measured <= 2e-8).
OUTPUT_NOISE_BOUND = 1e-7
#: Relative encoding error of the mask value 2^-e in its slot, times 2^-e (the encoding error of
#: a one-hot plaintext is absolute: measured <= 1.4e-10 over 8,192 slots).
MASK_ENCODING_BOUND = 1e-9
#: A zeroed output slot further than this from 0 cannot be CKKS noise.
ZERO_TOLERANCE = 1e-3
#: Smallest CKKS scale (bits) meeting the 1e-6 relative accuracy target.
MIN_SCALE_BITS = 40
#: Outputs are at most 2^OUTPUT_BITS in magnitude (``ckks-n16384-d6-v1``'s limit).
OUTPUT_BITS = 18
#: Gains (doublings: additions, no level) divide fixed-size noise by the gain. A top power (one
#: no later product uses, e.g. u^3, u^5, u^6 for quadratic-to-cubic models) is computed as
#: u^a * (2^PRODUCT_GAIN_BITS u^(j-a)), dividing the relative noise of its own rescaling and
#: relinearization by 2^PRODUCT_GAIN_BITS (the evaluator does not know the row count per chunk,
#: so this gain is fixed). Before the slot sum, every power is doubled up to a total gain
#: G = max(PRODUCT_GAIN_BITS, GAIN_BITS - ceil(log2 rows)) (the sums then reach at most
#: 2^GAIN_BITS for rows <= 2^18), dividing the rotations' fixed noise by 2^G. The mask removes
#: the gain beyond 2^OUTPUT_BITS: 2^-2 for rows <= 2^18 (its encoding error, ~1e-10 relative,
#: stays far below the rest), and 2^-(ceil(log2 rows) - 16) beyond, as in version 1.
PRODUCT_GAIN_BITS = 2
GAIN_BITS = 20
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
    """Validate regaudit-fhe 0.1.0's disagreement JSON shape; InputError naming the offending
    field."""
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
# with j >= 1 (mu_0 = 1 is never computed). Output slot j - 1 holds output_scale(rows) *
# sum(u^j), j = 1..2d.


def _log2_rows(rows: int) -> int:
    return max(0, (rows - 1).bit_length())


def gain_bits(rows: int) -> int:
    """G: the total gain 2^G of every power sum before its rotations (see GAIN_BITS)."""
    return max(PRODUCT_GAIN_BITS, GAIN_BITS - _log2_rows(rows))


def mask_shift(rows: int) -> int:
    """e: the output mask holds 2^-e, keeping every output <= 2^OUTPUT_BITS."""
    return max(0, _log2_rows(rows) + gain_bits(rows) - OUTPUT_BITS)


def output_scale(rows: int) -> float:
    """Output slot j - 1 holds output_scale(rows) * sum(u^j): 2^(G - e)."""
    return 2.0 ** (gain_bits(rows) - mask_shift(rows))


def _half(power: int) -> int:
    """The largest power of two < ``power`` (u^j = u^half * u^(j - half))."""
    return 1 << ((power - 1).bit_length() - 1)


def top_powers(count: int) -> frozenset[int]:
    """Powers in 2..count that no product uses as an operand (computed with the product gain)."""
    operands = {_half(j) for j in range(2, count + 1)} | {j - _half(j) for j in range(2, count + 1)}
    return frozenset(range(2, count + 1)) - operands


def output_slot(power: int) -> int:
    """Output slot of sum(u^power)."""
    return power - 1


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


class DisagreementCircuit:
    """Sums of u^j, j = 1..2d, over all rows (times output_scale(rows)). Depth
    ceil(log2 2d) + 1."""

    circuit_id: ClassVar[str] = "disagreement"
    #: 2: outputs carry output_scale(rows) = 2^(G - e) (version 1: 2^-s, no gain).
    version: ClassVar[str] = "2"
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
        return float(rows) * output_scale(rows)

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Slot-wise [u, u², ..., u^2d]; u^j = u^a * u^(j-a) with a the largest power of two
        < j, so u^j sits at level ceil(log2 j). A top power (see :func:`top_powers`) is
        u^a * (2^PRODUCT_GAIN_BITS u^(j-a)): it carries the product gain."""
        if "u" not in inputs:
            raise CircuitError("chunk lacks column 'u'", field="columns")
        count = 2 * degree_of(public)
        top = top_powers(count)
        powers: dict[int, V] = {1: inputs["u"]}
        for j in range(2, count + 1):
            half = _half(j)
            operand = powers[j - half]
            if j in top:
                for _ in range(PRODUCT_GAIN_BITS):
                    operand = backend.add(operand, operand)
            powers[j] = backend.multiply(powers[half], operand)
        return [powers[j] for j in sorted(powers)]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Per power: double the accumulator up to the total gain 2^G, G = gain_bits(rows)
        (additions, no level; a top power already carries 2^PRODUCT_GAIN_BITS), complete its
        sum over all slots, keep it in slot j - 1 with the mask 2^-e (e = mask_shift(rows)):
        slot j - 1 holds output_scale(rows) * sum u^j <= 2^OUTPUT_BITS.

        The gain comes before the rotations, whose key-switching noise has a fixed absolute size
        (~1e-6 per sum, ~1e-5 in slot 0): 2^G divides it. It is removed at decoding as far as
        the output headroom allows, and by the mask beyond that: the encoding error of a one-hot
        plaintext is absolute (~3e-11 per slot), so a mask value 2^-e costs a relative error of
        ~2^e * 3e-11 (the same reason the mask does not hold 1/rows)."""
        count = 2 * degree_of(public)
        if len(accumulators) != count:
            raise CircuitError(
                f"expected {count} accumulators, got {len(accumulators)}", field="accumulators"
            )
        top = top_powers(count)
        by_level: dict[int, list[V]] = {}
        for j, accumulator in enumerate(accumulators, start=1):
            amplified = accumulator
            for _ in range(gain_bits(rows) - (PRODUCT_GAIN_BITS if j in top else 0)):
                amplified = backend.add(amplified, amplified)
            mask = np.zeros(backend.slot_count)
            mask[output_slot(j)] = 2.0 ** -mask_shift(rows)
            masked = backend.multiply_plain(backend.slot_sum(amplified), mask)
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
        return release_report(decode_unrounded(outputs, public, rows))


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def decode_unrounded(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (``DisagreementCircuit.decode``)."""
    moments = decode_moments(outputs, public, rows)
    slots = int(np.asarray(outputs[0]).shape[0])
    noise = moment_noise_bounds(moments, rows=rows, chunks=-(-rows // slots), slots=slots)
    return build_disagreement_report(moments, public, rows=rows, noise=noise)


def decode_moments(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> FloatArray:
    """[mean u^0 = 1, mean u^1, ..., mean u^2d] from the decrypted outputs
    (output_scale(rows) * sum u^j in slot j - 1).

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
        tolerance = ZERO_TOLERANCE * max(1.0, rows / ZERO_SCALE_ROWS)
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {tolerance:.3g} of 0"
        )
    means = vector[:count] / output_scale(rows) / rows
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


def moment_noise_bounds(moments: FloatArray, *, rows: int, chunks: int, slots: int) -> FloatArray:
    """Absolute CKKS noise bound on each decrypted mean moment [mean u^0 (exact: 0), mean u^1,
    ..., mean u^2d] of ``rows`` inputs in ``chunks`` chunks of ``slots`` slots.

    On the power sum sum_i u_i^j: ROTATION_NOISE_BOUND / 2^G (the slot sum's rotations, after
    the gain) + OUTPUT_NOISE_BOUND / output_scale (mask, alignment) + chunks *
    PRODUCT_NOISE_BOUND / 2^(product gain) (each chunk's own product) + PROPAGATED_NOISE_BOUND *
    j * sqrt(chunks * rows * mean u^2 / slots) (the lower powers' noise carried by the later
    products with weights |u|^(j-m) <= |u|, Cauchy-Schwarz over the chunks) + |sum u^j| * 2^e *
    MASK_ENCODING_BOUND (the mask's encoding). Divided by the row count.
    """
    count = moments.shape[0] - 1
    powers = np.arange(1, count + 1)
    top = top_powers(count)
    own = np.array([2.0**-PRODUCT_GAIN_BITS if j in top else 1.0 for j in powers])
    second = min(1.0, abs(float(moments[2])) + 1e-6)  # mean u^2, with room for its own noise
    spread = math.sqrt(chunks * rows * second / slots)
    sums = np.abs(moments[1:]) * rows
    bound = (
        ROTATION_NOISE_BOUND / 2.0 ** gain_bits(rows)
        + OUTPUT_NOISE_BOUND / output_scale(rows)
        + chunks * PRODUCT_NOISE_BOUND * own
        + PROPAGATED_NOISE_BOUND * powers * spread
        + sums * 2.0 ** mask_shift(rows) * MASK_ENCODING_BOUND
    )
    return np.concatenate([[0.0], bound / rows])


def build_disagreement_report(
    moments: FloatArray, public: PublicInputs, *, rows: int, noise: FloatArray
) -> dict[str, Any]:
    """The report from [mean u^0 .. mean u^2d] and their noise bounds (exact arithmetic on the
    decrypted moments). Every reported quantity is linear in the moments: a per-model mean is
    sum_k a_k mu_k, the mean pairwise squared difference is sum_j c_j mu_j with c_j the mean over
    pairs of sum_(k+l=j) g_k g_l; its error bound is sum_j |c_j| noise_j (rigorous given the
    per-moment bounds, and tighter than |g|^T N |g|: equal moments' errors are the same error)."""
    degree = degree_of(public)
    size = degree + 1
    scaled = [_scaled(c, public["input_bound"], size) for c in public["model_polynomials"]]
    hankel = np.array([[moments[k + m] for m in range(size)] for k in range(size)])
    means = [float(c @ moments[:size]) for c in scaled]
    mean_bounds = [float(np.abs(c) @ noise[:size]) for c in scaled]
    pairs = list(combinations(range(len(scaled)), 2))
    values = []
    weights = np.zeros(2 * degree + 1)
    for a, b in pairs:
        g = scaled[a] - scaled[b]
        values.append(float(g @ hankel @ g))
        weights += np.convolve(g, g) / len(pairs)
    mpsd = max(0.0, float(np.mean(values)))
    error = float(np.abs(weights) @ noise)
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


def release_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): the mean
    pairwise squared difference rounded to the step of ``error_bound`` and each per-model mean to
    the step of its ``per_model_error_bounds`` entry; every bound widened by the half step the
    rounding may add and rounded up to two significant digits (see
    :func:`regaudit.shared.release.release`). The decision is the decoder's (unrounded values,
    unwidened bound)."""
    released = dict(report)
    released["mean_pairwise_squared_difference"], released["error_bound"] = release(
        report["mean_pairwise_squared_difference"], report["error_bound"]
    )
    pairs = [
        release(value, bound)
        for value, bound in zip(
            report["per_model_mean_outputs"], report["per_model_error_bounds"], strict=True
        )
    ]
    released["per_model_mean_outputs"] = [value for value, _ in pairs]
    released["per_model_error_bounds"] = [bound for _, bound in pairs]
    return released


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
    "MAX_MODELS",
    "MIN_MODELS",
    "MIN_SCALE_BITS",
    "DisagreementCircuit",
    "DisagreementData",
    "auto_input_bound",
    "build_disagreement_report",
    "decode_moments",
    "decode_unrounded",
    "degree_of",
    "disagreement_reference",
    "evaluate_plaintext",
    "gain_bits",
    "mask_shift",
    "moment_noise_bounds",
    "output_scale",
    "output_slot",
    "parse_disagreement_input",
    "plan_disagreement",
    "release_report",
    "top_powers",
]
