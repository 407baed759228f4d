"""What the dispute tests share: the audited table and the audits made by the client command
line (the fixtures are in conftest.py)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from support.cli import ROOT
from support.parties import Parties

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
#: Rows of the sample table the audits use (small: the dispute, not the audit, is tested).
AUDIT_ROWS = 300
COLUMN_OPTIONS = (
    "--column",
    "y_true=y_true",
    "--column",
    "y_pred=y_pred",
    "--column",
    "group=group",
)


@dataclass(frozen=True)
class Audit:
    """One finished audit: its bundle, its id and the table it audited."""

    bundle: Path
    audit_id: str
    table: Path
    rows: list[dict[str, str]]


def _run_audit(
    parties: Parties, root: Path, name: str, table: Path, rows: list[dict[str, str]]
) -> Audit:
    bundle = root / f"{name}.bundle"
    audited = parties.audit(table, bundle, *COLUMN_OPTIONS, "--json", "--quiet")
    assert audited.returncode == 0, audited.stderr
    audit_id = json.loads(bundle.read_text())["audit_id"]
    return Audit(bundle=bundle, audit_id=audit_id, table=table, rows=rows)


def make_audits(parties: Parties, root: Path) -> tuple[Audit, Audit]:
    """Two audits of the same table (different audits: other ids, other row seeds)."""
    with SAMPLE_CSV.open() as handle:
        rows = list(csv.DictReader(handle))[:AUDIT_ROWS]
    table = root / "table.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return (
        _run_audit(parties, root, "first", table, rows),
        _run_audit(parties, root, "second", table, rows),
    )


__all__ = ["AUDIT_ROWS", "COLUMN_OPTIONS", "SAMPLE_CSV", "Audit", "make_audits"]
