"""Benchmark client driver: one audit of any primitive through ``run_audit``, as one JSON line.

Run as its own process (``bench_primitives.py`` starts it)::

    python benchmarks/primitive_client.py --primitive P --data PAYLOAD.pkl \
        --evaluator HOST:PORT --card regulator-card.json --identity CLIENT_DIR --out audit.bundle

``PAYLOAD.pkl`` holds the primitive's input object (the seed's JSON shape, numpy arrays allowed)
written by the benchmark itself; it is validated with the client's own loader
(``regaudit.client.inputs.get_loader(P).parse_json``), exactly as ``regaudit-client audit``
does for a JSON input. Stage timing, byte counting and peak memory reuse the instrumentation
of ``fairness_client.py`` (wrapping the functions ``run_audit`` calls; the audit code is not
changed).
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fairness_client as fc  # shared instrumentation; sets its start time now


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--primitive", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--card", type=Path, required=True)
    parser.add_argument("--identity", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from regaudit.client.audit import run_audit
    from regaudit.client.inputs import get_loader
    from regaudit.shared.evidence.identity import SigningIdentity

    imports_s = time.perf_counter() - fc._T0
    fc.instrument()
    mark = time.perf_counter()
    with args.data.open("rb") as handle:
        payload: dict[str, Any] = pickle.load(handle)  # written by the benchmark itself
    data = get_loader(args.primitive).parse_json(payload)
    load_s = time.perf_counter() - mark
    card = json.loads(args.card.read_text())
    identity = SigningIdentity.load(args.identity, kind="client")

    audit_start = time.perf_counter() - fc._T0
    outcome = run_audit(
        args.primitive,
        data,
        evaluator=args.evaluator,
        regulator_card=card,
        identity=identity,
        out=args.out,
        identity_dir=args.identity,
        progress=fc.TimestampSink(),
        workers=args.workers,
        timeout=3600.0,
    )

    def since(name: str) -> float | None:
        value = fc._events.get(name)
        return None if value is None else value - audit_start

    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    timings = dict(outcome.timings)
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
        "timings": {
            "keygen_s": timings.get("keygen_s"),
            "upload_keys_s": timings.get("upload_keys_s"),
            "encrypt_upload_s": timings.get("encrypt_upload_s"),
            "evaluate_wait_s": timings.get("evaluate_s"),
            **fc._spans,
            "total_s": timings.get("total_s"),
        },
        "events_s": {
            "encrypt_first": since("encrypt_first"),
            "encrypt_last": since("encrypt_last"),
            "upload_first": since("upload_first"),
            "upload_last": since("upload_last"),
            "evaluate_stage": since("evaluate_stage"),
            "evaluate_last": since("evaluate_last"),
        },
        "bytes": {
            **fc._bytes,
            "ciphertext_bytes": outcome.uploaded_bytes,
            "bundle_bytes": args.out.stat().st_size,
        },
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
