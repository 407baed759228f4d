"""What the client's output check costs: fairness audits end to end, check time vs. audit time.

Before it seals or signs, the client decrypts every output and compares it with the circuit run
on the plaintext backend over its own data (``regaudit.client.output_check``). This benchmark
runs real fairness audits (a ``regaudit-evaluator serve`` daemon in its own process, real gRPC
on loopback, ``run_audit`` in this process) and reads ``AuditOutcome.timings``:
``output_check_s`` (oracle + decryption + comparison) against ``total_s`` (the whole
``run_audit``). Goal: under 5 % of the audit's wall time at 1,000,000 rows.

    python benchmarks/bench_output_check.py [--rows 131072 1000000] [--repeats 3] [--quick]

Writes ``benchmarks/results/client-output-check.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
NAME = "client-output-check"


def cli(role: str, *args: str | Path) -> None:
    subprocess.run(
        [sys.executable, "-m", f"regaudit.{role}", *map(str, args)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def start_daemon(identity: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    """``regaudit-evaluator serve`` on a free loopback port; (process, address) once serving.
    Its output goes to ``<store>.log``, its ready file is ``<store>.ready``."""
    from regaudit.evaluator.server import wait_for_ready_file

    ready, log = store.with_name(f"{store.name}.ready"), store.with_name(f"{store.name}.log")
    ready.unlink(missing_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0"]
            + ["--identity", str(identity), "--store", str(store), "--ready-file", str(ready)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        return process, wait_for_ready_file(ready, process=process, timeout=60, output=log)
    except BaseException:
        if process.poll() is None:
            process.kill()
        raise


def data_set(rows: int) -> Any:
    from regaudit.shared.circuits.fairness import parse_fairness_input

    rng = np.random.default_rng(rows)
    group_a = rng.integers(0, 2, rows)
    return parse_fairness_input(
        {
            "y_true": rng.integers(0, 2, rows),
            "y_pred": rng.integers(0, 2, rows),
            "group_a": group_a,
            "group_b": 1 - group_a,
            "threshold": 0.1,
        }
    )


def run(rows_list: list[int], repeats: int) -> dict[str, Any]:
    from regaudit.client.audit import run_audit
    from regaudit.shared.evidence.identity import SigningIdentity

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="regaudit-bench-check-") as scratch:
        root = Path(scratch)
        cli("regulator", "init", root / "regulator")
        cli("evaluator", "init", root / "evaluator")
        cli("client", "init", root / "client")
        card = json.loads((root / "regulator" / "regulator-card.json").read_text())
        identity = SigningIdentity.load(root / "client", kind="client")
        daemon, address = start_daemon(root / "evaluator", root / "store")
        try:
            for rows in rows_list:
                data = data_set(rows)
                runs = []
                for repeat in range(repeats):
                    outcome = run_audit(
                        "fairness",
                        data,
                        evaluator=address,
                        regulator_card=card,
                        identity=identity,
                        out=root / f"audit-{rows}-{repeat}.bundle",
                        identity_dir=root / "client",
                    )
                    timings = outcome.timings
                    runs.append(
                        {
                            "total_s": timings["total_s"],
                            "output_check_s": timings["output_check_s"],
                            "receipt_check_s": timings["receipt_check_s"],
                            "share": timings["output_check_s"] / timings["total_s"],
                        }
                    )
                results[str(rows)] = {
                    "rows": rows,
                    "runs": runs,
                    "median_total_s": statistics.median(r["total_s"] for r in runs),
                    "median_output_check_s": statistics.median(r["output_check_s"] for r in runs),
                    "median_share": statistics.median(r["share"] for r in runs),
                }
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    return results


def write(results: dict[str, Any], repeats: int) -> None:
    load = os.getloadavg()
    machine = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
    machine += platform.python_version()
    document = {
        "benchmark": NAME,
        "generated": datetime.now(UTC).isoformat(),
        "machine": machine,
        "load_average_at_end": load,
        "repeats": repeats,
        "results": results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{NAME}.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# The client's output check: cost against the whole audit",
        "",
        f"Generated {document['generated']} by `python benchmarks/bench_output_check.py` on "
        f"{machine}; load average at the end {load[0]:.2f}. Real fairness audits: an "
        "evaluator daemon in its own process, gRPC on loopback, `run_audit` in the benchmark "
        f"process; medians of {repeats} runs (each run: fresh keys, full protocol).",
        "",
        "The check decrypts every output and the canary with the client's own key and compares "
        "them slot by slot with the fairness circuit run on the plaintext backend over the "
        "client's own data (the oracle). Goal: under 5 % of the audit's wall time at "
        "1,000,000 rows.",
        "",
        "| rows | run_audit total (s) | output check (s) | share of the audit |",
        "|---:|---:|---:|---:|",
    ]
    for item in results.values():
        lines.append(
            f"| {item['rows']:,} | {item['median_total_s']:.2f} | "
            f"{item['median_output_check_s']:.3f} | {100 * item['median_share']:.1f} % |"
        )
    lines.append("")
    (RESULTS_DIR / f"{NAME}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[131_072, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="131,072 rows, one run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats = [131_072], 1
    results = run(args.rows, args.repeats)
    write(results, args.repeats)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
