"""The wire protocol's shared half: named limits, chunking helpers, Python dataclasses mirroring
the ``regaudit.v1`` messages with conversions, and rich gRPC error details.

Both the evaluator daemon and the client transport import this module; it never touches a
secret key. Errors travel as ``google.rpc.Status`` with an ``ErrorInfo`` (domain
``regaudit.dev``, reason = the regaudit error's stable ``reason``, metadata naming the error
class and field) and, where a specific field is at fault, ``BadRequest`` field violations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import CANARY_COLUMN, Plan, job_input_count
from regaudit.shared.errors import (
    REASONS,
    InputError,
    ProtocolError,
    RegauditError,
)
from regaudit.shared.errors import IdempotencyConflictError as IdempotencyConflictError
from regaudit.shared.errors import JobFailedError as JobFailedError
from regaudit.shared.errors import JobNotFinishedError as JobNotFinishedError
from regaudit.shared.errors import LimitExceededError as LimitExceededError
from regaudit.shared.errors import RemoteError as RemoteError
from regaudit.shared.errors import UnknownJobError as UnknownJobError

if TYPE_CHECKING:
    from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity

# --- named limits -----------------------------------------------------------------------------

PROTOCOL_VERSION = "regaudit.v1"
SERVICE_NAME = "regaudit.v1.Evaluator"
#: Domain of every ErrorInfo the evaluator sends.
ERROR_DOMAIN = "regaudit.dev"

MIB = 1024 * 1024
#: Largest ``data`` field of any streamed piece.
CHUNK_BYTES = 1 * MIB
#: grpc.max_send/receive_message_length on both sides: 4 MiB minus a margin, far above a piece.
MAX_MESSAGE_BYTES = 4 * MIB - 64 * 1024
#: Largest serialized ciphertext accepted (= ckks.MAX_CIPHERTEXT_BYTES; a fresh non-seeded
#: N=2^14 ciphertext is about 1.45 MB).
MAX_CIPHERTEXT_BYTES = 4 * MIB
#: Largest relin + Galois key upload (in bytes, both parts together).
MAX_EVALUATION_KEY_BYTES = 512 * MIB
#: Default cap on ciphertexts in one job, canary included (the largest fairness audit, 2^25 rows
#: with 64 groups at 4096 slots, needs 8192 x 66 + 1 = 540,673).
MAX_JOB_CIPHERTEXTS = 2**20
#: Default per-daemon cap on the input bytes one job may claim (``input_count`` x the largest
#: seeded ciphertext at the plan's input level, see :func:`max_seeded_ciphertext_bytes`).
MAX_JOB_BYTES = 8 * 1024 * MIB
#: Canonical public-inputs JSON.
MAX_PUBLIC_INPUTS_BYTES = 256 * 1024
MAX_COLUMNS = 64
MAX_IDEMPOTENCY_KEY_CHARS = 128
MAX_GALOIS_STEPS = 64
CANARY_SEED_BYTES = 32
MAX_AUDIT_ID_CHARS = 128
MAX_PUBLIC_KEY_JSON_BYTES = 4096
#: DSSE payload type of the client's signature over a job header.
JOB_HEADER_PAYLOAD_TYPE = "application/vnd.regaudit.job-header+json"

#: Default per-call deadlines (seconds). Every client call sets one.
DEADLINE_UNARY_S = 30.0
DEADLINE_UPLOAD_KEYS_S = 600.0
DEADLINE_SUBMIT_S = 3600.0
DEADLINE_WATCH_S = 6 * 3600.0
DEADLINE_RESULT_S = 600.0
#: Seconds a gracefully stopping server lets in-flight RPCs finish.
SHUTDOWN_GRACE_S = 5.0

#: Channel/server options used on both sides.
GRPC_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)

OUTPUT_NAME_PREFIX = "output/"
CANARY_OUTPUT_NAME = "canary"


def output_name(index: int) -> str:
    """Name of the ``index``-th output ciphertext in results and receipts ("output/0"...)."""
    return f"{OUTPUT_NAME_PREFIX}{index}"


# --- protocol-level errors ------------------------------------------------------------------
# Defined with every other error class (and its reason, exit code and status) in
# regaudit.shared.errors; re-exported here, where callers of the protocol have always found them.


# --- chunking ---------------------------------------------------------------------------------


def max_seeded_ciphertext_bytes(profile: Any, level: int) -> int:
    """Upper bound on a fresh seeded ciphertext of ``profile`` at ``level``, as serialized.

    A seeded ciphertext holds one full polynomial (the second is its seed): N coefficients of
    8 bytes per data prime left at ``level`` (level 0 keeps every data prime), plus SEAL's
    header and compression's worst-case growth; never above :data:`MAX_CIPHERTEXT_BYTES`.
    """
    primes = max(1, len(profile.coeff_modulus_bits) - 1 - int(level))
    raw = int(profile.poly_modulus_degree) * primes * 8
    return min(MAX_CIPHERTEXT_BYTES, raw + raw // 256 + 1024)


def max_job_input_bytes(plan: Plan) -> int:
    """The most input bytes a job with ``plan`` may upload: its ciphertext count (canary
    included) x :func:`max_seeded_ciphertext_bytes` at its input level."""
    return plan.input_count * max_seeded_ciphertext_bytes(plan.profile, plan.input_level)


def split_bytes(data: bytes, size: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """``(offset, piece)`` pairs covering ``data`` in pieces of at most ``size`` bytes
    (one empty piece for empty data)."""
    if size < 1:
        raise ValueError("piece size must be positive")
    if not data:
        yield 0, b""
        return
    view = memoryview(data)
    for offset in range(0, len(data), size):
        yield offset, bytes(view[offset : offset + size])


def upload_order(plan_columns: Sequence[str], n_chunks: int) -> Iterator[tuple[str, int]]:
    """The order ciphertexts must be sent in: the canary, then chunk-major, columns in order."""
    yield CANARY_COLUMN, 0
    for chunk in range(n_chunks):
        for column in plan_columns:
            yield column, chunk


# --- job states -------------------------------------------------------------------------------


class JobState(StrEnum):
    RECEIVING = "RECEIVING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)

    def to_proto(self) -> pb.JobState:
        return cast(pb.JobState, pb.JobState.Value(f"JOB_STATE_{self.value}"))

    @classmethod
    def from_proto(cls, value: int) -> JobState:
        name = pb.JobState.Name(value)
        if name == "JOB_STATE_UNSPECIFIED":
            raise ProtocolError("job state is unspecified", field="state")
        return cls(name.removeprefix("JOB_STATE_"))


# --- dataclasses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    profile_hash: str
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    max_depth: int
    slot_count: int


@dataclass(frozen=True)
class Limits:
    chunk_bytes: int = CHUNK_BYTES
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_ciphertext_bytes: int = MAX_CIPHERTEXT_BYTES
    max_evaluation_key_bytes: int = MAX_EVALUATION_KEY_BYTES
    max_job_ciphertexts: int = MAX_JOB_CIPHERTEXTS
    max_public_inputs_bytes: int = MAX_PUBLIC_INPUTS_BYTES
    max_rows: int = 0


@dataclass(frozen=True)
class Capabilities:
    protocol_version: str
    profiles: tuple[ProfileInfo, ...]
    circuits: tuple[tuple[str, str], ...]
    limits: Limits
    evaluator_public_key: dict[str, Any]
    server_version: str = ""


@dataclass(frozen=True)
class JobHeader:
    """Everything the evaluator needs to plan and check a job before any ciphertext."""

    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    evaluation_keys_digest: str
    public_inputs: dict[str, Any]
    rows: int
    idempotency_key: str
    canary_seed: bytes
    input_level: int
    n_chunks: int
    columns: tuple[str, ...]
    #: the parties and audit the job belongs to (signed by the client, attested in the receipt)
    audit_id: str
    client_public_key_json: bytes
    regulator_key_id: str
    #: Ed25519 signature by the client key over :meth:`signing_input` (empty until signed)
    client_signature: bytes = b""

    @classmethod
    def from_plan(
        cls,
        plan: Plan,
        public_inputs: Mapping[str, Any],
        *,
        evaluation_keys_digest: str,
        idempotency_key: str,
        canary_seed: bytes,
        audit_id: str,
        client_key: PublicKeyRecord,
        regulator_key_id: str,
    ) -> JobHeader:
        """The (unsigned) header a client sends for ``plan``; sign it with :meth:`signed`."""
        from regaudit.shared.evidence.canonical import canonical_json

        return cls(
            circuit_id=plan.circuit_id,
            circuit_version=plan.circuit_version,
            profile_name=plan.profile.name,
            profile_hash=plan.profile.profile_hash,
            evaluation_keys_digest=evaluation_keys_digest,
            public_inputs=dict(public_inputs),
            rows=plan.rows,
            idempotency_key=idempotency_key,
            canary_seed=bytes(canary_seed),
            input_level=plan.input_level,
            n_chunks=plan.n_chunks,
            columns=tuple(plan.columns),
            audit_id=audit_id,
            client_public_key_json=canonical_json(client_key.to_dict()),
            regulator_key_id=regulator_key_id,
        )

    @property
    def input_count(self) -> int:
        """Input ciphertexts the header announces (canary + every chunk of every column)."""
        return job_input_count(self.n_chunks, len(self.columns))

    @property
    def public_inputs_json(self) -> bytes:
        """RFC 8785 canonical bytes of the public inputs (what travels and is signed)."""
        from regaudit.shared.evidence.canonical import canonical_json

        return canonical_json(self.public_inputs)

    def content(self) -> dict[str, Any]:
        """Canonical-JSON-able dict of every field (the header digest is over this)."""
        from regaudit.shared.evidence.canonical import sha256_digest

        return {
            "circuit_id": self.circuit_id,
            "circuit_version": self.circuit_version,
            "profile_name": self.profile_name,
            "profile_hash": self.profile_hash,
            "evaluation_keys_digest": self.evaluation_keys_digest,
            "public_inputs_digest": sha256_digest(self.public_inputs_json),
            "rows": self.rows,
            "idempotency_key": self.idempotency_key,
            "canary_seed": self.canary_seed.hex(),
            "input_level": self.input_level,
            "n_chunks": self.n_chunks,
            "columns": list(self.columns),
            "audit_id": self.audit_id,
            "client_key_id": self.client_key().key_id,
            "regulator_key_id": self.regulator_key_id,
        }

    @property
    def digest(self) -> str:
        """Digest of the signed content (the receipt's ``job_header_digest``)."""
        from regaudit.shared.evidence.canonical import canonical_json, sha256_digest

        return sha256_digest(canonical_json(self.content()))

    def client_key(self) -> PublicKeyRecord:
        """The client's public key record (InputError if malformed or not a client key)."""
        from regaudit.shared.evidence.canonical import strict_json_loads
        from regaudit.shared.evidence.identity import PublicKeyRecord

        document = strict_json_loads(
            self.client_public_key_json, what="client_public_key_json", error=InputError
        )
        record = PublicKeyRecord.from_dict(document, error=InputError)
        if record.kind != "client":
            raise InputError(
                f"the job header carries a {record.kind!r} key, not a client key",
                field="client_public_key_json",
            )
        return record

    def signing_input(self) -> bytes:
        """What the client signs: DSSE PAE of the canonical header content."""
        from regaudit.shared.evidence.canonical import canonical_json
        from regaudit.shared.evidence.dsse import pae

        return pae(JOB_HEADER_PAYLOAD_TYPE, canonical_json(self.content()))

    def signed(self, identity: SigningIdentity) -> JobHeader:
        """This header signed by ``identity`` (which must be the header's client key)."""
        from dataclasses import replace

        if identity.key_id != self.client_key().key_id:
            raise InputError(
                "the signing identity is not the header's client key", field="identity"
            )
        return replace(self, client_signature=identity.sign(self.signing_input()))

    def verify_signature(self) -> PublicKeyRecord:
        """Check the client's signature over the header; returns the client key record.

        Steps: 1. the client key record parses and is of kind client; 2. the regulator key id
        and audit id are well formed; 3. the Ed25519 signature verifies over
        :meth:`signing_input` (BadSignatureError otherwise).
        """
        from cryptography.exceptions import InvalidSignature

        from regaudit.shared.errors import BadSignatureError
        from regaudit.shared.evidence.canonical import is_hex64

        # 1. client key
        record = self.client_key()
        # 2. identifiers
        if not is_hex64(self.regulator_key_id):
            raise InputError("must be 64 lowercase hex characters", field="regulator_key_id")
        if not 0 < len(self.audit_id) <= MAX_AUDIT_ID_CHARS:
            raise InputError(
                f"audit id must have 1..{MAX_AUDIT_ID_CHARS} characters", field="audit_id"
            )
        # 3. signature
        try:
            record.public_key.verify(self.client_signature, self.signing_input())
        except InvalidSignature as exc:
            raise BadSignatureError(
                "the job header's client signature does not verify", field="client_signature"
            ) from exc
        return record

    def to_proto(self) -> pb.JobHeader:
        return pb.JobHeader(
            circuit_id=self.circuit_id,
            circuit_version=self.circuit_version,
            profile_name=self.profile_name,
            profile_hash=self.profile_hash,
            evaluation_keys_digest=self.evaluation_keys_digest,
            public_inputs_json=self.public_inputs_json,
            rows=self.rows,
            idempotency_key=self.idempotency_key,
            canary_seed=self.canary_seed,
            input_level=self.input_level,
            n_chunks=self.n_chunks,
            columns=list(self.columns),
            audit_id=self.audit_id,
            client_public_key_json=self.client_public_key_json,
            regulator_key_id=self.regulator_key_id,
            client_signature=self.client_signature,
        )

    @classmethod
    def from_proto(cls, message: pb.JobHeader) -> JobHeader:
        """Parse a header; raises InputError naming the field for malformed values.

        Steps: 1. sizes within limits; 2. public inputs are a canonical JSON object;
        3. canary seed length; 4. identifiers present.
        """
        from regaudit.shared.evidence.canonical import canonical_json, strict_json_loads

        # 1. sizes
        if len(message.public_inputs_json) > MAX_PUBLIC_INPUTS_BYTES:
            raise InputError(
                f"public inputs exceed {MAX_PUBLIC_INPUTS_BYTES} bytes", field="public_inputs_json"
            )
        if len(message.columns) > MAX_COLUMNS:
            raise InputError(f"more than {MAX_COLUMNS} columns", field="columns")
        if not message.idempotency_key or len(message.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InputError(
                f"idempotency key must have 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters",
                field="idempotency_key",
            )
        # 2. public inputs
        public = strict_json_loads(
            message.public_inputs_json, what="public_inputs_json", error=InputError
        )
        if not isinstance(public, dict):
            raise InputError("public inputs must be a JSON object", field="public_inputs_json")
        if canonical_json(public) != message.public_inputs_json:
            raise InputError(
                "public inputs are not RFC 8785 canonical JSON", field="public_inputs_json"
            )
        # 3. canary seed
        if len(message.canary_seed) != CANARY_SEED_BYTES:
            raise InputError(f"canary seed must be {CANARY_SEED_BYTES} bytes", field="canary_seed")
        # 4. identifiers
        if len(message.client_public_key_json) > MAX_PUBLIC_KEY_JSON_BYTES:
            raise InputError(
                f"client key record exceeds {MAX_PUBLIC_KEY_JSON_BYTES} bytes",
                field="client_public_key_json",
            )
        for name in (
            "circuit_id",
            "circuit_version",
            "profile_name",
            "evaluation_keys_digest",
            "audit_id",
            "client_public_key_json",
            "regulator_key_id",
            "client_signature",
        ):
            if not getattr(message, name):
                raise InputError("missing", field=name)
        return cls(
            circuit_id=message.circuit_id,
            circuit_version=message.circuit_version,
            profile_name=message.profile_name,
            profile_hash=message.profile_hash,
            evaluation_keys_digest=message.evaluation_keys_digest,
            public_inputs=public,
            rows=int(message.rows),
            idempotency_key=message.idempotency_key,
            canary_seed=bytes(message.canary_seed),
            input_level=int(message.input_level),
            n_chunks=int(message.n_chunks),
            columns=tuple(message.columns),
            audit_id=message.audit_id,
            client_public_key_json=bytes(message.client_public_key_json),
            regulator_key_id=message.regulator_key_id,
            client_signature=bytes(message.client_signature),
        )


@dataclass(frozen=True)
class JobAccepted:
    job_id: str
    state: JobState
    deduplicated: bool

    @classmethod
    def from_proto(cls, message: pb.JobAccepted) -> JobAccepted:
        return cls(message.job_id, JobState.from_proto(message.state), message.deduplicated)


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    state: JobState
    chunks_received: int
    chunks_evaluated: int
    n_chunks: int
    message: str = ""
    error_reason: str = ""

    def to_proto(self) -> pb.JobProgress:
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


def profile_info(profile: Any) -> ProfileInfo:
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


# --- TLS options ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsOptions:
    """PEM material for TLS. Server: ``certificate_chain`` + ``private_key`` (and
    ``root_certificates`` to require client certificates = mutual TLS). Client:
    ``root_certificates`` to trust (and a certificate chain + key for mutual TLS)."""

    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    root_certificates: bytes | None = None
    require_client_auth: bool = False
    #: client only: expected server name if it differs from the address host
    server_name_override: str | None = None


# --- rich errors ------------------------------------------------------------------------------


def default_status_code(error: RegauditError) -> grpc.StatusCode:
    """The status ``error``'s class declares (``grpc_status``, a ``grpc.StatusCode`` name)."""
    return cast(grpc.StatusCode, grpc.StatusCode[type(error).grpc_status])


def error_status(
    error: RegauditError,
    *,
    code: grpc.StatusCode | None = None,
    violations: Sequence[tuple[str, str]] = (),
) -> grpc.Status:
    """A ``grpc.Status`` (for ``context.abort_with_status``) carrying ErrorInfo and BadRequest;
    the code is the error class's ``grpc_status`` unless ``code`` overrides it."""
    code = code or default_status_code(error)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason,
        domain=ERROR_DOMAIN,
        metadata={
            "error_class": type(error).__name__,
            **({"field": error.field} if error.field else {}),
        },
    )
    details = [info]
    all_violations = list(violations)
    if error.field and not any(f == error.field for f, _ in all_violations):
        all_violations.insert(0, (error.field, error.message))
    packed: list[any_pb2.Any] = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    if all_violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in all_violations
            ]
        )
        item = any_pb2.Any()
        item.Pack(bad)
        packed.append(item)
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=str(error)[:1024], details=packed
    )
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class RemoteErrorInfo:
    """What the client learns from a failed call."""

    code: grpc.StatusCode
    message: str
    reason: str | None
    error_class: str | None
    field: str | None
    violations: tuple[tuple[str, str], ...]


