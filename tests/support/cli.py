"""Run a role's command line (``python -m regaudit.<role>``) as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The repository root (the tests' working directory for the subprocesses).
ROOT = Path(__file__).resolve().parents[2]


def cli(
    role: str, *args: str | Path, check: bool = False, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run ``regaudit-<role>`` as a real subprocess (``check``: fail with its output on a
    non-zero exit)."""
    command = [sys.executable, "-m", f"regaudit.{role}", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}"
        )
    return result


__all__ = ["ROOT", "cli"]
