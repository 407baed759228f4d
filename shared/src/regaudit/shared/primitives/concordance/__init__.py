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
  differences, ``layout.SIGN_COEFFICIENTS``; depth 4). With ``A = e_i + e_j``,
  ``D = e_i - e_j``:

      comparable = 1/2 * (A - ties_i - ties_j + D * p(dt))
      W          = 1/2 * (D * p(dr) + A * p(dt) * p(dr))
      concordant = 1/2 * (comparable + W)

  This is exact when ``p`` is exactly ``sign`` (p(0) = 0 makes tied risks count 1/2 and tied
  event pairs contribute exactly 1 comparable pair, which the ``ties`` columns remove). The even
  indicator ``[dt != 0]`` is never approximated: its error would not cancel, the odd errors of
  ``p`` largely do (the measured error on real data: docs/specs/concordance.md).
* Depth 6: p (4) -> A*p(dt), D*p(dt) (5) -> (A*p(dt))*p(dr) (6). The output is NOT masked: both
  outputs are full-width slot sums, so EVERY slot holds the same aggregate and no slot carries a
  per-pair value. The scale ``mu`` (a power of two, so that mu * pairs <= 2^15 fits the depth-6
  profile's headroom) is folded into the coefficients of p(dr) and into the last scalar
  multiplication of ``comparable``.
* The regulator checks that all slots of each output agree (noise only), averages them, divides
  by ``mu`` and reports C with an error bound.

Role modules: ``layout`` (public constants, pair layout, public-input validation), ``inputs``
(client: validation, table reading, encoding), ``circuit`` (evaluator), ``report`` (regulator:
decoding), ``reference`` (the exact plaintext oracle). Importing this package loads ``circuit``
and ``layout`` only.
"""

from __future__ import annotations

from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.layout import FIELDS
from regaudit.shared.primitives.descriptor import Primitive

PRIMITIVE = Primitive(
    name="concordance",
    summary="Harrell's C of a survival model (risk, time, event all encrypted)",
    package=__name__,
    circuits=(ConcordanceCircuit(),),
    table_fields=FIELDS,
    overrides=(),
    table_required=(),
    threshold_key=None,
    options=(),
    spec="docs/specs/concordance.md",
)

__all__ = ["PRIMITIVE"]
