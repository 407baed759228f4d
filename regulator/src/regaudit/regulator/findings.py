"""Signed findings: the regulator's verification result as an in-toto Statement v1 in a DSSE
envelope signed with the regulator's Ed25519 identity (the machinery of receipts and
submissions).

The statement's single subject is the audit bundle file (its name and the SHA-256 of its
bytes); its predicate (:data:`FINDING_PREDICATE_TYPE`, schema ``finding`` in
:mod:`regaudit.shared.schemas`) is the verified result, its decisions, the checks that passed,
the evidence summary, the regulator's key ids, the time and the tool version.
``regaudit-regulator verify --signed-report FILE`` writes one; ``regaudit-regulator
verify-report FILE`` checks one with :func:`verify_finding`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regaudit.shared.errors import (
    BadSignatureError,
    BundleFormatError,
    FindingSignatureInvalidError,
    FindingSubjectMismatchError,
    FindingUntrustedSignerError,
    InputError,
    MalformedFindingError,
    UntrustedIssuerError,
    VerificationError,
)
from regaudit.shared.evidence.canonical import (
    DIGEST_PREFIX,
    canonical_json,
    parse_rfc3339,
    sha256_digest,
    sha256_hex,
    strict_json_loads,
)
from regaudit.shared.evidence.dsse import (
    PAYLOAD_TYPE_INTOTO,
    envelope_payload_unverified,
    sign_envelope,
    verify_envelope,
)
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements.intoto import (
    make_statement,
    make_subject,
    parse_statement,
)
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.schemas import validate

if TYPE_CHECKING:
    from regaudit.regulator.verified import VerifiedAudit

#: predicateType of a signed finding.
FINDING_PREDICATE_TYPE = "https://regaudit.dev/finding/v1"
#: The JSON schema (:mod:`regaudit.shared.schemas`) of the whole statement.
FINDING_SCHEMA = "finding"
#: Kind of the trusted key that may sign a finding.
FINDING_SIGNER_KIND = "regulator"
#: The tool named in the predicate (its version: the installed distribution's).
TOOL_NAME = "regaudit-regulator"
#: Largest signed-finding file ``verify-report`` reads.
MAX_FINDING_FILE_BYTES = 32 * 1024 * 1024
#: Longest subject name (the bundle's file name) a statement carries.
MAX_SUBJECT_NAME_CHARS = 256


@dataclass(frozen=True)
class VerifiedFinding:
    """A signed finding whose signature, signer, statement and (optionally) subject checked."""

    statement: dict[str, Any]
    signer_key_id: str
    finding_digest: str
    bundle_checked: bool

    @property
    def predicate(self) -> dict[str, Any]:
        """The finding's predicate."""
        predicate: dict[str, Any] = self.statement["predicate"]
        return predicate

    @property
    def subject(self) -> dict[str, Any]:
        """The finding's one subject (``name`` and ``digest.sha256`` of the bundle file)."""
        subject: dict[str, Any] = self.statement["subject"][0]
        return subject

    def to_json(self) -> dict[str, Any]:
        """What ``verify-report --json`` prints."""
        return {
            "verified": True,
            "predicate_type": FINDING_PREDICATE_TYPE,
            "signer_key_id": self.signer_key_id,
            "finding_digest": self.finding_digest,
            "subject": {
                "name": self.subject["name"],
                "digest": DIGEST_PREFIX + self.subject["digest"]["sha256"],
            },
            "bundle_checked": self.bundle_checked,
            "primitive": self.predicate["primitive"],
            "audit_id": self.predicate["audit_id"],
            "verified_at": self.predicate["verified_at"],
            "decisions": self.predicate["decisions"],
        }

    def line(self) -> str:
        """The one line ``verify-report`` prints."""
        bundle = "bundle matches" if self.bundle_checked else "bundle not checked"
        return (
            f"Verified OK: finding on {self.subject['name']} "
            f"({self.predicate['primitive']} audit {self.predicate['audit_id']}) signed by "
            f"regulator {self.signer_key_id}; {bundle}"
        )


@dataclass(frozen=True)
class SignedFinding:
    """A signed finding as written: the envelope's file text and its digest."""

    text: str
    digest: str
    signer_key_id: str


