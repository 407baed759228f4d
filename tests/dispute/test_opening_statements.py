"""The signed documents of the dispute workflow, without daemons: the v3 submission binds the
row commitment (strictly parsed, schema-valid; v2 still parses, with no row commitment), the
opening statement round-trips and its parser refuses malformed fields as ``malformed_opening``,
and the row list of ``regaudit-client open`` is parsed strictly."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from regaudit.client.open_command import parse_row_spec
from regaudit.shared import schemas
from regaudit.shared.errors import BundleFormatError, InputError, OpeningFormatError
from regaudit.shared.evidence import statements
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.openings import (
    OpenedRow,
    build_opening_statement,
    parse_opening,
    submission_digest,
)
from regaudit.shared.evidence.row_commitments import RowCommitment
from regaudit.shared.evidence.statements.submission import SUBMISSION_PREDICATE_ROWS
from regaudit.shared.profiles import PROFILE_N8192_D3

D = sha256_digest(b"d")
ROOT = sha256_digest(b"root")
RECEIPT = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
WHEN = datetime(2026, 12, 4, tzinfo=UTC)


def submission(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        audit_id="audit-1",
        receipt_envelope=RECEIPT,
        primitive="fairness",
        circuit_id="fairness",
        circuit_version="1",
        profile_name=PROFILE_N8192_D3.name,
        profile_hash=PROFILE_N8192_D3.profile_hash,
        rows=1000,
        columns=["y_true", "y_pred"],
        data_description={"rows": 1000},
        input_commitments={"y_true": D, "y_pred": D},
        inputs_manifest_digest=D,
        evaluation_keys_digest=D,
        sealed_key_digest=D,
        regulator_key_id="cd" * 32,
        evaluator_key_id="aa" * 32,
        job_id="job-1",
        created_at=WHEN,
        row_commitment=RowCommitment(root=ROOT, rows=1000),
    )
    kwargs.update(changes)
    return statements.build_submission_statement(**kwargs)


def test_v3_submission_binds_the_row_commitment_and_v2_still_parses() -> None:
    statement = submission()
    assert statement["predicateType"] == SUBMISSION_PREDICATE_ROWS
    assert statement["predicate"]["row_commitment"] == {
        "scheme": "regaudit/row-merkle/v1",
        "root": ROOT,
        "rows": 1000,
    }
    schemas.validate("submission", statement)
    parsed = statements.parse_submission(canonical_json(statement))
    assert parsed.row_commitment == RowCommitment(root=ROOT, rows=1000)
    old = submission(row_commitment=None)
    assert old["predicateType"].endswith("/audit-submission/v2")
    schemas.validate("submission", old)
    assert statements.parse_submission(canonical_json(old)).row_commitment is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("row_commitment"), "predicate.row_commitment"),
        (lambda p: p["row_commitment"].update(rows=999), "row_commitment.rows"),
        (lambda p: p["row_commitment"].update(scheme="other"), "row_commitment.scheme"),
        (lambda p: p["row_commitment"].update(root="sha256:xyz"), "row_commitment.root"),
        (lambda p: p["row_commitment"].update(extra=1), "predicate.row_commitment.extra"),
    ],
)
def test_the_row_commitment_is_parsed_strictly(mutate: Any, field: str) -> None:
    statement = submission()
    mutate(statement["predicate"])
    with pytest.raises(BundleFormatError) as raised:
        statements.parse_submission(canonical_json(statement))
    assert raised.value.field == field


def test_a_v2_statement_may_not_carry_a_row_commitment() -> None:
    statement = submission()
    statement["predicateType"] = statement["predicateType"].replace("/v3", "/v2")
    with pytest.raises(BundleFormatError):
        statements.parse_submission(canonical_json(statement))
    with pytest.raises(InputError):
        schemas.validate("submission", statement)


ENVELOPE = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}


def opening(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        audit_id="audit-1",
        submission_envelope=ENVELOPE,
        row_commitment=RowCommitment(root=ROOT, rows=1000),
        columns=["y_true", "y_pred"],
        rows=[OpenedRow(index=3, values=(1.0, 0.0), salt=b"\x01" * 32, proof=(b"\x02" * 32,))],
        created_at=WHEN,
    )
    kwargs.update(changes)
    return build_opening_statement(**kwargs)


def test_the_opening_round_trips_and_binds_the_submission() -> None:
    statement = opening()
    assert statement["subject"][0]["name"] == "submission"
    parsed = parse_opening(canonical_json(statement))
    assert parsed.submission_digest == submission_digest(ENVELOPE)
    assert parsed.rows[0].values == (1.0, 0.0) and parsed.rows[0].salt == b"\x01" * 32


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["opened_rows"][0].update(salt="01" * 31), "opened_rows[0].salt"),
        (lambda p: p["opened_rows"][0].update(values=[1.0]), "opened_rows[0].values"),
        (lambda p: p["opened_rows"][0].update(values=[True, 0]), "opened_rows[0].values"),
        (lambda p: p["opened_rows"][0].update(index="3"), "opened_rows[0].index"),
        (lambda p: p["opened_rows"][0]["proof"].append("zz"), "opened_rows[0].proof[1]"),
        (lambda p: p.update(opened_rows=[]), "opened_rows"),
        (lambda p: p.update(submission_digest=D), "subject"),
        (lambda p: p.pop("created_at"), "predicate.created_at"),
    ],
)
def test_a_malformed_opening_is_refused(mutate: Any, field: str) -> None:
    statement = copy.deepcopy(opening())
    mutate(statement["predicate"])
    with pytest.raises(OpeningFormatError) as raised:
        parse_opening(canonical_json(statement))
    assert raised.value.reason == "malformed_opening"
    assert raised.value.field == field


def test_row_lists() -> None:
    assert parse_row_spec("3,17,40-45", limit=100) == [3, 17, 40, 41, 42, 43, 44, 45]
    assert parse_row_spec(" 0 ", limit=1) == [0]
    for bad in ("", "x", "-1", "5-3", "1,1", "1-3,2", "0-100"):
        with pytest.raises(InputError) as raised:
            parse_row_spec(bad, limit=100)
        assert raised.value.field == "rows"
