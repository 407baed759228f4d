"""The concordance primitive: Harrell's C under encryption, every pairwise comparison on the
evaluator.

Semantics (identical to ``sksurv.metrics.concordance_index_censored`` and lifelines): an ordered
pair (a, b) is *comparable* when ``event_a = 1`` and ``time_a < time_b``, or when ``event_a = 1``,
``event_b = 0`` and ``time_a = time_b`` (an event is compared with a censoring at the same time;
two events at the same time are not comparable). A comparable pair is *concordant* when
``risk_a > risk_b``; equal risks count one half. ``c_index = concordant / comparable``. Risks are
tied only when exactly equal (sksurv's default ``tied_tol=1e-8`` also merges risks closer than
1e-8).

How it works (see ``docs/specs/concordance.md`` for the measurements behind every choice):

* Client side, C is invariant under monotone transforms: risk and time are replaced by their
  average ranks scaled into [0, 1]. Time is ranked on the key (time, censored) so that an event
  and a censoring at the same time get different values (event first) while tied events stay
  exactly tied. The client lays the data out as one slot per unordered pair {i < j}: columns
  ``risk_i, risk_j, time_i, time_j, event_i, event_j, ties_i, ties_j`` (each per-patient value
  replicated into its pairs). ``ties_k`` is ``event_k * (number of other events at the same time
  as k) / (N - 1)``: summed over all pairs it is twice the number of tied event pairs.
* The evaluator computes ``dt = time_j - time_i`` and ``dr = risk_i - risk_j`` and approximates
  ``sign`` with one public odd polynomial ``p`` of degree 15 (least squares on the rank
  differences, :data:`SIGN_COEFFICIENTS`; depth 4). With ``A = e_i + e_j``, ``D = e_i - e_j``:

      comparable = 1/2 * (A - ties_i - ties_j + D * p(dt))
      W          = 1/2 * (D * p(dr) + A * p(dt) * p(dr))
      concordant = 1/2 * (comparable + W)

  This is exact when ``p`` is exactly ``sign`` (p(0) = 0 makes tied risks count 1/2 and tied
  event pairs contribute exactly 1 comparable pair, which the ``ties`` columns remove). The even
  indicator ``[dt != 0]`` is never approximated: its error would not cancel, the odd errors of
  ``p`` largely do (measured: |delta C| <= 1.6e-3 on real data at N = 1,000, tests and
  benchmark).
* Depth 6: p (4) -> A*p(dt), D*p(dt) (5) -> (A*p(dt))*p(dr) (6). The output is NOT masked: both
  outputs are full-width slot sums, so EVERY slot holds the same aggregate and no slot carries a
  per-pair value. The scale ``mu`` (a power of two, so that mu * pairs <= 2^15 fits the depth-6
  profile's headroom) is folded into the coefficients of p(dr) and into the last scalar
  multiplication of ``comparable``.
* The regulator checks that all slots of each output agree (noise only), averages them, divides
  by ``mu`` and reports C with an error bound.

Parts, in order: 1. input schema and validation, 2. client-side encoding, 3. the circuit,
4. decoding; then the plaintext oracle (:func:`concordance_reference`) and a plaintext dry run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from regaudit.shared import planning
from regaudit.shared.algebra import FloatArray, SlotBackend, V
from regaudit.shared.circuits.base import Plan, PublicInputs
from regaudit.shared.errors import BundleFormatError, CircuitError, InputError, NoiseBoundError
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.release import release, round_bound_up, round_to_bound

#: Fewest and most patients one audit may hold (pairs grow quadratically: 4096 patients are
#: 8,386,560 pair slots, 1,024 chunks of 8 ciphertexts at N = 2^14).
MIN_PATIENTS = 2
MAX_PATIENTS = 4096

#: Monomial coefficients of the odd sign polynomial p(x) = sum c_k x^k, k = 1, 3, ..., 15: weighted
#: least-squares fit of sign(x) on a uniform grid of (0, 1] (8,000 points, Chebyshev weight
#: 1/sqrt(1 - x^2), fitted in the Chebyshev basis and converted). Inputs are differences of ranks
#: scaled into [0, 1], so x lies in [-1, 1]; max |p| = 1.18028, p(1) = 0.966. Chosen over the
#: unweighted fit (p(1) = 0.805) because it was better on all four data sets measured.
SIGN_COEFFICIENTS: tuple[float, ...] = (
    10.180204853570224,
    -142.3629766390054,
    1023.8623802382541,
    -3826.471448674534,
    7927.454868015659,
    -9188.10718876222,
    5575.436128303616,
    -1379.0259050301784,
)
SIGN_DEGREE = 2 * len(SIGN_COEFFICIENTS) - 1
#: max |p(x)| over [-1, 1] (drives the output magnitude bound)
SIGN_MAX_ABS = 1.1803
#: Outputs are scaled so that mu * pairs <= this (the depth-6 profile allows 2^18).
OUTPUT_SCALE_TARGET = 2**15
#: Decrypted slots of one output may differ by at most this (in scaled units) before the
#: regulator refuses them: every slot holds the same aggregate, differences are CKKS noise.
SLOT_AGREEMENT_TOLERANCE = 1e-2
#: A-priori allowance for CKKS noise in each decoded aggregate, per pair slot (pair units).
#: Measured on ckks-n16384-d6-v1: 1.2e-4 and 7.6e-4 absolute error on 8,128 pairs (~1e-7 per
#: pair); the allowance keeps a 10x margin. The slot spread under-estimates the noise (after a
#: full slot sum every slot carries nearly the same error), so it is only a consistency check.
CKKS_NOISE_PER_PAIR = 1e-6

#: Column names (one slot per unordered pair i < j), in upload order.
COLUMNS: tuple[str, ...] = (
    "risk_i",
    "risk_j",
    "time_i",
    "time_j",
    "event_i",
    "event_j",
    "ties_i",
    "ties_j",
)
#: Output vectors, in order (each a full-width slot sum times mu).
OUTPUTS: tuple[str, ...] = ("comparable", "concordance_balance")

_KEYS = frozenset({"risk", "time", "event"})
#: How time ties are treated (the only convention implemented; recorded in every report).
TIME_TIES = "event-before-censoring-comparable; tied-events-not-comparable (sksurv, lifelines)"


def pair_count(patients: int) -> int:
    """Number of unordered pairs (= slots = plan rows) of ``patients`` patients."""
    return patients * (patients - 1) // 2


def output_scale(pairs: int) -> float:
    """The public power of two ``mu`` every output is multiplied by (mu * pairs <= 2^15)."""
    shift = max(0, math.ceil(math.log2(max(pairs, 1))) - int(math.log2(OUTPUT_SCALE_TARGET)))
    return 2.0**-shift


def sign_polynomial(x: FloatArray | float) -> FloatArray:
    """p(x) in float64 (Horner on x^2), the plaintext view of the circuit's sign."""
    values = np.asarray(x, dtype=np.float64)
    square = values * values
    acc = np.zeros_like(values)
    for coefficient in reversed(SIGN_COEFFICIENTS):
        acc = acc * square + coefficient
    return np.asarray(acc * values, dtype=np.float64)


