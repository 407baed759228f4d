"""Primitive benchmark (issue 4): the five non-fairness primitives through the three processes.

    python benchmarks/bench_primitives.py [--quick] [--only concordance,drift] [--repeats N]

For each primitive, at the issue's target size and at one smaller size: one evaluator daemon
(``regaudit-evaluator serve``) with a fresh store, then repeated audits, each = the client
driver (``benchmarks/primitive_client.py``, its own process, calling ``run_audit``) followed by
``regaudit-regulator verify --json`` (its own process). The decrypted, verified result is
compared with the primitive's exact plaintext oracle ``<p>_reference``. A size the primitive
refuses (its own input limits) is recorded with the refusal message and the largest accepted
size runs instead. Results: ``benchmarks/results/primitives.json`` and ``primitives.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH_DIR,
    RESULTS_DIR,
    EvaluatorDaemon,
    MemorySampler,
    Parties,
    last_json_line,
    machine_info,
    role_cli,
    run_process,
    stats,
    write_json,
)

DATA_SEED = 20_261_126
#: Repeats per size (median reported); a size whose first run exceeds SINGLE_RUN_S runs once.
REPEATS = 3
SINGLE_RUN_S = 90.0
#: Key material on the wire per audit (issue 4), bytes.
KEY_BYTES_TARGET = 60 * 1000**2
#: Public disagreement models (ascending coefficients): M = 5, degrees 1..3.
MODELS: list[list[float]] = [
    [0.0, 1.0],
    [0.05, 0.95, 0.02],
    [-0.02, 1.05, 0.0, -0.01],
    [0.01, 1.0, 0.01],
    [0.0, 0.9, 0.0, 0.02],
]


# --- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One primitive at one size."""

    primitive: str
    label: str
    size: dict[str, int]
    #: the issue's target at this size (None for the smaller comparison size)
    target_s: float | None
    target_text: str
    accuracy_target: str = ""
    #: if the primitive refuses ``size``: the size to run instead
    fallback: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)


def cases(quick: bool) -> list[Case]:
    """Target size and one smaller size per primitive (``quick``: the smaller sizes only)."""
    full = [
        Case("concordance", "N=1000", {"patients": 1000}, 30.0,
             "N = 1,000 patients <= 30 s", "|ΔC| <= 0.002"),
        Case("concordance", "N=256", {"patients": 256}, None, "smaller size"),
        Case("provenance", "1M rows, 64 buckets", {"rows": 1_000_000, "buckets": 64}, 30.0,
             "1,000,000 rows into 64 buckets <= 30 s", "rel. error <= 1e-6"),
        Case("provenance", "100k rows, 64 buckets", {"rows": 100_000, "buckets": 64}, None,
             "smaller size"),
        Case("calibration", "10k points x 100 classes", {"points": 10_000, "classes": 100},
             30.0, "10,000 test points x 100 classes <= 30 s", "coverage error <= 1e-3"),
        Case("calibration", "1k points x 100 classes", {"points": 1_000, "classes": 100}, None,
             "smaller size"),
        Case("drift", "100 features x 128 bins", {"features": 100, "bins": 128}, 10.0,
             "100 features x 128 bins in one audit <= 10 s", "distance 1e-6, W1 1 %",
             fallback={"features": 32, "bins": 128}),
        Case("drift", "8 features x 128 bins", {"features": 8, "bins": 128}, None,
             "smaller size"),
        Case("disagreement", "M=5, 100k inputs", {"models": 5, "rows": 100_000}, 10.0,
             "M = 5 models on 100,000 inputs <= 10 s", "rel. error <= 1e-6"),
        Case("disagreement", "M=5, 10k inputs", {"models": 5, "rows": 10_000}, None,
             "smaller size"),
    ]  # fmt: skip
    if quick:
        return [c for c in full if c.target_s is None]
    return full


# --- data -------------------------------------------------------------------------------------


def concordance_payload(patients: int, rng: np.random.Generator) -> dict[str, Any]:
    """A bootstrap sample of lifelines' gbsg2 (breast cancer) with a linear risk score."""
    from lifelines.datasets import load_gbsg2

    frame = load_gbsg2()
    index = rng.integers(0, len(frame), patients)
    sample = frame.iloc[index]
    risk = (
        0.02 * sample["tsize"].to_numpy(float)
        + 0.06 * sample["pnodes"].to_numpy(float)
        - 0.002 * sample["progrec"].to_numpy(float)
        + rng.normal(0.0, 0.3, patients)
    )
    return {
        "risk": np.round(risk, 4),
        "time": sample["time"].to_numpy(float),
        "event": sample["cens"].to_numpy(int),
    }


def provenance_payload(rows: int, buckets: int, rng: np.random.Generator) -> dict[str, Any]:
    return {
        "attributions": np.round(rng.exponential(1.0, rows), 6),
        "row_ids": [f"patient-{i:07d}" for i in range(rows)],
        "n_buckets": buckets,
        "k": 5,
    }


def calibration_payload(points: int, classes: int, rng: np.random.Generator) -> dict[str, Any]:
    """Nonconformity scores of a calibrated classifier: the true class is usually well below
    the quantile, 10 % of points miss it."""
    labels = rng.integers(0, classes, points)
    scores = rng.uniform(0.55, 1.0, (points, classes))
    scores[np.arange(points), labels] = rng.uniform(0.0, 0.45, points)
    miss = rng.random(points) < 0.1
    scores[miss, labels[miss]] = rng.uniform(0.55, 0.95, int(miss.sum()))
    low = rng.random((points, classes)) < 0.02  # a few wrong classes inside the set
    scores[low] = rng.uniform(0.0, 0.45, int(low.sum()))
    return {"scores": np.round(scores, 4), "labels": labels.tolist(), "quantiles": 0.5}


