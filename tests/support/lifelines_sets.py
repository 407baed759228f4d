"""Every right-censored survival data set lifelines ships (one row per subject, a time and an
event column), at full size, with a risk score per patient, plus synthetic worst cases.

Shared by ``tests/primitives/concordance/test_concordance_sksurv.py`` and
``benchmarks/bench_concordance_accuracy.py`` / ``bench_concordance_scale.py`` (which put
``tests/`` on their ``sys.path``).

Risk: the partial hazard of a lifelines Cox model (penalizer 0.1) fitted on the whole set's
numeric covariates (missing values filled with the column median); a set without covariates
uses its group column. Left out (not single-row right-censored data): c_botulinum_lag_phase,
diabetes, mice, nh4 (interval or left censoring), dfcv, holly_molly_polly, recur,
stanford_heart_transplants, panel_test (start-stop, recurrent-event or panel rows).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from lifelines import CoxPHFitter, datasets

__all__ = ["LIFELINES_SETS", "SYNTHETIC", "Cohort", "lifelines_cohort", "synthetic_cohort"]


class Cohort(NamedTuple):
    """One cohort: per-patient risk, time, event and how the risk was made."""

    risk: npt.NDArray[np.float64]
    time: npt.NDArray[np.float64]
    event: npt.NDArray[np.int64]
    risk_source: str


def _lymph_node() -> pd.DataFrame:
    df = datasets.load_lymph_node()
    keep = ["age", "menopause", "hormone", "size", "grade", "nodes", "prog_recp", "estrg_recp"]
    return df[[*keep, "rectime", "censrec"]]


def _gbsg2() -> pd.DataFrame:
    df = datasets.load_gbsg2()
    return df.assign(
        horTh=(df.horTh == "yes").astype(int),
        menostat=(df.menostat == "Post").astype(int),
        tgrade=df.tgrade.map({"I": 1, "II": 2, "III": 3}).astype(int),
    )


def _lupus() -> pd.DataFrame:
    df = datasets.load_lupus()
    time = "time_between_diagnosis_and_last_observation_(years)"
    return df[["is_male", "is_white", "age_at_diagnosis", time, "dead"]]


def _senators() -> pd.DataFrame:
    df = datasets.load_canadian_senators()
    start = pd.to_datetime(df.start_date).dt.year
    return pd.DataFrame(
        {"start_year": start, "diff_days": df.diff_days, "observed": df.observed.astype(int)}
    )


#: name -> (loader, time column, event column)
LIFELINES_SETS: dict[str, tuple[Callable[[], pd.DataFrame], str, str]] = {
    "canadian_senators": (_senators, "diff_days", "observed"),
    "dd": (datasets.load_dd, "duration", "observed"),
    "g3": (datasets.load_g3, "time", "event"),
    "gbsg2": (_gbsg2, "time", "cens"),
    "kidney_transplant": (datasets.load_kidney_transplant, "time", "death"),
    "larynx": (datasets.load_larynx, "time", "death"),
    "lcd": (datasets.load_lcd, "T", "E"),
    "leukemia": (datasets.load_leukemia, "t", "status"),
    "lung": (datasets.load_lung, "time", "status"),
    "lupus": (_lupus, "time_between_diagnosis_and_last_observation_(years)", "dead"),
    "lymph_node": (_lymph_node, "rectime", "censrec"),
    "lymphoma": (datasets.load_lymphoma, "Time", "Censor"),
    "multicenter_aids_cohort_study": (datasets.load_multicenter_aids_cohort_study, "T", "D"),
    "psychiatric_patients": (datasets.load_psychiatric_patients, "T", "C"),
    "regression_dataset": (datasets.load_regression_dataset, "T", "E"),
    "rossi": (datasets.load_rossi, "week", "arrest"),
    "static_test": (datasets.load_static_test, "t", "E"),
    "waltons": (datasets.load_waltons, "T", "E"),
}


def lifelines_cohort(name: str) -> Cohort:
    """The whole data set ``name`` with a Cox risk score (see the module docstring)."""
    loader, time_col, event_col = LIFELINES_SETS[name]
    df = loader()
    time = df[time_col].to_numpy(dtype=float)
    event = df[event_col].to_numpy(dtype=int)
    covariates = df.drop(columns=[time_col, event_col]).select_dtypes("number")
    covariates = covariates.drop(columns=[c for c in covariates if c in ("id", "no.")])
    if covariates.shape[1] == 0:
        groups = df.drop(columns=[time_col, event_col]).iloc[:, 0]
        codes = pd.factorize(groups, sort=True)[0].astype(float)
        return Cohort(codes, time, event, f"group column {groups.name!r} (codes)")
    covariates = covariates.fillna(covariates.median())
    frame = covariates.assign(__time=time, __event=event)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CoxPHFitter(penalizer=0.1).fit(frame, "__time", "__event")
    risk = model.predict_partial_hazard(frame).to_numpy(dtype=float)
    return Cohort(risk, time, event, f"Cox partial hazard ({covariates.shape[1]} covariates)")


#: synthetic worst cases: name -> (patients, event rate, distinct times, distinct risks)
SYNTHETIC: dict[str, tuple[int, float, int | None, int | None]] = {
    "5% events, continuous": (10_000, 0.05, None, None),
    "5% events, 50 times, 20 risks": (10_000, 0.05, 50, 20),
    "50% events, 10 times, 5 risks": (10_000, 0.5, 10, 5),
    "1% events, 3 times, 2 risks": (4_000, 0.01, 3, 2),
    "all risks tied": (1_000, 0.3, 100, 1),
    "no censoring, 20 times": (1_000, 1.0, 20, None),
}


def synthetic_cohort(name: str, seed: int = 0) -> Cohort:
    """A synthetic cohort of :data:`SYNTHETIC` (risk informative about time, ties by
    rounding to the given number of distinct values)."""
    patients, rate, times, risks = SYNTHETIC[name]
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=patients)
    time = rng.exponential(np.exp(-latent))
    risk = latent + rng.normal(scale=1.0, size=patients)
    if times is not None:
        time = np.searchsorted(np.quantile(time, np.linspace(0, 1, times + 1)[1:-1]), time).astype(
            float
        )
    if risks is not None:
        edges = np.quantile(risk, np.linspace(0, 1, risks + 1)[1:-1])
        risk = np.searchsorted(edges, risk).astype(float)
    event = (rng.random(patients) < rate).astype(int)
    if event.sum() == 0:
        event[0] = 1
    return Cohort(risk.astype(float), time.astype(float), event, "synthetic")
