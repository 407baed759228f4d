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
Accuracy: abs error <= 1e-6 * sum |a| is checked by the tests at scale 2^30; the measurements
and the error model are in ``docs/specs/provenance.md``.

Role modules: :mod:`.layout` (shared), :mod:`.inputs` (client), :mod:`.circuit` (evaluator),
:mod:`.report` (regulator), :mod:`.reference` (exact oracle). This module imports the circuit
only.
"""

from __future__ import annotations

from regaudit.shared.primitives.descriptor import Primitive, PrimitiveOption
from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
from regaudit.shared.primitives.provenance.layout import PRIMITIVE_TABLE_REQUIRED

PRIMITIVE = Primitive(
    name="provenance",
    summary="Per-bucket attribution totals (public hash buckets of the row ids) and the top-K.",
    package=__name__,
    circuits=(ProvenanceCircuit(),),
    table_fields=("attribution", "row_id"),
    overrides=("n_buckets", "k", "attribution_scale"),
    table_required=PRIMITIVE_TABLE_REQUIRED,
    threshold_key=None,
    options=(
        PrimitiveOption(
            flag="--n-buckets",
            key="n_buckets",
            target="override",
            parser="int",
            help="Number of hash buckets.",
        ),
        PrimitiveOption(
            flag="--k", key="k", target="override", parser="int", help="Top-K buckets."
        ),
        PrimitiveOption(
            flag="--attribution-scale",
            key="attribution_scale",
            target="override",
            parser="float",
            help="Public power-of-two attribution scale.",
        ),
    ),
    spec="docs/specs/provenance.md",
)

__all__ = ["PRIMITIVE"]