def build_finding(
    document: Mapping[str, Any],
    *,
    bundle_name: str,
    bundle_bytes: bytes,
    decisions: Mapping[str, Any],
    checks: tuple[str, ...],
    signing_key_id: str,
    hpke_key_id: str,
    tool_version: str,
) -> dict[str, Any]:
    """The finding statement of a verified audit (``document``: the ``verify --json`` result,
    with an ``outcome`` if ``--fail-on-breach`` gave one). The subject name is the bundle's
    file name, control characters replaced, cut to :data:`MAX_SUBJECT_NAME_CHARS`."""
    printable = "".join(ch if ord(ch) >= 0x20 else "_" for ch in bundle_name)
    name = printable[-MAX_SUBJECT_NAME_CHARS:] or "bundle"
    predicate: dict[str, Any] = {
        "verified": True,
        "primitive": document["primitive"],
        "audit_id": document["audit_id"],
        "result": document["result"],
        "decisions": dict(decisions),
        "checks": {"passed": list(checks), "count": len(checks)},
        "evidence": document["evidence"],
        "regulator": {"signing_key_id": signing_key_id, "hpke_key_id": hpke_key_id},
        "verified_at": document["evidence"]["verified_at"],
        "tool": {"name": TOOL_NAME, "version": tool_version},
    }
    if "outcome" in document:
        predicate["outcome"] = document["outcome"]
    subject = make_subject(name, sha256_digest(bundle_bytes))
    return make_statement([subject], FINDING_PREDICATE_TYPE, predicate)


def sign_finding(statement: Mapping[str, Any], *, signer: SigningIdentity) -> SignedFinding:
    """``statement`` in a DSSE envelope signed by ``signer``: the file text (pretty JSON) and
    its digest (``sha256:`` of exactly those bytes, what the HTML report shows)."""
    envelope = sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=signer
    )
    text = json.dumps(envelope, indent=2) + "\n"
    return SignedFinding(text, sha256_digest(text.encode("utf-8")), signer.key_id)


def sign_verified(
    document: Mapping[str, Any],
    verified: VerifiedAudit,
    *,
    signer: SigningIdentity,
    bundle: Path,
) -> SignedFinding:
    """The signed finding of ``verify --signed-report`` on the bundle file ``bundle`` (just
    verified as ``verified``; ``document`` its ``--json`` result); InputError if the file
    changed since it was verified."""
    from regaudit.regulator.report.model import split_result
    from regaudit.regulator.verify import bundle_digest
    from regaudit.shared.bundle import AuditBundle
    from regaudit.shared.versioning import version

    bundle_bytes = bundle.read_bytes()
    if bundle_digest(AuditBundle.from_json(bundle_bytes)) != verified.bundle_digest:
        raise InputError(f"{bundle} changed while it was verified", field="bundle")
    result = document["result"]
    statement = build_finding(
        document,
        bundle_name=bundle.name,
        bundle_bytes=bundle_bytes,
        decisions={name: result[name] for name, _ in split_result(verified.result).decisions},
        checks=verified.checks,
        signing_key_id=signer.key_id,
        hpke_key_id=verified.regulator_key_id,
        tool_version=version(TOOL_NAME),
    )
    return sign_finding(statement, signer=signer)


