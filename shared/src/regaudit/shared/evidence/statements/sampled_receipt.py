"""The sampled witness's receipt (signed by the witness evaluator, predicate
:data:`SAMPLED_RECEIPT_PREDICATE`).

A sampled witness re-executes some chunks of a job another evaluator (the primary) ran. Its
receipt binds the same job header (digest, audit id, client and regulator keys), circuit,
profile, evaluation keys, public inputs and canary seed as the primary's; the primary receipt's
digest and the client's nonce the sample was derived from; and, for every sampled chunk, the
digests of the input ciphertexts it received and the partial digest it computed (also the
statement's subjects, named ``partial/<chunk>``). It has no outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import format_rfc3339
from regaudit.shared.evidence.statements.checks import BUILD, PARSE, FieldChecker, exact_fields
from regaudit.shared.evidence.statements.intoto import (
    make_statement,
    make_subject,
    parse_statement,
    subject_pairs,
)
from regaudit.shared.evidence.statements.receipt import (
    MAX_CANARY_SEED_BYTES,
    RETENTION_ITEMS,
    RETENTION_VALUES,
)

SAMPLED_RECEIPT_PREDICATE = "https://regaudit.dev/attestations/sampled-witness-receipt/v1"
#: Most sampled chunks one receipt lists.
MAX_SAMPLED_CHUNKS = 2**16
#: Bytes of the sample nonce (``witness_sampling.SAMPLE_NONCE_BYTES``).
NONCE_BYTES = 32
PARTIAL_SUBJECT_PREFIX = "partial/"

SAMPLED_RECEIPT_FIELDS = (
    "job_id",
    "circuit_id",
    "circuit_version",
    "profile_name",
    "profile_hash",
    "evaluation_keys_digest",
    "rows",
    "n_chunks",
    "public_inputs",
    "canary_seed",
    "canary_input_digest",
    "primary_receipt_digest",
    "sample_nonce",
    "chunks",
    "started_at",
    "finished_at",
    "evaluator_key_id",
    "software",
    "audit_id",
    "client_key_id",
    "regulator_key_id",
    "job_header_digest",
    "retention",
)


@dataclass(frozen=True)
class SampledChunk:
    """One re-executed chunk: its index, the digests of the input ciphertexts the witness
    received for it ((column, "sha256:<hex>") in plan column order) and its partial digest."""

    chunk: int
    inputs: tuple[tuple[str, str], ...]
    partial_digest: str


@dataclass(frozen=True)
class SampledReceiptStatement:
    """A parsed sampled witness receipt."""

    job_id: str
    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    evaluation_keys_digest: str
    rows: int
    #: the job's chunk count (the primary evaluated them all)
    n_chunks: int
    public_inputs: dict[str, Any]
    canary_seed: bytes
    #: digest of the canary ciphertext the witness received
    canary_input_digest: str
    primary_receipt_digest: str
    sample_nonce: bytes
    #: in ascending chunk order
    chunks: tuple[SampledChunk, ...]
    started_at: datetime
    finished_at: datetime
    evaluator_key_id: str
    software: dict[str, str]
    audit_id: str
    client_key_id: str
    regulator_key_id: str
    job_header_digest: str
    retention: dict[str, str]

    @property
    def sampled(self) -> tuple[int, ...]:
        """The sampled chunk indices, ascending."""
        return tuple(entry.chunk for entry in self.chunks)


def _chunks(c: FieldChecker, value: object, n_chunks: int) -> list[dict[str, Any]]:
    """``chunks``: 1..MAX entries, strictly ascending indices below ``n_chunks``, each with a
    non-empty list of (column, digest) inputs and a partial digest."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SAMPLED_CHUNKS:
        raise c.error(f"must list 1..{MAX_SAMPLED_CHUNKS} chunks", field="chunks")
    entries: list[dict[str, Any]] = []
    previous = -1
    for index, entry in enumerate(value):
        field = f"chunks[{index}]"
        if not isinstance(entry, Mapping) or set(entry) != {"chunk", "inputs", "partial_digest"}:
            raise c.error("must have 'chunk', 'inputs' and 'partial_digest'", field=field)
        chunk = c.count(entry["chunk"], f"{field}.chunk")
        if not previous < chunk < n_chunks:
            raise c.error(
                f"chunk indices must ascend strictly and stay below {n_chunks}",
                field=f"{field}.chunk",
            )
        previous = chunk
        inputs = entry["inputs"]
        if not isinstance(inputs, list) or not inputs:
            raise c.error("must be a non-empty list", field=f"{field}.inputs")
        checked_inputs = []
        for position, item in enumerate(inputs):
            where = f"{field}.inputs[{position}]"
            if not isinstance(item, Mapping) or set(item) != {"column", "sha256"}:
                raise c.error("must have 'column' and 'sha256'", field=where)
            checked_inputs.append(
                {
                    "column": c.name(item["column"], f"{where}.column"),
                    "sha256": c.digest(item["sha256"], f"{where}.sha256"),
                }
            )
        entries.append(
            {
                "chunk": chunk,
                "inputs": checked_inputs,
                "partial_digest": c.digest(entry["partial_digest"], f"{field}.partial_digest"),
            }
        )
    return entries


