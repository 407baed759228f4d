"""The regulator's HTML report of a real verified fairness audit, opened in headless Chromium.

What a regulator sees: a screenshot that is a rendered page (kept in $REGAUDIT_ARTIFACTS_DIR
when set); the DOM after rendering, with the headline first (authenticity apart from the
findings, one item per decision with the status of
:func:`regaudit.regulator.result_policy.decisions_of`), the four fairness plots drawn as inline
SVG with the reference group marked; the same page with every host name unresolvable, rendering
the same and fetching nothing; and a printed PDF. The checks are in tests/browser/checks.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser.checks import (
    check_decisions,
    check_four_fifths_line,
    check_headline_first,
    check_pdf,
    check_plots,
    check_print_styles,
    check_reference_marked,
    check_screenshot,
    check_self_contained,
    one,
    reference_group,
)
from browser.headless import Chromium, Element, page_requests, parse_dom
from browser.pages import ReportPage, keep_artifact


@pytest.fixture(scope="module")
def dom(chromium: Chromium, report_page: ReportPage) -> Element:
    return parse_dom(chromium.dump_dom(report_page.path))


def test_screenshot_is_a_rendered_page(
    chromium: Chromium, report_page: ReportPage, artifacts_dir: Path, tmp_path: Path
) -> None:
    shot = chromium.screenshot(report_page.path, tmp_path / "fairness-report.png")
    check_screenshot(keep_artifact(shot, artifacts_dir))


def test_headline_comes_first_and_keeps_the_two_questions_apart(dom: Element) -> None:
    check_headline_first(dom)


def test_each_decision_is_shown_with_its_status(dom: Element, report_page: ReportPage) -> None:
    statuses = [decision.status for decision in report_page.decisions]
    assert "breach" in statuses  # the audited model breached: one group is never selected
    assert check_decisions(dom, statuses) == "breach"


def test_the_four_fairness_plots_are_drawn(dom: Element) -> None:
    check_plots(dom)


def test_the_reference_group_and_the_four_fifths_line_are_marked(
    dom: Element, report_page: ReportPage
) -> None:
    check_reference_marked(dom, reference_group(report_page.verified.result))
    check_four_fifths_line(dom)


def test_the_report_renders_offline_and_fetches_nothing(
    chromium: Chromium, report_page: ReportPage, dom: Element, tmp_path: Path
) -> None:
    netlog = tmp_path / "netlog.json"
    offline = parse_dom(chromium.dump_dom(report_page.path, offline=True, netlog=netlog))
    assert page_requests(netlog) == []
    check_self_contained(offline)
    headline = check_headline_first(offline)
    assert headline.text() == one(dom, "section", id="headline").text()
    assert set(check_plots(offline)) == set(check_plots(dom))


def test_the_report_prints_to_pdf(
    chromium: Chromium, report_page: ReportPage, dom: Element, artifacts_dir: Path, tmp_path: Path
) -> None:
    check_print_styles(dom)
    pdf = chromium.print_pdf(report_page.path, tmp_path / "fairness-report.pdf")
    check_pdf(keep_artifact(pdf, artifacts_dir))
