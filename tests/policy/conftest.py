"""Fixtures of the policy-gate tests: the regulator tests' real parties (regulator identity on
disk, trusted client and evaluator, trust store) and real fairness bundles built with them (see
tests/regulator/conftest.py: client and evaluator played in-process on the SEAL backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from regulator.conftest import Parties, build_bundle, fairness_payload, parties

from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input

__all__ = ["parties"]  # the session fixture, shared with tests/regulator

#: Rows of the small bundles (one chunk).
ROWS = 400


def balanced_payload(rows: int = ROWS, *, seed: int = 11) -> dict[str, Any]:
    """Two groups with the same selection rate (impact ratio near 1, gaps well under the audit
    threshold 0.6); group "b" has no actual positives, so its true positive rate (and the
    equal opportunity difference) is undefined."""
    rng = np.random.default_rng(seed)
    groups = np.array(["a", "b"] * (rows // 2))
    y_true = np.where(groups == "a", rng.binomial(1, 0.4, size=rows), 0)
    y_pred = rng.binomial(1, 0.4, size=rows)
    return {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "group": groups.tolist(),
        "threshold": 0.6,
    }


def _write(parties: Parties, payload: dict[str, Any], path: Path) -> Path:
    return build_bundle(parties, parse_fairness_input(payload)).write(path)


@pytest.fixture(scope="session")
def bundles(parties: Parties, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``breach``: three groups, one never selected (max gap over the audit's 0.1, impact
    ratio 0); ``pass``: :func:`balanced_payload`."""
    directory = tmp_path_factory.mktemp("policy-bundles")
    return {
        "breach": _write(parties, fairness_payload(ROWS, seed=5), directory / "breach.bundle"),
        "pass": _write(parties, balanced_payload(), directory / "pass.bundle"),
    }
