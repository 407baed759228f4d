"""Reports: text, HTML (self-contained, escaped) and JSON, from a really verified audit (the
report's layout, plots and headline: tests/report)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import pytest

from regaudit.regulator.report import failure_json, render_html, render_text, result_json
from regaudit.regulator.verify import VerifiedAudit, verify_bundle
from regaudit.shared.errors import DigestMismatchError, InputError
from regaudit.shared.primitives.fairness.reference import reference as fairness_reference


@pytest.fixture(scope="module")
def verified(parties: Any, good: Any) -> VerifiedAudit:
    return verify_bundle(good.bundle, regulator_keys=parties.regulator_keys, trust=parties.trust())


def test_result_json_has_the_seed_field_names_and_evidence(
    verified: VerifiedAudit, good: Any
) -> None:
    document = result_json(verified)
    assert document["verified"] is True
    assert document["primitive"] == "fairness"
    assert document["audit_id"] == good.bundle.audit_id
    result = document["result"]
    for name in (
        "demographic_parity_diff",
        "equal_opportunity_diff",
        "predictive_parity_diff",
        "equalized_odds_fpr_diff",
        "impact_ratios",
        "threshold_breached",
        "four_fifths_breached",
    ):
        assert name in result
    assert result == fairness_reference(good.data)
    evidence = document["evidence"]
    assert evidence["bundle_digest"].startswith("sha256:")
    assert evidence["depth"]["planned"] == verified.plan.depth
    assert evidence["canary"]["passed"] is True
    # the canary leaves the regulator as passed/failed with its tolerance, no decrypted value
    assert set(evidence["canary"]) == {"passed", "expected", "tolerance"}
    assert set(evidence["client"]["input_commitments"]) == set(verified.plan.columns)
    # the evaluator's deletion statement is shown for what it is
    assert evidence["evaluator"]["retention"] == {
        "input_ciphertexts": "deleted",
        "evaluation_keys": "deleted",
    }
    assert json.loads(json.dumps(document, allow_nan=False)) == document  # plain JSON only


def test_failure_json_shape() -> None:
    document = failure_json(DigestMismatchError("output/0 differs", field="output/0"))
    assert document["verified"] is False
    assert document["reason"] == "digest_mismatch"
    assert document["message"] == "output/0 differs"
    assert document["field"] == "output/0"
    assert failure_json(InputError("no such file"))["reason"] == "invalid_input"


def test_text_report_marks_undefined_rates(verified: VerifiedAudit) -> None:
    text = render_text(verified)
    # the per-group table of the full result: west's precision has no predicted positives
    per_group = text.split("  Per group\n", 1)[1]
    west = next(line for line in per_group.splitlines() if line.strip().startswith("west"))
    assert west.split()[-1] == "undefined"
    # the precision plot draws it as a gap, never as a bar of 0
    precision_plot = text.split("[precision]\n", 1)[1]
    west_bar = next(line for line in precision_plot.splitlines() if "west" in line)
    assert "undefined" in west_bar and "#" not in west_bar
    assert "west.precision" in text
    dp = verified.result["demographic_parity_diff"]
    assert f"{dp:.6g}" in text
    assert verified.receipt.job_id in text and verified.bundle_digest in text


def test_html_report_is_self_contained_and_escaped(verified: VerifiedAudit) -> None:
    hostile = "<script>alert('x')</script>"
    result = dict(verified.result)
    result["groups"] = {hostile: dict(next(iter(verified.result["groups"].values())))}
    result["impact_ratios"] = {hostile: 0.5}
    page = render_html(dataclasses.replace(verified, result=result))
    assert hostile not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=""", page, re.IGNORECASE)  # no external assets
    assert "<style>" in page


def test_html_report_contains_the_metrics(verified: VerifiedAudit) -> None:
    page = render_html(verified)
    for name in ("demographic_parity_diff", "equal_opportunity_diff", "max_gap"):
        value = verified.result[name]
        assert isinstance(value, float) and not math.isnan(value)
        assert name.replace("_", " ") in page
        assert f"{value:.6g}" in page
    assert 'class="undef">undefined<' in page
    assert "BREACHED" in page
