"""One content model, three renderings: the text and the JSON (``result_json``'s ``report``)
carry the same headline, decisions and definitions as the HTML; every verification check has
its sentence; ``verify --report`` writes the new page with the trust store's names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from regulator.conftest import Parties, build_bundle, fairness_payload
from report.html_tree import parse
from typer.testing import CliRunner

from regaudit.regulator.cli import app
from regaudit.regulator.report import build_document, render_html, render_text, result_json
from regaudit.regulator.report.checks import CHECK_EXPLANATIONS
from regaudit.regulator.report.definitions import DEFINITIONS, PRIMITIVE_TERMS
from regaudit.regulator.report.document import REPORT_SCHEMA_ID
from regaudit.regulator.result_policy import decisions_of
from regaudit.regulator.verify import CHECK_NAMES, VerifiedAudit
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input

PRIMITIVES = ("fairness", "drift", "calibration", "concordance", "disagreement", "provenance")
#: Keys ``result_json`` had before the report document (tests and tools read them).
RESULT_KEYS = ["schema", "verified", "primitive", "audit_id", "result", "evidence"]


def test_every_check_has_a_one_line_explanation() -> None:
    assert set(CHECK_EXPLANATIONS) == set(CHECK_NAMES)
    for name in CHECK_NAMES:
        sentence = CHECK_EXPLANATIONS[name]
        assert sentence.endswith(".") and "\n" not in sentence and len(sentence) < 160, name


def test_every_primitive_defines_its_terms() -> None:
    assert set(PRIMITIVE_TERMS) == set(PRIMITIVES)
    required = {
        "selection rate",
        "true positive rate",
        "false positive rate",
        "precision",
        "demographic parity difference",
        "equalized odds",
        "impact ratio",
        "four-fifths rule",
        "Wilson interval",
        "p-value",
        "C-index",
        "coverage",
        "drift distance",
        "W1",
        "disagreement",
        "provenance totals",
    }
    assert required <= set(DEFINITIONS)


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_text_json_and_html_carry_the_same_content(
    primitive: str, audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    audit = audits[primitive]
    document = result_json(audit, trust=trust)
    assert list(document)[: len(RESULT_KEYS)] == RESULT_KEYS  # the old keys, unchanged
    report = document["report"]
    assert report["schema"] == REPORT_SCHEMA_ID
    assert json.loads(json.dumps(document, allow_nan=False)) == document  # plain JSON
    expected = [
        (d.name, d.status) for d in decisions_of(primitive, audit.result, trust.result_policy)
    ]
    findings = report["headline"]["findings"]
    assert [(d["name"], d["status"]) for d in findings["decisions"]] == expected

    root = parse(render_html(audit, trust=trust))
    html_decisions = [
        (li.attrs["data-name"], li.attrs["data-status"])
        for li in root.find_all("li", class_="decision")
    ]
    assert html_decisions == expected
    html_terms = [dt.text() for dt in root.one("dl", class_="definitions").find_all("dt")]
    assert html_terms == [d["term"] for d in report["definitions"]]
    assert [svg.attrs["data-plot"] for svg in root.find_all("svg")] == [
        p["name"] for p in report["plots"]
    ]

    text = render_text(audit, trust=trust)
    lines = text.splitlines()
    # headline first: both questions before any other section
    authentic = lines.index("Is the evidence authentic?")
    found = lines.index("What did the audit find?")
    assert authentic < found < lines.index("Definitions")
    assert lines[authentic + 2] == "  VERIFIED: YES"
    assert lines[found + 2] == f"  OUTCOME: {findings['outcome'].upper()}"
    for decision in findings["decisions"]:
        row = next(line for line in lines if f"  {decision['label']}  " in line)
        assert row.split()[0] == decision["status"].upper()
        assert decision["requirement"] in row
    for item in report["definitions"]:
        assert f"{item['term']}: " in text
    for plot in report["plots"]:
        assert f"[{plot['name']}]" in text
    assert "<svg" not in text and "<" + "table" not in text


def test_without_a_trust_store_the_audit_thresholds_decide(
    audits: dict[str, VerifiedAudit],
) -> None:
    document = build_document(audits["drift"])
    findings = document["headline"]["findings"]
    assert [d["threshold_source"] for d in findings["decisions"]] == ["audit", "audit"]
    assert "the audit's own" in findings["basis"]
    assert document["parties"][0]["name"] is None  # no store: key ids only


def test_text_keeps_the_evidence_and_full_result(audits: dict[str, VerifiedAudit]) -> None:
    audit = audits["fairness"]
    text = render_text(audit)
    assert "VERIFIED" in text and "key canary" in text and audit.bundle_digest in text
    assert "threshold breached" in text and "BREACHED" in text
    assert "What this evidence does not prove" in text
    assert "as declared by the client" in text


def test_verify_writes_the_report_with_trust_store_names(parties: Parties, tmp_path: Path) -> None:
    bundle = build_bundle(parties, parse_fairness_input(fairness_payload(300, seed=7)))
    path = bundle.write(tmp_path / "audit.bundle")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "verify",
            str(path),
            "--identity",
            str(parties.regulator_dir),
            "--trust",
            str(parties.trust_path),
            "--report",
            str(page),
        ],
    )
    assert result.exit_code == 0, result.output
    root = parse(page.read_text(encoding="utf-8"))
    assert root.one("div", id="authenticity").attrs["data-authentic"] == "true"
    assert root.one("div", id="findings").attrs["data-outcome"] == "breach"
    assert "test client" in root.one("table", id="table-parties").text()
    assert result.stdout.index("Is the evidence authentic?") < result.stdout.index("Plots")
    assert "test evaluator" in result.stdout
