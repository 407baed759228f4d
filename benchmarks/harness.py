"""Shared benchmark machinery: machine facts, the three real processes, memory sampling, stats.

Nothing here is imported by the project; benchmarks run the installed ``regaudit`` packages as
separate processes exactly like a deployment would (evaluator daemon, client, regulator CLI).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Repository root (benchmarks/ lives directly below it).
ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
#: How often the memory sampler reads /proc (seconds).
SAMPLE_INTERVAL_S = 0.05
#: How long the evaluator may take to become ready (write its ``--ready-file``; seconds).
START_TIMEOUT_S = 120.0
#: Grace period when stopping the evaluator daemon (seconds).
STOP_TIMEOUT_S = 30.0
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- machine ----------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def seal_serialization_version() -> str | None:
    """SEAL's version as written in the header of a serialized object (major.minor)."""
    try:
        import tenseal.sealapi as seal

        parms = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
        parms.set_poly_modulus_degree(4096)
        parms.set_coeff_modulus(seal.CoeffModulus.Create(4096, [40, 20, 40]))
        import tempfile

        with tempfile.NamedTemporaryFile() as handle:
            parms.save(handle.name)
            header = Path(handle.name).read_bytes()[:8]
        if header[:2] != b"\x5e\xa1":
            return None
        return f"{header[3]}.{header[4]}"
    except Exception:  # informational only
        return None


