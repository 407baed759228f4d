"""Time the seed library's (regaudit-fhe, PyPI) encrypted fairness path on a benchmark data set.

Runs inside a SEPARATE virtualenv holding ``regaudit-fhe[fhe]`` (never the project's)::

    /tmp/seedvenv/bin/python benchmarks/seed_fairness.py --data DATA.npz

Prints one JSON line: context/key generation time, the encrypted fairness call's time, the
total, the peak RSS of this process, the seed's three gaps and the library version. Only calls
the library's public functions; nothing of it is copied into this repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_record import printed_record  # standard library only: fine in the seed's venv

__all__ = ["main"]


def main() -> None:
    """Run the seed's encrypted fairness path on ``--data``; print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args()
    with printed_record({}, traceback_chars=2000) as record:
        import regaudit_fhe
        from regaudit_fhe.fhe.context import build_d6_context
        from regaudit_fhe.fhe.primitives import fairness_encrypted

        record["version"] = getattr(regaudit_fhe, "__version__", None)
        arrays = np.load(args.data)
        y_true = arrays["y_true"].astype(float)
        y_pred = arrays["y_pred"].astype(float)
        group_a = arrays["group_a"].astype(float)
        group_b = arrays["group_b"].astype(float)
        record["rows"] = int(y_true.shape[0])
        mark = time.perf_counter()
        ctx = build_d6_context()
        record["keygen_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        report = fairness_encrypted(ctx, y_true, y_pred, group_a, group_b, threshold=args.threshold)
        record["fairness_encrypted_s"] = time.perf_counter() - mark
        record["result"] = {
            "demographic_parity_diff": float(report.demographic_parity_diff),
            "equal_opportunity_diff": float(report.equal_opportunity_diff),
            "predictive_parity_diff": float(report.predictive_parity_diff),
            "threshold_breached": bool(report.threshold_breached),
        }


if __name__ == "__main__":
    main()
