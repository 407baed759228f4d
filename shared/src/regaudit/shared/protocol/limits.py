"""Named constants of the wire protocol: service names, size limits, deadlines, gRPC channel
options, output names, and the input-byte bounds derived from a plan."""

from __future__ import annotations

from regaudit.shared.circuits.base import Plan
from regaudit.shared.profiles import ParameterProfile

PROTOCOL_VERSION = "regaudit.v1"
SERVICE_NAME = "regaudit.v1.Evaluator"

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
#: Most columns (ciphertexts per chunk) of a job: concordance uploads one per patient group
#: (1,013 at its 16,000-patient limit); equal to the submission statement's limit.
MAX_COLUMNS = 1024
MAX_IDEMPOTENCY_KEY_CHARS = 128
MAX_GALOIS_STEPS = 64
CANARY_SEED_BYTES = 32
MAX_AUDIT_ID_CHARS = 128
MAX_PUBLIC_KEY_JSON_BYTES = 4096

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


def max_seeded_ciphertext_bytes(profile: ParameterProfile, level: int) -> int:
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


__all__ = [
    "CANARY_OUTPUT_NAME",
    "CANARY_SEED_BYTES",
    "CHUNK_BYTES",
    "DEADLINE_RESULT_S",
    "DEADLINE_SUBMIT_S",
    "DEADLINE_UNARY_S",
    "DEADLINE_UPLOAD_KEYS_S",
    "DEADLINE_WATCH_S",
    "GRPC_OPTIONS",
    "MAX_AUDIT_ID_CHARS",
    "MAX_CIPHERTEXT_BYTES",
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
    "max_job_input_bytes",
    "max_seeded_ciphertext_bytes",
    "output_name",
]
