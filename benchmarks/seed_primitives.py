"""Time the seed library's (regaudit-fhe, PyPI) encrypted path of one primitive on one input.

Runs inside a SEPARATE virtualenv holding ``regaudit-fhe[fhe]`` (never the project's)::

    /tmp/seedvenv/bin/python benchmarks/seed_primitives.py --input CASE.json [--repeats 3]

``CASE.json`` holds ``{"primitive": ..., "inputs": {...}}`` (plain JSON lists). The seed's CKKS
context (its ``build_d6_context()``: N = 2^14, all power-of-two Galois keys) is built once and
timed; the encrypted call then runs ``--repeats`` times (once if the first call takes longer
than ``--single-above`` seconds). Prints one JSON line: the library version, ``keygen_s``,
``call_s`` (one entry per run), the seed's result fields of the last run, the peak RSS, and on
failure the exception. Only calls the library's public functions; nothing of it is copied into
this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import JsonObject  # standard library only: importable in the seed's virtualenv
from seed_record import printed_record

__all__ = ["main"]

#: The seed's CKKS context (a ``tenseal.Context`` from regaudit-fhe's ``build_d6_context``; this
#: script runs in the seed's own virtualenv, where neither has type stubs).
SeedContext: TypeAlias = Any


def _call(primitive: str, ctx: SeedContext, inputs: JsonObject) -> JsonObject:
    """One encrypted call of the seed; returns its result fields as JSON-able values."""
    from regaudit_fhe.fhe import primitives as fp

    if primitive == "concordance":
        r = fp.c_index_encrypted(
            ctx,
            np.asarray(inputs["risk"], float),
            np.asarray(inputs["time"], float),
            np.asarray(inputs["event"], float),
        )
        return {
            "concordant_pairs": float(r.concordant_pairs),
            "comparable_pairs": float(r.comparable_pairs),
            "c_index": float(r.c_index),
        }
    if primitive == "calibration":
        r = fp.conformal_encrypted(
            ctx,
            np.asarray(inputs["scores"], float),
            np.asarray(inputs["quantiles"], float),
            inputs.get("score_range"),
        )
        return {
            "membership": [int(b) for b in np.asarray(r.membership)],
            "set_size": int(r.set_size),
        }
    if primitive == "drift":
        r = fp.w1_encrypted(
            ctx,
            np.asarray(inputs["p"], float),
            np.asarray(inputs["q"], float),
            inputs.get("drift_threshold", 0.005),
        )
        return {
            "distance": float(r.distance),
            "w1_distance": float(r.w1_distance),  # the seed's plaintext oracle, not encrypted
            "drift_bit": bool(r.drift_bit),
        }
    if primitive == "disagreement":
        r = fp.disagreement_encrypted(
            ctx,
            [list(m) for m in inputs["model_polynomials"]],
            np.asarray(inputs["test_input"], float),
            inputs.get("threshold", 0.05),
        )
        return {
            "mean_pairwise_squared_difference": float(r.pairwise_variance),
            "threshold_breached": bool(r.breach),
            "per_model_mean_outputs": [float(v) for v in r.per_model_outputs],
        }
    if primitive == "provenance":
        from regaudit_fhe.etk_fpa_hbc import hash_to_buckets

        attributions = np.asarray(inputs["attributions"], float)
        row_ids = np.asarray(inputs["row_ids"], np.int64)
        n_buckets, k = int(inputs["n_buckets"]), int(inputs["k"])
        r = fp.topk_provenance_encrypted(ctx, attributions, row_ids, n_buckets, k)
        # The seed's buckets are its own universal hash of integer ids (not ours: SHA-256), so
        # its exact totals are computed here with numpy from its own public bucket function.
        exact = np.bincount(
            hash_to_buckets(row_ids, n_buckets), weights=attributions, minlength=n_buckets
        )
        exact_topk = sorted(range(n_buckets), key=lambda i: (-exact[i], i))[:k]
        return {
            "bucket_totals": [float(v) for v in np.asarray(r.bucket_aggregates)],
            "top_k_ids": [int(i) for i in r.topk_indices],
            "exact_bucket_totals": [float(v) for v in exact],
            "exact_top_k_ids": [int(i) for i in exact_topk],
        }
    raise ValueError(f"unknown primitive {primitive!r}")


def main() -> None:
    """Build the seed's context once, time ``--repeats`` calls; print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single-above", type=float, default=20.0)
    args = parser.parse_args()
    with printed_record({"call_s": []}, traceback_chars=1500) as record:
        case = json.loads(args.input.read_text())
        primitive = case["primitive"]
        record["primitive"] = primitive
        import regaudit_fhe
        from regaudit_fhe.fhe.context import build_d6_context

        record["version"] = getattr(regaudit_fhe, "__version__", None)
        mark = time.perf_counter()
        ctx = build_d6_context()
        record["keygen_s"] = time.perf_counter() - mark
        for _ in range(max(1, args.repeats)):
            mark = time.perf_counter()
            result = _call(primitive, ctx, case["inputs"])
            record["call_s"].append(time.perf_counter() - mark)
            record["result"] = result
            if record["call_s"][-1] > args.single_above:
                break


if __name__ == "__main__":
    main()
