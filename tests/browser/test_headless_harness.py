"""The browser harness can fail: each check of tests/browser/checks.py rejects a page that breaks
it, the network log sees a page that fetches, a hung browser is killed with its children, and
without a browser the tests fail in CI and skip elsewhere.

The pages here are hand-written to the report's HTML contract (docs/report.md); they test the
harness, not the report (tests/browser/test_report_in_browser.py renders the real one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
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
)
from browser.headless import BrowserError, Chromium, page_requests, parse_dom, png_info

REPO = Path(__file__).resolve().parents[2]


def _bars(name: str) -> str:
    rates = {"north": 0.40, "south": 0.41, "west": 0.0}
    bars = "".join(
        f'<g class="bar{" reference" if group == "south" else ""}">'
        f'<rect x="{60 + i * 110}" y="{250 - rate * 400:.0f}" width="80" '
        f'height="{max(rate * 400, 1):.0f}" fill="#3465a4"/>'
        f'<text x="{70 + i * 110}" y="270">{group}</text></g>'
        for i, (group, rate) in enumerate(rates.items())
    )
    return (
        f'<svg class="plot" data-plot="{name}" role="img" width="420" height="280">'
        f"<title>{name}</title>"
        '<line x1="50" y1="250" x2="410" y2="250" stroke="#000"/>'
        '<line class="four-fifths" x1="50" y1="119" x2="410" y2="119" stroke="#c00"/>'
        f"{bars}</svg>"
    )


ROWS = "".join(
    f"<tr><td>check {i}</td><td>passed: the signature and digest agree</td></tr>" for i in range(30)
)
PLOTS = "".join(
    _bars(name)
    for name in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
)
HEADLINE = (
    '<section id="headline"><h2>Is the evidence authentic?</h2>'
    '<div id="authenticity" data-authentic="true">Yes: 14 checks passed, signed by Acme.</div>'
    '<h2>What did the audit find?</h2><div id="findings" data-outcome="breach"><ul>'
    '<li class="decision" data-status="breach">max gap 0.82 (threshold 0.1): BREACH</li>'
    '<li class="decision" data-status="breach">min impact ratio 0 (threshold 0.8): BREACH</li>'
    "</ul></div></section>"
)
CONTRACT_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>audit</title>'
    "<style>body{font-family:sans-serif;margin:2rem}#findings{color:#a40000}"
    "td{border:1px solid #999;padding:4px}@media print{section{break-before:page}}</style>"
    f"</head><body><h1>Fairness audit</h1><main>{HEADLINE}"
    f'<section id="plots">{PLOTS}</section>'
    f'<section id="evidence"><table>{ROWS}</table></section></main></body></html>'
)
STATUSES = ["breach", "breach"]

#: Each broken page and the check that must reject it.
BROKEN: dict[str, tuple[str, Callable[..., object]]] = {
    "headline after a table": (
        CONTRACT_PAGE.replace("<main>", f"<main><table>{ROWS}</table>"),
        check_headline_first,
    ),
    "evidence not authentic": (
        CONTRACT_PAGE.replace('data-authentic="true"', 'data-authentic="false"'),
        check_headline_first,
    ),
    "findings inside authenticity": (
        CONTRACT_PAGE.replace(
            'passed, signed by Acme.</div><h2>What did the audit find?</h2><div id="findings"',
            'passed.<div id="findings"',
        ).replace("</ul></div></section>", "</ul></div></div></section>"),
        check_headline_first,
    ),
    "a plot missing": (
        CONTRACT_PAGE.replace('data-plot="precision"', 'data-plot="x"'),
        check_plots,
    ),
    "a plot without bars": (
        CONTRACT_PAGE.replace("<rect", "<circle"),
        check_plots,
    ),
    "a decision missing": (
        CONTRACT_PAGE.replace('<li class="decision" data-status="breach">max', "<li>max"),
        lambda dom: check_decisions(dom, STATUSES),
    ),
    "a breach shown as pass": (
        CONTRACT_PAGE.replace('data-status="breach">min', 'data-status="pass">min'),
        lambda dom: check_decisions(dom, STATUSES),
    ),
    "wrong overall outcome": (
        CONTRACT_PAGE.replace('data-outcome="breach"', 'data-outcome="pass"'),
        lambda dom: check_decisions(dom, STATUSES),
    ),
    "reference not marked": (
        CONTRACT_PAGE.replace("bar reference", "bar"),
        lambda dom: check_reference_marked(dom, "south"),
    ),
    "another group marked": (
        CONTRACT_PAGE,
        lambda dom: check_reference_marked(dom, "north"),
    ),
    "no four-fifths line": (
        CONTRACT_PAGE.replace('class="four-fifths" ', ""),
        check_four_fifths_line,
    ),
    "no print styles": (
        CONTRACT_PAGE.replace("@media print", "@media screen"),
        check_print_styles,
    ),
    "a script": (
        CONTRACT_PAGE.replace("</main>", "<script>1</script></main>"),
        check_self_contained,
    ),
    "an external image": (
        CONTRACT_PAGE.replace("</main>", '<img src="https://cdn.example.org/x.png"></main>'),
        check_self_contained,
    ),
    "an external style sheet": (
        CONTRACT_PAGE.replace("<style>", "<style>@import url(//cdn.example.org/a.css);"),
        check_self_contained,
    ),
}


def _write(directory: Path, name: str, html: str) -> Path:
    path = directory / name
    path.write_text(html, encoding="utf-8")
    return path


def test_the_contract_page_passes_every_check(chromium: Chromium, tmp_path: Path) -> None:
    page = _write(tmp_path, "contract.html", CONTRACT_PAGE)
    netlog = tmp_path / "netlog.json"
    dom = parse_dom(chromium.dump_dom(page, offline=True, netlog=netlog))
    assert page_requests(netlog) == []
    check_headline_first(dom)
    assert check_decisions(dom, STATUSES) == "breach"
    check_plots(dom)
    check_reference_marked(dom, "south")
    check_four_fifths_line(dom)
    check_self_contained(dom)
    check_print_styles(dom)
    check_screenshot(chromium.screenshot(page, tmp_path / "contract.png"))
    check_pdf(chromium.print_pdf(page, tmp_path / "contract.pdf"))


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_each_check_rejects_a_page_that_breaks_it(broken: str) -> None:
    html, check = BROKEN[broken]
    assert html != CONTRACT_PAGE or broken == "another group marked", "the page is not broken"
    with pytest.raises(AssertionError):
        check(parse_dom(html))


def test_a_blank_page_fails_the_screenshot_check(chromium: Chromium, tmp_path: Path) -> None:
    page = _write(tmp_path, "blank.html", "<!DOCTYPE html><html><body></body></html>")
    shot = chromium.screenshot(page, tmp_path / "blank.png")
    assert png_info(shot.read_bytes()).width == 1280  # a valid PNG, but nothing on it
    with pytest.raises(AssertionError, match=r"almost empty page|blank page|differ from"):
        check_screenshot(shot)


def test_the_network_log_sees_what_a_page_fetches(chromium: Chromium, tmp_path: Path) -> None:
    html = CONTRACT_PAGE.replace(
        "</main>",
        '<img src="http://images.example.org/x.png">'
        '<link rel="stylesheet" href="https://cdn.example.org/a.css"></main>',
    )
    page = _write(tmp_path, "fetching.html", html)
    netlog = tmp_path / "netlog.json"
    dom = parse_dom(chromium.dump_dom(page, offline=True, netlog=netlog))
    requests = page_requests(netlog)
    assert "http://images.example.org/x.png" in requests
    assert "https://cdn.example.org/a.css" in requests
    check_headline_first(dom)  # it still renders without the network


def test_png_reader_rejects_a_damaged_file(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "tiny.png"
    Image.new("RGB", (4, 3), "white").save(path)
    data = path.read_bytes()
    assert (png_info(data).width, png_info(data).height) == (4, 3)
    damaged = bytearray(data)
    damaged[20] ^= 0xFF  # inside IHDR
    with pytest.raises(ValueError, match="CRC mismatch"):
        png_info(bytes(damaged))
    with pytest.raises(ValueError, match=r"truncated|out of order"):
        png_info(data[:-20])
    with pytest.raises(ValueError, match="signature"):
        png_info(b"GIF89a" + data[6:])


def test_a_hung_browser_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pids}\nwait\n")
    fake.chmod(0o755)
    browser = Chromium(str(fake), tmp_path, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BrowserError, match="did not finish within 1 s"):
        browser.dump_dom(tmp_path / "page.html")
    assert time.monotonic() - started < 10
    left = [int(pid) for pid in pids.read_text().split()]
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while (left := [pid for pid in left if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes {left} of the hung browser are still running"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (killed but not yet reaped by its new parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_without_a_browser_the_tests_fail_in_ci_and_skip_elsewhere(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={REPO}",
        str(
            REPO
            / "tests/browser/test_headless_harness.py::test_a_blank_page_fails_the_screenshot_check"
        ),
    ]
    runs = {}
    for ci in ("true", ""):
        env = {**os.environ, "REGAUDIT_CHROMIUM": str(tmp_path / "no-such-browser"), "CI": ci}
        runs[ci] = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    outputs = {ci: run.communicate(timeout=120)[0].decode() for ci, run in runs.items()}
    assert runs["true"].returncode == 1, outputs["true"]
    assert "browser tests cannot run in CI" in outputs["true"]
    assert "apt-get install" in outputs["true"]
    assert runs[""].returncode == 0, outputs[""]
    assert "1 skipped" in outputs[""]
