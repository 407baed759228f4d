"""The opening document: rows (and whole columns) of an audit's committed input table, revealed
by the client to the regulator in a dispute, each with what proves it is what the client
committed to in its signed submission.

It is an in-toto Statement v1 (predicate :data:`OPENING_PREDICATE`) signed by the client's
Ed25519 key in a DSSE envelope, like the submission. Its one subject is the submission
envelope (``"submission"``: SHA-256 of its RFC 8785 canonical JSON), and the predicate holds::

    {"audit_id": ..., "submission_digest": "sha256:...",
     "row_commitment": {"scheme": ..., "root": "sha256:...", "rows": n},
     "columns": [the committed columns, in order],
     "opened_rows": [{"index": i, "values": [...], "salt": "<64 hex>",
                      "proof": ["<64 hex>", ...]}, ...],
     "opened_columns": [{"name": c, "values": [all rows], "salt": "<64 hex>"}, ...],
     "created_at": RFC 3339}

A row opens against the row Merkle root (:mod:`regaudit.shared.evidence.row_commitments`), a
whole column against its column commitment in the submission
(:mod:`regaudit.shared.evidence.commitments`). At least one of the two lists is non-empty.

The hashing is :mod:`regaudit.shared.evidence.row_commitments`; the regulator's check is
:mod:`regaudit.regulator.opening_checks`. :func:`parse_opening` is structural only (every
failure an :class:`~regaudit.shared.errors.OpeningFormatError` naming the field); ranges,
duplicates and proofs are the check's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError, OpeningFormatError
from regaudit.shared.evidence.canonical import canonical_json, format_rfc3339, sha256_digest
from regaudit.shared.evidence.commitments import SALT_BYTES
from regaudit.shared.evidence.row_commitments import (
    HASH_BYTES,
    MAX_PROOF_HASHES,
    ROW_COMMITMENT_SCHEME,
    ROW_SALT_BYTES,
    RowCommitment,
)
from regaudit.shared.evidence.statements.checks import BUILD, PARSE, FieldChecker, exact_fields
from regaudit.shared.evidence.statements.intoto import (
    MAX_STATEMENT_BYTES,
    make_statement,
    make_subject,
    parse_statement,
    subject_pairs,
)

OPENING_PREDICATE = "https://regaudit.dev/attestations/opening/v1"
SUBMISSION_SUBJECT_NAME = "submission"
OPENING_FIELDS = (
    "audit_id",
    "submission_digest",
    "row_commitment",
    "columns",
    "opened_rows",
    "opened_columns",
    "created_at",
)
ROW_FIELDS = ("index", "values", "salt", "proof")
COLUMN_FIELDS = ("name", "values", "salt")
#: Most rows one opening may open (a dispute names rows, it does not publish the table).
MAX_OPENED_ROWS = 4096
MAX_OPENING_COLUMNS = 1024


@dataclass(frozen=True)
class OpenedRow:
    """One opened row: its index, its values (in the opening's column order), its salt and
    its RFC 9162 inclusion proof."""

    index: int
    values: tuple[float, ...]
    salt: bytes
    proof: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "values": list(self.values),
            "salt": self.salt.hex(),
            "proof": [step.hex() for step in self.proof],
        }


@dataclass(frozen=True)
class OpenedColumn:
    """One whole opened column: its name, every row's value and its commitment salt."""

    name: str
    values: tuple[float, ...]
    salt: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values), "salt": self.salt.hex()}


@dataclass(frozen=True)
class OpeningStatement:
    """A parsed (signature-verified) opening."""

    audit_id: str
    submission_digest: str
    row_commitment: RowCommitment
    columns: tuple[str, ...]
    rows: tuple[OpenedRow, ...]
    created_at: datetime
    opened_columns: tuple[OpenedColumn, ...] = ()


def submission_digest(envelope: Mapping[str, Any]) -> str:
    """The digest an opening binds: SHA-256 of the submission envelope's canonical JSON."""
    return sha256_digest(canonical_json(dict(envelope)))


def build_opening_statement(
    *,
    audit_id: str,
    submission_envelope: Mapping[str, Any],
    row_commitment: RowCommitment,
    columns: Sequence[str],
    rows: Sequence[OpenedRow],
    created_at: datetime,
    opened_columns: Sequence[OpenedColumn] = (),
) -> dict[str, Any]:
    """The opening statement (InputError if it is not well formed or too large)."""
    digest = submission_digest(submission_envelope)
    predicate = {
        "audit_id": BUILD.name(audit_id, "audit_id"),
        "submission_digest": digest,
        "row_commitment": row_commitment.to_dict(),
        "columns": list(columns),
        "opened_rows": [row.to_dict() for row in rows],
        "opened_columns": [column.to_dict() for column in opened_columns],
        "created_at": format_rfc3339(BUILD.time(created_at, "created_at")),
    }
    statement = make_statement(
        [make_subject(SUBMISSION_SUBJECT_NAME, digest)], OPENING_PREDICATE, predicate
    )
    _check_predicate(predicate, BUILD)
    if len(canonical_json(statement)) > MAX_STATEMENT_BYTES:
        raise InputError(
            f"the opening is over {MAX_STATEMENT_BYTES} bytes: open fewer rows or columns",
            field="rows",
        )
    return statement


