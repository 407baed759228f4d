"""``regaudit-client audit fairness --group sex --group race`` (repeatable) and ``--group
sex,race``: both reach the table loader as two group columns (intersectional categories, see
tests/primitives/fairness/test_fairness_bias_audit.py). Through the real command line, in
process; nothing listens at the evaluator address, so a valid input ends in exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from regaudit.client.cli import EXIT_USAGE, app

runner = CliRunner()
NOWHERE = "127.0.0.1:9"
CSV = "label,pred,sex,race\n1,1,female,black\n0,1,male,white\n1,0,female,white\n0,0,male,black\n"


def _audit(tmp_path: Path, card: Path, identity: Path, *group: str) -> tuple[int, str]:
    path = tmp_path / "hiring.csv"
    path.write_text(CSV)
    args = [
        "audit", "fairness", "--input", str(path), "--evaluator", NOWHERE,
        "--regulator-card", str(card), "--identity", str(identity),
        "--out", str(tmp_path / "out.bundle"), "--quiet",
        "--y-true", "label", "--y-pred", "pred", *group,
    ]  # fmt: skip
    result = runner.invoke(app, args)
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    "group", [("--group", "sex", "--group", "age"), ("--group", "sex,age")], ids=["repeat", "comma"]
)
def test_every_group_column_is_looked_up(
    tmp_path: Path, regulator_card_file: Path, client_identity_dir: Path, group: tuple[str, ...]
) -> None:
    code, stderr = _audit(tmp_path, regulator_card_file, client_identity_dir, *group)
    assert code == EXIT_USAGE, stderr
    assert "column 'age'" in stderr and "columns found: label, pred, sex, race" in stderr


@pytest.mark.parametrize(
    "group",
    [("--group", "sex", "--group", "race"), ("--group", "sex,race")],
    ids=["repeat", "comma"],
)
def test_two_group_columns_pass_the_input_checks(
    tmp_path: Path, regulator_card_file: Path, client_identity_dir: Path, group: tuple[str, ...]
) -> None:
    code, stderr = _audit(tmp_path, regulator_card_file, client_identity_dir, *group)
    assert code == 3, stderr  # the input was accepted; the evaluator is unavailable


def test_bias_audit_options_reach_the_public_inputs(
    tmp_path: Path, regulator_card_file: Path, client_identity_dir: Path
) -> None:
    group = ("--group", "sex", "--group", "race")
    code, stderr = _audit(
        tmp_path, regulator_card_file, client_identity_dir, *group,
        "--reference-group", "male & white", "--exclude-small", "true",
    )  # fmt: skip
    assert code == 3, stderr
    code, stderr = _audit(
        tmp_path, regulator_card_file, client_identity_dir, *group, "--reference-group", "male"
    )
    assert code == EXIT_USAGE and "reference_group" in stderr, stderr
    code, stderr = _audit(
        tmp_path, regulator_card_file, client_identity_dir, *group, "--exclude-small", "3"
    )
    assert code == EXIT_USAGE and "exclude_small" in stderr, stderr
