"""Could the noise flip a decision? The resampling analysis of a DP release.

Around the released (noised) aggregates, fresh noise of the same distribution and scale is
drawn FLIP_DRAWS times (numpy, seeded by the request: analysis only, post-processing of the
release, no further privacy cost); each draw is post-processed and rebuilt like the release.
A decision (a boolean field ending ``_breached`` or ``_detected``, and the bias audit's
``four_fifths`` and ``adverse_impact_indicated``) whose value differs from the released one in
more than FLIP_FRACTION of the draws is released as ``"indeterminate"``. Headline metrics get
the central NOISE_INTERVAL_COVERAGE interval of their resampled values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from regaudit.regulator.privacy.mechanisms import CalibratedMechanism
from regaudit.regulator.privacy.primitives import PrimitiveRelease
from regaudit.regulator.result_policy import noise_bound
from regaudit.regulator.verified import VerifiedAudit

#: Noise redraws of the flip analysis.
FLIP_DRAWS = 200
#: A decision differing from the released one in more than this share of the redraws is
#: indeterminate.
FLIP_FRACTION = 0.05
#: Coverage of the reported noise interval of each headline metric.
NOISE_INTERVAL_COVERAGE = 0.95
#: Value a decision the noise could flip is released as.
INDETERMINATE = "indeterminate"
#: Keys that are decisions wherever they appear (besides ``*_breached`` and ``*_detected``).
DECISION_KEYS = ("four_fifths", "adverse_impact_indicated")

Path = tuple[str, ...]


def is_decision_key(key: str) -> bool:
    return key.endswith(("_breached", "_detected")) or key in DECISION_KEYS


def decision_paths(result: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """Every path to a boolean decision in ``result`` (undefined ones, None, are skipped); the
    records of a list (drift's ``features``) are entered with their index as the key."""
    for key, value in result.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            yield from decision_paths(value, path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from decision_paths(item, (*path, str(index)))
        elif is_decision_key(str(key)) and isinstance(value, bool):
            yield path


def metric_path(name: str) -> Path:
    """The path of a metric named ``a.b.c`` (``features.0.distance``: a list's index)."""
    return tuple(name.split("."))


def value_at(result: Mapping[str, Any], path: Path) -> Any:
    node: Any = result
    for key in path:
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            return None
    return node


def set_value_at(result: dict[str, Any], path: Path, value: object) -> None:
    """Set the value at ``path`` (which :func:`value_at` finds) to ``value``."""
    node: Any = result
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(path[-1])] = value
    else:
        node[path[-1]] = value


def analyse(
    release: PrimitiveRelease,
    verified: VerifiedAudit,
    *,
    released: Sequence[int],
    result: dict[str, Any],
    mechanism: CalibratedMechanism,
    seed: int | None,
    draws: int = FLIP_DRAWS,
) -> dict[str, Any]:
    """Mark the decisions the noise could flip in ``result`` (in place) and return the analysis.

    Steps: 1. the decisions of the released result; 2. ``draws`` redraws of the noise around the
    released aggregates, each rebuilt; 3. per decision the share of redraws that differ, and
    ``indeterminate`` above FLIP_FRACTION (then the result's field says so); 4. per headline
    metric the central interval of its redrawn values."""
    # 1.
    paths = list(decision_paths(result))
    released_values = {path: value_at(result, path) for path in paths}
    # 2.
    rng = np.random.default_rng(seed)
    samples = mechanism.resample(np.asarray(released, dtype=np.int64), rng, draws)
    flips = dict.fromkeys(paths, 0)
    metric_values: dict[str, list[float]] = {metric: [] for metric in release.metrics}
    top_k = result.get("top_k_ids")
    top_changed = 0
    for sample in samples:
        redrawn = release.rebuild([int(v) for v in sample], verified)
        if isinstance(top_k, list) and set(redrawn.get("top_k_ids") or ()) != set(top_k):
            top_changed += 1
        for path in paths:
            if value_at(redrawn, path) != released_values[path]:
                flips[path] += 1
        for metric in release.metrics:
            value = value_at(redrawn, metric_path(metric))
            if isinstance(value, int | float) and not isinstance(value, bool):
                metric_values[metric].append(float(value))
    # 3.
    decisions = []
    for path in paths:
        share = flips[path] / draws
        indeterminate = share > FLIP_FRACTION
        entry: dict[str, Any] = {
            "decision": ".".join(path),
            "noised_value": released_values[path],
            "flip_share": share,
            "indeterminate": indeterminate,
        }
        if indeterminate:
            entry["why"] = (
                f"redrawing the noise at the same scale changed it in {flips[path]} of {draws} "
                f"draws (more than {FLIP_FRACTION:.0%}): the noise could flip it"
            )
            set_value_at(result, path, INDETERMINATE)
        decisions.append(entry)
    # 3b. a released top-K set (provenance) the redraws change is not determined
    if isinstance(top_k, list):
        share = top_changed / draws
        top_entry: dict[str, Any] = {
            "decision": "top_k_ids",
            "noised_value": top_k,
            "flip_share": share,
            "indeterminate": share > FLIP_FRACTION,
        }
        if share > FLIP_FRACTION:
            top_entry["why"] = (
                f"redrawing the noise at the same scale changed the top-K set in {top_changed} "
                f"of {draws} draws (more than {FLIP_FRACTION:.0%}): the noise could reorder it"
            )
            result["top_k_determined"] = INDETERMINATE
        decisions.append(top_entry)
    # 4.
    tail = (1.0 - NOISE_INTERVAL_COVERAGE) / 2.0
    intervals = {
        metric: [float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))]
        for metric, values in metric_values.items()
        if values
    }
    return {
        "draws": draws,
        "flip_fraction": FLIP_FRACTION,
        "seed": seed,
        "decisions": decisions,
        "noise_intervals": intervals,
        "interval_coverage": NOISE_INTERVAL_COVERAGE,
    }


__all__ = [
    "DECISION_KEYS",
    "FLIP_DRAWS",
    "FLIP_FRACTION",
    "INDETERMINATE",
    "NOISE_INTERVAL_COVERAGE",
    "analyse",
    "decision_paths",
    "is_decision_key",
    "metric_path",
    "noise_bound",
    "set_value_at",
    "value_at",
]
