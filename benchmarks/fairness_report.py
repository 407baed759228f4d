"""The fairness benchmark's summaries (median, min, max of every stage, memory, CPU and byte
figure over a data set's runs) and its markdown report (``fairness.md``)."""

from __future__ import annotations

from pathlib import Path

from fairness_profile import PROFILE_RATE_HZ
from harness import JsonObject, stats
from render import fmt_stat, heading, machine_summary

__all__ = ["CLIENT_STAGES", "summarize", "write_markdown"]

#: The client driver's stage timings, in the order run_audit runs them.
CLIENT_STAGES = (
    "keygen_s",
    "upload_keys_s",
    "encrypt_upload_s",
    "evaluate_wait_s",
    "result_fetch_s",
    "receipt_check_s",
    "commitments_s",
    "openings_write_s",
    "sealing_s",
    "signing_s",
    "bundle_write_s",
    "total_s",
)


def summarize(runs: list[JsonObject]) -> JsonObject:
    """Median/min/max of every stage, memory figure and byte count over ``runs``."""
    stage = {key: stats(r["client"]["timings"].get(key) for r in runs) for key in CLIENT_STAGES}
    stage["load_validate_s"] = stats(r["client"]["load_validate_s"] for r in runs)
    stage["client_process_wall_s"] = stats(r["client_process"]["wall_s"] for r in runs)
    stage["evaluator_receipt_window_s"] = stats(r["evaluator_receipt_window_s"] for r in runs)
    stage["regulator_verify_wall_s"] = stats(r["regulator"]["wall_s"] for r in runs)
    stage["encrypt_first_to_last_s"] = stats(
        r["client"]["events_s"]["encrypt_last"] - r["client"]["events_s"]["encrypt_first"]
        for r in runs
    )
    memory = {
        "client_self_mb": stats(r["client"]["peak_rss_mb"]["self"] for r in runs),
        "client_workers_max_mb": stats(r["client"]["peak_rss_mb"]["children_max"] for r in runs),
        "client_self_plus_children_mb": stats(
            r["client"]["peak_rss_mb"]["self_plus_children"] for r in runs
        ),
        "client_tree_sampled_sum_mb": stats(
            r["client_process"]["tree_memory"]["peak_tree_sum_mb"] for r in runs
        ),
        "evaluator_tree_sampled_sum_mb": stats(
            r["evaluator_memory"]["peak_tree_sum_mb"] for r in runs
        ),
        "evaluator_daemon_mb": stats(r["evaluator_memory"]["peak_root_mb"] for r in runs),
        "evaluator_worker_max_mb": stats(r["evaluator_memory"]["peak_child_max_mb"] for r in runs),
        "regulator_mb": stats(r["regulator"]["wait4_maxrss_mb"] for r in runs),
    }
    cpu = {
        "client_main_cpu_s": stats(
            r["client"]["cpu_s"]["self_user"] + r["client"]["cpu_s"]["self_system"] for r in runs
        ),
        "client_workers_cpu_s": stats(
            r["client"]["cpu_s"]["children_user"] + r["client"]["cpu_s"]["children_system"]
            for r in runs
        ),
        "evaluator_tree_cpu_s": stats(r["evaluator_memory"].get("cpu_s_sampled") for r in runs),
        "regulator_cpu_s": stats(
            r["regulator"].get("user_s", 0) + r["regulator"].get("system_s", 0) for r in runs
        ),
        "loadavg_1min_before_runs": stats(r["loadavg_1min_before"] for r in runs),
    }
    byte_keys = (
        "evaluation_keys_bytes",
        "relin_key_bytes",
        "galois_keys_bytes",
        "ciphertext_bytes",
        "result_output_bytes",
        "bundle_bytes",
    )
    sizes = {key: stats(r["client"]["bytes"].get(key) for r in runs) for key in byte_keys}
    first = runs[0]
    return {
        "stages_s": stage,
        "cpu_s": cpu,
        "memory_mb": memory,
        "bytes": sizes,
        "ciphertexts": first["client"]["ciphertexts"],
        "chunks": first["client"]["chunks"],
        "profile": first["profile"],
        "depth": first["depth"],
        "operation_counts_planned": first["operation_counts_planned"],
        "operation_counts_observed": first["operation_counts_observed"],
        "operation_counts_match_all_runs": all(r["operation_counts_match"] for r in runs),
        "max_count_error": max(r["max_count_error"] for r in runs),
        "max_raw_error_pre_rounding": max(
            (r["raw_error"].get("max_abs_count_error_pre_rounding", float("nan")) for r in runs),
        ),
        "canary_passed_every_run": all(r["canary_passed"] for r in runs),
    }


