"""The witnesses an audit submission binds: one entry per witness evaluator that re-executed the
job (its address, key, job id, mode and the digest of its receipt envelope) and one per witness
that was asked but did not deliver (its address and why).

The client signs these inside its submission statement (predicate ``witnesses`` and
``missing_witnesses``; each witness receipt is also a subject ``witness-receipt/<i>``), so a
witness receipt can be neither stripped from a bundle nor added to it afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regaudit.shared.evidence.statements.checks import FieldChecker

#: How a witness re-executed the job: ``full`` = every chunk.
WITNESS_MODE_FULL = "full"
#: The witness modes a submission may name.
#: A sampled witness re-executed a sample of the chunks (``evidence.sampled_witness``).
WITNESS_MODE_SAMPLED = "sampled"
WITNESS_MODES: tuple[str, ...] = (WITNESS_MODE_FULL, WITNESS_MODE_SAMPLED)
#: Most witnesses (present and missing together) one submission may name.
MAX_WITNESSES = 16
#: Longest message of a missing witness (characters).
MAX_WITNESS_MESSAGE_CHARS = 1024
#: Subject name prefix of the i-th witness receipt in a submission statement.
WITNESS_SUBJECT_PREFIX = "witness-receipt/"

WITNESS_FIELDS = ("address", "evaluator_key_id", "job_id", "receipt_digest", "mode")
MISSING_WITNESS_FIELDS = ("address", "reason", "message")


@dataclass(frozen=True)
class WitnessBinding:
    """One witness receipt as the client bound it."""

    #: the witness's HOST:PORT, as the client reached it
    address: str
    evaluator_key_id: str
    job_id: str
    #: digest of the witness's receipt envelope (:func:`receipt_digest`)
    receipt_digest: str
    mode: str = WITNESS_MODE_FULL

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in WITNESS_FIELDS}


@dataclass(frozen=True)
class MissingWitness:
    """A witness the client asked for that delivered no receipt (``--witness-optional``)."""

    address: str
    #: the stable reason of the failure (``evaluator_unavailable``, ``server_busy``...)
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in MISSING_WITNESS_FIELDS}


def witness_subject_name(index: int) -> str:
    """The subject name of the ``index``-th witness receipt."""
    return f"{WITNESS_SUBJECT_PREFIX}{index}"


def _entries(value: object, c: FieldChecker, field: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple) or len(value) > MAX_WITNESSES:
        raise c.error(f"must be a list of at most {MAX_WITNESSES} entries", field=field)
    return [_as_mapping(item, c, f"{field}[{i}]") for i, item in enumerate(value)]


def _as_mapping(item: object, c: FieldChecker, field: str) -> Mapping[str, Any]:
    if isinstance(item, WitnessBinding | MissingWitness):
        return item.to_dict()
    if not isinstance(item, Mapping):
        raise c.error("must be a JSON object", field=field)
    return item


def _exact(item: Mapping[str, Any], fields: Sequence[str], c: FieldChecker, field: str) -> None:
    if set(item) != set(fields):
        raise c.error(f"must have exactly the fields {list(fields)}", field=field)


def check_witnesses(value: object, c: FieldChecker) -> list[WitnessBinding]:
    """``predicate.witnesses``: well-formed entries, each key and job named once."""
    bindings: list[WitnessBinding] = []
    for index, item in enumerate(_entries(value, c, "witnesses")):
        field = f"witnesses[{index}]"
        _exact(item, WITNESS_FIELDS, c, field)
        if item["mode"] not in WITNESS_MODES:
            raise c.error(f"must be one of {list(WITNESS_MODES)}", field=f"{field}.mode")
        bindings.append(
            WitnessBinding(
                address=c.name(item["address"], f"{field}.address"),
                evaluator_key_id=c.key_id(item["evaluator_key_id"], f"{field}.evaluator_key_id"),
                job_id=c.name(item["job_id"], f"{field}.job_id"),
                receipt_digest=c.digest(item["receipt_digest"], f"{field}.receipt_digest"),
                mode=str(item["mode"]),
            )
        )
    if len({b.evaluator_key_id for b in bindings}) != len(bindings):
        raise c.error("each witness key may appear once", field="witnesses")
    return bindings


def check_missing_witnesses(value: object, c: FieldChecker) -> list[MissingWitness]:
    """``predicate.missing_witnesses``: well-formed entries."""
    missing: list[MissingWitness] = []
    for index, item in enumerate(_entries(value, c, "missing_witnesses")):
        field = f"missing_witnesses[{index}]"
        _exact(item, MISSING_WITNESS_FIELDS, c, field)
        message = item["message"]
        if not isinstance(message, str) or len(message) > MAX_WITNESS_MESSAGE_CHARS:
            raise c.error(
                f"must be a string of at most {MAX_WITNESS_MESSAGE_CHARS} characters",
                field=f"{field}.message",
            )
        missing.append(
            MissingWitness(
                address=c.name(item["address"], f"{field}.address"),
                reason=c.name(item["reason"], f"{field}.reason"),
                message=message,
            )
        )
    return missing


def check_witness_count(
    witnesses: Sequence[object], missing: Sequence[object], c: FieldChecker
) -> None:
    """Present and missing witnesses together: at most :data:`MAX_WITNESSES`."""
    if len(witnesses) + len(missing) > MAX_WITNESSES:
        raise c.error(f"at most {MAX_WITNESSES} witnesses in all", field="witnesses")


def witness_subjects(bindings: Sequence[WitnessBinding]) -> list[tuple[str, str]]:
    """The (subject name, receipt digest) of each witness receipt, in order."""
    return [(witness_subject_name(i), b.receipt_digest) for i, b in enumerate(bindings)]


__all__ = [
    "MAX_WITNESSES",
    "MAX_WITNESS_MESSAGE_CHARS",
    "MISSING_WITNESS_FIELDS",
    "WITNESS_FIELDS",
    "WITNESS_MODES",
    "WITNESS_MODE_FULL",
    "WITNESS_MODE_SAMPLED",
    "WITNESS_SUBJECT_PREFIX",
    "MissingWitness",
    "WitnessBinding",
    "check_missing_witnesses",
    "check_witness_count",
    "check_witnesses",
    "witness_subject_name",
    "witness_subjects",
]
