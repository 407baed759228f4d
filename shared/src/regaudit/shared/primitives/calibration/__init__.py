"""The calibration primitive: conformal prediction sets under encryption.

Two forms, chosen by the input shape:

* **point** (as in regaudit-fhe 0.1.0): ``scores`` = K nonconformity scores of one test point
  and public per-class ``quantiles``; class k is in the prediction set iff score_k <= quantile_k.
  The report gives ``membership`` (one 0/1 per class, "indeterminate" for exact ties within the
  noise) and ``set_size``.
* **batch**: ``scores`` = n x K, ``labels`` = the n true classes, ``quantiles``; the report
  gives ``coverage`` (fraction of points whose true class is in their set) and
  ``mean_set_size``, each with an error bound.

Quantiles are given (``quantiles``) or computed by the client with the split-conformal rule
from ``alpha`` and its ``calibration_scores`` (:mod:`.conformal`; alpha, the calibration sizes,
the rule and a digest of the calibration set become public inputs).

Scores may be any reals. Point form: they are mapped into a public window [lo, lo + R]
(``score_offset``, ``score_range``: given, or derived by :func:`.layout.derive_window` as
[0, 1] when everything fits, else a power-of-two width on a half-width grid). Batch form: the
rank positions need no range; a derived window comes from the public quantiles only.

Point form. Blocks of K2 slots (the next power of two >= K); the client encrypts
``score`` = (s - lo) / R; the evaluator forms t = score - (quantile - lo) / R in [-1, 1] with a
public add_plain (no level); membership is t <= 0. p(t) = sum_(odd k <= 15)
c_k T_k(t) is a least-squares odd Chebyshev fit of sign, strictly positive on (0, 1] (checked at
import), so the membership bit is exact for every |t| with |p(t)| above the noise bound; the
coefficients are folded into the output mask multiplication: depth 5.

Batch form (see ``docs/specs/calibration.md`` for the measurements behind every choice).
Membership depends only on the order of score_ik relative to q_k, so the client replaces each
class's scores by an order-preserving *position* anchored at the public quantile
(:func:`.inputs.rank_positions`): members (score <= q_k, ties with q_k included) get
-(g + (1 - g) u) and non-members g + (1 - g) u, where u in (0, 1) is the average rank of the
score among that class's members (counted from the quantile downwards) resp. non-members
(upwards), and g = :data:`.layout.BATCH_GAP`. Positions are therefore never within g of 0, and
a fixed odd polynomial s of degree 15 (:data:`.layout.BATCH_SIGN_COEFFICIENTS`, least squares
on [g, 1]) equals sign to within :data:`.layout.BATCH_SIGN_ERROR` on every position. Layout:
blocks of K2' = next power of two >= K + 1 slots per point; slots 0..K-1 hold the point's K
positions, slot K a copy of the position of its true class, every other slot 0 (s(0) = 0
exactly: padding adds nothing).

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

Role modules: :mod:`.layout` (shared constants and slot layout), :mod:`.conformal` (the
quantile rule, shared by client and regulator), :mod:`.inputs` (client),
:mod:`.circuit` (evaluator), :mod:`.report` (regulator), :mod:`.reference` (exact oracle).
"""

from __future__ import annotations

from regaudit.shared.primitives.calibration.circuit import CalibrationCircuit
from regaudit.shared.primitives.calibration.layout import TABLE_REQUIRED
from regaudit.shared.primitives.descriptor import Primitive, PrimitiveOption

#: The calibration primitive's descriptor (entry point ``regaudit.primitives``: calibration).
PRIMITIVE = Primitive(
    name="calibration",
    summary="Conformal prediction sets: membership of one point, or coverage and mean set size.",
    package=__name__,
    circuits=(CalibrationCircuit(),),
    table_fields=("scores", "label"),
    overrides=(
        "quantiles",
        "score_range",
        "alpha",
        "calibration_scores",
        "calibration_labels",
        "calibration_salt",
    ),
    table_required=TABLE_REQUIRED,
    threshold_key=None,
    options=(
        PrimitiveOption(
            flag="--quantiles",
            key="quantiles",
            target="override",
            parser="float_list",
            metavar="Q[,Q...]",
            help="One conformal quantile, or one per class (comma-separated).",
        ),
        PrimitiveOption(
            flag="--score-range",
            key="score_range",
            target="override",
            parser="float_list",
            metavar="R|LO,HI",
            help="Scores lie in [0, R] or [LO, HI] (default: a public window derived from the "
            "data, see the spec).",
        ),
        PrimitiveOption(
            flag="--alpha",
            key="alpha",
            target="override",
            parser="float",
            help="Miscoverage level in (0, 1): quantiles by split conformal from "
            "--calibration-scores (instead of --quantiles).",
        ),
        PrimitiveOption(
            flag="--calibration-scores",
            key="calibration_scores",
            target="override",
            parser="json",
            metavar="JSON|@FILE",
            help="Calibration nonconformity scores: a JSON list (one set for all classes) or "
            "n x K list of lists (one column per class), inline or @FILE.",
        ),
        PrimitiveOption(
            flag="--calibration-labels",
            key="calibration_labels",
            target="override",
            parser="json",
            metavar="JSON|@FILE",
            help="Class of each calibration score (class-conditional quantiles), JSON list.",
        ),
        PrimitiveOption(
            flag="--calibration-salt",
            key="calibration_salt",
            target="override",
            parser="str",
            metavar="HEX",
            help="64 hex characters: makes the calibration-set digest hiding (keep it to open).",
        ),
        PrimitiveOption(
            flag="--scores",
            key="scores",
            target="columns",
            parser="str",
            metavar="COL,COL...",
            help="Score columns, in class order (default score_0, score_1, ...).",
        ),
    ),
    spec="docs/specs/calibration.md",
)

__all__ = ["PRIMITIVE"]
