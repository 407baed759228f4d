"""The markdown of the reliability benchmark (``results/reliability.md``)."""

from __future__ import annotations

import json

from harness import JsonObject
from render import escape, heading, machine_summary

__all__ = ["render"]

#: Keys of a scenario's numbers shown in the table (the JSON holds them all).
_SHOWN = 6


def _numbers(numbers: JsonObject) -> str:
    parts = []
    for key, value in list(numbers.items())[:_SHOWN]:
        if isinstance(value, float):
            value = round(value, 3)
        if isinstance(value, dict | list) and len(json.dumps(value)) > 120:
            continue
        parts.append(f"{key}={json.dumps(value, default=str)}")
    text: str = escape("; ".join(parts))
    return text


def render(document: JsonObject) -> str:
    """The report: heading, sizes and why, machine, the table, notes."""
    sizes = document["sizes"]
    machine = document["machine"]
    lines = heading("Reliability of the evaluator daemon", document, "bench_reliability.py")
    if document["quick"]:
        lines += [
            f"**These are the `--quick` sizes** ({sizes['concurrent_submissions']} concurrent "
            "submissions, "
            f"{sizes['soak_jobs']} soak jobs; full: 200 and 1000): the committed run had to "
            "finish in a few minutes on a 2-core machine shared with other work. In quick mode "
            f"the concurrency daemon admits {sizes['concurrent_max_streams']} long streams "
            "(`--max-streams`) so that the clients meet `server_busy` and its retry path.",
            "",
        ]
    lines += [
        f"{machine_summary(machine)}; {machine['kernel']}.",
        f"Load before: `{machine['uptime_before']}`; after: `{document['uptime_after']}`.",
        "",
        f"**{document['green']} green, {document['red']} red.** Every daemon is a real "
        "`regaudit-evaluator serve` process on 127.0.0.1, with a real SQLite store; "
        "`kill -9` is SIGKILL.",
        "",
        "| scenario | what was done | expected | observed | verdict | numbers | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in document["scenarios"]:
        verdict = "green" if s["green"] else "**red**"
        lines.append(
            f"| {escape(s['scenario'])} | {escape(s['done'])} | {escape(s['expected'])} | "
            f"{escape(s['observed'])} | {verdict} | {_numbers(s['numbers'])} | "
            f"{s['seconds']:.1f} |"
        )
    lines += [
        "",
        "Notes:",
        "",
        "- Receipts are counted twice: rows of the store's `jobs` table holding a receipt, per "
        "job id and per signed header (`max_per_job`, `max_per_header`), and `job_succeeded` "
        "events per job id over every daemon run's JSON log (one per signed receipt).",
        "- A red row is a finding, not a crash of the benchmark: the observed column says what "
        "happened instead.",
        "- Soak: the SQLite WAL grows and is checkpointed on SQLite's own schedule, so the "
        "store's slope is fitted without it and its peak is shown apart (`wal_bytes` in the "
        "JSON). The slopes are least-squares fits after the warm-up jobs.",
        "- Client killed and rerun: both runs pass the same `--idempotency-key`, so the client "
        "keeps a resume journal (keys sealed under its identity, a write-ahead log of what it "
        "sent). Killed after ciphertexts had arrived, the rerun resumes that very job "
        "(`upload_resumed` with the count the daemon held); killed before the first one "
        "arrived, there is nothing to resume and the same signed header starts the job again "
        "(it replaces the failed row). The old job's reason at the kill is `upload_incomplete` "
        "or, when the daemon saw a clean half-close, `protocol_error`.",
        "- Full numbers per scenario (memory summaries, per-job samples, job states) are in "
        "`reliability.json`.",
    ]
    if document["quick"]:
        lines.append(
            "- Soak at `--quick` size: a dozen jobs (a quarter of them warm-up) are too few to "
            "tell a warm-up that is still ending from a leak; only the full run (1000 jobs) "
            "decides."
        )
    for run in document.get("runs", []):
        lines.append(
            f"- Part of this report: the run of {run['generated_at']} ({float(run['wall_s']):.0f} "
            f"s; load after: `{run['uptime_after']}`): {'; '.join(run['scenarios'])}."
        )
    lines.append("")
    text: str = "\n".join(lines)
    return text
