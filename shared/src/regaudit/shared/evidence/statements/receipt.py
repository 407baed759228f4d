"""The evaluation receipt (signed by the evaluator, predicate :data:`RECEIPT_PREDICATE`).

It binds the audit id, client key and regulator key of the client-signed job header (and that
header's digest), what the evaluator deleted when the job ended, the circuit id and version,
the parameter profile and its hash, the evaluation-key digest, the digest of the manifest of
every input ciphertext chunk received, the public inputs, the canary seed, the digests of the
output ciphertexts (also the statement's subjects) and of their canonical content
(``output_contents``: compression-independent, what witnesses compare), the Merkle root and
count of the per-chunk partial digests (``partials_root``, ``partials_count``: what a sampled
witness checks; count 0 with the empty-list root
:data:`~regaudit.shared.evidence.witness_sampling.EMPTY_PARTIALS_ROOT` when the job header did not
ask for them, ``commit_partials``), planned and observed depth, operation counts, the software
(regaudit and CKKS library versions) and the evaluation times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json, format_rfc3339, sha256_digest
from regaudit.shared.evidence.statements.checks import BUILD, PARSE, FieldChecker, exact_fields
from regaudit.shared.evidence.statements.intoto import (
    make_statement,
    make_subject,
    parse_statement,
    subject_pairs,
)
from regaudit.shared.evidence.witness_sampling import EMPTY_PARTIALS_ROOT

RECEIPT_PREDICATE = "https://regaudit.dev/attestations/evaluation-receipt/v3"
MAX_OUTPUTS = 4096
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
    "output_contents",
    "partials_root",
    "partials_count",
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
    #: (name, canonical content digest) in output order, the same names as ``outputs``
    output_contents: tuple[tuple[str, str], ...]
    #: Merkle root of the per-chunk partial digests and their count (the job's chunks), or
    #: EMPTY_PARTIALS_ROOT and 0 when the job header did not ask for them
    partials_root: str
    partials_count: int
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


def _retention(c: FieldChecker, value: object) -> dict[str, str]:
    """``predicate.retention``: exactly RETENTION_ITEMS, each one of RETENTION_VALUES."""
    if not isinstance(value, Mapping) or set(value) != set(RETENTION_ITEMS):
        raise c.error(f"must report exactly {list(RETENTION_ITEMS)}", field="retention")
    for item in RETENTION_ITEMS:
        if value[item] not in RETENTION_VALUES:
            raise c.error(f"must be one of {list(RETENTION_VALUES)}", field=f"retention.{item}")
    return {item: str(value[item]) for item in RETENTION_ITEMS}


def _partials(c: FieldChecker, root: object, count: object) -> tuple[str, int]:
    """``partials_root`` and ``partials_count``: a count of 0 goes with the empty-list root
    (no partials committed), any other count with another root."""
    digest = c.digest(root, "partials_root")
    number = c.count(count, "partials_count")
    if (number == 0) != (digest == EMPTY_PARTIALS_ROOT):
        raise c.error(
            "must be the empty-list root exactly when partials_count is 0", field="partials_root"
        )
    return digest, number


def _contents(
    c: FieldChecker, contents: Sequence[object], names: Sequence[str]
) -> list[dict[str, str]]:
    """``output_contents``: one (name, content digest) per output, the same names in the
    same order as ``outputs``."""
    if not isinstance(contents, Sequence) or len(contents) != len(names):
        raise c.error(f"must hold one entry per output ({len(names)})", field="output_contents")
    entries = []
    for index, (item, name) in enumerate(zip(contents, names, strict=True)):
        field = f"output_contents[{index}]"
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise c.error("must be a name and a content digest", field=field)
        if item[0] != name:
            raise c.error(f"must name output {name!r}", field=f"{field}.name")
        entries.append({"name": name, "digest": c.digest(item[1], f"{field}.digest")})
    return entries


def input_manifest_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """Digest of the input ciphertext manifest: canonical JSON list of
    ``{"column", "chunk", "sha256"}`` (sha256 = the chunk's ``"sha256:<hex>"`` digest) in upload
    order."""
    manifest = []
    for column, chunk, digest in entries:
        BUILD.name(column, "column")
        BUILD.count(chunk, "chunk")
        BUILD.digest(digest, "sha256")
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
    output_contents: Sequence[tuple[str, str]],
    partials_root: str,
    partials_count: int,
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
    digests become the statement's subjects and ``predicate.outputs``. ``output_contents``
    are (name, canonical content digest) with the same names in the same order. InputError
    names any bad argument."""
    c = BUILD
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
    content_entries = _contents(c, output_contents, [e["name"] for e in output_entries])
    c.hex_bytes(canary_seed_hex, "canary_seed_hex", max_bytes=MAX_CANARY_SEED_BYTES)
    root, count = _partials(c, partials_root, partials_count)
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
        "output_contents": content_entries,
        "partials_root": root,
        "partials_count": count,
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
    subjects = [make_subject(entry["name"], entry["digest"]) for entry in output_entries]
    return make_statement(subjects, RECEIPT_PREDICATE, predicate)


def parse_receipt(payload: bytes) -> ReceiptStatement:
    """Parse a receipt statement payload (already signature-verified) strictly."""
    statement = parse_statement(payload, predicate_type=RECEIPT_PREDICATE)
    p = statement["predicate"]
    exact_fields(p, RECEIPT_FIELDS, prefix="predicate.")
    c = PARSE
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
    if subject_pairs(statement) != outputs:
        raise BundleFormatError("subjects do not match predicate.outputs", field="subject")
    raw_contents = p["output_contents"]
    if not isinstance(raw_contents, list):
        raise BundleFormatError("must be a list", field="output_contents")
    pairs: list[object] = []
    for index, entry in enumerate(raw_contents):
        if not isinstance(entry, dict) or set(entry) != {"name", "digest"}:
            raise BundleFormatError(
                "must be an object with 'name' and 'digest'", field=f"output_contents[{index}]"
            )
        pairs.append((entry["name"], entry["digest"]))
    contents = tuple(
        (entry["name"], entry["digest"])
        for entry in _contents(c, pairs, [name for name, _ in outputs])
    )
    root, count = _partials(c, p["partials_root"], p["partials_count"])
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
        output_contents=contents,
        partials_root=root,
        partials_count=count,
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


__all__ = [
    "MAX_CANARY_SEED_BYTES",
    "MAX_OUTPUTS",
    "RECEIPT_FIELDS",
    "RECEIPT_PREDICATE",
    "RETENTION_ITEMS",
    "RETENTION_VALUES",
    "ReceiptStatement",
    "build_receipt_statement",
    "input_manifest_digest",
    "parse_receipt",
    "receipt_digest",
]
