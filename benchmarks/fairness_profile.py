"""Profiling one extra fairness audit: py-spy on the evaluator daemon and around the client
driver (plus cProfile inside it), and the summaries of the collected stacks by process role,
stage and kind of work."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TypedDict

from harness import JsonObject

__all__ = [
    "CATEGORIES",
    "LEAF_KINDS",
    "PROFILE_RATE_HZ",
    "CprofileRow",
    "profiled_client_command",
    "start_py_spy",
    "stop_py_spy",
    "summarize_cprofile",
    "summarize_profile",
]

#: py-spy sampling rate for the profiled run (Hz).
PROFILE_RATE_HZ = 100


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` attached to ``pid`` and its subprocesses (None without py-spy)."""
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


def stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    """Stop a recording started by :func:`start_py_spy` (it writes its file on SIGINT)."""
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()


def profiled_client_command(command: list[str | Path], profile_dir: Path) -> list[str | Path]:
    """``command`` (the client driver) with cProfile output in ``profile_dir``, wrapped in
    ``py-spy record --subprocesses`` when the venv has py-spy."""
    command = [*command, "--cprofile", profile_dir / "client.cprofile"]
    spy_client = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy_client:
        command = [
            spy_client, "record", "--subprocesses", "--format", "raw",
            "--rate", str(PROFILE_RATE_HZ), "-o", profile_dir / "client.pyspy.txt",
            "--", *command,
        ]  # fmt: skip
    return command


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
    ("primitives/fairness/inputs.py", "client: input validation"),
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
    """``client``/``evaluator`` ``main``/``worker`` from the ``process`` frames of a stack."""
    processes = [f for f in frames if f.startswith("process ")]
    if not processes:
        return "unknown"
    last = processes[-1]
    side = "evaluator" if "regaudit.evaluator" in processes[0] else "client"
    worker = "spawn_main" in last or "multiprocessing" in last
    return f"{side} {'worker' if worker else 'main'}"


def summarize_profile(path: Path, *, top: int = 15) -> JsonObject:
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


class CprofileRow(TypedDict):
    """One function of the cProfile table."""

    function: str
    calls: int
    tottime_s: float
    cumtime_s: float


def summarize_cprofile(path: Path, *, top: int = 20) -> list[CprofileRow]:
    """The hottest functions of the client's main process by cumulative time."""
    import pstats

    if not path.exists():
        return []
    table = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows: list[CprofileRow] = []
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
