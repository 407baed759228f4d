"""Shared benchmark machinery: machine facts, the three real processes, stats.

Nothing here is imported by the project; benchmarks run the installed ``regaudit`` packages as
separate processes exactly like a deployment would (evaluator daemon, client, regulator CLI).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypedDict

from process_trees import MemorySampler, TreeSummary, read_or_empty

__all__ = [
    "BENCH_DIR",
    "DEFAULT_SEED_PYTHON",
    "RESULTS_DIR",
    "ROOT",
    "EvaluatorDaemon",
    "JsonObject",
    "MachineInfo",
    "Parties",
    "ProcessRun",
    "Stat",
    "last_json_line",
    "machine_info",
    "role_cli",
    "run_process",
    "seal_serialization_version",
    "stats",
    "uptime",
    "work_directory",
]

#: A JSON object as ``json.loads`` returns it: the benchmarks' records and results documents
#: (written to and re-read from JSON files, so their values are untyped).
JsonObject: TypeAlias = dict[str, Any]

#: Repository root (benchmarks/ lives directly below it).
ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
#: The interpreter of the virtualenv holding regaudit-fhe 0.1.0 (the seed library; README).
DEFAULT_SEED_PYTHON = Path("/tmp/seedvenv/bin/python")
#: How long the evaluator may take to become ready (write its ``--ready-file``; seconds).
START_TIMEOUT_S = 120.0
#: Grace period when stopping the evaluator daemon (seconds).
STOP_TIMEOUT_S = 30.0


# --- machine ----------------------------------------------------------------------------------


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


class MachineInfo(TypedDict):
    """What :func:`machine_info` records about the benchmark machine."""

    nproc: int | None
    nproc_available: int
    cpu_model: str
    mem_total: str | None
    mem_available_at_start: str | None
    kernel: str
    uptime_before: str
    loadavg_before: list[float]
    other_load_present: bool
    versions: dict[str, str | None]


def uptime() -> str:
    """The output of ``uptime`` (time, users, load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def machine_info() -> MachineInfo:
    """CPU, memory, load and software versions of the benchmark machine."""
    cpuinfo = read_or_empty("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = {
        line.split(":")[0]: line.split(":")[1].strip()
        for line in read_or_empty("/proc/meminfo").splitlines()
        if ":" in line
    }
    uptime_before = uptime()
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
        "uptime_before": uptime_before,
        "loadavg_before": [load1, load5, load15],
        "other_load_present": load1 > 0.5,
        "versions": versions,
    }


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
    memory: TreeSummary | None = None


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

    def __init__(
        self, identity: Path, store: Path, *, log: Path, workers: int | None = None
    ) -> None:
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
        """The daemon's process id (once started)."""
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


# --- statistics and files ---------------------------------------------------------------------


class Stat(TypedDict):
    """Median, min and max of a measured figure over the runs, and how many runs had it."""

    median: float
    min: float
    max: float
    n: int


def stats(values: Iterable[float | int | None]) -> Stat | None:
    """Median, min and max (None if there are no values)."""
    data = [float(v) for v in values if v is not None]
    if not data:
        return None
    return {"median": statistics.median(data), "min": min(data), "max": max(data), "n": len(data)}


def last_json_line(text: str) -> JsonObject:
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


@contextmanager
def work_directory(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A fresh temporary directory, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
