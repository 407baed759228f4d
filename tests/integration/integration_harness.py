"""Three real processes over loopback gRPC for every primitive, plus the independent references
(numpy, scikit-survival, fairlearn) the results are compared with."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

# the process helpers are shared by every test directory (tests/ is on pytest's pythonpath)
from support.cli import ROOT as ROOT
from support.cli import cli as cli
from support.daemon import start_evaluator as start_evaluator
from support.daemon import stop_evaluator
from support.parties import Parties as BaseParties
from support.parties import pin_options

#: Where the round-trip timings of a test run are written (for the report).
TIMINGS_FILE = "integration-timings.json"


@dataclass
class Parties(BaseParties):
    """Identities, trust store and one running evaluator daemon, and the round trips' times."""

    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def round_trip(self, primitive: str, input_file: Path, *options: str | Path) -> dict[str, Any]:
        """Client CLI audit, then regulator CLI verify --json; returns the verify JSON and
        records the wall time of each step."""
        bundle = self.root / f"{primitive}-{input_file.stem}.bundle.json"
        started = time.monotonic()
        audited = cli(
            "client",
            "audit",
            primitive,
            "--input",
            input_file,
            "--evaluator",
            self.address,
            "--regulator-card",
            self.card,
            "--identity",
            self.client,
            "--out",
            bundle,
            "--quiet",
            *pin_options(self.evaluator, self.regulator),
            *options,
        )
        audit_s = time.monotonic() - started
        assert audited.returncode == 0, f"audit failed:\n{audited.stdout}\n{audited.stderr}"
        started = time.monotonic()
        verified = cli(
            "regulator",
            "verify",
            bundle,
            "--identity",
            self.regulator,
            "--trust",
            self.trust,
            "--json",
            "--report",
            self.root / f"{primitive}.html",
        )
        verify_s = time.monotonic() - started
        self.timings[primitive] = {
            "client_audit_s": round(audit_s, 2),
            "regulator_verify_s": round(verify_s, 2),
            "total_s": round(audit_s + verify_s, 2),
        }
        try:
            payload = json.loads(verified.stdout)
        except json.JSONDecodeError as error:
            raise AssertionError(
                f"verify did not print JSON (exit {verified.returncode}):\n{verified.stdout}\n"
                f"{verified.stderr}"
            ) from error
        assert verified.returncode == 0, payload
        assert isinstance(payload, dict)
        return payload


def make_parties(root: Path) -> Parties:
    return Parties.start(root)


#: Stop a daemon (SIGTERM, then kill after 30 s).
stop = stop_evaluator


# --- realistic small data sets ------------------------------------------------------------------


def survival_data(patients: int = 100) -> dict[str, np.ndarray]:
    """``patients`` rows of lifelines' Rossi recidivism data with a linear risk score."""
    from lifelines.datasets import load_rossi

    frame = load_rossi().sample(patients, random_state=7)
    noise = np.random.default_rng(7).normal(0.0, 0.3, patients)
    risk = -0.06 * frame["age"] + 0.09 * frame["prio"] - 0.4 * frame["fin"] + noise
    return {
        "risk": np.round(risk.to_numpy(dtype=float), 4),
        "time": frame["week"].to_numpy(dtype=float),
        "event": frame["arrest"].to_numpy(dtype=int),
    }


def drift_histograms(bins: int = 32) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(11)
    edges = (-4.0, 4.0)
    p = np.histogram(rng.normal(0.0, 1.0, 2000), bins=bins, range=edges)[0]
    q = np.histogram(rng.normal(0.4, 1.2, 2000), bins=bins, range=edges)[0]
    return p.astype(float), q.astype(float), (edges[1] - edges[0]) / bins


MODELS = [[0.0, 1.0], [0.05, 0.95, 0.02], [-0.02, 1.05, 0.0, -0.01]]


def disagreement_inputs(rows: int = 400) -> np.ndarray:
    return np.round(np.random.default_rng(5).normal(0.0, 1.0, rows), 6)


def calibration_batch(points: int = 60, classes: int = 4) -> tuple[np.ndarray, np.ndarray, float]:
    """Nonconformity scores mostly well away from the quantile (a calibrated classifier)."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, classes, points)
    scores = rng.uniform(0.6, 1.0, (points, classes))
    scores[np.arange(points), labels] = rng.uniform(0.0, 0.35, points)
    miss = rng.random(points) < 0.1
    scores[miss, labels[miss]] = rng.uniform(0.65, 0.95, int(miss.sum()))
    return np.round(scores, 4), labels, 0.5


def provenance_inputs(rows: int = 300) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(9)
    return np.round(rng.exponential(1.0, rows), 6), [f"patient-{i:05d}" for i in range(rows)]


# --- independent references ---------------------------------------------------------------------


def sksurv_c_index(data: dict[str, np.ndarray]) -> float:
    from sksurv.metrics import concordance_index_censored

    return float(
        concordance_index_censored(data["event"].astype(bool), data["time"], data["risk"])[0]
    )


def numpy_drift(p: np.ndarray, q: np.ndarray, bin_width: float) -> tuple[float, float]:
    gap = np.cumsum(p / p.sum()) - np.cumsum(q / q.sum())
    return float(np.sum(gap * gap)), float(np.sum(np.abs(gap)) * bin_width)


def numpy_disagreement(models: list[list[float]], x: np.ndarray) -> tuple[float, list[float]]:
    outputs = [sum(c * x**k for k, c in enumerate(model)) for model in models]
    pairs = list(combinations(range(len(outputs)), 2))
    mpsd = float(np.mean([np.mean((outputs[a] - outputs[b]) ** 2) for a, b in pairs]))
    return mpsd, [float(np.mean(o)) for o in outputs]


def numpy_calibration(
    scores: np.ndarray, labels: np.ndarray, quantile: float
) -> tuple[float, float]:
    member = scores <= quantile
    coverage = float(member[np.arange(len(labels)), labels].mean())
    return coverage, float(member.sum(axis=1).mean())


def numpy_buckets(attributions: np.ndarray, row_ids: list[str], n_buckets: int) -> np.ndarray:
    buckets = [
        int.from_bytes(hashlib.sha256(row.encode()).digest(), "big") % n_buckets for row in row_ids
    ]
    return np.bincount(buckets, weights=attributions, minlength=n_buckets)


def top_k(totals: np.ndarray, k: int) -> list[int]:
    return sorted(range(len(totals)), key=lambda b: (-totals[b], b))[:k]
