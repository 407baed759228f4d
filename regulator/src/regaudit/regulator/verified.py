"""What a successful verification returns: the decoded aggregates and the evidence they rest on
(:class:`VerifiedAudit`, built by :func:`regaudit.regulator.verify.verify_bundle`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regaudit.shared.circuits.base import Plan
from regaudit.shared.local import REPORT_TYPES, AuditReport
from regaudit.shared.profiles import ParameterProfile


@dataclass(frozen=True)
class ReceiptSummary:
    """What the evaluator attested (from the verified receipt)."""

    job_id: str
    evaluator_key_id: str
    digest: str
    started_at: datetime
    finished_at: datetime
    evaluation_keys_digest: str
    inputs_manifest_digest: str
    input_count: int
    outputs: tuple[tuple[str, str], ...]
    depth_planned: int
    depth_observed: int
    operation_counts: dict[str, Any]
    software: dict[str, str]
    #: the evaluator's attestation of what it deleted when the job ended
    retention: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionSummary:
    """What the client attested (from the verified submission statement)."""

    client_key_id: str
    created_at: datetime
    rows: int
    columns: tuple[str, ...]
    data_description: dict[str, Any]
    input_commitments: dict[str, str]
    sealed_key_digest: str
    regulator_key_id: str


@dataclass(frozen=True)
class CanaryCheck:
    """The key canary as it may leave the regulator: passed or not, the public value and the
    tolerance applied. What decrypted is not kept (no raw CKKS decode in a report, JSON or
    message; its low digits carry the noise key-recovery attacks use)."""

    passed: bool
    #: the public value sum(c * c) slot 0 must decrypt to (computed from the public seed)
    expected: float
    #: |slot 0 - expected| and every other |slot| must be at most this
    tolerance: float


@dataclass(frozen=True)
class WitnessSummary:
    """A witness evaluator whose receipt verified and whose outputs equal the primary's."""

    #: the witness's HOST:PORT as the client recorded it
    address: str
    #: ``full``: it re-executed every chunk
    mode: str
    evaluator_key_id: str
    job_id: str
    receipt_digest: str
    finished_at: datetime
    software: dict[str, str]
    #: its outputs equal the primary's (always true in a verified audit)
    agrees: bool
    #: what was compared
    compared_by: str
    #: a sampled witness: the chunks it re-executed, of how many, and the least probability
    #: that it catches a cheat altering a fraction f of the chunks ("f=0.01"..., "one_chunk")
    sampled_chunks: tuple[int, ...] = ()
    n_chunks: int = 0
    detection: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MissingWitnessSummary:
    """A witness the client asked for that delivered nothing (its own record, signed)."""

    address: str
    reason: str
    message: str


@dataclass(frozen=True)
class WitnessesSummary:
    """The witnesses of an audit and the policy they were judged by."""

    #: the trust store's ``witnesses_required``
    required: int = 0
    present: tuple[WitnessSummary, ...] = ()
    missing: tuple[MissingWitnessSummary, ...] = ()


@dataclass(frozen=True)
class VerifiedAudit:
    """A fully verified audit: the decoded aggregates and the evidence they rest on."""

    audit_id: str
    primitive: str
    circuit_id: str
    circuit_version: str
    profile: ParameterProfile
    public_inputs: dict[str, Any]
    result: dict[str, Any]
    plan: Plan
    receipt: ReceiptSummary
    submission: SubmissionSummary
    canary: CanaryCheck
    bundle_digest: str
    regulator_key_id: str
    verified_at: datetime
    checks: tuple[str, ...] = field(default=())
    #: the witness evaluators that re-executed the job (and the missing ones)
    witnesses: WitnessesSummary = field(default_factory=WitnessesSummary)

    def to_report(self, *, sensitive_feature: str | None = None) -> AuditReport:
        """The verified result as the same object the in-process and the client's DataFrame
        API return (:class:`regaudit.shared.local.AuditReport`: ``by_group``, ``to_frame()``,
        ``to_seed_dict()``...). ``sensitive_feature`` names the ``by_group`` index."""
        report_type = REPORT_TYPES.get(self.primitive, AuditReport)
        return report_type(
            self.primitive,
            "ckks",
            dict(self.result),
            self.plan.to_dict(),
            sensitive_feature=sensitive_feature,
            audit_id=self.audit_id,
        )


__all__ = [
    "CanaryCheck",
    "MissingWitnessSummary",
    "ReceiptSummary",
    "SubmissionSummary",
    "VerifiedAudit",
    "WitnessSummary",
    "WitnessesSummary",
]
