"""Python mirrors of the ``regaudit.v1`` messages (job states, capabilities, progress,
results) and their conversions to and from protobuf; the job header has its own module,
:mod:`regaudit.shared.protocol.job_header`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.algebra import OpCounts
from regaudit.shared.errors import ProtocolError
from regaudit.shared.profiles import ParameterProfile
from regaudit.shared.protocol.limits import (
    CHUNK_BYTES,
    MAX_CIPHERTEXT_BYTES,
    MAX_EVALUATION_KEY_BYTES,
    MAX_JOB_CIPHERTEXTS,
    MAX_MESSAGE_BYTES,
    MAX_PUBLIC_INPUTS_BYTES,
)


class JobState(StrEnum):
    """The state of a job on the evaluator (``JobState`` without the ``JOB_STATE_`` prefix)."""

    RECEIVING = "RECEIVING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """True for the states a job never leaves (succeeded, failed)."""
        return self in (JobState.SUCCEEDED, JobState.FAILED)

    def to_proto(self) -> pb.JobState:
        """This state as its protobuf ``JobState`` value."""
        return cast(pb.JobState, pb.JobState.Value(f"JOB_STATE_{self.value}"))

    @classmethod
    def from_proto(cls, value: int) -> JobState:
        """The state of a protobuf ``JobState`` value; ProtocolError if it is unspecified or
        not a value the .proto defines (proto3 keeps unknown enum values)."""
        try:
            name = pb.JobState.Name(value)
        except ValueError:
            raise ProtocolError(f"unknown job state {value!r}", field="state") from None
        if name == "JOB_STATE_UNSPECIFIED":
            raise ProtocolError("job state is unspecified", field="state")
        return cls(name.removeprefix("JOB_STATE_"))


# --- dataclasses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInfo:
    """A parameter profile as the evaluator announces it in its capabilities."""

    name: str
    profile_hash: str
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    max_depth: int
    slot_count: int


@dataclass(frozen=True)
class Limits:
    """The evaluator's announced limits (``max_rows`` 0 = no row limit)."""

    chunk_bytes: int = CHUNK_BYTES
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_ciphertext_bytes: int = MAX_CIPHERTEXT_BYTES
    max_evaluation_key_bytes: int = MAX_EVALUATION_KEY_BYTES
    max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS
    max_public_inputs_bytes: int = MAX_PUBLIC_INPUTS_BYTES
    max_rows: int = 0


@dataclass(frozen=True)
class Capabilities:
    """What ``GetCapabilities`` returns: protocol version, profiles, circuits, limits, key."""

    protocol_version: str
    profiles: tuple[ProfileInfo, ...]
    circuits: tuple[tuple[str, str], ...]
    limits: Limits
    evaluator_public_key: dict[str, Any]
    server_version: str = ""


@dataclass(frozen=True)
class JobAccepted:
    """The answer to ``SubmitJob`` (``deduplicated``: the job already existed for its idempotency
    key)."""

    job_id: str
    state: JobState
    deduplicated: bool

    @classmethod
    def from_proto(cls, message: pb.JobAccepted) -> JobAccepted:
        """Parse the protobuf message."""
        return cls(message.job_id, JobState.from_proto(message.state), message.deduplicated)


@dataclass(frozen=True)
class JobProgress:
    """One update of ``WatchJob``."""

    job_id: str
    state: JobState
    chunks_received: int
    chunks_evaluated: int
    n_chunks: int
    message: str = ""
    error_reason: str = ""

    def to_proto(self) -> pb.JobProgress:
        """This value as its protobuf message."""
        return pb.JobProgress(
            job_id=self.job_id,
            state=self.state.to_proto(),
            chunks_received=self.chunks_received,
            chunks_evaluated=self.chunks_evaluated,
            n_chunks=self.n_chunks,
            message=self.message,
            error_reason=self.error_reason,
        )

    @classmethod
    def from_proto(cls, message: pb.JobProgress) -> JobProgress:
        """Parse the protobuf message."""
        return cls(
            job_id=message.job_id,
            state=JobState.from_proto(message.state),
            chunks_received=message.chunks_received,
            chunks_evaluated=message.chunks_evaluated,
            n_chunks=message.n_chunks,
            message=message.message,
            error_reason=message.error_reason,
        )


@dataclass(frozen=True)
class JobResult:
    """Encrypted outputs of a finished job with the evaluator-signed receipt envelope."""

    job_id: str
    outputs: list[bytes]
    canary: bytes
    receipt_envelope: dict[str, Any] = field(default_factory=dict)
    #: each chunk's partial digest in chunk order (the receipt commits to their Merkle root);
    #: a sampled witness job's: each sampled chunk's
    partial_digests: tuple[str, ...] = ()