# ============================================================================================
# 1. Input schema and validation (client side)
# ============================================================================================


@dataclass(frozen=True)
class ConcordanceData:
    """Validated plaintext concordance input plus its client-side encoding."""

    #: number of pair slots (N (N - 1) / 2); this is the plan's ``rows``
    rows: int
    public: PublicInputs
    risk: FloatArray = field(repr=False)
    time: FloatArray = field(repr=False)
    event: FloatArray = field(repr=False)
    #: per-patient encoded values (section 2)
    risk_code: FloatArray = field(repr=False)
    time_code: FloatArray = field(repr=False)
    tie_weight: FloatArray = field(repr=False)

    @property
    def patients(self) -> int:
        return int(self.public["patients"])

    def columns(self) -> dict[str, FloatArray]:
        """Every encrypted column in pair layout, name -> float64 array, in circuit order."""
        i, j = np.triu_indices(self.patients, 1)
        per_patient = {
            "risk": self.risk_code,
            "time": self.time_code,
            "event": self.event,
            "ties": self.tie_weight,
        }
        result: dict[str, FloatArray] = {}
        for name in COLUMNS:
            base, side = name.rsplit("_", 1)
            result[name] = per_patient[base][i if side == "i" else j]
        return result

    def iter_chunks(self, chunk_rows: int) -> Iterator[dict[str, FloatArray]]:
        """Zero-padded chunks of ``chunk_rows`` pair slots without building whole columns."""
        n = self.patients
        per_patient = {
            "risk": self.risk_code,
            "time": self.time_code,
            "event": self.event,
            "ties": self.tie_weight,
        }
        # row start offsets of i in the upper-triangle enumeration
        starts = np.concatenate(([0], np.cumsum(np.arange(n - 1, 0, -1))))
        for begin in range(0, self.rows, chunk_rows):
            index = np.arange(begin, min(begin + chunk_rows, self.rows))
            i = np.searchsorted(starts, index, side="right") - 1
            j = index - starts[i] + i + 1
            chunk: dict[str, FloatArray] = {}
            for name in COLUMNS:
                base, side = name.rsplit("_", 1)
                part = np.zeros(chunk_rows, dtype=np.float64)
                part[: index.size] = per_patient[base][i if side == "i" else j]
                chunk[name] = part
            yield chunk


