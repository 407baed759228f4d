"""The JSON result of ``regaudit-regulator verify --json`` (and of a signed report): one object
for an accepted bundle, one for a rejected one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias, TypedDict

from regaudit.regulator.report.document import ReportDocument, build_document
from regaudit.regulator.report.model import EvidenceSummary, evidence_summary
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.release import scrub_message

JSON_SCHEMA_ID = "regaudit.regulator.result.v1"

#: A plain JSON value.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


class ResultDocument(TypedDict):
    """An accepted bundle: ``verified`` is true."""

    schema: str
    verified: bool
    primitive: str
    audit_id: str
    result: JsonValue
    evidence: EvidenceSummary
    #: the report document the HTML and text render (:mod:`~regaudit.regulator.report.document`)
    report: ReportDocument


class FailureDocument(TypedDict):
    """A rejected bundle: ``verified`` is false, ``reason`` the stable reason string."""

    schema: str
    verified: bool
    reason: str
    message: str
    field: str | None


def result_json(verified: VerifiedAudit, *, trust: TrustStore | None = None) -> ResultDocument:
    """``{"verified": true, "primitive", "audit_id", "result": {...}, "evidence": {...},
    "report": {...}}``; ``result`` keeps regaudit-fhe 0.1.0's field names
    (``demographic_parity_diff``...); ``report`` is the report document (decisions under
    ``trust``'s result policy, else the audit's own thresholds), plain JSON."""
    return {
        "schema": JSON_SCHEMA_ID,
        "verified": True,
        "primitive": verified.primitive,
        "audit_id": verified.audit_id,
        "result": jsonable(verified.result),
        "evidence": evidence_summary(verified),
        "report": plain_report(build_document(verified, trust=trust)),
    }


def plain_report(document: ReportDocument) -> ReportDocument:
    """The document as plain JSON values (tuples as lists, NaN as null)."""
    plain = jsonable(document)
    assert isinstance(plain, dict)  # a mapping stays a mapping
    return plain  # type: ignore[return-value]


def failure_json(error: RegauditError) -> FailureDocument:
    """``{"verified": false, "reason": <stable reason>, "message", "field"}``. The message goes
    through :func:`regaudit.shared.release.scrub_message` (decoders never put a decrypted value
    into a message; this is the last line of defence for anything that slipped through)."""
    return {
        "schema": JSON_SCHEMA_ID,
        "verified": False,
        "reason": error.reason,
        "message": scrub_message(error.message),
        "field": error.field,
    }


def jsonable(value: object) -> JsonValue:
    """Plain JSON values (numpy scalars become Python numbers, NaN becomes null)."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(value)
    return str(value)


__all__ = [
    "JSON_SCHEMA_ID",
    "FailureDocument",
    "JsonValue",
    "ResultDocument",
    "failure_json",
    "jsonable",
    "plain_report",
    "result_json",
]
