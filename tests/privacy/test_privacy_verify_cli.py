"""``regaudit-regulator verify --dp-epsilon``: the command line's DP release, on real bundles
(real SEAL, real signatures) with a copy of the regulator identity per test (its privacy
ledger): within the budget it releases and charges, past it it refuses (exit 2) without
printing anything of the exact result and without charging; a decision on the four-fifths line
becomes indeterminate, so the gate of --fail-on-breach says so; an evidence pack carries the
release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from privacy.conftest import near_four_fifths_payload
from regulator.conftest import build_bundle, fairness_payload
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.result_policy import EXIT_BREACH
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def bundle_files(parties: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("dp-bundles")
    made = {
        "breach": fairness_payload(400, seed=5),
        "near": near_four_fifths_payload(),
    }
    return {
        name: build_bundle(parties, parse_fairness_input(payload)).write(
            directory / f"{name}.bundle"
        )
        for name, payload in made.items()
    }


@pytest.fixture
def identity(parties: Any, tmp_path: Path) -> Path:
    """A copy of the regulator identity: its own ledger and replay database."""
    copy = tmp_path / "regulator"
    shutil.copytree(parties.regulator_dir, copy)
    return copy


def budget(identity: Path, parties: Any, epsilon: float) -> None:
    result = run(
        "privacy",
        "budget",
        "--identity",
        identity,
        "--client",
        parties.client.key_id,
        "--epsilon",
        str(epsilon),
    )
    assert result.exit_code == 0, result.stdout + result.stderr


def verify(identity: Path, parties: Any, bundle: Path, *extra: str | Path) -> Any:
    return run(
        "verify", bundle, "--identity", identity, "--trust", parties.trust_path, "--json", *extra
    )


def spent(identity: Path) -> float:
    result = run("privacy", "ledger", "--identity", identity, "--json")
    assert result.exit_code == 0, result.stderr
    ledger = json.loads(result.stdout)
    return sum(float(release["epsilon"]) for release in ledger["releases"])


def test_a_release_within_budget_is_charged_and_the_next_past_it_is_refused(
    identity: Path, parties: Any, bundle_files: dict[str, Path]
) -> None:
    budget(identity, parties, 1.0)
    first = verify(identity, parties, bundle_files["breach"], "--dp-epsilon", "0.6")
    assert first.exit_code == 0, first.stdout + first.stderr
    release = json.loads(first.stdout)["result"]["differential_privacy"]
    assert release["epsilon"] == 0.6
    assert spent(identity) == pytest.approx(0.6)
    second = verify(identity, parties, bundle_files["breach"], "--dp-epsilon", "0.6")
    assert second.exit_code == 2
    failure = json.loads(second.stdout)
    assert failure["reason"] == "privacy_budget_exceeded"
    assert "groups" not in second.stdout and "selection_rate" not in second.stdout
    assert spent(identity) == pytest.approx(0.6)  # nothing charged for the refusal


def test_no_budget_means_no_release(
    identity: Path, parties: Any, bundle_files: dict[str, Path]
) -> None:
    result = verify(identity, parties, bundle_files["breach"], "--dp-epsilon", "0.5")
    assert result.exit_code == 2
    assert "budget" in json.loads(result.stdout)["message"]
    assert "groups" not in result.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--dp-delta", "1e-6"), "dp-delta"),
        (("--dp-epsilon", "-1"), "epsilon"),
        (("--dp-epsilon", "nan"), "epsilon"),
        (("--dp-epsilon", "0.5", "--dp-delta", "1.5"), "delta"),
    ],
)
def test_bad_privacy_parameters_exit_2(
    identity: Path,
    parties: Any,
    bundle_files: dict[str, Path],
    args: tuple[str, ...],
    field: str,
) -> None:
    budget(identity, parties, 5.0)
    result = verify(identity, parties, bundle_files["breach"], *args)
    assert result.exit_code == 2, result.stdout
    assert json.loads(result.stdout)["field"] == field
    assert spent(identity) == 0.0


#: Releases tried until one lands within its noise of the four-fifths line (each does with
#: probability about 0.9, so five all missing happens about once in 10^5 runs).
NEAR_LINE_TRIES = 5


def test_the_gate_treats_a_decision_the_noise_could_flip_as_indeterminate(
    identity: Path, parties: Any, bundle_files: dict[str, Path]
) -> None:
    """Impact ratio exactly 0.8 (the four-fifths line), released under DP: the gate's status is
    indeterminate exactly when the released ratio lies within its noise interval's half-width
    of 0.8 (checked on every release), and then --fail-on-breach exits 4 without
    --indeterminate-ok and 0 with it."""
    budget(identity, parties, 2.0 * NEAR_LINE_TRIES)
    seen: list[str] = []
    for _ in range(NEAR_LINE_TRIES):
        gated = verify(
            identity, parties, bundle_files["near"], "--dp-epsilon", "1", "--fail-on-breach"
        )
        document = json.loads(gated.stdout)
        decision = {d["name"]: d for d in document["outcome"]["decisions"]}["min_impact_ratio"]
        low, high = document["result"]["differential_privacy"]["flip_analysis"]["noise_intervals"][
            "demographic_parity_ratio"
        ]
        value = document["result"]["demographic_parity_ratio"]
        bound = max(abs(value - low), abs(high - value))
        within = abs(decision["value"] - 0.8) <= bound
        assert (decision["status"] == "indeterminate") == within, (decision, bound)
        assert gated.exit_code == (0 if decision["status"] == "pass" else EXIT_BREACH)
        seen.append(decision["status"])
        if decision["status"] == "indeterminate":
            break
    assert seen[-1] == "indeterminate", seen
    allowed = verify(
        identity,
        parties,
        bundle_files["near"],
        "--dp-epsilon",
        "1",
        "--fail-on-breach",
        "--indeterminate-ok",
    )
    outcome = json.loads(allowed.stdout)["outcome"]
    statuses = {d["status"] for d in outcome["decisions"]}
    assert allowed.exit_code == (EXIT_BREACH if "breach" in statuses else 0)
    assert spent(identity) == pytest.approx(len(seen) + 1.0)


def test_an_evidence_pack_carries_the_release(
    identity: Path, parties: Any, bundle_files: dict[str, Path], tmp_path: Path
) -> None:
    budget(identity, parties, 1.0)
    pack = tmp_path / "pack"
    result = verify(
        identity, parties, bundle_files["breach"], "--dp-epsilon", "0.5", "--evidence-pack", pack
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    document = json.loads((pack / "report.json").read_text())
    assert document["result"]["differential_privacy"]["epsilon"] == 0.5
    html = (pack / "report.html").read_text()
    assert 'id="release-note"' in html  # said in the headline, not only in a later section
    assert "Released under differential privacy (epsilon 0.5" in html
    assert "Released under differential privacy" in (pack / "report.txt").read_text()
    assert document["report"]["headline"]["findings"]["release_note"].startswith("Released")
    assert spent(identity) == pytest.approx(0.5)
