"""The self-contained HTML report, rendered from a Jinja2 template (autoescaped, strict
undefined) over the report document (:mod:`~regaudit.regulator.report.document`): inline CSS,
inline SVG plots, no scripts, no external assets.

A regulator restyles it by copying ``templates/report.html`` (this package's data) into a
directory, editing it (its CSS is the ``style`` block) and passing that directory as
``render_html(..., template_dir=DIR)``.
"""

from __future__ import annotations

import html
from pathlib import Path

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from regaudit.regulator.report.document import ReportDocument, build_document
from regaudit.regulator.report.model import Field, with_bounds
from regaudit.regulator.report.plots import render_svg
from regaudit.regulator.report.values import format_bounded, format_value, label
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.truststore import TrustStore

#: The template's file name (in the package's ``templates`` folder or a ``template_dir``).
TEMPLATE_NAME = "report.html"


def _environment(loader: BaseLoader) -> Environment:
    return Environment(
        loader=loader,
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_document(document: ReportDocument, *, template_dir: Path | None = None) -> str:
    """The HTML of a report document (with the package's template, or ``template_dir``'s
    ``report.html``)."""
    if template_dir is not None:
        if not (Path(template_dir) / TEMPLATE_NAME).is_file():
            raise InputError(
                f"template directory {template_dir} has no {TEMPLATE_NAME}", field="template_dir"
            )
        loader: BaseLoader = FileSystemLoader(str(template_dir))
    else:
        loader = PackageLoader("regaudit.regulator.report", "templates")
    template = _environment(loader).get_template(TEMPLATE_NAME)
    # render_svg escapes every label itself; the template marks its output |safe (the only
    # unescaped value of the template)
    svg = {plot["name"]: render_svg(plot) for plot in document["plots"]}
    return template.render(doc=document, svg=svg)


def render_html(
    verified: VerifiedAudit,
    *,
    trust: TrustStore | None = None,
    finding_digest: str | None = None,
    finding_signer: str | None = None,
    template_dir: Path | None = None,
) -> str:
    """A self-contained HTML report (inline CSS and SVG, no scripts, no external assets; every
    value escaped). The headline answers two questions apart: is the evidence authentic, and
    what did the audit find (the decisions under ``trust``'s result policy, else the audit's
    own thresholds). With ``finding_digest`` and ``finding_signer`` (the signed finding written
    alongside, :mod:`regaudit.regulator.findings`) the report names it in meta tags and a
    visible line. ``template_dir``: a regulator's own copy of ``report.html``."""
    document = build_document(
        verified, trust=trust, finding_digest=finding_digest, finding_signer=finding_signer
    )
    return render_document(document, template_dir=template_dir)


def metrics_table(metrics: list[Field]) -> str:
    """Metrics with their error bounds (``value ± bound``) as an HTML table fragment."""
    body = []
    for name, value, bound in with_bounds(metrics):
        text = format_bounded(value, bound) if bound is not None else format_value(value)
        body.append(f"<tr><th>{html.escape(label(name))}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(body) + "</table>"


__all__ = ["TEMPLATE_NAME", "metrics_table", "render_document", "render_html"]
