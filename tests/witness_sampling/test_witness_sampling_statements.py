"""The sampled witness receipt statement and the wire sample: built and parsed strictly (every
field named on failure), and a header's sample is checked against its derivation when parsed."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.jobs import FairnessJob

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.statements.sampled_receipt import (
    SAMPLED_RECEIPT_PREDICATE,
    SampledChunk,
    build_sampled_receipt_statement,
    parse_sampled_receipt,
)
from regaudit.shared.protocol import JobHeader, WitnessSample

D = "sha256:" + "ab" * 32
KEY = "cd" * 32
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def kwargs(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        chunks=[
            SampledChunk(chunk=2, inputs=(("y_true", D), ("y_pred", D)), partial_digest=D),
            SampledChunk(chunk=7, inputs=(("y_true", D), ("y_pred", D)), partial_digest=D),
        ],
        canary_seed=bytes(32),
        sample_nonce=bytes(range(32)),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        public_inputs={"threshold": 0.1},
        job_id="job-1",
        circuit_id="fairness",
        circuit_version="1",
        profile_name="ckks-n8192-d3-v1",
        profile_hash=D,
        evaluation_keys_digest=D,
        rows=40_000,
        n_chunks=10,
        canary_input_digest=D,
        primary_receipt_digest=D,
        evaluator_key_id=KEY,
        software={"tenseal": "0.3.18", "seal": "4.1"},
        audit_id="audit-1",
        client_key_id=KEY,
        regulator_key_id=KEY,
        job_header_digest=D,
        retention={"input_ciphertexts": "deleted", "evaluation_keys": "deleted"},
    )
    fields.update(changes)
    return fields


def test_round_trip() -> None:
    statement = build_sampled_receipt_statement(**kwargs())
    assert statement["predicateType"] == SAMPLED_RECEIPT_PREDICATE
    assert [s["name"] for s in statement["subject"]] == ["partial/2", "partial/7"]
    parsed = parse_sampled_receipt(canonical_json(statement))
    assert parsed.sampled == (2, 7)
    assert parsed.chunks[0].inputs == (("y_true", D), ("y_pred", D))
    assert parsed.sample_nonce == bytes(range(32)) and parsed.finished_at == T0 + timedelta(
        2 / 86400
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_chunks": 5}, "chunks[1].chunk"),  # chunk 7 is not below 5
        ({"sample_nonce": b"short"}, "sample_nonce"),
        ({"primary_receipt_digest": "sha256:00"}, "primary_receipt_digest"),
        ({"chunks": []}, "chunks"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "finished_at"),
        (
            {"retention": {"input_ciphertexts": "kept", "evaluation_keys": "deleted"}},
            "retention.input_ciphertexts",
        ),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_builder_names_bad_fields(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as raised:
        build_sampled_receipt_statement(**kwargs(**changes))
    assert raised.value.field == field


def test_unordered_chunks_are_refused() -> None:
    chunks = kwargs()["chunks"][::-1]
    with pytest.raises(InputError) as raised:
        build_sampled_receipt_statement(**kwargs(chunks=chunks))
    assert raised.value.field == "chunks[1].chunk"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s["predicate"].pop("sample_nonce"), "predicate.sample_nonce"),
        (lambda s: s["predicate"].update(extra=1), "predicate.extra"),
        (lambda s: s["subject"].pop(), "subject"),
        (
            lambda s: s["predicate"]["chunks"][0].update(partial_digest="sha256:" + "ee" * 32),
            "subject",
        ),
        (lambda s: s["predicate"]["chunks"][0]["inputs"][0].update(extra=1), "chunks[0].inputs[0]"),
    ],
)
def test_parser_is_strict(edit: Any, field: str) -> None:
    statement = copy.deepcopy(build_sampled_receipt_statement(**kwargs()))
    edit(statement)
    with pytest.raises(BundleFormatError) as raised:
        parse_sampled_receipt(canonical_json(statement))
    assert raised.value.field == field


@pytest.fixture(scope="module")
def header() -> JobHeader:
    return FairnessJob(10 * 4096, seed=3).header()


def test_a_header_carries_its_sample_outside_the_signature(header: JobHeader) -> None:
    receipt = "sha256:" + hashlib.sha256(b"r").hexdigest()
    sample = WitnessSample.derive(
        primary_receipt_digest=receipt, nonce=bytes(32), n_chunks=header.n_chunks, k=3
    )
    sampled = replace(header, witness_sample=sample)
    parsed = JobHeader.from_proto(sampled.to_proto())
    assert parsed.witness_sample == sample
    assert parsed.digest == header.digest  # the same job, the same signature
    parsed.verify_signature()
    assert parsed.input_count == 1 + 3 * len(header.columns)
    assert parsed.uploaded_chunks == sample.chunks
    assert JobHeader.from_proto(header.to_proto()).witness_sample is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda s: replace(
                s, chunks=tuple(sorted({*s.chunks[1:], 9 if 9 not in s.chunks else 8}))
            ),
            "witness_sample.chunks",
        ),
        (lambda s: replace(s, chunks=s.chunks[::-1]), "witness_sample.chunks"),
        (lambda s: replace(s, chunks=(*s.chunks[:-1], 10)), "witness_sample.chunks"),
        (lambda s: replace(s, nonce=b"x" * 31), "witness_sample.nonce"),
        (
            lambda s: replace(s, primary_receipt_digest="sha256:zz"),
            "witness_sample.primary_receipt_digest",
        ),
    ],
)
def test_a_sample_that_is_not_the_derivation_is_refused(
    header: JobHeader, mutate: Any, field: str
) -> None:
    receipt = "sha256:" + hashlib.sha256(b"r").hexdigest()
    sample = WitnessSample.derive(
        primary_receipt_digest=receipt, nonce=bytes(32), n_chunks=header.n_chunks, k=3
    )
    with pytest.raises(InputError) as raised:
        JobHeader.from_proto(replace(header, witness_sample=mutate(sample)).to_proto())
    assert raised.value.field == field
