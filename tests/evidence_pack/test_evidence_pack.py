"""``regaudit-regulator verify --evidence-pack DIR``: the report in three forms, the signed
finding, the bundle, the trust-store entries used, the regulator's public key and a summary
mapping each result to the regulation it supports, with ``SHA256SUMS`` over all of it. The
pack is checked the way its reader would: ``sha256sum -c``, ``verify-report`` on the packed
finding and bundle, and the summary's decisions against ``verify --fail-on-breach``."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.evidence_pack import PACK_FILES, PACK_SCHEMA
from regaudit.regulator.regulations import EEOC_FOUR_FIFTHS, LL144, SCOPE_DISCLAIMER
from regaudit.shared.evidence.truststore import TrustStore


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def verify(parties: Any, bundle: Path, *extra: str | Path, trust: Path | None = None) -> Any:
    trust_path = trust or parties.trust_path
    return run("verify", bundle, "--identity", parties.regulator_dir, "--trust", trust_path, *extra)


@pytest.fixture(scope="module")
def trust_with_regulator(parties: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The parties' trust store, also trusting the regulator's report-signing key (for
    verify-report) and an unrelated client key (which must not be packed)."""
    from regaudit.shared.evidence.identity import SigningIdentity

    path = tmp_path_factory.mktemp("pack-trust") / "trust.json"
    store = TrustStore.load(parties.trust_path)
    store.add_key(parties.regulator_signer.public_record(), note="the regulator")
    store.add_key(SigningIdentity.generate("client").public_record(), note="another vendor")
    store.save(path)
    return path


