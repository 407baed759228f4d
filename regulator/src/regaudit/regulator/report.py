"""Reports of a verified audit: plain text (the CLI), self-contained HTML, and JSON.

The renderers are generic over primitives: scalar metrics (shown as ``value ± bound`` when the
result has an ``X_error_bound`` field), a per-group table (any ``groups`` mapping of name ->
fields), maps of per-item values (``impact_ratios``...) and lists of records (drift's
``features``) as tables, decisions (fields ending in ``_breached`` or ``_detected``) and the
evidence summary. A value of ``None`` is printed as "undefined" (a rate with a zero
denominator), never as 0; a decision of ``None`` is "indeterminate (undefined)" and a decision
of ``"indeterminate"`` (the result lies within its error bound of the threshold) is
"INDETERMINATE".
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from regaudit.regulator.verify import VerifiedAudit
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.canonical import format_rfc3339
from regaudit.shared.release import scrub_message

#: How undefined values appear in text and HTML reports.
UNDEFINED = "undefined"
#: Decision fields end with one of these suffixes (``threshold_breached``, ``drift_detected``).
DECISION_SUFFIXES = ("_breached", "_detected")
DECISION_SUFFIX = DECISION_SUFFIXES[0]
#: A decision within its result's error bound of the threshold has this value.
INDETERMINATE = "indeterminate"
#: A metric ``X`` with a field ``X_error_bound`` is shown as ``X ± bound``.
ERROR_BOUND_SUFFIX = "_error_bound"
#: Significant digits of floats in text and HTML reports. The result itself is already rounded
#: by each circuit's decoder to the precision its error bound supports
#: (``regaudit.shared.release``); JSON carries those released values unchanged.
FLOAT_DIGITS = 6
#: Result fields that are not metrics (shown elsewhere or not at all).
_NON_METRIC_FIELDS = frozenset({"groups", "undefined"})

JSON_SCHEMA_ID = "regaudit.regulator.result.v1"


# --- value formatting -------------------------------------------------------------------------


def _format(value: Any) -> str:
    if value is None:
        return UNDEFINED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return UNDEFINED
        return f"{value:.{FLOAT_DIGITS}g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(item) for item in value) or "-"
    return str(value)


def _decision(value: Any, name: str = DECISION_SUFFIX) -> str:
    """``BREACHED`` / ``not breached`` (``DETECTED`` / ``not detected`` for ``*_detected``);
    an undefined decision or one within the error bound of its threshold is indeterminate."""
    if value is None:
        return "indeterminate (undefined)"
    if isinstance(value, str):
        if value == INDETERMINATE:
            return "INDETERMINATE (within the error bound of the threshold)"
        return value
    verb = "detected" if name.endswith("_detected") else "breached"
    return verb.upper() if value else f"not {verb}"


def _decision_class(value: Any) -> str:
    if value is None or isinstance(value, str):
        return "undef"
    return "bad" if value else "ok"


def _is_decision(name: str) -> bool:
    return name.endswith(DECISION_SUFFIXES)


def _is_record_list(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )


def _with_bounds(
    metrics: list[tuple[str, Any]],
) -> list[tuple[str, Any, Any]]:
    """(name, value, error bound or None): ``X_error_bound`` fields fold into their ``X``."""
    values = dict(metrics)
    owner: dict[str, str] = {}
    for name, _ in metrics:
        bound = _bound_field(name, values)
        if bound is not None:
            owner[bound] = name
    rows: list[tuple[str, Any, Any]] = []
    for name, value in metrics:
        if name in owner:
            continue
        bound = _bound_field(name, values)
        rows.append((name, value, values[bound] if bound is not None else None))
    return rows


def _bound_field(name: str, values: Mapping[str, Any]) -> str | None:
    """The error-bound field of metric ``name``: ``X_error_bound``, or for ``P_distance`` also
    ``P_error_bound`` (``w1_distance`` -> ``w1_error_bound``)."""
    if name.endswith(ERROR_BOUND_SUFFIX):
        return None
    candidates = [name + ERROR_BOUND_SUFFIX]
    if name.endswith("_distance"):
        candidates.append(name[: -len("_distance")] + ERROR_BOUND_SUFFIX)
    for candidate in candidates:
        if candidate in values and isinstance(values[candidate], int | float):
            return candidate
    return None


def _format_bounded(value: Any, bound: Any) -> str:
    if bound is None or value is None:
        return _format(value)
    return f"{_format(value)} ± {_format(bound)}"


def _label(name: str) -> str:
    return name.replace("_", " ")


def _split_result(
    result: Mapping[str, Any],
) -> tuple[
    list[tuple[str, Any]],
    list[tuple[str, Any]],
    list[tuple[str, Mapping[str, Any]]],
    Mapping[str, Mapping[str, Any]],
]:
    """(scalar metrics, decisions, per-item maps, per-group table) of a result dict. A list
    of records (drift's per-feature results) becomes a per-item map keyed by position, with
    the records' own decisions kept inside it."""
    metrics: list[tuple[str, Any]] = []
    decisions: list[tuple[str, Any]] = []
    maps: list[tuple[str, Mapping[str, Any]]] = []
    groups: Mapping[str, Mapping[str, Any]] = {}
    for name, value in result.items():
        if name == "groups" and isinstance(value, Mapping):
            groups = value
        elif name in _NON_METRIC_FIELDS:
            continue
        elif _is_decision(name):
            decisions.append((name, value))
        elif isinstance(value, Mapping):
            maps.append((name, value))
        elif _is_record_list(value):
            maps.append((name, {str(index): item for index, item in enumerate(value)}))
        else:
            metrics.append((name, value))
    return metrics, decisions, maps, groups


def _record_columns(mapping: Mapping[str, Any]) -> list[str] | None:
    """Column names when every value of ``mapping`` is a record, else None."""
    if not mapping or not all(isinstance(v, Mapping) for v in mapping.values()):
        return None
    columns: list[str] = []
    for record in mapping.values():
        for name in record:
            if name not in columns:
                columns.append(name)
    return columns


def _record_cell(name: str, value: Any) -> str:
    return _decision(value, name) if _is_decision(name) else _format(value)


def _group_columns(groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    for fields in groups.values():
        for name in fields:
            if name not in columns:
                columns.append(name)
    return columns


def _retention_text(retention: dict[str, str]) -> str:
    """The receipt's deletion statement in words (an attestation by the evaluator)."""
    items = ", ".join(
        f"{name.replace('_', ' ')} {state.replace('_', ' ')}" for name, state in retention.items()
    )
    return f"{items} (attested by the evaluator's receipt)"


def evidence_summary(verified: VerifiedAudit) -> dict[str, Any]:
    """The evidence a result rests on, as JSON-ready values."""
    receipt, submission = verified.receipt, verified.submission
    return {
        "bundle_digest": verified.bundle_digest,
        "circuit": {"id": verified.circuit_id, "version": verified.circuit_version},
        "profile": {"name": verified.profile.name, "hash": verified.profile.profile_hash},
        "public_inputs": dict(verified.public_inputs),
        "rows": verified.plan.rows,
        "chunks": verified.plan.n_chunks,
        "client": {
            "key_id": submission.client_key_id,
            "signed_at": format_rfc3339(submission.created_at),
            "columns": list(submission.columns),
            "input_commitments": dict(submission.input_commitments),
            "data_description": dict(submission.data_description),
        },
        "evaluator": {
            "key_id": receipt.evaluator_key_id,
            "job_id": receipt.job_id,
            "started_at": format_rfc3339(receipt.started_at),
            "finished_at": format_rfc3339(receipt.finished_at),
            "receipt_digest": receipt.digest,
            "evaluation_keys_digest": receipt.evaluation_keys_digest,
            "inputs_manifest_digest": receipt.inputs_manifest_digest,
            "input_ciphertexts": receipt.input_count,
            "outputs": [{"name": name, "digest": digest} for name, digest in receipt.outputs],
            "software": dict(receipt.software),
            # attested by the evaluator's receipt, not proven
            "retention": dict(receipt.retention),
        },
        "depth": {
            "planned": receipt.depth_planned,
            "observed": receipt.depth_observed,
            "profile_max": verified.profile.max_depth,
        },
        "operation_counts": dict(receipt.operation_counts),
        "sealed_key": {
            "digest": submission.sealed_key_digest,
            "regulator_key_id": verified.regulator_key_id,
        },
        # passed/failed with the public value and the tolerance; never what decrypted
        "canary": {
            "passed": verified.canary.passed,
            "expected": verified.canary.expected,
            "tolerance": verified.canary.tolerance,
        },
        "checks": list(verified.checks),
        "verified_at": format_rfc3339(verified.verified_at),
    }


def _canary_text(passed: bool, tolerance: float) -> str:
    """The canary as text and HTML show it: the outcome and the tolerance, no decrypted value."""
    return f"{'passed' if passed else 'FAILED'} (tolerance {tolerance:g})"


# --- JSON -------------------------------------------------------------------------------------


def result_json(verified: VerifiedAudit) -> dict[str, Any]:
    """``{"verified": true, "primitive", "audit_id", "result": {...}, "evidence": {...}}``;
    ``result`` keeps regaudit-fhe 0.1.0's field names (``demographic_parity_diff``...)."""
    return {
        "schema": JSON_SCHEMA_ID,
        "verified": True,
        "primitive": verified.primitive,
        "audit_id": verified.audit_id,
        "result": _jsonable(verified.result),
        "evidence": evidence_summary(verified),
    }


def failure_json(error: RegauditError) -> dict[str, Any]:
    """``{"verified": false, "reason": <stable reason>, "message", "field"}``. The message goes
    through :func:`regaudit.shared.release.scrub_message` (decoders never put a decrypted value
    into a message; this is the last line of defence for anything that slipped through)."""
    return {
        "schema": JSON_SCHEMA_ID,
        "verified": False,
        "reason": error.reason,
        "message": scrub_message(error.message),
        "field": error.field,
    }


def _jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars become Python numbers, NaN becomes null)."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(value)
    return str(value)


# --- text -------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def render_text(verified: VerifiedAudit) -> str:
    """The human-readable report the CLI prints."""
    result = verified.result
    metrics, decisions, maps, groups = _split_result(result)
    evidence = evidence_summary(verified)
    out: list[str] = [
        f"regaudit audit report: {verified.primitive}",
        "=" * 60,
        "VERIFIED: every signature, binding and the key canary checked out.",
        f"audit id   {verified.audit_id}",
        f"circuit    {verified.circuit_id}@{verified.circuit_version}",
        f"profile    {verified.profile.name} ({verified.profile.profile_hash})",
        f"rows       {verified.plan.rows} in {verified.plan.n_chunks} chunk(s)",
        "",
        "Metrics",
        "-------",
    ]
    bounded = _with_bounds(metrics)
    width = max((len(_label(name)) for name, _, _ in bounded), default=0)
    out += [
        f"  {_label(name).ljust(width)}  {_format_bounded(value, bound)}"
        for name, value, bound in bounded
    ]
    if groups:
        columns = _group_columns(groups)
        rows = [
            [name, *(_format(fields.get(c)) for c in columns)] for name, fields in groups.items()
        ]
        out += ["", "Per group", "---------"]
        out += ["  " + line for line in _table(["group", *map(_label, columns)], rows)]
    for name, mapping in maps:
        out += ["", _label(name).capitalize(), "-" * len(name)]
        record_columns = _record_columns(mapping)
        if record_columns is not None:
            rows = [
                [str(key), *(_record_cell(c, record.get(c)) for c in record_columns)]
                for key, record in mapping.items()
            ]
            out += ["  " + line for line in _table(["#", *map(_label, record_columns)], rows)]
            continue
        key_width = max((len(str(k)) for k in mapping), default=0)
        out += [f"  {str(k).ljust(key_width)}  {_format(v)}" for k, v in mapping.items()]
    if decisions:
        out += ["", "Decisions", "---------"]
        width = max(len(_label(name)) for name, _ in decisions)
        out += [
            f"  {_label(name).ljust(width)}  {_decision(value, name)}" for name, value in decisions
        ]
    undefined = result.get("undefined")
    if undefined:
        out += ["", "Undefined (zero denominator; reported as undefined, not 0):"]
        out += [f"  {item}" for item in undefined]
    client, evaluator = evidence["client"], evidence["evaluator"]
    canary = verified.canary
    name_width = max((len(name) for name in client["input_commitments"]), default=0)
    out += [
        "",
        "Evidence",
        "--------",
        f"  bundle digest           {evidence['bundle_digest']}",
        f"  client key              {client['key_id']} (signed {client['signed_at']})",
        f"  evaluator key           {evaluator['key_id']}",
        f"  evaluation job          {evaluator['job_id']}",
        f"  evaluated               {evaluator['started_at']} .. {evaluator['finished_at']}",
        f"  receipt digest          {evaluator['receipt_digest']}",
        f"  evaluation keys digest  {evaluator['evaluation_keys_digest']}",
        f"  inputs manifest digest  {evaluator['inputs_manifest_digest']}"
        f" ({evaluator['input_ciphertexts']} ciphertexts)",
        f"  deleted at job end      {_retention_text(evaluator['retention'])}",
        f"  depth                   planned {evidence['depth']['planned']}, observed "
        f"{evidence['depth']['observed']}, profile max {evidence['depth']['profile_max']}",
        f"  key canary              {_canary_text(canary.passed, canary.tolerance)}",
        f"  regulator key           {verified.regulator_key_id}",
        "  input commitments (hiding; the client keeps the openings):",
        *(
            f"    {name.ljust(name_width)}  {digest}"
            for name, digest in client["input_commitments"].items()
        ),
        "  checks passed (in order):",
        *(f"    {index}. {name}" for index, name in enumerate(verified.checks, start=1)),
    ]
    return "\n".join(out) + "\n"


# --- HTML -------------------------------------------------------------------------------------

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


def _cell(value: Any) -> str:
    text = html.escape(_format(value))
    if value is None:
        return f'<td class="undef">{text}</td>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{text}</td>'
    return f"<td>{text}</td>"


def _kv_table(rows: Sequence[tuple[str, Any]], *, code: bool = False) -> str:
    body = []
    for name, value in rows:
        cell = f"<td><code>{html.escape(_format(value))}</code></td>" if code else _cell(value)
        body.append(f"<tr><th>{html.escape(name)}</th>{cell}</tr>")
    return "<table>" + "".join(body) + "</table>"


def _metrics_table(metrics: list[tuple[str, Any]]) -> str:
    """Metrics with their error bounds (``value ± bound``) where the result gives one."""
    body = []
    for name, value, bound in _with_bounds(metrics):
        cell = _cell(value)
        if bound is not None and value is not None:
            cell = f'<td class="num">{html.escape(_format_bounded(value, bound))}</td>'
        body.append(f"<tr><th>{html.escape(_label(name))}</th>{cell}</tr>")
    return "<table>" + "".join(body) + "</table>"


def render_html(verified: VerifiedAudit) -> str:
    """A self-contained HTML report (inline CSS, no scripts, no external assets; every value
    escaped)."""
    result = verified.result
    metrics, decisions, maps, groups = _split_result(result)
    evidence = evidence_summary(verified)
    esc = html.escape
    title = f"regaudit audit report: {verified.primitive}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        '<p class="ok">Verified: every signature, binding and the key canary checked out.</p>',
        _kv_table(
            [
                ("audit id", verified.audit_id),
                ("circuit", f"{verified.circuit_id}@{verified.circuit_version}"),
                ("parameter profile", f"{verified.profile.name} ({verified.profile.profile_hash})"),
                ("rows", verified.plan.rows),
            ]
        ),
        "<h2>Metrics</h2>",
        _metrics_table(metrics),
    ]
    if groups:
        columns = _group_columns(groups)
        head = "".join(f"<th>{esc(_label(c))}</th>" for c in ["group", *columns])
        rows = "".join(
            f"<tr><th>{esc(name)}</th>{''.join(_cell(fields.get(c)) for c in columns)}</tr>"
            for name, fields in groups.items()
        )
        parts += ["<h2>Per group</h2>", f"<table><tr>{head}</tr>{rows}</table>"]
    for name, mapping in maps:
        parts.append(f"<h2>{esc(_label(name).capitalize())}</h2>")
        record_columns = _record_columns(mapping)
        if record_columns is None:
            parts.append(_kv_table([(str(k), v) for k, v in mapping.items()]))
            continue
        head = "".join(f"<th>{esc(_label(c))}</th>" for c in ["#", *record_columns])
        body = "".join(
            f"<tr><th>{esc(str(key))}</th>"
            + "".join(
                f'<td class="{_decision_class(record.get(c))}">'
                f"{esc(_decision(record.get(c), c))}</td>"
                if _is_decision(c)
                else _cell(record.get(c))
                for c in record_columns
            )
            + "</tr>"
            for key, record in mapping.items()
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    if decisions:
        rows = "".join(
            f"<tr><th>{esc(_label(name))}</th>"
            f'<td class="{_decision_class(value)}">'
            f"{esc(_decision(value, name))}</td></tr>"
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
    client, evaluator = evidence["client"], evidence["evaluator"]
    parts += [
        "<h2>Evidence</h2>",
        _kv_table(
            [
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
                ("deleted at job end", _retention_text(evaluator["retention"])),
                (
                    "depth (planned / observed / profile max)",
                    f"{evidence['depth']['planned']} / {evidence['depth']['observed']} / "
                    f"{evidence['depth']['profile_max']}",
                ),
                (
                    "key canary",
                    _canary_text(verified.canary.passed, verified.canary.tolerance),
                ),
                ("sealed key digest", evidence["sealed_key"]["digest"]),
                ("regulator key", verified.regulator_key_id),
                *((f"commitment {name}", d) for name, d in client["input_commitments"].items()),
                *((f"output {o['name']}", o["digest"]) for o in evaluator["outputs"]),
            ],
            code=True,
        ),
        "<h2>Operation counts</h2>",
        _kv_table([(_label(k), v) for k, v in evidence["operation_counts"].items()]),
        "<h2>Checks passed (in order)</h2>",
        "<ol>" + "".join(f"<li>{esc(name)}</li>" for name in verified.checks) + "</ol>",
        f"<p>Verified at {esc(evidence['verified_at'])}.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


__all__ = [
    "DECISION_SUFFIXES",
    "INDETERMINATE",
    "UNDEFINED",
    "evidence_summary",
    "failure_json",
    "render_html",
    "render_text",
    "result_json",
]
