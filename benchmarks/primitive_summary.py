"""Summaries of the primitive benchmark's runs: median (min–max) of every stage, byte count,
memory and CPU figure and error over the runs of one size, and the verdicts against the targets."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeAlias, TypedDict

from harness import JsonObject, Stat, stats
from render import median

__all__ = ["KEY_BYTES_TARGET", "Verdicts", "summarize", "verdicts"]

#: Key material on the wire per audit (issue 4), bytes.
KEY_BYTES_TARGET = 60 * 1000**2

#: Reads one figure of a run record (KeyError/TypeError: the run lacks it).
Getter: TypeAlias = Callable[[JsonObject], float | None]


def summarize(runs: list[JsonObject]) -> JsonObject:
    """Median/min/max over ``runs`` of stages, bytes, memory, CPU and errors."""

    def over(getter: Getter) -> Stat | None:
        values: list[float | None] = []
        for run in runs:
            try:
                values.append(getter(run))
            except (KeyError, TypeError):
                values.append(None)
        return stats(values)

    def timing(key: str) -> Getter:
        return lambda r: r["client"]["timings"].get(key)

    def client_bytes(key: str) -> Getter:
        return lambda r: r["client"]["bytes"].get(key)

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
    sizes = {key: over(client_bytes(key)) for key in byte_keys}
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


class Verdicts(TypedDict):
    """Target vs measured for one target size."""

    end_to_end_s: float
    time_met: bool
    key_bytes: float
    keys_met: bool
    accuracy_met: bool


def verdicts(record: JsonObject) -> Verdicts:
    """Target vs measured for one target-size record."""
    summary = record["summary"]
    e2e = median(summary["stages_s"]["end_to_end_s"]) or math.inf
    keys = median(summary["bytes"]["evaluation_keys_bytes"]) or 0.0
    time_met = record["refused"] is None and e2e <= (record["target_s"] or math.inf)
    return {
        "end_to_end_s": e2e,
        "time_met": time_met,
        "key_bytes": keys,
        "keys_met": keys <= KEY_BYTES_TARGET,
        "accuracy_met": summary["accuracy_met_every_run"],
    }
