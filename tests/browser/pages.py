"""What the browser tests share besides the browser: the rendered report and its artifacts."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from regaudit.regulator.result_policy import Decision
from regaudit.regulator.verified import VerifiedAudit

__all__ = ["ReportPage", "keep_artifact"]


@dataclass(frozen=True)
class ReportPage:
    """The rendered report on disk, the verified audit behind it and its expected decisions."""

    path: Path
    verified: VerifiedAudit
    decisions: list[Decision]


def keep_artifact(path: Path, artifacts: Path) -> Path:
    """Copy ``path`` into the artifacts directory (unless it is already there); return the
    copy."""
    target = artifacts / path.name
    if target.resolve() != path.resolve():
        shutil.copyfile(path, target)
    return target