def remote_error_info(exc: grpc.RpcError) -> RemoteErrorInfo:
    """Decode the status details of a failed call (tolerates calls without details)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = exc.details() if hasattr(exc, "details") else str(exc)
    reason = error_class = error_field = None
    violations: list[tuple[str, str]] = []
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN:
                    reason = info.reason
                    error_class = info.metadata.get("error_class")
                    error_field = info.metadata.get("field")
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend((v.field, v.description) for v in bad.field_violations)
    return RemoteErrorInfo(
        code=code,
        message=message or "",
        reason=reason,
        error_class=error_class,
        field=error_field,
        violations=tuple(violations),
    )


def error_from_rpc(exc: grpc.RpcError) -> RegauditError:
    """The regaudit error a failed call stands for, rebuilt from its reason through
    :data:`regaudit.shared.errors.REASONS` (the ``error_class`` the server names is not
    trusted to pick a class). A reason not registered in this process, a call without regaudit
    details, or the base class's reason ``error`` (an internal error on the evaluator) becomes
    a :class:`~regaudit.shared.errors.RemoteError` keeping the remote reason string.

    The error's ``grpc_code`` is the status code name and ``violations`` the BadRequest field
    violations."""
    info = remote_error_info(exc)
    message = f"evaluator: {info.code.name}: {info.message}"
    cls = REASONS.get(info.reason) if info.reason else None
    error: RegauditError
    if cls is None or cls is RegauditError:
        error = RemoteError(
            message, field=info.field, code=info.code.name, remote_reason=info.reason
        )
    else:
        error = cls(message, field=info.field)
    return error.from_remote(grpc_code=info.code.name, violations=info.violations)


def opcounts_from_dict(data: Mapping[str, Any]) -> Any:
    """Rebuild an :class:`regaudit.shared.algebra.OpCounts` from ``OpCounts.to_dict()``."""
    from regaudit.shared.algebra import OpCounts

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
