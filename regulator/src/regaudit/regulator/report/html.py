"""The self-contained HTML report: inline CSS, no scripts, no external assets, every value
escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence

from regaudit.regulator.report.model import (
    Field,
    evidence_summary,
    field_names,
    is_record_map,
    split_result,
    with_bounds,
    witness_rows,
)
from regaudit.regulator.report.values import (
    canary_text,
    decision_class,
    decision_text,
    format_bounded,
    format_value,
    is_decision,
    label,
    retention_text,
)
from regaudit.regulator.verified import VerifiedAudit

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;
color:#1b1b1b;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}
.ok{color:#0a6b2d;font-weight:600}.bad{color:#a40000;font-weight:600}
.undef{color:#7a5a00;font-style:italic}
"""


def _cell(value: object) -> str:
    text = html.escape(format_value(value))
    if value is None:
        return f'<td class="undef">{text}</td>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{text}</td>'
    return f"<td>{text}</td>"


def _decision_cell(value: object, name: str) -> str:
    return f'<td class="{decision_class(value)}">{html.escape(decision_text(value, name))}</td>'


def _kv_table(rows: Sequence[Field], *, code: bool = False) -> str:
    body = []
    for name, value in rows:
        cell = f"<td><code>{html.escape(format_value(value))}</code></td>" if code else _cell(value)
        body.append(f"<tr><th>{html.escape(name)}</th>{cell}</tr>")
    return "<table>" + "".join(body) + "</table>"


def metrics_table(metrics: list[Field]) -> str:
    """Metrics with their error bounds (``value ± bound``) where the result gives one."""
    body = []
    for name, value, bound in with_bounds(metrics):
        cell = _cell(value)
        if bound is not None and value is not None:
            cell = f'<td class="num">{html.escape(format_bounded(value, bound))}</td>'
        body.append(f"<tr><th>{html.escape(label(name))}</th>{cell}</tr>")
    return "<table>" + "".join(body) + "</table>"


def _finding_parts(digest: str | None, signer: str | None) -> tuple[str, str]:
    """(meta tags, visible line) naming the signed finding written with this report, if any."""
    if digest is None or signer is None:
        return "", ""
    esc = html.escape
    meta = (
        f'<meta name="regaudit-finding-digest" content="{esc(digest)}">'
        f'<meta name="regaudit-finding-signer" content="{esc(signer)}">'
    )
    line = (
        f'<p class="finding">Signed finding: <code>{esc(digest)}</code> (SHA-256 of the signed '
        f"finding file), signed by regulator key <code>{esc(signer)}</code>; check it with "
        "<code>regaudit-regulator verify-report</code>.</p>"
    )
    return meta, line


def render_html(
    verified: VerifiedAudit,
    *,
    finding_digest: str | None = None,
    finding_signer: str | None = None,
) -> str:
    """A self-contained HTML report (inline CSS, no scripts, no external assets; every value
    escaped). With ``finding_digest`` and ``finding_signer`` (the signed finding written
    alongside, :mod:`regaudit.regulator.findings`) the report names it in a meta tag and a
    visible line."""
    result = verified.result
    metrics, decisions, maps, groups = split_result(result)
    evidence = evidence_summary(verified)
    esc = html.escape
    title = f"regaudit audit report: {verified.primitive}"
    finding_meta, finding_line = _finding_parts(finding_digest, finding_signer)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">' + finding_meta,
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        '<p class="ok">Verified: every signature, binding and the key canary checked out.</p>',
        finding_line,
        _kv_table(
            [
                ("audit id", verified.audit_id),
                ("circuit", f"{verified.circuit_id}@{verified.circuit_version}"),
                ("parameter profile", f"{verified.profile.name} ({verified.profile.profile_hash})"),
                ("rows", verified.plan.rows),
            ]
        ),
        "<h2>Metrics</h2>",
        metrics_table(metrics),
    ]
    if groups:
        columns = field_names(groups.values())
        head = "".join(f"<th>{esc(label(c))}</th>" for c in ["group", *columns])
        rows = "".join(
            f"<tr><th>{esc(name)}</th>{''.join(_cell(fields.get(c)) for c in columns)}</tr>"
            for name, fields in groups.items()
        )
        parts += ["<h2>Per group</h2>", f"<table><tr>{head}</tr>{rows}</table>"]
    for name, mapping in maps:
        parts.append(f"<h2>{esc(label(name).capitalize())}</h2>")
        if not is_record_map(mapping):
            parts.append(_kv_table([(str(k), v) for k, v in mapping.items()]))
            continue
        record_columns = field_names(mapping.values())
        head = "".join(f"<th>{esc(label(c))}</th>" for c in ["#", *record_columns])
        body = "".join(
            f"<tr><th>{esc(str(key))}</th>"
            + "".join(
                _decision_cell(record.get(c), c) if is_decision(c) else _cell(record.get(c))
                for c in record_columns
            )
            + "</tr>"
            for key, record in mapping.items()
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    if decisions:
        rows = "".join(
            f"<tr><th>{esc(label(name))}</th>{_decision_cell(value, name)}</tr>"
            for name, value in decisions
        )
        parts += ["<h2>Decisions</h2>", f"<table>{rows}</table>"]
    undefined = result.get("undefined")
    if undefined:
        items = "".join(f"<li><code>{esc(str(item))}</code></li>" for item in undefined)
        parts += [
            "<h2>Undefined values</h2>",
            "<p>Zero denominator: reported as undefined, not 0.</p>",
            f"<ul>{items}</ul>",
        ]
    client, evaluator, depth = evidence["client"], evidence["evaluator"], evidence["depth"]
    evidence_rows: list[Field] = [
        ("bundle digest", evidence["bundle_digest"]),
        ("client key", client["key_id"]),
        ("submission signed", client["signed_at"]),
        ("evaluator key", evaluator["key_id"]),
        ("evaluation job", evaluator["job_id"]),
        ("evaluated", f"{evaluator['started_at']} .. {evaluator['finished_at']}"),
        ("receipt digest", evaluator["receipt_digest"]),
        ("evaluation keys digest", evaluator["evaluation_keys_digest"]),
        ("inputs manifest digest", evaluator["inputs_manifest_digest"]),
        ("input ciphertexts", evaluator["input_ciphertexts"]),
        ("deleted at job end", retention_text(evaluator["retention"])),
        (
            "depth (planned / observed / profile max)",
            f"{depth['planned']} / {depth['observed']} / {depth['profile_max']}",
        ),
        ("key canary", canary_text(verified.canary.passed, verified.canary.tolerance)),
        ("sealed key digest", evidence["sealed_key"]["digest"]),
        ("regulator key", verified.regulator_key_id),
        *((f"commitment {name}", d) for name, d in client["input_commitments"].items()),
        *((f"output {o['name']}", o["digest"]) for o in evaluator["outputs"]),
    ]
    parts += [
        "<h2>Evidence</h2>",
        _kv_table(evidence_rows, code=True),
        "<h2>Witness evaluators</h2>",
        _kv_table(witness_rows(evidence["witnesses"]), code=True),
        "<h2>Operation counts</h2>",
        _kv_table([(label(k), v) for k, v in evidence["operation_counts"].items()]),
        "<h2>Checks passed (in order)</h2>",
        "<ol>" + "".join(f"<li>{esc(name)}</li>" for name in verified.checks) + "</ol>",
        f"<p>Verified at {esc(evidence['verified_at'])}.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


__all__ = ["metrics_table", "render_html"]