def _retention(c: FieldChecker, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != set(RETENTION_ITEMS):
        raise c.error(f"must report exactly {list(RETENTION_ITEMS)}", field="retention")
    for item in RETENTION_ITEMS:
        if value[item] not in RETENTION_VALUES:
            raise c.error(f"must be one of {list(RETENTION_VALUES)}", field=f"retention.{item}")
    return {item: str(value[item]) for item in RETENTION_ITEMS}


def _predicate(c: FieldChecker, p: Mapping[str, Any]) -> dict[str, Any]:
    """Every predicate field checked with ``c``, in canonical form (builder and parser)."""
    n_chunks = c.count(p["n_chunks"], "n_chunks", minimum=1)
    started = c.time(p["started_at"], "started_at")
    finished = c.time(p["finished_at"], "finished_at")
    if finished < started:
        raise c.error("finished_at is before started_at", field="finished_at")
    c.hex_bytes(p["canary_seed"], "canary_seed", max_bytes=MAX_CANARY_SEED_BYTES)
    if len(c.hex_bytes(p["sample_nonce"], "sample_nonce", max_bytes=NONCE_BYTES)) != NONCE_BYTES:
        raise c.error(f"must be {NONCE_BYTES} bytes of hex", field="sample_nonce")
    return {
        "job_id": c.name(p["job_id"], "job_id"),
        "circuit_id": c.name(p["circuit_id"], "circuit_id"),
        "circuit_version": c.name(p["circuit_version"], "circuit_version"),
        "profile_name": c.name(p["profile_name"], "profile_name"),
        "profile_hash": c.digest(p["profile_hash"], "profile_hash"),
        "evaluation_keys_digest": c.digest(p["evaluation_keys_digest"], "evaluation_keys_digest"),
        "rows": c.count(p["rows"], "rows", minimum=1),
        "n_chunks": n_chunks,
        "public_inputs": c.json_object(dict(p["public_inputs"]), "public_inputs"),
        "canary_seed": p["canary_seed"],
        "canary_input_digest": c.digest(p["canary_input_digest"], "canary_input_digest"),
        "primary_receipt_digest": c.digest(p["primary_receipt_digest"], "primary_receipt_digest"),
        "sample_nonce": p["sample_nonce"],
        "chunks": _chunks(c, p["chunks"], n_chunks),
        "started_at": format_rfc3339(started),
        "finished_at": format_rfc3339(finished),
        "evaluator_key_id": c.key_id(p["evaluator_key_id"], "evaluator_key_id"),
        "software": c.str_map(p["software"], "software"),
        "audit_id": c.name(p["audit_id"], "audit_id"),
        "client_key_id": c.key_id(p["client_key_id"], "client_key_id"),
        "regulator_key_id": c.key_id(p["regulator_key_id"], "regulator_key_id"),
        "job_header_digest": c.digest(p["job_header_digest"], "job_header_digest"),
        "retention": _retention(c, p["retention"]),
    }


def partial_subject_name(chunk: int) -> str:
    """The subject name of a sampled chunk's partial digest (``partial/<chunk>``)."""
    return f"{PARTIAL_SUBJECT_PREFIX}{chunk}"


def build_sampled_receipt_statement(
    *,
    chunks: Sequence[SampledChunk],
    canary_seed: bytes,
    sample_nonce: bytes,
    started_at: datetime,
    finished_at: datetime,
    public_inputs: Mapping[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    """The witness's receipt statement. ``fields`` are the remaining predicate fields by name
    (:data:`SAMPLED_RECEIPT_FIELDS`; strings, counts, the software and retention maps);
    InputError names a missing, unknown or bad one."""
    raw: dict[str, Any] = {
        **fields,
        "public_inputs": dict(public_inputs),
        "canary_seed": bytes(canary_seed).hex(),
        "sample_nonce": bytes(sample_nonce).hex(),
        "started_at": started_at,
        "finished_at": finished_at,
        "chunks": [
            {
                "chunk": entry.chunk,
                "inputs": [{"column": col, "sha256": digest} for col, digest in entry.inputs],
                "partial_digest": entry.partial_digest,
            }
            for entry in chunks
        ],
    }
    missing = [name for name in SAMPLED_RECEIPT_FIELDS if name not in raw]
    extra = sorted(set(raw) - set(SAMPLED_RECEIPT_FIELDS))
    if missing or extra:
        raise InputError("missing or unknown receipt field", field=(missing or extra)[0])
    predicate = _predicate(BUILD, raw)
    subjects = [
        make_subject(partial_subject_name(e["chunk"]), e["partial_digest"])
        for e in predicate["chunks"]
    ]
    return make_statement(subjects, SAMPLED_RECEIPT_PREDICATE, predicate)


def parse_sampled_receipt(payload: bytes) -> SampledReceiptStatement:
    """Parse a sampled witness receipt payload (already signature-verified) strictly."""
    statement = parse_statement(payload, predicate_type=SAMPLED_RECEIPT_PREDICATE)
    raw = statement["predicate"]
    exact_fields(raw, SAMPLED_RECEIPT_FIELDS, prefix="predicate.")
    p = _predicate(PARSE, raw)
    subjects = [(partial_subject_name(e["chunk"]), e["partial_digest"]) for e in p["chunks"]]
    if subject_pairs(statement) != subjects:
        raise BundleFormatError("subjects do not match predicate.chunks", field="subject")
    c = PARSE
    return SampledReceiptStatement(
        **{
            name: p[name]
            for name in SAMPLED_RECEIPT_FIELDS
            if name not in ("canary_seed", "sample_nonce", "chunks", "started_at", "finished_at")
        },
        canary_seed=bytes.fromhex(p["canary_seed"]),
        sample_nonce=bytes.fromhex(p["sample_nonce"]),
        chunks=tuple(
            SampledChunk(
                chunk=e["chunk"],
                inputs=tuple((i["column"], i["sha256"]) for i in e["inputs"]),
                partial_digest=e["partial_digest"],
            )
            for e in p["chunks"]
        ),
        started_at=c.time(p["started_at"], "started_at"),
        finished_at=c.time(p["finished_at"], "finished_at"),
    )


__all__ = [
    "MAX_SAMPLED_CHUNKS",
    "PARTIAL_SUBJECT_PREFIX",
    "SAMPLED_RECEIPT_FIELDS",
    "SAMPLED_RECEIPT_PREDICATE",
    "SampledChunk",
    "SampledReceiptStatement",
    "build_sampled_receipt_statement",
    "parse_sampled_receipt",
    "partial_subject_name",
]
