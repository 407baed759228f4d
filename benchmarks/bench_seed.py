"""Seed comparison (issue 4): the same inputs through our CKKS path and the seed's encrypted path.

    python benchmarks/bench_seed.py [--only concordance,drift] [--seed-python PATH] [--no-oversize]

For each of the five non-fairness primitives, at sizes the seed library (``regaudit-fhe`` 0.1.0
from PyPI, in its own virtualenv) can run: (a) our in-process full-CKKS path
``regaudit.shared.local.audit_<p>`` (plan, fresh keys with only the plan's rotation steps, SEAL
checks, evaluation, decryption; one process, no gRPC/evidence), (b) the seed's encrypted function
in its venv as a subprocess (``seed_primitives.py``: its ``build_d6_context()`` once, then the
call), (c) the exact oracle (``regaudit.shared.primitives.<p>.reference``; concordance also
cross-checked with scikit-survival). Median of 3 runs (1 if the first takes > 20 s). Results:
``benchmarks/results/seed-comparison.json`` and ``seed-comparison.md``.

Timing scopes: ours = the whole ``audit_<p>`` call (its key generation included); seed =
``build_d6_context()`` (measured once per subprocess) + the encrypted call. The seed's process
start and imports are excluded from both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import DATA_SEED, MODELS, gbsg2_sample
from harness import (
    BENCH_DIR,
    DEFAULT_SEED_PYTHON,
    RESULTS_DIR,
    JsonObject,
    last_json_line,
    machine_info,
    uptime,
)
from render import write_json
from seed_report import NOTES, write_markdown

if TYPE_CHECKING:
    from regaudit.shared.local import AuditReport

__all__ = ["SeedCase", "errors", "main", "reference", "run_ours", "run_seed", "seed_cases"]

REPEATS = 3
#: A run whose first repeat takes longer than this runs once.
SINGLE_RUN_S = 20.0
#: Wall-clock limit of one seed subprocess (a size the seed cannot finish is recorded as such).
SEED_TIMEOUT_S = 150.0
#: The disagreement models of ``cases.MODELS`` padded to the seed's fixed four coefficients
#: (a0..a3).
SEED_MODELS: list[list[float]] = [model + [0.0] * (4 - len(model)) for model in MODELS]


@dataclass(frozen=True)
class SeedCase:
    """One primitive's input at a size the seed library can run."""

    primitive: str
    label: str
    inputs: JsonObject
    #: Run ours too (False for a size only probed on the seed's side).
    ours: bool = True


# --- data ---------------------------------------------------------------------------------------


def concordance_inputs(patients: int, rng: np.random.Generator) -> JsonObject:
    """A bootstrap sample of lifelines' gbsg2 with a linear risk score (as bench_primitives)."""
    sample = gbsg2_sample(patients, rng)
    return {
        "risk": sample.risk.tolist(),
        "time": sample.time.tolist(),
        "event": sample.event.tolist(),
    }


def calibration_inputs(classes: int, rng: np.random.Generator) -> JsonObject:
    """One point's K nonconformity scores and per-class quantiles (no exact ties)."""
    quantiles = np.round(rng.uniform(0.4, 0.6, classes), 4)
    scores = np.round(rng.uniform(0.0, 1.0, classes), 4)
    scores[scores == quantiles] += 1e-4
    return {"scores": scores.tolist(), "quantiles": quantiles.tolist()}


def drift_inputs(bins: int, rng: np.random.Generator) -> JsonObject:
    """Histogram counts of a normal sample and of a shifted, wider one over [-4, 4]."""
    edges = (-4.0, 4.0)
    p = np.histogram(rng.normal(0.0, 1.0, 5000), bins=bins, range=edges)[0]
    q = np.histogram(rng.normal(0.3, 1.1, 5000), bins=bins, range=edges)[0]
    return {"p": p.astype(float).tolist(), "q": q.astype(float).tolist(), "drift_threshold": 0.05}