def drift_payload(features: int, bins: int, rng: np.random.Generator) -> dict[str, Any]:
    edges = (-4.0, 4.0)
    p = np.empty((features, bins))
    q = np.empty((features, bins))
    for f in range(features):
        shift, spread = rng.uniform(0.0, 0.5), rng.uniform(0.9, 1.3)
        p[f] = np.histogram(rng.normal(0.0, 1.0, 5000), bins=bins, range=edges)[0]
        q[f] = np.histogram(rng.normal(shift, spread, 5000), bins=bins, range=edges)[0]
    return {
        "p": p.tolist(),
        "q": q.tolist(),
        "bin_width": (edges[1] - edges[0]) / bins,
        "drift_threshold": 0.05,
    }


def disagreement_payload(models: int, rows: int, rng: np.random.Generator) -> dict[str, Any]:
    return {
        "test_input": np.round(rng.normal(0.0, 1.0, rows), 6),
        "model_polynomials": MODELS[:models],
        "threshold": 0.05,
    }


def make_payload(primitive: str, size: dict[str, int]) -> dict[str, Any]:
    rng = np.random.default_rng(DATA_SEED + sum(size.values()))
    makers: dict[str, Callable[..., dict[str, Any]]] = {
        "concordance": concordance_payload,
        "provenance": provenance_payload,
        "calibration": calibration_payload,
        "drift": drift_payload,
        "disagreement": disagreement_payload,
    }
    return makers[primitive](*size.values(), rng)


def parse(primitive: str, payload: dict[str, Any]) -> Any:
    from regaudit.client.inputs import get_loader

    return get_loader(primitive).parse_json(payload)


def reference(primitive: str, data: Any) -> dict[str, Any]:
    import importlib

    module = importlib.import_module(f"regaudit.shared.circuits.{primitive}")
    result: dict[str, Any] = getattr(module, f"{primitive}_reference")(data)
    return result


# --- errors against the exact reference ---------------------------------------------------------


def _rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