def _describe(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return "a nested value"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


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
                    f"element {index} is {_describe(item)}, expected a number", field=name
                )
            if isinstance(item, bool) and not allow_bool:
                raise InputError(f"element {index} is a boolean, expected a number", field=name)
        array = np.asarray(values, dtype=np.float64)
    else:
        raise InputError(f"must be an array, got {_describe(values)}", field=name)
    if array.size > MAX_PATIENTS:
        raise InputError(
            f"{array.size} patients exceed the limit of {MAX_PATIENTS} (pairs grow as N^2)",
            field=name,
        )
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        raise InputError(f"element {index} is {array[index]!r}, not a finite number", field=name)
    return array + 0.0  # normalizes -0.0


def parse_concordance_input(payload: Mapping[str, Any]) -> ConcordanceData:
    """Validate regaudit-fhe 0.1.0's concordance JSON shape
    ``{"risk": [...], "time": [...], "event": [...]}`` and encode it. Raises InputError naming
    the offending field: unknown or missing key, non-numbers, NaN/inf, negative time, non-binary
    event, length mismatch, fewer than MIN_PATIENTS or more than MAX_PATIENTS patients, or no
    comparable pair at all."""
    if not isinstance(payload, Mapping):
        raise InputError(f"concordance input must be a JSON object, got {_describe(payload)}")
    for key in payload:
        if key not in _KEYS:
            raise InputError("unknown field", field=str(key))
    for key in ("risk", "time", "event"):
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
    if exact_counts(risk, time, event)["comparable_pairs"] == 0:
        raise InputError(
            "no comparable pair: C is undefined (every patient is censored, or all events "
            "happen at the same time with nobody at risk afterwards)",
            field="event",
        )
    risk_code, time_code, tie_weight = encode_patients(risk, time, event)
    public = ConcordanceCircuit().validate_public({"patients": n})
    return ConcordanceData(
        rows=pair_count(n),
        public=public,
        risk=risk,
        time=time,
        event=event,
        risk_code=risk_code,
        time_code=time_code,
        tie_weight=tie_weight,
    )


# ============================================================================================
# 2. Client-side encoding
# ============================================================================================
#
# Per patient: risk -> average rank / (N - 1); time -> average rank of the key (time, censored)
# / (N - 1) (an event sorts before a censoring at the same time; tied events stay tied);
# ties -> event * (other events with the same time) / (N - 1). Values lie in [0, 1], so every
# difference the evaluator forms lies in [-1, 1], the fitted domain of p. Pair layout: slot s of
# the whole column enumerates i < j in numpy.triu_indices order; column "x_i" holds patient i's
# value, "x_j" patient j's. Chunks of plan.chunk_rows slots are zero-padded: a padded slot has
# every column 0, so it contributes exactly 0 to both outputs.


