"""Reports of a verified audit: plain text (the CLI), self-contained HTML, and JSON.

The renderers are generic over primitives: scalar metrics (shown as ``value ± bound`` when the
result has an ``X_error_bound`` field), a per-group table (any ``groups`` mapping of name ->
fields), maps of per-item values (``impact_ratios``...) and lists of records (drift's
``features``) as tables, decisions (fields ending in ``_breached`` or ``_detected``) and the
evidence summary. A value of ``None`` is printed as "undefined" (a rate with a zero
denominator), never as 0; a decision of ``None`` is "indeterminate (undefined)" and a decision
of ``"indeterminate"`` (the result lies within its error bound of the threshold) is
"INDETERMINATE".

The content model is :func:`~regaudit.regulator.report.document.build_document` (a JSON-ready
document: the headline with the two questions kept apart, plots as data, definitions, the
bias-audit table, the full result, data, parties, checks, limits, the signed finding and the
evidence digests), over :mod:`~regaudit.regulator.report.model` (the result split and the
evidence summary) and :mod:`~regaudit.regulator.report.values` (the single values' wording).
The renderers are :mod:`~regaudit.regulator.report.text`, :mod:`~regaudit.regulator.report.html`
(a Jinja2 template, ``templates/report.html``, with inline SVG plots from
:mod:`~regaudit.regulator.report.plots`) and :mod:`~regaudit.regulator.report.json` (with
:mod:`~regaudit.regulator.report.seed_view`, regaudit-fhe 0.1.0's output shape for
``verify --json --seed-compatible``). See docs/report.md.
"""

from __future__ import annotations

from regaudit.regulator.report.document import ReportDocument, build_document
from regaudit.regulator.report.html import render_html
from regaudit.regulator.report.json import failure_json, result_json
from regaudit.regulator.report.model import evidence_summary
from regaudit.regulator.report.seed_view import seed_result_json
from regaudit.regulator.report.text import render_text
from regaudit.regulator.report.values import DECISION_SUFFIXES, INDETERMINATE, UNDEFINED

__all__ = [
    "DECISION_SUFFIXES",
    "INDETERMINATE",
    "UNDEFINED",
    "ReportDocument",
    "build_document",
    "evidence_summary",
    "failure_json",
    "render_html",
    "render_text",
    "result_json",
    "seed_result_json",
]