@pytest.fixture(scope="module")
def pack(
    parties: Any,
    bundles: dict[str, Path],
    trust_with_regulator: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    directory = tmp_path_factory.mktemp("packs") / "breach-pack"
    result = verify(
        parties, bundles["breach"], "--evidence-pack", directory, trust=trust_with_regulator
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"evidence pack written to {directory}" in result.stdout
    return directory


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_pack_holds_every_file_and_sha256sum_checks_it(pack: Path, bundles: Any) -> None:
    names = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    assert names == {*PACK_FILES, f"bundle/{bundles['breach'].name}"}
    checked = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"],
        cwd=pack,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(names) - 2  # all but SHA256SUMS and the manifest
    assert (pack / "bundle" / bundles["breach"].name).read_bytes() == bundles["breach"].read_bytes()


def test_a_changed_file_fails_the_checksums(pack: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pack, copy)
    (copy / "report.txt").write_text("all clear\n")
    checked = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 1
    assert "report.txt: FAILED" in checked.stdout


def test_the_packed_finding_verifies_against_the_packed_bundle(
    pack: Path, bundles: Any, trust_with_regulator: Path
) -> None:
    bundle = pack / "bundle" / bundles["breach"].name
    result = run(
        "verify-report",
        pack / "finding.intoto.json",
        "--trust",
        trust_with_regulator,
        "--bundle",
        bundle,
        "--json",
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    html = (pack / "report.html").read_text(encoding="utf-8")
    summary = _json(pack / "summary.json")
    assert summary["finding"]["sha256"] in html
    assert summary["finding"]["signer"] == _json(pack / "regulator.pub.json")["key_id"]


def test_the_summary_maps_each_decision_to_its_regulation(
    pack: Path, parties: Any, bundles: Any, trust_with_regulator: Path
) -> None:
    summary = _json(pack / "summary.json")
    assert summary["schema"] == PACK_SCHEMA
    assert summary["primitive"] == "fairness" and summary["verified"] is True
    gated = verify(
        parties,
        bundles["breach"],
        "--json",
        "--fail-on-breach",
        trust=trust_with_regulator,
    )
    outcome = json.loads(gated.stdout)["outcome"]
    assert summary["outcome"]["gate"] == outcome["gate"] == "breach"
    decisions = {r["name"]: r for r in summary["results"] if r["kind"] == "decision"}
    assert {d["name"] for d in outcome["decisions"]} == set(decisions)
    for expected in outcome["decisions"]:
        packed = decisions[expected["name"]]
        assert packed["status"] == expected["status"]
        assert packed["threshold"] == expected["threshold"]
    assert set(decisions["min_impact_ratio"]["supports"]) == {LL144.id, EEOC_FOUR_FIFTHS.id}
    regulations = {r["id"]: r for r in summary["regulations"]}
    assert {LL144.id, EEOC_FOUR_FIFTHS.id, "eu-ai-act-art-10-5"} == set(regulations)
    assert all(r["does_not_establish"] for r in regulations.values())
    assert summary["disclaimer"] == SCOPE_DISCLAIMER
    tables = {r["name"] for r in summary["results"] if r["kind"] == "table"}
    assert "bias_audit" in tables and "groups" in tables


def test_the_report_forms_agree(pack: Path, parties: Any, bundles: Any) -> None:
    document = _json(pack / "report.json")
    assert document["audit_id"] == _json(pack / "summary.json")["audit_id"]
    assert document["evidence"]["bundle_digest"]
    text = (pack / "report.txt").read_text(encoding="utf-8")
    assert document["audit_id"] in text
    assert document["audit_id"] in (pack / "report.html").read_text(encoding="utf-8")


def test_only_the_trust_entries_used_are_packed(pack: Path, parties: Any) -> None:
    entries = _json(pack / "trust-entries.json")
    packed = {entry["key_id"] for entry in entries["keys"]}
    assert packed == {parties.client.key_id, parties.evaluator.key_id}
    assert entries["trust_store_digest"].startswith("sha256:")
    assert entries["circuit"]["id"] == "fairness"
    assert "result_policy" in entries


def test_an_existing_pack_is_replaced_only_with_force(
    parties: Any, bundles: dict[str, Path], trust_with_regulator: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "pack"
    directory.mkdir()
    (directory / "keep.txt").write_text("mine")
    refused = verify(
        parties, bundles["pass"], "--evidence-pack", directory, trust=trust_with_regulator
    )
    assert refused.exit_code == 2
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    assert (directory / "keep.txt").read_text() == "mine"
    forced = verify(
        parties,
        bundles["pass"],
        "--evidence-pack",
        directory,
        "--force",
        trust=trust_with_regulator,
    )
    assert forced.exit_code == 0, forced.stderr
    assert not (directory / "keep.txt").exists()
    assert _json(directory / "summary.json")["outcome"]["gate"] == "pass"
    assert [p.name for p in tmp_path.iterdir()] == ["pack"]  # no staging folder left


def test_a_missing_parent_is_bad_input_and_nothing_is_created(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    directory = tmp_path / "absent" / "pack"
    result = verify(parties, bundles["pass"], "--evidence-pack", directory, "--json")
    assert result.exit_code == 2
    failure = json.loads(result.stdout)
    assert failure["field"] == "evidence-pack"
    assert not (tmp_path / "absent").exists()


def test_a_rejected_bundle_writes_no_pack(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(bundles["pass"].read_text())
    raw = bytearray(base64.b64decode(document["outputs"][0]))
    raw[len(raw) // 2] ^= 0x01  # one bit of an output ciphertext: no longer what was signed
    document["outputs"][0] = base64.b64encode(bytes(raw)).decode("ascii")
    tampered = tmp_path / "tampered.bundle"
    tampered.write_text(json.dumps(document))
    directory = tmp_path / "pack"
    result = verify(parties, tampered, "--evidence-pack", directory)
    assert result.exit_code == 1
    assert not directory.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tampered.bundle"]


def test_the_summary_matches_its_published_schema(pack: Path) -> None:
    from regaudit.shared import schemas
    from regaudit.shared.errors import InputError

    summary = _json(pack / "summary.json")
    schemas.validate("evidence-pack-summary", summary)
    broken = {**summary, "outcome": {**summary["outcome"], "gate": "fine"}}
    with pytest.raises(InputError) as caught:
        schemas.validate("evidence-pack-summary", broken)
    assert caught.value.field == "/outcome/gate"
