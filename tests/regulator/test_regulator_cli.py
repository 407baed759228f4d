"""The regaudit-regulator command line: init, trust add/revoke/list, verify with exit codes
0/1/2, the --json shape, the HTML report and the signed report."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import load_public_key_file
from regaudit.shared.evidence.sealing import load_card
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives.fairness.reference import reference as fairness_reference

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_json(result: Any) -> dict[str, Any]:
    """stdout must be exactly one JSON object."""
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def verify_args(parties: Any, bundle: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "verify",
        bundle,
        "--identity",
        parties.regulator_dir,
        "--trust",
        parties.trust_path,
        *extra,
    ]


def tampered_file(good: Any, directory: Path) -> Path:
    document = json.loads(good.bundle.to_json())
    output = bytearray(base64.b64decode(document["outputs"][0]))
    output[100] ^= 0x04
    document["outputs"][0] = base64.b64encode(bytes(output)).decode()
    path = directory / "tampered.bundle"
    path.write_text(json.dumps(document))
    return path


# --- init -------------------------------------------------------------------------------------


def test_init_writes_a_public_card_and_private_keys(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "regulator"
    result = run(runner, "init", directory)
    assert result.exit_code == 0, result.stderr
    card = load_card(directory / "regulator-card.json")
    keys = RegulatorKeys.load(directory)
    assert card.regulator_key_id == keys.key_id
    assert keys.key_id in result.stdout
    card_text = (directory / "regulator-card.json").read_text()
    assert "seed" not in card_text and "private" not in card_text  # the card is public
    for private in ("regulator.hpke.key", "regulator.key"):
        assert stat.S_IMODE((directory / private).stat().st_mode) == 0o600
    assert load_public_key_file(directory / "regulator.pub.json").kind == "regulator"


def test_init_refuses_to_overwrite_unless_forced(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "regulator"
    assert run(runner, "init", directory).exit_code == 0
    first = RegulatorKeys.load(directory).key_id
    again = run(runner, "init", directory)
    assert again.exit_code == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert RegulatorKeys.load(directory).key_id == first
    forced = run(runner, "init", directory, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert RegulatorKeys.load(directory).key_id != first


# --- trust ------------------------------------------------------------------------------------


def test_trust_add_revoke_list(runner: CliRunner, parties: Any, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    added = run(runner, "trust", "add", parties.evaluator_pub, "--trust", trust, "--note", "cloud")
    assert added.exit_code == 0, added.stderr
    assert parties.evaluator.key_id in added.stdout
    store = TrustStore.load(trust)  # created with the default profiles and circuits
    assert store.profiles and store.circuits["fairness"] == ("1",)
    assert [entry.note for entry in store.keys] == ["cloud"]
    assert run(runner, "trust", "add", parties.client_pub, "--trust", trust).exit_code == 0
    again = run(runner, "trust", "add", parties.client_pub, "--trust", trust)
    assert again.exit_code == 0 and "already trusted" in again.stdout

    revoked = run(
        runner,
        "trust",
        "revoke",
        parties.client.key_id,
        "--trust",
        trust,
        "--at",
        "2020-01-01T00:00:00Z",
    )
    assert revoked.exit_code == 0, revoked.stderr
    listed = run(runner, "trust", "list", "--trust", trust)
    assert listed.exit_code == 0
    assert parties.evaluator.key_id in listed.stdout
    assert "REVOKED 2020-01-01T00:00:00Z" in listed.stdout
    as_json = one_json(run(runner, "trust", "list", "--trust", trust, "--json"))
    kinds = {entry["kind"]: entry["revoked_at"] for entry in as_json["keys"]}
    assert kinds == {"evaluator": None, "client": "2020-01-01T00:00:00Z"}


def test_trust_usage_errors_exit_2_naming_the_file(
    runner: CliRunner, parties: Any, tmp_path: Path
) -> None:
    trust = tmp_path / "trust.json"
    missing = run(runner, "trust", "add", tmp_path / "nope.pub.json", "--trust", trust)
    assert missing.exit_code == 2 and "nope.pub.json" in missing.stderr
    assert not trust.exists()
    no_store = run(runner, "trust", "revoke", parties.client.key_id, "--trust", trust)
    assert no_store.exit_code == 2 and str(trust) in no_store.stderr
    assert run(runner, "trust", "add", parties.client_pub, "--trust", trust).exit_code == 0
    bad_id = run(runner, "trust", "revoke", "not-a-key-id", "--trust", trust)
    assert bad_id.exit_code == 2 and "key_id" in bad_id.stderr
    bad_time = run(
        runner, "trust", "revoke", parties.client.key_id, "--trust", trust, "--at", "yesterday"
    )
    assert bad_time.exit_code == 2 and "at" in bad_time.stderr
    unknown = run(runner, "trust", "revoke", parties.evaluator.key_id, "--trust", trust)
    assert unknown.exit_code == 2


# --- verify -----------------------------------------------------------------------------------


def test_verify_json_accepts_a_valid_bundle(
    runner: CliRunner, parties: Any, good: Any, good_file: Path
) -> None:
    result = run(runner, *verify_args(parties, good_file, "--json"))
    assert result.exit_code == 0, result.stderr
    document = one_json(result)
    assert document["verified"] is True
    assert document["primitive"] == "fairness"
    assert document["audit_id"] == good.bundle.audit_id
    reference = json.loads(json.dumps(fairness_reference(good.data)))
    assert document["result"] == reference
    assert document["result"]["demographic_parity_diff"] == reference["demographic_parity_diff"]
    evidence = document["evidence"]
    assert evidence["client"]["key_id"] == parties.client.key_id
    assert evidence["evaluator"]["key_id"] == parties.evaluator.key_id
    assert evidence["profile"]["name"] == "ckks-n8192-d3-v1"
    assert evidence["checks"][-1] == "aggregates_decrypted" and "replay" in evidence["checks"]


def test_verify_text_report(runner: CliRunner, parties: Any, good_file: Path) -> None:
    result = run(runner, *verify_args(parties, good_file))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "VERIFIED" in text
    assert "demographic parity diff" in text
    assert "west" in text and "undefined" in text  # west's precision has no denominator
    assert "threshold breached" in text and "BREACHED" in text
    assert "key canary" in text


def test_verify_rejects_a_tampered_bundle_with_exit_1(
    runner: CliRunner, parties: Any, good: Any, tmp_path: Path
) -> None:
    tampered = tampered_file(good, tmp_path)
    as_json = run(runner, *verify_args(parties, tampered, "--json"))
    assert as_json.exit_code == 1
    document = one_json(as_json)
    assert document["verified"] is False
    assert document["reason"] == "digest_mismatch"
    assert document["message"]
    text = run(runner, *verify_args(parties, tampered))
    assert text.exit_code == 1
    assert "REJECTED: digest_mismatch" in text.stdout


def test_verify_refuses_other_regulator_and_revoked_key(
    runner: CliRunner, parties: Any, good_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-regulator"
    assert run(runner, "init", other).exit_code == 0
    wrong = run(
        runner, "verify", good_file, "--identity", other, "--trust", parties.trust_path, "--json"
    )
    assert wrong.exit_code == 1 and one_json(wrong)["reason"] == "wrong_regulator_key"

    trust = tmp_path / "trust.json"
    trust.write_bytes(parties.trust_path.read_bytes())
    revoke = ("trust", "revoke", parties.client.key_id, "--trust", trust)
    assert run(runner, *revoke, "--at", "2020-01-01T00:00:00Z").exit_code == 0
    revoked = run(
        runner,
        "verify",
        good_file,
        "--identity",
        parties.regulator_dir,
        "--trust",
        trust,
        "--json",
    )
    assert revoked.exit_code == 1 and one_json(revoked)["reason"] == "revoked_key"


def test_verify_bad_input_exits_2_with_one_json_object(
    runner: CliRunner, parties: Any, good_file: Path, tmp_path: Path
) -> None:
    missing = run(runner, *verify_args(parties, tmp_path / "missing.bundle", "--json"))
    assert missing.exit_code == 2
    document = one_json(missing)
    assert document["verified"] is False and document["reason"] == "invalid_input"
    assert "missing.bundle" in document["message"] and "missing.bundle" in missing.stderr

    garbage = tmp_path / "trust.json"
    garbage.write_text("{not json")
    unreadable = run(
        runner,
        "verify",
        good_file,
        "--identity",
        parties.regulator_dir,
        "--trust",
        garbage,
        "--json",
    )
    assert unreadable.exit_code == 2
    assert str(garbage) in one_json(unreadable)["message"]

    no_identity = run(
        runner,
        "verify",
        good_file,
        "--identity",
        tmp_path / "nobody",
        "--trust",
        parties.trust_path,
    )
    assert no_identity.exit_code == 2 and "nobody" in no_identity.stderr

    no_dir = run(runner, *verify_args(parties, good_file, "--report", tmp_path / "x" / "r.html"))
    assert no_dir.exit_code == 2 and "report" in no_dir.stderr


def test_verify_malformed_bundle_exits_1(runner: CliRunner, parties: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "junk.bundle"
    bundle.write_text('{"format": "regaudit.bundle.v1"}')
    result = run(runner, *verify_args(parties, bundle, "--json"))
    assert result.exit_code == 1
    assert one_json(result)["reason"] == "malformed_bundle"


def test_verify_writes_html_and_signed_reports(
    runner: CliRunner, parties: Any, good: Any, good_file: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    signed = tmp_path / "report.dsse.json"
    result = run(
        runner, *verify_args(parties, good_file, "--report", report, "--signed-report", signed)
    )
    assert result.exit_code == 0, result.stderr
    page = report.read_text()
    reference = fairness_reference(good.data)
    assert page.startswith("<!DOCTYPE html>")
    assert "demographic parity diff" in page
    assert f"{reference['demographic_parity_diff']:.6g}" in page
    assert f"{reference['equal_opportunity_diff']:.6g}" in page
    assert good.bundle.audit_id in page
    lowered = page.lower()
    assert "<script" not in lowered and "http://" not in lowered and "https://" not in lowered
    signer = load_public_key_file(parties.regulator_dir / "regulator.pub.json")
    payload = verify_envelope(
        json.loads(signed.read_text()),
        public_key=signer.public_key,
        key_id=signer.key_id,
        payload_type="application/vnd.in-toto+json",
    )
    finding = json.loads(payload)  # an in-toto Statement about the bundle (tests/findings)
    assert finding["predicateType"] == "https://regaudit.dev/finding/v1"
    assert finding["predicate"]["result"]["max_gap"] == reference["max_gap"]
    assert finding["subject"][0]["name"] == good_file.name
    assert 'name="regaudit-finding-digest"' in page and signer.key_id in page


def test_verify_in_a_real_process(parties: Any, good_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [
        sys.executable,
        "-m",
        "regaudit.regulator",
        *map(str, verify_args(parties, good_file)),
    ]
    accepted = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["verified"] is True
    bundle = AuditBundle.read(good_file)
    assert bundle.audit_id in accepted.stdout
