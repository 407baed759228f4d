"""The audit bundle: the one file the client hands to the regulator.

JSON object (bytes fields as standard base64)::

    {"format": "regaudit.bundle.v1", "audit_id", "primitive", "plan": {...},
     "public_inputs": {...}, "submission": <DSSE envelope, client-signed>,
     "receipt": <DSSE envelope, evaluator-signed>, "sealed_key": {...},
     "outputs": [<b64>, ...], "canary_seed": <b64>, "canary_output": <b64>,
     "client_key": <client.pub.json>, "evaluator_key": <evaluator.pub.json>}

Parsing is strict and structural only (every field present, nothing extra, right types,
valid base64, well-formed envelopes and key records). Signatures, digests and trust are
checked by the regulator's verifier, not here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
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

BUNDLE_FORMAT = "regaudit.bundle.v1"
#: Checked before anything is parsed.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_OUTPUTS = 4096
MAX_NAME_CHARS = 256

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
        )
        bundle.client_record()
        bundle.evaluator_record()
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
    "AuditBundle",
]
