"""The concordance circuit on the plaintext backend (the exact run the evaluator performs, minus
encryption) against scikit-survival on real survival data from lifelines at N = 1,000 patients:
|delta C| <= 0.002 (the design's target). gbsg2, kidney_transplant and rossi have fewer than
1,000 patients and are bootstrapped (sampled with replacement, which also creates exact ties in
time and risk); dd has 1,808 and is subsampled without replacement. Risk = the partial hazard of
a lifelines Cox model fitted on the full data set."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, datasets
from sksurv.metrics import concordance_index_censored

from regaudit.shared.circuits.concordance import (
    ConcordanceCircuit,
    concordance_reference,
    evaluate_plaintext,
    parse_concordance_input,
)

PATIENTS = 1000
TARGET = 0.002


def _frame(name: str) -> tuple[pd.DataFrame, str, str]:
    if name == "gbsg2":
        df = datasets.load_gbsg2()
        df = df.assign(
            horTh=(df.horTh == "yes").astype(int),
            menostat=(df.menostat == "Post").astype(int),
            tgrade=df.tgrade.map({"I": 1, "II": 2, "III": 3}).astype(int),
        )
        return df, "time", "cens"
    if name == "kidney_transplant":
        return datasets.load_kidney_transplant(), "time", "death"
    if name == "rossi":
        return datasets.load_rossi(), "week", "arrest"
    if name == "dd":
        df = datasets.load_dd()
        df = pd.DataFrame(
            {
                "duration": df.duration,
                "observed": df.observed,
                "democracy": (df.democracy == "Democracy").astype(int),
                "start_year": df.start_year,
            }
        )
        return df, "duration", "observed"
    raise KeyError(name)


@cache
def real_sample(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(risk, time, event) of PATIENTS patients of data set ``name``."""
    df, time_col, event_col = _frame(name)
    model = CoxPHFitter(penalizer=0.01).fit(df, time_col, event_col)
    risk = model.predict_partial_hazard(df).to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.choice(len(df), PATIENTS, replace=len(df) < PATIENTS)
    time = df[time_col].to_numpy(dtype=float)[index]
    event = df[event_col].to_numpy(dtype=int)[index]
    return risk[index], time, event


@pytest.mark.parametrize("name", ["gbsg2", "kidney_transplant", "rossi", "dd"])
def test_circuit_matches_sksurv_at_1000_patients(name: str) -> None:
    risk, time, event = real_sample(name)
    ref = concordance_index_censored(event.astype(bool), time, risk)
    data = parse_concordance_input(
        {"risk": risk.tolist(), "time": time.tolist(), "event": event.tolist()}
    )
    # 1. the exact oracle reproduces sksurv exactly (counts and C)
    exact = concordance_reference(data)
    assert exact["c_index"] == pytest.approx(ref[0], abs=1e-12)
    assert exact["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert exact["concordant_pairs"] == ref[1] + 0.5 * ref[3]
    assert exact["tied_risk_pairs"] == ref[3]
    assert exact["tied_time_pairs"] == ref[4]
    # 2. the circuit, run chunk by chunk at the planned levels
    plan, outputs = evaluate_plaintext(data)
    assert plan.depth == 6
    report = ConcordanceCircuit().decode(outputs, data.public, data.rows)
    delta = report["c_index"] - ref[0]
    print(f"\n{name}: sksurv C {ref[0]:.6f}, circuit C {report['c_index']:.6f}, dC {delta:+.2e}")
    assert abs(delta) <= TARGET
    assert report["comparable_pairs"] == pytest.approx(exact["comparable_pairs"], rel=0.01)
    assert report["concordant_pairs"] == pytest.approx(exact["concordant_pairs"], rel=0.01)
    assert report["c_index_error_bound"] >= abs(delta)
