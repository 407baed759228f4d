"""Fairness audit benchmark: the real three-process flow at 131,072 and 1,000,000 rows.

    python benchmarks/bench_fairness.py [--quick] [--no-seed] [--profile]

Per data set: one evaluator daemon (``regaudit-evaluator serve``) with a fresh store, then
several audits, each = the client driver (``benchmarks/fairness_client.py``, its own process,
calling ``run_audit``) followed by ``regaudit-regulator verify --json`` (its own process).
Identities and the trust store are created once per benchmark invocation and reused.
Memory: every process tree is sampled from /proc every 50 ms; the client and the regulator
also report ``ru_maxrss`` (getrusage / wait4). Results: ``benchmarks/results/fairness.json``
and ``fairness.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH_DIR,
    RESULTS_DIR,
    EvaluatorDaemon,
    MemorySampler,
    Parties,
    fmt_stat,
    last_json_line,
    machine_info,
    role_cli,
    run_process,
    stats,
    write_json,
)

FULL_SIZES = (131_072, 1_000_000)
QUICK_SIZES = (10_000, 131_072)
#: Repeats at sizes >= LARGE_ROWS and below.
LARGE_ROWS = 1_000_000
REPEATS_LARGE = 3
REPEATS_SMALL = 5
CATEGORICAL_GROUPS = 5
DATA_SEED = 20_261_126
THRESHOLD = 0.1
SEED_ROWS = 131_072
DEFAULT_SEED_PYTHON = Path("/tmp/seedvenv/bin/python")
#: py-spy sampling rate for the profiled run (Hz).
PROFILE_RATE_HZ = 100


# --- data -------------------------------------------------------------------------------------


def make_data(rows: int, *, categorical: bool, seed: int = DATA_SEED) -> dict[str, np.ndarray]:
    """Synthetic 0/1 labels and predictions with a group-dependent base rate.

    Binary form: ``group_a`` (55 %), ``group_b`` (40 %), 5 % in neither group.
    Categorical form: ``group`` with CATEGORICAL_GROUPS integer labels (skewed sizes).
    """
    rng = np.random.default_rng(seed + rows + (1 if categorical else 0))
    if categorical:
        weights = np.array([0.35, 0.25, 0.2, 0.15, 0.05])[:CATEGORICAL_GROUPS]
        membership = rng.choice(CATEGORICAL_GROUPS, size=rows, p=weights / weights.sum())
        base = np.linspace(0.3, 0.55, CATEGORICAL_GROUPS)[membership]
    else:
        membership = rng.choice(3, size=rows, p=[0.55, 0.40, 0.05])
        base = np.where(membership == 0, 0.35, 0.5)
    y_true = rng.binomial(1, base).astype(np.int8)
    y_pred = rng.binomial(1, np.where(y_true == 1, 0.8, 0.15)).astype(np.int8)
    if categorical:
        return {"y_true": y_true, "y_pred": y_pred, "group": membership.astype(np.int64)}
    return {
        "y_true": y_true,
        "y_pred": y_pred,
        "group_a": (membership == 0).astype(np.int8),
        "group_b": (membership == 1).astype(np.int8),
    }


def true_counts(data: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Exact per-group counts with numpy (the regulator's numbers must equal these)."""
    if "group" in data:
        members = {str(k): data["group"] == k for k in np.unique(data["group"])}
    else:
        members = {"group_a": data["group_a"] == 1, "group_b": data["group_b"] == 1}
    y_true, y_pred = data["y_true"] == 1, data["y_pred"] == 1
    return {
        name: {
            "count": int(mask.sum()),
            "positives": int((mask & y_true).sum()),
            "predicted_positives": int((mask & y_pred).sum()),
            "true_positives": int((mask & y_true & y_pred).sum()),
        }
        for name, mask in members.items()
    }


def count_error(result: dict[str, Any], expected: dict[str, dict[str, int]]) -> int:
    """Largest |regulator count - numpy count| over every group and quantity."""
    worst = 0
    for name, quantities in expected.items():
        got = result["groups"][name]
        for quantity, value in quantities.items():
            worst = max(worst, abs(int(got[quantity]) - value))
    return worst


