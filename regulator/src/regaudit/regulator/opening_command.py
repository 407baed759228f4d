"""``regaudit-regulator check-opening BUNDLE OPENING --trust TRUST.json [--json]``: check a
client's row opening against the bundle's signed row commitment
(:func:`regaudit.regulator.opening_checks.check_opening`) and print the opened rows and what
they imply.

Exit codes: 0 the opening holds; 1 it does not (``REJECTED: <reason>`` on stdout, the reason
and message on stderr); 2 bad input (a missing or unreadable file, no trust store).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from regaudit.regulator.check_command import fail_check, required_trust_store
from regaudit.shared.errors import InputError, InternalError, RegauditError

#: Largest opening file read (the statement cap, base64 and the envelope around it).
MAX_OPENING_FILE_BYTES = 12 * 1024 * 1024


def read_opening(path: Path) -> dict[str, Any]:
    """The opening envelope in ``path`` (InputError if missing, unreadable or not JSON: bad
    input, exit 2)."""
    from regaudit.shared.evidence.canonical import strict_json_loads

    if not path.is_file():
        raise InputError(f"opening file {path} does not exist", field="opening")
    if path.stat().st_size > MAX_OPENING_FILE_BYTES:
        raise InputError(
            f"opening file {path} is over {MAX_OPENING_FILE_BYTES} bytes", field="opening"
        )
    try:
        document = strict_json_loads(path.read_bytes(), what="opening")
    except (OSError, RegauditError) as exc:
        raise InputError(f"{path} is not a JSON opening file: {exc}", field="opening") from exc
    if not isinstance(document, dict):
        raise InputError(f"{path} must hold a JSON object (a DSSE envelope)", field="opening")
    return document


def _number(value: float) -> str:
    return f"{value:g}"


def _counts_table(title: str, per_group: dict[str, dict[str, int]]) -> list[str]:
    names = ("rows", "predicted_positive", "positive", "true_positive")
    present = [name for name in names if any(name in counts for counts in per_group.values())]
    lines = ["", title, "  " + "group".ljust(15) + "  ".join(name.rjust(8) for name in present)]
    for group, counts in per_group.items():
        cells = "  ".join(str(counts.get(name, "")).rjust(max(8, len(name))) for name in present)
        lines.append(f"  {group:<15}{cells}")
    return lines


def render_opening_text(document: dict[str, Any]) -> str:
    """The human-readable report of a passed check (from :func:`opening_json`'s object)."""
    columns: list[str] = document["columns"]
    rows = document["opened_rows"]
    whole = document["opened_columns"]
    opened = [f"{len(rows)} row{'s' if len(rows) != 1 else ''}"] if rows else []
    if whole:
        opened.append(f"{len(whole)} whole column{'s' if len(whole) != 1 else ''}")
    lines = [
        f"Opening OK: {' and '.join(opened)} of audit {document['audit_id']} "
        f"({document['primitive']}) open the commitments the client signed in its submission",
        f"  row root      {document['row_root']} ({document['rows_committed']} rows)",
        f"  client key    {document['client_key_id']}",
    ]
    if rows:
        cells = [[_number(row["values"][name]) for name in columns] for row in rows]
        widths = [
            max([len(name)] + [len(line[k]) for line in cells]) for k, name in enumerate(columns)
        ]
        header = "  ".join(name.rjust(width) for name, width in zip(columns, widths, strict=True))
        lines += ["", "  " + "row".ljust(8) + header]
        for row, line in zip(rows, cells, strict=True):
            values = "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
            lines.append("  " + str(row["index"]).ljust(8) + values)
    if whole:
        lines += ["", "  whole columns: " + ", ".join(column["name"] for column in whole)]
    implications = document["implications"]
    if "per_group" in implications:
        lines += _counts_table(
            "What the opened rows contribute to the per-group counts:", implications["per_group"]
        )
        if implications["unassigned_rows"]:
            lines.append(f"  (in no group: {implications['unassigned_rows']})")
    if "column_totals" in implications:
        lines += _counts_table(
            "Per-group totals of the opened columns (must equal the released counts):",
            implications["column_totals"],
        )
    lines += ["", "Nothing is proved about what was not opened."]
    return "\n".join(lines) + "\n"


def check_opening_command(
    bundle: Annotated[Path, typer.Argument(help="The audit bundle file.")],
    opening: Annotated[Path, typer.Argument(help="The opening file (regaudit-client open).")],
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Trust store file (JSON).", show_default=False)
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")
    ] = False,
) -> None:
    """Check a client's row opening against the bundle: signed by the audit's client key,
    bound to its submission, every row's Merkle proof leads to the signed row root; then
    print the rows and what they imply."""
    from regaudit.regulator.opening_checks import check_opening, opening_json
    from regaudit.shared.bundle import AuditBundle
    from regaudit.shared.cli_failure import fail, report_errors_as_json

    report_errors_as_json(as_json)
    try:
        store = required_trust_store(trust)
        if not bundle.is_file():
            raise InputError(f"bundle file {bundle} does not exist", field="bundle")
        envelope = read_opening(opening)
        parsed = AuditBundle.read(bundle)
        document = opening_json(check_opening(parsed, envelope, trust=store))
    except RegauditError as error:
        fail_check(error, as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - a crash must never look like "accepted"
        fail(InternalError(f"the check crashed: {type(exc).__name__}: {exc}"))
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(render_opening_text(document), nl=False)


__all__ = [
    "MAX_OPENING_FILE_BYTES",
    "check_opening_command",
    "read_opening",
    "render_opening_text",
]
