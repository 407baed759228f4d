"""The report's model of a verified audit: a result split into metrics (with their error
bounds), decisions, per-item maps and a per-group table, and the evidence summary, generic over
primitives; the text, HTML and JSON renderers all read it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypedDict, TypeGuard

from regaudit.regulator.report.values import is_decision
from regaudit.regulator.verified import VerifiedAudit
from regaudit.shared.evidence.canonical import format_rfc3339

#: A metric ``X`` with a field ``X_error_bound`` is shown as ``X ± bound``.
ERROR_BOUND_SUFFIX = "_error_bound"
#: Result fields that are not metrics (shown elsewhere or not at all).
NON_METRIC_FIELDS = frozenset({"groups", "undefined"})

#: One field of a result: (name, value).
Field = tuple[str, object]
#: A mapping of per-item values or records (``impact_ratios``, drift's ``features``...).
ItemMap = Mapping[str, object]


class ResultParts(NamedTuple):
    """A result dict split for display."""

    #: scalar metrics, in result order
    metrics: list[Field]
    #: fields ending in ``_breached`` or ``_detected``
    decisions: list[Field]
    #: per-item maps; a list of records becomes a map keyed by position
    maps: list[tuple[str, ItemMap]]
    #: the per-group table (group name -> fields)
    groups: Mapping[str, Mapping[str, object]]


def split_result(result: Mapping[str, object]) -> ResultParts:
    """(scalar metrics, decisions, per-item maps, per-group table) of a result dict. A list
    of records (drift's per-feature results) becomes a per-item map keyed by position, with
    the records' own decisions kept inside it."""
    metrics: list[Field] = []
    decisions: list[Field] = []
    maps: list[tuple[str, ItemMap]] = []
    groups: Mapping[str, Mapping[str, object]] = {}
    for name, value in result.items():
        if name == "groups" and isinstance(value, Mapping):
            groups = value
        elif name in NON_METRIC_FIELDS:
            continue
        elif is_decision(name):
            decisions.append((name, value))
        elif isinstance(value, Mapping):
            maps.append((name, value))
        elif _is_record_list(value):
            maps.append((name, {str(index): item for index, item in enumerate(value)}))
        else:
            metrics.append((name, value))
    return ResultParts(metrics, decisions, maps, groups)


def _is_record_list(value: object) -> TypeGuard[Sequence[Mapping[str, object]]]:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )


def with_bounds(metrics: list[Field]) -> list[tuple[str, object, object]]:
    """(name, value, error bound or None): ``X_error_bound`` fields fold into their ``X``."""
    values = dict(metrics)
    owner: dict[str, str] = {}
    for name, _ in metrics:
        bound = bound_field(name, values)
        if bound is not None:
            owner[bound] = name
    rows: list[tuple[str, object, object]] = []
    for name, value in metrics:
        if name in owner:
            continue
        bound = bound_field(name, values)
        rows.append((name, value, values[bound] if bound is not None else None))
    return rows


def bound_field(name: str, values: Mapping[str, object]) -> str | None:
    """The error-bound field of metric ``name``: ``X_error_bound``, or for ``P_distance`` also
    ``P_error_bound`` (``w1_distance`` -> ``w1_error_bound``)."""
    if name.endswith(ERROR_BOUND_SUFFIX):
        return None
    candidates = [name + ERROR_BOUND_SUFFIX]
    if name.endswith("_distance"):
        candidates.append(name[: -len("_distance")] + ERROR_BOUND_SUFFIX)
    for candidate in candidates:
        if candidate in values and isinstance(values[candidate], int | float):
            return candidate
    return None


def is_record_map(mapping: ItemMap) -> TypeGuard[Mapping[str, Mapping[str, object]]]:
    """Every value of a non-empty ``mapping`` is a record (a table, not a list of values)."""
    return bool(mapping) and all(isinstance(v, Mapping) for v in mapping.values())


def record_columns(mapping: ItemMap) -> list[str] | None:
    """Column names when every value of ``mapping`` is a record, else None."""
    if not is_record_map(mapping):
        return None
    return field_names(mapping.values())


