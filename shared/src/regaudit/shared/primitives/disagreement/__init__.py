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

Accuracy (version 2). The noise on a decrypted power sum is mostly of fixed absolute size (the
slot sum's key switching), so version 2 applies gains (doublings: additions, no level) before
the noise enters: a top power is u^a * (4 u^(j-a)) and every power is doubled up to 2^G,
G = max(2, 20 - ceil(log2 rows)), before its rotations; the regulator divides the gain out and
the mask 2^-e removes the rest (:mod:`.layout`). The per-moment noise bounds are
:func:`.report.moment_noise_bounds`; the measured noise sources, errors and bounds are in
``docs/specs/disagreement.md``.

Depth: u^j sits at level ceil(log2 j); the mask multiplication adds one: depth
ceil(log2 2d) + 1: 2 for linear models, 3 for quadratics, 4 for cubics and quartics, up to 6
for degree 16. Precision decides the profile, not depth: at scale 2^30 (``ckks-n8192-d3-v1``)
the report's relative error misses the 1e-6 target (see the spec). The circuit
declares ``min_scale_bits = 40`` and :func:`.circuit.plan_disagreement` plans on the smallest
profile with that scale (``planning.make_plan`` honours ``min_scale_bits`` too); the noise
constants of :mod:`.report` are for that profile.

Layout: one slot per input row; output ONE vector with output_scale(rows) * sum_i u_i^j in slot
j - 1 (output_scale = 2^(G - e)), every other slot zeroed. The regulator computes
mu_j = X^j * (output j) / (output_scale * rows) and learns the 2d mean input moments.

Role modules: :mod:`.layout` (shared constants and slot layout), :mod:`.inputs` (client),
:mod:`.circuit` (evaluator), :mod:`.report` (regulator), :mod:`.reference` (exact oracle).
"""

from __future__ import annotations

from regaudit.shared.primitives.descriptor import Primitive, PrimitiveOption
from regaudit.shared.primitives.disagreement.circuit import DisagreementCircuit
from regaudit.shared.primitives.disagreement.layout import PRIMITIVE_TABLE_REQUIRED

PRIMITIVE = Primitive(
    name="disagreement",
    summary="Mean pairwise squared disagreement of public polynomial models on private inputs.",
    package=__name__,
    circuits=(DisagreementCircuit(),),
    table_fields=("test_input",),
    overrides=("threshold", "input_bound", "model_polynomials"),
    table_required=PRIMITIVE_TABLE_REQUIRED,
    threshold_key="threshold",
    options=(
        PrimitiveOption(
            flag="--models",
            key="model_polynomials",
            target="override",
            parser="json",
            metavar="JSON|@FILE",
            help="Model polynomials as JSON, e.g. [[c0, c1], [c0, c1, c2]], or @FILE.",
        ),
        PrimitiveOption(
            flag="--input-bound",
            key="input_bound",
            target="override",
            parser="float",
            help="Public bound on |x|.",
        ),
    ),
    spec="docs/specs/disagreement.md",
)

__all__ = ["PRIMITIVE"]
