"""The plain-text report the ``regaudit-regulator verify`` command prints."""

from __future__ import annotations

from collections.abc import Sequence

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
    decision_text,
    format_bounded,
    format_value,
    label,
    record_cell,
    retention_text,
)
from regaudit.regulator.verified import VerifiedAudit


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
    metrics, decisions, maps, groups = split_result(result)
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
    bounded = with_bounds(metrics)
    width = max((len(label(name)) for name, _, _ in bounded), default=0)
    out += [
        f"  {label(name).ljust(width)}  {format_bounded(value, bound)}"
        for name, value, bound in bounded
    ]
    if groups:
        columns = field_names(groups.values())
        rows = [
            [name, *(format_value(fields.get(c)) for c in columns)]
            for name, fields in groups.items()
        ]
        out += ["", "Per group", "---------"]
        out += ["  " + line for line in _table(["group", *map(label, columns)], rows)]
    for name, mapping in maps:
        out += ["", label(name).capitalize(), "-" * len(name)]
        if is_record_map(mapping):
            record_columns = field_names(mapping.values())
            rows = [
                [str(key), *(record_cell(c, record.get(c)) for c in record_columns)]
                for key, record in mapping.items()
            ]
            out += ["  " + line for line in _table(["#", *map(label, record_columns)], rows)]
            continue
        key_width = max((len(str(k)) for k in mapping), default=0)
        out += [f"  {str(k).ljust(key_width)}  {format_value(v)}" for k, v in mapping.items()]
    if decisions:
        out += ["", "Decisions", "---------"]
        width = max(len(label(name)) for name, _ in decisions)
        out += [
            f"  {label(name).ljust(width)}  {decision_text(value, name)}"
            for name, value in decisions
        ]
    undefined = result.get("undefined")
    if undefined:
        out += ["", "Undefined (zero denominator; reported as undefined, not 0):"]
        out += [f"  {item}" for item in undefined]
    client, evaluator, depth = evidence["client"], evidence["evaluator"], evidence["depth"]
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
        f"  deleted at job end      {retention_text(evaluator['retention'])}",
        f"  depth                   planned {depth['planned']}, observed "
        f"{depth['observed']}, profile max {depth['profile_max']}",
        f"  key canary              {canary_text(canary.passed, canary.tolerance)}",
        f"  regulator key           {verified.regulator_key_id}",
        *(f"  {name.ljust(22)}  {text}" for name, text in witness_rows(evidence["witnesses"])),
        "  input commitments (hiding; the client keeps the openings):",
        *(
            f"    {name.ljust(name_width)}  {digest}"
            for name, digest in client["input_commitments"].items()
        ),
        "  checks passed (in order):",
        *(f"    {index}. {name}" for index, name in enumerate(verified.checks, start=1)),
    ]
    return "\n".join(out) + "\n"


__all__ = ["render_text"]