def raw_error(bundle_path: Path, regulator_dir: Path, expected: dict[str, dict[str, int]]) -> dict:
    """Pre-rounding CKKS error of the decrypted counts, using the regulator's own key and the
    same steps as ``regaudit.regulator.verify`` (unseal, decrypt at the plan's output level)."""
    from regaudit.secretkey.ckks import SecretKeyDecryptor
    from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
    from regaudit.shared.bundle import AuditBundle
    from regaudit.shared.circuits import fairness
    from regaudit.shared.circuits.registry import get_circuit
    from regaudit.shared.evidence.sealing import sealing_info
    from regaudit.shared.planning import make_plan
    from regaudit.shared.profiles import get_profile

    bundle = AuditBundle.read(bundle_path)
    keys = RegulatorKeys.load(regulator_dir)
    profile = get_profile(bundle.plan["profile"])
    circuit = get_circuit(bundle.plan["circuit_id"], bundle.plan["circuit_version"])
    public = circuit.validate_public(bundle.public_inputs)
    plan = make_plan(circuit, public, rows=bundle.plan["rows"], profile=profile)
    info = sealing_info(
        audit_id=bundle.audit_id,
        profile_hash=profile.profile_hash,
        regulator_key_id=keys.key_id,
    )
    decryptor = SecretKeyDecryptor.from_bytes(
        profile, unseal_secret_key(bundle.sealed_key, keys=keys, info=info)
    )
    vector = np.asarray(decryptor.decrypt(bundle.outputs[0], level=plan.output_level))
    groups = public["groups"]
    width = fairness.block_width(len(groups))
    blocks = vector.reshape(-1, width) / float(fairness.output_scale(plan.rows))
    truth = np.array(
        [expected[name][q] for name in groups for q in fairness.QUANTITIES], dtype=np.float64
    )
    used = 4 * len(groups)
    errors = np.abs(blocks[:, :used] - truth)
    zeros = np.abs(blocks[:, used:])
    return {
        "max_abs_count_error_pre_rounding": float(errors.max()),
        "max_abs_zero_slot": float(zeros.max()) if zeros.size else 0.0,
        "output_scale": fairness.output_scale(plan.rows),
        "rounding_tolerance": fairness.COUNT_TOLERANCE,
    }


# --- one data set -----------------------------------------------------------------------------


