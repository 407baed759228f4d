"""The concordance circuit on the plaintext backend (the exact run the evaluator performs, minus
encryption) against scikit-survival and lifelines: EXACT equality of the pair counts on every
right-censored data set lifelines ships, at full size, and on synthetic worst cases (5 % and
1 % events, heavy ties in time and in risk, N up to 10,000)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.utils import concordance_index
from sksurv.metrics import concordance_index_censored
from support.lifelines_sets import (
    LIFELINES_SETS,
    SYNTHETIC,
    Cohort,
    lifelines_cohort,
    synthetic_cohort,
)

from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.reference import reference
from regaudit.shared.primitives.concordance.report import decode


def _check(cohort: Cohort) -> None:
    risk, time, event = cohort.risk, cohort.time, cohort.event
    ref = concordance_index_censored(event.astype(bool), time, risk)
    data = parse({"risk": risk, "time": time, "event": event})
    plan, outputs = evaluate_plaintext(ConcordanceCircuit(), data)
    assert plan.depth == 4 and plan.n_chunks == 1
    report = decode(outputs, data.public, data.rows)
    # exact: integer counts equal sksurv's, C equal to the last bit, error bound 0
    assert report["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert report["concordant_pairs"] == ref[1] + 0.5 * ref[3]
    assert report["tied_risk_pairs"] == ref[3]
    assert report["c_index"] == pytest.approx(ref[0], abs=1e-15)
    assert report["c_index_error_bound"] == 0.0
    exact = reference(data)
    assert report["comparable_pairs"] == exact["comparable_pairs"]
    # lifelines' convention: higher predicted time = lower risk
    assert report["c_index"] == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)


@pytest.mark.parametrize("name", sorted(LIFELINES_SETS))
def test_exact_on_every_lifelines_data_set(name: str) -> None:
    _check(lifelines_cohort(name))


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_exact_on_synthetic_worst_cases(name: str) -> None:
    cohort = synthetic_cohort(name)
    if name.startswith("all risks"):
        assert np.unique(cohort.risk).size == 1
    _check(cohort)
