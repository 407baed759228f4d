"""Differential privacy on release: noise on the released aggregates (OpenDP), a privacy-loss
ledger per client and dataset, and the noise's effect on each decision (``docs/privacy.md``).

``apply_release(verified, request=ReleaseRequest(epsilon, delta), ledger=PrivacyLedger...)``
returns the verified audit with its result replaced by the DP release."""

from __future__ import annotations

from regaudit.regulator.privacy.decisions import (
    FLIP_DRAWS,
    FLIP_FRACTION,
    INDETERMINATE,
    noise_bound,
)
from regaudit.regulator.privacy.ledger import (
    LEDGER_DB_NAME,
    UNDECLARED_DATASET,
    Budget,
    Charge,
    PrivacyLedger,
)
from regaudit.regulator.privacy.mechanisms import (
    MAX_EPSILON,
    CalibratedMechanism,
    ReleaseRequest,
    Sensitivity,
    calibrate,
)
from regaudit.regulator.privacy.primitives import RELEASES, release_for
from regaudit.regulator.privacy.release import DP_KEY, apply_release, dataset_of

__all__ = [
    "DP_KEY",
    "FLIP_DRAWS",
    "FLIP_FRACTION",
    "INDETERMINATE",
    "LEDGER_DB_NAME",
    "MAX_EPSILON",
    "RELEASES",
    "UNDECLARED_DATASET",
    "Budget",
    "CalibratedMechanism",
    "Charge",
    "PrivacyLedger",
    "ReleaseRequest",
    "Sensitivity",
    "apply_release",
    "calibrate",
    "dataset_of",
    "noise_bound",
    "release_for",
]