def disagreement_inputs(rows: int, rng: np.random.Generator) -> JsonObject:
    """The five models on ``rows`` standard normal inputs."""
    return {
        "model_polynomials": SEED_MODELS,
        "test_input": np.round(rng.normal(0.0, 1.0, rows), 6).tolist(),
        "threshold": 0.05,
    }


def provenance_inputs(rows: int, buckets: int, rng: np.random.Generator) -> JsonObject:
    """Integer row ids (the seed hashes integers; ours hashes their decimal text)."""
    return {
        "attributions": np.round(rng.exponential(1.0, rows), 6).tolist(),
        "row_ids": list(range(rows)),
        "n_buckets": buckets,
        "k": 5,
    }


def seed_cases(only: set[str] | None, oversize: bool) -> list[SeedCase]:
    """The cases in run order (``oversize``: also the N = 128 concordance probe)."""
    rng = np.random.default_rng(DATA_SEED)
    out = [
        SeedCase("concordance", "N = 64", concordance_inputs(64, rng)),
        SeedCase("concordance", "N = 91", concordance_inputs(91, rng)),
        SeedCase("calibration", "K = 1,024 classes, one point", calibration_inputs(1024, rng)),
        SeedCase("drift", "1 feature x 128 bins", drift_inputs(128, rng)),
        SeedCase("disagreement", "M = 5, 8,192 inputs", disagreement_inputs(8192, rng)),
        SeedCase("provenance", "8,192 rows, 64 buckets", provenance_inputs(8192, 64, rng)),
    ]
    if oversize:
        out.append(SeedCase("concordance", "N = 128", concordance_inputs(128, rng)))
    return [c for c in out if only is None or c.primitive in only]


# --- our path and the exact reference ------------------------------------------------------------


def run_ours(case: SeedCase) -> JsonObject:
    """Our in-process CKKS path (``regaudit.shared.local``): times, profile, result."""
    from regaudit.shared import local

    i = case.inputs
    calls: dict[str, Callable[[], AuditReport]] = {
        "concordance": lambda: local.audit_concordance(i["risk"], i["time"], i["event"]),
        "calibration": lambda: local.audit_calibration(i["scores"], i["quantiles"]),
        "drift": lambda: local.audit_drift(
            i["p"], i["q"], drift_threshold=i["drift_threshold"], bin_width=1.0
        ),
        "disagreement": lambda: local.audit_disagreement(
            i["model_polynomials"], i["test_input"], threshold=i["threshold"]
        ),
        "provenance": lambda: local.audit_provenance(
            i["attributions"], i["row_ids"], n_buckets=i["n_buckets"], k=i["k"]
        ),
    }
    times: list[float] = []
    fields: JsonObject = {}
    profile = None
    try:
        for _ in range(REPEATS):
            mark = time.perf_counter()
            report = calls[case.primitive]()
            times.append(time.perf_counter() - mark)
            fields = report.to_dict()
            profile = (report.plan or {}).get("profile")
            if times[-1] > SINGLE_RUN_S:
                break
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": times}
    return {
        "ok": True,
        "seconds": times,
        "median_s": statistics.median(times),
        "profile": profile,
        "result": fields,
    }


def reference(case: SeedCase) -> JsonObject:
    """The exact answer (the plaintext backend; concordance also by scikit-survival)."""
    from regaudit.shared import local

    i = case.inputs
    if case.primitive == "concordance":
        ref = local.audit_concordance(i["risk"], i["time"], i["event"], backend="plaintext")
        out = ref.to_dict()
        from sksurv.metrics import concordance_index_censored

        out["sksurv_c_index"] = float(
            concordance_index_censored(
                np.asarray(i["event"], bool), np.asarray(i["time"]), np.asarray(i["risk"])
            )[0]
        )
        return out
    if case.primitive == "calibration":
        return local.audit_calibration(i["scores"], i["quantiles"], backend="plaintext").to_dict()
    if case.primitive == "drift":
        return local.audit_drift(
            i["p"], i["q"], drift_threshold=i["drift_threshold"], bin_width=1.0, backend="plaintext"
        ).to_dict()
    if case.primitive == "disagreement":
        return local.audit_disagreement(
            i["model_polynomials"], i["test_input"], threshold=i["threshold"], backend="plaintext"
        ).to_dict()
    return local.audit_provenance(
        i["attributions"], i["row_ids"], n_buckets=i["n_buckets"], k=i["k"], backend="plaintext"
    ).to_dict()


