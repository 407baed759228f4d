"""The audit submission (signed by the client, predicate :data:`SUBMISSION_PREDICATE`).

Its only subject is the receipt envelope (SHA-256 of its RFC 8785 canonical JSON); the predicate
binds the hiding input commitments, the sealed-key digest, the regulator key, the data
description (row count, column names) and repeats the receipt's key facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError
from regaudit.shared.evidence.canonical import format_rfc3339
from regaudit.shared.evidence.statements.checks import BUILD, PARSE, FieldChecker, exact_fields
from regaudit.shared.evidence.statements.intoto import (
    make_statement,
    make_subject,
    parse_statement,
    subject_pairs,
)
from regaudit.shared.evidence.statements.receipt import receipt_digest

SUBMISSION_PREDICATE = "https://regaudit.dev/attestations/audit-submission/v1"
#: Name of the submission's one subject, the receipt envelope.
RECEIPT_SUBJECT_NAME = "receipt"
MAX_COLUMNS = 1024

SUBMISSION_FIELDS = (
    "audit_id",
    "receipt_digest",
    "primitive",
    "circuit_id",
    "circuit_version",
    "profile_name",
    "profile_hash",
    "rows",
    "columns",
    "data_description",
    "input_commitments",
    "inputs_manifest_digest",
    "evaluation_keys_digest",
    "sealed_key_digest",
    "regulator_key_id",
    "evaluator_key_id",
    "job_id",
    "created_at",
)


@dataclass(frozen=True)
class SubmissionStatement:
    """A parsed audit submission statement."""

    audit_id: str
    receipt_digest: str
    primitive: str
    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    rows: int
    columns: tuple[str, ...]
    data_description: dict[str, Any]
    input_commitments: dict[str, str]
    inputs_manifest_digest: str
    evaluation_keys_digest: str
    sealed_key_digest: str
    regulator_key_id: str
    evaluator_key_id: str
    job_id: str
    created_at: datetime


def build_submission_statement(
    *,
    audit_id: str,
    receipt_envelope: Mapping[str, Any],
    primitive: str,
    circuit_id: str,
    circuit_version: str,
    profile_name: str,
    profile_hash: str,
    rows: int,
    columns: Sequence[str],
    data_description: Mapping[str, Any],
    input_commitments: Mapping[str, str],
    inputs_manifest_digest: str,
    evaluation_keys_digest: str,
    sealed_key_digest: str,
    regulator_key_id: str,
    evaluator_key_id: str,
    job_id: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The client's submission statement; its one subject ``"receipt"`` is the receipt
    envelope's digest. ``input_commitments`` maps every column name to its commitment."""
    c = BUILD
    column_list = _check_columns(columns, c)
    commitments = _check_commitments(input_commitments, column_list, c)
    digest_of_receipt = receipt_digest(receipt_envelope)
    predicate = {
        "audit_id": c.name(audit_id, "audit_id"),
        "receipt_digest": digest_of_receipt,
        "primitive": c.name(primitive, "primitive"),
        "circuit_id": c.name(circuit_id, "circuit_id"),
        "circuit_version": c.name(circuit_version, "circuit_version"),
        "profile_name": c.name(profile_name, "profile_name"),
        "profile_hash": c.digest(profile_hash, "profile_hash"),
        "rows": c.count(rows, "rows"),
        "columns": column_list,
        "data_description": c.json_object(dict(data_description), "data_description"),
        "input_commitments": commitments,
        "inputs_manifest_digest": c.digest(inputs_manifest_digest, "inputs_manifest_digest"),
        "evaluation_keys_digest": c.digest(evaluation_keys_digest, "evaluation_keys_digest"),
        "sealed_key_digest": c.digest(sealed_key_digest, "sealed_key_digest"),
        "regulator_key_id": c.key_id(regulator_key_id, "regulator_key_id"),
        "evaluator_key_id": c.key_id(evaluator_key_id, "evaluator_key_id"),
        "job_id": c.name(job_id, "job_id"),
        "created_at": format_rfc3339(c.time(created_at, "created_at")),
    }
    return make_statement(
        [make_subject(RECEIPT_SUBJECT_NAME, digest_of_receipt)], SUBMISSION_PREDICATE, predicate
    )


def _check_columns(columns: object, c: FieldChecker) -> list[str]:
    """1..MAX_COLUMNS unique column names."""
    if not isinstance(columns, list | tuple) or not 0 < len(columns) <= MAX_COLUMNS:
        raise c.error(f"must be a list of 1..{MAX_COLUMNS} column names", field="columns")
    names = [c.name(name, f"columns[{i}]") for i, name in enumerate(columns)]
    if len(set(names)) != len(names):
        raise c.error("column names must be unique", field="columns")
    return names


def _check_commitments(value: object, columns: list[str], c: FieldChecker) -> dict[str, str]:
    """Exactly one commitment digest per column, in column order."""
    if not isinstance(value, Mapping):
        raise c.error("must be a JSON object", field="input_commitments")
    if set(value) != set(columns):
        raise c.error("must hold exactly one commitment per column", field="input_commitments")
    return {name: c.digest(value[name], f"input_commitments.{name}") for name in columns}


def parse_submission(payload: bytes) -> SubmissionStatement:
    """Parse a submission statement payload (already signature-verified) strictly."""
    statement = parse_statement(payload, predicate_type=SUBMISSION_PREDICATE)
    p = statement["predicate"]
    exact_fields(p, SUBMISSION_FIELDS, prefix="predicate.")
    c = PARSE
    digest_of_receipt = c.digest(p["receipt_digest"], "receipt_digest")
    if subject_pairs(statement) != [(RECEIPT_SUBJECT_NAME, digest_of_receipt)]:
        raise BundleFormatError(
            "the only subject must be 'receipt' with predicate.receipt_digest", field="subject"
        )
    columns = _check_columns(p["columns"], c)
    return SubmissionStatement(
        audit_id=c.name(p["audit_id"], "audit_id"),
        receipt_digest=digest_of_receipt,
        primitive=c.name(p["primitive"], "primitive"),
        circuit_id=c.name(p["circuit_id"], "circuit_id"),
        circuit_version=c.name(p["circuit_version"], "circuit_version"),
        profile_name=c.name(p["profile_name"], "profile_name"),
        profile_hash=c.digest(p["profile_hash"], "profile_hash"),
        rows=c.count(p["rows"], "rows"),
        columns=tuple(columns),
        data_description=c.json_object(p["data_description"], "data_description"),
        input_commitments=_check_commitments(p["input_commitments"], columns, c),
        inputs_manifest_digest=c.digest(p["inputs_manifest_digest"], "inputs_manifest_digest"),
        evaluation_keys_digest=c.digest(p["evaluation_keys_digest"], "evaluation_keys_digest"),
        sealed_key_digest=c.digest(p["sealed_key_digest"], "sealed_key_digest"),
        regulator_key_id=c.key_id(p["regulator_key_id"], "regulator_key_id"),
        evaluator_key_id=c.key_id(p["evaluator_key_id"], "evaluator_key_id"),
        job_id=c.name(p["job_id"], "job_id"),
        created_at=c.time(p["created_at"], "created_at"),
    )


__all__ = [
    "MAX_COLUMNS",
    "RECEIPT_SUBJECT_NAME",
    "SUBMISSION_FIELDS",
    "SUBMISSION_PREDICATE",
    "SubmissionStatement",
    "build_submission_statement",
    "parse_submission",
]
