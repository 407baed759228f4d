"""``regaudit-regulator verify-pack DIR``: an evidence pack checks out only as the regulator
wrote it. Each test is an attack on a real pack (real audit bundle, real signatures): an edited
summary or report with its checksum line recomputed, a file added, removed or swapped for a
symbolic link, a bundle from another audit, a manifest re-signed by another key, a path that
leaves the folder, a revoked signer. Each is rejected with its reason."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.evidence_pack import MANIFEST
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trust(parties: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trusts the parties' keys, the regulator's signing key and a second regulator key."""
    path = tmp_path_factory.mktemp("verify-pack-trust") / "trust.json"
    store = TrustStore.load(parties.trust_path)
    store.add_key(parties.regulator_signer.public_record(), note="the regulator")
    store.add_key(OTHER_REGULATOR.public_record(), note="another regulator")
    store.save(path)
    return path


OTHER_REGULATOR = SigningIdentity.generate("regulator")


@pytest.fixture(scope="module")
def pack(
    parties: Any, bundles: dict[str, Path], trust: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    directory = tmp_path_factory.mktemp("verify-packs") / "pack"
    result = run(
        "verify",
        bundles["breach"],
        "--identity",
        parties.regulator_dir,
        "--trust",
        trust,
        "--evidence-pack",
        directory,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    return directory


@pytest.fixture
def copy(pack: Path, tmp_path: Path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(pack, target, symlinks=True)
    return target


def check(directory: Path, trust: Path) -> Any:
    return run("verify-pack", directory, "--trust", trust, "--json")


def rejected(result: Any) -> dict[str, Any]:
    assert result.exit_code == 1, result.stdout + result.stderr
    failure: dict[str, Any] = json.loads(result.stdout)
    assert failure["ok"] is False
    return failure


def recompute_checksums(directory: Path) -> None:
    """What an attacker does after editing a file: SHA256SUMS says it is fine again."""
    lines = []
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        _, name = line.split("  ", 1)
        lines.append(f"{hashlib.sha256((directory / name).read_bytes()).hexdigest()}  {name}")
    (directory / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def statement(directory: Path) -> dict[str, Any]:
    envelope = json.loads((directory / MANIFEST).read_text())
    loaded: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return loaded


def resign(directory: Path, document: dict[str, Any], signer: SigningIdentity) -> None:
    envelope = sign_envelope(
        canonical_json(document), payload_type=PAYLOAD_TYPE_INTOTO, identity=signer
    )
    (directory / MANIFEST).write_text(json.dumps(envelope))


def test_the_pack_as_written_verifies(pack: Path, trust: Path, parties: Any) -> None:
    result = check(pack, trust)
    assert result.exit_code == 0, result.stdout + result.stderr
    verified = json.loads(result.stdout)
    assert verified["ok"] is True and verified["primitive"] == "fairness"
    assert verified["gate"] == "breach"
    assert verified["signer_key_id"] == parties.regulator_signer.key_id
    text = run("verify-pack", pack, "--trust", trust)
    assert text.stdout.startswith("Verified OK: evidence pack of fairness audit")


def test_an_edited_summary_is_caught_even_with_sha256sums_recomputed(
    copy: Path, trust: Path
) -> None:
    summary = json.loads((copy / "summary.json").read_text())
    summary["outcome"]["gate"] = "pass"
    for result in summary["results"]:
        if result["kind"] == "decision":
            result["status"] = "pass"
    (copy / "summary.json").write_text(json.dumps(summary))
    recompute_checksums(copy)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "evidence_pack_mismatch"
    assert failure["field"] == "summary.json"


def test_an_edited_html_report_is_caught(copy: Path, trust: Path) -> None:
    html = (copy / "report.html").read_text()
    (copy / "report.html").write_text(html.replace("breach", "pass"))
    recompute_checksums(copy)
    assert rejected(check(copy, trust))["field"] == "report.html"


def test_an_added_file_is_caught(copy: Path, trust: Path) -> None:
    (copy / "addendum.txt").write_text("the regulator also approved the model\n")
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "evidence_pack_mismatch"
    assert "addendum.txt" in failure["message"]


def test_a_removed_file_is_caught(copy: Path, trust: Path) -> None:
    (copy / "trust-entries.json").unlink()
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "evidence_pack_mismatch"
    assert "trust-entries.json" in failure["message"]


def test_a_symbolic_link_is_refused(copy: Path, trust: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes((copy / "report.txt").read_bytes())
    (copy / "report.txt").unlink()
    (copy / "report.txt").symlink_to(outside)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "evidence_pack_mismatch"
    assert "symbolic link" in failure["message"]


def test_another_audits_bundle_is_caught(copy: Path, trust: Path, bundles: dict[str, Path]) -> None:
    (packed,) = (copy / "bundle").iterdir()
    packed.write_bytes(bundles["pass"].read_bytes())
    recompute_checksums(copy)
    assert rejected(check(copy, trust))["field"].startswith("bundle/")


def test_a_manifest_resigned_by_another_regulator_does_not_pass_for_the_finding(
    copy: Path, trust: Path
) -> None:
    """Another (trusted) regulator re-signs a manifest over an edited summary: the manifest's
    signature holds, but the finding inside was signed by someone else."""
    summary = json.loads((copy / "summary.json").read_text())
    summary["outcome"]["gate"] = "pass"
    (copy / "summary.json").write_text(json.dumps(summary))
    recompute_checksums(copy)
    document = statement(copy)
    for subject in document["subject"]:
        subject["digest"]["sha256"] = hashlib.sha256(
            (copy / subject["name"]).read_bytes()
        ).hexdigest()
    document["predicate"]["regulator"]["signing_key_id"] = OTHER_REGULATOR.key_id
    resign(copy, document, OTHER_REGULATOR)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "finding_untrusted_signer"
    assert "different regulator keys" in failure["message"]


def test_a_manifest_signed_by_a_vendor_key_is_refused(
    copy: Path, trust: Path, parties: Any
) -> None:
    document = statement(copy)
    document["predicate"]["regulator"]["signing_key_id"] = parties.client.key_id
    resign(copy, document, parties.client)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "finding_untrusted_signer"
    assert "trusted as client" in failure["message"]


def test_an_edited_manifest_fails_its_signature(copy: Path, trust: Path) -> None:
    envelope = json.loads((copy / MANIFEST).read_text())
    document = statement(copy)
    document["predicate"]["audit_id"] = "another-audit"
    envelope["payload"] = base64.b64encode(canonical_json(document)).decode()
    (copy / MANIFEST).write_text(json.dumps(envelope))
    assert rejected(check(copy, trust))["reason"] == "finding_signature_invalid"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", MANIFEST])
def test_a_signed_path_outside_the_pack_is_malformed(
    copy: Path, trust: Path, parties: Any, name: str
) -> None:
    document = statement(copy)
    document["subject"].append({"name": name, "digest": {"sha256": "0" * 64}})
    resign(copy, document, parties.regulator_signer)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "malformed_evidence_pack"


def test_a_summary_about_another_audit_is_malformed_even_when_signed(
    copy: Path, trust: Path, parties: Any
) -> None:
    summary = json.loads((copy / "summary.json").read_text())
    summary["audit_id"] = "someone-elses-audit"
    (copy / "summary.json").write_text(json.dumps(summary))
    document = statement(copy)
    for subject in document["subject"]:
        subject["digest"]["sha256"] = hashlib.sha256(
            (copy / subject["name"]).read_bytes()
        ).hexdigest()
    resign(copy, document, parties.regulator_signer)
    failure = rejected(check(copy, trust))
    assert failure["reason"] == "malformed_evidence_pack"
    assert failure["field"] == "audit_id"


def test_a_revoked_regulator_key_is_refused(
    pack: Path, trust: Path, parties: Any, tmp_path: Path
) -> None:
    store = TrustStore.load(trust)
    store.revoke(parties.regulator_signer.key_id, at=datetime.now(UTC) - timedelta(days=1))
    revoked = tmp_path / "trust.json"
    store.save(revoked)
    assert rejected(check(pack, revoked))["reason"] == "revoked_key"


def test_no_pack_is_bad_input(tmp_path: Path, trust: Path) -> None:
    missing = run("verify-pack", tmp_path / "absent", "--trust", trust)
    assert missing.exit_code == 2
    (tmp_path / "empty").mkdir()
    empty = run("verify-pack", tmp_path / "empty", "--trust", trust, "--json")
    assert empty.exit_code == 2
    assert json.loads(empty.stdout)["field"] == "pack"
