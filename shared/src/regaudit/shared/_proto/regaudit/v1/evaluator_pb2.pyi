from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RECEIVING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RECEIVING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProfileInfo(_message.Message):
    __slots__ = ("name", "profile_hash", "poly_modulus_degree", "coeff_modulus_bits", "scale_bits", "max_depth", "slot_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_HASH_FIELD_NUMBER: _ClassVar[int]
    POLY_MODULUS_DEGREE_FIELD_NUMBER: _ClassVar[int]
    COEFF_MODULUS_BITS_FIELD_NUMBER: _ClassVar[int]
    SCALE_BITS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SLOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile_hash: str
    poly_modulus_degree: int
    coeff_modulus_bits: _containers.RepeatedScalarFieldContainer[int]
    scale_bits: int
    max_depth: int
    slot_count: int
    def __init__(self, name: _Optional[str] = ..., profile_hash: _Optional[str] = ..., poly_modulus_degree: _Optional[int] = ..., coeff_modulus_bits: _Optional[_Iterable[int]] = ..., scale_bits: _Optional[int] = ..., max_depth: _Optional[int] = ..., slot_count: _Optional[int] = ...) -> None: ...

class CircuitInfo(_message.Message):
    __slots__ = ("circuit_id", "version")
    CIRCUIT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    circuit_id: str
    version: str
    def __init__(self, circuit_id: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("chunk_bytes", "max_message_bytes", "max_ciphertext_bytes", "max_evaluation_key_bytes", "max_job_ciphertexts", "max_public_inputs_bytes", "max_rows")
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CIPHERTEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_EVALUATION_KEY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_JOB_CIPHERTEXTS_FIELD_NUMBER: _ClassVar[int]
    MAX_PUBLIC_INPUTS_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    chunk_bytes: int
    max_message_bytes: int
    max_ciphertext_bytes: int
    max_evaluation_key_bytes: int
    max_job_ciphertexts: int
    max_public_inputs_bytes: int
    max_rows: int
    def __init__(self, chunk_bytes: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_ciphertext_bytes: _Optional[int] = ..., max_evaluation_key_bytes: _Optional[int] = ..., max_job_ciphertexts: _Optional[int] = ..., max_public_inputs_bytes: _Optional[int] = ..., max_rows: _Optional[int] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("protocol_version", "profiles", "circuits", "limits", "evaluator_public_key_json", "server_version")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    EVALUATOR_PUBLIC_KEY_JSON_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    profiles: _containers.RepeatedCompositeFieldContainer[ProfileInfo]
    circuits: _containers.RepeatedCompositeFieldContainer[CircuitInfo]
    limits: Limits
    evaluator_public_key_json: bytes
    server_version: str
    def __init__(self, protocol_version: _Optional[str] = ..., profiles: _Optional[_Iterable[_Union[ProfileInfo, _Mapping]]] = ..., circuits: _Optional[_Iterable[_Union[CircuitInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., evaluator_public_key_json: _Optional[bytes] = ..., server_version: _Optional[str] = ...) -> None: ...

class EvaluationKeysHeader(_message.Message):
    __slots__ = ("profile_name", "digest", "galois_steps", "relin_size", "galois_size")
    PROFILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    GALOIS_STEPS_FIELD_NUMBER: _ClassVar[int]
    RELIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    GALOIS_SIZE_FIELD_NUMBER: _ClassVar[int]
    profile_name: str
    digest: str
    galois_steps: _containers.RepeatedScalarFieldContainer[int]
    relin_size: int
    galois_size: int
    def __init__(self, profile_name: _Optional[str] = ..., digest: _Optional[str] = ..., galois_steps: _Optional[_Iterable[int]] = ..., relin_size: _Optional[int] = ..., galois_size: _Optional[int] = ...) -> None: ...

class BytesPiece(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class UploadEvaluationKeysRequest(_message.Message):
    __slots__ = ("header", "piece")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    header: EvaluationKeysHeader
    piece: BytesPiece
    def __init__(self, header: _Optional[_Union[EvaluationKeysHeader, _Mapping]] = ..., piece: _Optional[_Union[BytesPiece, _Mapping]] = ...) -> None: ...

class UploadEvaluationKeysResponse(_message.Message):
    __slots__ = ("digest", "already_present")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    digest: str
    already_present: bool
    def __init__(self, digest: _Optional[str] = ..., already_present: _Optional[bool] = ...) -> None: ...

class HasEvaluationKeysRequest(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: str
    def __init__(self, digest: _Optional[str] = ...) -> None: ...

class HasEvaluationKeysResponse(_message.Message):
    __slots__ = ("present", "profile_name", "galois_steps")
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_NAME_FIELD_NUMBER: _ClassVar[int]
    GALOIS_STEPS_FIELD_NUMBER: _ClassVar[int]
    present: bool
    profile_name: str
    galois_steps: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, present: _Optional[bool] = ..., profile_name: _Optional[str] = ..., galois_steps: _Optional[_Iterable[int]] = ...) -> None: ...

class JobHeader(_message.Message):
    __slots__ = ("circuit_id", "circuit_version", "profile_name", "profile_hash", "evaluation_keys_digest", "public_inputs_json", "rows", "idempotency_key", "canary_seed", "input_level", "n_chunks", "columns", "audit_id", "client_public_key_json", "regulator_key_id", "client_signature", "witness_sample", "commit_partials")
    CIRCUIT_ID_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_HASH_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_KEYS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CANARY_SEED_FIELD_NUMBER: _ClassVar[int]
    INPUT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    N_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PUBLIC_KEY_JSON_FIELD_NUMBER: _ClassVar[int]
    REGULATOR_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    WITNESS_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_PARTIALS_FIELD_NUMBER: _ClassVar[int]
    circuit_id: str
    circuit_version: str
    profile_name: str
    profile_hash: str
    evaluation_keys_digest: str
    public_inputs_json: bytes
    rows: int
    idempotency_key: str
    canary_seed: bytes
    input_level: int
    n_chunks: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    audit_id: str
    client_public_key_json: bytes
    regulator_key_id: str
    client_signature: bytes
    witness_sample: WitnessSample
    commit_partials: bool
    def __init__(self, circuit_id: _Optional[str] = ..., circuit_version: _Optional[str] = ..., profile_name: _Optional[str] = ..., profile_hash: _Optional[str] = ..., evaluation_keys_digest: _Optional[str] = ..., public_inputs_json: _Optional[bytes] = ..., rows: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., canary_seed: _Optional[bytes] = ..., input_level: _Optional[int] = ..., n_chunks: _Optional[int] = ..., columns: _Optional[_Iterable[str]] = ..., audit_id: _Optional[str] = ..., client_public_key_json: _Optional[bytes] = ..., regulator_key_id: _Optional[str] = ..., client_signature: _Optional[bytes] = ..., witness_sample: _Optional[_Union[WitnessSample, _Mapping]] = ..., commit_partials: _Optional[bool] = ...) -> None: ...

class WitnessSample(_message.Message):
    __slots__ = ("primary_receipt_digest", "nonce", "chunks")
    PRIMARY_RECEIPT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    primary_receipt_digest: str
    nonce: bytes
    chunks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, primary_receipt_digest: _Optional[str] = ..., nonce: _Optional[bytes] = ..., chunks: _Optional[_Iterable[int]] = ...) -> None: ...

class CiphertextPiece(_message.Message):
    __slots__ = ("column", "chunk", "offset", "total_size", "data")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    column: str
    chunk: int
    offset: int
    total_size: int
    data: bytes
    def __init__(self, column: _Optional[str] = ..., chunk: _Optional[int] = ..., offset: _Optional[int] = ..., total_size: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("header", "piece")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    header: JobHeader
    piece: CiphertextPiece
    def __init__(self, header: _Optional[_Union[JobHeader, _Mapping]] = ..., piece: _Optional[_Union[CiphertextPiece, _Mapping]] = ...) -> None: ...

class JobAccepted(_message.Message):
    __slots__ = ("job_id", "state", "deduplicated")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    deduplicated: bool
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class GetUploadStateRequest(_message.Message):
    __slots__ = ("idempotency_key",)
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    def __init__(self, idempotency_key: _Optional[str] = ...) -> None: ...

class UploadState(_message.Message):
    __slots__ = ("found", "job_id", "state", "header_digest", "ciphertexts_held", "resumable", "held_digests")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEADER_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTS_HELD_FIELD_NUMBER: _ClassVar[int]
    RESUMABLE_FIELD_NUMBER: _ClassVar[int]
    HELD_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    found: bool
    job_id: str
    state: JobState
    header_digest: str
    ciphertexts_held: int
    resumable: bool
    held_digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, found: _Optional[bool] = ..., job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., header_digest: _Optional[str] = ..., ciphertexts_held: _Optional[int] = ..., resumable: _Optional[bool] = ..., held_digests: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job_id", "state", "chunks_received", "chunks_evaluated", "n_chunks", "message", "error_reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_EVALUATED_FIELD_NUMBER: _ClassVar[int]
    N_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    chunks_received: int
    chunks_evaluated: int
    n_chunks: int
    message: str
    error_reason: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., chunks_received: _Optional[int] = ..., chunks_evaluated: _Optional[int] = ..., n_chunks: _Optional[int] = ..., message: _Optional[str] = ..., error_reason: _Optional[str] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ResultHeader(_message.Message):
    __slots__ = ("job_id", "receipt_envelope_json", "output_sizes", "canary_size", "partial_digests")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_ENVELOPE_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SIZES_FIELD_NUMBER: _ClassVar[int]
    CANARY_SIZE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    receipt_envelope_json: bytes
    output_sizes: _containers.RepeatedScalarFieldContainer[int]
    canary_size: int
    partial_digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., receipt_envelope_json: _Optional[bytes] = ..., output_sizes: _Optional[_Iterable[int]] = ..., canary_size: _Optional[int] = ..., partial_digests: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultPiece(_message.Message):
    __slots__ = ("name", "offset", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    data: bytes
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetResultResponse(_message.Message):
    __slots__ = ("header", "piece")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    header: ResultHeader
    piece: ResultPiece
    def __init__(self, header: _Optional[_Union[ResultHeader, _Mapping]] = ..., piece: _Optional[_Union[ResultPiece, _Mapping]] = ...) -> None: ...
