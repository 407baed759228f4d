"""Signed findings: ``verify --signed-report`` writes an in-toto Statement v1 (subject: the
bundle file's SHA-256; predicate: the verified result) in a DSSE envelope signed by the
regulator, the HTML report names its digest and signer, and ``verify-report`` accepts it and
rejects every tampered, re-signed, untrusted or mismatched one with its reason.

One real audit (a running ``regaudit-evaluator serve``, ``regaudit-client audit fairness`` on
the bundled sample, ``regaudit-regulator verify`` as subprocesses); ``verify-report`` then runs
in-process.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey
from support.cli import ROOT
from support.parties import Parties
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.findings import FINDING_PREDICATE_TYPE
from regaudit.shared.evidence.canonical import canonical_json, parse_rfc3339
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity, load_public_key_file
from regaudit.shared.evidence.truststore import TrustStore

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")


@dataclass
class Finding:
    """A real audit's bundle, its signed finding and HTML report, and a trust store that
    trusts the regulator's signing key."""

    root: Path
    bundle: Path
    signed: Path
    html: Path
    trust: Path
    regulator_key_id: str
    client_dir: Path
    verify_json: dict[str, Any]

    @property
    def envelope(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.signed.read_text())
        return document

    @property
    def statement(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(base64.b64decode(self.envelope["payload"]))
        return document


@pytest.fixture(scope="module")
def finding(tmp_path_factory: pytest.TempPathFactory) -> Finding:
    root = tmp_path_factory.mktemp("findings")
    parties = Parties.start(root)
    try:
        bundle = root / "audit.bundle"
        audited = parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS, "--quiet")
        assert audited.returncode == 0, audited.stderr
        signed, html = root / "finding.dsse.json", root / "report.html"
        verified = parties.verify(bundle, "--signed-report", signed, "--report", html)
        assert verified.returncode == 0, verified.stderr
    finally:
        parties.stop()
    record = load_public_key_file(parties.regulator / "regulator.pub.json")
    store = TrustStore.new_default()
    store.add_key(record)
    trust = root / "finding-trust.json"
    store.save(trust)
    return Finding(
        root,
        bundle,
        signed,
        html,
        trust,
        record.key_id,
        parties.client,
        json.loads(verified.stdout),
    )


def verify_report(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["verify-report", *map(str, args)])


def write(finding: Finding, name: str, envelope: dict[str, Any]) -> Path:
    path = finding.root / name
    path.write_text(json.dumps(envelope))
    return path


