"""The wire protocol's shared half, used by the evaluator daemon and the client transport; it
never touches a secret key.

* :mod:`~regaudit.shared.protocol.limits` -- named limits, deadlines, gRPC options, output names;
* :mod:`~regaudit.shared.protocol.chunking` -- byte pieces and the upload order;
* :mod:`~regaudit.shared.protocol.job_header` -- the client-signed :class:`JobHeader`;
* :mod:`~regaudit.shared.protocol.messages` -- dataclasses mirroring the other ``regaudit.v1``
  messages, with their conversions;
* :mod:`~regaudit.shared.protocol.tls` -- :class:`TlsOptions`;
* :mod:`~regaudit.shared.protocol.authentication` -- signed requests (client key, time, nonce
  and signature in the call's metadata);
* :mod:`~regaudit.shared.protocol.status` -- regaudit errors <-> rich gRPC status
  (``google.rpc.Status`` with an ``ErrorInfo``: domain ``regaudit.dev``, reason = the error's
  stable ``reason``, metadata naming the error class and field; ``BadRequest`` field
  violations where a specific field is at fault).

Everything is re-exported here, together with the protocol-level error classes (defined in
:mod:`regaudit.shared.errors`), so callers import from ``regaudit.shared.protocol``.
"""

from regaudit.shared.errors import (
    ClientNotAllowedError,
    IdempotencyConflictError,
    JobFailedError,
    JobNotFinishedError,
    LimitExceededError,
    RemoteError,
    UnauthenticatedError,
    UnknownJobError,
)
from regaudit.shared.protocol.authentication import (
    MAX_CLOCK_SKEW_S,
    SignedRequest,
    method_path,
    request_metadata,
    verify_request,
    verify_request_metadata,
)
from regaudit.shared.protocol.chunking import split_bytes, upload_order
from regaudit.shared.protocol.job_header import JOB_HEADER_PAYLOAD_TYPE, JobHeader
from regaudit.shared.protocol.limits import (
    CANARY_OUTPUT_NAME,
    CANARY_SEED_BYTES,
    CHUNK_BYTES,
    DEADLINE_RESULT_S,
    DEADLINE_SUBMIT_S,
    DEADLINE_UNARY_S,
    DEADLINE_UPLOAD_KEYS_S,
    DEADLINE_WATCH_S,
    GRPC_OPTIONS,
    MAX_AUDIT_ID_CHARS,
    MAX_CIPHERTEXT_BYTES,
    MAX_COLUMNS,
    MAX_EVALUATION_KEY_BYTES,
    MAX_GALOIS_STEPS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_JOB_BYTES,
    MAX_JOB_CIPHERTEXTS,
    MAX_MESSAGE_BYTES,
    MAX_PUBLIC_INPUTS_BYTES,
    MAX_PUBLIC_KEY_JSON_BYTES,
    MIB,
    OUTPUT_NAME_PREFIX,
    PROTOCOL_VERSION,
    SERVICE_NAME,
    SHUTDOWN_GRACE_S,
    max_job_input_bytes,
    max_seeded_ciphertext_bytes,
    output_name,
)
from regaudit.shared.protocol.messages import (
    Capabilities,
    JobAccepted,
    JobProgress,
    JobResult,
    JobState,
    Limits,
    ProfileInfo,
    capabilities_from_proto,
    capabilities_to_proto,
    opcounts_from_dict,
    profile_info,
)
from regaudit.shared.protocol.status import (
    ERROR_DOMAIN,
    RemoteErrorInfo,
    default_status_code,
    error_from_rpc,
    error_status,
    remote_error_info,
)
from regaudit.shared.protocol.tls import TlsOptions

__all__ = [
    "CANARY_OUTPUT_NAME",
    "CANARY_SEED_BYTES",
    "CHUNK_BYTES",
    "DEADLINE_RESULT_S",
    "DEADLINE_SUBMIT_S",
    "DEADLINE_UNARY_S",
    "DEADLINE_UPLOAD_KEYS_S",
    "DEADLINE_WATCH_S",
    "ERROR_DOMAIN",
    "GRPC_OPTIONS",
    "JOB_HEADER_PAYLOAD_TYPE",
    "MAX_AUDIT_ID_CHARS",
    "MAX_CIPHERTEXT_BYTES",
    "MAX_CLOCK_SKEW_S",
    "MAX_COLUMNS",
    "MAX_EVALUATION_KEY_BYTES",
    "MAX_GALOIS_STEPS",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_JOB_BYTES",
    "MAX_JOB_CIPHERTEXTS",
    "MAX_MESSAGE_BYTES",
    "MAX_PUBLIC_INPUTS_BYTES",
    "MAX_PUBLIC_KEY_JSON_BYTES",
    "MIB",
    "OUTPUT_NAME_PREFIX",
    "PROTOCOL_VERSION",
    "SERVICE_NAME",
    "SHUTDOWN_GRACE_S",
    "Capabilities",
    "ClientNotAllowedError",
    "IdempotencyConflictError",
    "JobAccepted",
    "JobFailedError",
    "JobHeader",
    "JobNotFinishedError",
    "JobProgress",
    "JobResult",
    "JobState",
    "LimitExceededError",
    "Limits",
    "ProfileInfo",
    "RemoteError",
    "RemoteErrorInfo",
    "SignedRequest",
    "TlsOptions",
    "UnauthenticatedError",
    "UnknownJobError",
    "capabilities_from_proto",
    "capabilities_to_proto",
    "default_status_code",
    "error_from_rpc",
    "error_status",
    "max_job_input_bytes",
    "max_seeded_ciphertext_bytes",
    "method_path",
    "opcounts_from_dict",
    "output_name",
    "profile_info",
    "remote_error_info",
    "request_metadata",
    "split_bytes",
    "upload_order",
    "verify_request",
    "verify_request_metadata",
]
