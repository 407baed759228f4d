"""Primitive benchmark (issue 4): the five non-fairness primitives through the three processes.

    python benchmarks/bench_primitives.py [--quick] [--only concordance,drift] [--repeats N]

For each primitive, at the issue's target size and at one smaller size: one evaluator daemon
(``regaudit-evaluator serve``) with a fresh store, then repeated audits, each = the client
driver (``benchmarks/primitive_client.py``, its own process, calling ``run_audit``) followed by
``regaudit-regulator verify --json`` (its own process). The decrypted, verified result is
compared with the primitive's exact plaintext oracle (the primitive's ``reference`` role
module). A size the primitive refuses (its own input limits) is recorded with the refusal
message and the largest accepted size runs instead. Results:
``benchmarks/results/primitives.json`` and ``primitives.md``.

Cases and payloads: ``cases.py``; errors: ``result_errors.py``; summaries:
``primitive_summary.py``; the markdown: ``primitive_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_processes import AuditSite, fresh_daemon, receipt_window, run_and_verify
from cases import DATA_SEED, Case, cases, make_payload, parse, reference
from harness import (
    BENCH_DIR,
    RESULTS_DIR,
    JsonObject,
    Parties,
    machine_info,
    uptime,
    work_directory,
)
from primitive_report import write_markdown
from primitive_summary import KEY_BYTES_TARGET, summarize
from process_trees import MemorySampler
from render import write_json
from result_errors import result_errors, within_reported_bound

__all__ = ["main", "one_audit", "render", "run_case", "source_state"]

#: Repeats per size (median reported); a size whose first run exceeds SINGLE_RUN_S runs once.
REPEATS = 3
SINGLE_RUN_S = 90.0


# --- one size -----------------------------------------------------------------------------------


def run_case(
    case: Case,
    *,
    repeats: int,
    parties: Parties,
    workdir: Path,
    sampler: MemorySampler,
) -> JsonObject:
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
    runs: list[JsonObject] = []
    with fresh_daemon(parties, directory) as daemon:
        time.sleep(1.0)
        site = AuditSite(parties, daemon, directory, sampler)
        for index in range(repeats):
            runs.append(one_audit(f"{name}-{index}", case.primitive, data_path, want, site))
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
    label: str, primitive: str, data_path: Path, want: JsonObject, site: AuditSite
) -> JsonObject:
    """One client driver run and its verification; the record of the run."""
    parties, daemon = site.parties, site.daemon
    bundle = site.directory / f"{label}.bundle"
    command: list[str | Path] = [
        sys.executable, BENCH_DIR / "primitive_client.py",
        "--primitive", primitive,
        "--data", data_path,
        "--evaluator", daemon.address,
        "--card", parties.card,
        "--identity", parties.client,
        "--out", bundle,
    ]  # fmt: skip
    uptime_before = uptime()
    audit = run_and_verify(label, command, bundle=bundle, site=site)
    bundle.unlink()
    client, regulator = audit.client, audit.regulator
    return {
        "label": label,
        "uptime_before": uptime_before,
        "loadavg_1min_before": audit.loadavg_1min_before,
        "end_to_end_s": client.wall_s + regulator.wall_s,
        "client": audit.client_record,
        "client_process": {
            "wall_s": client.wall_s,
            "wait4_maxrss_mb": client.maxrss_mb,
            "cpu_s": client.user_s + client.system_s,
            "tree_memory": client.memory,
        },
        "evaluator_memory": audit.evaluator_memory,
        "evaluator_receipt_window_s": receipt_window(audit.evidence["evaluator"]),
        "regulator": {
            "wall_s": regulator.wall_s,
            "cpu_s": regulator.user_s + regulator.system_s,
            "wait4_maxrss_mb": regulator.maxrss_mb,
            "tree_memory": regulator.memory,
        },
        **audit.receipt_checks(),
        "error": result_errors(primitive, audit.verdict["result"], want),
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> JsonObject:
    """Run the selected cases (or only re-render); write primitives.json and primitives.md."""
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
    path = args.results / "primitives.json"
    previous: JsonObject = (
        json.loads(path.read_text()) if args.merge and path.exists() else {"results": []}
    )
    results: list[JsonObject] = []
    args.results.mkdir(parents=True, exist_ok=True)

    def save() -> JsonObject:
        """Write the JSON and markdown so far (after every size: a crash loses one size)."""
        done = {(r["primitive"], r["case"]) for r in results}
        kept = [r for r in previous["results"] if (r["primitive"], r["case"]) not in done]
        order = {(c.primitive, c.label): i for i, c in enumerate(cases(False))}
        merged = sorted(kept + results, key=lambda r: order.get((r["primitive"], r["case"]), 99))
        document: JsonObject = {
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
    document: JsonObject = {}
    with work_directory("regaudit-bench-primitives-", keep=args.keep) as workdir:
        parties = Parties.create(workdir / "parties")
        with MemorySampler() as sampler:
            for case in selected:
                print(f"{case.primitive} {case.label}  [{uptime()}]", flush=True)
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
    print(f"wrote {path} and primitives.md ({document['wall_s']:.0f} s)", flush=True)
    return document


def source_state() -> JsonObject:
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


def render(results: Path, *, analysis: Path | None = None) -> JsonObject:
    """Recompute every summary from the stored runs and rewrite the JSON and markdown."""
    path = results / "primitives.json"
    document: JsonObject = json.loads(path.read_text())
    for record in document["results"]:
        for run in record.get("runs", []):
            error = run["error"]
            if error.get("within_reported_bound") is None:
                error["within_reported_bound"] = within_reported_bound(record["primitive"], error)
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
