"""Fixtures of the differential-privacy tests: real fairness bundles built by the regulator
tests' parties (tests/regulator/conftest.py: client and evaluator played in-process on SEAL),
verified with :func:`regaudit.regulator.verify.verify_bundle`, and a fresh regulator identity
directory (the ledger's home) per test."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from regulator.conftest import Parties, build_bundle, fairness_payload, parties

from regaudit.regulator.verified import VerifiedAudit
from regaudit.regulator.verify import verify_bundle
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input

__all__ = ["parties"]  # the session fixture, shared with tests/regulator

#: Rows of the small bundles (one chunk).
ROWS = 400


def near_four_fifths_payload(rows: int = ROWS) -> dict[str, Any]:
    """Two groups of rows/2: "a" selected at 0.5, "b" at exactly 0.4 -- impact ratio 0.8,
    on the four-fifths line (the gaps stay under the audit threshold 0.6)."""
    half = rows // 2
    rng = np.random.default_rng(3)
    y_pred = [1] * (half // 2) + [0] * (half - half // 2) + [1] * (2 * half // 5)
    y_pred += [0] * (rows - len(y_pred))
    return {
        "y_true": rng.binomial(1, 0.5, size=rows).tolist(),
        "y_pred": y_pred,
        "group": ["a"] * half + ["b"] * (rows - half),
        "threshold": 0.6,
    }


def _verify(parties: Parties, payload: dict[str, Any]) -> VerifiedAudit:
    bundle = build_bundle(parties, parse_fairness_input(payload))
    return verify_bundle(bundle, regulator_keys=parties.regulator_keys, trust=parties.trust())


@pytest.fixture(scope="session")
def verified(parties: Parties) -> dict[str, VerifiedAudit]:
    """``breach``: three groups, "west" never selected (impact ratio 0, far from 4/5);
    ``near``: :func:`near_four_fifths_payload`."""
    return {
        "breach": _verify(parties, fairness_payload(ROWS, seed=5)),
        "near": _verify(parties, near_four_fifths_payload()),
    }


def with_dataset(audit: VerifiedAudit, dataset: str | None) -> VerifiedAudit:
    """``audit`` as if its client had declared ``dataset`` in its data description."""
    description = dict(audit.submission.data_description)
    description.pop("dataset", None)
    if dataset is not None:
        description["dataset"] = dataset
    submission = dataclasses.replace(audit.submission, data_description=description)
    return dataclasses.replace(audit, submission=submission)


@pytest.fixture
def identity(tmp_path: Path) -> Path:
    """A regulator identity directory of its own (the ledger lives there)."""
    directory = tmp_path / "regulator"
    directory.mkdir()
    return directory