def parse_opening(payload: bytes) -> OpeningStatement:
    """Parse an opening payload (already signature-verified) strictly (OpeningFormatError)."""
    try:
        statement = parse_statement(payload, predicate_type=OPENING_PREDICATE)
        predicate = statement["predicate"]
        opening = _check_predicate(predicate, PARSE)
        if subject_pairs(statement) != [(SUBMISSION_SUBJECT_NAME, opening.submission_digest)]:
            raise BundleFormatError(
                "the subject must be 'submission' with predicate.submission_digest",
                field="subject",
            )
    except BundleFormatError as exc:
        raise OpeningFormatError(exc.message, field=exc.field) from exc
    return opening


def _check_predicate(p: Mapping[str, Any], c: FieldChecker) -> OpeningStatement:
    exact_fields(p, OPENING_FIELDS, prefix="predicate.")
    commitment = p["row_commitment"]
    if not isinstance(commitment, Mapping):
        raise c.error("must be a JSON object", field="row_commitment")
    exact_fields(commitment, ("scheme", "root", "rows"), prefix="predicate.row_commitment.")
    if commitment["scheme"] != ROW_COMMITMENT_SCHEME:
        raise c.error(f"must be {ROW_COMMITMENT_SCHEME!r}", field="row_commitment.scheme")
    columns = p["columns"]
    if not isinstance(columns, list) or not 0 < len(columns) <= MAX_OPENING_COLUMNS:
        raise c.error(f"must be a list of 1..{MAX_OPENING_COLUMNS} names", field="columns")
    names = tuple(c.name(name, f"columns[{i}]") for i, name in enumerate(columns))
    opened = p["opened_rows"]
    if not isinstance(opened, list) or len(opened) > MAX_OPENED_ROWS:
        raise c.error(f"must be a list of at most {MAX_OPENED_ROWS} rows", field="opened_rows")
    whole = p["opened_columns"]
    if not isinstance(whole, list) or len(whole) > len(names):
        raise c.error("must be a list of at most one entry per column", field="opened_columns")
    if not opened and not whole:
        raise c.error("an opening opens at least one row or column", field="opened_rows")
    rows = c.count(commitment["rows"], "row_commitment.rows", minimum=1)
    return OpeningStatement(
        audit_id=c.name(p["audit_id"], "audit_id"),
        submission_digest=c.digest(p["submission_digest"], "submission_digest"),
        row_commitment=RowCommitment(
            root=c.digest(commitment["root"], "row_commitment.root"), rows=rows
        ),
        columns=names,
        rows=tuple(_row(row, len(names), f"opened_rows[{i}]", c) for i, row in enumerate(opened)),
        created_at=c.time(p["created_at"], "created_at"),
        opened_columns=tuple(
            _column(column, rows, f"opened_columns[{i}]", c) for i, column in enumerate(whole)
        ),
    )


def _numbers(
    values: object, count: int, field: str, c: FieldChecker, what: str
) -> tuple[float, ...]:
    if (
        not isinstance(values, list)
        or len(values) != count
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        )
    ):
        raise c.error(f"must be {count} finite numbers ({what})", field=field)
    return tuple(float(v) for v in values)


def _column(value: object, rows: int, field: str, c: FieldChecker) -> OpenedColumn:
    if not isinstance(value, Mapping):
        raise c.error("must be a JSON object", field=field)
    exact_fields(value, COLUMN_FIELDS, prefix=f"{field}.")
    return OpenedColumn(
        name=c.name(value["name"], f"{field}.name"),
        values=_numbers(value["values"], rows, f"{field}.values", c, "one per row"),
        salt=_fixed_hex(value["salt"], f"{field}.salt", SALT_BYTES, c),
    )


def _row(value: object, width: int, field: str, c: FieldChecker) -> OpenedRow:
    if not isinstance(value, Mapping):
        raise c.error("must be a JSON object", field=field)
    exact_fields(value, ROW_FIELDS, prefix=f"{field}.")
    index = value["index"]
    if not isinstance(index, int) or isinstance(index, bool):
        raise c.error("must be an integer", field=f"{field}.index")
    values = _numbers(value["values"], width, f"{field}.values", c, "one per column")
    proof = value["proof"]
    if not isinstance(proof, list) or len(proof) > MAX_PROOF_HASHES:
        raise c.error(
            f"must be a list of at most {MAX_PROOF_HASHES} hashes", field=f"{field}.proof"
        )
    return OpenedRow(
        index=index,
        values=values,
        salt=_fixed_hex(value["salt"], f"{field}.salt", ROW_SALT_BYTES, c),
        proof=tuple(
            _fixed_hex(step, f"{field}.proof[{j}]", HASH_BYTES, c) for j, step in enumerate(proof)
        ),
    )


def _fixed_hex(value: object, field: str, size: int, c: FieldChecker) -> bytes:
    """Exactly ``size`` bytes as lowercase hex."""
    data = c.hex_bytes(value, field, max_bytes=size)
    if len(data) != size:
        raise c.error(f"must be {size} bytes ({2 * size} hex characters)", field=field)
    return data


__all__ = [
    "COLUMN_FIELDS",
    "MAX_OPENED_ROWS",
    "MAX_OPENING_COLUMNS",
    "OPENING_FIELDS",
    "OPENING_PREDICATE",
    "ROW_FIELDS",
    "SUBMISSION_SUBJECT_NAME",
    "OpenedColumn",
    "OpenedRow",
    "OpeningStatement",
    "build_opening_statement",
    "parse_opening",
    "submission_digest",
]
