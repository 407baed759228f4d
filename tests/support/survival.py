"""Real survival data from lifelines for the concordance checks: four data sets, each with the
risk score of a Cox model fitted on the whole set, sampled to a fixed number of patients.

Shared by ``tests/primitives/concordance/test_concordance_sksurv.py`` and
``benchmarks/bench_concordance_accuracy.py`` (which puts ``tests/`` on its ``sys.path``).
gbsg2, kidney_transplant and rossi have fewer than 1,000 patients, so a 1,000-patient sample
is a bootstrap (with replacement, which also creates exact ties in time and risk); dd has 1,808
and is subsampled without replacement.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from lifelines import CoxPHFitter, datasets

__all__ = ["SURVIVAL_DATASETS", "SurvivalSample", "cox_sample", "survival_frame"]

#: The lifelines data sets, in the order the test and the benchmark report them.
SURVIVAL_DATASETS: tuple[str, ...] = ("gbsg2", "kidney_transplant", "rossi", "dd")


class SurvivalSample(NamedTuple):
    """Sampled patients of one data set and the size of the whole set."""

    risk: npt.NDArray[np.float64]
    time: npt.NDArray[np.float64]
    event: npt.NDArray[np.int64]
    source_patients: int


def survival_frame(name: str) -> tuple[pd.DataFrame, str, str]:
    """Data set ``name`` with numeric covariates only, its time column and its event column."""
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


def cox_sample(name: str, patients: int, seed: int) -> SurvivalSample:
    """``patients`` patients of data set ``name`` (with replacement if the set is smaller),
    risk = the partial hazard of a Cox model (penalizer 0.01) fitted on the whole set."""
    df, time_col, event_col = survival_frame(name)
    model = CoxPHFitter(penalizer=0.01).fit(df, time_col, event_col)
    risk = model.predict_partial_hazard(df).to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.choice(len(df), patients, replace=len(df) < patients)
    return SurvivalSample(
        risk=risk[index],
        time=df[time_col].to_numpy(dtype=float)[index],
        event=df[event_col].to_numpy(dtype=int)[index],
        source_patients=len(df),
    )