# --- the seed -----------------------------------------------------------------------------------


def run_seed(case: SeedCase, seed_python: Path, workdir: Path) -> JsonObject:
    """The seed's encrypted path in its own virtualenv (``seed_primitives.py``)."""
    if not seed_python.exists():
        return {
            "ok": False,
            "error": f"{seed_python} does not exist; create it with: python3.11 -m venv "
            f"{seed_python.parent.parent} && {seed_python.parent}/pip install "
            '"regaudit-fhe[fhe]"',
        }
    path = workdir / f"{case.primitive}-{len(json.dumps(case.inputs))}.json"
    path.write_text(json.dumps({"primitive": case.primitive, "inputs": case.inputs}))
    command = [
        str(seed_python),
        str(BENCH_DIR / "seed_primitives.py"),
        "--input",
        str(path),
        "--repeats",
        str(REPEATS),
        "--single-above",
        str(SINGLE_RUN_S),
    ]
    mark = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SEED_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "error": f"did not finish within {SEED_TIMEOUT_S:.0f} s (killed)",
            "process_wall_s": time.perf_counter() - mark,
        }
    wall = time.perf_counter() - mark
    try:
        record = last_json_line(done.stdout)
    except Exception:
        return {
            "ok": False,
            "error": f"no result (exit {done.returncode}): {done.stderr.strip()[-600:]}",
            "process_wall_s": wall,
        }
    record["process_wall_s"] = wall
    if record.get("ok"):
        keygen = float(record["keygen_s"])
        record["seconds"] = [keygen + c for c in record["call_s"]]
        record["median_s"] = statistics.median(record["seconds"])
        record["median_call_s"] = statistics.median(record["call_s"])
    return record


# --- errors -------------------------------------------------------------------------------------


def _rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


