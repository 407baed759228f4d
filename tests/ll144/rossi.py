"""The audited table of the LL144 tests: lifelines' Rossi recidivism data (432 released
prisoners, shipped inside the lifelines wheel) with a model's selection and scores.

* ``y_true`` = ``arrest`` (re-arrested within a year);
* ``score``: the probability of arrest of a logistic regression fitted here with numpy only
  (Newton-Raphson / IRLS, :data:`ITERATIONS` steps from 0) on fin, age, wexp, mar, paro and prio,
  race NOT among the features; ``y_pred`` = score >= :data:`SELECTION_CUTOFF` ("flagged high
  risk", the selection whose rates the bias audit compares);
* groups: ``race`` (1 -> "black", 0 -> "other") and ``age_band`` (17-19, 20-24, 25-29, 30+);
  every :data:`UNKNOWN_EVERY`-th row (from row :data:`UNKNOWN_OFFSET`) has race
  :data:`UNKNOWN_LABEL` (its category is unknown: ``--unknown-label unknown``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ("fin", "age", "wexp", "mar", "paro", "prio")
ITERATIONS = 25
SELECTION_CUTOFF = 0.3
UNKNOWN_LABEL = "unknown"
UNKNOWN_EVERY = 36
UNKNOWN_OFFSET = 5
AGE_BANDS = (0, 19, 24, 29, 200)
AGE_LABELS = ("17-19", "20-24", "25-29", "30+")


def logistic_scores(frame: pd.DataFrame) -> np.ndarray:
    """Fitted probabilities of ``arrest`` (IRLS on an intercept and FEATURES)."""
    x = np.column_stack([np.ones(len(frame)), frame[list(FEATURES)].to_numpy(np.float64)])
    y = frame["arrest"].to_numpy(np.float64)
    beta = np.zeros(x.shape[1])
    for _ in range(ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        hessian = x.T @ (x * (p * (1.0 - p))[:, None])
        beta += np.linalg.solve(hessian, x.T @ (y - p))
    return np.asarray(1.0 / (1.0 + np.exp(-x @ beta)))


def rossi_table() -> pd.DataFrame:
    """The audited columns: y_true, y_pred, score, race, age_band."""
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    score = logistic_scores(rossi)
    race = np.where(rossi["race"].to_numpy() == 1, "black", "other").astype(object)
    race[UNKNOWN_OFFSET::UNKNOWN_EVERY] = UNKNOWN_LABEL
    age_band = pd.cut(rossi["age"], list(AGE_BANDS), labels=list(AGE_LABELS)).astype(str)
    return pd.DataFrame(
        {
            "y_true": rossi["arrest"].astype(int),
            "y_pred": (score >= SELECTION_CUTOFF).astype(int),
            "score": score,
            "race": race,
            "age_band": age_band,
        }
    )
