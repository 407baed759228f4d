"""The drift primitive: CDF L2² distance and a bounded Wasserstein-1 distance under encryption.

Inputs (regaudit-fhe 0.1.0's keys): ``p`` and ``q`` -- two histograms over the same bins (one
feature), or two F x B batches (F features, B bins each) -- and ``drift_threshold``. Optional public
inputs: ``bin_width`` (W1 = sum_b |P_b - Q_b| * bin_width, default 1), ``w1_range`` (see below) and
``sample_counts`` (per feature the number of samples behind p and q: filled from integer-count
histograms, or given; it reveals the sample sizes and is what a differentially private release
of the report needs, ``docs/privacy.md``).

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
b*S + 17 * (part mod S // 17) + j (see :func:`.layout.output_position`), times the output gain;
every other slot is zeroed. Galois keys: only the profile's radix-4 steps (48 MB with relin).

Role modules: :mod:`.layout` (constants, slot layout), :mod:`.inputs` (client),
:mod:`.circuit` (evaluator), :mod:`.report` (regulator), :mod:`.reference` (exact oracle).
"""

from __future__ import annotations

from regaudit.shared.primitives.descriptor import Primitive, PrimitiveOption
from regaudit.shared.primitives.drift.circuit import DriftCircuit
from regaudit.shared.primitives.drift.layout import (
    OVERRIDES,
    TABLE_FIELDS,
    TABLE_REQUIRED,
    THRESHOLD_KEY,
)

PRIMITIVE = Primitive(
    name="drift",
    summary="CDF L2² distance and a certified Wasserstein-1 distance between two histograms.",
    package=__name__,
    circuits=(DriftCircuit(),),
    table_fields=TABLE_FIELDS,
    overrides=OVERRIDES,
    table_required=TABLE_REQUIRED,
    threshold_key=THRESHOLD_KEY,
    options=(
        PrimitiveOption(
            flag="--drift-threshold",
            key="drift_threshold",
            target="override",
            parser="float",
            help="Threshold on the distance.",
        ),
        PrimitiveOption(
            flag="--bin-width",
            key="bin_width",
            target="override",
            parser="float",
            help="Bin width for W1.",
        ),
        PrimitiveOption(
            flag="--w1-range",
            key="w1_range",
            target="override",
            parser="float",
            help="Public bound on max |P - Q|.",
        ),
        PrimitiveOption(
            flag="--sample-counts",
            key="sample_counts",
            target="override",
            parser="json",
            help=(
                'Public samples behind each histogram, {"p": [n, ...], "q": [n, ...]} or one '
                "count per side (JSON or @FILE; automatic for integer-count histograms)."
            ),
            metavar="JSON",
        ),
    ),
    spec="docs/specs/drift.md",
)

__all__ = ["PRIMITIVE"]
