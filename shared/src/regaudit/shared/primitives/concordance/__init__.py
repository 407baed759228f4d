"""The concordance primitive: Harrell's C under encryption, exact, from per-patient encodings.

Semantics (identical to ``sksurv.metrics.concordance_index_censored`` and lifelines): an ordered
pair (a, b) is *comparable* when ``event_a = 1`` and ``time_a < time_b``, or when ``event_a = 1``,
``event_b = 0`` and ``time_a = time_b`` (an event is compared with a censoring at the same time;
two events at the same time are not comparable). A comparable pair is *concordant* when
``risk_a > risk_b``; equal risks count one half. ``c_index = concordant / comparable``. Risks are
tied only when exactly equal (sksurv's default ``tied_tol=1e-8`` also merges risks closer than
1e-8).

How it works (docs/specs/concordance.md):

* Client side (:mod:`.encoding`, recomputable by the regulator from an opening of the raw
  values): a time position p and a risk position rho (both permutations with public tie-break
  rules), risk buckets H = rho // B with positions L = rho % B, the time rank within the
  bucket, and three tie counts per patient. Each patient is uploaded once per part as a
  thermometer over a block of V slots plus its event replicated over the block.
* The evaluator derives every one-hot from its thermometer (one rotation, no level) and counts
  pairs as inner products ``<e_a onehot(a), theta(b)>`` summed with suffix / prefix sums over
  ciphertexts and one masked lane suffix: depth 4, no polynomial approximation.
* Four outputs, each a full-width slot sum times a public power of two mu: twice the
  concordant count, the comparable count, the tied-risk and the tied-event pair counts. The
  regulator rounds them to exact integers (a quarter count of tolerance): C is exact.

Role modules: ``layout`` (public constants, geometry, public-input validation), ``encoding``
(transforms and per-patient encodings), ``inputs`` (client: validation, table reading),
``circuit`` (evaluator), ``report`` (regulator: decoding), ``reference`` (the exact plaintext
oracle). Importing this package loads ``circuit`` and ``layout`` only.
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
