"""NYC Local Law 144 bias audit, end to end, on a PUBLIC recidivism dataset (lifelines' Rossi
data, :mod:`rossi`): two group columns (race, age band) make intersectional categories, some
rows' race is unknown (``--unknown-label``), one category is under 2 % of the rows.

A real evaluator daemon, ``regaudit-client audit fairness --group race --group age_band`` and
``regaudit-regulator verify --json`` (real CKKS, real signatures); the released bias-audit table
is compared with an independent plaintext computation in pandas (selection rates, impact ratios
against the highest rate, " & "-joined categories, unknown rows, small flags), the Wilson
intervals with scipy's binomtest, the p-values with scipy's fisher_exact or a pooled two-proportion
z test written here from its formula. Then the scoring-rate variant (``--scores``: the model's
probability; selection = score above the sample median)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ll144.rossi import UNKNOWN_LABEL, rossi_table
from scipy import stats
from support.parties import Parties

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RELATIVE = 1e-9
GROUP_OPTIONS = ("--group", "race", "--group", "age_band", "--unknown-label", UNKNOWN_LABEL)
DESCRIPTION: dict[str, Any] = {
    "dataset": "Rossi recidivism (lifelines)",
    "period": {"start": "1970-01-01", "end": "1972-12-31"},
    "source": "lifelines.datasets.load_rossi(), Rossi, Berk & Lenihan (1980)",
}


def _pooled_z_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of the pooled two-proportion z test, from the textbook formula."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def expected_table(
    table: pd.DataFrame, selected: pd.Series, reference: str | None = None
) -> dict[str, Any]:
    """The LL144 table computed independently from the plaintext with pandas and scipy
    (reference: ``reference`` or the category with the highest rate)."""
    rows = len(table)
    known = table["race"] != UNKNOWN_LABEL
    frame = pd.DataFrame(
        {
            "category": table["race"] + " & " + table["age_band"],
            "selected": selected.astype(int),
        }
    )[known]
    grouped = frame.groupby("category")["selected"].agg(["count", "sum"])
    rates = grouped["sum"] / grouped["count"]
    reference = reference or str(rates.idxmax())
    categories: dict[str, Any] = {}
    for name, (count, chosen) in grouped.iterrows():
        count, chosen = int(count), int(chosen)
        interval = stats.binomtest(chosen, count).proportion_ci(
            confidence_level=0.95, method="wilson"
        )
        entry: dict[str, Any] = {
            "count": count,
            "selected": chosen,
            "share": count / rows,
            "small": count / rows < 0.02,
            "selection_rate": chosen / count,
            "ci": (interval.low, interval.high),
            "impact_ratio": (chosen / count) / rates[reference],
        }
        if name != reference:
            ref_n, ref_k = int(grouped.loc[reference, "count"]), int(grouped.loc[reference, "sum"])
            cells = [chosen, count - chosen, ref_k, ref_n - ref_k]
            if min(cells) < 5:
                entry["test"] = "fisher_exact"
                entry["p_value"] = float(
                    stats.fisher_exact([[chosen, count - chosen], [ref_k, ref_n - ref_k]])[1]
                )
            else:
                entry["test"] = "two_proportion_z"
                entry["p_value"] = _pooled_z_p(chosen, count, ref_k, ref_n)
        categories[str(name)] = entry
    return {"unknown": int((~known).sum()), "reference": reference, "categories": categories}


def assert_matches(audit: dict[str, Any], expected: dict[str, Any], rows: int) -> None:
    assert audit["rows"] == rows
    assert audit["unknown_rows"] == expected["unknown"] > 0
    assert audit["reference"] == expected["reference"]
    assert set(audit["categories"]) == set(expected["categories"])
    assert any(entry["small"] for entry in expected["categories"].values())
    for name, want in expected["categories"].items():
        got = audit["categories"][name]
        assert got["components"] == name.split(" & "), name
        assert (got["count"], got["selected"], got["small"]) == (
            want["count"],
            want["selected"],
            want["small"],
        ), name
        assert got["excluded"] is False
        assert got["share"] == pytest.approx(want["share"], rel=RELATIVE)
        assert got["selection_rate"] == pytest.approx(want["selection_rate"], rel=RELATIVE)
        assert got["impact_ratio"] == pytest.approx(want["impact_ratio"], rel=RELATIVE, abs=1e-12)
        assert got["four_fifths"] == (want["impact_ratio"] < 0.8), name
        assert got["selection_rate_ci"] == pytest.approx(list(want["ci"]), rel=1e-9, abs=1e-12)
        if name == expected["reference"]:
            assert got["test"] is None and got["adverse_impact_indicated"] is False
            continue
        assert got["test"] == want["test"], name
        assert got["p_value"] == pytest.approx(want["p_value"], rel=1e-6, abs=1e-12), name
        assert got["significant"] == (want["p_value"] < 0.05), name
        assert got["adverse_impact_indicated"] == (
            want["impact_ratio"] < 0.8 and want["p_value"] < 0.05
        ), name


def _audit(parties: Parties, tmp_path: Path, csv: Path, *extra: str) -> dict[str, Any]:
    bundle = tmp_path / "bundle.json"
    audited = parties.audit(csv, bundle, *GROUP_OPTIONS, "--quiet", *extra)
    assert audited.returncode == 0, audited.stderr
    verified = parties.verify(bundle)
    assert verified.returncode == 0, verified.stderr
    payload = json.loads(verified.stdout)
    assert payload["verified"] is True
    return {"payload": payload, "bundle": bundle}


@pytest.fixture(scope="module")
def rossi_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    table = rossi_table()
    path = tmp_path_factory.mktemp("rossi") / "rossi.csv"
    table.to_csv(path, index=False)
    return table, path


def test_ll144_selection_rates_on_rossi_equal_pandas(
    parties: Parties, rossi_csv: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    table, path = rossi_csv
    run = _audit(
        parties,
        tmp_path,
        path,
        "--dataset",
        str(DESCRIPTION["dataset"]),
        "--period",
        "1970-01-01/1972-12-31",
        "--source",
        str(DESCRIPTION["source"]),
    )
    audit = run["payload"]["result"]["bias_audit"]
    assert audit["rate_name"] == "selection_rate"
    assert audit["selection_basis"] == "prediction" and audit["score_median"] is None
    assert_matches(audit, expected_table(table, table["y_pred"]), rows=len(table))
    assert run["payload"]["result"]["unassigned_rows"] == audit["unknown_rows"]

    from regaudit.regulator.verify import verify_bundle
    from regaudit.secretkey.sealing import RegulatorKeys
    from regaudit.shared.bundle import AuditBundle
    from regaudit.shared.evidence.truststore import TrustStore

    verified = verify_bundle(
        AuditBundle.read(run["bundle"]),
        regulator_keys=RegulatorKeys.load(parties.regulator),
        trust=TrustStore.load(parties.trust),
    )
    description = verified.submission.data_description
    assert {key: description[key] for key in DESCRIPTION} == DESCRIPTION
    assert description["rows"] == len(table)


def test_ll144_scoring_rate_on_rossi_equals_pandas(
    parties: Parties, rossi_csv: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    table, path = rossi_csv
    reference = "black & 20-24"  # a large reference: the z test is used, not only Fisher's
    run = _audit(parties, tmp_path, path, "--scores", "score", "--reference-group", reference)
    result = run["payload"]["result"]
    audit = result["bias_audit"]
    median = float(np.median(table["score"]))
    assert audit["rate_name"] == "scoring_rate"
    assert audit["selection_basis"] == "score_above_median"
    assert audit["score_median"] == median
    assert audit["reference"] == reference and audit["reference_chosen"] is True
    expected = expected_table(table, table["score"] > median, reference)
    assert_matches(audit, expected, rows=len(table))
    tests = {entry.get("test") for entry in expected["categories"].values()}
    assert {"two_proportion_z", "fisher_exact"} <= tests