def result_errors(primitive: str, got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The headline error of the verified (decrypted) result against ``<p>_reference``, and
    whether it lies within the error bound the report gives."""
    errors = _result_errors(primitive, got, want)
    if "within_reported_bound" not in errors:
        errors["within_reported_bound"] = _within(primitive, errors)
    return errors


def _result_errors(primitive: str, got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    if primitive == "concordance":
        return {
            "headline": "|ΔC|",
            "value": abs(float(got["c_index"]) - float(want["c_index"])),
            "c_index": got["c_index"],
            "c_index_exact": want["c_index"],
            "comparable_pairs_error": abs(
                float(got["comparable_pairs"]) - float(want["comparable_pairs"])
            ),
            "reported_error_bound": got.get("c_index_error_bound"),
            "met": abs(float(got["c_index"]) - float(want["c_index"])) <= 0.002,
        }
    if primitive == "provenance":
        totals = np.asarray(got["bucket_totals"], float)
        exact = np.asarray(want["bucket_totals"], float)
        scale = float(np.abs(exact).sum())
        value = float(np.abs(totals - exact).max()) / scale
        return {
            "headline": "max |Δtotal| / Σ|a|",
            "value": value,
            "max_abs_total_error": float(np.abs(totals - exact).max()),
            "top_k_equal": list(got["top_k_ids"]) == list(want["top_k_ids"]),
            "reported_error_bound": got.get("error_bound"),
            "within_reported_bound": float(np.abs(totals - exact).max())
            <= float(got.get("error_bound") or 0.0),
            "met": value <= 1e-6,
        }
    if primitive == "calibration":
        coverage = abs(float(got["coverage"]) - float(want["coverage"]))
        size = abs(float(got["mean_set_size"]) - float(want["mean_set_size"]))
        return {
            "headline": "|Δcoverage|",
            "value": coverage,
            "mean_set_size_error": size,
            "coverage": got["coverage"],
            "coverage_exact": want["coverage"],
            "reported_coverage_bound": got.get("coverage_error_bound"),
            "reported_set_size_bound": got.get("mean_set_size_error_bound"),
            "met": coverage <= 1e-3,
        }
    if primitive == "drift":
        distance = max(
            abs(float(g["distance"]) - float(w["distance"]))
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        w1 = max(
            _rel(float(g["w1_distance"]), float(w["w1_distance"]))
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        within = all(
            abs(float(g["w1_distance"]) - float(w["w1_distance"])) <= float(g["w1_error_bound"])
            for g, w in zip(got["features"], want["features"], strict=True)
        )
        return {
            "headline": "max |Δdistance|",
            "value": distance,
            "secondary_headline": "max rel. ΔW1",
            "secondary": w1,
            "max_w1_relative_error": w1,
            "w1_within_reported_bound": within,
            "met": distance <= 1e-6 and w1 <= 0.01,
        }
    if primitive == "disagreement":
        value = _rel(
            float(got["mean_pairwise_squared_difference"]),
            float(want["mean_pairwise_squared_difference"]),
        )
        means = float(
            np.abs(
                np.asarray(got["per_model_mean_outputs"], float)
                - np.asarray(want["per_model_mean_outputs"], float)
            ).max()
        )
        mpsd = float(want["mean_pairwise_squared_difference"])
        return {
            "headline": "rel. Δ mean pairwise sq. diff.",
            "value": value,
            "mpsd_exact": mpsd,
            "abs_error": value * mpsd,
            "reported_error_bound": got.get("error_bound"),
            "within_reported_bound": value * mpsd <= float(got.get("error_bound") or 0.0),
            "max_abs_mean_output_error": means,
            "met": value <= 1e-6,
        }
    raise ValueError(primitive)


# --- one size -----------------------------------------------------------------------------------


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_case(
    case: Case,
    *,
    repeats: int,
    parties: Parties,
    workdir: Path,
    sampler: MemorySampler,
) -> dict[str, Any]:
    """Validate the case's input (recording a refusal), then one daemon and the audits."""
    size = dict(case.size)
    refusal: str | None = None
    payload = make_payload(case.primitive, size)
    try:
        data = parse(case.primitive, payload)
    except Exception as exc:  # the primitive's own limit: record and fall back
        refusal = f"{type(exc).__name__}: {exc}"
        if case.fallback is None:
            return {"case": case.label, "primitive": case.primitive, "refused": refusal}
        print(f"  refused: {refusal}; running {case.fallback} instead", flush=True)
        size = dict(case.fallback)
        payload = make_payload(case.primitive, size)
        data = parse(case.primitive, payload)
    want = reference(case.primitive, data)
    name = f"{case.primitive}-{'-'.join(str(v) for v in size.values())}"
    directory = workdir / name
    directory.mkdir(parents=True)
    data_path = directory / "payload.pkl"
    with data_path.open("wb") as handle:
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
    runs: list[dict[str, Any]] = []
    daemon = EvaluatorDaemon(
        parties.evaluator, directory / "store", log=directory / "evaluator.log"
    )
    with daemon:
        time.sleep(1.0)
        for index in range(repeats):
            runs.append(
                one_audit(
                    f"{name}-{index}",
                    case.primitive,
                    data_path=data_path,
                    want=want,
                    parties=parties,
                    daemon=daemon,
                    directory=directory,
                    sampler=sampler,
                )
            )
            last = runs[-1]
            print(
                f"  {name} run {index + 1}: end-to-end {last['end_to_end_s']:.1f} s "
                f"(client {last['client_process']['wall_s']:.1f} s, verify "
                f"{last['regulator']['wall_s']:.1f} s), {last['error']['headline']} "
                f"{last['error']['value']:.3g}",
                flush=True,
            )
            if index == 0 and last["end_to_end_s"] > SINGLE_RUN_S:
                print(f"  first run over {SINGLE_RUN_S:.0f} s: one run only", flush=True)
                break
    shutil.rmtree(directory / "store", ignore_errors=True)
    return {
        "case": case.label,
        "primitive": case.primitive,
        "target_s": case.target_s,
        "target_text": case.target_text,
        "accuracy_target": case.accuracy_target,
        "requested_size": case.size,
        "refused": refusal,
        "size": size,
        "rows": runs[0]["client"]["rows"],
        "repeats": len(runs),
        "single_run_reason": (
            f"first run took over {SINGLE_RUN_S:.0f} s" if len(runs) < repeats else None
        ),
        "summary": summarize(runs),
        "runs": runs,
    }


def one_audit(
    label: str,
    primitive: str,
    *,
    data_path: Path,
    want: dict[str, Any],
    parties: Parties,
    daemon: EvaluatorDaemon,
    directory: Path,
    sampler: MemorySampler,
) -> dict[str, Any]:
    bundle = directory / f"{label}.bundle"
    command: list[str | Path] = [
        sys.executable, BENCH_DIR / "primitive_client.py",
        "--primitive", primitive,
        "--data", data_path,
        "--evaluator", daemon.address,
        "--card", parties.card,
        "--identity", parties.client,
        "--out", bundle,
    ]  # fmt: skip
    uptime = _uptime()
    load_before = os.getloadavg()[0]
    evaluator_tree = sampler.watch(daemon.pid, "evaluator")
    client = run_process(command, workdir=directory, name=f"{label}-client", sampler=sampler)
    sampler.unwatch(evaluator_tree)
    if client.returncode != 0:
        raise RuntimeError(f"client failed ({client.returncode}):\n{client.stderr[-4000:]}")
    record = last_json_line(client.stdout)
    regulator = run_process(
        role_cli(
            "regulator", "verify", bundle, "--identity", parties.regulator,
            "--trust", parties.trust, "--json",
        ),
        workdir=directory,
        name=f"{label}-regulator",
        sampler=sampler,
    )  # fmt: skip
    verdict = last_json_line(regulator.stdout)
    if regulator.returncode != 0 or not verdict.get("verified"):
        raise RuntimeError(f"verification failed: {verdict}\n{regulator.stderr[-2000:]}")
    evidence = verdict["evidence"]
    plan = json.loads(bundle.read_text())["plan"]
    bundle.unlink()
    return {
        "label": label,
        "uptime_before": uptime,
        "loadavg_1min_before": load_before,
        "end_to_end_s": client.wall_s + regulator.wall_s,
        "client": record,
        "client_process": {
            "wall_s": client.wall_s,
            "wait4_maxrss_mb": client.maxrss_mb,
            "cpu_s": client.user_s + client.system_s,
            "tree_memory": client.memory,
        },
        "evaluator_memory": evaluator_tree.summary(),
        "evaluator_receipt_window_s": _receipt_window(evidence["evaluator"]),
        "regulator": {
            "wall_s": regulator.wall_s,
            "cpu_s": regulator.user_s + regulator.system_s,
            "wait4_maxrss_mb": regulator.maxrss_mb,
            "tree_memory": regulator.memory,
        },
        "depth": evidence["depth"],
        "operation_counts_observed": evidence["operation_counts"],
        "operation_counts_planned": plan["operation_counts"],
        "operation_counts_match": evidence["operation_counts"] == plan["operation_counts"],
        "profile": evidence["profile"]["name"],
        "canary_passed": evidence.get("canary", {}).get("passed"),
        "error": result_errors(primitive, verdict["result"], want),
    }


def _receipt_window(evaluator: dict[str, Any]) -> float | None:
    from datetime import datetime

    try:
        start = datetime.fromisoformat(evaluator["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(evaluator["finished_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


# --- summaries ----------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median/min/max over ``runs`` of stages, bytes, memory, CPU and errors."""

    def over(getter: Callable[[dict[str, Any]], Any]) -> dict[str, float] | None:
        values = []
        for run in runs:
            try:
                values.append(getter(run))
            except (KeyError, TypeError):
                values.append(None)
        return stats(values)

    def timing(key: str) -> Callable[[dict[str, Any]], Any]:
        return lambda r: r["client"]["timings"].get(key)

    ev = "events_s"
    stages = {
        "client_imports_s": over(lambda r: r["client"]["imports_s"]),
        "load_validate_s": over(lambda r: r["client"]["load_validate_s"]),
        "keygen_s": over(timing("keygen_s")),
        "upload_keys_s": over(timing("upload_keys_s")),
        "encrypt_upload_s": over(timing("encrypt_upload_s")),
        "encrypt_first_to_last_s": over(
            lambda r: r["client"][ev]["encrypt_last"] - r["client"][ev]["encrypt_first"]
        ),
        "evaluate_wait_s": over(timing("evaluate_wait_s")),
        "evaluator_receipt_window_s": over(lambda r: r["evaluator_receipt_window_s"]),
        "result_fetch_s": over(timing("result_fetch_s")),
        "client_evidence_s": over(
            lambda r: sum(
                r["client"]["timings"].get(k) or 0.0
                for k in (
                    "receipt_check_s",
                    "commitments_s",
                    "openings_write_s",
                    "sealing_s",
                    "signing_s",
                    "bundle_write_s",
                )
            )
        ),
        "run_audit_total_s": over(timing("total_s")),
        "client_process_wall_s": over(lambda r: r["client_process"]["wall_s"]),
        "regulator_verify_wall_s": over(lambda r: r["regulator"]["wall_s"]),
        "end_to_end_s": over(lambda r: r["end_to_end_s"]),
    }
    byte_keys = (
        "evaluation_keys_bytes",
        "relin_key_bytes",
        "galois_keys_bytes",
        "galois_steps",
        "ciphertext_bytes",
        "result_output_bytes",
        "bundle_bytes",
    )
    sizes = {key: over(lambda r, k=key: r["client"]["bytes"].get(k)) for key in byte_keys}
    memory = {
        # VmHWM / sampled RSS: getrusage's and wait4's ru_maxrss also count the memory of the
        # forked parent before exec (Linux keeps the pre-exec high-water mark), so they would
        # report this benchmark process's own size for a small child.
        "client_main_mb": over(lambda r: r["client_process"]["tree_memory"]["peak_root_mb"]),
        "client_worker_max_mb": over(
            lambda r: max(
                r["client_process"]["tree_memory"]["peak_child_hwm_max_mb"],
                r["client_process"]["tree_memory"]["peak_child_max_mb"],
            )
        ),
        "client_tree_sum_mb": over(
            lambda r: r["client_process"]["tree_memory"]["peak_tree_sum_mb"]
        ),
        "evaluator_daemon_mb": over(lambda r: r["evaluator_memory"]["peak_root_mb"]),
        "evaluator_worker_max_mb": over(lambda r: r["evaluator_memory"]["peak_child_max_mb"]),
        "evaluator_tree_sum_mb": over(lambda r: r["evaluator_memory"]["peak_tree_sum_mb"]),
        "regulator_mb": over(lambda r: r["regulator"]["tree_memory"]["peak_root_mb"]),
    }
    cpu = {
        "client_main_cpu_s": over(lambda r: r["client"]["cpu_s"]["self"]),
        "client_workers_cpu_s": over(lambda r: r["client"]["cpu_s"]["children"]),
        "evaluator_tree_cpu_s": over(lambda r: r["evaluator_memory"]["cpu_s_sampled"]),
        "regulator_cpu_s": over(lambda r: r["regulator"]["cpu_s"]),
        "loadavg_1min_before": over(lambda r: r["loadavg_1min_before"]),
    }
    first = runs[0]
    return {
        "stages_s": stages,
        "bytes": sizes,
        "memory_mb": memory,
        "cpu_s": cpu,
        "error": over(lambda r: r["error"]["value"]),
        "error_headline": first["error"]["headline"],
        "secondary_error": over(lambda r: r["error"]["secondary"]),
        "secondary_error_headline": first["error"].get("secondary_headline"),
        "accuracy_met_every_run": all(r["error"]["met"] for r in runs),
        "within_reported_bound_every_run": (
            all(r["error"]["within_reported_bound"] for r in runs)
            if all(r["error"].get("within_reported_bound") is not None for r in runs)
            else None
        ),
        "profile": first["profile"],
        "chunks": first["client"]["chunks"],
        "chunk_rows": first["client"]["chunk_rows"],
        "columns": first["client"]["columns"],
        "ciphertexts": first["client"]["ciphertexts"],
        "rotation_steps": first["client"]["rotation_steps"],
        "depth": first["depth"],
        "operation_counts": first["operation_counts_observed"],
        "operation_counts_planned": first["operation_counts_planned"],
        "operation_counts_match_every_run": all(r["operation_counts_match"] for r in runs),
        "uptime_before_runs": [r["uptime_before"] for r in runs],
    }


# --- markdown -----------------------------------------------------------------------------------


def _med(entry: dict[str, float] | None) -> float | None:
    return None if not entry else entry["median"]


def _s(entry: dict[str, float] | None, digits: int = 1) -> str:
    if not entry:
        return "–"
    if entry["n"] == 1:
        return f"{entry['median']:.{digits}f}"
    return f"{entry['median']:.{digits}f} ({entry['min']:.{digits}f}–{entry['max']:.{digits}f})"


def _errors(summary: dict[str, Any]) -> str:
    text = f"{_esc(summary['error_headline'])} {_g(summary['error'])}"
    if summary.get("secondary_error_headline"):
        text += f"; {_esc(summary['secondary_error_headline'])} {_g(summary['secondary_error'])}"
    within = summary.get("within_reported_bound_every_run")
    if within is not None:
        text += "; within the reported bound: " + ("yes" if within else "**NO**")
    return text


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _esc(text: str) -> str:
    """``text`` safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def _g(entry: dict[str, float] | None) -> str:
    if not entry:
        return "–"
    if entry["n"] == 1 or entry["min"] == entry["max"]:
        return f"{entry['median']:.3g}"
    return f"{entry['median']:.3g} ({entry['min']:.3g}–{entry['max']:.3g})"


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e6:.1f} MB"


def verdicts(record: dict[str, Any]) -> dict[str, Any]:
    """Target vs measured for one target-size record."""
    summary = record["summary"]
    e2e = _med(summary["stages_s"]["end_to_end_s"]) or math.inf
    keys = _med(summary["bytes"]["evaluation_keys_bytes"]) or 0.0
    time_met = record["refused"] is None and e2e <= (record["target_s"] or math.inf)
    return {
        "end_to_end_s": e2e,
        "time_met": time_met,
        "key_bytes": keys,
        "keys_met": keys <= KEY_BYTES_TARGET,
        "accuracy_met": summary["accuracy_met_every_run"],
    }


def _size(record: dict[str, Any]) -> str:
    if not record.get("refused"):
        return str(record["case"])
    return " x ".join(f"{v} {k}" for k, v in record["size"].items())


def write_markdown(document: dict[str, Any], path: Path) -> None:
    machine = document["machine"]
    lines = [
        "# Primitive benchmark (issue 4)",
        "",
        f"Generated {document['generated_at']} by `python benchmarks/bench_primitives.py"
        f"{' --quick' if document['quick'] else ''}` (total {document['wall_s']:.0f} s).",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total']} RAM, "
        f"Python {machine['versions']['python']}, TenSEAL {machine['versions']['tenseal']}. "
        f"Load before start: `{machine['uptime_before']}`. The `uptime` before every run is in "
        "the JSON (`runs[].uptime_before`); the 1-minute load average is in the tables below. "
        "Other helpers share this 2-core machine, so wall times include their load; CPU "
        "seconds are the steadier figure.",
        "",
        "Three separate processes over loopback gRPC: one evaluator daemon per size (fresh "
        "store), the client driver (`benchmarks/primitive_client.py`, calling `run_audit` on "
        "input validated by the client's own loader), and `regaudit-regulator verify --json`. "
        "**End to end** = client process wall time (imports, input validation, key generation, "
        "encryption + upload, evaluation, fetch, evidence, bundle) + regulator verify process "
        "wall time. Cells: median (min–max) over the runs. Errors: the verified, decrypted "
        "result of `verify --json` against the primitive's exact plaintext oracle "
        "`<p>_reference`.",
        "",
        "Source measured: HEAD "
        + str(document.get("source", {}).get("head", "?"))[:12]
        + " plus the working-tree changes listed in the JSON (`source.modified`; other "
        "engineers were editing the tree during the run; each size records its own `source`).",
        "",
        "## Targets vs measured",
        "",
        "| primitive | target | measured size | end to end | time | key bytes on the wire "
        "(≤ 60 MB) | keys | accuracy | error vs exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for record in document["results"]:
        if record.get("target_s") is None or "summary" not in record:
            continue
        v = verdicts(record)
        size = _size(record) + (" (target refused)" if record["refused"] else "")
        summary = record["summary"]
        lines.append(
            f"| {record['primitive']} | {record['target_text']} | {size} | "
            f"{_s(summary['stages_s']['end_to_end_s'])} s | "
            f"{'met' if v['time_met'] else '**gap**'} | {_mb(v['key_bytes'])} | "
            f"{'met' if v['keys_met'] else '**gap**'} | "
            f"{'met' if v['accuracy_met'] else '**gap**'} ({_esc(record['accuracy_target'])}) | "
            f"{_errors(summary)} |"
        )
    lines += ["", "## Per size", ""]
    lines.append(
        "| primitive | size | runs | profile | chunks × columns = ciphertexts | depth planned / "
        "observed | key gen | encrypt + upload | evaluation wait | evaluator window | fetch | "
        "client evidence | verify | end to end |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for record in document["results"]:
        if "summary" not in record:
            lines.append(
                f"| {record['primitive']} | {record['case']} | "
                f"{'failed' if record.get('failed') else 'refused'} | | | | | | | | | | | |"
            )
            continue
        s = record["summary"]
        st = s["stages_s"]
        lines.append(
            f"| {record['primitive']} | {_size(record)}"
            f" | {record['repeats']} | {s['profile']} | {s['chunks']} × {s['columns']} = "
            f"{s['ciphertexts']} (incl. canary) | {s['depth']['planned']} / "
            f"{s['depth']['observed']} | {_s(st['keygen_s'], 2)} | {_s(st['encrypt_upload_s'])} | "
            f"{_s(st['evaluate_wait_s'])} | {_s(st['evaluator_receipt_window_s'])} | "
            f"{_s(st['result_fetch_s'], 2)} | {_s(st['client_evidence_s'], 2)} | "
            f"{_s(st['regulator_verify_wall_s'])} | **{_s(st['end_to_end_s'])}** |"
        )
    lines += [
        "",
        "Stages (seconds): key generation = CKKS keys + evaluation keys; encrypt + upload = "
        "the pipelined encryption workers and the gRPC stream (the evaluator starts on chunks "
        "as they arrive); evaluation wait = after the last ciphertext until the job finished; "
        "evaluator window = the receipt's started→finished; client evidence = receipt check, "
        "commitments, openings, sealing, signing, bundle write; verify = the regulator process.",
        "",
        "| primitive | size | Galois keys (steps) | relin key | input ciphertexts | outputs | "
        "CPU s: client main / enc. workers / evaluator tree / regulator | peak MB: client main / "
        "enc. worker / evaluator daemon / eval. worker / evaluator tree / regulator | load (1 min) "
        "| error vs exact |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for record in document["results"]:
        if "summary" not in record:
            continue
        s = record["summary"]
        b, c, m = s["bytes"], s["cpu_s"], s["memory_mb"]
        lines.append(
            f"| {record['primitive']} | {_size(record)}"
            f" | {_mb(_med(b['galois_keys_bytes']))} ({int(_med(b['galois_steps']) or 0)}) | "
            f"{_mb(_med(b['relin_key_bytes']))} | {_mb(_med(b['ciphertext_bytes']))} | "
            f"{_mb(_med(b['result_output_bytes']))} | "
            f"{_s(c['client_main_cpu_s'])} / {_s(c['client_workers_cpu_s'])} / "
            f"{_s(c['evaluator_tree_cpu_s'])} / {_s(c['regulator_cpu_s'])} | "
            + " / ".join(
                _n(_med(m[key]))
                for key in (
                    "client_main_mb",
                    "client_worker_max_mb",
                    "evaluator_daemon_mb",
                    "evaluator_worker_max_mb",
                    "evaluator_tree_sum_mb",
                    "regulator_mb",
                )
            )
            + f" | {_s(c['loadavg_1min_before'], 2)} | {_errors(s)} |"
        )
    lines += [
        "",
        "Operation counts observed (from the receipt). Every counter, `max_level` included "
        "(absolute levels in both the plan and the receipt), equal to the plan's in every run: "
        + str(
            all(
                r["summary"]["operation_counts_match_every_run"]
                for r in document["results"]
                if "summary" in r
            )
        )
        + ".",
        "",
        "| primitive | size | ct×ct mult | ct×pt mult | rotations | additions | rescales | "
        "rotation steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in document["results"]:
        if "summary" not in record:
            continue
        ops = record["summary"]["operation_counts"]
        lines.append(
            f"| {record['primitive']} | {_size(record)}"
            f" | {ops.get('ct_ct_multiplications')} | {ops.get('ct_pt_multiplications')} | "
            f"{ops.get('rotations')} | {ops.get('additions')} | {ops.get('rescales')} | "
            f"{len(ops.get('rotation_steps', []))} |"
        )
    failures = [r for r in document["results"] if r.get("failed")]
    if failures:
        lines += ["", "## Failed sizes", ""]
        for record in failures:
            lines.append(
                f"- {record['primitive']} {record['case']} (source at {record['source']['at']}):"
                f" `{record['failed'].strip().splitlines()[-1][:400]}`"
            )
    refusals = [r for r in document["results"] if r.get("refused")]
    if refusals:
        lines += ["", "## Refused target sizes", ""]
        for record in refusals:
            lines.append(
                f"- {record['primitive']} {record['requested_size']}: `{record['refused']}`; "
                f"ran {record.get('size')} instead."
            )
    gaps = [
        r
        for r in document["results"]
        if r.get("target_s") is not None and "summary" in r
        if not all(verdicts(r)[k] for k in ("time_met", "keys_met", "accuracy_met"))
    ]
    if gaps or document.get("analysis"):
        lines += ["", "## Gaps: where the time and the bytes go", ""]
        if document.get("analysis"):
            lines += [document["analysis"], ""]
        op_costs = _op_costs()
        for record in gaps:
            lines += gap_profile(record, op_costs)
    path.write_text("\n".join(lines) + "\n")


def _op_costs() -> dict[str, dict[str, float]]:
    """Per-operation single-core costs (ms) measured by bench_ckks_ops.py, by profile."""
    path = RESULTS_DIR / "ckks-ops.json"
    if not path.exists():
        return {}
    costs: dict[str, dict[str, float]] = {}
    for entry in json.loads(path.read_text()).get("profiles", []):
        ev, cl = entry.get("evaluator", {}), entry.get("client", {})

        def ms(table: dict[str, Any], key: str) -> float:
            return float(table.get(key, {}).get("median_ms", math.nan))

        costs[entry["profile"]] = {
            "multiply": ms(ev, "multiply + relin + rescale"),
            "rotate": ms(ev, "rotate"),
            "load": ms(ev, "load + validate (load_ciphertext)"),
            "encrypt": ms(cl, "whole ClientKeys.encrypt"),
        }
    return costs


def gap_profile(record: dict[str, Any], op_costs: dict[str, dict[str, float]]) -> list[str]:
    """Where the time and the bytes of one target size go (from CPU seconds, stage times,
    byte counts and the receipt's operation counts)."""
    v = verdicts(record)
    s = record["summary"]
    st, b, c, ops = s["stages_s"], s["bytes"], s["cpu_s"], s["operation_counts"]
    missed = [
        name
        for name, key in (
            ("time", "time_met"),
            ("key bytes", "keys_met"),
            ("accuracy", "accuracy_met"),
        )
        if not v[key]
    ]
    lines = [f"### {record['primitive']}, {_size(record)}: gap in {', '.join(missed)}", ""]
    if record.get("refused"):
        lines.append(f"- target size refused by the primitive: `{record['refused']}`.")
    stage_keys = (
        ("client imports", "client_imports_s"),
        ("input validation", "load_validate_s"),
        ("key generation", "keygen_s"),
        ("key upload", "upload_keys_s"),
        ("encryption + upload", "encrypt_upload_s"),
        ("evaluation wait", "evaluate_wait_s"),
        ("fetch", "result_fetch_s"),
        ("client evidence", "client_evidence_s"),
        ("regulator verify (process)", "regulator_verify_wall_s"),
    )
    parts = ", ".join(f"{label} {_med(st[key]) or 0.0:.1f}" for label, key in stage_keys)
    lines.append(
        f"- end to end {v['end_to_end_s']:.1f} s (target {record['target_s']:.0f} s): {parts} "
        "(medians, seconds; the rest is process start-up and teardown)."
    )
    cpu_parts = {
        "client main": _med(c["client_main_cpu_s"]) or 0.0,
        "client encryption workers": _med(c["client_workers_cpu_s"]) or 0.0,
        "evaluator (daemon + workers)": _med(c["evaluator_tree_cpu_s"]) or 0.0,
        "regulator": _med(c["regulator_cpu_s"]) or 0.0,
    }
    total = sum(cpu_parts.values())
    lines.append(
        f"- CPU seconds {total:.1f} in all ("
        + ", ".join(f"{k} {x:.1f} = {100 * x / total:.0f} %" for k, x in cpu_parts.items())
        + f"): on 2 cores at least {total / 2:.1f} s of wall time even with perfect overlap; "
        f"1-minute load average before the runs {_s(c['loadavg_1min_before'], 2)}."
    )
    costs = op_costs.get(s["profile"], {})
    n_ct = s["ciphertexts"]
    if costs:
        mult = (ops.get("ct_ct_multiplications") or 0) * costs["multiply"] / 1000
        rot = (ops.get("rotations") or 0) * costs["rotate"] / 1000
        load = n_ct * costs["load"] / 1000
        enc = n_ct * costs["encrypt"] / 1000
        lines.append(
            f"- evaluator: {n_ct} input ciphertexts ({s['chunks']} chunks × {s['columns']} "
            f"columns + canary); receipt operation counts: {ops.get('ct_ct_multiplications')} "
            f"ct×ct multiplications, {ops.get('ct_pt_multiplications')} ct×pt, "
            f"{ops.get('rotations')} rotations, {ops.get('rescales')} rescales. At the "
            f"top-level single-core costs of `ckks-ops.json` ({s['profile']}: multiply+relin+"
            f"rescale {costs['multiply']:.1f} ms, rotation {costs['rotate']:.1f} ms, load+validate "
            f"{costs['load']:.1f} ms) that is {mult:.1f} s of multiplications + {rot:.1f} s of "
            f"rotations + {load:.1f} s of loading = {mult + rot + load:.1f} CPU-s (an upper "
            "bound: lower levels are cheaper; ct×pt products, rescales and additions not "
            f"counted) vs {cpu_parts['evaluator (daemon + workers)']:.1f} CPU-s measured."
        )
        lines.append(
            f"- client: encrypting {n_ct} ciphertexts at {costs['encrypt']:.1f} ms each "
            f"(encode + encrypt + serialize + hash) = {enc:.1f} CPU-s; measured encryption "
            f"workers {cpu_parts['client encryption workers']:.1f} CPU-s, first→last "
            f"ciphertext encrypted {_med(st['encrypt_first_to_last_s']) or 0.0:.1f} s."
        )
    galois, steps = _med(b["galois_keys_bytes"]) or 0.0, int(_med(b["galois_steps"]) or 0)
    lines.append(
        f"- bytes on the wire: evaluation keys {_mb(v['key_bytes'])} = Galois "
        f"{_mb(galois)} ({steps} rotation steps × {_mb(galois / max(steps, 1))} each: "
        f"{s['rotation_steps']}) + relinearization {_mb(_med(b['relin_key_bytes']))}; input "
        f"ciphertexts {_mb(_med(b['ciphertext_bytes']))} ({n_ct} × "
        f"{_mb((_med(b['ciphertext_bytes']) or 0.0) / max(n_ct, 1))}); outputs "
        f"{_mb(_med(b['result_output_bytes']))}."
    )
    lines.append("")
    return lines


# --- main ---------------------------------------------------------------------------------------


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller sizes only")
    parser.add_argument("--only", default=None, help="comma-separated primitives")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--merge", action="store_true", help="replace only the cases run in an existing JSON"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rebuild the summaries and primitives.md from an existing primitives.json",
    )
    parser.add_argument(
        "--analysis", type=Path, default=None, help="markdown file: the written gap analysis"
    )
    args = parser.parse_args()
    if args.render:
        return render(args.results, analysis=args.analysis)
    started = time.perf_counter()
    machine = machine_info()
    selected = cases(args.quick)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        selected = [c for c in selected if c.primitive in wanted]
    workdir = Path(tempfile.mkdtemp(prefix="regaudit-bench-primitives-"))
    path = args.results / "primitives.json"
    previous: dict[str, Any] = (
        json.loads(path.read_text()) if args.merge and path.exists() else {"results": []}
    )
    results: list[dict[str, Any]] = []
    args.results.mkdir(parents=True, exist_ok=True)

    def save() -> dict[str, Any]:
        """Write the JSON and markdown so far (after every size: a crash loses one size)."""
        done = {(r["primitive"], r["case"]) for r in results}
        kept = [r for r in previous["results"] if (r["primitive"], r["case"]) not in done]
        order = {(c.primitive, c.label): i for i, c in enumerate(cases(False))}
        merged = sorted(kept + results, key=lambda r: order.get((r["primitive"], r["case"]), 99))
        document: dict[str, Any] = {
            "benchmark": "primitives",
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "quick": args.quick,
            "wall_s": time.perf_counter() - started,
            "machine": machine,
            "source": source,
            "method": {
                "processes": "evaluator daemon, client driver (run_audit), regulator verify --json",
                "daemon": "one per size with a fresh store, reused across that size's repeats",
                "end_to_end": "client process wall + regulator verify process wall",
                "repeats": f"{args.repeats}, or 1 if the first run exceeds {SINGLE_RUN_S:.0f} s",
                "statistics": "median, min, max over repeats",
                "data_seed": DATA_SEED,
                "key_bytes_target": KEY_BYTES_TARGET,
            },
            "results": merged,
            "analysis": (
                args.analysis.read_text().strip() if args.analysis else previous.get("analysis")
            ),
        }
        write_json(path, document)
        write_markdown(document, args.results / "primitives.md")
        return document

    source = source_state()
    document: dict[str, Any] = {}
    try:
        parties = Parties.create(workdir / "parties")
        with MemorySampler() as sampler:
            for case in selected:
                print(f"{case.primitive} {case.label}  [{_uptime()}]", flush=True)
                try:
                    record = run_case(
                        case,
                        repeats=args.repeats,
                        parties=parties,
                        workdir=workdir,
                        sampler=sampler,
                    )
                except Exception as exc:  # record the failure, go on with the next size
                    print(f"  FAILED: {type(exc).__name__}: {str(exc)[-2000:]}", flush=True)
                    record = {
                        "case": case.label,
                        "primitive": case.primitive,
                        "target_s": case.target_s,
                        "failed": f"{type(exc).__name__}: {str(exc)[-4000:]}",
                        "source": source_state(),
                    }
                record["source"] = record.get("source") or source
                results.append(record)
                document = save()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {path} and primitives.md ({document['wall_s']:.0f} s)", flush=True)
    return document


def _within(primitive: str, error: dict[str, Any]) -> bool | None:
    """Whether the measured error lies within the error bound the report itself gives."""

    def bound(key: str) -> float:
        return float(error.get(key) or 0.0)

    if primitive == "provenance":
        return bool(error["max_abs_total_error"] <= bound("reported_error_bound"))
    if primitive == "concordance":
        return bool(error["value"] <= bound("reported_error_bound"))
    if primitive == "calibration":
        return bool(
            error["value"] <= bound("reported_coverage_bound")
            and error["mean_set_size_error"] <= bound("reported_set_size_bound")
        )
    if primitive == "drift":
        return error.get("w1_within_reported_bound")
    return None


def source_state() -> dict[str, Any]:
    """The checkout the benchmark measured: HEAD and the files modified in the working tree
    (other engineers edit the tree while benchmarks run; read-only git commands only)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, cwd=BENCH_DIR.parent, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "HEAD").strip(),
        "modified": [line[3:] for line in git("status", "--porcelain").splitlines() if line],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def render(results: Path, *, analysis: Path | None = None) -> dict[str, Any]:
    """Recompute every summary from the stored runs and rewrite the JSON and markdown."""
    path = results / "primitives.json"
    document: dict[str, Any] = json.loads(path.read_text())
    for record in document["results"]:
        for run in record.get("runs", []):
            error = run["error"]
            if error.get("within_reported_bound") is None:
                error["within_reported_bound"] = _within(record["primitive"], error)
        if record.get("runs"):
            record["summary"] = summarize(record["runs"])
    if analysis is not None:
        document["analysis"] = analysis.read_text().strip()
    write_json(path, document)
    write_markdown(document, results / "primitives.md")
    return document


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