def field_names(records: Iterable[Mapping[str, object]]) -> list[str]:
    """The field names of ``records``, each once, in order of first appearance."""
    columns: list[str] = []
    for record in records:
        for name in record:
            if name not in columns:
                columns.append(name)
    return columns


# --- the evidence summary ---------------------------------------------------------------------


class CircuitRef(TypedDict):
    id: str
    version: str


class ProfileRef(TypedDict):
    name: str
    hash: str


class ClientEvidence(TypedDict):
    key_id: str
    signed_at: str
    columns: list[str]
    input_commitments: dict[str, str]
    data_description: dict[str, Any]


class OutputDigest(TypedDict):
    name: str
    digest: str


class EvaluatorEvidence(TypedDict):
    key_id: str
    job_id: str
    started_at: str
    finished_at: str
    receipt_digest: str
    evaluation_keys_digest: str
    inputs_manifest_digest: str
    input_ciphertexts: int
    outputs: list[OutputDigest]
    software: dict[str, str]
    retention: dict[str, str]


class DepthEvidence(TypedDict):
    planned: int
    observed: int
    profile_max: int


class SealedKeyEvidence(TypedDict):
    digest: str
    regulator_key_id: str


class CanaryEvidence(TypedDict):
    passed: bool
    expected: float
    tolerance: float


class SampledWitnessEvidence(TypedDict):
    """A sampled witness: the chunks it re-executed (of ``n_chunks``) and the least probability
    ``1 - (1 - f)^k`` that such a sample catches a cheat altering a fraction f of the chunks
    (keys ``f=0.01``, ``f=0.05``, ``f=0.1``; ``one_chunk``: f = 1/n)."""

    chunks: list[int]
    k: int
    n_chunks: int
    detection_bound: dict[str, float]


class WitnessEvidence(TypedDict):
    address: str
    mode: str
    key_id: str
    job_id: str
    receipt_digest: str
    finished_at: str
    software: dict[str, str]
    agrees: bool
    compared_by: str
    #: a sampled witness's sample and detection bound (None for a full witness)
    sampling: SampledWitnessEvidence | None


class MissingWitnessEvidence(TypedDict):
    address: str
    reason: str
    message: str


class WitnessesEvidence(TypedDict):
    """The witness evaluators: the policy, the agreeing ones and the missing ones."""

    required: int
    present: list[WitnessEvidence]
    missing: list[MissingWitnessEvidence]


class EvidenceSummary(TypedDict):
    """The evidence a result rests on (the ``evidence`` object of the JSON result)."""

    bundle_digest: str
    circuit: CircuitRef
    profile: ProfileRef
    public_inputs: dict[str, Any]
    rows: int
    chunks: int
    client: ClientEvidence
    evaluator: EvaluatorEvidence
    depth: DepthEvidence
    operation_counts: dict[str, Any]
    sealed_key: SealedKeyEvidence
    canary: CanaryEvidence
    witnesses: WitnessesEvidence
    checks: list[str]
    verified_at: str


def evidence_summary(verified: VerifiedAudit) -> EvidenceSummary:
    """The evidence a result rests on, as JSON-ready values."""
    receipt, submission = verified.receipt, verified.submission
    return {
        "bundle_digest": verified.bundle_digest,
        "circuit": {"id": verified.circuit_id, "version": verified.circuit_version},
        "profile": {"name": verified.profile.name, "hash": verified.profile.profile_hash},
        "public_inputs": dict(verified.public_inputs),
        "rows": verified.plan.rows,
        "chunks": verified.plan.n_chunks,
        "client": {
            "key_id": submission.client_key_id,
            "signed_at": format_rfc3339(submission.created_at),
            "columns": list(submission.columns),
            "input_commitments": dict(submission.input_commitments),
            "data_description": dict(submission.data_description),
        },
        "evaluator": {
            "key_id": receipt.evaluator_key_id,
            "job_id": receipt.job_id,
            "started_at": format_rfc3339(receipt.started_at),
            "finished_at": format_rfc3339(receipt.finished_at),
            "receipt_digest": receipt.digest,
            "evaluation_keys_digest": receipt.evaluation_keys_digest,
            "inputs_manifest_digest": receipt.inputs_manifest_digest,
            "input_ciphertexts": receipt.input_count,
            "outputs": [{"name": name, "digest": digest} for name, digest in receipt.outputs],
            "software": dict(receipt.software),
            # attested by the evaluator's receipt, not proven
            "retention": dict(receipt.retention),
        },
        "depth": {
            "planned": receipt.depth_planned,
            "observed": receipt.depth_observed,
            "profile_max": verified.profile.max_depth,
        },
        "operation_counts": dict(receipt.operation_counts),
        "sealed_key": {
            "digest": submission.sealed_key_digest,
            "regulator_key_id": verified.regulator_key_id,
        },
        # passed/failed with the public value and the tolerance; never what decrypted
        "canary": {
            "passed": verified.canary.passed,
            "expected": verified.canary.expected,
            "tolerance": verified.canary.tolerance,
        },
        "witnesses": witnesses_evidence(verified),
        "checks": list(verified.checks),
        "verified_at": format_rfc3339(verified.verified_at),
    }


