"""``regaudit-regulator verify --fail-on-breach``: exit 4 when the evidence verified but a
decision breached (indeterminate counts unless --indeterminate-ok), 1 for failed verification
even with the flag; the trust store's result policy overrides the audit's threshold. Real
bundles (real SEAL, real signatures) and the real command line."""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.result_policy import EXIT_BREACH
from regaudit.shared.evidence.truststore import TrustStore

BIN = Path(sys.executable).parent


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def verify(parties: Any, bundle: Path, *extra: str | Path, trust: Path | None = None) -> Any:
    trust_path = trust or parties.trust_path
    return run("verify", bundle, "--identity", parties.regulator_dir, "--trust", trust_path, *extra)


def policy_store(parties: Any, directory: Path, *options: str) -> Path:
    """A copy of the parties' trust store with ``trust policy OPTIONS`` applied."""
    path = directory / "trust.json"
    shutil.copyfile(parties.trust_path, path)
    result = run("trust", "policy", "--trust", path, *options)
    assert result.exit_code == 0, result.stderr
    return path


def by_name(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in outcome["decisions"]}


def test_a_breaching_audit_exits_4_with_the_flag_and_0_without(
    parties: Any, bundles: dict[str, Path]
) -> None:
    plain = verify(parties, bundles["breach"], "--json")
    assert plain.exit_code == 0, plain.stderr
    assert "outcome" not in json.loads(plain.stdout)
    gated = verify(parties, bundles["breach"], "--json", "--fail-on-breach")
    assert gated.exit_code == EXIT_BREACH == 4, gated.stderr
    document = json.loads(gated.stdout)
    assert document["verified"] is True  # the evidence is authentic; the audit found a breach
    assert document["outcome"]["gate"] == "breach"
    decisions = by_name(document["outcome"])
    gap = decisions["max_gap"]
    assert (gap["status"], gap["threshold"], gap["threshold_source"]) == ("breach", 0.1, "audit")
    assert gap["value"] == document["result"]["max_gap"]
    ratio = decisions["min_impact_ratio"]
    assert (ratio["status"], ratio["value"], ratio["threshold"]) == ("breach", 0.0, 0.8)
    text = verify(parties, bundles["breach"], "--fail-on-breach")
    assert text.exit_code == 4
    assert "outcome gate: BREACH" in text.stdout and "threshold from audit" in text.stdout
    quiet = verify(parties, bundles["breach"], "--quiet", "--fail-on-breach")
    assert (quiet.exit_code, quiet.stdout) == (4, "")


def test_a_passing_audit_exits_0(parties: Any, bundles: dict[str, Path]) -> None:
    result = verify(parties, bundles["pass"], "--json", "--fail-on-breach")
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome["gate"] == "pass"
    assert {d["name"]: d["status"] for d in outcome["decisions"]} == {
        "max_gap": "pass",
        "min_impact_ratio": "pass",
    }
    quiet = verify(parties, bundles["pass"], "--quiet", "--fail-on-breach")
    assert (quiet.exit_code, quiet.stdout) == (0, "")


