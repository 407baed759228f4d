"""The LL144-style bias audit of the fairness report (``bias_audit``), checked against an
independent plaintext computation: pandas for the counts, scipy for the Wilson intervals
(``binomtest(...).proportion_ci(method="wilson")``), the z test (normal survival function) and
Fisher's exact test; a hand hypergeometric sum checks the Fisher path. One real CKKS run (profile
ckks-n8192-d3-v1, through ``regaudit.shared.local``) with two group columns gives the same table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regaudit.shared import local, schemas
from regaudit.shared.errors import InputError
from regaudit.shared.primitives.fairness.report import GroupCounts, build_report
from regaudit.shared.primitives.fairness.statistics import (
    Selection,
    bias_audit,
    fisher_exact,
    wilson_interval,
)
from regaudit.shared.results import INTERSECTION_SEPARATOR


def _hiring(rows: int, seed: int = 11) -> pd.DataFrame:
    """A hiring-like table: sex and race columns, selection depending on both."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=rows, p=[0.45, 0.55])
    race = rng.choice(["asian", "black", "white"], size=rows, p=[0.25, 0.25, 0.5])
    base = 0.30 + 0.10 * (sex == "male") - 0.12 * (race == "black")
    selected = (rng.random(rows) < base).astype(int)
    qualified = (rng.random(rows) < 0.5).astype(int)
    return pd.DataFrame({"sex": sex, "race": race, "y_pred": selected, "y_true": qualified})


def _category(frame: pd.DataFrame) -> pd.Series:
    return frame["sex"] + INTERSECTION_SEPARATOR + frame["race"]


def _expected(frame: pd.DataFrame, *, exclude_small: bool = False) -> dict[str, Any]:
    """The bias-audit table computed independently with pandas and scipy."""
    rows = len(frame)
    table = (
        frame.assign(category=_category(frame)).groupby("category")["y_pred"].agg(["size", "sum"])
    )
    rate = table["sum"] / table["size"]
    small = table["size"] / rows < 0.02
    eligible = rate[~small] if exclude_small else rate
    reference = str(eligible.idxmax())
    out: dict[str, Any] = {"reference": reference, "categories": {}}
    n_ref, x_ref = int(table.loc[reference, "size"]), int(table.loc[reference, "sum"])
    for name, (n, x) in table.iterrows():
        ci = stats.binomtest(int(x), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
        entry: dict[str, Any] = {
            "count": int(n),
            "selected": int(x),
            "rate": x / n,
            "ci": (ci.low, ci.high),
            "small": bool(small[name]),
        }
        if not (exclude_small and small[name]):
            entry["ratio"] = (x / n) / (x_ref / n_ref)
            if name != reference:
                cells = [[x, n - x], [x_ref, n_ref - x_ref]]
                if min(min(row) for row in cells) < 5:
                    entry["p"] = stats.fisher_exact(cells).pvalue
                else:
                    pooled = (x + x_ref) / (n + n_ref)
                    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_ref))
                    entry["p"] = 2 * stats.norm.sf(abs(x / n - x_ref / n_ref) / se)
        out["categories"][str(name)] = entry
    return out


def _assert_matches(audit: dict[str, Any], expected: dict[str, Any]) -> None:
    assert audit["reference"] == expected["reference"]
    assert set(audit["categories"]) == set(expected["categories"])
    for name, want in expected["categories"].items():
        got = audit["categories"][name]
        assert got["components"] == name.split(INTERSECTION_SEPARATOR)
        assert (got["count"], got["selected"], got["small"]) == (
            want["count"],
            want["selected"],
            want["small"],
        )
        assert got["selection_rate"] == pytest.approx(want["rate"], abs=1e-12)
        assert got["selection_rate_ci"] == pytest.approx(list(want["ci"]), abs=1e-9)
        if "ratio" not in want:
            assert got["impact_ratio"] is None and got["excluded"]
            continue
        assert got["impact_ratio"] == pytest.approx(want["ratio"], abs=1e-12)
        assert got["four_fifths"] == (want["ratio"] < 0.8)
        if "p" in want:
            assert got["p_value"] == pytest.approx(want["p"], rel=1e-6, abs=1e-300)
            assert got["adverse_impact_indicated"] == (want["ratio"] < 0.8 and want["p"] < 0.05)


