"""The HTML report of every primitive, parsed with html.parser: the headline contract (two
separate answers; one decision per decisions_of, same statuses), the named inline SVG plots,
escaping of client-chosen labels, no script and no network reference, print styles, the
regulator's own template."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from report.html_tree import Element, parse

from regaudit.regulator.report import render_html
from regaudit.regulator.result_policy import decisions_of
from regaudit.regulator.verify import VerifiedAudit
from regaudit.shared.errors import InputError
from regaudit.shared.evidence.result_policy import ResultPolicy
from regaudit.shared.evidence.truststore import TrustStore

PRIMITIVES = ("fairness", "drift", "calibration", "concordance", "disagreement", "provenance")
#: The plots each primitive's report must draw (the browser test relies on these names).
PLOTS = {
    "fairness": ["selection_rate", "true_positive_rate", "false_positive_rate", "precision"],
    "drift": ["drift_distance", "drift_w1"],
    "calibration": ["coverage"],
    "concordance": ["concordance"],
    "disagreement": ["disagreement"],
    "provenance": ["provenance_totals"],
}
HOSTILE = "<script>alert(1)</script>"
AMPERSAND = "R&D \"lab\" 'west'"
UNICODE = "Zürich – 東京"


def page_of(audit: VerifiedAudit, trust: TrustStore | None, **options: Any) -> Element:
    return parse(render_html(audit, trust=trust, **options))


def plot(root: Element, name: str) -> Element:
    return root.one("svg", data_plot=name)


def bars(svg: Element) -> dict[str, Element]:
    return {g.attrs["data-label"]: g for g in svg.find_all("g", class_="item")}


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_headline_answers_both_questions_with_the_gate_decisions(
    primitive: str, audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    audit = audits[primitive]
    root = page_of(audit, trust)
    body = root.one("body")
    sections = body.find_all("section")
    assert sections[0].attrs["id"] == "headline"  # the first screen
    headline = sections[0]
    authenticity = headline.one("div", id="authenticity")
    assert authenticity.attrs["data-authentic"] == "true"
    assert "test client" in authenticity.text() and "test evaluator" in authenticity.text()
    findings = headline.one("div", id="findings")
    expected = decisions_of(primitive, audit.result, trust.result_policy)
    items = findings.find_all("li", class_="decision")
    assert [li.attrs["data-status"] for li in items] == [d.status for d in expected]
    assert [li.attrs["data-name"] for li in items] == [d.name for d in expected]
    statuses = {d.status for d in expected}
    outcome = next((s for s in ("breach", "indeterminate") if s in statuses), "pass")
    assert findings.attrs["data-outcome"] == outcome
    for li, decision in zip(items, expected, strict=True):
        assert li.one("span", class_="threshold").text().endswith(f"{decision.threshold:.6g}")
        assert f"threshold from {decision.source}" in li.text()
    # the authenticity box says nothing about the outcome and vice versa
    assert "breach" not in authenticity.text().lower()


def test_fairness_headline_shows_the_breaches(audits: dict[str, VerifiedAudit]) -> None:
    audit = audits["fairness"]
    root = page_of(audit, None)
    findings = root.one("div", id="findings")
    assert findings.attrs["data-outcome"] == "breach"
    statuses = {li.attrs["data-name"]: li.attrs["data-status"] for li in findings.find_all("li")}
    # max gap against the audit's 0.1, min impact ratio against four-fifths: west never selected
    assert statuses == {"max_gap": "breach", "min_impact_ratio": "breach"}
    assert [d.status for d in decisions_of("fairness", audit.result, ResultPolicy())] == [
        "breach",
        "breach",
    ]


def test_policy_thresholds_and_reference_group_drive_headline_and_plot(
    audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    audit = audits["fairness"]
    policy = ResultPolicy(
        thresholds={"fairness.demographic_parity_diff": 0.5, "fairness.max_gap": 0.9},
        four_fifths=0.5,
        reference_group="north",
    )
    store = TrustStore.from_dict({**trust.to_dict(), "result_policy": policy.to_dict()})
    root = page_of(audit, store)
    expected = decisions_of("fairness", audit.result, policy)
    items = root.find_all("li", class_="decision")
    assert [(li.attrs["data-name"], li.attrs["data-status"]) for li in items] == [
        (d.name, d.status) for d in expected
    ]
    assert all("threshold from policy" in li.text() for li in items)
    svg = plot(root, "selection_rate")
    marks = {label: g.find_all("text", class_="mark") for label, g in bars(svg).items()}
    assert [label for label, found in marks.items() if found] == ["north"]
    line = svg.one("g", class_="refline")
    north = audit.result["groups"]["north"]["selection_rate"]
    assert line.one("title").text() == f"four-fifths (0.5 x reference): {0.5 * north:.4g}"


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_every_plot_is_an_inline_svg_with_a_title_and_ticks(
    primitive: str, audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    root = page_of(audits[primitive], trust)
    svgs = root.find_all("svg")
    assert [svg.attrs["data-plot"] for svg in svgs] == PLOTS[primitive]
    for svg in svgs:
        assert svg.classes == {"plot"} and svg.attrs["role"] == "img"
        assert svg.children[0].tag == "title" and svg.children[0].text().strip()
        tick_labels = svg.find_all("text", class_="tick")
        ticks = [float(t.text()) for t in tick_labels]
        heights = [float(t.attrs["y"]) for t in tick_labels]
        assert len(ticks) >= 2 and ticks == sorted(ticks)  # upwards: y decreases
        assert heights == sorted(heights, reverse=True)
        assert svg.find_all("g", class_="item")


def test_fairness_plots_mark_reference_four_fifths_and_gaps(
    audits: dict[str, VerifiedAudit],
) -> None:
    audit = audits["fairness"]
    root = page_of(audit, None)
    groups = audit.result["groups"]
    reference = audit.result["bias_audit"]["reference"]
    assert reference == max(groups, key=lambda g: groups[g]["selection_rate"])
    selection = plot(root, "selection_rate")
    items = bars(selection)
    assert set(items) == set(groups)
    assert items[reference].one("text", class_="mark").text() == "reference"
    lines = selection.find_all("g", class_="refline")
    assert len(lines) == 1
    tau_line = 0.8 * groups[reference]["selection_rate"]
    assert lines[0].one("title").text() == f"four-fifths (0.8 x reference): {tau_line:.4g}"
    # Wilson intervals as whiskers
    assert all(g.find_all("path", class_="whisker") for g in items.values())
    # west has no predicted positives: precision undefined, drawn as a labelled gap, not as 0
    west = bars(plot(root, "precision"))["west"]
    assert west.find_all("rect", class_="gap") and not west.find_all("rect", class_="bar")
    assert "undefined" in west.text()
    zero = bars(selection)["west"]  # a real 0 is a bar
    assert zero.find_all("rect", class_="bar") and not zero.find_all("rect", class_="gap")


def test_other_plots_carry_their_reference_lines(
    audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    def line_titles(primitive: str, name: str) -> list[str]:
        svg = plot(page_of(audits[primitive], trust), name)
        return [g.one("title").text() for g in svg.find_all("g", class_="refline")]

    assert line_titles("drift", "drift_distance") == ["threshold (audit): 0.01"]
    assert line_titles("calibration", "coverage") == ["target 1 - alpha: 0.8"]
    assert line_titles("concordance", "concordance") == ["chance: 0.5"]
    provenance = bars(plot(page_of(audits["provenance"], trust), "provenance_totals"))
    top = audits["provenance"].result["top_k_ids"]
    marked = sorted(
        int(k.split()[1]) for k, g in provenance.items() if g.find_all("text", class_="mark")
    )
    assert marked == sorted(top)
    models = bars(plot(page_of(audits["disagreement"], trust), "disagreement"))
    assert len(models) == audits["disagreement"].result["models"]


def test_error_bounds_are_whiskers(audits: dict[str, VerifiedAudit]) -> None:
    audit = audits["drift"]
    features = [dict(f, distance_error_bound=0.005) for f in audit.result["features"]]
    shown = dataclasses.replace(audit, result={**audit.result, "features": features})
    svg = plot(page_of(shown, None), "drift_distance")
    for g in bars(svg).values():
        assert len(g.find_all("path", class_="whisker")) == 1
        assert g.one("title").text().count("interval") == 1


def _hostile(audit: VerifiedAudit) -> VerifiedAudit:
    groups = dict(audit.result["groups"])
    renamed = {HOSTILE: groups["north"], AMPERSAND: groups["south"], UNICODE: groups["west"]}
    result = {**audit.result, "groups": renamed, "impact_ratios": dict.fromkeys(renamed, 0.5)}
    result.pop("bias_audit")
    return dataclasses.replace(audit, result=result)


def test_client_chosen_group_names_are_escaped(audits: dict[str, VerifiedAudit]) -> None:
    page = render_html(_hostile(audits["fairness"]))
    assert HOSTILE not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    root = parse(page)
    assert not root.find_all("script")
    for name in PLOTS["fairness"]:
        labels = set(bars(plot(root, name)))
        assert labels == {HOSTILE, AMPERSAND, UNICODE}  # attributes round-trip exactly
    per_group = root.one("table", id="table-groups")
    assert {th.text() for th in per_group.find_all("th", scope="row")} == {
        HOSTILE,
        AMPERSAND,
        UNICODE,
    }
    assert UNICODE in page  # unicode kept as is (utf-8 page)


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_self_contained_offline_and_printable(
    primitive: str, audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    page = render_html(audits[primitive], trust=trust)
    assert "<script" not in page.lower()
    assert not re.search(r"https?://", page)
    assert not re.search(r"""\b(src|href|xlink:href)\s*=""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    assert "@media print" in page and "print-color-adjust:exact" in page
    root = parse(page)
    assert root.one("html").attrs["lang"] == "en"
    assert root.one("meta", charset="utf-8")


