"""The report's table sections as data: the full result (metrics with bounds, the per-group
table, per-item maps, the decoder's decisions, undefined values), the LL144 bias-audit table,
differential privacy (generic key/value) and the evidence digests. Each table is a
:class:`Table` of display cells, so HTML and text print the same strings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from regaudit.regulator.report.model import (
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

#: Longest value of a differential-privacy item shown (nested values are JSON text).
MAX_DP_VALUE_CHARS = 400


class Cell(TypedDict):
    """One table cell: its text and CSS class (``num``, ``undef``, ``ok``, ``bad``, ``code``
    or empty)."""

    text: str
    cls: str


class Table(TypedDict):
    """A titled table: column headings (empty: a key/value table) and rows of cells."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]


def cell(value: object) -> Cell:
    """A value cell: ``undef`` for undefined, ``num`` for numbers."""
    text = format_value(value)
    if value is None or text == "undefined":
        return {"text": text, "cls": "undef"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"text": text, "cls": "num"}
    return {"text": text, "cls": ""}


def head(text: str) -> Cell:
    """A row heading cell."""
    return {"text": text, "cls": "head"}


def code(text: str) -> Cell:
    """A digest or key id cell."""
    return {"text": text, "cls": "code"}


def decision_cell(value: object, name: str) -> Cell:
    """A decoder decision (``BREACHED`` / ``not breached`` / indeterminate)."""
    return {"text": decision_text(value, name), "cls": decision_class(value)}


def table(table_id: str, title: str, columns: Sequence[str], rows: list[list[Cell]]) -> Table:
    return {"id": table_id, "title": title, "columns": list(columns), "rows": rows}


def result_tables(result: Mapping[str, Any]) -> list[Table]:
    """The full decoded result: metrics (``value ± bound``), per group, each per-item map, the
    decoder's own decisions and the undefined values."""
    metrics, decisions, maps, groups = split_result(result)
    metric_rows = []
    for name, value, bound in with_bounds(metrics):
        shown = cell(value)
        if bound is not None and value is not None:
            shown = {"text": format_bounded(value, bound), "cls": "num"}
        metric_rows.append([head(label(name)), shown])
    tables = [table("metrics", "Metrics", [], metric_rows)]
    if groups:
        columns = field_names(groups.values())
        rows = [
            [head(str(name)), *(cell(fields.get(c)) for c in columns)]
            for name, fields in groups.items()
        ]
        tables.append(table("groups", "Per group", ["group", *map(label, columns)], rows))
    for name, mapping in maps:
        if name == "bias_audit" or name == "differential_privacy":
            continue  # own sections
        title = label(name).capitalize()
        if not is_record_map(mapping):
            rows = [[head(str(k)), cell(v)] for k, v in mapping.items()]
            tables.append(table(name, title, [], rows))
            continue
        columns = field_names(mapping.values())
        rows = [
            [
                head(str(key)),
                *(
                    decision_cell(record.get(c), c) if is_decision(c) else cell(record.get(c))
                    for c in columns
                ),
            ]
            for key, record in mapping.items()
        ]
        tables.append(table(name, title, ["#", *map(label, columns)], rows))
    if decisions:
        rows = [[head(label(name)), decision_cell(value, name)] for name, value in decisions]
        tables.append(table("decisions", "Decisions of the decoder", [], rows))
    undefined = result.get("undefined")
    if undefined:
        rows = [[code(str(item)), cell("zero denominator: undefined, not 0")] for item in undefined]
        tables.append(table("undefined", "Undefined values", [], rows))
    return tables


_BIAS_COLUMNS = (
    "category",
    "count",
    "share",
    "selected",
    "selection rate",
    "95 % CI",
    "impact ratio",
    "below four-fifths",
    "test",
    "p-value",
    "significant",
    "small category",
    "small sample",
    "excluded",
)


def _ci(value: object) -> Cell:
    if isinstance(value, list | tuple) and len(value) == 2:
        return {"text": f"{format_value(value[0])} to {format_value(value[1])}", "cls": "num"}
    return cell(None)


