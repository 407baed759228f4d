"""Rendering benchmark results: the JSON files and the markdown cells the reports share."""

from __future__ import annotations

import json
from pathlib import Path

from harness import JsonObject, MachineInfo, Stat

__all__ = [
    "cell",
    "escape",
    "fmt_stat",
    "heading",
    "machine_summary",
    "median",
    "megabytes",
    "sig",
    "whole",
    "write_json",
]


def write_json(path: Path, document: object) -> None:
    """``document`` as indented JSON (values JSON cannot hold are written as text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def heading(title: str, document: JsonObject, script: str) -> list[str]:
    """A report's first lines: ``# title`` and ``Generated <when> by `python
    benchmarks/<script>[ --quick]` (total <wall> s).``, each followed by a blank line."""
    quick = " --quick" if document["quick"] else ""
    return [
        f"# {title}",
        "",
        f"Generated {document['generated_at']} by `python benchmarks/{script}{quick}` "
        f"(total {document['wall_s']:.0f} s).",
        "",
    ]


def machine_summary(machine: MachineInfo) -> str:
    """``Machine: N CPUs (model), RAM, Python x, TenSEAL y`` (no closing punctuation)."""
    versions = machine["versions"]
    return (
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total']} RAM, "
        f"Python {versions['python']}, TenSEAL {versions['tenseal']}"
    )


def fmt_stat(entry: Stat | None, unit: str = "", digits: int = 2) -> str:
    """``median (min–max)`` for a markdown table."""
    if not entry:
        return "–"
    return (
        f"{entry['median']:.{digits}f}{unit} ({entry['min']:.{digits}f}–{entry['max']:.{digits}f})"
    )


def median(entry: Stat | None) -> float | None:
    """The median of ``entry`` (None without one)."""
    return None if not entry else entry["median"]


def cell(entry: Stat | None, digits: int = 1) -> str:
    """``median (min–max)``, or the median alone for a single run."""
    if not entry:
        return "–"
    if entry["n"] == 1:
        return f"{entry['median']:.{digits}f}"
    return f"{entry['median']:.{digits}f} ({entry['min']:.{digits}f}–{entry['max']:.{digits}f})"


def sig(entry: Stat | None) -> str:
    """Like :func:`cell` with three significant digits (for errors)."""
    if not entry:
        return "–"
    if entry["n"] == 1 or entry["min"] == entry["max"]:
        return f"{entry['median']:.3g}"
    return f"{entry['median']:.3g} ({entry['min']:.3g}–{entry['max']:.3g})"


def whole(value: float | None) -> str:
    """``value`` rounded to a whole number."""
    return "–" if value is None else f"{value:.0f}"


def megabytes(value: float | None) -> str:
    """A byte count in MB (10^6 bytes)."""
    return "–" if value is None else f"{value / 1e6:.1f} MB"


def escape(text: str) -> str:
    """``text`` safe inside a markdown table cell."""
    return text.replace("|", "\\|")
