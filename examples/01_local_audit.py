"""In-process quick start: regaudit-fhe 0.1.0's one-call audits, with the full CKKS protocol
(fresh keys, encryption, evaluation, decryption) running inside this one process.

    python examples/01_local_audit.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from regaudit.shared import local

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    # fairness on the bundled sample (regaudit-fhe 0.1.0's binary form: group_a / group_b columns)
    with (DATA / "fairness-sample.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    y_true = [int(r["y_true"]) for r in rows]
    y_pred = [int(r["y_pred"]) for r in rows]
    groups = [r["group"] for r in rows]
    first = groups[0]
    group_a = [int(g == first) for g in groups]
    group_b = [1 - a for a in group_a]
    fairness = local.audit_fairness(y_true, y_pred, group_a, group_b, threshold=0.1)
    print(f"fairness: {len(rows)} rows on {fairness.plan['profile']}, {fairness.seconds:.1f} s")
    print(f"  demographic parity diff  {fairness.demographic_parity_diff:.6f}")
    print(f"  equal opportunity diff   {fairness.equal_opportunity_diff}")
    print(f"  threshold breached       {fairness.threshold_breached}")

    # concordance (Harrell's C) on 80 patients of lifelines' Rossi data
    from lifelines.datasets import load_rossi

    rossi = load_rossi().sample(80, random_state=1)
    risk = (0.09 * rossi["prio"] - 0.06 * rossi["age"]).to_numpy()
    concordance = local.audit_concordance(risk, rossi["week"], rossi["arrest"])
    oracle = local.audit_concordance(risk, rossi["week"], rossi["arrest"], backend="plaintext")
    print(
        f"concordance: C = {concordance.c_index:.5f} (exact {oracle.c_index:.5f}), "
        f"{concordance.seconds:.1f} s"
    )

    # disagreement of three polynomial surrogates on private inputs
    x = np.random.default_rng(0).normal(0.0, 1.0, 500)
    disagreement = local.audit_disagreement(
        [[0.0, 1.0], [0.05, 0.95, 0.02], [0.0, 1.1]], x, threshold=0.01
    )
    print(
        f"disagreement: {disagreement.mean_pairwise_squared_difference:.6g} "
        f"(± {disagreement.error_bound:.1g}), breached: {disagreement.threshold_breached}"
    )

    # provenance: attribution totals per public hash bucket and the top-3 buckets
    attributions = np.random.default_rng(1).exponential(1.0, 400)
    provenance = local.audit_provenance(
        attributions, [f"row-{i}" for i in range(400)], n_buckets=16, k=3
    )
    determined = provenance.top_k_determined
    print(f"provenance: top-3 buckets {provenance.top_k_ids}, determined {determined}")
    print("report fields:", ", ".join(fairness.to_dict()))


if __name__ == "__main__":
    main()
