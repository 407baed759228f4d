"""The concordance circuit on the plaintext backend (the exact run the evaluator performs, minus
encryption) against scikit-survival on real survival data from lifelines at N = 1,000 patients:
|delta C| <= 0.002 (the design's target). gbsg2, kidney_transplant and rossi have fewer than
1,000 patients and are bootstrapped (sampled with replacement, which also creates exact ties in
time and risk); dd has 1,808 and is subsampled without replacement. Risk = the partial hazard of
a lifelines Cox model fitted on the full data set."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from sksurv.metrics import concordance_index_censored
from support.survival import SURVIVAL_DATASETS, cox_sample

from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.reference import reference
from regaudit.shared.primitives.concordance.report import decode

PATIENTS = 1000
TARGET = 0.002


@cache
def real_sample(
    name: str, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(risk, time, event) of PATIENTS patients of data set ``name``."""
    risk, time, event, _ = cox_sample(name, PATIENTS, seed)
    return risk, time, event


@pytest.mark.parametrize("name", SURVIVAL_DATASETS)
def test_circuit_matches_sksurv_at_1000_patients(name: str) -> None:
    risk, time, event = real_sample(name)
    ref = concordance_index_censored(event.astype(bool), time, risk)
    data = parse({"risk": risk.tolist(), "time": time.tolist(), "event": event.tolist()})
    # 1. the exact oracle reproduces sksurv exactly (counts and C)
    exact = reference(data)
    assert exact["c_index"] == pytest.approx(ref[0], abs=1e-12)
    assert exact["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert exact["concordant_pairs"] == ref[1] + 0.5 * ref[3]
    assert exact["tied_risk_pairs"] == ref[3]
    assert exact["tied_time_pairs"] == ref[4]
    # 2. the circuit, run chunk by chunk at the planned levels
    plan, outputs = evaluate_plaintext(ConcordanceCircuit(), data)
    assert plan.depth == 6
    report = decode(outputs, data.public, data.rows)
    delta = report["c_index"] - ref[0]
    print(f"\n{name}: sksurv C {ref[0]:.6f}, circuit C {report['c_index']:.6f}, dC {delta:+.2e}")
    assert abs(delta) <= TARGET
    assert report["comparable_pairs"] == pytest.approx(exact["comparable_pairs"], rel=0.01)
    assert report["concordant_pairs"] == pytest.approx(exact["concordant_pairs"], rel=0.01)
    assert report["c_index_error_bound"] >= abs(delta)
