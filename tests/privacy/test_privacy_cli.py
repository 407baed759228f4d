"""``regaudit-regulator privacy budget`` and ``privacy ledger`` (typer's CliRunner on the
sub-app the regulator's program registers as ``privacy``)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from regaudit.regulator.privacy_command import privacy_app, release_verified
from regaudit.regulator.verified import VerifiedAudit

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    outcome = runner.invoke(privacy_app, list(args))
    return outcome.exit_code, outcome.output


def test_budgets_are_set_and_the_ledger_lists_budgets_spending_and_releases(
    verified: dict[str, VerifiedAudit], identity: Path
) -> None:
    audit = verified["breach"]
    client = audit.submission.client_key_id
    code, output = invoke("budget", "--identity", str(identity), "--default", "--epsilon", "2")
    assert code == 0, output
    assert "default: epsilon 2, delta 0" in output
    code, output = invoke(
        "budget", "--identity", str(identity), "--client", client, "--dataset", "hiring",
        "--epsilon", "0.5", "--delta", "1e-6",
    )  # fmt: skip
    assert code == 0, output
    released = release_verified(audit, identity=identity, epsilon=0.75, seed=3)
    assert released.result["differential_privacy"]["flip_analysis"]["seed"] == 3
    code, output = invoke("ledger", "--identity", str(identity), "--json")
    assert code == 0, output
    listing = json.loads(output)
    assert listing["ok"] is True
    assert {(b["client"], b["dataset"], b["epsilon"], b["delta"]) for b in listing["budgets"]} == {
        (None, None, 2.0, 0.0),
        (client, "hiring", 0.5, 1e-6),
    }
    (release,) = listing["releases"]
    assert (release["audit_id"], release["epsilon"], release["delta"]) == (audit.audit_id, 0.75, 0)
    assert release["released_at"]
    (spent,) = listing["spending"]
    assert spent["epsilon_spent"] == 0.75 and spent["budget"]["scope"] == "default"
    code, output = invoke("ledger", "--identity", str(identity))
    assert code == 0, output
    assert audit.audit_id in output and "epsilon 0.75" in output
    assert f"{client}/hiring: epsilon 0.5, delta 1e-06" in output


def test_bad_budgets_exit_2_with_the_field_named(identity: Path) -> None:
    for args, field in (
        (["--default", "--epsilon", "0"], "epsilon"),
        (["--default", "--epsilon", "nan"], "epsilon"),
        (["--default", "--epsilon", "1", "--delta", "1"], "delta"),
        (["--epsilon", "1"], "client"),
        (["--default", "--client", "k", "--epsilon", "1"], "client"),
    ):
        code, output = invoke("budget", "--identity", str(identity), *args)
        assert code == 2, (args, output)
        assert f"{field}:" in output, (args, output)
    code, output = invoke("ledger", "--identity", str(identity), "--json")
    assert json.loads(output)["budgets"] == []


def test_a_missing_identity_directory_is_bad_input(tmp_path: Path) -> None:
    code, output = invoke("ledger", "--identity", str(tmp_path / "nowhere"))
    assert code == 2
    assert "identity:" in output and "not a directory" in output and "[invalid_identity]" in output
