"""PNG plots of the committed benchmark results (needs matplotlib; not a project dependency).

python benchmarks/plot.py            # reads benchmarks/results/*.json, writes *.png beside them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RESULTS_DIR, JsonObject

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["STAGES", "main", "plot_fairness", "plot_primitives"]

#: client-side stages in the order they happen, with the labels shown in the plots
STAGES: tuple[tuple[str, str], ...] = (
    ("keygen_s", "key generation"),
    ("upload_keys_s", "key upload"),
    ("encrypt_upload_s", "encrypt + upload"),
    ("evaluate_wait_s", "evaluation wait"),
    ("client_evidence_s", "receipt check, sealing, bundle"),
)


def _median(summary: JsonObject, key: str) -> float:
    entry = summary.get("stages_s", {}).get(key)
    return float(entry["median"]) if entry else 0.0


def _stacked(ax: Axes, labels: list[str], summaries: list[JsonObject], verify: list[float]) -> None:
    """One horizontal bar per label: the client stages stacked, then regulator verify."""
    left = [0.0] * len(labels)
    for key, name in STAGES:
        widths = [_median(s, key) for s in summaries]
        ax.barh(labels, widths, left=left, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.barh(labels, verify, left=left, label="regulator verify")
    ax.set_xlabel("seconds (median)")
    ax.legend(loc="lower right", fontsize=7)


def plot_fairness(name: str) -> Path | None:
    """``results/<name>.png`` from ``results/<name>.json`` (None if there is no JSON)."""
    from matplotlib import pyplot

    source = RESULTS_DIR / f"{name}.json"
    if not source.exists():
        return None
    document = json.loads(source.read_text())
    datasets = document["datasets"]
    labels = [f"{d['rows']:,} rows, {d['groups']} groups" for d in datasets]
    summaries = [d["summary"] for d in datasets]
    for summary in summaries:  # the fairness driver names the evidence stages one by one
        stages = summary.get("stages_s", {})
        evidence = sum(
            float(stages[k]["median"])
            for k in (
                "result_fetch_s",
                "receipt_check_s",
                "commitments_s",
                "openings_write_s",
                "sealing_s",
                "signing_s",
                "bundle_write_s",
            )
            if k in stages
        )
        stages.setdefault("client_evidence_s", {"median": evidence})
    verify = [
        float(d["summary"].get("regulator_verify_wall_s", {}).get("median", 0.0))
        if isinstance(d["summary"].get("regulator_verify_wall_s"), dict)
        else float(d["summary"]["stages_s"].get("regulator_verify_wall_s", {}).get("median", 0.0))
        for d in datasets
    ]
    figure, ax = pyplot.subplots(figsize=(8, 3))
    _stacked(ax, labels, summaries, verify)
    ax.set_title(f"fairness audit, three processes ({name})")
    figure.tight_layout()
    target: Path = RESULTS_DIR / f"{name}.png"
    figure.savefig(target, dpi=120)
    pyplot.close(figure)
    return target


def plot_primitives() -> Path | None:
    """``results/primitives.png`` from ``results/primitives.json`` (None without it)."""
    from matplotlib import pyplot

    source = RESULTS_DIR / "primitives.json"
    if not source.exists():
        return None
    results = json.loads(source.read_text())["results"]
    results = [r for r in results if r.get("summary")]
    labels = [
        f"{r['primitive']} {r['case']}"
        + (
            " (refused; ran " + ", ".join(f"{v} {k}" for k, v in r["size"].items()) + ")"
            if r.get("refused")
            else ""
        )
        for r in results
    ]
    summaries = [r["summary"] for r in results]
    verify = [_median(s, "regulator_verify_wall_s") for s in summaries]
    figure, ax = pyplot.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
    _stacked(ax, labels, summaries, verify)
    for index, result in enumerate(results):
        if result.get("target_s") and result.get("requested_size") == result.get("size"):
            ax.plot([result["target_s"]] * 2, [index - 0.4, index + 0.4], color="black", lw=1)
    ax.set_title("every primitive end to end (black tick: issue 4 target)")
    figure.tight_layout()
    target: Path = RESULTS_DIR / "primitives.png"
    figure.savefig(target, dpi=120)
    pyplot.close(figure)
    return target


def main() -> int:
    """Write every plot whose results exist (a message and no plot without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: F401  (fails here, not mid-way, if it cannot load)
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return 0
    for written in (
        plot_fairness("fairness"),
        plot_fairness("fairness-idle"),
        plot_primitives(),
    ):
        if written is not None:
            print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
