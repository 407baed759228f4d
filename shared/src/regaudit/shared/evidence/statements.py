"""in-toto Statement v1 payloads for regaudit's two signed statements.

* Evaluation receipt (signed by the evaluator, predicate :data:`RECEIPT_PREDICATE`): binds the
  audit id, client key and regulator key of the client-signed job header (and that header's
  digest), what the evaluator deleted when the job ended, the circuit id and version, the
  parameter profile and its hash, the evaluation-key digest, the digest of the manifest of
  every input ciphertext chunk received, the public inputs, the canary seed, the digests of
  the output ciphertexts (also the statement's subjects), planned and observed depth,
  operation counts and the evaluation times.
* Audit submission (signed by the client, predicate :data:`SUBMISSION_PREDICATE`): its only
  subject is the receipt envelope (SHA-256 of its RFC 8785 canonical JSON); the predicate binds
  the hiding input commitments, the sealed-key digest, the regulator key, the data description
  (row count, column names) and repeats the receipt's key facts.

Statements are serialized with RFC 8785 canonical JSON before signing, and the parsers accept
only canonical payloads, so a signed payload has exactly one meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import (
    DIGEST_PREFIX,
    canonical_json,
    format_rfc3339,
    is_hex64,
    parse_digest,
    parse_rfc3339,
    sha256_digest,
    strict_json_loads,
)

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
RECEIPT_PREDICATE = "https://regaudit.dev/attestations/evaluation-receipt/v2"
SUBMISSION_PREDICATE = "https://regaudit.dev/attestations/audit-submission/v1"
STATEMENT_FIELDS = ("_type", "subject", "predicateType", "predicate")
RECEIPT_SUBJECT_NAME = "receipt"

#: Largest statement payload accepted by the parsers.
MAX_STATEMENT_BYTES = 8 * 1024 * 1024
MAX_OUTPUTS = 4096
MAX_COLUMNS = 1024
MAX_NAME_CHARS = 256
MAX_CANARY_SEED_BYTES = 64

RECEIPT_FIELDS = (
    "job_id",
    "circuit_id",
    "circuit_version",
    "profile_name",
    "profile_hash",
    "evaluation_keys_digest",
    "inputs_manifest_digest",
    "input_count",
    "rows",
    "public_inputs",
    "canary_seed",
    "outputs",
    "depth_planned",
    "depth_observed",
    "operation_counts",
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

#: Values ``predicate.retention`` may take per item: the evaluator deleted the item when the job
#: ended, or keeps it only until the other jobs that use the same evaluation keys end.
RETENTION_VALUES = ("deleted", "retained_until_jobs_end")
#: Items ``predicate.retention`` reports on.
RETENTION_ITEMS = ("input_ciphertexts", "evaluation_keys")

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

_HEX = re.compile(r"(?:[0-9a-f]{2})+")


# --- typed results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptStatement:
    """A parsed evaluation receipt (the predicate, plus the statement's subjects)."""

    job_id: str
    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    evaluation_keys_digest: str
    inputs_manifest_digest: str
    input_count: int
    rows: int
    public_inputs: dict[str, Any]
    canary_seed: bytes
    outputs: tuple[tuple[str, str], ...]  # (name, "sha256:<hex>") in output order
    depth_planned: int
    depth_observed: int
    operation_counts: dict[str, Any]
    started_at: datetime
    finished_at: datetime
    evaluator_key_id: str
    software: dict[str, str]
    #: the parties and audit the client bound the job to (its signed job header)
    audit_id: str
    client_key_id: str
    regulator_key_id: str
    #: digest of the client-signed job header (``JobHeader.digest``)
    job_header_digest: str
    #: what the evaluator deleted when the job ended (RETENTION_ITEMS -> RETENTION_VALUES)
    retention: dict[str, str]


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


# --- field checks (shared by builders and parsers) --------------------------------------------


class _Checker:
    """Field validators raising ``error`` with the field name (InputError while building,
    BundleFormatError while parsing)."""

    def __init__(self, error: type[InputError] | type[BundleFormatError]) -> None:
        self.error = error

    def name(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
            raise self.error(
                f"must be a non-empty string of at most {MAX_NAME_CHARS} characters", field=field
            )
        if any(ord(ch) < 0x20 for ch in value):
            raise self.error("must not contain control characters", field=field)
        return value

    def count(self, value: object, field: str, *, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(f"must be an integer >= {minimum}", field=field)
        return value

    def digest(self, value: object, field: str) -> str:
        parse_digest(value, field=field, error=self.error)
        assert isinstance(value, str)
        return value

    def key_id(self, value: object, field: str) -> str:
        if not is_hex64(value):
            raise self.error("must be 64 lowercase hex characters (a key id)", field=field)
        assert isinstance(value, str)
        return value

    def json_object(self, value: object, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error("must be a JSON object", field=field)
        if self.error is InputError:
            canonical_json(value)  # raises InputError on NaN, huge integers, non-string keys
        return value

    def time(self, value: object, field: str) -> datetime:
        if isinstance(value, datetime):
            format_rfc3339(value)  # rejects naive datetimes
            return value
        return parse_rfc3339(value, field=field, error=self.error)

    def hex_bytes(self, value: object, field: str, *, max_bytes: int) -> bytes:
        if not isinstance(value, str) or _HEX.fullmatch(value) is None:
            raise self.error("must be lowercase hex of whole bytes", field=field)
        data = bytes.fromhex(value)
        if len(data) > max_bytes:
            raise self.error(f"must be at most {max_bytes} bytes", field=field)
        return data

    def op_counts(self, value: object, field: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error("must be a JSON object", field=field)
        for key, item in value.items():
            self.name(key, f"{field}.{key}")
            if isinstance(item, list):
                for step in item:
                    if not isinstance(step, int) or isinstance(step, bool):
                        raise self.error(
                            "must be an integer or a list of integers", field=f"{field}.{key}"
                        )
            else:
                self.count(item, f"{field}.{key}")
        return dict(value)

    def str_map(self, value: object, field: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise self.error("must be a JSON object of strings", field=field)
        for key, item in value.items():
            self.name(key, f"{field}.{key}")
            if not isinstance(item, str) or len(item) > MAX_NAME_CHARS:
                raise self.error("must be a string", field=f"{field}.{key}")
        return dict(value)


def _retention(c: _Checker, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != set(RETENTION_ITEMS):
        raise c.error(f"must report exactly {list(RETENTION_ITEMS)}", field="retention")
    for item in RETENTION_ITEMS:
        if value[item] not in RETENTION_VALUES:
            raise c.error(f"must be one of {list(RETENTION_VALUES)}", field=f"retention.{item}")
    return {item: str(value[item]) for item in RETENTION_ITEMS}


_BUILD = _Checker(InputError)
_PARSE = _Checker(BundleFormatError)


def _subject(name: str, digest: str) -> dict[str, Any]:
    return {"name": name, "digest": {"sha256": parse_digest(digest, field=name)}}


def _statement(
    subjects: list[dict[str, Any]], predicate_type: str, predicate: dict[str, Any]
) -> dict[str, Any]:
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    canonical_json(statement)  # fail early (InputError) on anything not canonicalizable
    return statement


# --- builders ---------------------------------------------------------------------------------


def input_manifest_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """Digest of the input ciphertext manifest: canonical JSON list of
    ``{"column", "chunk", "sha256"}`` (sha256 = the chunk's ``"sha256:<hex>"`` digest) in upload
    order."""
    manifest = []
    for column, chunk, digest in entries:
        _BUILD.name(column, "column")
        _BUILD.count(chunk, "chunk")
        _BUILD.digest(digest, "sha256")
        manifest.append({"column": column, "chunk": chunk, "sha256": digest})
    return sha256_digest(canonical_json(manifest))


def receipt_digest(envelope: Mapping[str, Any]) -> str:
    """Digest of a receipt DSSE envelope: SHA-256 of its RFC 8785 canonical JSON."""
    return sha256_digest(canonical_json(dict(envelope)))


def build_receipt_statement(
    *,
    job_id: str,
    circuit_id: str,
    circuit_version: str,
    profile_name: str,
    profile_hash: str,
    evaluation_keys_digest: str,
    inputs_manifest_digest: str,
    input_count: int,
    rows: int,
    public_inputs: Mapping[str, Any],
    canary_seed_hex: str,
    outputs: Sequence[tuple[str, bytes]],
    depth_planned: int,
    depth_observed: int,
    operation_counts: Mapping[str, Any],
    started_at: datetime,
    finished_at: datetime,
    evaluator_key_id: str,
    software: Mapping[str, str],
    audit_id: str,
    client_key_id: str,
    regulator_key_id: str,
    job_header_digest: str,
    retention: Mapping[str, str],
) -> dict[str, Any]:
    """The evaluator's receipt statement. ``outputs`` are (name, ciphertext bytes); their
    digests become the statement's subjects and ``predicate.outputs``. InputError names any
    bad argument."""
    c = _BUILD
    if not outputs or len(outputs) > MAX_OUTPUTS:
        raise InputError(f"must hold 1..{MAX_OUTPUTS} outputs", field="outputs")
    output_entries = []
    for index, item in enumerate(outputs):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InputError("must be (name, bytes) pairs", field=f"outputs[{index}]")
        name, ciphertext = item
        c.name(name, f"outputs[{index}].name")
        if not isinstance(ciphertext, bytes | bytearray):
            raise InputError("ciphertext must be bytes", field=f"outputs[{index}]")
        output_entries.append({"name": name, "digest": sha256_digest(bytes(ciphertext))})
    if len({entry["name"] for entry in output_entries}) != len(output_entries):
        raise InputError("output names must be unique", field="outputs")
    c.hex_bytes(canary_seed_hex, "canary_seed_hex", max_bytes=MAX_CANARY_SEED_BYTES)
    start = c.time(started_at, "started_at")
    finish = c.time(finished_at, "finished_at")
    if finish < start:
        raise InputError("finished_at is before started_at", field="finished_at")
    predicate = {
        "job_id": c.name(job_id, "job_id"),
        "circuit_id": c.name(circuit_id, "circuit_id"),
        "circuit_version": c.name(circuit_version, "circuit_version"),
        "profile_name": c.name(profile_name, "profile_name"),
        "profile_hash": c.digest(profile_hash, "profile_hash"),
        "evaluation_keys_digest": c.digest(evaluation_keys_digest, "evaluation_keys_digest"),
        "inputs_manifest_digest": c.digest(inputs_manifest_digest, "inputs_manifest_digest"),
        "input_count": c.count(input_count, "input_count"),
        "rows": c.count(rows, "rows"),
        "public_inputs": c.json_object(dict(public_inputs), "public_inputs"),
        "canary_seed": canary_seed_hex,
        "outputs": output_entries,
        "depth_planned": c.count(depth_planned, "depth_planned"),
        "depth_observed": c.count(depth_observed, "depth_observed"),
        "operation_counts": c.op_counts(operation_counts, "operation_counts"),
        "started_at": format_rfc3339(start),
        "finished_at": format_rfc3339(finish),
        "evaluator_key_id": c.key_id(evaluator_key_id, "evaluator_key_id"),
        "software": c.str_map(software, "software"),
        "audit_id": c.name(audit_id, "audit_id"),
        "client_key_id": c.key_id(client_key_id, "client_key_id"),
        "regulator_key_id": c.key_id(regulator_key_id, "regulator_key_id"),
        "job_header_digest": c.digest(job_header_digest, "job_header_digest"),
        "retention": _retention(c, retention),
    }
    subjects = [_subject(entry["name"], entry["digest"]) for entry in output_entries]
    return _statement(subjects, RECEIPT_PREDICATE, predicate)


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
    c = _BUILD
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
    return _statement(
        [_subject(RECEIPT_SUBJECT_NAME, digest_of_receipt)], SUBMISSION_PREDICATE, predicate
    )


def _check_columns(columns: object, c: _Checker) -> list[str]:
    if not isinstance(columns, list | tuple) or not 0 < len(columns) <= MAX_COLUMNS:
        raise c.error(f"must be a list of 1..{MAX_COLUMNS} column names", field="columns")
    names = [c.name(name, f"columns[{i}]") for i, name in enumerate(columns)]
    if len(set(names)) != len(names):
        raise c.error("column names must be unique", field="columns")
    return names


def _check_commitments(value: object, columns: list[str], c: _Checker) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise c.error("must be a JSON object", field="input_commitments")
    if set(value) != set(columns):
        raise c.error("must hold exactly one commitment per column", field="input_commitments")
    return {name: c.digest(value[name], f"input_commitments.{name}") for name in columns}


# --- parsers ----------------------------------------------------------------------------------


def parse_statement(payload: bytes, *, predicate_type: str) -> dict[str, Any]:
    """Parse and structure-check an in-toto Statement v1 payload of ``predicate_type``.

    Steps: 1. size cap; 2. strict JSON (no duplicate keys, no NaN); 3. the bytes are exactly
    the RFC 8785 canonical form; 4. exact statement fields, ``_type`` and ``predicateType``;
    5. subjects well formed. Raises BundleFormatError naming the field.
    """
    # 1. size
    if not isinstance(payload, bytes | bytearray):
        raise BundleFormatError("statement payload must be bytes", field="payload")
    if len(payload) > MAX_STATEMENT_BYTES:
        raise BundleFormatError(
            f"statement is {len(payload)} bytes, more than {MAX_STATEMENT_BYTES}", field="payload"
        )
    # 2. strict JSON
    statement = strict_json_loads(bytes(payload), what="statement")
    if not isinstance(statement, dict):
        raise BundleFormatError("statement must be a JSON object", field="statement")
    # 3. canonical form only
    try:
        canonical = canonical_json(statement)
    except InputError as exc:
        raise BundleFormatError(exc.message, field="statement") from exc
    if canonical != bytes(payload):
        raise BundleFormatError("statement is not in RFC 8785 canonical form", field="statement")
    # 4. fields
    _exact_fields(statement, STATEMENT_FIELDS, prefix="")
    if statement["_type"] != STATEMENT_TYPE:
        raise BundleFormatError(f"must be {STATEMENT_TYPE!r}", field="_type")
    if statement["predicateType"] != predicate_type:
        raise BundleFormatError(
            f"is {statement['predicateType']!r:.100}, expected {predicate_type!r}",
            field="predicateType",
        )
    if not isinstance(statement["predicate"], dict):
        raise BundleFormatError("must be a JSON object", field="predicate")
    # 5. subjects
    subjects = statement["subject"]
    if not isinstance(subjects, list) or not subjects:
        raise BundleFormatError("must be a non-empty list", field="subject")
    for index, subject in enumerate(subjects):
        field = f"subject[{index}]"
        if not isinstance(subject, dict) or set(subject) != {"name", "digest"}:
            raise BundleFormatError("must be an object with 'name' and 'digest'", field=field)
        _PARSE.name(subject["name"], f"{field}.name")
        digest = subject["digest"]
        if (
            not isinstance(digest, dict)
            or set(digest) != {"sha256"}
            or not is_hex64(digest["sha256"])
        ):
            raise BundleFormatError("digest must be {'sha256': <64 hex>}", field=f"{field}.digest")
    return statement


def _exact_fields(obj: Mapping[str, Any], fields: Sequence[str], *, prefix: str) -> None:
    missing = [name for name in fields if name not in obj]
    if missing:
        raise BundleFormatError("missing field", field=prefix + missing[0])
    extra = sorted(set(obj) - set(fields))
    if extra:
        raise BundleFormatError("unexpected field", field=prefix + str(extra[0]))


def _subject_pairs(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], DIGEST_PREFIX + s["digest"]["sha256"]) for s in statement["subject"]]


def parse_receipt(payload: bytes) -> ReceiptStatement:
    """Parse a receipt statement payload (already signature-verified) strictly."""
    statement = parse_statement(payload, predicate_type=RECEIPT_PREDICATE)
    p = statement["predicate"]
    _exact_fields(p, RECEIPT_FIELDS, prefix="predicate.")
    c = _PARSE
    raw_outputs = p["outputs"]
    if not isinstance(raw_outputs, list) or not 0 < len(raw_outputs) <= MAX_OUTPUTS:
        raise BundleFormatError(f"must be a list of 1..{MAX_OUTPUTS} outputs", field="outputs")
    outputs: list[tuple[str, str]] = []
    for index, entry in enumerate(raw_outputs):
        field = f"outputs[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "digest"}:
            raise BundleFormatError("must be an object with 'name' and 'digest'", field=field)
        outputs.append(
            (c.name(entry["name"], f"{field}.name"), c.digest(entry["digest"], f"{field}.digest"))
        )
    if len({name for name, _ in outputs}) != len(outputs):
        raise BundleFormatError("output names must be unique", field="outputs")
    if _subject_pairs(statement) != outputs:
        raise BundleFormatError("subjects do not match predicate.outputs", field="subject")
    started_at = c.time(p["started_at"], "started_at")
    finished_at = c.time(p["finished_at"], "finished_at")
    if finished_at < started_at:
        raise BundleFormatError("finished_at is before started_at", field="finished_at")
    return ReceiptStatement(
        job_id=c.name(p["job_id"], "job_id"),
        circuit_id=c.name(p["circuit_id"], "circuit_id"),
        circuit_version=c.name(p["circuit_version"], "circuit_version"),
        profile_name=c.name(p["profile_name"], "profile_name"),
        profile_hash=c.digest(p["profile_hash"], "profile_hash"),
        evaluation_keys_digest=c.digest(p["evaluation_keys_digest"], "evaluation_keys_digest"),
        inputs_manifest_digest=c.digest(p["inputs_manifest_digest"], "inputs_manifest_digest"),
        input_count=c.count(p["input_count"], "input_count"),
        rows=c.count(p["rows"], "rows"),
        public_inputs=c.json_object(p["public_inputs"], "public_inputs"),
        canary_seed=c.hex_bytes(p["canary_seed"], "canary_seed", max_bytes=MAX_CANARY_SEED_BYTES),
        outputs=tuple(outputs),
        depth_planned=c.count(p["depth_planned"], "depth_planned"),
        depth_observed=c.count(p["depth_observed"], "depth_observed"),
        operation_counts=c.op_counts(p["operation_counts"], "operation_counts"),
        started_at=started_at,
        finished_at=finished_at,
        evaluator_key_id=c.key_id(p["evaluator_key_id"], "evaluator_key_id"),
        software=c.str_map(p["software"], "software"),
        audit_id=c.name(p["audit_id"], "audit_id"),
        client_key_id=c.key_id(p["client_key_id"], "client_key_id"),
        regulator_key_id=c.key_id(p["regulator_key_id"], "regulator_key_id"),
        job_header_digest=c.digest(p["job_header_digest"], "job_header_digest"),
        retention=_retention(c, p["retention"]),
    )


def parse_submission(payload: bytes) -> SubmissionStatement:
    """Parse a submission statement payload (already signature-verified) strictly."""
    statement = parse_statement(payload, predicate_type=SUBMISSION_PREDICATE)
    p = statement["predicate"]
    _exact_fields(p, SUBMISSION_FIELDS, prefix="predicate.")
    c = _PARSE
    digest_of_receipt = c.digest(p["receipt_digest"], "receipt_digest")
    if _subject_pairs(statement) != [(RECEIPT_SUBJECT_NAME, digest_of_receipt)]:
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
    "MAX_STATEMENT_BYTES",
    "RECEIPT_PREDICATE",
    "STATEMENT_TYPE",
    "SUBMISSION_PREDICATE",
    "ReceiptStatement",
    "SubmissionStatement",
    "build_receipt_statement",
    "build_submission_statement",
    "input_manifest_digest",
    "parse_receipt",
    "parse_statement",
    "parse_submission",
    "receipt_digest",
]
