"""regaudit client: the audited vendor's side.

It validates and encrypts the audit's columns with a fresh CKKS secret key, streams them to a
keyless evaluator, checks the evaluator's signed receipt, commits to its inputs, seals the
secret key to the regulator and writes one audit bundle. Entry points: :func:`run_audit`, the
DataFrame API (``audit_fairness(df, y_true=..., y_pred=..., sensitive_features=...)`` and its
siblings, :mod:`regaudit.client.frames`; :func:`frame_input` builds :func:`run_audit`'s input
from in-memory data) and the ``regaudit-client`` command line (:mod:`regaudit.client.cli`).

Imports are lazy so that spawned encryption workers (which import
:mod:`regaudit.client.encryption`) do not pay for gRPC and the evidence stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regaudit.client.audit import AuditOutcome, EvaluatorUnavailableError, run_audit
    from regaudit.client.frame_inputs import frame_input
    from regaudit.client.frames import (
        audit_calibration,
        audit_concordance,
        audit_disagreement,
        audit_drift,
        audit_fairness,
        audit_provenance,
    )
    from regaudit.client.inputs import load_audit_input
    from regaudit.client.progress import ProgressSink

_EXPORTS = {
    "AuditOutcome": "regaudit.client.audit",
    "EvaluatorUnavailableError": "regaudit.client.audit",
    "ProgressSink": "regaudit.client.progress",
    "run_audit": "regaudit.client.audit",
    "load_audit_input": "regaudit.client.inputs",
    "frame_input": "regaudit.client.frame_inputs",
    "audit_calibration": "regaudit.client.frames",
    "audit_concordance": "regaudit.client.frames",
    "audit_disagreement": "regaudit.client.frames",
    "audit_drift": "regaudit.client.frames",
    "audit_fairness": "regaudit.client.frames",
    "audit_provenance": "regaudit.client.frames",
}


def __getattr__(name: str) -> object:
    """The public names, imported on first use."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'regaudit.client' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "AuditOutcome",
    "EvaluatorUnavailableError",
    "ProgressSink",
    "audit_calibration",
    "audit_concordance",
    "audit_disagreement",
    "audit_drift",
    "audit_fairness",
    "audit_provenance",
    "frame_input",
    "load_audit_input",
    "run_audit",
]
