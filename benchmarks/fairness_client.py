"""Benchmark client driver: one fairness audit through ``run_audit``, timings as one JSON line.

Run as its own process (the benchmark starts it)::

    python benchmarks/fairness_client.py --data DATA.npz --evaluator HOST:PORT \
        --card regulator-card.json --identity CLIENT_DIR --out audit.bundle [--cprofile OUT]

The audit code is not changed: stages the outcome does not time (result fetch, receipt check,
commitments, sealing, signing, bundle write) are timed by wrapping the functions ``run_audit``
calls; a ProgressSink timestamps the first and last ciphertext encrypted and uploaded.
Peak memory: ``getrusage`` of this process and of its reaped children (the encryption workers
are terminated and joined before ``run_audit`` returns).
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

_T0 = time.perf_counter()
_spans: dict[str, float] = {}
_events: dict[str, float] = {}
_bytes: dict[str, int] = {}


class TimestampSink:
    """A ProgressSink recording when each stage first and last moved (seconds from start)."""

    def _mark(self, name: str) -> None:
        now = time.perf_counter() - _T0
        _events.setdefault(f"{name}_first", now)
        _events[f"{name}_last"] = now

    def stage(self, name: str, *, total: float | None = None) -> None:
        _events.setdefault(f"{name}_stage", time.perf_counter() - _T0)

    def advance(self, name: str, amount: float = 1.0) -> None:
        self._mark(name)

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        if completed > 0:
            self._mark(name)

    def note(self, text: str) -> None:
        pass


def _timed(owner: Any, attribute: str, key: str) -> None:
    """Replace ``owner.attribute`` by a wrapper adding its wall time to ``_spans[key]``."""
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _spans[key] = _spans.get(key, 0.0) + time.perf_counter() - mark

    setattr(owner, attribute, wrapper)


def instrument() -> None:
    """Wrap the functions run_audit calls for the stages AuditOutcome.timings does not cover."""
    from regaudit.client import audit
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared import bundle, ckks
    from regaudit.shared.evidence import commitments, dsse, sealing

    _timed(EvaluatorConnection, "fetch_result", "result_fetch_s")
    _timed(audit, "verify_receipt", "receipt_check_s")
    _timed(commitments, "commit_column", "commitments_s")
    _timed(audit, "write_openings", "openings_write_s")
    _timed(sealing, "seal_secret_key", "sealing_s")
    _timed(dsse, "sign_envelope", "signing_s")
    _timed(bundle.AuditBundle, "write", "bundle_write_s")

    original_fetch = EvaluatorConnection.fetch_result

    def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_fetch(self, *args, **kwargs)
        _bytes["result_output_bytes"] = sum(len(o) for o in result.outputs) + len(result.canary)
        return result

    EvaluatorConnection.fetch_result = fetch  # type: ignore[method-assign]

    original_upload = EvaluatorConnection.upload_evaluation_keys

    def upload(self: Any, keys: ckks.EvaluationKeys, *args: Any, **kwargs: Any) -> Any:
        _bytes["evaluation_keys_bytes"] = keys.size_bytes
        _bytes["relin_key_bytes"] = len(keys.relin_keys)
        _bytes["galois_keys_bytes"] = len(keys.galois_keys)
        _bytes["galois_steps"] = len(keys.galois_steps)
        return original_upload(self, keys, *args, **kwargs)

    EvaluatorConnection.upload_evaluation_keys = upload  # type: ignore[method-assign]


def load_data(path: Path, threshold: float) -> Any:
    """The benchmark data set (``.npz``) as validated FairnessData."""
    from regaudit.shared.circuits.fairness import parse_fairness_input

    arrays = np.load(path)
    payload: dict[str, Any] = {
        "y_true": arrays["y_true"],
        "y_pred": arrays["y_pred"],
        "threshold": threshold,
    }
    if "group" in arrays.files:
        payload["group"] = arrays["group"]
    else:
        payload["group_a"], payload["group_b"] = arrays["group_a"], arrays["group_b"]
    return parse_fairness_input(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--card", type=Path, required=True)
    parser.add_argument("--identity", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cprofile", type=Path, default=None, help="write cProfile stats here")
    args = parser.parse_args()

    from regaudit.client.audit import run_audit
    from regaudit.shared.evidence.identity import SigningIdentity

    imports_s = time.perf_counter() - _T0
    instrument()
    mark = time.perf_counter()
    data = load_data(args.data, args.threshold)
    load_s = time.perf_counter() - mark
    card = json.loads(args.card.read_text())
    identity = SigningIdentity.load(args.identity, kind="client")

    profiler = None
    if args.cprofile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    audit_start = time.perf_counter() - _T0
    outcome = run_audit(
        "fairness",
        data,
        evaluator=args.evaluator,
        regulator_card=card,
        identity=identity,
        out=args.out,
        identity_dir=args.identity,
        progress=TimestampSink(),
        workers=args.workers,
        timeout=3600.0,
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.cprofile))

    def since(name: str) -> float | None:
        value = _events.get(name)
        return None if value is None else value - audit_start

    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    timings = dict(outcome.timings)
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
        "timings": {
            "keygen_s": timings.get("keygen_s"),
            "upload_keys_s": timings.get("upload_keys_s"),
            "encrypt_upload_s": timings.get("encrypt_upload_s"),
            "evaluate_wait_s": timings.get("evaluate_s"),
            **_spans,
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
            **_bytes,
            "ciphertext_bytes": outcome.uploaded_bytes,
            "bundle_bytes": args.out.stat().st_size,
        },
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
