"""Reliability of the evaluator daemon, against real daemons over loopback.

    python benchmarks/bench_reliability.py [--quick] [--only crashes,client,worker,...]

Scenarios (each one row of the report: what was done, expected, observed, green/red, numbers):

- SIGKILL of the daemon during an upload, during an evaluation and after a job finished, each
  followed by a restart on the same store: jobs lost, receipts per job (the store's SQLite and
  the ``job_succeeded`` events of every daemon run), ``PRAGMA integrity_check``, final states;
- SIGKILL of a ``regaudit-client audit`` mid-upload (at admission, and after 40 ciphertexts),
  then a rerun (fresh keys: a new job);
- SIGKILL of one daemon worker during an evaluation (failed cleanly or retried), then a job;
- N concurrent submissions (``--quick``: 24, full: 200; client processes and protocol clients,
  ``reliability_submissions``) with the daemon's tree sampled; refusals with a retry hint are
  retried after the hinted delay and count as queued;
- hostile wire input (``reliability_hostile.CASES``), each followed by a normal job;
- quotas: one hostile client identity floods a default-quota daemon (``reliability_quota``)
  while a second identity's audit runs and is verified;
- a soak of sequential jobs (``--quick``: 12, full: 1000) under ``serve --retain 2s``.

Writes ``benchmarks/results/reliability.json`` and ``reliability.md``. Not a test: it records.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RESULTS_DIR, JsonObject, Parties, machine_info, uptime, work_directory
from reliability_crashes import client_kill, daemon_kills, worker_kill
from reliability_hostile import hostile_input
from reliability_load import soak
from reliability_quota import hostile_client_quotas
from reliability_report import render
from reliability_submissions import concurrent_submissions
from reliability_support import ScenarioResult
from render import write_json

__all__ = ["SIZES", "main"]

NAME = "reliability"
#: (concurrent submissions, of which client processes, soak jobs, --max-streams of the
#: concurrency daemon) per mode. In quick mode the daemon admits only 4 long streams at once, so
#: that the submitters meet server_busy.
SIZES: dict[bool, tuple[int, int, int, int | None]] = {
    True: (24, 8, 12, 4),
    False: (200, 20, 1000, None),
}
#: Ciphertexts the client has uploaded when it is killed (0: as soon as its job is admitted).
CLIENT_KILL_POINTS = (0, 40)
SCENARIOS = ("crashes", "client", "worker", "hostile", "quota", "concurrent", "soak")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="24 concurrent submissions, 12 soak jobs"
    )
    parser.add_argument("--only", default=None, help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="directory of reliability.{json,md}"
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite reliability.md from reliability.json"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=None,
        help="combine the scenarios of several reliability.json runs (same mode) into --out",
    )
    args = parser.parse_args()
    if args.merge:
        merged = merge_runs([json.loads(path.read_text()) for path in args.merge])
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / f"{NAME}.json", merged)
        (args.out / f"{NAME}.md").write_text(render(merged))
        return 0
    if args.render:
        saved: JsonObject = json.loads((args.out / f"{NAME}.json").read_text())
        (args.out / f"{NAME}.md").write_text(render(saved))
        return 0
    wanted = set(args.only.split(",")) if args.only else set(SCENARIOS)
    concurrent_n, concurrent_cli, soak_jobs, max_streams = SIZES[args.quick]
    machine = machine_info()
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    with work_directory("regaudit-bench-reliability-", keep=args.keep) as root:
        parties = Parties.create(root / "parties")
        steps: list[tuple[str, Callable[[], list[ScenarioResult]]]] = [
            ("crashes", lambda: daemon_kills(parties, root)),
            ("client", lambda: [client_kill(parties, root, n) for n in CLIENT_KILL_POINTS]),
            ("worker", lambda: [worker_kill(parties, root)]),
            ("hostile", lambda: hostile_input(parties, root)),
            ("quota", lambda: [hostile_client_quotas(parties, root, quick=args.quick)]),
            (
                "concurrent",
                lambda: [
                    concurrent_submissions(parties, root, concurrent_n, concurrent_cli, max_streams)
                ],
            ),
            ("soak", lambda: [soak(parties, root, soak_jobs)]),
        ]
        for name, step in steps:
            if name not in wanted:
                continue
            print(f"[reliability] {name} ({uptime()})", flush=True)
            for result in step():
                mark = "green" if result.green else "RED"
                print(f"  {mark}: {result.scenario}: {result.observed}", flush=True)
                results.append(result)
    document: JsonObject = {
        "benchmark": NAME,
        "quick": args.quick,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - started,
        "sizes": {
            "concurrent_submissions": concurrent_n,
            "concurrent_client_processes": concurrent_cli,
            "soak_jobs": soak_jobs,
            "concurrent_max_streams": max_streams,
        },
        "machine": machine,
        "uptime_after": uptime(),
        "green": sum(r.green for r in results),
        "red": sum(not r.green for r in results),
        "scenarios": [vars(r) for r in results],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{NAME}.json", document)
    (args.out / f"{NAME}.md").write_text(render(document))
    print(f"wrote {args.out / NAME}.json and .md: {document['green']} green, {document['red']} red")
    return 0


def merge_runs(runs: list[JsonObject]) -> JsonObject:
    """One document from runs of disjoint scenarios (e.g. the soak run apart): the scenarios in
    :data:`SCENARIOS` order, wall time summed, each run's start and machine load kept."""
    if len({bool(run["quick"]) for run in runs}) != 1:
        raise SystemExit("cannot merge --quick and full runs")
    order = {name: index for index, name in enumerate(SCENARIOS)}

    def rank(scenario: JsonObject) -> int:
        title = str(scenario["scenario"])
        for name, words in (
            ("crashes", "daemon SIGKILL"),
            ("client", "client SIGKILL"),
            ("worker", "worker SIGKILL"),
            ("quota", "quotas"),
            ("concurrent", "concurrent"),
            ("soak", "soak"),
        ):
            if title.startswith(words) or words in title:
                return order.get(name, len(order))
        return order["hostile"]

    scenarios = sorted((s for run in runs for s in run["scenarios"]), key=rank)
    base = dict(runs[0])
    sizes: JsonObject = {}
    for run in runs:
        sizes.update(run["sizes"])
    base.update(
        sizes=sizes,
        scenarios=scenarios,
        wall_s=sum(float(run["wall_s"]) for run in runs),
        green=sum(bool(s["green"]) for s in scenarios),
        red=sum(not s["green"] for s in scenarios),
        runs=[
            {
                "generated_at": run["generated_at"],
                "wall_s": run["wall_s"],
                "uptime_after": run["uptime_after"],
                "scenarios": [s["scenario"] for s in run["scenarios"]],
            }
            for run in runs
        ],
    )
    return base


if __name__ == "__main__":
    raise SystemExit(main())
