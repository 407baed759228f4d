"""``regaudit-regulator verify --json --seed-compatible``: the verified result in regaudit-fhe
0.1.0's output shape, so that tooling written for the seed library reads it.

The document is :func:`~regaudit.regulator.report.json.result_json`'s with two changes:
``schema`` is :data:`SEED_JSON_SCHEMA_ID` and ``result`` is the seed's ``<primitive>.output``
object (exactly its fields, nothing else: :func:`regaudit.shared.seed_view.seed_compatible`,
which says how each field is derived and what is refused). The in-process equivalent is
``report.to_seed_dict()`` (:meth:`regaudit.shared.results.ResultViews.to_seed_dict`), on the
regulator's side ``verified.to_report().to_seed_dict()``.
"""

from __future__ import annotations

from typing import TypedDict

from regaudit.regulator.report.json import JsonValue, jsonable
from regaudit.regulator.report.model import EvidenceSummary, evidence_summary
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import SeedIncompatibleError
from regaudit.shared.seed_view import seed_compatible

#: The ``schema`` of a seed-compatible result document.
SEED_JSON_SCHEMA_ID = "regaudit.regulator.result.seed-compatible.v1"


class SeedResultDocument(TypedDict):
    """An accepted bundle whose ``result`` is regaudit-fhe 0.1.0's output object."""

    schema: str
    verified: bool
    primitive: str
    audit_id: str
    result: JsonValue
    evidence: EvidenceSummary


def seed_result_json(verified: VerifiedAudit) -> SeedResultDocument:
    """``{"verified": true, "primitive", "audit_id", "result": <the seed's output object>,
    "evidence"}``; raises :class:`~regaudit.shared.errors.SeedIncompatibleError` (exit 2) when
    the seed's schema cannot express the result (the bundle itself verified)."""
    try:
        result = seed_compatible(verified.primitive, verified.result)
    except SeedIncompatibleError as error:
        raise SeedIncompatibleError(
            f"the bundle verified, but its result has no seed-compatible form: {error.message}",
            field=error.field,
        ) from None
    return {
        "schema": SEED_JSON_SCHEMA_ID,
        "verified": True,
        "primitive": verified.primitive,
        "audit_id": verified.audit_id,
        "result": jsonable(result),
        "evidence": evidence_summary(verified),
    }


__all__ = ["SEED_JSON_SCHEMA_ID", "SeedResultDocument", "seed_result_json"]