def errors(primitive: str, got: JsonObject, ref: JsonObject, *, seed: bool) -> JsonObject:
    """The headline error of one result against the exact reference (one number + details)."""
    if primitive == "concordance":
        return {
            "headline": "|ΔC|",
            "value": abs(float(got["c_index"]) - float(ref["c_index"])),
            "c_index": float(got["c_index"]),
            "comparable_pairs_error": abs(
                float(got["comparable_pairs"]) - float(ref["comparable_pairs"])
            ),
        }
    if primitive == "calibration":
        exact = np.asarray(ref["membership"], int)
        bits = np.asarray(got["membership"], int)
        return {
            "headline": "wrong membership bits",
            "value": int(np.sum(bits != exact)),
            "of": int(exact.size),
            "set_size": int(got["set_size"]),
            "set_size_exact": int(ref["set_size"]),
        }
    if primitive == "drift":
        out = {
            "headline": "|Δdistance| (CDF L2²)",
            "value": abs(float(got["distance"]) - float(ref["distance"])),
            "w1_relative_error": _rel(float(got["w1_distance"]), float(ref["w1_distance"])),
        }
        if seed:
            out["w1_note"] = "the seed's w1_distance is its plaintext oracle, not encrypted"
        return out
    if primitive == "disagreement":
        means = np.asarray(got["per_model_mean_outputs"], float)
        exact_means = np.asarray(ref["per_model_mean_outputs"], float)
        return {
            "headline": "rel. Δ mean pairwise sq. diff.",
            "value": _rel(
                float(got["mean_pairwise_squared_difference"]),
                float(ref["mean_pairwise_squared_difference"]),
            ),
            "max_abs_mean_output_error": float(np.abs(means - exact_means).max()),
        }
    if seed:  # the seed's own buckets; exact totals computed in the seed subprocess
        totals = np.asarray(got["bucket_totals"], float)
        exact = np.asarray(got["exact_bucket_totals"], float)
        top_equal = list(got["top_k_ids"]) == list(got["exact_top_k_ids"])
    else:
        totals = np.asarray(got["bucket_totals"], float)
        exact = np.asarray(ref["bucket_totals"], float)
        top_equal = list(got["top_k_ids"]) == list(ref["top_k_ids"])
    return {
        "headline": "max |Δtotal| / Σ|a|",
        "value": float(np.abs(totals - exact).max()) / float(np.abs(exact).sum()),
        "max_abs_total_error": float(np.abs(totals - exact).max()),
        "top_k_equal": top_equal,
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> JsonObject:
    """Run the cases (or only re-render); write seed-comparison.json and .md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated primitives")
    parser.add_argument(
        "--quick", action="store_true", help="run_all's quick mode: skip the oversize probe"
    )
    parser.add_argument("--seed-python", type=Path, default=DEFAULT_SEED_PYTHON)
    parser.add_argument(
        "--no-oversize", action="store_true", help="skip the N = 128 concordance probe"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--render", action="store_true", help="rewrite the markdown from the JSON (current notes)"
    )
    args = parser.parse_args()
    if args.render:
        document: JsonObject = json.loads((args.out / "seed-comparison.json").read_text())
        document["notes"] = NOTES
        write_json(args.out / "seed-comparison.json", document)
        write_markdown(document, args.out / "seed-comparison.md")
        return document
    only = set(args.only.split(",")) if args.only else None
    started = time.perf_counter()
    uptime_before = uptime()
    rows: list[JsonObject] = []
    seed_version = None
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        for case in seed_cases(only, not (args.no_oversize or args.quick)):
            print(f"{case.primitive} {case.label}", flush=True)
            ref = reference(case)
            row: JsonObject = {
                "primitive": case.primitive,
                "size": case.label,
                "uptime": uptime(),
            }
            ours = run_ours(case) if case.ours else None
            row["ours"] = ours
            if ours and ours.get("ok"):
                row["ours_error"] = errors(case.primitive, ours["result"], ref, seed=False)
                print(f"  ours {ours['median_s']:.2f} s  {row['ours_error']}", flush=True)
            elif ours:
                print(f"  ours failed: {ours['error']}", flush=True)
            seed = run_seed(case, args.seed_python, Path(tmp))
            row["seed"] = seed
            seed_version = seed_version or seed.get("version")
            if seed.get("ok"):
                row["seed_error"] = errors(case.primitive, seed["result"], ref, seed=True)
                print(f"  seed {seed['median_s']:.2f} s  {row['seed_error']}", flush=True)
            else:
                print(f"  seed failed: {seed.get('error')}", flush=True)
            if ours and ours.get("ok") and seed.get("ok"):
                row["ratio_ours_over_seed"] = ours["median_s"] / seed["median_s"]
                row["ratio_ours_over_seed_call_only"] = ours["median_s"] / seed["median_call_s"]
            row["reference"] = {
                k: v
                for k, v in ref.items()
                if k in ("c_index", "sksurv_c_index", "comparable_pairs", "set_size", "distance")
                or k in ("w1_distance", "mean_pairwise_squared_difference", "top_k_ids")
            }
            rows.append(row)
    document = {
        "benchmark": "seed-comparison",
        "issue": 4,
        "seed_version": seed_version,
        "data_seed": DATA_SEED,
        "repeats": REPEATS,
        "single_run_above_s": SINGLE_RUN_S,
        "machine": machine_info(),
        "uptime_before": uptime_before,
        "uptime_after": uptime(),
        "wall_s": time.perf_counter() - started,
        "rows": rows,
        "notes": NOTES,
    }
    write_json(args.out / "seed-comparison.json", document)
    write_markdown(document, args.out / "seed-comparison.md")
    print((args.out / "seed-comparison.md").read_text())
    return document


if __name__ == "__main__":
    main()
