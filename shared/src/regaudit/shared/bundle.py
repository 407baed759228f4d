"""The audit bundle: the one file the client hands to the regulator.

JSON object (bytes fields as standard base64)::

    {"format": "regaudit.bundle.v2", "audit_id", "primitive", "plan": {...},
     "public_inputs": {...}, "submission": <DSSE envelope, client-signed>,
     "receipt": <DSSE envelope, evaluator-signed>, "sealed_key": {...},
     "outputs": [<b64>, ...], "canary_seed": <b64>, "canary_output": <b64>,
     "client_key": <client.pub.json>, "evaluator_key": <evaluator.pub.json>,
     "witnesses": [{"receipt": <DSSE envelope, witness-signed>,
                    "evaluator_key": <the witness's evaluator.pub.json>}, ...]}

``witnesses`` (v2) holds the receipt of every witness evaluator that re-executed the job, in
the order the client-signed submission binds them (its ``witnesses`` entries, which also name
the witnesses' addresses and record the missing ones).

Parsing is strict and structural only (every field present, nothing extra, right types,
valid base64, well-formed envelopes and key records). Signatures, digests and trust are
checked by the regulator's verifier, not here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regaudit.shared import schemas
from regaudit.shared.errors import BundleFormatError, IdentityError, InputError, RegauditError
from regaudit.shared.evidence.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    strict_json_loads,
)
from regaudit.shared.evidence.dsse import envelope_payload_unverified
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.files import write_file_atomic

#: v2: the witness receipts (``witnesses``).
BUNDLE_FORMAT = "regaudit.bundle.v2"
#: Checked before anything is parsed.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_OUTPUTS = 4096
MAX_NAME_CHARS = 256
#: Most witness receipts one bundle may carry (as the submission may bind).
MAX_WITNESSES = 16
WITNESS_FIELDS = ("receipt", "evaluator_key")

_FIELDS = (
    "format",
    "audit_id",
    "primitive",
    "plan",
    "public_inputs",
    "submission",
    "receipt",
    "sealed_key",
    "outputs",
    "canary_seed",
    "canary_output",
    "client_key",
    "evaluator_key",
    "witnesses",
    "sampling",
)
_DICT_FIELDS = (
    "plan",
    "public_inputs",
    "submission",
    "receipt",
    "sealed_key",
    "client_key",
    "evaluator_key",
)
_BYTES_FIELDS = ("canary_seed", "canary_output")


@dataclass(frozen=True, kw_only=True)
class WitnessEvidence:
    """One witness evaluator's receipt and the public key it signs with."""

    receipt: dict[str, Any]  # DSSE envelope, signed by the witness evaluator
    evaluator_key: dict[str, Any]  # the witness's evaluator.pub.json

    def evaluator_record(self, *, index: int = 0) -> PublicKeyRecord:
        """The embedded witness key record (validated; BundleFormatError)."""
        return _record(
            self.evaluator_key, kind="evaluator", name=f"witnesses[{index}].evaluator_key"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "evaluator_key": self.evaluator_key}


@dataclass(frozen=True)
class SamplingEvidence:
    """The primary's per-chunk partial digests (chunk order; its receipt commits to their
    Merkle root) and its input manifest ((column, chunk, digest) in upload order; its receipt
    commits to the manifest's digest): what a sampled witness's receipt is checked against."""

    partial_digests: list[str]
    inputs_manifest: list[tuple[str, int, str]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "partial_digests": list(self.partial_digests),
            "inputs_manifest": [list(entry) for entry in self.inputs_manifest],
        }

    @classmethod
    def from_dict(cls, value: object) -> SamplingEvidence | None:
        """``sampling``: null, or exactly a list of digest strings and a list of
        [column, chunk, digest] triples (their values are checked by the regulator)."""
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != {"partial_digests", "inputs_manifest"}:
            raise BundleFormatError(
                "must be null or hold 'partial_digests' and 'inputs_manifest'", field="sampling"
            )
        digests, manifest = value["partial_digests"], value["inputs_manifest"]
        if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
            raise BundleFormatError("must be a list of strings", field="sampling.partial_digests")
        entries: list[tuple[str, int, str]] = []
        for index, entry in enumerate(manifest if isinstance(manifest, list) else [None]):
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not isinstance(entry[0], str)
                or isinstance(entry[1], bool)
                or not isinstance(entry[1], int)
                or not isinstance(entry[2], str)
            ):
                raise BundleFormatError(
                    "must be [column, chunk, digest]", field=f"sampling.inputs_manifest[{index}]"
                )
            entries.append((entry[0], entry[1], entry[2]))
        return cls(partial_digests=list(digests), inputs_manifest=entries)