def _payload(frame: pd.DataFrame, **options: Any) -> dict[str, Any]:
    return {
        "y_true": frame["y_true"].tolist(),
        "y_pred": frame["y_pred"].tolist(),
        "group": _category(frame).tolist(),
        **options,
    }


def test_bias_audit_equals_pandas_and_scipy() -> None:
    frame = _hiring(3000)
    report = local.audit("fairness", _payload(frame), backend="plaintext").to_dict()
    audit = report["bias_audit"]
    _assert_matches(audit, _expected(frame))
    assert audit["unknown_rows"] == 0 and audit["rows"] == 3000
    # the planted gap (black applicants selected less) is large and significant
    black = [n for n, c in audit["categories"].items() if c["components"][1] == "black"]
    assert any(audit["categories"][n]["adverse_impact_indicated"] for n in black)
    assert audit["adverse_impact_indicated"] is True
    # Wilson intervals of TPR, FPR and precision too
    frame = frame.assign(category=_category(frame))
    for name, part in frame.groupby("category"):
        qualified = part[part["y_true"] == 1]
        unqualified = part[part["y_true"] == 0]
        chosen = part[part["y_pred"] == 1]
        for rate, (x, n) in {
            "true_positive_rate": (qualified["y_pred"].sum(), len(qualified)),
            "false_positive_rate": (unqualified["y_pred"].sum(), len(unqualified)),
            "precision": (chosen["y_true"].sum(), len(chosen)),
        }.items():
            ci = stats.binomtest(int(x), int(n)).proportion_ci(method="wilson")
            got = audit["categories"][name]["rate_ci"][rate]
            assert got == pytest.approx([ci.low, ci.high], abs=1e-9), (name, rate)
    # the existing fields keep their values
    for name, category in audit["categories"].items():
        assert category["impact_ratio"] == pytest.approx(report["impact_ratios"][name], abs=1e-12)
    schemas.validate("fairness.output", report)


