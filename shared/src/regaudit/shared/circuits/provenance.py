"""The provenance primitive: per-bucket attribution totals under encryption, top-K in the clear.

Inputs (regaudit-fhe 0.1.0's keys): ``attributions`` (one value per row), ``row_ids``,
``n_buckets``, ``k``. Row i belongs to the public bucket b(i) = SHA-256(row id as UTF-8) mod
n_buckets (integer ids are hashed as their decimal text). The regulator gets the bucket totals
sum_i a_i [b(i) = b], the top-K bucket ids and the indicator, and the ranks that are
indeterminate because two totals lie within the error bound of each other.

Client-side encoding (this is where the public bucket masks are applied): the client writes
the attributions of bucket b, divided by the public power of two A >= max|a| * rows / 2^24
(``attribution_scale``, automatic unless given; it discloses max |a| within a factor of 2), so
every encoded bucket total is at most MAX_TOTAL = 2^24 (inside the depth-3 profile's 2^26
headroom) and as large as possible: CKKS noise is mostly additive, so large encoded values
keep it small relative to the totals,
into its own column ``bucket/<b>``, compacted and zero-padded to the largest bucket's size
(the row count of the plan). Multiplying the one attribution column by public 0/1 masks under
encryption would cost a level and need the chunk index; the layout gives the same sums at no
level and with about n / slots + n_buckets ciphertexts in all.

Circuit: per bucket column, the slot-sum is completed under encryption and masked into slot b
of ONE output vector: depth 1, raised to the canary's depth 2 (the plan's depth; outputs
must end at ``plan.output_level``), profile ``ckks-n8192-d3-v1``.
Accuracy: abs error <= 1e-6 * sum |a| is checked by the tests at scale 2^30.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.circuits.base import (
    CANARY_DEPTH,
    Plan,
    PublicInputs,
    iter_chunks,
)
from regaudit.shared.errors import BundleFormatError, CircuitError, InputError, NoiseBoundError
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.release import release_all

#: Most buckets: one ciphertext column each (the planner traces every column at full slot count).
MAX_BUCKETS = 1024
#: Longest row id (characters).
MAX_ROW_ID_LENGTH = 256
#: Range of the attribution scale (powers of two).
MIN_ATTRIBUTION_SCALE = 2.0**-30
MAX_ATTRIBUTION_SCALE = 2.0**30
#: Largest |encoded bucket total| (in units of the scale): 2^24 fits the depth-3 profile's
#: 2^26 headroom; large encoded values make the additive CKKS noise relatively small.
MAX_TOTAL = float(2**24)
#: CKKS error bound of one decrypted bucket total as a fraction of MAX_TOTAL per chunk of
#: 4096 rows (measured ~4e-10 at scale 2^30: a 25x margin).
NOISE_FRACTION = 1e-8
#: Rows per noise unit.
NOISE_ROWS = 4096
#: Relative error of a decrypted total caused by encoding the output mask (a 0/1 plaintext
#: vector) at the 2^30 scale: ~sqrt(N) / 2^30 per slot, deterministic for a given mask (so it
#: does not average out across keys). Measured up to 4e-7 at 100,000 rows; 2.5x margin.
MASK_RELATIVE_ERROR = 1e-6
#: A zeroed output slot further than this (in units of the scale) cannot be CKKS noise.
ZERO_TOLERANCE = 1e-7 * MAX_TOTAL

_KEYS = frozenset({"attributions", "row_ids", "n_buckets", "k", "attribution_scale"})
_PUBLIC_KEYS = frozenset({"n_buckets", "k", "attribution_scale"})
_COLUMN_PREFIX = "bucket/"


def bucket_of(row_id: str | int, n_buckets: int) -> int:
    """The public bucket of a row id: SHA-256(UTF-8 text) as a big-endian integer mod n."""
    digest = hashlib.sha256(str(row_id).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % n_buckets


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


@dataclass(frozen=True)
class ProvenanceData:
    """Validated provenance input: attributions, their public buckets and public inputs."""

    rows: int
    public: PublicInputs
    attributions: FloatArray = field(repr=False)
    buckets: np.ndarray = field(repr=False)

    def columns(self) -> dict[str, FloatArray]:
        """One compacted column per bucket (see module doc)."""
        return encode_provenance_columns(self.attributions, self.buckets, self.public)


def _integer(value: object, *, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError("must be an integer", field=name)
    if not low <= int(value) <= high:
        raise InputError(f"must be in {low}..{high}, got {value}", field=name)
    return int(value)


def _scale(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError("must be a number", field="attribution_scale")
    number = float(value)
    if (
        not math.isfinite(number)
        or not MIN_ATTRIBUTION_SCALE <= number <= MAX_ATTRIBUTION_SCALE
        or math.log2(number) % 1
    ):
        raise InputError("must be a power of two in [2^-30, 2^30]", field="attribution_scale")
    return number


def parse_provenance_input(payload: Mapping[str, Any]) -> ProvenanceData:
    """Validate regaudit-fhe 0.1.0's provenance JSON shape; InputError naming the offending
    field."""
    if not isinstance(payload, Mapping):
        raise InputError("provenance input must be a JSON object")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("attributions", "row_ids", "n_buckets", "k"):
        if key not in payload:
            raise InputError("is required", field=key)
    raw = payload["attributions"]
    if not isinstance(raw, list | tuple | np.ndarray) or len(raw) == 0:
        raise InputError("must be a non-empty array of numbers", field="attributions")
    if len(raw) > planning.MAX_ROWS:
        raise InputError(f"more than {planning.MAX_ROWS} rows", field="attributions")
    if not isinstance(raw, np.ndarray):
        for i, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                raise InputError(f"element {i} is not a number", field="attributions")
    attributions = np.asarray(raw, dtype=np.float64)
    if attributions.ndim != 1 or not np.isfinite(attributions).all():
        raise InputError("must be a flat array of finite numbers", field="attributions")
    ids = payload["row_ids"]
    if not isinstance(ids, list | tuple) or len(ids) != len(attributions):
        raise InputError(f"must list one id per attribution ({len(attributions)})", field="row_ids")
    for i, row_id in enumerate(ids):
        if isinstance(row_id, bool) or not isinstance(row_id, str | int):
            raise InputError(f"element {i} must be a string or an integer", field="row_ids")
        if len(str(row_id)) > MAX_ROW_ID_LENGTH:
            raise InputError(f"element {i} is longer than {MAX_ROW_ID_LENGTH}", field="row_ids")
    if len({str(r) for r in ids}) != len(ids):
        raise InputError("row ids must be unique", field="row_ids")
    n_buckets = _integer(payload["n_buckets"], name="n_buckets", low=1, high=MAX_BUCKETS)
    buckets = np.fromiter((bucket_of(r, n_buckets) for r in ids), dtype=np.int64, count=len(ids))
    rows = int(np.bincount(buckets, minlength=n_buckets).max())
    peak = float(np.abs(attributions).max())
    scale = payload.get("attribution_scale")
    if scale is None:
        needed = max(peak * rows / MAX_TOTAL, MIN_ATTRIBUTION_SCALE)
        scale = 2.0 ** math.ceil(math.log2(needed))
    public = ProvenanceCircuit().validate_public(
        {"n_buckets": n_buckets, "k": payload["k"], "attribution_scale": scale}
    )
    if peak * rows > public["attribution_scale"] * MAX_TOTAL:
        raise InputError(
            f"max |a| * rows / attribution_scale exceeds {MAX_TOTAL:g}", field="attribution_scale"
        )
    return ProvenanceData(rows=rows, public=public, attributions=attributions, buckets=buckets)


# ============================================================================================
# 2. Client-side encoding: layout
# ============================================================================================


def bucket_column(bucket: int) -> str:
    return f"{_COLUMN_PREFIX}{bucket}"


def encode_provenance_columns(
    attributions: FloatArray, buckets: np.ndarray, public: PublicInputs
) -> dict[str, FloatArray]:
    """bucket/<b>: a_i / A for the rows of bucket b (in row order), zero-padded."""
    n_buckets = public["n_buckets"]
    rows = int(np.bincount(buckets, minlength=n_buckets).max())
    scaled = attributions / public["attribution_scale"]
    columns: dict[str, FloatArray] = {}
    for b in range(n_buckets):
        column = np.zeros(rows)
        members = scaled[buckets == b]
        column[: members.size] = members
        columns[bucket_column(b)] = column
    return columns


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


class ProvenanceCircuit:
    """Per-bucket sums of the scaled attributions, bucket b in output slot b. Depth 1 (+1 align)."""

    circuit_id: ClassVar[str] = "provenance"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"n_buckets": 1..1024, "k": 1..n_buckets, "attribution_scale": power of two}``."""
        if not isinstance(public, Mapping):
            raise InputError("public inputs must be an object", field="public")
        unknown = sorted(set(public) - _PUBLIC_KEYS)
        if unknown:
            raise InputError("unknown public input", field=unknown[0])
        for key in sorted(_PUBLIC_KEYS):
            if key not in public:
                raise InputError("is required", field=key)
        n_buckets = _integer(public["n_buckets"], name="n_buckets", low=1, high=MAX_BUCKETS)
        k = _integer(public["k"], name="k", low=1, high=n_buckets)
        return {
            "n_buckets": n_buckets,
            "k": k,
            "attribution_scale": _scale(public["attribution_scale"]),
        }

    def columns(self, public: PublicInputs) -> list[str]:
        return [bucket_column(b) for b in range(public["n_buckets"])]

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        return MAX_TOTAL

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """The bucket columns themselves are the slot-wise accumulators."""
        missing = [name for name in self.columns(public) if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        return [inputs[name] for name in self.columns(public)]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """Slot-sum each bucket column, keep its total in slot b, add into one vector."""
        n_buckets = public["n_buckets"]
        if len(accumulators) != n_buckets:
            raise CircuitError(f"expected {n_buckets} accumulators", field="accumulators")
        if backend.slot_count < n_buckets:
            raise CircuitError("too few slots for the buckets", field="n_buckets")
        masked = []
        for b, accumulator in enumerate(accumulators):
            mask = np.zeros(backend.slot_count)
            mask[b] = 1.0
            masked.append(backend.multiply_plain(backend.slot_sum(accumulator), mask))
        result = backend.add_many(masked)
        # the plan's depth is at least the canary's (2): end there, as the plan says
        return [backend.align(result, max(result.level, accumulators[0].level + CANARY_DEPTH))]

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: :func:`decode_totals` and :func:`build_provenance_report`."""
        public = self.validate_public(public)
        return release_report(decode_unrounded(outputs, public, rows))


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def error_bound(public: PublicInputs, rows: int, *, largest_total: float | None = None) -> float:
    """Absolute CKKS error bound of one bucket total (in attribution units): additive noise per
    chunk plus the output mask's relative encoding error on the largest total (|total| <=
    ``largest_total``, by default the largest possible)."""
    chunks = max(1, math.ceil(rows / NOISE_ROWS))
    scale = public["attribution_scale"]
    largest = MAX_TOTAL * scale if largest_total is None else abs(largest_total)
    additive = NOISE_FRACTION * MAX_TOTAL * chunks * scale
    return additive + MASK_RELATIVE_ERROR * (largest + additive)


def decode_unrounded(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> dict[str, Any]:
    """The report at full precision (validated ``public``). Regulator-internal: what leaves
    the regulator is :func:`release_report` of it (``ProvenanceCircuit.decode``)."""
    totals = decode_totals(outputs, public, rows)
    largest = float(np.abs(totals).max()) if totals.size else 0.0
    bound = error_bound(public, rows, largest_total=largest)
    return build_provenance_report(totals, public, error_bound=bound)


def decode_totals(outputs: Sequence[FloatArray], public: PublicInputs, rows: int) -> FloatArray:
    """Bucket totals in attribution units.

    Steps: 1. one finite output vector with n_buckets leading slots; 2. every other slot is
    within ZERO_TOLERANCE of 0; 3. every |total| <= rows * scale (+ noise).
    """
    n_buckets = public["n_buckets"]
    # 1.
    if len(outputs) != 1:
        raise BundleFormatError(f"provenance has 1 output vector, got {len(outputs)}")
    vector = np.asarray(outputs[0], dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] < n_buckets or not np.isfinite(vector).all():
        raise BundleFormatError("provenance output is malformed")
    # 2.
    tail = vector[n_buckets:]
    # the output mask's encoding error leaks a small multiple of the largest total into every
    # zeroed slot (deterministically), so the tolerance grows with it
    largest = float(np.abs(vector[:n_buckets]).max()) if n_buckets else 0.0
    tolerance = ZERO_TOLERANCE + MASK_RELATIVE_ERROR * largest
    if tail.size and np.abs(tail).max() > tolerance:
        slot = n_buckets + int(np.argmax(np.abs(tail)))
        # the tolerance depends on the largest total: name the rule, not its value
        raise NoiseBoundError(
            f"output slot {slot} should be zero but is not within {ZERO_TOLERANCE:.3g} plus "
            f"{MASK_RELATIVE_ERROR:g} x the largest total of 0"
        )
    # 3.
    totals = vector[:n_buckets]
    if np.abs(totals).max() > MAX_TOTAL + ZERO_TOLERANCE:
        raise NoiseBoundError("a bucket total exceeds its possible range")
    return totals * public["attribution_scale"]


def build_provenance_report(
    totals: FloatArray, public: PublicInputs, *, error_bound: float
) -> dict[str, Any]:
    """Top-K by total (descending; ties broken by the lower bucket id). Rank r (1-based) is
    indeterminate when its total lies within 2 * error_bound of a neighbouring rank's, and the
    top-K set itself is determined only if ranks K and K+1 are separated by more than that."""
    n_buckets, k = public["n_buckets"], public["k"]
    order = sorted(range(n_buckets), key=lambda b: (-float(totals[b]), b))
    ranked = [float(totals[b]) for b in order]
    margin = 2.0 * error_bound
    indeterminate = set()
    for r in range(n_buckets - 1):
        if ranked[r] - ranked[r + 1] <= margin:
            indeterminate.update({r + 1, r + 2})
    top = order[:k]
    indicator = [0] * n_buckets
    for b in top:
        indicator[b] = 1
    determined = k == n_buckets or ranked[k - 1] - ranked[k] > margin
    return {
        "bucket_totals": [float(t) for t in totals],
        "top_k_ids": top,
        "top_k_indicator": indicator,
        "k": k,
        "n_buckets": n_buckets,
        "error_bound": error_bound,
        "indeterminate_ranks": sorted(r for r in indeterminate if r <= k + 1),
        "top_k_determined": determined,
    }


def release_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): every
    bucket total
    rounded to the step of ``error_bound``, which is widened by the half step the rounding may
    add and rounded up to two significant digits (see
    :func:`regaudit.shared.release.release`). The top-K, the indicator and the indeterminate
    ranks are the decoder's (unrounded totals, unwidened bound)."""
    released = dict(report)
    released["bucket_totals"], released["error_bound"] = release_all(
        report["bucket_totals"], report["error_bound"]
    )
    return released


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def provenance_reference(data: ProvenanceData) -> dict[str, Any]:
    """Exact report in numpy (error bound 0)."""
    totals = np.bincount(
        data.buckets, weights=data.attributions, minlength=data.public["n_buckets"]
    ).astype(np.float64)
    return build_provenance_report(totals, data.public, error_bound=0.0)


def evaluate_plaintext(
    data: ProvenanceData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend."""
    return planning.run_plaintext(
        ProvenanceCircuit(),
        data.public,
        lambda chunk_rows: iter_chunks(data.columns(), chunk_rows),
        rows=data.rows,
        profile=profile,
    )


__all__ = [
    "MAX_BUCKETS",
    "ProvenanceCircuit",
    "ProvenanceData",
    "bucket_column",
    "bucket_of",
    "build_provenance_report",
    "decode_totals",
    "decode_unrounded",
    "encode_provenance_columns",
    "error_bound",
    "evaluate_plaintext",
    "parse_provenance_input",
    "provenance_reference",
    "release_report",
]
