"""Benchmark client driver: one audit of any primitive through ``run_audit``, as one JSON line.

Run as its own process (``bench_primitives.py`` starts it)::

    python benchmarks/primitive_client.py --primitive P --data PAYLOAD.pkl \
        --evaluator HOST:PORT --card regulator-card.json --identity CLIENT_DIR --out audit.bundle

``PAYLOAD.pkl`` holds the primitive's input object (the seed's JSON shape, numpy arrays allowed)
written by the benchmark itself; it is validated with the client's own loader
(``get_primitive(P).inputs().parse``), exactly as ``regaudit-client audit``
does for a JSON input. Stage timing, byte counting and peak memory: ``audit_probe.py``, as in
``fairness_client.py`` (wrapping the functions ``run_audit`` calls; the audit code is not
changed).
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
import time
from pathlib import Path

# the payload holds numpy arrays: numpy is imported before the driver's clock starts, as in
# fairness_client.py, so ``imports_s`` measures regaudit's imports in both drivers
import numpy  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit_probe  # starts the driver's clock: after numpy, before regaudit

__all__ = ["main"]


def main() -> None:
    """Parse the options, validate the payload, run the audit, print the JSON line."""
    parser = audit_probe.driver_arguments((__doc__ or "").splitlines()[0])
    parser.add_argument("--primitive", required=True)
    args = parser.parse_args()

    from regaudit.shared.primitives import get_primitive

    imports_s = audit_probe.load_audit_code()
    mark = time.perf_counter()
    with args.data.open("rb") as handle:
        payload: dict[str, object] = pickle.load(handle)  # written by the benchmark itself
    data = get_primitive(args.primitive).inputs().parse(payload)
    load_s = time.perf_counter() - mark
    outcome, audit_start = audit_probe.run_instrumented(args.primitive, data, args)
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "primitive": args.primitive,
        "audit_id": outcome.audit_id,
        "job_id": outcome.job_id,
        "rows": outcome.plan.rows,
        "chunks": outcome.plan.n_chunks,
        "chunk_rows": outcome.plan.chunk_rows,
        "columns": len(outcome.plan.columns),
        "profile": outcome.plan.profile.name,
        "rotation_steps": list(outcome.plan.rotation_steps),
        "ciphertexts": outcome.ciphertexts,
        "imports_s": imports_s,
        "load_validate_s": load_s,
        **audit_probe.reported_fields(outcome, audit_start, args.out),
        "peak_rss_mb": {
            "self": usage_self.ru_maxrss / 1024,
            "children_max": usage_children.ru_maxrss / 1024,
        },
        "cpu_s": {
            "self": usage_self.ru_utime + usage_self.ru_stime,
            "children": usage_children.ru_utime + usage_children.ru_stime,
        },
    }
    sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