def machine_info() -> dict[str, Any]:
    """CPU, memory, load and software versions of the benchmark machine."""
    cpuinfo = _read("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = {
        line.split(":")[0]: line.split(":")[1].strip()
        for line in _read("/proc/meminfo").splitlines()
        if ":" in line
    }
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load1, load5, load15 = os.getloadavg()
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("tenseal", "numpy", "grpcio", "cryptography", "regaudit-client"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    versions["seal (serialization header)"] = seal_serialization_version()
    return {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total": meminfo.get("MemTotal"),
        "mem_available_at_start": meminfo.get("MemAvailable"),
        "kernel": platform.release(),
        "uptime_before": uptime,
        "loadavg_before": [load1, load5, load15],
        "other_load_present": load1 > 0.5,
        "versions": versions,
    }


# --- /proc memory sampling -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = _read(f"{task}/children")
        found.extend(int(x) for x in text.split())
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    result, stack = [], [pid]
    while stack:
        current = stack.pop()
        result.append(current)
        stack.extend(_children(current))
    return result


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` (KiB), 0 if it is gone."""
    fields = _read(f"/proc/{pid}/statm").split()
    return int(fields[1]) * _PAGE_KB if len(fields) > 1 else 0


def hwm_kb(pid: int) -> int:
    """Peak resident set size (VmHWM) of ``pid`` (KiB), 0 if unknown."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (seconds), None if it is gone."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


@dataclass
class TreeMemory:
    """Peak memory of one process tree, sampled from /proc."""

    root_pid: int
    label: str
    peak_sum_kb: int = 0
    per_process_peak_kb: dict[int, int] = field(default_factory=dict)
    per_process_hwm_kb: dict[int, int] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)
    cpu_first: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> None:
        pids = process_tree(self.root_pid)
        total = 0
        for pid in pids:
            value = rss_kb(pid)
            if value == 0:
                continue
            total += value
            if value > self.per_process_peak_kb.get(pid, 0):
                self.per_process_peak_kb[pid] = value
            hwm = hwm_kb(pid)
            if hwm > self.per_process_hwm_kb.get(pid, 0):
                self.per_process_hwm_kb[pid] = hwm
            if pid not in self.commands:
                self.commands[pid] = _cmdline(pid)[:160]
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.cpu_first.setdefault(pid, cpu)
                self.cpu_last[pid] = cpu
        self.peak_sum_kb = max(self.peak_sum_kb, total)
        self.samples += 1

    def summary(self) -> dict[str, Any]:
        per = self.per_process_peak_kb
        root = per.get(self.root_pid, 0)
        others = [v for pid, v in per.items() if pid != self.root_pid]
        return {
            "label": self.label,
            "peak_tree_sum_mb": round(self.peak_sum_kb / 1024, 1),
            "peak_root_mb": round(
                max(root, self.per_process_hwm_kb.get(self.root_pid, 0)) / 1024, 1
            ),
            "peak_child_max_mb": round(max(others) / 1024, 1) if others else 0.0,
            "peak_child_hwm_max_mb": round(
                max(
                    (v for pid, v in self.per_process_hwm_kb.items() if pid != self.root_pid),
                    default=0,
                )
                / 1024,
                1,
            ),
            "children_seen": len(others),
            "cpu_s_sampled": round(
                sum(self.cpu_last[pid] - self.cpu_first[pid] for pid in self.cpu_last), 2
            ),
            "samples": self.samples,
        }


class MemorySampler:
    """Samples several process trees every SAMPLE_INTERVAL_S in a background thread."""

    def __init__(self) -> None:
        self._trees: list[TreeMemory] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def watch(self, pid: int, label: str) -> TreeMemory:
        tree = TreeMemory(pid, label)
        with self._lock:
            self._trees.append(tree)
        return tree

    def unwatch(self, tree: TreeMemory) -> None:
        with self._lock:
            if tree in self._trees:
                self._trees.remove(tree)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                trees = list(self._trees)
            for tree in trees:
                tree.sample()
            self._stop.wait(SAMPLE_INTERVAL_S)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- processes --------------------------------------------------------------------------------


@dataclass
class ProcessRun:
    """A finished subprocess: exit code, wall time, peak RSS from wait4, output files."""

    returncode: int
    wall_s: float
    maxrss_mb: float
    user_s: float
    system_s: float
    stdout: str
    stderr: str
    memory: dict[str, Any] | None = None


def run_process(
    command: Sequence[str | Path],
    *,
    workdir: Path,
    name: str,
    sampler: MemorySampler | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
) -> ProcessRun:
    """Run ``command``, timing it and collecting its rusage with ``os.wait4``.

    ``ru_maxrss`` of wait4 covers the process and its reaped descendants (the larger of the
    two). With ``sampler`` the whole process tree is also sampled from /proc.
    """
    out_path, err_path = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        tree = sampler.watch(process.pid, name) if sampler is not None else None
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == process.pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if tree is not None and sampler is not None:
        sampler.unwatch(tree)
    return ProcessRun(
        returncode=process.returncode,
        wall_s=wall,
        maxrss_mb=usage.ru_maxrss / 1024,
        user_s=usage.ru_utime,
        system_s=usage.ru_stime,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        memory=tree.summary() if tree is not None else None,
    )


def role_cli(role: str, *args: str | Path) -> list[str]:
    """The command line of ``regaudit-<role>`` run with this interpreter."""
    return [sys.executable, "-m", f"regaudit.{role}", *map(str, args)]


@dataclass
class Parties:
    """Fresh identities and a trust store for one benchmark run."""

    root: Path
    regulator: Path
    evaluator: Path
    client: Path
    trust: Path

    @property
    def card(self) -> Path:
        return self.regulator / "regulator-card.json"

    @classmethod
    def create(cls, root: Path) -> Parties:
        root.mkdir(parents=True, exist_ok=True)
        parties = cls(
            root, root / "regulator", root / "evaluator", root / "client", root / "trust.json"
        )
        for role, directory in (
            ("regulator", parties.regulator),
            ("evaluator", parties.evaluator),
            ("client", parties.client),
        ):
            subprocess.run(role_cli(role, "init", directory), check=True, capture_output=True)
        for public in (
            parties.evaluator / "evaluator.pub.json",
            parties.client / "client.pub.json",
        ):
            subprocess.run(
                role_cli("regulator", "trust", "add", public, "--trust", parties.trust),
                check=True,
                capture_output=True,
            )
        return parties


class EvaluatorDaemon:
    """``regaudit-evaluator serve`` on a free loopback port, stopped with SIGTERM on exit.

    Its output goes to ``log``; its ``--ready-file`` (``log`` with suffix ``.ready``) says when
    it serves and where."""

    def __init__(self, identity: Path, store: Path, *, log: Path, workers: int | None = None):
        self.identity, self.store, self.log, self.workers = identity, store, log, workers
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def __enter__(self) -> EvaluatorDaemon:
        from regaudit.evaluator.server import wait_for_ready_file

        ready = self.log.with_suffix(".ready")
        ready.unlink(missing_ok=True)
        command = role_cli(
            "evaluator",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--identity",
            self.identity,
            "--store",
            self.store,
            "--ready-file",
            ready,
        )
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            self.address = wait_for_ready_file(
                ready, process=self.process, timeout=START_TIMEOUT_S, output=self.log
            )
        except BaseException:
            if self.process.poll() is None:
                self.process.kill()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- statistics and output -------------------------------------------------------------------


def stats(values: Iterable[float | int | None]) -> dict[str, float] | None:
    """Median, min and max (None if there are no values)."""
    data = [float(v) for v in values if v is not None]
    if not data:
        return None
    return {"median": statistics.median(data), "min": min(data), "max": max(data), "n": len(data)}


def fmt_stat(entry: Mapping[str, float] | None, unit: str = "", digits: int = 2) -> str:
    """``median (min–max)`` for a markdown table."""
    if not entry:
        return "–"
    return (
        f"{entry['median']:.{digits}f}{unit} ({entry['min']:.{digits}f}–{entry['max']:.{digits}f})"
    )


def write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError(f"no JSON object in output:\n{text[-2000:]}")
