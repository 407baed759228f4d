"""Benchmark client driver: one fairness audit through ``run_audit``, timings as one JSON line.

Run as its own process (the benchmark starts it)::

    python benchmarks/fairness_client.py --data DATA.npz --evaluator HOST:PORT \
        --card regulator-card.json --identity CLIENT_DIR --out audit.bundle [--cprofile OUT]

Stage timing and byte counting: ``audit_probe.py`` (wrapping the functions ``run_audit`` calls;
the audit code is not changed). Peak memory: ``getrusage`` of this process and of its reaped
children (the encryption workers are terminated and joined before ``run_audit`` returns).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit_probe  # starts the driver's clock: after numpy, before regaudit

if TYPE_CHECKING:
    from regaudit.shared.primitives.fairness.inputs import FairnessData

__all__ = ["load_data", "main"]


def load_data(path: Path, threshold: float) -> FairnessData:
    """The benchmark data set (``.npz``) as validated FairnessData."""
    from regaudit.shared.primitives.fairness.inputs import parse

    arrays = np.load(path)
    payload: dict[str, object] = {
        "y_true": arrays["y_true"],
        "y_pred": arrays["y_pred"],
        "threshold": threshold,
    }
    if "group" in arrays.files:
        payload["group"] = arrays["group"]
    else:
        payload["group_a"], payload["group_b"] = arrays["group_a"], arrays["group_b"]
    return parse(payload)


def main() -> None:
    """Parse the options, run the audit, print the JSON line."""
    parser = audit_probe.driver_arguments((__doc__ or "").splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--cprofile", type=Path, default=None, help="write cProfile stats here")
    args = parser.parse_args()

    imports_s = audit_probe.load_audit_code()
    mark = time.perf_counter()
    data = load_data(args.data, args.threshold)
    load_s = time.perf_counter() - mark
    outcome, audit_start = audit_probe.run_instrumented(
        "fairness", data, args, cprofile=args.cprofile
    )
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "audit_id": outcome.audit_id,
        "job_id": outcome.job_id,
        "rows": outcome.plan.rows,
        "chunks": outcome.plan.n_chunks,
        "columns": list(outcome.plan.columns),
        "profile": outcome.plan.profile.name,
        "ciphertexts": outcome.ciphertexts,
        "imports_s": imports_s,
        "load_validate_s": load_s,
        **audit_probe.reported_fields(outcome, audit_start, args.out),
        "peak_rss_mb": {
            "self": usage_self.ru_maxrss / 1024,
            "children_max": usage_children.ru_maxrss / 1024,
            "self_plus_children": (usage_self.ru_maxrss + usage_children.ru_maxrss) / 1024,
        },
        "cpu_s": {
            "self_user": usage_self.ru_utime,
            "self_system": usage_self.ru_stime,
            "children_user": usage_children.ru_utime,
            "children_system": usage_children.ru_stime,
        },
    }
    sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
