"""Fixtures of the browser tests: a headless Chromium and a real verified fairness report.

``chromium``: the Debian package's browser (scripts/install_browser.sh, which
``scripts/bootstrap.sh --dev`` runs as root). Without it the tests skip, except in CI
(``CI=true``), where they fail and say how to install it.

``report_page``: the HTML report of a real audit, written to a file: the regulator tests'
parties and bundle builder (tests/regulator/conftest.py: fresh CKKS keys, the fairness circuit on
SEAL, signed receipt and submission, HPKE-sealed key), verified with
:func:`regaudit.regulator.verify.verify_bundle` and rendered with
:func:`regaudit.regulator.report.render_html`. Three groups, one never selected: the audit
breaches (impact ratio 0, maximum gap over the audit threshold).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser.headless import Chromium, find_chromium
from browser.pages import ReportPage
from regulator.conftest import Parties, build_bundle, fairness_payload, parties

from regaudit.regulator.report import render_html
from regaudit.regulator.result_policy import decisions_of
from regaudit.regulator.verify import verify_bundle
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input

__all__ = ["parties"]  # the session fixture, shared with tests/regulator

#: Rows of the audited data (one chunk: the bundle builds in about a second).
ROWS = 400
#: Environment variable naming a directory that keeps the screenshot and PDF (CI artifacts).
ARTIFACTS_ENV = "REGAUDIT_ARTIFACTS_DIR"
INSTALL_HINT = (
    "the Debian package 'chromium' (/usr/bin/chromium) is missing: run "
    "`bash scripts/install_browser.sh` as root (scripts/bootstrap.sh --dev does), or "
    "`apt-get install -y --no-install-recommends chromium`; REGAUDIT_CHROMIUM names another binary"
)


def in_ci() -> bool:
    """True on a CI runner (``CI=true``, as GitHub Actions, GitLab and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    """The headless browser; skips without one, fails without one in CI."""
    executable = find_chromium()
    if executable is None:
        if in_ci():
            pytest.fail(f"browser tests cannot run in CI: {INSTALL_HINT}", pytrace=False)
        pytest.skip(INSTALL_HINT)
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium"))
    assert "Chrom" in browser.version(), "not a Chromium (or Chrome) executable"
    return browser


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$REGAUDIT_ARTIFACTS_DIR`` (created) when set, else a temporary directory."""
    configured = os.environ.get(ARTIFACTS_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("browser-artifacts")


@pytest.fixture(scope="session")
def report_page(parties: Parties, tmp_path_factory: pytest.TempPathFactory) -> ReportPage:
    """The HTML report of a real, verified, breaching fairness audit."""
    data = parse_fairness_input(fairness_payload(ROWS, seed=5))
    bundle = build_bundle(parties, data)
    trust = parties.trust()
    verified = verify_bundle(bundle, regulator_keys=parties.regulator_keys, trust=trust)
    path = tmp_path_factory.mktemp("report") / "fairness-report.html"
    path.write_text(render_html(verified, trust=trust), encoding="utf-8")
    decisions = decisions_of(verified.primitive, verified.result, trust.result_policy)
    return ReportPage(path, verified, decisions)
