"""``verify --evidence-pack DIR``: everything a filing needs, in one folder.

Layout (names are :data:`PACK_FILES`)::

    DIR/report.html          the self-contained HTML report (names the signed finding)
    DIR/report.json          what ``verify --json`` prints
    DIR/report.txt           what ``verify`` prints
    DIR/finding.intoto.json  the signed finding (in-toto Statement in DSSE; ``verify-report``)
    DIR/bundle/<name>        the audit bundle exactly as verified (the finding's subject)
    DIR/trust-entries.json   the trust-store entries the verification relied on
    DIR/regulator.pub.json   the regulator's report-signing public key
    DIR/summary.json         results -> the regulations they support, and the scope disclaimer
    DIR/SHA256SUMS           ``sha256sum -c`` over the files above
    DIR/pack.intoto.json     the regulator-signed manifest: an in-toto Statement whose subjects
                             are every file above (``verify-pack`` checks it,
                             :mod:`regaudit.regulator.pack_checks`)

SHA256SUMS catches an accident; only the signed manifest binds the report files and the
summary (which the finding does not cover) to the regulator, so that an edited summary or
report is caught even with its checksum line recomputed.

The pack is written into a temporary sibling folder and renamed into place, so a reader never
sees half a pack; an existing non-empty ``DIR`` is replaced only with ``--force``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regaudit.regulator.regulations import SCOPE_DISCLAIMER, regulations_for, supported_by
from regaudit.regulator.result_policy import decisions_of, gate
from regaudit.shared import schemas
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.canonical import format_rfc3339, sha256_digest

if TYPE_CHECKING:
    from regaudit.regulator.findings import SignedFinding
    from regaudit.regulator.verified import VerifiedAudit
    from regaudit.shared.evidence.identity import SigningIdentity
    from regaudit.shared.evidence.truststore import TrustStore

#: ``summary.json``'s schema identifier.
PACK_SCHEMA = "https://regaudit.dev/evidence-pack/v1"
#: The bundled JSON Schema of ``summary.json`` (:mod:`regaudit.shared.schemas`).
SUMMARY_SCHEMA = "evidence-pack-summary"
REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
REPORT_TEXT = "report.txt"
FINDING = "finding.intoto.json"
BUNDLE_DIR = "bundle"
TRUST_ENTRIES = "trust-entries.json"
REGULATOR_KEY = "regulator.pub.json"
SUMMARY = "summary.json"
CHECKSUMS = "SHA256SUMS"
MANIFEST = "pack.intoto.json"
#: predicateType of the signed manifest.
PACK_PREDICATE_TYPE = "https://regaudit.dev/evidence-pack-manifest/v1"
#: Every file of a pack but the bundle (whose name is the original file's).
PACK_FILES = (
    REPORT_HTML,
    REPORT_JSON,
    REPORT_TEXT,
    FINDING,
    TRUST_ENTRIES,
    REGULATOR_KEY,
    SUMMARY,
    CHECKSUMS,
    MANIFEST,
)
#: Result tables (not decisions) a summary maps to regulations when the result has them.
MAPPED_TABLES = ("bias_audit", "impact_ratios", "groups", "features", "models", "top_k")


@dataclass(frozen=True)
class EvidencePack:
    """A written pack: its folder and the SHA-256 of each file (relative path -> digest)."""

    directory: Path
    files: dict[str, str]


def check_pack_directory(directory: Path, *, force: bool) -> None:
    """Bad input before any work (exit 2): the parent folder must exist, and ``directory`` must
    be absent or empty unless ``force``."""
    parent = directory.parent if str(directory.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"the folder {parent} of --evidence-pack {directory} does not exist",
            field="evidence-pack",
        )
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"--evidence-pack {directory} exists and is not a folder", field="evidence-pack"
        )
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise InputError(
            f"--evidence-pack {directory} exists and is not empty (--force replaces it)",
            field="evidence-pack",
        )


def trust_entries(verified: VerifiedAudit, trust: TrustStore) -> dict[str, Any]:
    """The trust-store entries this verification relied on: the client's and evaluators' keys,
    the profile and circuit allowed, the freshness, witness and result policies, and the digest
    of the whole store (so a reader can match it against the regulator's own copy)."""
    used = {verified.submission.client_key_id, verified.receipt.evaluator_key_id}
    used.update(w.evaluator_key_id for w in verified.witnesses.present)
    return {
        "trust_store_digest": sha256_digest(
            json.dumps(trust.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        ),
        "keys": [entry.to_dict() for entry in trust.keys if entry.record.key_id in used],
        "profile": {"name": verified.profile.name, "hash": verified.profile.profile_hash},
        "circuit": {"id": verified.circuit_id, "version": verified.circuit_version},
        "max_age_seconds": trust.max_age_seconds,
        "clock_skew_seconds": trust.clock_skew_seconds,
        "witnesses_required": trust.witnesses_required,
        "result_policy": trust.result_policy.to_dict(),
    }


def pack_summary(
    verified: VerifiedAudit,
    *,
    trust: TrustStore,
    bundle_file: str,
    bundle_sha256: str,
    finding: SignedFinding,
    indeterminate_ok: bool = False,
) -> dict[str, Any]:
    """``summary.json``: each decision (value, threshold and its source, status) and result
    table mapped to the provisions it supports, the provisions with what each does not
    establish, and the scope disclaimer."""
    primitive, result = verified.primitive, verified.result
    decisions = decisions_of(primitive, result, trust.result_policy)
    results: list[dict[str, Any]] = [
        {**d.to_dict(), "kind": "decision", "supports": supported_by(primitive, d.name)}
        for d in decisions
    ]
    results += [
        {"name": table, "kind": "table", "supports": supported_by(primitive, table)}
        for table in MAPPED_TABLES
        if table in result
    ]
    declared = verified.submission.data_description
    return {
        "schema": PACK_SCHEMA,
        "audit_id": verified.audit_id,
        "primitive": primitive,
        "verified": True,
        "verified_at": format_rfc3339(verified.verified_at),
        "outcome": {
            "gate": gate(decisions, indeterminate_ok=indeterminate_ok),
            "indeterminate_ok": indeterminate_ok,
            "counts": {
                status: sum(1 for d in decisions if d.status == status)
                for status in ("pass", "breach", "indeterminate")
            },
        },
        "data": {
            "rows": verified.plan.rows,
            "declared_by_client": {
                key: declared[key] for key in ("dataset", "period", "source") if key in declared
            },
        },
        "bundle": {"file": f"{BUNDLE_DIR}/{bundle_file}", "sha256": bundle_sha256},
        "finding": {"file": FINDING, "sha256": finding.digest, "signer": finding.signer_key_id},
        "results": results,
        "regulations": [regulation.to_dict() for regulation in regulations_for(primitive)],
        "disclaimer": SCOPE_DISCLAIMER,
    }


def write_evidence_pack(
    directory: Path,
    *,
    verified: VerifiedAudit,
    bundle: Path,
    document: Mapping[str, Any],
    report_text: str,
    report_html: str,
    finding: SignedFinding,
    trust: TrustStore,
    signer: SigningIdentity,
    indeterminate_ok: bool = False,
    force: bool = False,
) -> EvidencePack:
    """Write the pack (see the module docstring) atomically; InputError (exit 2) if the
    folder cannot be written or the bundle changed since it was verified."""
    check_pack_directory(directory, force=force)
    bundle_bytes = bundle.read_bytes()
    bundle_sha256 = sha256_digest(bundle_bytes)
    if finding_subject_digest(finding) != bundle_sha256:
        raise InputError(f"{bundle} changed while it was verified", field="bundle")
    bundle_name = bundle.name or "bundle.json"
    summary = pack_summary(
        verified,
        trust=trust,
        bundle_file=bundle_name,
        bundle_sha256=bundle_sha256,
        finding=finding,
        indeterminate_ok=indeterminate_ok,
    )
    schemas.validate(SUMMARY_SCHEMA, summary)  # what we publish must match what we document
    contents: dict[str, bytes] = {
        REPORT_HTML: report_html.encode("utf-8"),
        REPORT_JSON: (json.dumps(document, indent=2) + "\n").encode("utf-8"),
        REPORT_TEXT: report_text.encode("utf-8"),
        FINDING: finding.text.encode("utf-8"),
        f"{BUNDLE_DIR}/{bundle_name}": bundle_bytes,
        TRUST_ENTRIES: _pretty(trust_entries(verified, trust)),
        REGULATOR_KEY: _pretty(signer.public_record().to_dict()),
        SUMMARY: _pretty(summary),
    }
    digests = {name: sha256_digest(data) for name, data in contents.items()}
    contents[CHECKSUMS] = "".join(
        f"{digest.split(':', 1)[1]}  {name}\n" for name, digest in sorted(digests.items())
    ).encode("ascii")
    digests[CHECKSUMS] = sha256_digest(contents[CHECKSUMS])
    contents[MANIFEST] = _signed_manifest(
        digests, verified=verified, bundle_sha256=bundle_sha256, finding=finding, signer=signer
    )
    _write_atomically(directory, contents)
    return EvidencePack(directory, digests)


def _signed_manifest(
    digests: Mapping[str, str],
    *,
    verified: VerifiedAudit,
    bundle_sha256: str,
    finding: SignedFinding,
    signer: SigningIdentity,
) -> bytes:
    """The manifest: an in-toto Statement (one subject per file, by relative path and SHA-256)
    in a DSSE envelope signed by the regulator."""
    from regaudit.regulator.findings import TOOL_NAME
    from regaudit.shared.evidence.canonical import canonical_json, utc_now
    from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
    from regaudit.shared.evidence.statements.intoto import make_statement, make_subject
    from regaudit.shared.versioning import version

    subjects = [make_subject(name, digest) for name, digest in sorted(digests.items())]
    predicate = {
        "audit_id": verified.audit_id,
        "primitive": verified.primitive,
        "bundle_sha256": bundle_sha256,
        "finding_sha256": finding.digest,
        "regulator": {"signing_key_id": signer.key_id},
        "signed_at": format_rfc3339(utc_now()),
        "tool": {"name": TOOL_NAME, "version": version(TOOL_NAME)},
    }
    statement = make_statement(subjects, PACK_PREDICATE_TYPE, predicate)
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=signer
    )
    return (json.dumps(envelope, indent=2) + "\n").encode("utf-8")


def finding_subject_digest(finding: SignedFinding) -> str:
    """``sha256:<hex>`` of the finding's subject (the bundle it is about)."""
    import base64

    envelope = json.loads(finding.text)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    return "sha256:" + str(statement["subject"][0]["digest"]["sha256"])


def _pretty(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _write_atomically(directory: Path, contents: Mapping[str, bytes]) -> None:
    """Write every file into a temporary sibling folder, then rename it to ``directory``
    (replacing an existing one only after the new one is complete)."""
    parent = directory.parent if str(directory.parent) else Path(".")
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=parent))
    except OSError as exc:
        raise InputError(
            f"cannot write --evidence-pack {directory}: {exc}", field="evidence-pack"
        ) from exc
    try:
        for name, data in contents.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        staging.chmod(0o755)
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=parent))
            os.replace(directory, old / "pack")
        try:
            os.replace(staging, directory)
        except OSError:
            if old is not None:  # put the previous pack back
                os.replace(old / "pack", directory)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(
            f"cannot write --evidence-pack {directory}: {exc}", field="evidence-pack"
        ) from exc


__all__ = [
    "BUNDLE_DIR",
    "CHECKSUMS",
    "FINDING",
    "MANIFEST",
    "PACK_FILES",
    "PACK_PREDICATE_TYPE",
    "PACK_SCHEMA",
    "REGULATOR_KEY",
    "REPORT_HTML",
    "REPORT_JSON",
    "REPORT_TEXT",
    "SUMMARY",
    "SUMMARY_SCHEMA",
    "TRUST_ENTRIES",
    "EvidencePack",
    "check_pack_directory",
    "pack_summary",
    "trust_entries",
    "write_evidence_pack",
]