def test_sections_in_order(audits: dict[str, VerifiedAudit], trust: TrustStore) -> None:
    root = page_of(audits["fairness"], trust)
    ids = [s.attrs["id"] for s in root.find_all("section")]
    assert ids == [
        "headline",
        "plots",
        "definitions",
        "bias-audit",
        "result",
        "data",
        "parties",
        "checks",
        "limitations",
        "evidence",
    ]
    assert root.one("section", id="evidence").find_all("details")


def test_bias_audit_table_names_the_reference(audits: dict[str, VerifiedAudit]) -> None:
    audit = audits["fairness"]
    section = page_of(audit, None).one("section", id="bias-audit")
    audit_result = audit.result["bias_audit"]
    table = section.one("table")
    rows = table.one("tbody").find_all("tr")
    assert len(rows) == len(audit_result["categories"])
    headings = [th.text() for th in table.one("thead").find_all("th")]
    assert {"95 % CI", "impact ratio", "p-value", "test", "small category", "excluded"} <= set(
        headings
    )
    by_name = {r.one("th").text(): [td.text() for td in r.find_all("td")] for r in rows}
    reference = by_name[f"{audit_result['reference']} (reference)"]
    p_value = headings.index("p-value") - 1  # the first column is the row heading
    assert reference[p_value] == "-"  # not tested against itself
    west = audit_result["categories"]["west"]
    assert by_name["west"][p_value] == f"{west['p_value']:.6g}"
    assert by_name["west"][headings.index("95 % CI") - 1] == (
        f"{west['selection_rate_ci'][0]:.6g} to {west['selection_rate_ci'][1]:.6g}"
    )
    assert "under 2 % of the rows" in section.text()
    assert f"rows with unknown category: {audit_result['unknown_rows']}" in section.text()
    assert not page_of(audits["drift"], None).find_all("section", id="bias-audit")