def write_markdown(document: JsonObject, path: Path) -> None:
    """Write ``fairness.md`` for the results ``document``."""
    machine = document["machine"]
    lines = [
        *heading("Fairness audit benchmark", document, "bench_fairness.py"),
        f"{machine_summary(machine)}, "
        f"SEAL {machine['versions']['seal (serialization header)']} (serialization header). "
        f"Load before start: `{machine['uptime_before']}` "
        f"(other load present: {machine['other_load_present']}).",
        "",
        "Three separate processes over loopback gRPC: one evaluator daemon per data set (fresh "
        "store, reused for every repeat), the client driver (`benchmarks/fairness_client.py`, "
        "calling `run_audit`), and `regaudit-regulator verify --json`. Identities are created "
        "once per invocation. Each cell: median (min–max) over the repeats.",
        "",
    ]
    for dataset in document["datasets"]:
        s = dataset["summary"]
        st, mem, by = s["stages_s"], s["memory_mb"], s["bytes"]
        lines += [
            f"## {dataset['name']}: {dataset['rows']:,} rows, {dataset['groups']} groups "
            f"({dataset['repeats']} runs)",
            "",
            f"Profile `{s['profile']}`, {s['chunks']} chunks, {s['ciphertexts']} input "
            f"ciphertexts. Depth planned {s['depth']['planned']}, observed "
            f"{s['depth']['observed']} (profile max {s['depth']['profile_max']}). Operation "
            f"counts observed == planned in every run: {s['operation_counts_match_all_runs']} "
            f"({_ops(s['operation_counts_observed'])}). Max count error vs numpy: "
            f"**{s['max_count_error']}**; largest pre-rounding error "
            f"{s['max_raw_error_pre_rounding']:.2e} (rounding tolerance 0.25); canary passed in "
            f"every run: {s['canary_passed_every_run']}.",
            "",
            "| stage (client process unless noted) | seconds |",
            "|---|---|",
        ]
        names = {
            "load_validate_s": "load + validate input (before run_audit)",
            "keygen_s": "key generation (CKKS keys + evaluation keys)",
            "upload_keys_s": "evaluation-key upload",
            "encrypt_upload_s": "encryption + upload (pipelined)",
            "encrypt_first_to_last_s": "  of which first→last ciphertext encrypted",
            "evaluate_wait_s": "evaluation wait (after upload)",
            "result_fetch_s": "result fetch",
            "receipt_check_s": "receipt check",
            "commitments_s": "input commitments",
            "sealing_s": "sealing the key",
            "signing_s": "signing the submission",
            "bundle_write_s": "bundle write",
            "total_s": "**run_audit total**",
            "client_process_wall_s": "client process wall (incl. imports, data load)",
            "evaluator_receipt_window_s": "evaluator: receipt started→finished",
            "regulator_verify_wall_s": "**regulator verify process wall**",
        }
        for key, label in names.items():
            lines.append(f"| {label} | {fmt_stat(st.get(key))} |")
        cpu = s["cpu_s"]
        parts = {
            "evaluator (daemon + workers)": cpu["evaluator_tree_cpu_s"],
            "client encryption workers": cpu["client_workers_cpu_s"],
            "client main process": cpu["client_main_cpu_s"],
            "regulator": cpu["regulator_cpu_s"],
        }
        total_cpu = sum(v["median"] for v in parts.values() if v)
        if total_cpu:
            lines += [
                "",
                f"Where the CPU goes (medians, {total_cpu:.1f} CPU-s in all, i.e. at least "
                f"{total_cpu / (machine['nproc'] or 1):.1f} s of wall time on "
                f"{machine['nproc']} cores): "
                + ", ".join(
                    f"{name} {100 * v['median'] / total_cpu:.0f} %"
                    for name, v in parts.items()
                    if v
                )
                + ".",
            ]
        lines += [
            "",
            "| CPU seconds (less sensitive to other load than wall time) | median (min–max) |",
            "|---|---|",
            f"| client main process | {fmt_stat(cpu['client_main_cpu_s'])} |",
            f"| client encryption workers (sum) | {fmt_stat(cpu['client_workers_cpu_s'])} |",
            f"| evaluator daemon + workers (sampled /proc) | "
            f"{fmt_stat(cpu['evaluator_tree_cpu_s'])} |",
            f"| regulator verify | {fmt_stat(cpu['regulator_cpu_s'])} |",
            f"| 1-min load average before each run | {fmt_stat(cpu['loadavg_1min_before_runs'])} |",
        ]
        lines += [
            "",
            "| peak memory (MB) | median (min–max) |",
            "|---|---|",
            f"| client main process (ru_maxrss) | {fmt_stat(mem['client_self_mb'], digits=0)} |",
            f"| client largest encryption worker (RUSAGE_CHILDREN) | "
            f"{fmt_stat(mem['client_workers_max_mb'], digits=0)} |",
            f"| client tree, sampled sum (main + workers) | "
            f"{fmt_stat(mem['client_tree_sampled_sum_mb'], digits=0)} |",
            f"| evaluator daemon process | {fmt_stat(mem['evaluator_daemon_mb'], digits=0)} |",
            f"| evaluator largest worker | {fmt_stat(mem['evaluator_worker_max_mb'], digits=0)} |",
            f"| evaluator tree, sampled sum | "
            f"{fmt_stat(mem['evaluator_tree_sampled_sum_mb'], digits=0)} |",
            f"| regulator verify (wait4 ru_maxrss) | {fmt_stat(mem['regulator_mb'], digits=0)} |",
            "",
            "| bytes | median |",
            "|---|---|",
        ]
        for key, entry in by.items():
            if entry:
                lines.append(f"| {key} | {entry['median'] / 1e6:.2f} MB |")
        lines.append("")
    seed = document.get("seed")
    if seed is not None:
        lines += ["## Seed library (regaudit-fhe from PyPI) on the same data", ""]
        if seed.get("ok"):
            lines += [
                f"regaudit-fhe {seed.get('version')}, {seed['rows']:,} rows, one process "
                f"(only `y_pred` encrypted; group sizes and label counts in plaintext): key "
                f"generation {seed['keygen_s']:.1f} s, encrypted fairness "
                f"{seed['fairness_encrypted_s']:.1f} s, process wall {seed['process_wall_s']:.1f}"
                f" s, peak RSS {seed['wait4_maxrss_mb']:.0f} MB. Its gaps vs the exact values: "
                + ", ".join(f"{k} off by {v:.1e}" for k, v in seed.get("abs_error", {}).items())
                + " (ours: exact integer counts, 0 error).",
                "",
            ]
            large = document.get("seed_large")
            if large is not None:
                if large.get("ok"):
                    lines += [
                        f"At {large['rows']:,} rows the seed ran: keygen {large['keygen_s']:.1f}"
                        f" s, fairness {large['fairness_encrypted_s']:.1f} s, peak RSS "
                        f"{large['wait4_maxrss_mb']:.0f} MB.",
                        "",
                    ]
                else:
                    lines += [
                        f"At {large.get('rows', 0):,} rows the seed fails after "
                        f"{large.get('total_s', 0):.0f} s (peak RSS "
                        f"{large.get('wait4_maxrss_mb', 0):.0f} MB): `{large.get('error')}` — "
                        "no ratio at that size.",
                        "",
                    ]
            ratio = document.get("ratio_ours_over_seed")
            if ratio:
                lines += [
                    f"Ratio ours/seed at {seed['rows']:,} rows (median): "
                    f"client run_audit total / seed keygen+fairness = "
                    f"**{ratio['client_total']:.2f}**; client + regulator verify (whole "
                    f"three-process flow) / seed = **{ratio['end_to_end']:.2f}**; peak memory, "
                    f"largest of our processes / seed = {ratio['peak_memory']:.2f}.",
                    "",
                ]
                if ratio.get("cpu"):
                    lines += [
                        f"CPU seconds (robust to other load): ours, all three processes "
                        f"{ratio['ours_cpu_s']:.1f} CPU-s vs seed {ratio['seed_cpu_s']:.1f} "
                        f"CPU-s: ratio **{ratio['cpu']:.2f}**. The 1-minute load average was "
                        f"{seed.get('loadavg_1min_before', float('nan')):.1f} before the seed "
                        "run: its wall time is inflated by other load as much as ours.",
                        "",
                    ]
        else:
            lines += [f"Could not run: `{seed.get('error')}`", ""]
    profile = document.get("profile")
    if profile:
        lines += ["## Profile of one extra run (py-spy, not part of the statistics)", ""]
        for side in ("client", "evaluator"):
            summary = profile.get(side) or {}
            categories = summary.get("by_category") or {}
            busy = summary.get("busy_samples") or 0
            if busy:
                lines.append(f"{side}: {busy} busy samples at {PROFILE_RATE_HZ} Hz, by stage:")
                lines.append("")
                for name, count in categories.items():
                    lines.append(f"- {name}: {100 * count / busy:.1f} %")
                lines += ["", f"{side}, by kind of work (innermost frame):", ""]
                for name, count in (summary.get("by_kind") or {}).items():
                    if count / busy >= 0.01:
                        lines.append(f"- {name}: {100 * count / busy:.1f} %")
                lines.append("")
    path.write_text("\n".join(lines) + "\n")


def _ops(counts: JsonObject) -> str:
    """Operation counts as ``name count, ...`` (lists such as rotation steps left out)."""
    return ", ".join(
        f"{k} {v}" for k, v in counts.items() if k != "rotation_steps" and not isinstance(v, list)
    )
