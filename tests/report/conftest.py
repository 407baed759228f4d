"""Fixtures of the report tests: a really verified fairness audit (real parties, a bundle built
on the SEAL backend and verified by ``verify_bundle``, see tests/regulator/conftest.py) and, for
the five other primitives, the same verified evidence carrying that primitive's decoded result
(``regaudit.shared.local.audit`` on each primitive's example input, the in-process path)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from regulator.conftest import Parties, build_bundle, fairness_payload, parties

from regaudit.regulator.verify import VerifiedAudit, verify_bundle
from regaudit.shared import local
from regaudit.shared.evidence.truststore import TrustStore
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input

__all__ = ["parties"]  # the session fixture, shared with tests/regulator

#: Rows of the fairness bundle (one chunk).
ROWS = 400
EXAMPLES = Path(__file__).parents[2] / "shared/src/regaudit/shared/primitives"
#: What the client declares about its data (shown "as declared by the client").
DESCRIPTION = {
    "dataset": "hiring decisions & <offers> \u00e9t\u00e9 2026",
    "period": "2026-01-01/2026-06-30",
    "source": 'ATS export "v2"',
}


def calibration_payload() -> dict[str, Any]:
    """A batch of 30 three-class score vectors with a split-conformal rule (alpha 0.2)."""
    rng = np.random.default_rng(1)
    calibration, labels = rng.dirichlet([1, 1, 1], size=40), rng.integers(0, 3, size=40)
    return {
        "scores": rng.dirichlet([1, 1, 1], size=30).tolist(),
        "labels": rng.integers(0, 3, size=30).tolist(),
        "alpha": 0.2,
        "calibration_scores": calibration[np.arange(40), labels].tolist(),
    }


def example(primitive: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((EXAMPLES / primitive / "example.input.json").read_text())
    return payload


@pytest.fixture(scope="session")
def trust(parties: Parties) -> TrustStore:
    store: TrustStore = parties.trust()
    return store


@pytest.fixture(scope="session")
def verified(parties: Parties) -> VerifiedAudit:
    """A verified fairness audit: three groups, "west" never selected (impact ratio 0, max gap
    over the audit's threshold 0.1: breached), with a declared dataset, period and source."""
    bundle = build_bundle(parties, parse_fairness_input(fairness_payload(ROWS, seed=5)))
    audit = verify_bundle(bundle, regulator_keys=parties.regulator_keys, trust=parties.trust())
    submission = dataclasses.replace(
        audit.submission, data_description={**audit.submission.data_description, **DESCRIPTION}
    )
    return dataclasses.replace(audit, submission=submission)


@pytest.fixture(scope="session")
def audits(verified: VerifiedAudit) -> dict[str, VerifiedAudit]:
    """Primitive -> a verified audit with that primitive's decoded result."""
    payloads = {
        "drift": example("drift"),
        "calibration": calibration_payload(),
        "concordance": example("concordance"),
        "disagreement": example("disagreement"),
        "provenance": example("provenance"),
    }
    found = {"fairness": verified}
    for primitive, payload in payloads.items():
        result = local.audit(primitive, payload, backend="plaintext").to_dict()
        found[primitive] = dataclasses.replace(verified, primitive=primitive, result=result)
    return found
