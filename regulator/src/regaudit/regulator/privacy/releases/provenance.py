"""provenance under DP: the bucket totals, quantized (:mod:`.common`). NOT registered in
:data:`regaudit.regulator.privacy.primitives.RELEASES` yet: the report's decision is the top-K
set (a ranking), which the decision-flip analysis does not compare (it analyses boolean
decisions), so a top-K the noise could reorder would be released as determined. Registering it
needs that analysis (``docs/privacy.md``).

The bound on one row is PUBLIC: the client refuses an input with max |a| * r >
``attribution_scale`` * 2^24, r the largest bucket's row count (the plan's ``rows``, public),
so every row has |a| <= M = ``attribution_scale`` * 2^24 / r. A row lies in one bucket (a
public hash of its id); adding or removing it moves one total by at most M, changing it moves
one total by at most 2M or two by M each: l1 = l2 = 2M over the n_buckets coordinates. The
decoder's CKKS error per total is bounded publicly by ``provenance.report.error_bound`` at the
largest possible total, times 2 for the release rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from regaudit.regulator.privacy.releases.common import (
    Aggregates,
    PrimitiveRelease,
    Quantization,
    clamp,
    number,
    quantized_sensitivity,
)
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError

#: The released (rounded) totals are within this factor of the decoder's CKKS bound.
RELEASE_WIDENING = 2.0


def _setup(verified: VerifiedAudit) -> tuple[dict[str, Any], Quantization, float, float]:
    """The public inputs, the quantization, the public CKKS bound and the largest |total|."""
    from regaudit.shared.primitives.provenance.circuit import ProvenanceCircuit
    from regaudit.shared.primitives.provenance.layout import MAX_TOTAL
    from regaudit.shared.primitives.provenance.report import error_bound

    public = ProvenanceCircuit().validate_public(dict(verified.public_inputs))
    rows = int(verified.plan.rows)
    largest = float(public["attribution_scale"]) * MAX_TOTAL
    per_row = largest / rows
    error = RELEASE_WIDENING * error_bound(public, rows)
    quantization = quantized_sensitivity(
        l1=2.0 * per_row,
        l2=2.0 * per_row,
        error=error,
        coordinates=int(public["n_buckets"]),
        unit="row",
    )
    return public, quantization, error, largest


def _provenance_aggregates(verified: VerifiedAudit) -> Aggregates:
    """Steps: 1. public inputs and quantization; 2. one released total per bucket, whose
    bound is within the public one; 3. quantized."""
    # 1.
    public, quantization, error, _ = _setup(verified)
    totals = verified.result.get("bucket_totals")
    # 2.
    if not isinstance(totals, list) or len(totals) != public["n_buckets"]:
        raise InputError("the verified provenance result has no bucket totals", field="result")
    values = [number(t, f"bucket_totals[{b}]") for b, t in enumerate(totals)]
    if number(verified.result.get("error_bound"), "error_bound") > error:
        raise InputError("the decoded error bound exceeds its public worst case", field="result")
    # 3.
    names = tuple(f"bucket[{b}].total" for b in range(len(values)))
    return Aggregates(names, quantization.quantize(values), quantization.sensitivity)


def _provenance_rebuild(noised: Sequence[int], verified: VerifiedAudit) -> dict[str, Any]:
    """Post-processing. Steps: 1. back to values; 2. each total into [-A 2^24, A 2^24] (the
    largest possible |total|); 3. the primitive's own ``build_provenance_report`` (top-K,
    ranks within the public CKKS bound) and ``release_report``."""
    import numpy as np

    from regaudit.shared.primitives.provenance.report import (
        build_provenance_report,
        release_report,
    )

    public, quantization, error, largest = _setup(verified)
    # 1.
    values = quantization.restore(noised)
    # 2.
    totals = np.asarray([clamp(v, -largest, largest) for v in values], dtype=np.float64)
    # 3.
    return release_report(build_provenance_report(totals, public, error_bound=error))


PROVENANCE = PrimitiveRelease(
    primitive="provenance",
    aggregates=_provenance_aggregates,
    rebuild=_provenance_rebuild,
    metrics=(),
    public=("rows (largest bucket)", "n_buckets", "k", "attribution_scale"),
)

__all__ = ["PROVENANCE", "RELEASE_WIDENING"]