def test_an_indeterminate_decision_fails_the_gate_unless_allowed(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    # group "b" has no actual positives: the equal opportunity difference is undefined
    trust = policy_store(parties, tmp_path, "--threshold", "fairness.equal_opportunity_diff=0.2")
    gated = verify(parties, bundles["pass"], "--json", "--fail-on-breach", trust=trust)
    assert gated.exit_code == 4, gated.stderr
    decision = by_name(json.loads(gated.stdout)["outcome"])["equal_opportunity_diff"]
    assert decision == {
        "name": "equal_opportunity_diff",
        "value": None,
        "threshold": 0.2,
        "status": "indeterminate",
        "threshold_source": "policy",
        "direction": "max",
    }
    allowed = verify(
        parties, bundles["pass"], "--json", "--fail-on-breach", "--indeterminate-ok", trust=trust
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert json.loads(allowed.stdout)["outcome"]["gate"] == "pass"


def test_a_stricter_policy_threshold_turns_a_pass_into_a_breach(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    trust = policy_store(
        parties,
        tmp_path,
        "--threshold",
        "fairness.demographic_parity_diff=0.01",
        "--threshold",
        "fairness.max_gap=0.3",
    )
    result = verify(parties, bundles["pass"], "--json", "--fail-on-breach", trust=trust)
    assert result.exit_code == 4, result.stderr
    decisions = by_name(json.loads(result.stdout)["outcome"])
    parity = decisions["demographic_parity_diff"]
    assert (parity["status"], parity["threshold"], parity["threshold_source"]) == (
        "breach",
        0.01,
        "policy",
    )
    # the policy's max_gap threshold replaces the audit's 0.6 (the max gap is about 0.35)
    gap = decisions["max_gap"]
    assert (gap["status"], gap["threshold"], gap["threshold_source"]) == ("breach", 0.3, "policy")


def test_a_reference_group_and_tau_from_the_policy_gate_the_impact_ratio(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    # against "b" (the higher rate) the ratio of "a" is about 0.91: passes 0.8, breaches 0.95
    trust = policy_store(parties, tmp_path, "--four-fifths", "0.95", "--reference-group", "b")
    result = verify(parties, bundles["pass"], "--json", "--fail-on-breach", trust=trust)
    assert result.exit_code == 4, result.stderr
    ratio = by_name(json.loads(result.stdout)["outcome"])["min_impact_ratio"]
    assert ratio["status"] == "breach" and ratio["threshold"] == 0.95
    assert 0.85 < ratio["value"] < 0.95


def test_a_tampered_bundle_fails_verification_even_with_the_flag(
    parties: Any, bundles: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(bundles["breach"].read_text())
    output = bytearray(base64.b64decode(document["outputs"][0]))
    output[100] ^= 0x04
    document["outputs"][0] = base64.b64encode(bytes(output)).decode()
    tampered = tmp_path / "tampered.bundle"
    tampered.write_text(json.dumps(document))
    result = verify(parties, tampered, "--json", "--fail-on-breach", "--indeterminate-ok")
    assert result.exit_code == 1
    failed = json.loads(result.stdout)
    assert failed["verified"] is False and "outcome" not in failed
    assert failed["reason"] == "digest_mismatch"


def test_the_trust_policy_command_sets_validates_and_lists_the_result_policy(
    tmp_path: Path,
) -> None:
    trust = tmp_path / "trust.json"
    set_ = run(
        "trust", "policy", "--trust", trust, "--threshold",
        "fairness.demographic_parity_diff=0.05", "--four-fifths", "0.8",
        "--reference-group", "male", "--json",
    )  # fmt: skip
    assert set_.exit_code == 0, set_.stderr
    expected = {
        "thresholds": {"fairness.demographic_parity_diff": 0.05},
        "four_fifths": 0.8,
        "reference_group": "male",
    }
    assert json.loads(set_.stdout)["result_policy"] == expected
    assert (
        json.loads(run("trust", "list", "--trust", trust, "--json").stdout)["result_policy"]
        == expected
    )
    assert (
        TrustStore.load(trust).result_policy.threshold("fairness.demographic_parity_diff") == 0.05
    )
    assert '"reference_group": "male"' in run("trust", "list", "--trust", trust).stdout
    for bad, field in (
        (("--threshold", "fairness.accuracy=0.1"), "threshold"),
        (("--threshold", "concordance.c_index"), "threshold"),
        (("--threshold", "drift.distance=nan"), "threshold"),
        (("--four-fifths", "1.5"), "four-fifths"),
    ):
        rejected = run("trust", "policy", "--trust", trust, *bad)
        assert rejected.exit_code == 2, bad
        assert field in rejected.stderr
    assert TrustStore.load(trust).result_policy.to_dict() == expected
    # a hand-edited store with an unknown metric is refused when loaded
    document = json.loads(trust.read_text())
    document["result_policy"]["thresholds"]["fairness.made_up"] = 0.1
    trust.write_text(json.dumps(document))
    listed = run("trust", "list", "--trust", trust)
    assert listed.exit_code == 2 and "result_policy.thresholds.fairness.made_up" in listed.stderr


def test_fail_on_breach_gates_a_shell_pipeline(parties: Any, bundles: dict[str, Path]) -> None:
    def pipeline(bundle: Path) -> subprocess.CompletedProcess[str]:
        command = " ".join(
            shlex.quote(str(part))
            for part in (
                BIN / "regaudit-regulator", "verify", bundle, "--identity",
                parties.regulator_dir, "--trust", parties.trust_path, "--short",
                "--fail-on-breach",
            )
        )  # fmt: skip
        return subprocess.run(
            ["bash", "-c", f"{command} && echo deploy"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    breached = pipeline(bundles["breach"])
    assert breached.returncode == 4, breached.stderr
    assert "deploy" not in breached.stdout
    passed = pipeline(bundles["pass"])
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.splitlines()[-1] == "deploy"


@pytest.mark.parametrize("flag", ["--short", "--quiet"])
def test_without_the_flag_a_breach_still_exits_0(
    parties: Any, bundles: dict[str, Path], flag: str
) -> None:
    assert verify(parties, bundles["breach"], flag).exit_code == 0
