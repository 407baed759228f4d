"""The audit submission (signed by the client, predicate :data:`SUBMISSION_PREDICATE`).

Its subjects are the receipt envelope (SHA-256 of its RFC 8785 canonical JSON) and, in order,
each witness's receipt envelope (``witness-receipt/<i>``); the predicate binds the hiding input
commitments, the sealed-key digest, the regulator key, the data description (row count, column
names), the witnesses and the missing witnesses (v2), and repeats the receipt's key facts.
A v3 submission also binds the row commitment (``row_commitment``: the Merkle root over the
salted rows, :mod:`regaudit.shared.evidence.row_commitments`) that row openings are checked
against; v2 submissions (no row commitment) still parse, their rows cannot be opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, RegauditError
from regaudit.shared.evidence.canonical import format_rfc3339, strict_json_loads
from regaudit.shared.evidence.row_commitments import ROW_COMMITMENT_SCHEME, RowCommitment
from regaudit.shared.evidence.statements.checks import BUILD, PARSE, FieldChecker, exact_fields
from regaudit.shared.evidence.statements.intoto import (
    make_statement,
    make_subject,
    parse_statement,
    subject_pairs,
)
from regaudit.shared.evidence.statements.receipt import receipt_digest
from regaudit.shared.evidence.statements.witnesses import (
    MissingWitness,
    WitnessBinding,
    check_missing_witnesses,
    check_witness_count,
    check_witnesses,
    witness_subjects,
)

#: v2: the witnesses and missing witnesses are bound (predicate fields and subjects).
SUBMISSION_PREDICATE = "https://regaudit.dev/attestations/audit-submission/v2"
#: v3: v2 plus ``row_commitment`` (what the client writes since row openings exist).
SUBMISSION_PREDICATE_ROWS = "https://regaudit.dev/attestations/audit-submission/v3"
#: The predicate ``row_commitment`` object's fields.
ROW_COMMITMENT_FIELDS = ("scheme", "root", "rows")
#: Name of the submission's first subject, the receipt envelope.
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
    "witnesses",
    "missing_witnesses",
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
    #: the witness receipts the client checked and bound, in bundle order
    witnesses: tuple[WitnessBinding, ...] = ()
    #: the witnesses that delivered no receipt (``--witness-optional``)
    missing_witnesses: tuple[MissingWitness, ...] = ()
    #: the row Merkle commitment (v3), None for a v2 submission
    row_commitment: RowCommitment | None = None


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
    witnesses: Sequence[WitnessBinding] = (),
    missing_witnesses: Sequence[MissingWitness] = (),
    row_commitment: RowCommitment | None = None,
) -> dict[str, Any]:
    """The client's submission statement; its subjects are ``"receipt"`` (the receipt
    envelope's digest) and ``"witness-receipt/<i>"`` (each witness receipt's digest).
    ``input_commitments`` maps every column name to its commitment; ``row_commitment`` (over
    ``rows`` rows of ``columns``) makes it a v3 statement. A witness may not sign with the
    primary evaluator's key (InputError)."""
    c = BUILD
    column_list = _check_columns(columns, c)
    commitments = _check_commitments(input_commitments, column_list, c)
    digest_of_receipt = receipt_digest(receipt_envelope)
    bound = check_witnesses(list(witnesses), c)
    absent = check_missing_witnesses(list(missing_witnesses), c)
    check_witness_count(bound, absent, c)
    if any(b.evaluator_key_id == evaluator_key_id for b in bound):
        raise c.error("a witness signs with the primary evaluator's key", field="witnesses")
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
        "witnesses": [b.to_dict() for b in bound],
        "missing_witnesses": [m.to_dict() for m in absent],
    }
    predicate_type = SUBMISSION_PREDICATE
    if row_commitment is not None:
        predicate["row_commitment"] = _check_row_commitment(
            row_commitment.to_dict(), c.count(rows, "rows"), c
        ).to_dict()
        predicate_type = SUBMISSION_PREDICATE_ROWS
    subjects = [make_subject(RECEIPT_SUBJECT_NAME, digest_of_receipt)]
    subjects += [make_subject(name, digest) for name, digest in witness_subjects(bound)]
    return make_statement(subjects, predicate_type, predicate)


def _check_row_commitment(value: object, rows: int, c: FieldChecker) -> RowCommitment:
    """The row commitment: the known scheme, a root digest, as many rows as the statement."""
    if not isinstance(value, Mapping):
        raise c.error("must be a JSON object", field="row_commitment")
    exact_fields(value, ROW_COMMITMENT_FIELDS, prefix="predicate.row_commitment.")
    if value["scheme"] != ROW_COMMITMENT_SCHEME:
        raise c.error(f"must be {ROW_COMMITMENT_SCHEME!r}", field="row_commitment.scheme")
    if c.count(value["rows"], "row_commitment.rows") != rows:
        raise c.error("must equal the statement's rows", field="row_commitment.rows")
    return RowCommitment(root=c.digest(value["root"], "row_commitment.root"), rows=rows)


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
    """Parse a submission statement payload (already signature-verified) strictly: v2, or v3
    with its ``row_commitment``."""
    statement = parse_statement(payload, predicate_type=_predicate_type_of(payload))
    p = statement["predicate"]
    has_rows = statement["predicateType"] == SUBMISSION_PREDICATE_ROWS
    exact_fields(
        p,
        (*SUBMISSION_FIELDS, "row_commitment") if has_rows else SUBMISSION_FIELDS,
        prefix="predicate.",
    )
    c = PARSE
    digest_of_receipt = c.digest(p["receipt_digest"], "receipt_digest")
    bound = check_witnesses(p["witnesses"], c)
    absent = check_missing_witnesses(p["missing_witnesses"], c)
    check_witness_count(bound, absent, c)
    expected_subjects = [(RECEIPT_SUBJECT_NAME, digest_of_receipt), *witness_subjects(bound)]
    if subject_pairs(statement) != expected_subjects:
        raise BundleFormatError(
            "the subjects must be 'receipt' with predicate.receipt_digest, then one "
            "'witness-receipt/<i>' per predicate.witnesses entry",
            field="subject",
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
        witnesses=tuple(bound),
        missing_witnesses=tuple(absent),
        row_commitment=(
            _check_row_commitment(p["row_commitment"], c.count(p["rows"], "rows"), c)
            if has_rows
            else None
        ),
    )


def _predicate_type_of(payload: bytes) -> str:
    """The v3 predicate type if the payload names it, else v2 (the strict parse then decides:
    anything else fails as a wrong ``predicateType``)."""
    try:
        document = strict_json_loads(bytes(payload), what="statement")
    except (RegauditError, TypeError):
        return SUBMISSION_PREDICATE
    if isinstance(document, dict) and document.get("predicateType") == SUBMISSION_PREDICATE_ROWS:
        return SUBMISSION_PREDICATE_ROWS
    return SUBMISSION_PREDICATE


__all__ = [
    "MAX_COLUMNS",
    "RECEIPT_SUBJECT_NAME",
    "ROW_COMMITMENT_FIELDS",
    "SUBMISSION_FIELDS",
    "SUBMISSION_PREDICATE",
    "SUBMISSION_PREDICATE_ROWS",
    "SubmissionStatement",
    "build_submission_statement",
    "parse_submission",
]