def test_data_parties_checks_and_limits(
    audits: dict[str, VerifiedAudit], trust: TrustStore
) -> None:
    audit = audits["fairness"]
    root = page_of(audit, trust)
    data = root.one("table", id="table-data")
    declared = {r.one("th").text(): r.one("td").text() for r in data.find_all("tr")}
    assert declared["dataset"].startswith("hiring decisions & <offers> été 2026")
    assert "as declared by the client" in declared["period"]
    assert declared["source"].startswith('ATS export "v2"')
    assert declared["rows"] == str(audit.plan.rows)
    parties = {
        r.one("th").text(): r.find_all("td")[0].text()
        for r in root.one("table", id="table-parties").one("tbody").find_all("tr")
    }
    assert parties["client"] == "test client" and parties["evaluator"] == "test evaluator"
    assert parties["regulator (decryption key)"] == "not named"  # not in the store: key id
    anonymous = page_of(audit, None).one("table", id="table-parties")
    assert audit.submission.client_key_id in anonymous.text()
    assert "test client" not in anonymous.text()
    checks = root.one("ol", class_="checks").find_all("li")
    assert [li.attrs["data-check"] for li in checks] == list(audit.checks)
    limits = root.one("section", id="limitations").find_all("li")
    assert len(limits) >= 6
    assert any("attested" in li.text() for li in limits)
    assert any("no witness evaluator" in li.text() for li in limits)  # none required here


