"""The examples in ``examples/`` actually run (each as its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from integration_harness import ROOT, numpy_drift

EXAMPLES = ROOT / "examples"
TIMEOUT_S = 300.0


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_01_local_audit(tmp_path: Path) -> None:
    out = _run(sys.executable, EXAMPLES / "01_local_audit.py", cwd=tmp_path).stdout
    assert "demographic parity diff" in out and "concordance: C = " in out
    assert "provenance: top-3 buckets" in out


def test_02_then_03_library_round_trip(tmp_path: Path) -> None:
    work = tmp_path / "run"
    out = _run(sys.executable, EXAMPLES / "02_client_to_regulator.py", work, cwd=tmp_path).stdout
    assert (work / "concordance.bundle").is_file(), out
    verified = _run(sys.executable, EXAMPLES / "03_regulator_verify.py", work, cwd=tmp_path)
    assert "VERIFIED" in verified.stdout and "c_index = " in verified.stdout
    assert (work / "concordance-report.html").read_text().startswith("<!DOCTYPE html>")


def test_05_dataframe_audit_writes_no_data(tmp_path: Path) -> None:
    out = _run(sys.executable, EXAMPLES / "05_dataframe_audit.py", cwd=tmp_path).stdout
    assert (
        "in process on ckks-" in out and "seed-compatible view: {'demographic_parity_diff'" in out
    )
    assert "client and regulator agree: True" in out
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran (keys went to a temp dir)


def test_06_ll144_bias_audit_on_rossi(tmp_path: Path) -> None:
    out = _run(sys.executable, EXAMPLES / "06_ll144_bias_audit.py", cwd=tmp_path).stdout
    assert "Selection rates (flagged high-risk)" in out and "rate: scoring rate" in out
    assert "unknown category: 12 of 432 rows" in out and "  small  " in out
    assert "encrypted and plaintext tables agree: True" in out


def test_04_cli_round_trip(tmp_path: Path) -> None:
    import os

    work = tmp_path / "cli"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "04_cli_roundtrip.sh"), str(work)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "verified drift audit" in result.stdout
    document = json.loads((work / "drift-result.json").read_text())
    payload = json.loads((work / "drift.json").read_text())
    import numpy as np

    distance, w1 = numpy_drift(
        np.asarray(payload["p"], float), np.asarray(payload["q"], float), payload["bin_width"]
    )
    assert document["verified"] is True
    assert abs(document["result"]["distance"] - distance) <= 1e-6
    assert abs(document["result"]["w1_distance"] - w1) <= document["result"]["w1_error_bound"]
