"""The plain-text report the ``regaudit-regulator verify`` command prints: the report document
(:mod:`~regaudit.regulator.report.document`) in the HTML's order, headline first, with ASCII
tables and a one-line bar per plotted item instead of charts."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from regaudit.regulator.report.document import ReportDocument, build_document
from regaudit.regulator.report.plots import Plot, number
from regaudit.regulator.report.sections import Table
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.evidence.truststore import TrustStore

#: Width of the text report (wrapping of sentences).
WIDTH = 96
#: Width of a one-line bar at the plot's largest absolute value.
BAR_WIDTH = 30


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in header] if header else [0] * len(rows[0])
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    head = [line(header), line(["-" * w for w in widths])] if header else []
    return [*head, *(line(row) for row in rows)]


def _heading(title: str, underline: str = "-") -> list[str]:
    return ["", title, underline * len(title)]


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def table_lines(table: Table) -> list[str]:
    """A document table as indented ASCII lines (empty tables print nothing)."""
    if not table["rows"]:
        return []
    rows = [[c["text"] for c in row] for row in table["rows"]]
    return ["  " + line for line in _table(table["columns"], rows)]


def plot_lines(plot: Plot) -> list[str]:
    """A plot as one ``#`` bar per item, its interval, marks and reference lines."""
    scale = max(
        [abs(b["value"]) for b in plot["bars"] if b["value"] is not None]
        + [abs(line["value"]) for line in plot["lines"]]
        + [1e-12]
    )
    width = max((len(b["label"]) for b in plot["bars"]), default=0)
    out = [f"  {plot['title']} [{plot['name']}]"]
    for b in plot["bars"]:
        if b["value"] is None:
            shown = "(undefined: shown as a gap, not 0)"
        else:
            shown = "#" * round(BAR_WIDTH * abs(b["value"]) / scale) + f" {number(b['value'])}"
            if b["low"] is not None and b["high"] is not None:
                shown += f" [{number(b['low'])}, {number(b['high'])}]"
        mark = f"  <- {b['mark']}" if b["marked"] else ""
        out.append(f"    {b['label'].ljust(width)}  {shown}{mark}")
    out += [f"    line: {line['label']} = {number(line['value'])}" for line in plot["lines"]]
    return out


def document_text(doc: ReportDocument) -> str:
    """The text of a report document."""
    authenticity = doc["headline"]["authenticity"]
    findings = doc["headline"]["findings"]
    out = [
        doc["title"],
        "=" * 60,
        f"audit id   {doc['audit_id']}",
        f"circuit    {doc['circuit']}",
        f"profile    {doc['profile']}",
        f"rows       {doc['data']['rows']} in {doc['data']['chunks']} chunk(s)",
    ]
    if doc["finding"] is not None:
        out.append(f"finding    {doc['finding']['digest']} signed by {doc['finding']['signer']}")
    out += _heading(authenticity["question"])
    out.append(f"  VERIFIED: {str(authenticity['answer']).upper()}")
    out += _wrap(authenticity["summary"])
    out += _heading(findings["question"])
    out.append(f"  OUTCOME: {str(findings['outcome']).upper()}")
    out += _wrap(findings["summary"])
    if findings["decisions"]:
        rows = [
            [
                str(d["status"]).upper(),
                d["label"],
                d["value_text"],
                d["requirement"],
                d["threshold_source"],
            ]
            for d in findings["decisions"]
        ]
        header = ["status", "decision", "value", "must be", "threshold from"]
        out += ["  " + line for line in _table(header, rows)]
    out += _wrap(findings["basis"])
    if findings.get("release_note"):
        out += _wrap(findings["release_note"])
    if doc["plots"]:
        out += _heading("Plots")
        for plot in doc["plots"]:
            out += plot_lines(plot)
    out += _heading("Definitions")
    for item in doc["definitions"]:
        out += _wrap(f"{item['term']}: {item['definition']}")
    if doc["bias_audit"] is not None:
        audit = doc["bias_audit"]
        out += _heading(audit["table"]["title"])
        out += _wrap(
            f"reference group: {audit['reference']}; rows {audit['rows']}; rows with unknown "
            f"category: {audit['unknown_rows']}; excluded: "
            f"{', '.join(audit['excluded']) or 'none'}"
        )
        out += table_lines(audit["table"])
    out += _heading("Full result")
    for table in doc["result"]:
        out += ["", f"  {table['title']}", *table_lines(table)]
    if doc["differential_privacy"] is not None:
        out += _heading("Differential privacy")
        out += _wrap(doc["differential_privacy"]["note"])
        out += table_lines(doc["differential_privacy"]["table"])
    data = doc["data"]
    out += _heading("Data")
    out += [f"  rows     {data['rows']}", f"  columns  {', '.join(data['columns'])}"]
    out += [
        f"  {item['label']}  {item['value']} ({data['declared_note']})" for item in data["declared"]
    ]
    out += _heading("Parties")
    out += [f"  {p['role']}: {p['display']}" for p in doc["parties"]]
    out += _heading("Checks passed (in order)")
    for index, check in enumerate(doc["checks"], start=1):
        out += _wrap(f"{index}. {check['name']}: {check['explanation']}")
    out += _heading("What this evidence does not prove")
    for limitation in doc["limitations"]:
        out += _wrap(f"- {limitation}")
    out += _heading("Evidence digests")
    for table in doc["evidence"]:
        out += ["", f"  {table['title']}", *table_lines(table)]
    out += ["", f"Verified at {doc['verified_at']}."]
    return "\n".join(out) + "\n"


def render_text(
    verified: VerifiedAudit,
    *,
    trust: TrustStore | None = None,
    finding_digest: str | None = None,
    finding_signer: str | None = None,
) -> str:
    """The human-readable report the CLI prints (the decisions under ``trust``'s result
    policy, else the audit's own thresholds)."""
    document = build_document(
        verified, trust=trust, finding_digest=finding_digest, finding_signer=finding_signer
    )
    return document_text(document)


__all__ = ["document_text", "plot_lines", "render_text", "table_lines"]
