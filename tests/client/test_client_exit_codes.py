"""The client's exit code 3: an unreachable evaluator ends an otherwise valid audit with exit
code 3 through the shared CLI failure path (EvaluatorUnavailableError and ProtocolError
declare it; nothing in the command line decides it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from regaudit.client.cli import EXIT_EVALUATOR_FAILED, app

#: An address nothing listens on.
NOWHERE = "127.0.0.1:9"


def test_an_unreachable_evaluator_exits_3(
    regulator_card_file: Path,
    client_identity_dir: Path,
    make_payload: Callable[..., dict[str, Any]],
    write_json: Callable[..., Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.bundle"
    args = [
        "audit",
        "fairness",
        "--input",
        str(write_json(make_payload())),
        "--evaluator",
        NOWHERE,
        "--regulator-card",
        str(regulator_card_file),
        "--identity",
        str(client_identity_dir),
        "--out",
        str(out),
        "--timeout",
        "20",
        "--quiet",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_EVALUATOR_FAILED == 3, (result.exit_code, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith("]"), last
    assert not out.exists()
