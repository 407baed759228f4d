"""Benchmark inputs: the primitive benchmark's cases and their synthetic payloads, and what the
seed comparison shares with them (data seed, disagreement models, the gbsg2 sample)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt
from harness import JsonObject

if TYPE_CHECKING:
    from regaudit.shared.primitives import AuditData

__all__ = [
    "DATA_SEED",
    "MODELS",
    "Case",
    "Payload",
    "SurvivalSample",
    "calibration_payload",
    "cases",
    "concordance_payload",
    "disagreement_payload",
    "drift_payload",
    "gbsg2_sample",
    "make_payload",
    "parse",
    "provenance_payload",
    "reference",
]

#: Seed of every synthetic data set (offset by the size, so each size has its own data).
DATA_SEED = 20_261_126
#: Public disagreement models (ascending coefficients): M = 5, degrees 1..3.
MODELS: list[list[float]] = [
    [0.0, 1.0],
    [0.05, 0.95, 0.02],
    [-0.02, 1.05, 0.0, -0.01],
    [0.01, 1.0, 0.01],
    [0.0, 0.9, 0.0, 0.02],
]

#: A payload: one primitive's input object in the seed's JSON shape (numpy arrays allowed).
Payload: TypeAlias = JsonObject


@dataclass(frozen=True)
class Case:
    """One primitive at one size."""

    primitive: str
    label: str
    size: dict[str, int]
    #: the issue's target at this size (None for the smaller comparison size)
    target_s: float | None
    target_text: str
    accuracy_target: str = ""
    #: if the primitive refuses ``size``: the size to run instead
    fallback: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)


def cases(quick: bool) -> list[Case]:
    """Target size and one smaller size per primitive (``quick``: the smaller sizes only)."""
    full = [
        Case("concordance", "N=1000", {"patients": 1000}, 30.0,
             "N = 1,000 patients <= 30 s", "|ΔC| <= 0.002"),
        Case("concordance", "N=256", {"patients": 256}, None, "smaller size"),
        Case("provenance", "1M rows, 64 buckets", {"rows": 1_000_000, "buckets": 64}, 30.0,
             "1,000,000 rows into 64 buckets <= 30 s", "rel. error <= 1e-6"),
        Case("provenance", "100k rows, 64 buckets", {"rows": 100_000, "buckets": 64}, None,
             "smaller size"),
        Case("calibration", "10k points x 100 classes", {"points": 10_000, "classes": 100},
             30.0, "10,000 test points x 100 classes <= 30 s", "coverage error <= 1e-3"),
        Case("calibration", "1k points x 100 classes", {"points": 1_000, "classes": 100}, None,
             "smaller size"),
        Case("drift", "100 features x 128 bins", {"features": 100, "bins": 128}, 10.0,
             "100 features x 128 bins in one audit <= 10 s", "distance 1e-6, W1 1 %",
             fallback={"features": 32, "bins": 128}),
        Case("drift", "8 features x 128 bins", {"features": 8, "bins": 128}, None,
             "smaller size"),
        Case("disagreement", "M=5, 100k inputs", {"models": 5, "rows": 100_000}, 10.0,
             "M = 5 models on 100,000 inputs <= 10 s", "rel. error <= 1e-6"),
        Case("disagreement", "M=5, 10k inputs", {"models": 5, "rows": 10_000}, None,
             "smaller size"),
    ]  # fmt: skip
    if quick:
        return [c for c in full if c.target_s is None]
    return full


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurvivalSample:
    """Risk scores, times and event flags of sampled patients."""

    risk: npt.NDArray[np.float64]
    time: npt.NDArray[np.float64]
    event: npt.NDArray[np.int64]


def gbsg2_sample(patients: int, rng: np.random.Generator) -> SurvivalSample:
    """A bootstrap sample of lifelines' gbsg2 (breast cancer) with a linear risk score, rounded
    to 4 decimals."""
    from lifelines.datasets import load_gbsg2

    frame = load_gbsg2()
    sample = frame.iloc[rng.integers(0, len(frame), patients)]
    risk = (
        0.02 * sample["tsize"].to_numpy(float)
        + 0.06 * sample["pnodes"].to_numpy(float)
        - 0.002 * sample["progrec"].to_numpy(float)
        + rng.normal(0.0, 0.3, patients)
    )
    return SurvivalSample(
        risk=np.round(risk, 4),
        time=sample["time"].to_numpy(float),
        event=sample["cens"].to_numpy(int),
    )


def concordance_payload(patients: int, rng: np.random.Generator) -> Payload:
    """A bootstrap sample of lifelines' gbsg2 (breast cancer) with a linear risk score."""
    sample = gbsg2_sample(patients, rng)
    return {"risk": sample.risk, "time": sample.time, "event": sample.event}