def with_payload(envelope: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """``envelope`` carrying ``statement`` (canonical bytes) under the old signature."""
    return {**envelope, "payload": base64.b64encode(canonical_json(statement)).decode()}


def resigned(statement: dict[str, Any], identity: SigningIdentity, **options: Any) -> Any:
    payload_type = options.get("payload_type", PAYLOAD_TYPE_INTOTO)
    return sign_envelope(canonical_json(statement), payload_type=payload_type, identity=identity)


def rejected(result: Any, reason: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout.strip() == f"REJECTED: {reason}"
    assert reason in result.stderr


# --- what verify --signed-report writes ---------------------------------------------------------


def test_signed_report_is_an_intoto_statement_about_the_bundle(finding: Finding) -> None:
    envelope, statement = finding.envelope, finding.statement
    assert envelope["payloadType"] == PAYLOAD_TYPE_INTOTO
    assert envelope["signatures"][0]["keyid"] == finding.regulator_key_id
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == FINDING_PREDICATE_TYPE
    bundle_bytes = finding.bundle.read_bytes()
    assert statement["subject"] == [
        {"name": "audit.bundle", "digest": {"sha256": hashlib.sha256(bundle_bytes).hexdigest()}}
    ]
    predicate = statement["predicate"]
    assert predicate["result"] == finding.verify_json["result"]
    assert predicate["audit_id"] == finding.verify_json["audit_id"]
    decisions, result = predicate["decisions"], finding.verify_json["result"]
    assert decisions and all(name.endswith(("_breached", "_detected")) for name in decisions)
    assert all(decisions[name] == result[name] for name in decisions)
    assert predicate["checks"]["count"] == len(predicate["checks"]["passed"]) > 5
    assert "bundle_structure" in predicate["checks"]["passed"]
    assert predicate["regulator"]["signing_key_id"] == finding.regulator_key_id
    assert predicate["tool"]["name"] == "regaudit-regulator" and predicate["tool"]["version"]
    assert predicate["verified_at"] == finding.verify_json["evidence"]["verified_at"]


def test_html_report_names_the_findings_digest_and_signer(finding: Finding) -> None:
    page = finding.html.read_text()
    digest = "sha256:" + hashlib.sha256(finding.signed.read_bytes()).hexdigest()
    assert f'<meta name="regaudit-finding-digest" content="{digest}">' in page
    assert f'<meta name="regaudit-finding-signer" content="{finding.regulator_key_id}">' in page
    assert f"Signed finding: <code>{digest}</code>" in page
    visible = page.split("</head>", 1)[1]
    assert finding.regulator_key_id in visible


def test_securesystemslib_verifies_the_finding(finding: Finding) -> None:
    record = load_public_key_file(finding.root / "regulator" / "regulator.pub.json")
    key = SSlibKey.from_crypto(record.public_key, keyid=record.key_id)
    accepted = Envelope.from_dict(copy.deepcopy(finding.envelope)).verify([key], 1)
    assert list(accepted) == [finding.regulator_key_id]
    statement = finding.statement
    statement["predicate"]["decisions"] = {"threshold_breached": None}
    tampered = with_payload(finding.envelope, statement)
    with pytest.raises(VerificationError):
        Envelope.from_dict(tampered).verify([key], 1)


# --- verify-report: accepted --------------------------------------------------------------------


def test_verify_report_accepts_the_finding_with_its_bundle(finding: Finding) -> None:
    result = verify_report(finding.signed, "--bundle", finding.bundle, "--trust", finding.trust)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Verified OK: finding on audit.bundle")
    assert finding.regulator_key_id in lines[0] and "bundle matches" in lines[0]

    as_json = verify_report(finding.signed, "--bundle", finding.bundle, "--trust", finding.trust,
                            "--json")  # fmt: skip
    assert as_json.exit_code == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["verified"] is True and document["bundle_checked"] is True
    assert document["signer_key_id"] == finding.regulator_key_id
    digest = hashlib.sha256(finding.bundle.read_bytes()).hexdigest()
    assert document["subject"] == {"name": "audit.bundle", "digest": f"sha256:{digest}"}
    signed_digest = hashlib.sha256(finding.signed.read_bytes()).hexdigest()
    assert document["finding_digest"] == f"sha256:{signed_digest}"
    assert document["audit_id"] == finding.verify_json["audit_id"]


def test_verify_report_without_bundle_does_not_claim_the_bundle(finding: Finding) -> None:
    result = verify_report(finding.signed, "--trust", finding.trust, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["bundle_checked"] is False


# --- verify-report: rejected, each with its reason ------------------------------------------------


def test_tampered_predicate_is_rejected(finding: Finding) -> None:
    statement = finding.statement
    statement["predicate"]["decisions"]["threshold_breached"] = "not breached"  # a forged verdict
    path = write(finding, "tampered-predicate.json", with_payload(finding.envelope, statement))
    rejected(verify_report(path, "--trust", finding.trust), "finding_signature_invalid")


def test_tampered_subject_is_rejected(finding: Finding) -> None:
    statement = finding.statement
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    path = write(finding, "tampered-subject.json", with_payload(finding.envelope, statement))
    result = verify_report(path, "--bundle", finding.bundle, "--trust", finding.trust)
    rejected(result, "finding_signature_invalid")


def test_wrong_bundle_is_rejected(finding: Finding) -> None:
    other = finding.root / "other.bundle"
    other.write_bytes(finding.bundle.read_bytes() + b"\n")  # same audit, other bytes
    result = verify_report(finding.signed, "--bundle", other, "--trust", finding.trust)
    rejected(result, "finding_subject_mismatch")


def test_untrusted_signer_is_rejected(finding: Finding) -> None:
    empty = finding.root / "empty-trust.json"
    TrustStore.new_default().save(empty)
    rejected(verify_report(finding.signed, "--trust", empty), "finding_untrusted_signer")
    # the client's key is trusted, but as a client: it cannot sign a finding
    client = SigningIdentity.load(finding.client_dir, kind="client")
    store = TrustStore.load(finding.trust)
    store.add_key(load_public_key_file(finding.client_dir / "client.pub.json"))
    both = finding.root / "client-trust.json"
    store.save(both)
    path = write(finding, "client-signed.json", resigned(finding.statement, client))
    rejected(verify_report(path, "--trust", both), "finding_untrusted_signer")


def test_finding_resigned_by_another_regulator_key_is_rejected(finding: Finding) -> None:
    other = SigningIdentity.generate("regulator")
    path = write(finding, "resigned.json", resigned(finding.statement, other))
    rejected(verify_report(path, "--trust", finding.trust), "finding_untrusted_signer")
    # even a trusted regulator key cannot sign a finding that names another signer
    store = TrustStore.load(finding.trust)
    other_dir = finding.root / "other-regulator"
    store.add_key_file(other.save(other_dir))
    trusting_both = finding.root / "both-regulators.json"
    store.save(trusting_both)
    rejected(verify_report(path, "--trust", trusting_both), "finding_untrusted_signer")


def test_revoked_signer_is_rejected(finding: Finding) -> None:
    store = TrustStore.load(finding.trust)
    signed_at = parse_rfc3339(finding.statement["predicate"]["verified_at"])
    store.revoke(finding.regulator_key_id, at=signed_at - timedelta(seconds=1))
    revoked = finding.root / "revoked-trust.json"
    store.save(revoked)
    rejected(verify_report(finding.signed, "--trust", revoked), "revoked_key")


@pytest.mark.parametrize("damage", ["predicate_type", "schema", "payload_type", "two_subjects"])
def test_malformed_signed_statements_are_rejected(
    finding: Finding, tmp_path: Path, damage: str
) -> None:
    """Validly signed by the trusted regulator key, but not a finding."""
    signer = SigningIdentity.load(finding.root / "regulator", kind="regulator")
    statement, payload_type = finding.statement, PAYLOAD_TYPE_INTOTO
    if damage == "predicate_type":
        statement["predicateType"] = "https://regaudit.dev/finding/v0"
    elif damage == "schema":
        del statement["predicate"]["tool"]
    elif damage == "payload_type":
        payload_type = "application/vnd.regaudit.report+json"
    else:
        statement["subject"].append(statement["subject"][0])
    envelope = resigned(statement, signer, payload_type=payload_type)
    path = write(finding, f"malformed-{damage}.json", envelope)
    rejected(verify_report(path, "--trust", finding.trust), "malformed_finding")


def test_not_an_envelope_is_malformed_and_missing_files_are_bad_input(finding: Finding) -> None:
    junk = finding.root / "junk.json"
    junk.write_text("not json")
    rejected(verify_report(junk, "--trust", finding.trust), "malformed_finding")
    unsigned = write(finding, "unsigned.json", {**finding.envelope, "signatures": []})
    rejected(verify_report(unsigned, "--trust", finding.trust), "finding_signature_invalid")
    missing = verify_report(finding.root / "nothing.json", "--trust", finding.trust)
    assert missing.exit_code == 2 and "nothing.json" in missing.stderr
    no_bundle = verify_report(finding.signed, "--trust", finding.trust, "--bundle", "nope.bundle")
    assert no_bundle.exit_code == 2 and "nope.bundle" in no_bundle.stderr
    no_trust = verify_report(finding.signed, "--json")
    assert no_trust.exit_code == 2 and json.loads(no_trust.stdout)["reason"] == "invalid_input"


def test_fail_on_breach_outcome_is_part_of_the_signed_finding(finding: Finding) -> None:
    signed = finding.root / "gated.dsse.json"
    result = CliRunner().invoke(
        app,
        [
            "verify", str(finding.bundle), "--identity", str(finding.root / "regulator"),
            "--trust", str(finding.root / "trust.json"), "--json", "--fail-on-breach",
            "--signed-report", str(signed),
        ],
    )  # fmt: skip
    assert result.exit_code in (0, 4), result.stderr
    outcome = json.loads(result.stdout)["outcome"]
    statement = json.loads(base64.b64decode(json.loads(signed.read_text())["payload"]))
    assert statement["predicate"]["outcome"] == outcome
    accepted = verify_report(signed, "--bundle", finding.bundle, "--trust", finding.trust)
    assert accepted.exit_code == 0, accepted.stderr
