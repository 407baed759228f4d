"""The fairness benchmark's comparison with the seed library (regaudit-fhe 0.1.0): its encrypted
fairness path on the same data in its own virtualenv, its errors and the ours/seed ratios."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fairness_data import THRESHOLD, FairnessColumns, true_counts
from harness import BENCH_DIR, JsonObject, last_json_line, run_process

__all__ = ["ratio_ours_over_seed", "run_seed", "seed_line", "seed_reference"]


def run_seed(
    seed_python: Path, data: FairnessColumns, workdir: Path, *, name: str = "seed"
) -> JsonObject:
    """The seed's encrypted fairness path on the same data, in its own venv and process."""
    if not seed_python.exists():
        return {
            "ok": False,
            "error": f"{seed_python} does not exist; create it with: python3.11 -m venv "
            f"{seed_python.parent.parent} && {seed_python.parent}/pip install "
            "'regaudit-fhe[fhe]'",
        }
    directory = workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "data.npz"
    np.savez(path, **data)
    load_before = os.getloadavg()[0]
    run = run_process(
        [
            seed_python,
            BENCH_DIR / "seed_fairness.py",
            "--data",
            path,
            "--threshold",
            str(THRESHOLD),
        ],
        workdir=directory,
        name="seed",
        env={"PYTHONPATH": ""},
    )
    try:
        record = last_json_line(run.stdout)
    except ValueError:
        record = {"ok": False, "error": run.stderr[-2000:]}
    record["process_wall_s"] = run.wall_s
    record["wait4_maxrss_mb"] = run.maxrss_mb
    record["cpu_s"] = run.user_s + run.system_s
    record["loadavg_1min_before"] = load_before
    if record.get("ok"):
        exact = seed_reference(data)
        record["exact"] = exact
        record["abs_error"] = {
            key: abs(record["result"][key] - exact[key])
            for key in exact
            if isinstance(record["result"].get(key), float)
        }
    return record


def seed_reference(data: FairnessColumns) -> dict[str, float]:
    """The seed's signed gaps (group_a minus group_b) computed exactly with numpy."""
    counts = true_counts(data)
    a, b = counts["group_a"], counts["group_b"]
    return {
        "demographic_parity_diff": a["predicted_positives"] / a["count"]
        - b["predicted_positives"] / b["count"],
        "equal_opportunity_diff": a["true_positives"] / a["positives"]
        - b["true_positives"] / b["positives"],
        "predictive_parity_diff": a["true_positives"] / a["predicted_positives"]
        - b["true_positives"] / b["predicted_positives"],
    }


def ratio_ours_over_seed(ours: JsonObject, seed_record: JsonObject, rows: int) -> JsonObject:
    """Ours (the data set ``ours`` of ``rows`` rows) over the seed's run: client time, the
    whole three-process flow, peak memory and CPU seconds."""
    st, mem = ours["summary"]["stages_s"], ours["summary"]["memory_mb"]
    seed_time = seed_record["keygen_s"] + seed_record["fairness_encrypted_s"]
    ours_peak = max(
        mem["client_tree_sampled_sum_mb"]["median"],
        mem["evaluator_tree_sampled_sum_mb"]["median"],
        mem["regulator_mb"]["median"],
    )
    cpu = ours["summary"]["cpu_s"]
    ours_cpu = sum(
        cpu[key]["median"]
        for key in (
            "client_main_cpu_s",
            "client_workers_cpu_s",
            "evaluator_tree_cpu_s",
            "regulator_cpu_s",
        )
        if cpu.get(key)
    )
    return {
        "rows": rows,
        "cpu": ours_cpu / seed_record["cpu_s"] if seed_record.get("cpu_s") else None,
        "ours_cpu_s": ours_cpu,
        "seed_cpu_s": seed_record.get("cpu_s"),
        "client_total": st["total_s"]["median"] / seed_time,
        "end_to_end": (st["total_s"]["median"] + st["regulator_verify_wall_s"]["median"])
        / seed_time,
        "peak_memory": ours_peak / seed_record["wait4_maxrss_mb"],
        "seed_seconds": seed_time,
    }


def seed_line(record: JsonObject) -> str:
    """One line about a seed run for the console."""
    if record.get("ok"):
        return (
            f"keygen {record['keygen_s']:.1f} s + fairness {record['fairness_encrypted_s']:.1f} s,"
            f" peak {record['wait4_maxrss_mb']:.0f} MB"
        )
    return f"failed: {record.get('error')}"
