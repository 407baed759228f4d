"""What a rendered report must show, as checks over Chromium's output (each raises
AssertionError with the reason).

The HTML contract these checks read is the report's (docs/report.md): ``section#headline``
holding ``div#authenticity[data-authentic]`` and ``div#findings[data-outcome]`` with
``li.decision[data-status]`` items; inline ``svg.plot[data-plot]`` charts; no scripts and no
external URLs. tests/browser/test_headless_harness.py shows that every check fails on a page that
breaks it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from browser.headless import WINDOW_SIZE, Element, PngInfo, pixel_spread, png_info

__all__ = [
    "FAIRNESS_PLOTS",
    "check_decisions",
    "check_four_fifths_line",
    "check_headline_first",
    "check_pdf",
    "check_plots",
    "check_print_styles",
    "check_reference_marked",
    "check_screenshot",
    "check_self_contained",
    "expected_outcome",
    "one",
    "reference_group",
]

#: The fairness charts of the report, one per rate.
FAIRNESS_PLOTS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
#: Statuses a decision (and the overall outcome) can have.
STATUSES = frozenset({"pass", "breach", "indeterminate"})
#: A screenshot of a page with text, tables and charts compresses to more than this.
MIN_SCREENSHOT_BYTES = 10_000
#: A printed report with text and vector charts is larger than this.
MIN_PDF_BYTES = 5_000
#: A rendered page: grey levels spread at least this much, and this share of pixels is not the
#: background colour (a blank page has 0 and 0).
MIN_GREY_STDDEV = 5.0
MIN_INKED_SHARE = 0.01
#: Elements that hold report content; none may come before the headline.
CONTENT_TAGS = frozenset({"section", "table", "svg", "details", "figure", "dl"})
#: Attributes through which a page can load something.
URL_ATTRIBUTES = ("src", "href", "xlink:href", "action", "data", "poster", "srcset")
_EXTERNAL = re.compile(r"^\s*(https?:|ftp:)?//", re.IGNORECASE)
_CSS_EXTERNAL = re.compile(r"(url\(\s*['\"]?\s*(https?:)?//|@import)", re.IGNORECASE)


def one(root: Element, tag: str, **attrs: str) -> Element:
    """The only element with ``tag`` and ``attrs`` under ``root``."""
    found = root.find_all(tag, **attrs)
    assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
    return found[0]


def check_screenshot(path: Path) -> PngInfo:
    """A valid PNG of the whole window, of a page that is not blank.

    Steps: 1. PNG structure (signature, CRCs, IHDR/IDAT/IEND); 2. the window's width and height,
    8 bits per channel; 3. more than :data:`MIN_SCREENSHOT_BYTES`; 4. pixel spread over
    :data:`MIN_GREY_STDDEV` and :data:`MIN_INKED_SHARE`.
    """
    data = path.read_bytes()
    info = png_info(data)
    assert (info.width, info.height) == WINDOW_SIZE, f"{info.width}x{info.height}"
    assert info.bit_depth == 8
    assert len(data) > MIN_SCREENSHOT_BYTES, f"{len(data)} bytes: an almost empty page"
    stddev, inked = pixel_spread(path)
    assert stddev > MIN_GREY_STDDEV, f"grey-level spread {stddev:.2f}: a blank page"
    assert inked > MIN_INKED_SHARE, f"only {inked:.2%} of pixels differ from the background"
    return info


def check_headline_first(dom: Element) -> Element:
    """The headline is the first content of <main> (or <body>) and keeps authenticity and
    findings apart.

    Steps: 1. one ``section#headline``, inside <main> when there is one; 2. no section, table,
    chart or details before it; 3. ``div#authenticity`` with ``data-authentic="true"`` and
    ``div#findings`` in it, neither inside the other, both with text.
    """
    body = one(dom, "body")
    headline = one(body, "section", id="headline")
    mains = body.find_all("main")
    container = mains[0] if mains else body
    assert headline in container.iter(), "the headline is outside <main>"
    first = next(e for e in container.iter() if e.tag in CONTENT_TAGS)
    assert first is headline, f"<{first.tag} {first.attrs}> comes before the headline"
    authenticity = one(headline, "div", id="authenticity")
    findings = one(headline, "div", id="findings")
    assert authenticity.attrs.get("data-authentic") == "true", "evidence not shown authentic"
    assert authenticity not in findings.iter() and findings not in authenticity.iter()
    assert authenticity.text() and findings.text(), "an empty headline answer"
    return headline


def expected_outcome(statuses: Sequence[str]) -> str:
    """The overall finding: breach if any decision breached, else indeterminate if any is,
    else pass."""
    for outcome in ("breach", "indeterminate"):
        if outcome in statuses:
            return outcome
    return "pass"


def check_decisions(dom: Element, statuses: Sequence[str]) -> str:
    """One ``li.decision`` per expected decision, with exactly these statuses, and the overall
    outcome that follows from them; returns the outcome."""
    findings = one(dom, "div", id="findings")
    items = findings.find_all("li", class_="decision")
    shown = sorted(item.attrs.get("data-status", "") for item in items)
    assert shown == sorted(statuses), f"statuses shown {shown}, expected {sorted(statuses)}"
    assert set(shown) <= STATUSES, f"unknown status in {shown}"
    assert all(item.text() for item in items), "a decision item without text"
    outcome = findings.attrs.get("data-outcome")
    assert outcome == expected_outcome(statuses), f"outcome {outcome!r} for {shown}"
    return outcome


def check_plots(dom: Element, names: Sequence[str] = FAIRNESS_PLOTS) -> dict[str, Element]:
    """Each named chart is an inline ``svg.plot`` with bars (<rect>), lines (axes, thresholds)
    and labels."""
    plots = {svg.attrs.get("data-plot", ""): svg for svg in dom.find_all("svg", class_="plot")}
    for name in names:
        assert name in plots, f"no plot {name!r}; plots: {sorted(plots)}"
        svg = plots[name]
        assert svg.find_all("rect"), f"plot {name} has no <rect> (bars)"
        assert svg.find_all("line"), f"plot {name} has no <line> (axis, threshold)"
        assert svg.text(), f"plot {name} has no labels"
    return plots


def reference_group(result: Mapping[str, Any]) -> str:
    """The group the impact ratios are taken against: the bias audit's reference, else the
    group with the highest selection rate."""
    audit = result.get("bias_audit")
    if isinstance(audit, Mapping) and isinstance(audit.get("reference"), str):
        return str(audit["reference"])
    groups: Mapping[str, Mapping[str, Any]] = result["groups"]
    return max(groups, key=lambda name: groups[name].get("selection_rate") or 0.0)


def _scopes(element: Element) -> list[Element]:
    """``element`` and the <g> it sits in (a chart's item or line group), if any."""
    scopes = [element]
    if element.parent is not None and element.parent.tag == "g":
        scopes.append(element.parent)
    return scopes


def _says(element: Element, word: str) -> bool:
    """``element`` (or its <g>) has ``word`` in its text, classes or attribute values."""
    word = word.lower()
    return any(
        word in scope.text().lower() or any(word in v.lower() for v in scope.attrs.values())
        for scope in _scopes(element)
    )


def _is_marked(element: Element) -> bool:
    tokens = element.attrs.get("class", "").split()
    return element.attrs.get("data-reference", "false") != "false" or any(
        token in {"mark", "marked"} or "reference" in token for token in tokens
    )


def check_reference_marked(dom: Element, reference: str) -> None:
    """The selection rate chart marks ``reference``: a marked element (``data-reference``, a
    class ``mark``/``marked`` or containing "reference") that, with the <g> it sits in, names
    the group and says "reference"."""
    plots = check_plots(dom, ("selection_rate",))
    marked = [e for e in plots["selection_rate"].iter() if _is_marked(e)]
    assert marked, "nothing in the selection rate plot is marked"
    assert any(_says(e, reference) and _says(e, "reference") for e in marked), (
        f"no mark names {reference!r} as the reference"
    )


def check_four_fifths_line(dom: Element) -> None:
    """The selection rate chart draws the four-fifths line: a <line> that (with its <g>) is
    labelled or classed "four-fifths"."""
    plots = check_plots(dom, ("selection_rate",))
    lines = plots["selection_rate"].find_all("line")
    assert any(_says(line, "four-fifths") for line in lines), "no four-fifths line"


def check_self_contained(dom: Element) -> None:
    """No script and nothing loaded from elsewhere: no external URL in a loading attribute or
    in a style sheet."""
    assert not dom.find_all("script"), "the page has a <script>"
    for element in dom.iter():
        for name in URL_ATTRIBUTES:
            value = element.attrs.get(name, "")
            assert not _EXTERNAL.match(value), f"<{element.tag} {name}={value!r}>"
        assert not _CSS_EXTERNAL.search(element.attrs.get("style", "")), "external CSS"
    for style in dom.find_all("style"):
        assert not _CSS_EXTERNAL.search(style.text()), "a style sheet loads from elsewhere"


def check_print_styles(dom: Element) -> None:
    """The page has print styles (``@media print`` in a style sheet)."""
    sheets = " ".join(style.text() for style in dom.find_all("style"))
    assert "@media print" in sheets, "no @media print styles"


def check_pdf(path: Path) -> int:
    """A complete PDF of more than :data:`MIN_PDF_BYTES`; returns its size."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:], "not a complete PDF"
    assert len(data) > MIN_PDF_BYTES, f"{len(data)} bytes: an almost empty PDF"
    return len(data)
