"""Load scenarios of the reliability benchmark: N concurrent client audits against one daemon
(its memory sampled, every bundle verified) and a soak of sequential jobs under
``serve --retain 2s`` (daemon RSS and store bytes after each, slope after warm-up)."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from harness import JsonObject, Parties
from process_trees import MemorySampler
from reliability_crashes import fairness_input
from reliability_support import (
    ClientAudit,
    Daemon,
    ScenarioResult,
    dir_bytes,
    job_rows,
    run_client_audit,
    verify_bundle,
)

__all__ = [
    "CONCURRENT_ROWS",
    "RSS_FLAT_MB_PER_JOB",
    "STORE_FLAT_BYTES_PER_JOB",
    "concurrent_audits",
    "soak",
]

#: Rows of each concurrent client's audit.
CONCURRENT_ROWS = 2_000
#: Rows of each soak job.
SOAK_ROWS = 2_000
#: The soak's ``--retain``: ended jobs are collected every 0.2 s.
SOAK_RETAIN = "2s"
#: Fraction of the soak's jobs left out of the slope (warm-up: worker caches, allocator).
WARM_UP_FRACTION = 0.25
#: "Flat": the soak's fitted slopes stay below these (per job, after warm-up).
RSS_FLAT_MB_PER_JOB = 0.5
STORE_FLAT_BYTES_PER_JOB = 16_384
#: How long the soak waits for retention to collect the previous job before sampling (s).
COLLECT_WAIT_S = 2.5


def concurrent_audits(
    parties: Parties, root: Path, n: int, max_streams: int | None
) -> ScenarioResult:
    """``n`` ``regaudit-client audit`` processes at once against one daemon (default workers),
    whose process tree is sampled every 50 ms; then every bundle is verified."""
    began = time.monotonic()
    extra = ["--max-streams", str(max_streams)] if max_streams else []
    daemon = Daemon(parties, root / "concurrent-store", *extra).start()
    try:
        input_file = fairness_input(root / "concurrent.json", CONCURRENT_ROWS, seed=51)
        with MemorySampler() as sampler:
            tree = sampler.watch(daemon.pid, "daemon")
            with ThreadPoolExecutor(max_workers=n) as pool:
                audits: list[ClientAudit] = list(
                    pool.map(
                        lambda i: run_client_audit(
                            parties, daemon.address, input_file, root / f"concurrent-{i}"
                        ),
                        range(n),
                    )
                )
            memory = tree.summary()
        with ThreadPoolExecutor(max_workers=2) as pool:
            verdicts = list(
                pool.map(
                    lambda a: verify_bundle(parties, a.bundle)[0] if a.bundle else False, audits
                )
            )
        rows = job_rows(daemon.store)
        succeeded = [a for a in audits if a.returncode == 0]
        failed = [a for a in audits if a.returncode != 0]
        queued = sum(1 for a in audits if a.busy_refusals)
        jobs_succeeded = sum(1 for r in rows.values() if r["state"] == "SUCCEEDED")
        # (a retried audit may leave an earlier, refused job behind: more jobs than audits)
        lost = max(0, len(succeeded) - jobs_succeeded)
        walls = [a.wall_s for a in audits]
        green = not failed and lost == 0 and all(verdicts) and daemon.alive()
        numbers: JsonObject = {
            "n": n,
            "max_streams": max_streams or "default (32)",
            "succeeded": len(succeeded),
            "failed_for_good": len(failed),
            "queued_after_server_busy": queued,
            "busy_refusals": sum(a.busy_refusals for a in audits),
            "jobs_in_store": len(rows),
            "jobs_succeeded_in_store": jobs_succeeded,
            "bundles_verified": sum(verdicts),
            "client_wall_s": {
                "min": min(walls),
                "median": float(np.median(walls)),
                "max": max(walls),
            },
            "daemon_memory": memory,
            "failures": [a.output[-400:] for a in failed][:5],
        }
        return ScenarioResult(
            f"{n} concurrent client audits",
            f"{n} `regaudit-client audit fairness` processes ({CONCURRENT_ROWS} rows) at once "
            f"against one daemon (--max-streams {max_streams or 'default'}); server_busy "
            "refusals retried after the hinted delay; every bundle verified",
            "0 failed for good, 0 lost, all bundles verify",
            f"{len(succeeded)}/{n} succeeded ({queued} queued by server_busy, "
            f"{numbers['busy_refusals']} refusals), {len(failed)} failed, {lost} lost, "
            f"{sum(verdicts)}/{n} bundles verified; daemon tree peak RSS "
            f"{memory['peak_tree_sum_mb']:.0f} MB (daemon {memory['peak_root_mb']:.0f} MB, "
            f"largest worker {memory['peak_child_hwm_max_mb']:.0f} MB)",
            green,
            numbers,
            time.monotonic() - began,
        )
    finally:
        daemon.stop()


def _slope(values: list[float]) -> float:
    """Least-squares slope per job of ``values`` after the warm-up (0 if too few)."""
    start = int(len(values) * WARM_UP_FRACTION)
    tail = values[start:]
    if len(tail) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(tail)), np.asarray(tail), 1)[0])


def soak(parties: Parties, root: Path, jobs: int) -> ScenarioResult:
    """``jobs`` sequential jobs (keys upload, submit, watch, result fetch) against one daemon
    with ``--retain 2s``; after each (and retention's next pass), daemon tree RSS and store
    bytes."""
    from support.jobs import FairnessJob
    from support.signing import connect

    began = time.monotonic()
    store = root / "soak-store"
    daemon = Daemon(parties, store, "--workers", "1", "--retain", SOAK_RETAIN).start()
    try:
        job = FairnessJob(rows=SOAK_ROWS, seed=61)
        rss: list[float] = []
        store_bytes: list[float] = []
        wal_bytes: list[int] = []
        states: list[str] = []
        for _ in range(jobs):
            job_id, state, _reason = job.submit(
                daemon.address, idempotency_key=secrets.token_hex(16)
            )
            if state.name == "SUCCEEDED":
                with connect(daemon.address) as connection:
                    connection.fetch_result(job_id)
            states.append(state.name)
            time.sleep(COLLECT_WAIT_S)
            rss.append(daemon.tree_rss_mb())
            # the WAL grows and is checkpointed on SQLite's own schedule: recorded apart
            wal = sum(dir_bytes(p) if p.is_dir() else p.stat().st_size for p in store.glob("*-wal"))
            wal_bytes.append(wal)
            store_bytes.append(float(dir_bytes(store) - wal))
        rss_slope, store_slope = _slope(rss), _slope(store_bytes)
        ok = states.count("SUCCEEDED")
        flat = abs(rss_slope) < RSS_FLAT_MB_PER_JOB and abs(store_slope) < STORE_FLAT_BYTES_PER_JOB
        return ScenarioResult(
            f"soak: {jobs} sequential jobs",
            f"{jobs} jobs one after the other ({SOAK_ROWS} rows; keys, submit, watch, fetch) "
            f"against one daemon with --retain {SOAK_RETAIN}; daemon tree RSS and store bytes "
            f"{COLLECT_WAIT_S:g} s after each",
            f"all SUCCEEDED; flat after warm-up ({WARM_UP_FRACTION:.0%} left out): |RSS slope| < "
            f"{RSS_FLAT_MB_PER_JOB} MB/job, |store slope (WAL apart)| < "
            f"{STORE_FLAT_BYTES_PER_JOB} B/job",
            f"{ok}/{jobs} SUCCEEDED; RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB, slope "
            f"{rss_slope:+.3f} MB/job; store {store_bytes[0] / 1e3:.0f} -> "
            f"{store_bytes[-1] / 1e3:.0f} kB without the WAL, slope {store_slope:+.0f} B/job; "
            f"WAL peak {max(wal_bytes) / 1e3:.0f} kB",
            ok == jobs and flat,
            {
                "rss_mb": [round(v, 1) for v in rss],
                "store_bytes_without_wal": [int(v) for v in store_bytes],
                "wal_bytes": wal_bytes,
                "rss_slope_mb_per_job": round(rss_slope, 4),
                "store_slope_bytes_per_job": round(store_slope, 1),
                "jobs_left_in_store": len(job_rows(store)),
            },
            time.monotonic() - began,
        )
    finally:
        daemon.stop()
