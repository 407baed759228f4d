"""Generate the bundled fairness sample data (deterministic; re-running rewrites identical files).

A synthetic credit-scoring book of 2,000 applicants. Each applicant has an income, a debt-to-
income ratio, a length of credit history and a count of late payments; the true outcome
``y_true`` is 1 if the loan would be repaid, drawn from a logistic model of those features. The
audited model approves (``y_pred`` = 1) when its own score clears a cut-off; it leans on the
length of credit history more than the truth does, which disadvantages young applicants, so the
sample shows a real (moderate) fairness gap.

* ``fairness-sample.csv``: ``applicant_id,group,y_true,y_pred`` with ``group`` an age band
  (``18-29``, ``30-49``, ``50+``): the categorical form (3 groups).
* ``fairness-sample.json``: regaudit-fhe 0.1.0's JSON shape with ``group_a`` / ``group_b`` from a
  self-reported binary attribute; about 3% of applicants did not disclose it and belong to
  neither group (reported as ``unassigned_rows``).

Usage: ``python examples/data/make_fairness_sample.py [OUTPUT_DIR]``
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

SEED = 20261124
ROWS = 2000
THRESHOLD = 0.1
AGE_BANDS = ("18-29", "30-49", "50+")


def generate(rows: int = ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The synthetic book as integer/str numpy columns."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(42.0, 13.0, rows), 18, 85).round()
    band = np.where(age < 30, 0, np.where(age < 50, 1, 2))
    income = rng.lognormal(mean=10.6, sigma=0.45, size=rows) * (0.8 + 0.006 * (age - 18))
    debt_ratio = np.clip(rng.beta(2.2, 5.0, rows), 0.0, 0.95)
    history_years = np.clip(age - 18 - rng.exponential(3.0, rows), 0.0, 15.0)  # capped
    late_payments = rng.poisson(0.6 + 1.5 * debt_ratio)

    log_income = np.log(income / 40_000.0)
    truth_logit = (
        0.9 + 1.2 * log_income - 3.0 * debt_ratio + 0.04 * history_years - 0.55 * late_payments
    )
    y_true = (rng.random(rows) < 1.0 / (1.0 + np.exp(-truth_logit))).astype(np.int64)

    model_logit = (
        1.0
        + 1.0 * log_income
        - 2.6 * debt_ratio
        + 0.03 * history_years
        - 0.5 * late_payments
        + rng.normal(0.0, 0.35, rows)
    )
    y_pred = (model_logit > 0.0).astype(np.int64)

    attribute = (rng.random(rows) < 0.48).astype(np.int64)
    disclosed = rng.random(rows) >= 0.03
    group_a = ((attribute == 1) & disclosed).astype(np.int64)
    group_b = ((attribute == 0) & disclosed).astype(np.int64)
    return {
        "applicant_id": np.arange(1, rows + 1),
        "band": band,
        "y_true": y_true,
        "y_pred": y_pred,
        "group_a": group_a,
        "group_b": group_b,
    }


def write(directory: Path) -> None:
    data = generate()
    with (directory / "fairness-sample.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["applicant_id", "group", "y_true", "y_pred"])
        for i in range(ROWS):
            writer.writerow(
                [
                    f"A{int(data['applicant_id'][i]):05d}",
                    AGE_BANDS[int(data["band"][i])],
                    int(data["y_true"][i]),
                    int(data["y_pred"][i]),
                ]
            )
    payload = {
        "y_true": [int(v) for v in data["y_true"]],
        "y_pred": [int(v) for v in data["y_pred"]],
        "group_a": [int(v) for v in data["group_a"]],
        "group_b": [int(v) for v in data["group_b"]],
        "threshold": THRESHOLD,
    }
    text = json.dumps(payload, separators=(",", ":")) + "\n"
    (directory / "fairness-sample.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