def run_dataset(
    name: str,
    data: dict[str, np.ndarray],
    *,
    repeats: int,
    parties: Parties,
    workdir: Path,
    sampler: MemorySampler,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """One evaluator daemon with a fresh store; ``repeats`` audits + verifications."""
    rows = int(data["y_true"].shape[0])
    directory = workdir / name
    directory.mkdir(parents=True)
    data_path = directory / "data.npz"
    np.savez(data_path, **data)
    expected = true_counts(data)
    runs: list[dict[str, Any]] = []
    daemon = EvaluatorDaemon(
        parties.evaluator, directory / "store", log=directory / "evaluator.log"
    )
    with daemon:
        time.sleep(1.0)  # let the worker pool settle before measuring the idle footprint
        idle = sampler.watch(daemon.pid, "evaluator-idle")
        time.sleep(0.3)
        sampler.unwatch(idle)
        for index in range(repeats + (1 if profile_dir is not None else 0)):
            profiling = profile_dir is not None and index == repeats
            runs.append(
                _one_audit(
                    f"{name}-{index}",
                    rows=rows,
                    data_path=data_path,
                    expected=expected,
                    parties=parties,
                    daemon=daemon,
                    directory=directory,
                    sampler=sampler,
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


def _one_audit(
    label: str,
    *,
    rows: int,
    data_path: Path,
    expected: dict[str, dict[str, int]],
    parties: Parties,
    daemon: EvaluatorDaemon,
    directory: Path,
    sampler: MemorySampler,
    profile_dir: Path | None,
) -> dict[str, Any]:
    bundle = directory / f"{label}.bundle"
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
    spy: subprocess.Popen[bytes] | None = None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        command += ["--cprofile", profile_dir / "client.cprofile"]
        spy = _start_py_spy(daemon.pid, profile_dir / "evaluator.pyspy.txt")
        spy_client = shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if spy_client:
            command = [
                spy_client, "record", "--subprocesses", "--format", "raw",
                "--rate", str(PROFILE_RATE_HZ), "-o", profile_dir / "client.pyspy.txt",
                "--", *command,
            ]  # fmt: skip
    load_before = os.getloadavg()[0]
    evaluator_tree = sampler.watch(daemon.pid, "evaluator")
    client = run_process(command, workdir=directory, name=f"{label}-client", sampler=sampler)
    sampler.unwatch(evaluator_tree)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
    if client.returncode != 0:
        raise RuntimeError(f"client failed ({client.returncode}):\n{client.stderr[-4000:]}")
    client_record = last_json_line(client.stdout)
    regulator = run_process(
        role_cli(
            "regulator", "verify", bundle, "--identity", parties.regulator,
            "--trust", parties.trust, "--json",
        ),
        workdir=directory,
        name=f"{label}-regulator",
        sampler=sampler,
    )  # fmt: skip
    verdict = last_json_line(regulator.stdout)
    if regulator.returncode != 0 or not verdict.get("verified"):
        raise RuntimeError(f"verification failed: {verdict}\n{regulator.stderr[-2000:]}")
    evidence = verdict["evidence"]
    try:
        raw = raw_error(bundle, parties.regulator, expected)
    except Exception as exc:  # optional measurement
        raw = {"error": f"{type(exc).__name__}: {exc}"}
    plan = json.loads(bundle.read_text())["plan"]
    record = {
        "label": label,
        "profiled": profile_dir is not None,
        "loadavg_1min_before": load_before,
        "client": client_record,
        "client_process": {
            "wall_s": client.wall_s,
            "wait4_maxrss_mb": client.maxrss_mb,
            "tree_memory": client.memory,
        },
        "evaluator_memory": evaluator_tree.summary(),
        "evaluator_receipt_window_s": _receipt_window(evidence["evaluator"]),
        "regulator": {
            "wall_s": regulator.wall_s,
            "user_s": regulator.user_s,
            "system_s": regulator.system_s,
            "wait4_maxrss_mb": regulator.maxrss_mb,
            "tree_memory": regulator.memory,
        },
        "depth": evidence["depth"],
        "operation_counts_observed": evidence["operation_counts"],
        "operation_counts_planned": plan["operation_counts"],
        "operation_counts_match": evidence["operation_counts"] == plan["operation_counts"],
        "profile": evidence["profile"]["name"],
        # the regulator releases the canary as passed/failed only (no raw decryption)
        "canary_passed": evidence["canary"]["passed"],
        "max_count_error": count_error(verdict["result"], expected),
        "raw_error": raw,
        "bundle_bytes": bundle.stat().st_size,
    }
    if profile_dir is None:
        bundle.unlink()  # keep the disk footprint small
    return record


def _receipt_window(evaluator: dict[str, Any]) -> float | None:
    from datetime import datetime

    try:
        start = datetime.fromisoformat(evaluator["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(evaluator["finished_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        return None
    process = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
         "--rate", str(PROFILE_RATE_HZ), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=(out.parent / "py-spy-evaluator.log").open("wb"),
    )  # fmt: skip
    time.sleep(1.0)
    return process


# --- summaries --------------------------------------------------------------------------------

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


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
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


# --- the seed library ---------------------------------------------------------------------------


def run_seed(
    seed_python: Path, data: dict[str, np.ndarray], workdir: Path, *, name: str = "seed"
) -> dict[str, Any]:
    """The seed's encrypted fairness path on the same data, in its own venv and process."""
    if not seed_python.exists():
        return {
            "ok": False,
            "error": f"{seed_python} does not exist; create it with: python3.11 -m venv "
            f"{seed_python.parent.parent} && {seed_python.parent}/pip install "
            "'regaudit-fhe[fhe]'",
        }
    directory = workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "data.npz"
    np.savez(path, **data)
    load_before = os.getloadavg()[0]
    run = run_process(
        [
            seed_python,
            BENCH_DIR / "seed_fairness.py",
            "--data",
            path,
            "--threshold",
            str(THRESHOLD),
        ],
        workdir=directory,
        name="seed",
        env={"PYTHONPATH": ""},
    )
    try:
        record = last_json_line(run.stdout)
    except ValueError:
        record = {"ok": False, "error": run.stderr[-2000:]}
    record["process_wall_s"] = run.wall_s
    record["wait4_maxrss_mb"] = run.maxrss_mb
    record["cpu_s"] = run.user_s + run.system_s
    record["loadavg_1min_before"] = load_before
    if record.get("ok"):
        exact = seed_reference(data)
        record["exact"] = exact
        record["abs_error"] = {
            key: abs(record["result"][key] - exact[key])
            for key in exact
            if isinstance(record["result"].get(key), float)
        }
    return record


def seed_reference(data: dict[str, np.ndarray]) -> dict[str, float]:
    """The seed's signed gaps (group_a minus group_b) computed exactly with numpy."""
    counts = true_counts(data)
    a, b = counts["group_a"], counts["group_b"]
    return {
        "demographic_parity_diff": a["predicted_positives"] / a["count"]
        - b["predicted_positives"] / b["count"],
        "equal_opportunity_diff": a["true_positives"] / a["positives"]
        - b["true_positives"] / b["positives"],
        "predictive_parity_diff": a["true_positives"] / a["predicted_positives"]
        - b["true_positives"] / b["predicted_positives"],
    }


# --- profile summary ----------------------------------------------------------------------------

#: Frame substrings mapped to a cost category (innermost matching frame wins).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("encrypt_with_secret_key", "client: CKKS encode + encrypt + serialize (workers)"),
    ("_encrypt_task", "client: CKKS encode + encrypt + serialize (workers)"),
    ("SimpleQueue.put", "workers sending results over a multiprocessing pipe"),
    ("Pool._handle_results", "client: pool result thread (receive/unpickle)"),
    ("Pool._handle_tasks", "client: pool task thread (pickle/send chunks)"),
    ("Pool._handle_workers", "client: pool maintenance thread"),
    ("ClientKeys.generate", "client: key generation"),
    ("commit_column", "client: commitments"),
    ("parse_fairness_input", "client: input validation"),
    ("load_data (", "client: input loading"),
    ("upload_evaluation_keys", "client: key upload"),
    ("consume_request_iterator", "client: gRPC request-stream thread"),
    ("submit_job", "client: ciphertext upload (gRPC)"),
    ("_watch", "client: waiting for the evaluator"),
    ("fetch_result", "client: result fetch"),
    ("verify_receipt", "client: receipt check"),
    ("seal_secret_key", "client: sealing"),
    ("evaluate_chunk", "evaluator: circuit arithmetic (per chunk)"),
    ("combine", "evaluator: combining batches"),
    ("_finalize_job", "evaluator: finalize / slot sums"),
    ("_evaluate_batch.<locals>.chunks", "evaluator: worker re-loads + validates ciphertexts"),
    ("CkksVector.to_bytes", "evaluator: output serialization"),
    ("write_file_atomic", "evaluator: store file writes"),
    ("record_ciphertext", "evaluator: store index (sqlite)"),
    ("load_evaluation_keys", "evaluator: evaluation-key load + validation"),
    ("load_ciphertext", "evaluator: validating received ciphertexts (main)"),
    ("sha256", "hashing"),
    ("_upload_keys", "evaluator: evaluation-key upload"),
    ("_receive", "evaluator: receiving ciphertexts (gRPC)"),
    ("importlib", "imports"),
)


_VALIDATE_MAIN = "evaluator: validating received ciphertexts (main)"
_RELOAD_WORKER = "evaluator: worker re-loads + validates ciphertexts"

#: Innermost-frame substrings mapped to the kind of work (first match wins).
LEAF_KINDS: tuple[tuple[str, str], ...] = (
    ("to_bytes", "SEAL serialization (save)"),
    ("from_bytes", "SEAL deserialization + validation (load)"),
    ("_build_context", "SEAL context creation"),
    ("encode", "CKKS encoding"),
    ("_encrypt", "CKKS encryption"),
    ("multiply", "HE arithmetic"),
    ("rescale", "HE arithmetic"),
    ("_rescaled", "HE arithmetic"),
    ("rotate", "HE arithmetic"),
    ("add (", "HE arithmetic"),
    ("sha256", "hashing"),
    ("Connection._send", "multiprocessing IPC (pickle/pipe)"),
    ("Connection._recv", "multiprocessing IPC (pickle/pipe)"),
    ("_recv_bytes", "multiprocessing IPC (pickle/pipe)"),
    ("grpc", "gRPC"),
    ("mkstemp", "temp files"),
    ("write", "file I/O"),
    ("read", "file I/O"),
    ("importlib", "imports"),
)


def _process_role(frames: list[str]) -> str:
    processes = [f for f in frames if f.startswith("process ")]
    if not processes:
        return "unknown"
    last = processes[-1]
    side = "evaluator" if "regaudit.evaluator" in processes[0] else "client"
    worker = "spawn_main" in last or "multiprocessing" in last
    return f"{side} {'worker' if worker else 'main'}"


def summarize_profile(path: Path, *, top: int = 15) -> dict[str, Any]:
    """Aggregate a py-spy ``--format raw`` (collapsed stacks) file: busy samples per process
    role, per stage category (outermost matching frame) and per kind of work (innermost
    frame), plus the hottest leaf functions. Idle waits are excluded."""
    if not path.exists():
        return {"error": f"{path} missing"}
    per_category: Counter[str] = Counter()
    per_role: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    idle = (
        "wait (threading",
        "_wait_for_tstate_lock",
        "select (",
        "poll (",
        "sleep",
        "get (",
        "Condition.wait",
        "_raise_or_start_receive_message",
        "_blocking (grpc/_channel",
    )
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1] if frames else ""
        if any(marker in leaf for marker in idle):
            continue
        total += count
        role = _process_role(frames)
        per_role[role] += count
        leaves[f"[{role}] {leaf[:120]}"] += count
        kind = next((k for key, k in LEAF_KINDS if key in leaf), "other Python")
        per_kind[f"{role}: {kind}"] += count
        category = "other"
        for frame in reversed(frames):
            match = next((c for key, c in CATEGORIES if key in frame), None)
            if match is not None:
                category = match
                break
        if category == _VALIDATE_MAIN and role.endswith("worker"):
            category = _RELOAD_WORKER
        per_category[category] += count
    return {
        "busy_samples": total,
        "rate_hz": PROFILE_RATE_HZ,
        "by_process_role": dict(per_role.most_common()),
        "by_kind": dict(per_kind.most_common()),
        "by_category": dict(per_category.most_common()),
        "top_leaves": dict(leaves.most_common(top)),
    }


def summarize_cprofile(path: Path, *, top: int = 20) -> list[dict[str, Any]]:
    """The hottest functions of the client's main process by cumulative time."""
    import pstats

    if not path.exists():
        return []
    table = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in table.items():
        rows.append(
            {
                "function": f"{function} ({Path(filename).name}:{line})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    rows.sort(key=lambda r: r["cumtime_s"], reverse=True)
    return rows[:top]


# --- report ---------------------------------------------------------------------------------


def write_markdown(document: dict[str, Any], path: Path) -> None:
    machine = document["machine"]
    lines = [
        "# Fairness audit benchmark",
        "",
        f"Generated {document['generated_at']} by `python benchmarks/bench_fairness.py"
        f"{' --quick' if document['quick'] else ''}` (total {document['wall_s']:.0f} s).",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total']} RAM, "
        f"Python {machine['versions']['python']}, TenSEAL {machine['versions']['tenseal']}, "
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


def _ops(counts: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v}" for k, v in counts.items() if k != "rotation_steps" and not isinstance(v, list)
    )


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    workdir = Path(tempfile.mkdtemp(prefix="regaudit-bench-"))
    print(f"work directory {workdir}; load: {machine['uptime_before']}", flush=True)
    datasets: list[dict[str, Any]] = []
    seed_record = None
    seed_large: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    try:
        parties = Parties.create(workdir / "parties")
        with MemorySampler() as sampler:
            plan: list[tuple[str, dict[str, np.ndarray], int]] = []
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
            for name, data, repeats in plan:
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
            directory = workdir / "profile"
            profile = {
                "rows": largest,
                "client": summarize_profile(directory / "client.pyspy.txt"),
                "evaluator": summarize_profile(directory / "evaluator.pyspy.txt"),
                "client_cprofile_top": summarize_cprofile(directory / "client.cprofile"),
            }
            target = args.results / "fairness-profile"
            target.mkdir(parents=True, exist_ok=True)
            for file in directory.glob("*.pyspy.txt"):
                shutil.copy(file, target / file.name)
        if not args.no_seed:
            print(f"seed library at {SEED_ROWS:,} rows", flush=True)
            seed_record = run_seed(
                args.seed_python, make_data(SEED_ROWS, categorical=False), workdir
            )
            print(f"  seed: {_seed_line(seed_record)}", flush=True)
            if largest > SEED_ROWS:
                print(f"seed library at {largest:,} rows", flush=True)
                seed_large = run_seed(
                    args.seed_python,
                    make_data(largest, categorical=False),
                    workdir,
                    name="seed-large",
                )
                print(f"  seed: {_seed_line(seed_large)}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    document: dict[str, Any] = {
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
        st, mem = ours["summary"]["stages_s"], ours["summary"]["memory_mb"]
        seed_time = seed_record["keygen_s"] + seed_record["fairness_encrypted_s"]
        ours_peak = max(
            mem["client_tree_sampled_sum_mb"]["median"],
            mem["evaluator_tree_sampled_sum_mb"]["median"],
            mem["regulator_mb"]["median"],
        )
        cpu = ours["summary"]["cpu_s"]
        ours_cpu = sum(
            cpu[key]["median"]
            for key in (
                "client_main_cpu_s",
                "client_workers_cpu_s",
                "evaluator_tree_cpu_s",
                "regulator_cpu_s",
            )
            if cpu.get(key)
        )
        document["ratio_ours_over_seed"] = {
            "rows": SEED_ROWS,
            "cpu": ours_cpu / seed_record["cpu_s"] if seed_record.get("cpu_s") else None,
            "ours_cpu_s": ours_cpu,
            "seed_cpu_s": seed_record.get("cpu_s"),
            "client_total": st["total_s"]["median"] / seed_time,
            "end_to_end": (st["total_s"]["median"] + st["regulator_verify_wall_s"]["median"])
            / seed_time,
            "peak_memory": ours_peak / seed_record["wait4_maxrss_mb"],
            "seed_seconds": seed_time,
        }
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "fairness.json", document)
    write_markdown(document, args.results / "fairness.md")
    print(f"wrote {args.results / 'fairness.json'} and fairness.md "
          f"({document['wall_s']:.0f} s)", flush=True)  # fmt: skip
    return document


def resummarize(results: Path) -> dict[str, Any]:
    """Rebuild the profile summary and fairness.md from fairness.json and the saved stacks."""
    document = json.loads((results / "fairness.json").read_text())
    directory = results / "fairness-profile"
    if document.get("profile"):
        document["profile"]["client"] = summarize_profile(directory / "client.pyspy.txt")
        document["profile"]["evaluator"] = summarize_profile(directory / "evaluator.pyspy.txt")
    write_json(results / "fairness.json", document)
    write_markdown(document, results / "fairness.md")
    return document


def _seed_line(record: dict[str, Any]) -> str:
    if record.get("ok"):
        return (
            f"keygen {record['keygen_s']:.1f} s + fairness {record['fairness_encrypted_s']:.1f} s,"
            f" peak {record['wait4_maxrss_mb']:.0f} MB"
        )
    return f"failed: {record.get('error')}"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