def open_regulator_statement(
    data: bytes,
    *,
    trust: TrustStore,
    predicate_type: str,
    limit: int,
    what: str = "finding",
    malformed: type[VerificationError] = MalformedFindingError,
) -> tuple[dict[str, Any], str]:
    """Steps 1-5 of checking a regulator-signed in-toto Statement (a finding, an evidence
    pack's manifest): (the statement, the signing key id). ``malformed`` is raised for a
    structural fault; signature and trust faults are FindingSignatureInvalidError and
    FindingUntrustedSignerError."""
    # 1. Size and strict JSON: the file must be one DSSE envelope object.
    if len(data) > limit:
        raise malformed(f"{what} is {len(data)} bytes, more than {limit}", field=what)
    try:
        envelope = strict_json_loads(data, what=what)
        if not isinstance(envelope, dict):
            raise malformed(f"a signed {what} is a JSON object", field=what)
        # 2. Envelope structure; the (not yet authenticated) key id selects the key.
        _, _, key_id = envelope_payload_unverified(envelope)
    except BadSignatureError as exc:
        raise FindingSignatureInvalidError(exc.message, field=exc.field) from exc
    except (BundleFormatError, InputError) as exc:
        raise malformed(exc.message, field=exc.field or what) from exc
    # 3. The key must be trusted as a regulator key (revocation: the caller, at signing time).
    entry = next((item for item in trust.keys if item.record.key_id == key_id), None)
    if entry is None or entry.record.kind != FINDING_SIGNER_KIND:
        held = "not in the trust store" if entry is None else f"trusted as {entry.record.kind}"
        raise FindingUntrustedSignerError(
            f"{what} signed by key {key_id[:16]}..., {held}, not as a regulator key",
            field="keyid",
        )
    # 4. Ed25519 over PAE(payloadType, payload): any change to payload or type fails here.
    try:
        payload = verify_envelope(
            envelope, public_key=entry.record.public_key, key_id=key_id, payload_type=None
        )
    except BadSignatureError as exc:
        raise FindingSignatureInvalidError(exc.message, field=exc.field) from exc
    except BundleFormatError as exc:
        raise malformed(exc.message, field=exc.field) from exc
    # 5. The authenticated payload type, statement type and predicate type.
    if envelope["payloadType"] != PAYLOAD_TYPE_INTOTO:
        raise malformed(
            f"payloadType is {envelope['payloadType']!r:.80}, expected {PAYLOAD_TYPE_INTOTO!r}",
            field="payloadType",
        )
    try:
        statement = parse_statement(payload, predicate_type=predicate_type)
    except (BundleFormatError, InputError) as exc:
        raise malformed(exc.message, field=exc.field) from exc
    return statement, key_id


def verify_finding(
    data: bytes, *, trust: TrustStore, bundle_bytes: bytes | None = None
) -> VerifiedFinding:
    """Verify a signed finding (the bytes of the file ``verify --signed-report`` wrote).

    Raises MalformedFindingError, FindingSignatureInvalidError, FindingUntrustedSignerError,
    RevokedKeyError or FindingSubjectMismatchError (all exit code 1).
    """
    # 1.-5. The envelope, a trusted regulator key, its signature, the statement and predicate
    # types (open_regulator_statement).
    statement, key_id = open_regulator_statement(
        data, trust=trust, predicate_type=FINDING_PREDICATE_TYPE, limit=MAX_FINDING_FILE_BYTES
    )
    try:
        # 6. The finding schema (predicate fields and types; one subject).
        validate(FINDING_SCHEMA, statement)
    except (BundleFormatError, InputError) as exc:
        raise MalformedFindingError(exc.message, field=exc.field) from exc
    # 7. The predicate names the signer, and the key was not revoked when it signed.
    predicate = statement["predicate"]
    if predicate["regulator"]["signing_key_id"] != key_id:
        raise FindingUntrustedSignerError(
            f"finding names signing key {predicate['regulator']['signing_key_id'][:16]}... but "
            f"is signed by {key_id[:16]}...",
            field="keyid",
        )
    try:
        trust.require_key(key_id, kind=FINDING_SIGNER_KIND, at=_signed_at(predicate))
    except UntrustedIssuerError as exc:  # pragma: no cover - step 3 found it
        raise FindingUntrustedSignerError(exc.message, field="keyid") from exc
    # 8. With the bundle: the subject digest is the SHA-256 of the bundle's bytes.
    if bundle_bytes is not None:
        expected = sha256_hex(bundle_bytes)
        found = statement["subject"][0]["digest"]["sha256"]
        if found != expected:
            raise FindingSubjectMismatchError(
                f"finding is about sha256:{found[:16]}..., the bundle is sha256:{expected[:16]}...",
                field="subject",
            )
    return VerifiedFinding(statement, key_id, sha256_digest(data), bundle_bytes is not None)


def _signed_at(predicate: Mapping[str, Any]) -> datetime:
    try:
        return parse_rfc3339(predicate["verified_at"], field="verified_at", error=InputError)
    except InputError as exc:
        raise MalformedFindingError(exc.message, field="verified_at") from exc


__all__ = [
    "FINDING_PREDICATE_TYPE",
    "FINDING_SCHEMA",
    "FINDING_SIGNER_KIND",
    "MAX_FINDING_FILE_BYTES",
    "SignedFinding",
    "VerifiedFinding",
    "build_finding",
    "open_regulator_statement",
    "sign_finding",
    "sign_verified",
    "verify_finding",
]
