"""Fairness audit benchmark: the real three-process flow at 131,072 and 1,000,000 rows.

    python benchmarks/bench_fairness.py [--quick] [--no-seed] [--profile]

Per data set: one evaluator daemon (``regaudit-evaluator serve``) with a fresh store, then
several audits, each = the client driver (``benchmarks/fairness_client.py``, its own process,
calling ``run_audit``) followed by ``regaudit-regulator verify --json`` (its own process).
Identities and the trust store are created once per benchmark invocation and reused.
Memory: every process tree is sampled from /proc every 50 ms; the client and the regulator
also report ``ru_maxrss`` (getrusage / wait4). Results: ``benchmarks/results/fairness.json``
and ``fairness.md``.

Data: ``fairness_data.py``; summaries and markdown: ``fairness_report.py``; the profiled run:
``fairness_profile.py``; the seed library: ``fairness_seed.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_processes import AuditSite, fresh_daemon, receipt_window, run_and_verify
from cases import DATA_SEED
from fairness_data import (
    CATEGORICAL_GROUPS,
    THRESHOLD,
    Counts,
    FairnessColumns,
    count_error,
    make_data,
    raw_error,
    true_counts,
)
from fairness_profile import (
    profiled_client_command,
    start_py_spy,
    stop_py_spy,
    summarize_cprofile,
    summarize_profile,
)
from fairness_report import summarize, write_markdown
from fairness_seed import ratio_ours_over_seed, run_seed, seed_line
from harness import (
    BENCH_DIR,
    DEFAULT_SEED_PYTHON,
    RESULTS_DIR,
    JsonObject,
    Parties,
    machine_info,
    work_directory,
)
from process_trees import MemorySampler
from render import write_json

__all__ = ["main", "one_audit", "resummarize", "run_dataset"]

FULL_SIZES = (131_072, 1_000_000)
QUICK_SIZES = (10_000, 131_072)
#: Repeats at sizes >= LARGE_ROWS and below.
LARGE_ROWS = 1_000_000
REPEATS_LARGE = 3
REPEATS_SMALL = 5
SEED_ROWS = 131_072


# --- one data set -----------------------------------------------------------------------------


def run_dataset(
    name: str,
    data: FairnessColumns,
    *,
    repeats: int,
    parties: Parties,
    workdir: Path,
    sampler: MemorySampler,
    profile_dir: Path | None = None,
) -> JsonObject:
    """One evaluator daemon with a fresh store; ``repeats`` audits + verifications."""
    rows = int(data["y_true"].shape[0])
    directory = workdir / name
    directory.mkdir(parents=True)
    data_path = directory / "data.npz"
    np.savez(data_path, **data)
    expected = true_counts(data)
    runs: list[JsonObject] = []
    with fresh_daemon(parties, directory) as daemon:
        time.sleep(1.0)  # let the worker pool settle before measuring the idle footprint
        idle = sampler.watch(daemon.pid, "evaluator-idle")
        time.sleep(0.3)
        sampler.unwatch(idle)
        site = AuditSite(parties, daemon, directory, sampler)
        for index in range(repeats + (1 if profile_dir is not None else 0)):
            profiling = profile_dir is not None and index == repeats
            runs.append(
                one_audit(
                    f"{name}-{index}",
                    data_path=data_path,
                    expected=expected,
                    site=site,
                    profile_dir=profile_dir if profiling else None,
                )
            )
            status = "profiled " if profiling else ""
            total = runs[-1]["client"]["timings"]["total_s"]
            print(
                f"  {status}{name} run {index + 1}: client {total:.1f} s, verify "
                f"{runs[-1]['regulator']['wall_s']:.2f} s, count error "
                f"{runs[-1]['max_count_error']}",
                flush=True,
            )
    measured = [r for r in runs if not r.get("profiled")]
    return {
        "name": name,
        "rows": rows,
        "groups": len(expected),
        "repeats": len(measured),
        "daemon": "one per data set, fresh store, reused for every repeat",
        "evaluator_idle": idle.summary(),
        "summary": summarize(measured),
        "runs": runs,
    }


def one_audit(
    label: str,
    *,
    data_path: Path,
    expected: Counts,
    site: AuditSite,
    profile_dir: Path | None,
) -> JsonObject:
    """One client driver run (profiled with ``profile_dir``) and its verification; the record
    of the run with the counts' errors against numpy."""
    parties, daemon = site.parties, site.daemon
    bundle = site.directory / f"{label}.bundle"
    command: list[str | Path] = [
        sys.executable,
        BENCH_DIR / "fairness_client.py",
        "--data", data_path,
        "--evaluator", daemon.address,
        "--card", parties.card,
        "--identity", parties.client,
        "--out", bundle,
        "--threshold", str(THRESHOLD),
    ]  # fmt: skip
    spy = None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        spy = start_py_spy(daemon.pid, profile_dir / "evaluator.pyspy.txt")
        command = profiled_client_command(command, profile_dir)
    audit = run_and_verify(
        label, command, bundle=bundle, site=site, after_client=lambda: stop_py_spy(spy)
    )
    try:
        raw: dict[str, float | str] = dict(raw_error(bundle, parties.regulator, expected))
    except Exception as exc:  # optional measurement
        raw = {"error": f"{type(exc).__name__}: {exc}"}
    client, regulator = audit.client, audit.regulator
    record = {
        "label": label,
        "profiled": profile_dir is not None,
        "loadavg_1min_before": audit.loadavg_1min_before,
        "client": audit.client_record,
        "client_process": {
            "wall_s": client.wall_s,
            "wait4_maxrss_mb": client.maxrss_mb,
            "tree_memory": client.memory,
        },
        "evaluator_memory": audit.evaluator_memory,
        "evaluator_receipt_window_s": receipt_window(audit.evidence["evaluator"]),
        "regulator": {
            "wall_s": regulator.wall_s,
            "user_s": regulator.user_s,
            "system_s": regulator.system_s,
            "wait4_maxrss_mb": regulator.maxrss_mb,
            "tree_memory": regulator.memory,
        },
        **audit.receipt_checks(),
        "max_count_error": count_error(audit.verdict["result"], expected),
        "raw_error": raw,
        "bundle_bytes": bundle.stat().st_size,
    }
    if profile_dir is None:
        bundle.unlink()  # keep the disk footprint small
    return record


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> JsonObject:
    """Run every data set (or only re-summarize); write fairness.json and fairness.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 131,072 rows only")
    parser.add_argument("--repeats", type=int, default=None, help="override every repeat count")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed-library run")
    parser.add_argument("--seed-python", type=Path, default=DEFAULT_SEED_PYTHON)
    parser.add_argument("--profile", action="store_true", help="py-spy one extra largest run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--resummarize",
        action="store_true",
        help="only rebuild fairness.md and the profile summary from the saved results",
    )
    args = parser.parse_args(argv)
    if args.resummarize:
        return resummarize(args.results)

    from regaudit.shared.evidence.canonical import utc_now

    started = time.perf_counter()
    machine = machine_info()
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    largest = sizes[-1]
    datasets: list[JsonObject] = []
    seed_record: JsonObject | None = None
    seed_large: JsonObject | None = None
    profile: JsonObject | None = None
    with work_directory("regaudit-bench-", keep=args.keep) as workdir:
        print(f"work directory {workdir}; load: {machine['uptime_before']}", flush=True)
        parties = Parties.create(workdir / "parties")
        with MemorySampler() as sampler:
            for name, data, repeats in data_sets(sizes):
                count = args.repeats or repeats
                print(f"{name}: {count} runs", flush=True)
                profiling = args.profile and name == f"binary-{largest}"
                datasets.append(
                    run_dataset(
                        name,
                        data,
                        repeats=count,
                        parties=parties,
                        workdir=workdir,
                        sampler=sampler,
                        profile_dir=workdir / "profile" if profiling else None,
                    )
                )
        if args.profile:
            profile = profile_summary(workdir / "profile", rows=largest, results=args.results)
        if not args.no_seed:
            print(f"seed library at {SEED_ROWS:,} rows", flush=True)
            seed_record = run_seed(
                args.seed_python, make_data(SEED_ROWS, categorical=False), workdir
            )
            print(f"  seed: {seed_line(seed_record)}", flush=True)
            if largest > SEED_ROWS:
                print(f"seed library at {largest:,} rows", flush=True)
                seed_large = run_seed(
                    args.seed_python,
                    make_data(largest, categorical=False),
                    workdir,
                    name="seed-large",
                )
                print(f"  seed: {seed_line(seed_large)}", flush=True)

    document: JsonObject = {
        "benchmark": "fairness",
        "generated_at": utc_now().isoformat(),
        "quick": args.quick,
        "wall_s": time.perf_counter() - started,
        "machine": machine,
        "method": {
            "processes": "evaluator daemon, client driver (run_audit), regulator verify --json",
            "daemon": "one per data set with a fresh store, reused across that set's repeats",
            "identities": "created once per invocation, reused",
            "memory_sampling_interval_s": 0.05,
            "statistics": "median, min, max over repeats",
            "data_seed": DATA_SEED,
        },
        "datasets": datasets,
        "seed": seed_record,
        "seed_large": seed_large,
        "profile": profile,
    }
    ours = next((d for d in datasets if d["name"] == f"binary-{SEED_ROWS}"), None)
    if seed_record and seed_record.get("ok") and ours is not None:
        document["ratio_ours_over_seed"] = ratio_ours_over_seed(ours, seed_record, SEED_ROWS)
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "fairness.json", document)
    write_markdown(document, args.results / "fairness.md")
    print(f"wrote {args.results / 'fairness.json'} and fairness.md "
          f"({document['wall_s']:.0f} s)", flush=True)  # fmt: skip
    return document


def data_sets(sizes: tuple[int, ...]) -> list[tuple[str, FairnessColumns, int]]:
    """(name, data, repeats): the binary data set at every size, then the categorical one at
    the largest size."""
    plan: list[tuple[str, FairnessColumns, int]] = []
    for rows in sizes:
        repeats = REPEATS_LARGE if rows >= LARGE_ROWS else REPEATS_SMALL
        plan.append((f"binary-{rows}", make_data(rows, categorical=False), repeats))
    largest = sizes[-1]
    plan.append(
        (
            f"categorical{CATEGORICAL_GROUPS}-{largest}",
            make_data(largest, categorical=True),
            REPEATS_LARGE if largest >= LARGE_ROWS else REPEATS_SMALL,
        )
    )
    return plan


def profile_summary(directory: Path, *, rows: int, results: Path) -> JsonObject:
    """Summarize the profiled run's stacks and copy them to ``results/fairness-profile``."""
    profile: JsonObject = {
        "rows": rows,
        "client": summarize_profile(directory / "client.pyspy.txt"),
        "evaluator": summarize_profile(directory / "evaluator.pyspy.txt"),
        "client_cprofile_top": summarize_cprofile(directory / "client.cprofile"),
    }
    target = results / "fairness-profile"
    target.mkdir(parents=True, exist_ok=True)
    for file in directory.glob("*.pyspy.txt"):
        shutil.copy(file, target / file.name)
    return profile


def resummarize(results: Path) -> JsonObject:
    """Rebuild the profile summary and fairness.md from fairness.json and the saved stacks."""
    document: JsonObject = json.loads((results / "fairness.json").read_text())
    directory = results / "fairness-profile"
    if document.get("profile"):
        document["profile"]["client"] = summarize_profile(directory / "client.pyspy.txt")
        document["profile"]["evaluator"] = summarize_profile(directory / "evaluator.pyspy.txt")
    write_json(results / "fairness.json", document)
    write_markdown(document, results / "fairness.md")
    return document


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
