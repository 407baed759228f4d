"""Sampling whole process trees from /proc: resident memory (current and peak) and CPU time
of a process and all its descendants, every SAMPLE_INTERVAL_S in a background thread."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

__all__ = [
    "SAMPLE_INTERVAL_S",
    "MemorySampler",
    "TreeMemory",
    "TreeSummary",
    "cpu_seconds",
    "hwm_kb",
    "process_tree",
    "read_or_empty",
    "rss_kb",
]

#: How often the memory sampler reads /proc (seconds).
SAMPLE_INTERVAL_S = 0.05
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_TICKS = os.sysconf("SC_CLK_TCK")


def read_or_empty(path: str) -> str:
    """The text of ``path`` ("" if it cannot be read: a process that has gone)."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = read_or_empty(f"{task}/children")
        found.extend(int(x) for x in text.split())
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    result: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        result.append(current)
        stack.extend(_children(current))
    return result


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` (KiB), 0 if it is gone."""
    fields = read_or_empty(f"/proc/{pid}/statm").split()
    return int(fields[1]) * _PAGE_KB if len(fields) > 1 else 0


def hwm_kb(pid: int) -> int:
    """Peak resident set size (VmHWM) of ``pid`` (KiB), 0 if unknown."""
    for line in read_or_empty(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (seconds), None if it is gone."""
    text = read_or_empty(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cmdline(pid: int) -> str:
    return read_or_empty(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


class TreeSummary(TypedDict):
    """Peak memory and sampled CPU time of one process tree (:meth:`TreeMemory.summary`)."""

    label: str
    peak_tree_sum_mb: float
    peak_root_mb: float
    peak_child_max_mb: float
    peak_child_hwm_max_mb: float
    children_seen: int
    cpu_s_sampled: float
    samples: int


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
        """Read the RSS, peak RSS and CPU time of every live process of the tree once."""
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

    def summary(self) -> TreeSummary:
        """The peaks (MB) and CPU seconds seen so far."""
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
        """Start sampling the tree of ``pid``."""
        tree = TreeMemory(pid, label)
        with self._lock:
            self._trees.append(tree)
        return tree

    def unwatch(self, tree: TreeMemory) -> None:
        """Stop sampling ``tree`` (its figures stay readable)."""
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