def test_small_categories_are_flagged_and_excluded_on_request() -> None:
    frame = _hiring(2000)
    # 30 rows (1.5 %) of a category selected at 100 %: the highest rate, but small
    extra = pd.DataFrame(
        {"sex": ["other"] * 30, "race": ["white"] * 30, "y_pred": [1] * 30, "y_true": [1] * 30}
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    small = "other & white"
    kept = local.audit("fairness", _payload(frame), backend="plaintext").to_dict()["bias_audit"]
    assert kept["categories"][small]["small"] and not kept["categories"][small]["excluded"]
    assert kept["reference"] == small
    _assert_matches(kept, _expected(frame))

    report = local.audit(
        "fairness", _payload(frame, exclude_small=True), backend="plaintext"
    ).to_dict()
    audit = report["bias_audit"]
    assert audit["exclude_small"] is True and audit["excluded"] == [small]
    assert audit["categories"][small]["impact_ratio"] is None
    assert audit["categories"][small]["selection_rate"] == 1.0  # still reported
    assert audit["reference"] != small
    _assert_matches(audit, _expected(frame, exclude_small=True))
    schemas.validate("fairness.output", report)


def test_rows_in_no_category_are_counted_as_unknown() -> None:
    # binary form: rows in neither group_a nor group_b have no category
    group_a = [1] * 40 + [0] * 40 + [0] * 7
    group_b = [0] * 40 + [1] * 40 + [0] * 7
    y_pred = ([1] * 20 + [0] * 20) + ([1] * 10 + [0] * 30) + [1] * 7
    payload = {"y_true": y_pred, "y_pred": y_pred, "group_a": group_a, "group_b": group_b}
    report = local.audit("fairness", payload, backend="plaintext").to_dict()
    assert report["bias_audit"]["unknown_rows"] == 7 == report["unassigned_rows"]
    assert report["bias_audit"]["rows"] == 87
    assert report["bias_audit"]["categories"]["group_b"]["impact_ratio"] == 0.5


def test_tiny_cells_use_fishers_exact_test_and_are_not_adverse_impact() -> None:
    # twelve people: 4 of 6 selected against 1 of 6 -- ratio 0.25, but not significant
    audit = bias_audit({"a": Selection(6, 4), "b": Selection(6, 1)}, rows=12, reference_group=None)
    b = audit["categories"]["b"]
    assert b["test"] == "fisher_exact" and b["small_sample"]
    assert b["impact_ratio"] == 0.25 and b["four_fifths"] is True
    # hand hypergeometric sum: total selected 5, margins 6/6
    pmf = {k: math.comb(6, k) * math.comb(6, 5 - k) / math.comb(12, 5) for k in range(6)}
    observed = pmf[4]
    hand = sum(p for p in pmf.values() if p <= observed * (1 + 1e-7))
    assert b["p_value"] == pytest.approx(hand, rel=1e-9)
    assert b["p_value"] > 0.05 and b["significant"] is False
    assert b["adverse_impact_indicated"] is False
    assert audit["adverse_impact_indicated"] is False
    # the same rates on twelve thousand people are adverse impact (z test)
    large = bias_audit({"a": Selection(6000, 4000), "b": Selection(6000, 1000)}, rows=12000)
    assert large["categories"]["b"]["test"] == "two_proportion_z"
    assert large["categories"]["b"]["small_sample"] is False
    assert large["categories"]["b"]["adverse_impact_indicated"] is True


@pytest.mark.parametrize(
    "cells",
    [
        (4, 6, 1, 6),
        (0, 10, 3, 12),
        (3, 1_000_000, 500_000, 1_000_000),
        (2, 40, 2, 40),
        (5, 5, 0, 7),
    ],
)
def test_fisher_exact_equals_scipy(cells: tuple[int, int, int, int]) -> None:
    xa, na, xb, nb = cells
    got = fisher_exact(Selection(na, xa), Selection(nb, xb))
    want = stats.fisher_exact([[xa, na - xa], [xb, nb - xb]]).pvalue
    assert got == pytest.approx(want, rel=1e-6, abs=1e-300)


def test_wilson_interval_known_values() -> None:
    # Wilson (1927) / Newcombe (1998) table: 81/263 -> 0.2553..0.3662; 0/10 -> 0..0.2775
    low, high = wilson_interval(81, 263) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson_interval(0, 10) or (1, 1)
    assert low == 0.0 and round(high, 4) == 0.2775
    assert wilson_interval(0, 0) is None


def test_a_chosen_reference_group_is_used_and_checked() -> None:
    counts = {
        "x": GroupCounts(count=100, positives=50, predicted_positives=60, true_positives=40),
        "y": GroupCounts(count=100, positives=50, predicted_positives=30, true_positives=20),
    }
    report = build_report(counts, threshold=0.1, rows=200, reference_group="y")
    audit = report["bias_audit"]
    assert audit["reference"] == "y" and audit["reference_chosen"] is True
    assert audit["categories"]["x"]["impact_ratio"] == 2.0
    assert audit["categories"]["x"]["four_fifths"] is False
    schemas.validate("fairness.output", report)
    with pytest.raises(InputError) as caught:
        local.audit(
            "fairness",
            {"y_true": [0, 1], "y_pred": [1, 0], "group": ["a", "b"], "reference_group": "c"},
            backend="plaintext",
        )
    assert caught.value.field == "reference_group" and caught.value.reason == "invalid_input"


def test_ckks_run_with_two_group_columns_equals_plaintext() -> None:
    frame = _hiring(1500, seed=3)
    result = local.audit("fairness", _payload(frame), backend="ckks", profile="ckks-n8192-d3-v1")
    assert result.backend == "ckks" and result.plan is not None
    assert result.plan["profile"] == "ckks-n8192-d3-v1"
    report = result.to_dict()
    _assert_matches(report["bias_audit"], _expected(frame))
    plain = local.audit("fairness", _payload(frame), backend="plaintext").to_dict()
    assert report["bias_audit"] == plain["bias_audit"]
    schemas.validate("fairness.output", report)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_two_group_columns_of_a_table_make_intersectional_categories(
    tmp_path: Path, suffix: str
) -> None:
    """``--group sex,race`` (ColumnMapping group="sex,race"): one category per combination,
    streamed chunks equal the JSON parse of the joined labels."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from regaudit.client.inputs import load_audit_input
    from regaudit.shared.circuits.base import iter_chunks
    from regaudit.shared.primitives.fairness.inputs import parse
    from regaudit.shared.primitives.fairness.table_input import FairnessTable
    from regaudit.shared.primitives.tables import ColumnMapping

    frame = _hiring(5000, seed=8)
    path = tmp_path / f"hiring{suffix}"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if suffix == ".csv":
        pa_csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    mapping = ColumnMapping(y_true="y_true", y_pred="y_pred", group="sex, race")
    loaded = load_audit_input("fairness", path, mapping=mapping)
    assert isinstance(loaded, FairnessTable)
    expected = parse(_payload(frame))
    assert loaded.public == expected.public
    assert "female & black" in loaded.public["groups"] and len(loaded.public["groups"]) == 6
    chunks = list(loaded.iter_chunks(4096))
    whole = list(iter_chunks(expected.columns(), 4096))
    assert len(chunks) == len(whole)
    for got, want in zip(chunks, whole, strict=True):
        assert list(got) == list(want)
        assert all(np.array_equal(got[name], want[name]) for name in want)
    # the bias audit's options become public inputs of the table
    options = {"reference_group": "male & white", "exclude_small": True}
    chosen = load_audit_input("fairness", path, mapping=mapping, overrides=options)
    assert isinstance(chosen, FairnessTable)
    assert chosen.public == {**expected.public, **options}
    # a missing part is named
    with pytest.raises(InputError) as caught:
        load_audit_input(
            "fairness",
            path,
            mapping=ColumnMapping(y_true="y_true", y_pred="y_pred", group="sex,age"),
        )
    assert "age" in str(caught.value)


def _scipy_p(x: int, n: int, x_ref: int, n_ref: int) -> float:
    """The same rule as the audit's (Fisher under 5 in a cell, else the pooled z), in scipy."""
    cells = [[x, n - x], [x_ref, n_ref - x_ref]]
    if min(min(row) for row in cells) < 5:
        return float(stats.fisher_exact(cells).pvalue)
    pooled = (x + x_ref) / (n + n_ref)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_ref))
    return float(2 * stats.norm.sf(abs(x / n - x_ref / n_ref) / se))


