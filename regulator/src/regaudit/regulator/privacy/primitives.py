"""Per primitive: which aggregates a DP release noises, their sensitivity, and how the report
is rebuilt from the noised aggregates (post-processing with the primitive's own build function).
One module per primitive in :mod:`.releases`; ``docs/privacy.md`` has the table.

Neighbouring datasets differ in one individual's data: one row added, removed or changed. The
row count (for concordance the patient count, for calibration the point count) is public -- the
submission and the evaluator's plan carry it -- so it is not protected and not noised; each
sensitivity is the larger of the add/remove and the change-one-row sensitivity, so the guarantee
holds under either reading. Every sensitivity is derived from public inputs only (declared
ranges, bounds, class counts), never from the data.

* fairness: per-group confusion cells, l1 = 2 (:mod:`.releases.fairness`).
* concordance: pair counts, l1 = 4 (N - 1) (:mod:`.releases.concordance`).
* calibration (batch form): covered points and total set size, l1 = 1 + K
  (:mod:`.releases.calibration`).
* disagreement: per-model means and the MPSD, quantized; the bound on one row is the public
  ``input_bound`` (:mod:`.releases.disagreement`).
* drift: per feature the distance and W1, quantized; the bound on one sample is the public
  ``sample_counts`` (an audit without them is refused, :mod:`.releases.drift`).
* provenance: bucket totals, quantized (:mod:`.releases.provenance`).

A primitive without a release is refused (:data:`REFUSED` says why when there is a reason),
never released un-noised under a DP label.
"""

from __future__ import annotations

from collections.abc import Mapping

from regaudit.regulator.privacy.releases.calibration import CALIBRATION, CALIBRATION_COUNTS
from regaudit.regulator.privacy.releases.common import Aggregates, PrimitiveRelease
from regaudit.regulator.privacy.releases.concordance import CONCORDANCE, CONCORDANCE_COUNTS
from regaudit.regulator.privacy.releases.disagreement import DISAGREEMENT
from regaudit.regulator.privacy.releases.drift import DRIFT
from regaudit.regulator.privacy.releases.fairness import FAIRNESS, FAIRNESS_CELLS
from regaudit.regulator.privacy.releases.provenance import PROVENANCE
from regaudit.shared.errors import InputError

#: Primitive name -> its DP release.
RELEASES: Mapping[str, PrimitiveRelease] = {
    "fairness": FAIRNESS,
    "concordance": CONCORDANCE,
    "calibration": CALIBRATION,
    "disagreement": DISAGREEMENT,
    "drift": DRIFT,
    "provenance": PROVENANCE,
}

#: Primitives refused under DP -> why (the public bound on one individual's contribution that
#: the public inputs do not give).
REFUSED: Mapping[str, str] = {}

#: Primitives whose releases are not available under DP yet (refused, not released plainly).
NOT_YET = tuple(REFUSED)


def release_for(primitive: str) -> PrimitiveRelease:
    """The DP release of ``primitive``; InputError for one not available (yet), naming why."""
    found = RELEASES.get(primitive)
    if found is None:
        why = REFUSED.get(primitive, "no DP release is defined for it")
        raise InputError(
            f"differential privacy is not available for {primitive} releases yet: {why} "
            f"(available: {', '.join(sorted(RELEASES))})",
            field="primitive",
        )
    return found


__all__ = [
    "CALIBRATION",
    "CALIBRATION_COUNTS",
    "CONCORDANCE",
    "CONCORDANCE_COUNTS",
    "DISAGREEMENT",
    "DRIFT",
    "FAIRNESS",
    "FAIRNESS_CELLS",
    "NOT_YET",
    "REFUSED",
    "RELEASES",
    "Aggregates",
    "PrimitiveRelease",
    "release_for",
]