def test_signed_finding_meta_tags(audits: dict[str, VerifiedAudit]) -> None:
    digest, signer = "sha256:" + "ab" * 32, "cd" * 32
    root = page_of(audits["fairness"], None, finding_digest=digest, finding_signer=signer)
    assert root.one("meta", name="regaudit-finding-digest").attrs["content"] == digest
    assert root.one("meta", name="regaudit-finding-signer").attrs["content"] == signer
    assert not page_of(audits["fairness"], None).find_all("meta", name="regaudit-finding-digest")


def test_differential_privacy_section_is_generic(audits: dict[str, VerifiedAudit]) -> None:
    audit = audits["fairness"]
    privacy = {"epsilon": 1.0, "delta": 1e-6, "mechanism": "<laplace>", "ledger": {"left": 2}}
    shown = dataclasses.replace(audit, result={**audit.result, "differential_privacy": privacy})
    root = page_of(shown, None)
    section = root.one("section", id="differential-privacy")
    assert "noise" in section.text()
    rows = {r.one("th").text(): r.one("td").text() for r in section.find_all("tr")}
    assert rows == {
        "epsilon": "1",
        "delta": "1e-06",
        "mechanism": "<laplace>",
        "ledger": '{"left": 2}',
    }
    assert any("differential privacy" in li.text() for li in root.find_all("li"))
    assert not page_of(audit, None).find_all("section", id="differential-privacy")


def test_a_regulator_restyles_with_its_own_template(
    audits: dict[str, VerifiedAudit], tmp_path: Path
) -> None:
    source = resources.files("regaudit.regulator.report") / "templates" / "report.html"
    own = tmp_path / "report.html"
    text = source.read_text(encoding="utf-8")
    assert "{%- block style %}" in text
    own.write_text(
        text.replace("<header>", '<header><p id="agency">Agency &amp; Co</p>').replace(
            "--bar:#4a6fa5", "--bar:#123456"
        ),
        encoding="utf-8",
    )
    root = page_of(audits["fairness"], None, template_dir=tmp_path)
    assert root.one("p", id="agency").text() == "Agency & Co"
    assert "--bar:#123456" in root.one("style").text()
    # still autoescaped: a hostile group name stays text
    assert HOSTILE not in render_html(_hostile(audits["fairness"]), template_dir=tmp_path)
    with pytest.raises(InputError) as missing:
        render_html(audits["fairness"], template_dir=tmp_path / "nowhere")
    assert missing.value.reason == "invalid_input" and missing.value.field == "template_dir"


def test_the_template_is_package_data() -> None:
    """The template ships in the wheel: declared as package data of the report package."""
    root = Path(__file__).parents[2]
    with (root / "regulator" / "pyproject.toml").open("rb") as handle:
        package_data = tomllib.load(handle)["tool"]["setuptools"]["package-data"]
    patterns = package_data["regaudit.regulator.report"]
    template = resources.files("regaudit.regulator.report") / "templates" / "report.html"
    assert template.is_file()
    assert any(fnmatch.fnmatch("templates/report.html", p) for p in patterns)