def test_tpr_fpr_and_precision_differences_are_tested_against_the_reference() -> None:
    """Every difference gets a test, not only the selection rate's: each category's TPR, FPR
    and precision against the reference category's, with the p-value from scipy."""
    frame = _hiring(1500, seed=4).assign(category=lambda f: _category(f))
    audit = local.audit("fairness", _payload(frame), backend="plaintext").to_dict()["bias_audit"]
    reference = audit["reference"]
    assert audit["categories"][reference]["rate_tests"] == {}

    def counts(part: pd.DataFrame) -> dict[str, tuple[int, int]]:
        return {
            "true_positive_rate": (
                int(part[part.y_true == 1].y_pred.sum()),
                int(part.y_true.sum()),
            ),
            "false_positive_rate": (
                int(part[part.y_true == 0].y_pred.sum()),
                int((part.y_true == 0).sum()),
            ),
            "precision": (int(part[part.y_pred == 1].y_true.sum()), int(part.y_pred.sum())),
        }

    ref = counts(frame[frame.category == reference])
    tested = 0
    for name, part in frame.groupby("category"):
        if name == reference:
            continue
        for rate, (x, n) in counts(part).items():
            x_ref, n_ref = ref[rate]
            got = audit["categories"][name]["rate_tests"][rate]
            assert got["difference"] == pytest.approx(x / n - x_ref / n_ref, abs=1e-12)
            assert got["p_value"] == pytest.approx(_scipy_p(x, n, x_ref, n_ref), rel=1e-6)
            assert got["significant"] == (got["p_value"] < 0.05)
            tested += 1
    assert tested == 3 * (frame.category.nunique() - 1)