def profile_info(profile: ParameterProfile) -> ProfileInfo:
    """ProfileInfo of a :class:`regaudit.shared.profiles.ParameterProfile`."""
    return ProfileInfo(
        name=profile.name,
        profile_hash=profile.profile_hash,
        poly_modulus_degree=profile.poly_modulus_degree,
        coeff_modulus_bits=tuple(profile.coeff_modulus_bits),
        scale_bits=profile.scale_bits,
        max_depth=profile.max_depth,
        slot_count=profile.slot_count,
    )


def capabilities_to_proto(caps: Capabilities) -> pb.Capabilities:
    """The protobuf message of ``caps`` (the evaluator's public key as canonical JSON)."""
    from regaudit.shared.evidence.canonical import canonical_json

    return pb.Capabilities(
        protocol_version=caps.protocol_version,
        profiles=[
            pb.ProfileInfo(
                name=p.name,
                profile_hash=p.profile_hash,
                poly_modulus_degree=p.poly_modulus_degree,
                coeff_modulus_bits=list(p.coeff_modulus_bits),
                scale_bits=p.scale_bits,
                max_depth=p.max_depth,
                slot_count=p.slot_count,
            )
            for p in caps.profiles
        ],
        circuits=[pb.CircuitInfo(circuit_id=c, version=v) for c, v in caps.circuits],
        limits=pb.Limits(
            chunk_bytes=caps.limits.chunk_bytes,
            max_message_bytes=caps.limits.max_message_bytes,
            max_ciphertext_bytes=caps.limits.max_ciphertext_bytes,
            max_evaluation_key_bytes=caps.limits.max_evaluation_key_bytes,
            max_job_ciphertexts=caps.limits.max_job_ciphertexts,
            max_public_inputs_bytes=caps.limits.max_public_inputs_bytes,
            max_rows=caps.limits.max_rows,
        ),
        evaluator_public_key_json=canonical_json(caps.evaluator_public_key),
        server_version=caps.server_version,
    )


def capabilities_from_proto(message: pb.Capabilities) -> Capabilities:
    """Parse a capabilities message; ProtocolError if the evaluator's key is not a JSON
    object."""
    from regaudit.shared.evidence.canonical import strict_json_loads

    key = strict_json_loads(
        message.evaluator_public_key_json, what="evaluator_public_key_json", error=ProtocolError
    )
    if not isinstance(key, dict):
        raise ProtocolError("evaluator public key must be a JSON object")
    limits = message.limits
    return Capabilities(
        protocol_version=message.protocol_version,
        profiles=tuple(
            ProfileInfo(
                name=p.name,
                profile_hash=p.profile_hash,
                poly_modulus_degree=p.poly_modulus_degree,
                coeff_modulus_bits=tuple(p.coeff_modulus_bits),
                scale_bits=p.scale_bits,
                max_depth=p.max_depth,
                slot_count=p.slot_count,
            )
            for p in message.profiles
        ),
        circuits=tuple((c.circuit_id, c.version) for c in message.circuits),
        limits=Limits(
            chunk_bytes=limits.chunk_bytes,
            max_message_bytes=limits.max_message_bytes,
            max_ciphertext_bytes=limits.max_ciphertext_bytes,
            max_evaluation_key_bytes=limits.max_evaluation_key_bytes,
            max_job_ciphertexts=limits.max_job_ciphertexts,
            max_public_inputs_bytes=limits.max_public_inputs_bytes,
            max_rows=limits.max_rows,
        ),
        evaluator_public_key=key,
        server_version=message.server_version,
    )


def opcounts_from_dict(data: Mapping[str, Any]) -> OpCounts:
    """Rebuild an :class:`regaudit.shared.algebra.OpCounts` from ``OpCounts.to_dict()``."""
    return OpCounts(
        ct_ct_multiplications=int(data["ct_ct_multiplications"]),
        ct_pt_multiplications=int(data["ct_pt_multiplications"]),
        rotations=int(data["rotations"]),
        additions=int(data["additions"]),
        rescales=int(data["rescales"]),
        relinearizations=int(data["relinearizations"]),
        rotation_steps={int(s) for s in data["rotation_steps"]},
        max_level=int(data["max_level"]),
    )


__all__ = [
    "Capabilities",
    "JobAccepted",
    "JobProgress",
    "JobResult",
    "JobState",
    "Limits",
    "ProfileInfo",
    "capabilities_from_proto",
    "capabilities_to_proto",
    "opcounts_from_dict",
    "profile_info",
]