def witness_rows(witnesses: WitnessesEvidence) -> list[tuple[str, str]]:
    """(label, text) rows of the witnesses for the text and HTML reports: the policy, each
    agreeing witness, each missing one."""
    present, missing = witnesses["present"], witnesses["missing"]
    rows = [
        (
            "witnesses",
            f"{len(present)} agreeing, {len(missing)} missing; the trust store requires "
            f"{witnesses['required']}",
        )
    ]
    for w in present:
        rows.append(
            (
                f"witness {w['address']}",
                f"AGREES ({w['mode']}; {w['compared_by']}): key {w['key_id']}, job "
                f"{w['job_id']}, receipt {w['receipt_digest']}",
            )
        )
        sampling = w.get("sampling")
        if sampling:
            bounds = sampling["detection_bound"]
            rows.append(
                (
                    f"witness {w['address']} detection",
                    f"re-executed {sampling['k']} of {sampling['n_chunks']} chunks; a cheat "
                    f"altering a fraction f of the chunks is caught with probability at least "
                    f"{bounds['f=0.01']:.3f} (f = 1 %), {bounds['f=0.05']:.3f} (5 %), "
                    f"{bounds['f=0.1']:.3f} (10 %), {bounds['one_chunk']:.3f} (one chunk)",
                )
            )
    for m in missing:
        rows.append((f"missing witness {m['address']}", f"{m['reason']}: {m['message']}"))
    return rows


def witnesses_evidence(verified: VerifiedAudit) -> WitnessesEvidence:
    """The witnesses as JSON-ready values."""
    witnesses = verified.witnesses
    return {
        "required": witnesses.required,
        "present": [
            {
                "address": w.address,
                "mode": w.mode,
                "key_id": w.evaluator_key_id,
                "job_id": w.job_id,
                "receipt_digest": w.receipt_digest,
                "finished_at": format_rfc3339(w.finished_at),
                "software": dict(w.software),
                "agrees": w.agrees,
                "compared_by": w.compared_by,
                "sampling": (
                    {
                        "chunks": list(w.sampled_chunks),
                        "k": len(w.sampled_chunks),
                        "n_chunks": w.n_chunks,
                        "detection_bound": {k: round(v, 4) for k, v in w.detection.items()},
                    }
                    if w.mode == "sampled"
                    else None
                ),
            }
            for w in witnesses.present
        ],
        "missing": [
            {"address": m.address, "reason": m.reason, "message": m.message}
            for m in witnesses.missing
        ],
    }


__all__ = [
    "ERROR_BOUND_SUFFIX",
    "NON_METRIC_FIELDS",
    "CanaryEvidence",
    "CircuitRef",
    "ClientEvidence",
    "DepthEvidence",
    "EvaluatorEvidence",
    "EvidenceSummary",
    "Field",
    "ItemMap",
    "MissingWitnessEvidence",
    "OutputDigest",
    "ProfileRef",
    "ResultParts",
    "SampledWitnessEvidence",
    "SealedKeyEvidence",
    "WitnessEvidence",
    "WitnessesEvidence",
    "bound_field",
    "evidence_summary",
    "field_names",
    "is_record_map",
    "record_columns",
    "split_result",
    "with_bounds",
    "witness_rows",
    "witnesses_evidence",
]