@dataclass(frozen=True, kw_only=True)
class AuditBundle:
    """Everything the regulator needs to verify one audit and decrypt its aggregates."""

    audit_id: str
    primitive: str
    plan: dict[str, Any]
    public_inputs: dict[str, Any]
    submission: dict[str, Any]  # DSSE envelope, client-signed submission statement
    receipt: dict[str, Any]  # DSSE envelope, evaluator-signed receipt statement
    sealed_key: dict[str, Any]  # HPKE-sealed CKKS secret key (evidence.sealing)
    outputs: list[bytes]  # output ciphertexts, in receipt order
    canary_seed: bytes
    canary_output: bytes  # the canary aggregate ciphertext
    client_key: dict[str, Any]  # client.pub.json
    evaluator_key: dict[str, Any]  # evaluator.pub.json
    #: the witness evaluators' receipts, in the submission's order (v2)
    witnesses: list[WitnessEvidence] = field(default_factory=list)
    #: what sampled witnesses are checked against (v2; None without a sampled witness)
    sampling: SamplingEvidence | None = None
    format: str = BUNDLE_FORMAT

    def client_record(self) -> PublicKeyRecord:
        """The embedded client public key record (validated; BundleFormatError)."""
        return _record(self.client_key, kind="client", name="client_key")

    def evaluator_record(self) -> PublicKeyRecord:
        """The embedded evaluator public key record (validated; BundleFormatError)."""
        return _record(self.evaluator_key, kind="evaluator", name="evaluator_key")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "audit_id": self.audit_id,
            "primitive": self.primitive,
            "plan": self.plan,
            "public_inputs": self.public_inputs,
            "submission": self.submission,
            "receipt": self.receipt,
            "sealed_key": self.sealed_key,
            "outputs": [b64encode(item) for item in self.outputs],
            "canary_seed": b64encode(self.canary_seed),
            "canary_output": b64encode(self.canary_output),
            "client_key": self.client_key,
            "evaluator_key": self.evaluator_key,
            "witnesses": [witness.to_dict() for witness in self.witnesses],
            "sampling": self.sampling.to_dict() if self.sampling is not None else None,
        }

    def to_json(self) -> bytes:
        """RFC 8785 canonical JSON of the bundle (InputError if it holds non-JSON values or
        exceeds :data:`MAX_BUNDLE_BYTES`)."""
        data = canonical_json(self.to_dict())
        if len(data) > MAX_BUNDLE_BYTES:
            raise InputError(
                f"bundle would be {len(data)} bytes, more than {MAX_BUNDLE_BYTES}", field="bundle"
            )
        return data

    @classmethod
    def from_json(cls, data: bytes) -> AuditBundle:
        """Parse a bundle strictly.

        Steps: 1. size cap before parsing; 2. strict JSON object; 3. exactly the expected
        fields and the format tag; 4. every field's type; base64 fields decode; 5. the
        envelopes have DSSE structure and the key records are valid and of the right kind;
        6. the published JSON Schema ``schemas/bundle.json`` (so the two never disagree).
        Raises BundleFormatError naming the field.
        """
        # 1. size
        if not isinstance(data, bytes | bytearray):
            raise BundleFormatError("bundle must be bytes", field="bundle")
        if len(data) > MAX_BUNDLE_BYTES:
            raise BundleFormatError(
                f"bundle is {len(data)} bytes, more than {MAX_BUNDLE_BYTES}", field="bundle"
            )
        # 2. JSON
        doc = strict_json_loads(bytes(data), what="bundle")
        if not isinstance(doc, dict):
            raise BundleFormatError("bundle must be a JSON object", field="bundle")
        # 3. fields
        missing = [name for name in _FIELDS if name not in doc]
        if missing:
            raise BundleFormatError("missing field", field=missing[0])
        extra = sorted(set(doc) - set(_FIELDS))
        if extra:
            raise BundleFormatError("unexpected field", field=str(extra[0]))
        if doc["format"] != BUNDLE_FORMAT:
            raise BundleFormatError(
                f"unsupported format {doc['format']!r:.60}, expected {BUNDLE_FORMAT!r}",
                field="format",
            )
        # 4. types
        for name in ("audit_id", "primitive"):
            value = doc[name]
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
                raise BundleFormatError(
                    f"must be a non-empty string of at most {MAX_NAME_CHARS} characters",
                    field=name,
                )
        for name in _DICT_FIELDS:
            if not isinstance(doc[name], dict):
                raise BundleFormatError("must be a JSON object", field=name)
        raw_outputs = doc["outputs"]
        if not isinstance(raw_outputs, list) or not 0 < len(raw_outputs) <= MAX_OUTPUTS:
            raise BundleFormatError(
                f"must be a list of 1..{MAX_OUTPUTS} base64 strings", field="outputs"
            )
        outputs = [b64decode(item, field=f"outputs[{i}]") for i, item in enumerate(raw_outputs)]
        decoded = {name: b64decode(doc[name], field=name) for name in _BYTES_FIELDS}
        witnesses = _witnesses(doc["witnesses"])
        sampling = SamplingEvidence.from_dict(doc["sampling"])
        # 5. envelopes and key records
        for name in ("submission", "receipt"):
            try:
                envelope_payload_unverified(doc[name])
            except RegauditError as exc:
                raise BundleFormatError(
                    f"{name} is not a DSSE envelope: {exc.message}", field=name
                ) from exc
        bundle = cls(
            audit_id=doc["audit_id"],
            primitive=doc["primitive"],
            plan=doc["plan"],
            public_inputs=doc["public_inputs"],
            submission=doc["submission"],
            receipt=doc["receipt"],
            sealed_key=doc["sealed_key"],
            outputs=outputs,
            canary_seed=decoded["canary_seed"],
            canary_output=decoded["canary_output"],
            client_key=doc["client_key"],
            evaluator_key=doc["evaluator_key"],
            witnesses=witnesses,
            sampling=sampling,
        )
        bundle.client_record()
        bundle.evaluator_record()
        for index, witness in enumerate(witnesses):
            witness.evaluator_record(index=index)
        # 6. the published schema
        try:
            schemas.validate("bundle", doc)
        except InputError as exc:
            raise BundleFormatError(exc.message, field=exc.field) from exc
        return bundle

    def write(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the bundle atomically to ``path``."""
        file_path = Path(path)
        try:
            write_file_atomic(file_path, self.to_json(), mode=0o644, overwrite=overwrite)
        except FileExistsError as exc:
            raise InputError(f"{file_path} already exists", field="out") from exc
        except OSError as exc:
            raise InputError(f"cannot write bundle {file_path}: {exc}", field="out") from exc
        return file_path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> AuditBundle:
        """Read and parse a bundle file (size cap checked before reading).

        A missing or unreadable file is InputError (usage); a bad file is BundleFormatError.
        """
        file_path = Path(path)
        try:
            size = file_path.stat().st_size
            if size > MAX_BUNDLE_BYTES:
                raise BundleFormatError(
                    f"{file_path} is {size} bytes, more than {MAX_BUNDLE_BYTES}", field="bundle"
                )
            data = file_path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read bundle {file_path}: {exc}", field="bundle") from exc
        return cls.from_json(data)


def _witnesses(value: object) -> list[WitnessEvidence]:
    """``witnesses``: at most MAX_WITNESSES objects of a DSSE envelope and a key record."""
    if not isinstance(value, list) or len(value) > MAX_WITNESSES:
        raise BundleFormatError(
            f"must be a list of at most {MAX_WITNESSES} witnesses", field="witnesses"
        )
    witnesses = []
    for index, item in enumerate(value):
        where = f"witnesses[{index}]"
        if not isinstance(item, dict) or set(item) != set(WITNESS_FIELDS):
            raise BundleFormatError(
                f"must be an object with exactly {list(WITNESS_FIELDS)}", field=where
            )
        if not isinstance(item["receipt"], dict) or not isinstance(item["evaluator_key"], dict):
            raise BundleFormatError("must hold two JSON objects", field=where)
        try:
            envelope_payload_unverified(item["receipt"])
        except RegauditError as exc:
            raise BundleFormatError(
                f"receipt is not a DSSE envelope: {exc.message}", field=f"{where}.receipt"
            ) from exc
        witnesses.append(
            WitnessEvidence(receipt=item["receipt"], evaluator_key=item["evaluator_key"])
        )
    return witnesses


def _record(data: Mapping[str, Any], *, kind: str, name: str) -> PublicKeyRecord:
    try:
        record = PublicKeyRecord.from_dict(data, error=BundleFormatError)
    except (BundleFormatError, IdentityError) as exc:
        raise BundleFormatError(f"{name}: {exc}", field=name) from exc
    if record.kind != kind:
        raise BundleFormatError(f"must be a {kind} key, is {record.kind}", field=name)
    return record


__all__ = [
    "BUNDLE_FORMAT",
    "MAX_BUNDLE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_OUTPUTS",
    "MAX_WITNESSES",
    "WITNESS_FIELDS",
    "AuditBundle",
    "SamplingEvidence",
    "WitnessEvidence",
]