def provenance_payload(rows: int, buckets: int, rng: np.random.Generator) -> Payload:
    """Exponential attributions of ``rows`` named rows into ``buckets`` buckets, top 5."""
    return {
        "attributions": np.round(rng.exponential(1.0, rows), 6),
        "row_ids": [f"patient-{i:07d}" for i in range(rows)],
        "n_buckets": buckets,
        "k": 5,
    }


def calibration_payload(points: int, classes: int, rng: np.random.Generator) -> Payload:
    """Nonconformity scores of a calibrated classifier: the true class is usually well below
    the quantile, 10 % of points miss it."""
    labels = rng.integers(0, classes, points)
    scores = rng.uniform(0.55, 1.0, (points, classes))
    scores[np.arange(points), labels] = rng.uniform(0.0, 0.45, points)
    miss = rng.random(points) < 0.1
    scores[miss, labels[miss]] = rng.uniform(0.55, 0.95, int(miss.sum()))
    low = rng.random((points, classes)) < 0.02  # a few wrong classes inside the set
    scores[low] = rng.uniform(0.0, 0.45, int(low.sum()))
    return {"scores": np.round(scores, 4), "labels": labels.tolist(), "quantiles": 0.5}


def drift_payload(features: int, bins: int, rng: np.random.Generator) -> Payload:
    """Per feature, histograms of a normal sample and of a shifted, wider one over [-4, 4]."""
    edges = (-4.0, 4.0)
    p = np.empty((features, bins))
    q = np.empty((features, bins))
    for f in range(features):
        shift, spread = rng.uniform(0.0, 0.5), rng.uniform(0.9, 1.3)
        p[f] = np.histogram(rng.normal(0.0, 1.0, 5000), bins=bins, range=edges)[0]
        q[f] = np.histogram(rng.normal(shift, spread, 5000), bins=bins, range=edges)[0]
    return {
        "p": p.tolist(),
        "q": q.tolist(),
        "bin_width": (edges[1] - edges[0]) / bins,
        "drift_threshold": 0.05,
    }


def disagreement_payload(models: int, rows: int, rng: np.random.Generator) -> Payload:
    """The first ``models`` of :data:`MODELS` on ``rows`` standard normal inputs."""
    return {
        "test_input": np.round(rng.normal(0.0, 1.0, rows), 6),
        "model_polynomials": MODELS[:models],
        "threshold": 0.05,
    }


def make_payload(primitive: str, size: dict[str, int]) -> Payload:
    """The payload of ``primitive`` at ``size`` (its values in the order the maker takes)."""
    rng = np.random.default_rng(DATA_SEED + sum(size.values()))
    makers: dict[str, Callable[..., Payload]] = {
        "concordance": concordance_payload,
        "provenance": provenance_payload,
        "calibration": calibration_payload,
        "drift": drift_payload,
        "disagreement": disagreement_payload,
    }
    return makers[primitive](*size.values(), rng)


def parse(primitive: str, payload: Payload) -> AuditData:
    """``payload`` validated by the primitive's own input role (as the client does)."""
    from regaudit.shared.primitives import get_primitive

    return get_primitive(primitive).inputs().parse(payload)


def reference(primitive: str, data: AuditData) -> JsonObject:
    """The primitive's exact plaintext answer for the validated input ``data``."""
    from regaudit.shared.primitives import get_primitive

    return get_primitive(primitive).reference().reference(data)
