"""Fuzz the in-toto statements (regaudit.shared.evidence.statements): receipts and submissions
from random bytes and from mutated valid statements, and the build/parse round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fuzz.contract import (
    MAX_SAFE_INT,
    canonical_values,
    check_contract,
    json_bytes,
    mutated,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest
from regaudit.shared.evidence.statements import (
    MAX_CANARY_SEED_BYTES,
    MAX_NAME_CHARS,
    RECEIPT_FIELDS,
    RECEIPT_PREDICATE,
    SUBMISSION_PREDICATE,
    build_receipt_statement,
    build_submission_statement,
    parse_receipt,
    parse_statement,
    parse_submission,
    receipt_digest,
)
from regaudit.shared.evidence.witness_sampling import EMPTY_PARTIALS_ROOT

T0 = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)
D = "sha256:" + "ab" * 32
KEY = "cd" * 32

names = st.text(
    alphabet=st.characters(codec="utf-8", min_codepoint=0x20),
    min_size=1,
    max_size=MAX_NAME_CHARS,
)
digests = st.binary(max_size=8).map(sha256_digest)
key_ids = st.binary(min_size=32, max_size=32).map(bytes.hex)
counts = st.integers(min_value=0, max_value=MAX_SAFE_INT)
times = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
public_objects = st.dictionaries(st.text(max_size=12), canonical_values, max_size=5)


def receipt_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        job_id="job-1",
        circuit_id="fairness",
        circuit_version="1",
        profile_name="ckks-n8192-d3-v1",
        profile_hash=D,
        evaluation_keys_digest=D,
        inputs_manifest_digest=D,
        input_count=3,
        rows=1000,
        public_inputs={"threshold": 0.5, "groups": ["a", "b"]},
        canary_seed_hex="00ff" * 8,
        outputs=[("output/0", b"ciphertext-1"), ("canary", b"ciphertext-2")],
        output_contents=[("output/0", D), ("canary", D)],
        partials_root=D,
        partials_count=4,
        depth_planned=2,
        depth_observed=2,
        operation_counts={"rotations": 12, "rotation_steps": [1, 2]},
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        evaluator_key_id=KEY,
        software={"regaudit": "0.1.0"},
        audit_id="audit-1",
        client_key_id=KEY,
        regulator_key_id=KEY,
        job_header_digest=D,
        retention={"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    )
    kwargs.update(changes)
    return kwargs


RECEIPT_STATEMENT = build_receipt_statement(**receipt_kwargs())
RECEIPT_ENVELOPE = {"payloadType": "x", "payload": "", "signatures": []}
SUBMISSION_STATEMENT = build_submission_statement(
    audit_id="audit-1",
    receipt_envelope=RECEIPT_ENVELOPE,
    primitive="fairness",
    circuit_id="fairness",
    circuit_version="1",
    profile_name="ckks-n8192-d3-v1",
    profile_hash=D,
    rows=1000,
    columns=["y_true", "y_pred"],
    data_description={"source": "sample.json"},
    input_commitments={"y_true": D, "y_pred": D},
    inputs_manifest_digest=D,
    evaluation_keys_digest=D,
    sealed_key_digest=D,
    regulator_key_id=KEY,
    evaluator_key_id=KEY,
    job_id="job-1",
    created_at=T0,
)


def _payload(statement: Any, *, canonical: bool) -> bytes:
    """A mutated statement as bytes: canonical where it can be, else plain JSON (which the
    parsers must refuse as non-canonical)."""
    if canonical:
        try:
            return canonical_json(statement)
        except InputError:
            pass
    return json.dumps(statement).encode()


# --- random bytes ---------------------------------------------------------------------------------


@given(json_bytes(), st.sampled_from([RECEIPT_PREDICATE, SUBMISSION_PREDICATE]))
def test_parse_statement_of_random_bytes(data: bytes, predicate: str) -> None:
    check_contract(
        lambda: parse_statement(data, predicate_type=predicate), errors=(BundleFormatError,)
    )


@given(json_bytes())
def test_parse_receipt_and_submission_of_random_bytes(data: bytes) -> None:
    check_contract(lambda: parse_receipt(data), errors=(BundleFormatError,))
    check_contract(lambda: parse_submission(data), errors=(BundleFormatError,))


# --- mutated statements ---------------------------------------------------------------------------


@given(mutated(RECEIPT_STATEMENT), st.booleans())
def test_mutated_receipt(statement: Any, canonical: bool) -> None:
    payload = _payload(statement, canonical=canonical)
    parsed = check_contract(lambda: parse_receipt(payload), errors=(BundleFormatError,))
    if parsed is not None:
        assert canonical_json(json.loads(payload)) == payload


@given(mutated(SUBMISSION_STATEMENT), st.booleans())
def test_mutated_submission(statement: Any, canonical: bool) -> None:
    payload = _payload(statement, canonical=canonical)
    parsed = check_contract(
        lambda: parse_submission(payload),
        errors=(BundleFormatError,),
    )
    if parsed is not None:
        assert canonical_json(json.loads(payload)) == payload
        assert set(parsed.input_commitments) == set(parsed.columns)


# --- round trips ----------------------------------------------------------------------------------


#: (partials_root, partials_count): committed partials, or none (count 0, the empty-list root)
partials = st.tuples(
    digests.filter(lambda d: d != EMPTY_PARTIALS_ROOT),
    st.integers(min_value=1, max_value=MAX_SAFE_INT),
) | st.just((EMPTY_PARTIALS_ROOT, 0))


@st.composite
def receipt_arguments(draw: st.DrawFn) -> dict[str, Any]:
    output_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    started = draw(times)
    partials_root, partials_count = draw(partials)
    return receipt_kwargs(
        job_id=draw(names),
        circuit_id=draw(names),
        circuit_version=draw(names),
        profile_name=draw(names),
        profile_hash=draw(digests),
        evaluation_keys_digest=draw(digests),
        inputs_manifest_digest=draw(digests),
        input_count=draw(counts),
        rows=draw(counts),
        public_inputs=draw(public_objects),
        canary_seed_hex=draw(st.binary(min_size=1, max_size=MAX_CANARY_SEED_BYTES)).hex(),
        outputs=[(name, draw(st.binary(max_size=16))) for name in output_names],
        output_contents=[(name, draw(digests)) for name in output_names],
        partials_root=partials_root,
        partials_count=partials_count,
        depth_planned=draw(counts),
        depth_observed=draw(counts),
        operation_counts=draw(
            st.dictionaries(
                names,
                counts | st.lists(st.integers(-MAX_SAFE_INT, MAX_SAFE_INT), max_size=4),
                max_size=4,
            )
        ),
        started_at=started,
        finished_at=draw(
            st.datetimes(
                min_value=started.replace(tzinfo=None),
                max_value=datetime(9999, 12, 30),
                timezones=st.just(UTC),
            )
        ),
        evaluator_key_id=draw(key_ids),
        software=draw(st.dictionaries(names, st.text(max_size=MAX_NAME_CHARS), max_size=3)),
        audit_id=draw(names),
        client_key_id=draw(key_ids),
        regulator_key_id=draw(key_ids),
        job_header_digest=draw(digests),
        retention={
            "input_ciphertexts": draw(st.sampled_from(["deleted", "retained_until_jobs_end"])),
            "evaluation_keys": draw(st.sampled_from(["deleted", "retained_until_jobs_end"])),
        },
    )


@given(receipt_arguments())
def test_receipt_round_trip(kwargs: dict[str, Any]) -> None:
    parsed = parse_receipt(canonical_json(build_receipt_statement(**kwargs)))
    expected_outputs = tuple((name, sha256_digest(data)) for name, data in kwargs["outputs"])
    assert parsed.outputs == expected_outputs
    assert parsed.canary_seed == bytes.fromhex(kwargs["canary_seed_hex"])
    assert parsed.started_at == kwargs["started_at"]
    assert parsed.finished_at == kwargs["finished_at"]
    # every other field as built (the four above are converted on the way)
    converted = {"outputs", "output_contents", "canary_seed", "started_at", "finished_at"}
    assert parsed.output_contents == tuple(kwargs["output_contents"])
    for name in (field for field in RECEIPT_FIELDS if field not in converted):
        assert getattr(parsed, name) == kwargs[name], name


@given(
    columns=st.lists(names, min_size=1, max_size=6, unique=True),
    audit_id=names,
    primitive=names,
    rows=counts,
    description=public_objects,
    created=times,
    receipt=st.dictionaries(st.text(max_size=8), canonical_values, max_size=3),
    data=st.data(),
)
def test_submission_round_trip(
    columns: list[str],
    audit_id: str,
    primitive: str,
    rows: int,
    description: dict[str, Any],
    created: datetime,
    receipt: dict[str, Any],
    data: st.DataObject,
) -> None:
    commitments = {name: data.draw(digests) for name in columns}
    statement = build_submission_statement(
        audit_id=audit_id,
        receipt_envelope=receipt,
        primitive=primitive,
        circuit_id="fairness",
        circuit_version="1",
        profile_name="ckks-n8192-d3-v1",
        profile_hash=D,
        rows=rows,
        columns=columns,
        data_description=description,
        input_commitments=commitments,
        inputs_manifest_digest=D,
        evaluation_keys_digest=D,
        sealed_key_digest=D,
        regulator_key_id=KEY,
        evaluator_key_id=KEY,
        job_id="job-1",
        created_at=created,
    )
    parsed = parse_submission(canonical_json(statement))
    assert parsed.audit_id == audit_id
    assert parsed.primitive == primitive
    assert parsed.rows == rows
    assert parsed.columns == tuple(columns)
    assert parsed.input_commitments == commitments
    assert parsed.data_description == description
    assert parsed.created_at == created
    assert parsed.receipt_digest == receipt_digest(receipt)