def _average_ranks(keys: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Average ranks (0-based) of rows of ``keys`` (shape (N,) or (N, k)) and each row's tie
    group size."""
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    average = starts + (counts - 1) / 2.0
    return average[inverse].astype(np.float64), counts[inverse].astype(np.float64)


def encode_patients(
    risk: FloatArray, time: FloatArray, event: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(risk_code, time_code, tie_weight) per patient, see the section comment."""
    n = risk.size
    scale = 1.0 / (n - 1)
    risk_rank, _ = _average_ranks(risk)
    time_rank, group_size = _average_ranks(np.stack([time, 1.0 - event], axis=1))
    tie_weight = event * (group_size - 1.0) * scale
    return risk_rank * scale, time_rank * scale, tie_weight


# ============================================================================================
# 3. The circuit (evaluator side)
# ============================================================================================


def _sign(backend: SlotBackend[V], x: V, coefficients: Sequence[float]) -> V:
    """p(x) for an odd degree-15 polynomial with the given x^1, x^3, ..., x^15 coefficients.

    Depth 4 with every scalar folded into the shallow operand: blocks b_m = c x + c' x^3 (level
    +2: c x, c' x by ct x pt, (c' x) * x^2), then p = b0 + x^4 b1 + x^8 (b2 + x^4 b3).
    10 ct x ct, 8 ct x pt and 7 alignments (ct x pt by ones)."""
    x2 = backend.square(x)
    x4 = backend.square(x2)
    x8 = backend.square(x4)
    blocks: list[V] = []
    for m in range(4):
        low = backend.multiply_plain(x, coefficients[2 * m])
        high = backend.multiply(backend.multiply_plain(x, coefficients[2 * m + 1]), x2)
        blocks.append(backend.add(low, high))
    upper = backend.add(blocks[2], backend.multiply(x4, blocks[3]))
    lower = backend.add(blocks[0], backend.multiply(x4, blocks[1]))
    return backend.add(lower, backend.multiply(x8, upper))


class ConcordanceCircuit:
    """Harrell's C from pair slots. Depth 6 (canary 2); two replicated aggregate outputs."""

    circuit_id: ClassVar[str] = "concordance"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
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
            raise InputError(f"must be an integer, got {_describe(patients)}", field="patients")
        if not MIN_PATIENTS <= int(patients) <= MAX_PATIENTS:
            raise InputError(
                f"must be in [{MIN_PATIENTS}, {MAX_PATIENTS}], got {int(patients)}",
                field="patients",
            )
        return {"patients": int(patients)}

    def columns(self, public: PublicInputs) -> list[str]:
        return list(COLUMNS)

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """mu * pairs * max per-pair |value| (comparable <= (2 + P)/2, balance <= (P + 2P^2)/2
        with P = max |p|)."""
        pairs = pair_count(self.validate_public(public)["patients"])
        per_pair = max(1.0 + SIGN_MAX_ABS / 2.0, (SIGN_MAX_ABS + 2.0 * SIGN_MAX_ABS**2) / 2.0)
        return output_scale(pairs) * pairs * per_pair

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Accumulators ``[A - ties_i - ties_j (+0), D * p(dt) (+5), mu * W (+6)]``.

        Per chunk: 24 ct x ct, 40 ct x pt (16 scalar, 24 alignments), 0 rotations."""
        missing = [name for name in COLUMNS if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        mu = output_scale(pair_count(public["patients"]))
        dt = backend.sub(inputs["time_j"], inputs["time_i"])
        dr = backend.sub(inputs["risk_i"], inputs["risk_j"])
        both = backend.add(inputs["event_i"], inputs["event_j"])
        diff = backend.sub(inputs["event_i"], inputs["event_j"])
        ties = backend.add(inputs["ties_i"], inputs["ties_j"])
        weight = backend.sub(both, ties)
        sign_t = _sign(backend, dt, SIGN_COEFFICIENTS)
        # mu / 2 folded into the risk sign's coefficients (no extra level)
        sign_r = _sign(backend, dr, [c * mu / 2.0 for c in SIGN_COEFFICIENTS])
        # the event combinations are raised to the signs' level once and shared
        diff = backend.align(diff, sign_t.level)
        both = backend.align(both, sign_t.level)
        diff_t = backend.multiply(diff, sign_t)
        both_t = backend.multiply(both, sign_t)
        balance = backend.add(backend.multiply(diff, sign_r), backend.multiply(both_t, sign_r))
        return [weight, diff_t, balance]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """``[mu * comparable, mu * W]``, each a full-width slot sum (every slot = the total)."""
        if len(accumulators) != 3:
            raise CircuitError(
                f"expected 3 accumulators, got {len(accumulators)}", field="accumulators"
            )
        weight, diff_t, balance = accumulators
        mu = output_scale(pair_count(public["patients"]))
        comparable = backend.add(backend.align(weight, diff_t.level), diff_t)
        comparable = backend.multiply_plain(backend.slot_sum(comparable), mu / 2.0)
        return [comparable, backend.slot_sum(balance)]

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Regulator side: see :func:`decode_outputs` and :func:`build_report`."""
        public = self.validate_public(public)
        comparable, balance, noise = decode_outputs(outputs, public, rows)
        report = build_report(comparable, balance, patients=public["patients"], noise=noise)
        return release_report(report, noise=noise)


# ============================================================================================
# 4. Decoding into the report (regulator side)
# ============================================================================================


def decode_outputs(
    outputs: Sequence[FloatArray], public: PublicInputs, rows: int
) -> tuple[float, float, float]:
    """(comparable, W, noise) in pair units from the decrypted outputs.

    Steps: 1. exactly two finite output vectors and ``rows`` equal to the pair count of
    ``public["patients"]``; 2. every slot of each output holds the same aggregate up to
    SLOT_AGREEMENT_TOLERANCE (scaled units), else NoiseBoundError; 3. the slot means divided by
    mu are the aggregates; the noise allowance is the larger of CKKS_NOISE_PER_PAIR * pairs and
    the largest slot deviation divided by mu."""
    # 1.
    if len(outputs) != len(OUTPUTS):
        raise BundleFormatError(f"concordance has {len(OUTPUTS)} outputs, got {len(outputs)}")
    pairs = pair_count(public["patients"])
    if rows != pairs:
        raise BundleFormatError(f"{rows} rows, but {public['patients']} patients make {pairs}")
    mu = output_scale(pairs)
    values: list[float] = []
    noise = 0.0
    for name, output in zip(OUTPUTS, outputs, strict=True):
        vector = np.asarray(output, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise BundleFormatError(f"output {name!r} is not a flat vector")
        if not np.isfinite(vector).all():
            raise NoiseBoundError(f"output {name!r} holds non-finite values")
        # 2.
        mean = float(vector.mean())
        spread = float(np.abs(vector - mean).max())
        if spread > SLOT_AGREEMENT_TOLERANCE:
            raise NoiseBoundError(
                f"output {name!r}: slots differ by more than {SLOT_AGREEMENT_TOLERANCE} "
                "(scaled units); every slot must hold the same aggregate"
            )
        # 3.
        values.append(mean / mu)
        noise = max(noise, spread / mu)
    return values[0], values[1], max(noise, CKKS_NOISE_PER_PAIR * pairs)


def approximation_bound(patients: int) -> tuple[float, float]:
    """Worst-case bounds (comparable, concordant) on the pair-count errors caused by p != sign,
    for ``patients`` patients without ties (no error cancellation assumed).

    Without ties the rank differences are k / (N - 1) with multiplicity N - k; per pair
    |delta comparable| <= e(dt) / 2 and |delta concordant| <= 3/4 e(dt) + (1/2 + P)/2 e(dr),
    e = |p - sign|, P = max |p|. Tied values give dt = 0 or dr = 0 exactly, where p is exact."""
    k = np.arange(1, patients, dtype=np.float64)
    error = np.abs(sign_polynomial(k / (patients - 1)) - 1.0)
    total = float(np.sum((patients - k) * error))
    return 0.5 * total, (0.75 + 0.5 * (0.5 + SIGN_MAX_ABS)) * total


def build_report(
    comparable: float, balance: float, *, patients: int, noise: float = 0.0
) -> dict[str, Any]:
    """The concordance report from the decoded aggregates (pair units).

    ``c_index_error_bound`` is rigorous for inputs without ties (worst case over every data set
    of that size, no error cancellation, plus the noise allowance): it is loose (0.4-1). The
    measured error on real data is about 1e-3 or less (docs/specs/concordance.md).
    ``c_index_noise`` is the CKKS part alone."""
    concordant = 0.5 * (comparable + balance)
    bound_comparable, bound_concordant = approximation_bound(patients)
    bound_comparable += noise
    bound_concordant += noise
    c_index: float | None = None
    error_bound: float | None = None
    noise_c: float | None = None
    if comparable > 0.5:
        c_index = min(1.0, max(0.0, concordant / comparable))
        if comparable > bound_comparable:
            error_bound = min(
                1.0,
                (bound_concordant + c_index * bound_comparable) / (comparable - bound_comparable),
            )
        else:
            error_bound = 1.0
        noise_c = 2.0 * noise / comparable
    return {
        "patients": patients,
        "pairs": pair_count(patients),
        "c_index": c_index,
        "concordant_pairs": concordant,
        "comparable_pairs": comparable,
        "c_index_error_bound": error_bound,
        "c_index_noise": noise_c,
        "approximation": f"odd least-squares sign polynomial, degree {SIGN_DEGREE}, on ranks",
        "time_ties": TIME_TIES,
    }


def release_report(report: dict[str, Any], *, noise: float) -> dict[str, Any]:
    """The report as it may leave the regulator (see :mod:`regaudit.shared.release`): every
    decoded number rounded to the precision its CKKS noise bound supports.

    The pair counts are rounded to the step of ``noise`` (the CKKS allowance on each
    aggregate, pair units); ``c_index`` to the step of ``c_index_noise`` (which is widened by
    the half step the rounding may add). ``c_index_error_bound`` is rounded up to two
    significant digits after adding that half step. The rounding follows the noise, not the
    total bound: the rest of ``c_index_error_bound`` is the polynomial's deterministic
    approximation error (a function of the data alone, loose: 0.4-1), which carries no
    decryption noise; rounding C to it would report C to one decimal."""
    released = dict(report)
    released["concordant_pairs"] = round_to_bound(report["concordant_pairs"], noise)
    released["comparable_pairs"] = round_to_bound(report["comparable_pairs"], noise)
    if report["c_index"] is not None and report["c_index_noise"] is not None:
        c_index, c_noise = release(report["c_index"], report["c_index_noise"])
        released["c_index"], released["c_index_noise"] = c_index, c_noise
        assert c_index is not None
        widening = abs(c_index - report["c_index"])
        if report["c_index_error_bound"] is not None:
            released["c_index_error_bound"] = min(
                1.0, round_bound_up(report["c_index_error_bound"] + widening)
            )
    return released


# ============================================================================================
# Plaintext oracle and dry run
# ============================================================================================


def exact_counts(risk: FloatArray, time: FloatArray, event: FloatArray) -> dict[str, Any]:
    """Exact Harrell counts (sksurv semantics, exact risk equality), O(N^2) in numpy rows."""
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


def concordance_reference(data: ConcordanceData) -> dict[str, Any]:
    """Exact plaintext Harrell's C of ``data`` (the oracle): ``c_index``, ``concordant_pairs``
    (risk ties as 1/2), ``comparable_pairs``, ``tied_risk_pairs`` (comparable pairs with equal
    risk), ``tied_time_pairs`` (event/censoring pairs at the same time, sksurv's ``tied_time``)."""
    return exact_counts(data.risk, data.time, data.event)


def evaluate_plaintext(
    data: ConcordanceData, *, profile: ParameterProfile | None = None
) -> tuple[Plan, list[FloatArray]]:
    """Run the circuit exactly as the evaluator would, on the plaintext backend: plan, chunk,
    accumulate, finalize. Returns the plan and the (unencrypted) output vectors."""
    return planning.run_plaintext(
        ConcordanceCircuit(), data.public, data.iter_chunks, rows=data.rows, profile=profile
    )


__all__ = [
    "CKKS_NOISE_PER_PAIR",
    "COLUMNS",
    "MAX_PATIENTS",
    "MIN_PATIENTS",
    "OUTPUTS",
    "OUTPUT_SCALE_TARGET",
    "SIGN_COEFFICIENTS",
    "SIGN_DEGREE",
    "SLOT_AGREEMENT_TOLERANCE",
    "TIME_TIES",
    "ConcordanceCircuit",
    "ConcordanceData",
    "approximation_bound",
    "build_report",
    "concordance_reference",
    "decode_outputs",
    "encode_patients",
    "evaluate_plaintext",
    "exact_counts",
    "output_scale",
    "pair_count",
    "parse_concordance_input",
    "release_report",
    "sign_polynomial",
]
