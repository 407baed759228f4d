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
    ClientNotAllowedError as ClientNotAllowedError,
)
from regaudit.shared.errors import (
    IdempotencyConflictError as IdempotencyConflictError,
)
from regaudit.shared.errors import (
    JobFailedError as JobFailedError,
)
from regaudit.shared.errors import (
    JobNotFinishedError as JobNotFinishedError,
)
from regaudit.shared.errors import (
    LimitExceededError as LimitExceededError,
)
from regaudit.shared.errors import (
    RemoteError as RemoteError,
)
from regaudit.shared.errors import (
    UnauthenticatedError as UnauthenticatedError,
)
from regaudit.shared.errors import (
    UnknownJobError as UnknownJobError,
)
from regaudit.shared.protocol import (
    authentication,
    chunking,
    job_header,
    limits,
    messages,
    status,
    tls,
    witness_sample,
)
from regaudit.shared.protocol.authentication import (
    AUTH_HEADERS as AUTH_HEADERS,
)
from regaudit.shared.protocol.authentication import (
    CLIENT_KEY_HEADER as CLIENT_KEY_HEADER,
)
from regaudit.shared.protocol.authentication import (
    MAX_AUTH_HEADER_CHARS as MAX_AUTH_HEADER_CHARS,
)
from regaudit.shared.protocol.authentication import (
    MAX_CLOCK_SKEW_S as MAX_CLOCK_SKEW_S,
)
from regaudit.shared.protocol.authentication import (
    NONCE_BYTES as NONCE_BYTES,
)
from regaudit.shared.protocol.authentication import (
    NONCE_HEADER as NONCE_HEADER,
)
from regaudit.shared.protocol.authentication import (
    REQUEST_PURPOSE as REQUEST_PURPOSE,
)
from regaudit.shared.protocol.authentication import (
    SIGNATURE_HEADER as SIGNATURE_HEADER,
)
from regaudit.shared.protocol.authentication import (
    TIME_HEADER as TIME_HEADER,
)
from regaudit.shared.protocol.authentication import (
    SignedRequest as SignedRequest,
)
from regaudit.shared.protocol.authentication import (
    method_path as method_path,
)
from regaudit.shared.protocol.authentication import (
    request_metadata as request_metadata,
)
from regaudit.shared.protocol.authentication import (
    request_payload as request_payload,
)
from regaudit.shared.protocol.authentication import (
    verify_request as verify_request,
)
from regaudit.shared.protocol.authentication import (
    verify_request_metadata as verify_request_metadata,
)
from regaudit.shared.protocol.chunking import (
    split_bytes as split_bytes,
)
from regaudit.shared.protocol.chunking import (
    upload_order as upload_order,
)
from regaudit.shared.protocol.job_header import (
    JOB_HEADER_PAYLOAD_TYPE as JOB_HEADER_PAYLOAD_TYPE,
)
from regaudit.shared.protocol.job_header import (
    JobHeader as JobHeader,
)
from regaudit.shared.protocol.limits import (
    CANARY_OUTPUT_NAME as CANARY_OUTPUT_NAME,
)
from regaudit.shared.protocol.limits import (
    CANARY_SEED_BYTES as CANARY_SEED_BYTES,
)
from regaudit.shared.protocol.limits import (
    CHUNK_BYTES as CHUNK_BYTES,
)
from regaudit.shared.protocol.limits import (
    DEADLINE_RESULT_S as DEADLINE_RESULT_S,
)
from regaudit.shared.protocol.limits import (
    DEADLINE_SUBMIT_S as DEADLINE_SUBMIT_S,
)
from regaudit.shared.protocol.limits import (
    DEADLINE_UNARY_S as DEADLINE_UNARY_S,
)
from regaudit.shared.protocol.limits import (
    DEADLINE_UPLOAD_KEYS_S as DEADLINE_UPLOAD_KEYS_S,
)
from regaudit.shared.protocol.limits import (
    DEADLINE_WATCH_S as DEADLINE_WATCH_S,
)
from regaudit.shared.protocol.limits import (
    GRPC_OPTIONS as GRPC_OPTIONS,
)
from regaudit.shared.protocol.limits import (
    MAX_AUDIT_ID_CHARS as MAX_AUDIT_ID_CHARS,
)
from regaudit.shared.protocol.limits import (
    MAX_CIPHERTEXT_BYTES as MAX_CIPHERTEXT_BYTES,
)
from regaudit.shared.protocol.limits import (
    MAX_COLUMNS as MAX_COLUMNS,
)
from regaudit.shared.protocol.limits import (
    MAX_EVALUATION_KEY_BYTES as MAX_EVALUATION_KEY_BYTES,
)
from regaudit.shared.protocol.limits import (
    MAX_GALOIS_STEPS as MAX_GALOIS_STEPS,
)
from regaudit.shared.protocol.limits import (
    MAX_IDEMPOTENCY_KEY_CHARS as MAX_IDEMPOTENCY_KEY_CHARS,
)
from regaudit.shared.protocol.limits import (
    MAX_JOB_BYTES as MAX_JOB_BYTES,
)
from regaudit.shared.protocol.limits import (
    MAX_JOB_CIPHERTEXTS as MAX_JOB_CIPHERTEXTS,
)
from regaudit.shared.protocol.limits import (
    MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES,
)
from regaudit.shared.protocol.limits import (
    MAX_PUBLIC_INPUTS_BYTES as MAX_PUBLIC_INPUTS_BYTES,
)
from regaudit.shared.protocol.limits import (
    MAX_PUBLIC_KEY_JSON_BYTES as MAX_PUBLIC_KEY_JSON_BYTES,
)
from regaudit.shared.protocol.limits import (
    MIB as MIB,
)
from regaudit.shared.protocol.limits import (
    OUTPUT_NAME_PREFIX as OUTPUT_NAME_PREFIX,
)
from regaudit.shared.protocol.limits import (
    PROTOCOL_VERSION as PROTOCOL_VERSION,
)
from regaudit.shared.protocol.limits import (
    SERVICE_NAME as SERVICE_NAME,
)
from regaudit.shared.protocol.limits import (
    SHUTDOWN_GRACE_S as SHUTDOWN_GRACE_S,
)
from regaudit.shared.protocol.limits import (
    max_job_input_bytes as max_job_input_bytes,
)
from regaudit.shared.protocol.limits import (
    max_seeded_ciphertext_bytes as max_seeded_ciphertext_bytes,
)
from regaudit.shared.protocol.limits import (
    output_name as output_name,
)
from regaudit.shared.protocol.messages import (
    Capabilities as Capabilities,
)
from regaudit.shared.protocol.messages import (
    JobAccepted as JobAccepted,
)
from regaudit.shared.protocol.messages import (
    JobProgress as JobProgress,
)
from regaudit.shared.protocol.messages import (
    JobResult as JobResult,
)
from regaudit.shared.protocol.messages import (
    JobState as JobState,
)
from regaudit.shared.protocol.messages import (
    Limits as Limits,
)
from regaudit.shared.protocol.messages import (
    ProfileInfo as ProfileInfo,
)
from regaudit.shared.protocol.messages import (
    capabilities_from_proto as capabilities_from_proto,
)
from regaudit.shared.protocol.messages import (
    capabilities_to_proto as capabilities_to_proto,
)
from regaudit.shared.protocol.messages import (
    opcounts_from_dict as opcounts_from_dict,
)
from regaudit.shared.protocol.messages import (
    profile_info as profile_info,
)
from regaudit.shared.protocol.status import (
    ERROR_DOMAIN as ERROR_DOMAIN,
)
from regaudit.shared.protocol.status import (
    RemoteErrorInfo as RemoteErrorInfo,
)
from regaudit.shared.protocol.status import (
    default_status_code as default_status_code,
)
from regaudit.shared.protocol.status import (
    error_from_rpc as error_from_rpc,
)
from regaudit.shared.protocol.status import (
    error_status as error_status,
)
from regaudit.shared.protocol.status import (
    remote_error_info as remote_error_info,
)
from regaudit.shared.protocol.tls import (
    TlsOptions as TlsOptions,
)
from regaudit.shared.protocol.witness_sample import (
    WitnessSample as WitnessSample,
)

#: The protocol-level error classes re-exported here (defined in regaudit.shared.errors).
_ERRORS = [
    "ClientNotAllowedError",
    "IdempotencyConflictError",
    "JobFailedError",
    "JobNotFinishedError",
    "LimitExceededError",
    "RemoteError",
    "UnauthenticatedError",
    "UnknownJobError",
]
__all__ = sorted(
    {
        *_ERRORS,
        *authentication.__all__,
        *chunking.__all__,
        *job_header.__all__,
        *limits.__all__,
        *messages.__all__,
        *status.__all__,
        *tls.__all__,
        *witness_sample.__all__,
    }
)
