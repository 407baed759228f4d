# %% [markdown]
# # An NYC Local Law 144 bias audit on public recidivism data
#
# Notebook-style (cells marked `# %%`; open it with Jupytext or run it as a script):
#
#     python examples/06_ll144_bias_audit.py
#
# The data is lifelines' Rossi recidivism study (432 released prisoners; shipped inside the
# lifelines wheel, no download). A logistic regression fitted here with numpy only (race is not a
# feature) gives each person a probability of re-arrest; the audited "selection" is being
# flagged high-risk (probability >= 0.3). The bias audit compares selection rates across the
# intersectional categories of race and age band, as LL144 asks: impact ratios against the
# category with the highest rate, Wilson intervals, significance tests, categories under 2 % of
# the rows flagged, rows of unknown category counted. Then the same with the scores themselves:
# LL144's *scoring rate* (the share of a category scoring above the sample median).
#
# Everything runs in this process on real CKKS (the DataFrame API without an evaluator); with
# `evaluator="HOST:PORT"` and the regulator card, the same call writes a bundle for the
# regulator (see examples/05_dataframe_audit.py), and `data_description={"dataset": ...,
# "period": "YYYY-MM-DD/YYYY-MM-DD", "source": ...}` is signed into it.

# %%
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lifelines.datasets import load_rossi

from regaudit.client import audit_fairness

FEATURES = ["fin", "age", "wexp", "mar", "paro", "prio"]
CUTOFF = 0.3
UNKNOWN = "unknown"


def logistic_scores(frame: pd.DataFrame, iterations: int = 25) -> np.ndarray:
    """Probabilities of ``arrest`` from a logistic regression fitted by Newton-Raphson (IRLS)."""
    x = np.column_stack([np.ones(len(frame)), frame[FEATURES].to_numpy(np.float64)])
    y = frame["arrest"].to_numpy(np.float64)
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        beta += np.linalg.solve(x.T @ (x * (p * (1.0 - p))[:, None]), x.T @ (y - p))
    return np.asarray(1.0 / (1.0 + np.exp(-x @ beta)))


# %% [markdown]
# The audited table. Every 36th person's race is set to "unknown" (as when an applicant
# declines to self-identify): those rows belong to no category and are reported as a count.

# %%
rossi = load_rossi()
score = logistic_scores(rossi)
race = np.where(rossi["race"] == 1, "black", "other").astype(object)
race[5::36] = UNKNOWN
table = pd.DataFrame(
    {
        "arrested": rossi["arrest"],
        "flagged": (score >= CUTOFF).astype(int),
        "score": score,
        "race": race,
        "age_band": pd.cut(rossi["age"], [0, 19, 24, 29, 200], labels=["17-19", "20-24",
                           "25-29", "30+"]).astype(str),
    }
)  # fmt: skip


def print_table(title: str, audit: dict[str, Any]) -> None:
    """The LL144 table of a report's ``bias_audit``."""
    rate = audit["rate_name"].replace("_", " ")
    print(f"\n{title}  (rate: {rate}; reference: {audit['reference']})")
    print(
        f"{'category':<16}{'rows':>5}{'share':>7}  {'':5}{rate:>12}  {'95 % interval':<15}"
        f"{'impact':>7}  {'test':<8}{'p':>8}  adverse impact"
    )
    for name, c in audit["categories"].items():
        low, high = c["selection_rate_ci"]
        ratio = "-" if c["impact_ratio"] is None else f"{c['impact_ratio']:.3f}"
        test = {"two_proportion_z": "z", "fisher_exact": "Fisher", None: "-"}[c["test"]]
        p = "-" if c["p_value"] is None else f"{c['p_value']:.4f}"
        flag = {True: "INDICATED", False: "no", None: "-"}[c["adverse_impact_indicated"]]
        print(
            f"{name:<16}{c['count']:>5}{c['share']:>7.1%}  {'small' if c['small'] else '':5}"
            f"{c['selection_rate']:>12.3f}  [{low:.3f}, {high:.3f}] {ratio:>7}  {test:<8}{p:>8}"
            f"  {flag}{'  (small sample)' if c['small_sample'] else ''}"
        )
    print(
        f"unknown category: {audit['unknown_rows']} of {audit['rows']} rows; categories under "
        f"{audit['small_share']:.0%} are marked small"
        + (
            f"; score median {audit['score_median']:.4f}"
            if audit["score_median"] is not None
            else ""
        )
    )


# %%
common: dict[str, Any] = {
    "y_true": "arrested",
    "sensitive_features": ["race", "age_band"],
    "unknown_labels": [UNKNOWN],
}
selection = audit_fairness(table, y_pred="flagged", **common)
print(f"in process on {(selection.plan or {}).get('profile')}: {len(table)} rows")
print_table("Selection rates (flagged high-risk)", selection.bias_audit)

# %%
scoring = audit_fairness(table, scores="score", **common)
print_table("Scoring rates (score above the sample median)", scoring.bias_audit)
exact = audit_fairness(table, scores="score", backend="plaintext", **common)
print("\nencrypted and plaintext tables agree:", scoring.bias_audit == exact.bias_audit)
