"""The soak scenario of the reliability benchmark: sequential jobs under ``serve --retain 2s``
(daemon RSS and store bytes after each, slope after warm-up). The concurrency scenario is in
``reliability_submissions``."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import numpy as np
from harness import Parties
from reliability_support import (
    Daemon,
    ScenarioResult,
    dir_bytes,
    job_rows,
)

__all__ = [
    "RSS_FLAT_MB_PER_JOB",
    "STORE_FLAT_BYTES_PER_JOB",
    "soak",
]

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