def _percent(share: object) -> str:
    if isinstance(share, int | float) and not isinstance(share, bool):
        return f"{share * 100:g} %"
    return format_value(share)


def bias_audit_section(audit: object, reference: str | None) -> dict[str, Any] | None:
    """The LL144 bias-audit table (one row per category) with its reference group, unknown
    rows and excluded categories; None when the result has no bias audit."""
    if not isinstance(audit, Mapping):
        return None
    categories = audit.get("categories")
    rows: list[list[Cell]] = []
    if isinstance(categories, Mapping):
        for name, c in categories.items():
            is_reference = name == audit.get("reference")
            # the reference is not tested against itself: "-", not "undefined"
            tested = (
                [cell("-")] * 3
                if is_reference
                else [
                    cell(c.get("test") or "-"),
                    cell(c.get("p_value")),
                    cell(c.get("significant")),
                ]
            )
            rows.append(
                [
                    head(str(name) + (" (reference)" if is_reference else "")),
                    *(cell(c.get(k)) for k in ("count", "share", "selected", "selection_rate")),
                    _ci(c.get("selection_rate_ci")),
                    cell(c.get("impact_ratio")),
                    cell(c.get("four_fifths")),
                    *tested,
                    cell(c.get("small")),
                    cell(c.get("small_sample")),
                    cell(c.get("excluded")),
                ]
            )
    excluded = audit.get("excluded")
    rate_name = str(audit.get("rate_name") or "selection_rate")
    columns = [label(rate_name) if c == "selection rate" else c for c in _BIAS_COLUMNS]
    return {
        "reference": audit.get("reference"),
        "reference_chosen": bool(audit.get("reference_chosen")),
        "policy_reference": reference,
        "rows": audit.get("rows"),
        "unknown_rows": audit.get("unknown_rows"),
        "excluded": [str(e) for e in excluded] if isinstance(excluded, list | tuple) else [],
        "small_share": audit.get("small_share"),
        "small_share_text": _percent(audit.get("small_share")),
        "confidence_level": audit.get("confidence_level"),
        "significance_level": audit.get("significance_level"),
        "adverse_impact_indicated": audit.get("adverse_impact_indicated"),
        "rate_name": rate_name,
        "table": table("bias_audit", "Bias audit (NYC Local Law 144)", columns, rows),
    }


def _dp_value(value: object) -> str:
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = format_value(value)
    return text if len(text) <= MAX_DP_VALUE_CHARS else text[: MAX_DP_VALUE_CHARS - 1] + "…"


def privacy_section(privacy: object) -> dict[str, Any] | None:
    """Differential privacy as generic key/value rows (None when the result has none)."""
    if privacy is None:
        return None
    items = privacy.items() if isinstance(privacy, Mapping) else [("value", privacy)]
    return {
        "note": "The released values carry differential-privacy noise: they are not the exact "
        "aggregates; a decision the noise could flip is indeterminate.",
        "table": table(
            "differential_privacy",
            "Differential privacy",
            [],
            [[head(label(str(k))), {"text": _dp_value(v), "cls": ""}] for k, v in items],
        ),
    }


def evidence_tables(verified: VerifiedAudit) -> list[Table]:
    """The evidence digests, the witnesses and the operation counts."""
    evidence = evidence_summary(verified)
    client, evaluator, depth = evidence["client"], evidence["evaluator"], evidence["depth"]
    rows: list[tuple[str, object]] = [
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
    counts = evidence["operation_counts"]
    return [
        table("digests", "Evidence", [], [[head(k), code(format_value(v))] for k, v in rows]),
        table(
            "witnesses",
            "Witness evaluators",
            [],
            [[head(k), code(v)] for k, v in witness_rows(evidence["witnesses"])],
        ),
        table(
            "operations",
            "Operation counts",
            [],
            [[head(label(k)), cell(counts[k])] for k in counts],
        ),
    ]


__all__ = [
    "Cell",
    "Table",
    "bias_audit_section",
    "cell",
    "evidence_tables",
    "privacy_section",
    "result_tables",
    "table",
]
