"""``regaudit-regulator verify-pack DIR``: check an evidence pack the way its reader should
(:func:`verify_evidence_pack`): the regulator's signed manifest, every file against it, the
signed finding against the packed bundle, and the summary against both.

A pack is written by ``verify --evidence-pack`` (:mod:`regaudit.regulator.evidence_pack`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from regaudit.regulator.evidence_pack import (
    CHECKSUMS,
    FINDING,
    MANIFEST,
    PACK_PREDICATE_TYPE,
    SUMMARY,
)
from regaudit.regulator.findings import (
    FINDING_SIGNER_KIND,
    MAX_FINDING_FILE_BYTES,
    open_regulator_statement,
    verify_finding,
)
from regaudit.shared.bundle import MAX_BUNDLE_BYTES
from regaudit.shared.errors import (
    EvidencePackMismatchError,
    FindingUntrustedSignerError,
    InputError,
    MalformedEvidencePackError,
    UntrustedIssuerError,
)
from regaudit.shared.evidence.canonical import parse_rfc3339, sha256_digest
from regaudit.shared.evidence.truststore import TrustStore

#: Largest manifest ``verify-pack`` reads.
MAX_MANIFEST_BYTES = 1024 * 1024
#: Most files a pack may hold (it holds ten).
MAX_PACK_FILES = 64
#: Largest single file of a pack (the bundle is the largest).
MAX_PACK_FILE_BYTES = MAX_BUNDLE_BYTES
#: Hashing block size.
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class VerifiedPack:
    """A pack that checked out."""

    directory: Path
    audit_id: str
    primitive: str
    signer_key_id: str
    files: int
    gate: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "directory": str(self.directory),
            "audit_id": self.audit_id,
            "primitive": self.primitive,
            "signer_key_id": self.signer_key_id,
            "files": self.files,
            "gate": self.gate,
        }

    def line(self) -> str:
        return (
            f"Verified OK: evidence pack of {self.primitive} audit {self.audit_id} "
            f"({self.files} files signed by regulator key {self.signer_key_id[:16]}...; "
            f"gate {self.gate})"
        )


def verify_evidence_pack(directory: Path, *, trust: TrustStore) -> VerifiedPack:
    """Verify an evidence pack.

    Raises InputError (exit 2) when ``directory`` or its manifest is missing; otherwise
    MalformedEvidencePackError, FindingSignatureInvalidError, FindingUntrustedSignerError,
    RevokedKeyError, EvidencePackMismatchError or a finding error (exit 1).
    """
    # 1. The folder and its manifest exist (bad input otherwise).
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise InputError(f"evidence pack {directory} is not a folder", field="pack")
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise InputError(f"evidence pack {directory} has no {MANIFEST}", field="pack")
    data = _read(manifest_path, MAX_MANIFEST_BYTES)
    # 2.-5. A DSSE envelope signed by a trusted regulator key, carrying an in-toto Statement of
    # the manifest predicate type (open_regulator_statement).
    statement, key_id = open_regulator_statement(
        data,
        trust=trust,
        predicate_type=PACK_PREDICATE_TYPE,
        limit=MAX_MANIFEST_BYTES,
        what="manifest",
        malformed=MalformedEvidencePackError,
    )
    # 6. The predicate names the signer, and the key was not revoked when it signed.
    predicate = _predicate(statement)
    if predicate["regulator"]["signing_key_id"] != key_id:
        raise FindingUntrustedSignerError(
            "the manifest names another signing key than the one that signed it", field="keyid"
        )
    try:
        signed_at = parse_rfc3339(predicate["signed_at"], field="signed_at", error=InputError)
    except InputError as exc:
        raise MalformedEvidencePackError(exc.message, field="signed_at") from exc
    _require_regulator(trust, key_id, signed_at)
    # 7. The folder holds exactly the signed files (no symbolic links), each with its digest.
    subjects = _subjects(statement)
    present = _files(directory)
    unlisted = sorted(present - set(subjects) - {MANIFEST})
    missing = sorted(set(subjects) - present)
    if unlisted or missing:
        raise EvidencePackMismatchError(
            f"the folder does not hold the signed files: missing {missing or 'none'}, not "
            f"signed {unlisted or 'none'}",
            field="pack",
        )
    # (SHA256SUMS last: a changed file is named, not the checksum list recomputed over it)
    for name in sorted(subjects, key=lambda item: item == CHECKSUMS):
        digest = subjects[name]
        actual = _digest(directory / name)
        if actual != digest:
            raise EvidencePackMismatchError(
                f"{name} is not the file the regulator signed (sha256:{actual[:16]}..., signed "
                f"sha256:{digest[:16]}...)",
                field=name,
            )
    # 8. The finding verifies against the packed bundle, and is the one the manifest names,
    #    signed by the same regulator.
    bundles = [name for name in subjects if name.startswith("bundle/")]
    if len(bundles) != 1:
        raise MalformedEvidencePackError("a pack holds exactly one bundle", field="bundle")
    bundle_bytes = _read(directory / bundles[0], MAX_PACK_FILE_BYTES)
    finding_bytes = _read(directory / FINDING, MAX_FINDING_FILE_BYTES)
    finding = verify_finding(finding_bytes, trust=trust, bundle_bytes=bundle_bytes)
    if finding.signer_key_id != key_id:
        raise FindingUntrustedSignerError(
            "the finding and the manifest are signed by different regulator keys", field="keyid"
        )
    if sha256_digest(finding_bytes) != predicate["finding_sha256"]:
        raise MalformedEvidencePackError("the manifest names another finding", field=FINDING)
    if sha256_digest(bundle_bytes) != predicate["bundle_sha256"]:
        raise MalformedEvidencePackError("the manifest names another bundle", field="bundle")
    # 9. The summary is about this audit, this bundle and this finding.
    summary = _summary(directory / SUMMARY)
    expected = {
        "audit_id": predicate["audit_id"],
        "primitive": predicate["primitive"],
        "bundle.sha256": predicate["bundle_sha256"],
        "finding.sha256": predicate["finding_sha256"],
    }
    found = {
        "audit_id": summary.get("audit_id"),
        "primitive": summary.get("primitive"),
        "bundle.sha256": summary.get("bundle", {}).get("sha256"),
        "finding.sha256": summary.get("finding", {}).get("sha256"),
    }
    for name, value in expected.items():
        if found[name] != value:
            raise MalformedEvidencePackError(
                f"summary.json's {name} disagrees with the signed manifest", field=name
            )
    return VerifiedPack(
        directory=directory,
        audit_id=str(predicate["audit_id"]),
        primitive=str(predicate["primitive"]),
        signer_key_id=key_id,
        files=len(subjects) + 1,
        gate=str(summary["outcome"]["gate"]),
    )


def _predicate(statement: dict[str, Any]) -> dict[str, Any]:
    predicate = statement.get("predicate")
    fields = ("audit_id", "primitive", "bundle_sha256", "finding_sha256", "regulator", "signed_at")
    if (
        not isinstance(predicate, dict)
        or any(name not in predicate for name in fields)
        or not isinstance(predicate["regulator"], dict)
        or not isinstance(predicate["regulator"].get("signing_key_id"), str)
        or not all(isinstance(predicate[name], str) for name in fields if name != "regulator")
    ):
        raise MalformedEvidencePackError(
            f"the manifest's predicate needs {', '.join(fields)}", field="predicate"
        )
    return predicate


def _subjects(statement: dict[str, Any]) -> dict[str, str]:
    """Relative path -> ``sha256:<hex>`` of every signed file; no path may leave the folder."""
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not 0 < len(subjects) <= MAX_PACK_FILES:
        raise MalformedEvidencePackError(
            f"the manifest lists 1..{MAX_PACK_FILES} files", field="subject"
        )
    found: dict[str, str] = {}
    for subject in subjects:
        name = subject.get("name") if isinstance(subject, dict) else None
        digest = subject.get("digest", {}).get("sha256") if isinstance(subject, dict) else None
        path = PurePosixPath(name) if isinstance(name, str) else None
        if (
            path is None
            or path.is_absolute()
            or ".." in path.parts
            or str(path) != name
            or name == MANIFEST
            or name in found
            or not isinstance(digest, str)
        ):
            raise MalformedEvidencePackError(
                f"the manifest lists a file it cannot: {str(name)[:80]!r}", field="subject"
            )
        found[name] = "sha256:" + digest
    return found


def _files(directory: Path) -> set[str]:
    names: set[str] = set()
    for path in directory.rglob("*"):
        name = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise EvidencePackMismatchError(f"{name} is a symbolic link", field=name)
        if path.is_file():
            names.add(name)
        if len(names) > MAX_PACK_FILES:
            raise EvidencePackMismatchError(
                f"the pack holds more than {MAX_PACK_FILES} files", field="pack"
            )
    return names


def _require_regulator(trust: TrustStore, key_id: str, at: datetime) -> None:
    try:
        trust.require_key(key_id, kind=FINDING_SIGNER_KIND, at=at)
    except UntrustedIssuerError as exc:  # pragma: no cover - step 3 found it
        raise FindingUntrustedSignerError(exc.message, field="keyid") from exc


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _read(path: Path, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise EvidencePackMismatchError(f"{path.name} is over {limit} bytes", field=path.name)
        return path.read_bytes()
    except OSError as exc:
        raise EvidencePackMismatchError(f"cannot read {path.name}: {exc}", field=path.name) from exc


def _summary(path: Path) -> dict[str, Any]:
    from regaudit.shared import schemas

    try:
        summary = json.loads(_read(path, MAX_MANIFEST_BYTES))
        schemas.validate("evidence-pack-summary", summary)
    except (ValueError, InputError) as exc:
        raise MalformedEvidencePackError(f"summary.json: {exc}", field=SUMMARY) from exc
    if not isinstance(summary, dict):  # pragma: no cover - the schema requires an object
        raise MalformedEvidencePackError("summary.json is not an object", field=SUMMARY)
    return summary


__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_PACK_FILES",
    "MAX_PACK_FILE_BYTES",
    "VerifiedPack",
    "verify_evidence_pack",
]
