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
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RESULTS_DIR, EvaluatorDaemon, JsonObject, Parties, work_directory
from render import write_json

if TYPE_CHECKING:
    from regaudit.shared.primitives.fairness.inputs import FairnessData

__all__ = ["data_set", "main", "run", "write"]

NAME = "client-output-check"


def data_set(rows: int) -> FairnessData:
    """``rows`` rows of random labels, predictions and two complementary groups."""
    from regaudit.shared.primitives.fairness.inputs import parse

    rng = np.random.default_rng(rows)
    group_a = rng.integers(0, 2, rows)
    return parse(
        {
            "y_true": rng.integers(0, 2, rows),
            "y_pred": rng.integers(0, 2, rows),
            "group_a": group_a,
            "group_b": 1 - group_a,
            "threshold": 0.1,
        }
    )


def run(rows_list: list[int], repeats: int) -> JsonObject:
    """``repeats`` audits per size against one evaluator daemon; the timings by size."""
    from regaudit.client.audit import run_audit
    from regaudit.shared.evidence.identity import SigningIdentity

    results: JsonObject = {}
    with work_directory("regaudit-bench-check-") as root:
        parties = Parties.create(root)
        card = json.loads(parties.card.read_text())
        identity = SigningIdentity.load(parties.client, kind="client")
        with EvaluatorDaemon(parties.evaluator, root / "store", log=root / "store.log") as daemon:
            for rows in rows_list:
                data = data_set(rows)
                runs = []
                for repeat in range(repeats):
                    outcome = run_audit(
                        "fairness",
                        data,
                        evaluator=daemon.address,
                        regulator_card=card,
                        identity=identity,
                        out=root / f"audit-{rows}-{repeat}.bundle",
                        identity_dir=parties.client,
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
    return results


def write(results: JsonObject, repeats: int, directory: Path = RESULTS_DIR) -> None:
    """Write client-output-check.json and .md into ``directory``."""
    load = os.getloadavg()
    machine = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
    machine += platform.python_version()
    document: JsonObject = {
        "benchmark": NAME,
        "generated": datetime.now(UTC).isoformat(),
        "machine": machine,
        "load_average_at_end": load,
        "repeats": repeats,
        "results": results,
    }
    write_json(directory / f"{NAME}.json", document)
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
    (directory / f"{NAME}.md").write_text("\n".join(lines))


def main() -> None:
    """Run the sizes (one run of 131,072 rows with ``--quick``) and write the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
