"""The regaudit error hierarchy: every error raised on purpose derives from RegauditError.

Kept whole on purpose although long: it is the one registry of reasons, so every class with
its reason, exit code and gRPC status stays in one place, read and checked (one class per
reason) as one table.

Every class declares three facts, once:

* ``reason`` -- a stable snake_case string (CLI output, the regulator's ``--json``, gRPC
  ``ErrorInfo.reason``, job failure records, logs). Each reason belongs to exactly one class:
  :data:`REASONS` maps it to that class, filled as the classes are defined (a second class
  declaring a taken reason is a ``TypeError`` at import time).
* ``exit_code`` -- what a command line exits with (read through :func:`exit_code_for`):
  ``2`` bad input or usage, ``1`` a verification failed, ``3`` the evaluator is unreachable,
  broke the protocol or failed the job (only the client talks to another party, so only the
  client can exit 3).
* ``grpc_status`` -- the name of the ``grpc.StatusCode`` the evaluator answers with (a plain
  string, so this module needs no gRPC; :func:`regaudit.shared.protocol.error_status` turns it
  into the status, :func:`regaudit.shared.protocol.error_from_rpc` turns a status back into the
  class through :data:`REASONS`).

The hierarchy (reason, exit code, gRPC status)::

    RegauditError                         error                  2  INTERNAL
    ├── InputError                        invalid_input          2  INVALID_ARGUMENT
    ├── ProfileError                      wrong_parameter_set    2  INVALID_ARGUMENT
    │   └── WrongParameterSetError        (inherited)            1  INTERNAL       [1]
    ├── CiphertextError                   invalid_ciphertext     2  INVALID_ARGUMENT
    ├── KeyMaterialError                  invalid_key_material   2  FAILED_PRECONDITION
    ├── DepthExceededError                depth_exceeded         2  FAILED_PRECONDITION
    ├── CircuitError                      invalid_circuit        2  INVALID_ARGUMENT
    │   └── UnsupportedCircuitIdError     unsupported_circuit    2  INVALID_ARGUMENT
    │       └── UnsupportedCircuitError   (inherited)            1  INTERNAL       [1]
    ├── PrimitiveRegistryError            primitive_registry     2  INTERNAL
    ├── IdentityError                     invalid_identity       2  INTERNAL
    ├── CustodyViolationError             custody_violation      2  INTERNAL
    ├── InternalError                     internal_error         2  INTERNAL
    ├── SeedIncompatibleError             seed_incompatible      2  INTERNAL
    ├── PrivacyBudgetExceededError        privacy_budget_exceeded  2  RESOURCE_EXHAUSTED
    ├── ProtocolError                     protocol_error         3  INVALID_ARGUMENT
    │   ├── UnknownJobError               unknown_job            3  NOT_FOUND
    │   │   └── ResultExpiredError        result_expired         3  NOT_FOUND
    │   ├── JobNotFinishedError           job_not_finished       3  FAILED_PRECONDITION
    │   ├── JobFailedError                job_failed             3  FAILED_PRECONDITION
    │   ├── IdempotencyConflictError      idempotency_conflict   3  ALREADY_EXISTS
    │   ├── LimitExceededError            limit_exceeded         3  RESOURCE_EXHAUSTED
    │   ├── UnauthenticatedError          unauthenticated        3  UNAUTHENTICATED
    │   ├── ClientNotAllowedError         client_not_allowed     3  PERMISSION_DENIED
    │   ├── StreamStalledError            stream_stalled         3  DEADLINE_EXCEEDED
    │   └── RemoteError                   (the remote reason)    3  INVALID_ARGUMENT  [2]
    ├── DiskFullError                     disk_full              3  RESOURCE_EXHAUSTED
    ├── ServerBusyError                   server_busy            3  RESOURCE_EXHAUSTED
    ├── QuotaExceededError                quota_exceeded         3  RESOURCE_EXHAUSTED
    ├── RateLimitedError                  rate_limited           3  RESOURCE_EXHAUSTED
    └── VerificationError                 verification_failed    1  INTERNAL
        ├── BundleFormatError             malformed_bundle       1  INTERNAL
        ├── UntrustedIssuerError          untrusted_issuer       1  INTERNAL
        ├── RevokedKeyError               revoked_key            1  INTERNAL
        ├── BadSignatureError             bad_signature          1  INTERNAL
        ├── DigestMismatchError           digest_mismatch        1  INTERNAL
        ├── WrongParameterSetError        (see ProfileError)                       [1]
        ├── UnsupportedCircuitError       (see UnsupportedCircuitIdError)          [1]
        ├── WrongRegulatorKeyError        wrong_regulator_key    1  INTERNAL
        ├── KeyMismatchError              key_mismatch           1  INTERNAL
        ├── StaleEvidenceError            stale                  1  INTERNAL
        ├── ReplayError                   replay                 1  INTERNAL
        ├── NoiseBoundError               noise_bound_exceeded   1  INTERNAL
        ├── SignColumnError               inconsistent_sign_column  1  INTERNAL
        ├── EvaluatorOutputMismatchError  evaluator_output_mismatch 1  INTERNAL
        ├── WitnessDisagreementError      witness_disagreement   1  INTERNAL
        ├── MissingWitnessError           missing_witness        1  INTERNAL
        ├── WitnessIncomparableError      witness_incomparable   1  INTERNAL
        ├── WitnessNotIndependentError    witness_not_independent  1  INTERNAL
        ├── PartialsRootMismatchError     partials_root_mismatch 1  INTERNAL
        ├── WitnessSampleMismatchError    witness_sample_mismatch  1  INTERNAL
        ├── OpeningFormatError            malformed_opening      1  INTERNAL
        ├── OpeningProofError             opening_proof_invalid  1  INTERNAL
        ├── OpeningSignerMismatchError    opening_signer_mismatch  1  INTERNAL
        ├── OpeningAuditMismatchError     opening_audit_mismatch  1  INTERNAL
        ├── OpeningRowOutOfRangeError     opening_row_out_of_range  1  INTERNAL
        ├── OpeningDuplicateRowError      opening_duplicate_row  1  INTERNAL
        ├── RowCommitmentMissingError     row_commitment_missing  1  INTERNAL
        ├── MalformedFindingError         malformed_finding      1  INTERNAL
        ├── FindingSignatureInvalidError  finding_signature_invalid  1  INTERNAL
        ├── FindingUntrustedSignerError   finding_untrusted_signer  1  INTERNAL
        ├── FindingSubjectMismatchError   finding_subject_mismatch  1  INTERNAL
        ├── MalformedEvidencePackError    malformed_evidence_pack  1  INTERNAL
        └── EvidencePackMismatchError     evidence_pack_mismatch  1  INTERNAL

Role packages add their own classes, registered when their module is imported (the client's
in ``regaudit.client.remote``; the evaluator's in ``regaudit.evaluator.failures``,
``.retention``, ``.store_schema``, ``.checks``, ``.worker_keys``, ``.dask_executor`` and
``.dask_security``)::

    RegauditError
    ├── EvaluatorUnavailableError       evaluator_unavailable       3  INTERNAL   client
    │   ├── EvaluatorUnreachableError   evaluator_unreachable       3  UNAVAILABLE  client
    │   └── WitnessUnavailableError     witness_unavailable         3  INTERNAL   client.witness
    ├── StoreFailedError                store_failed                2  INTERNAL   failures
    ├── MissingExtraError               missing_extra     2  FAILED_PRECONDITION  shared.extras
    ├── DeletionFailedError             deletion_failed             2  INTERNAL   retention
    ├── StoreVersionUnsupportedError    store_version_unsupported   2  INTERNAL   store_schema
    ├── PlanMismatchError               plan_mismatch               2  INTERNAL   failures
    ├── WorkerOutputError               worker_output_invalid       2  INTERNAL   checks
    ├── KeysNotCachedError              evaluation_keys_not_cached  2  INTERNAL   worker_keys
    ├── DaskInsecureError               dask_scheduler_insecure     2  INTERNAL   dask_security
    ├── DaskUnavailableError            dask_unavailable            2  INTERNAL   dask_executor
    │   └── DaskWorkerMismatchError     (inherited)                 2  INTERNAL   dask_executor
    └── ProtocolError
        └── UploadIncompleteError       upload_incomplete     3  INVALID_ARGUMENT  failures

[1] One reason, two exit codes. ``wrong_parameter_set`` and ``unsupported_circuit`` are first
    input facts: the client, the evaluator and the planner reject an unknown or unfit profile or
    circuit as bad input (exit 2, ``INVALID_ARGUMENT``). The regulator finds the same fact in
    signed evidence, where it is a verification failure (exit 1), and
    ``except VerificationError`` must see it. So the verification class is a subclass of both
    the input class and :class:`VerificationError`: it inherits the reason (one class owns it in
    :data:`REASONS`) and only declares its own exit code and status. A remote error with this
    reason is rebuilt as the input class: the evaluator never verifies evidence.
[2] A failed call whose reason is not registered in this process (or that carried no regaudit
    details at all, e.g. ``UNAVAILABLE``) becomes a :class:`RemoteError` whose ``reason`` is the
    remote reason string (``protocol_error`` when there was none).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Self

#: Exit codes of every regaudit command line.
EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_USAGE = 2
EXIT_EVALUATOR_FAILED = 3
EXIT_CODES = frozenset({EXIT_VERIFICATION_FAILED, EXIT_USAGE, EXIT_EVALUATOR_FAILED})

#: Names of the gRPC status codes (``grpc.StatusCode`` member names) a class may declare.
GRPC_STATUS_NAMES = frozenset(
    {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)

_REASON_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_REASONS: dict[str, type[RegauditError]] = {}
#: reason -> the one class that declares it (read-only view; filled as classes are defined).
REASONS: Mapping[str, type[RegauditError]] = MappingProxyType(_REASONS)


def _register(cls: type[RegauditError]) -> None:
    """Check ``cls``'s declarations; record it in :data:`REASONS` if it declares a reason."""
    if cls.exit_code not in EXIT_CODES:
        raise TypeError(f"{cls.__qualname__}.exit_code {cls.exit_code!r} is not one of 1, 2, 3")
    if cls.grpc_status not in GRPC_STATUS_NAMES:
        raise TypeError(f"{cls.__qualname__}.grpc_status {cls.grpc_status!r} is not a status name")
    if "reason" not in cls.__dict__:
        return  # a variant: it inherits its parent's reason (see the module docstring)
    reason = cls.reason
    if not isinstance(reason, str) or not _REASON_PATTERN.fullmatch(reason):
        raise TypeError(f"{cls.__qualname__}.reason {reason!r} is not a snake_case string")
    owner = _REASONS.get(reason)
    if owner is not None and not _same_class(owner, cls):
        raise TypeError(
            f"reason {reason!r} of {cls.__module__}.{cls.__qualname__} already belongs to "
            f"{owner.__module__}.{owner.__qualname__}; one class per reason (a variant "
            "subclasses the owner and does not redefine the reason)"
        )
    _REASONS[reason] = cls


def _same_class(a: type, b: type) -> bool:
    # a module imported again (importlib.reload) defines its classes anew
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


#: numpy scalar reprs (``np.float64(0.5)``, ``np.int64(3)``, ``np.str_('a')``, ``np.True_``).
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|complex|str_|bytes_|bool_?)\d*\(([^()]*)\)")
_NUMPY_BOOL = re.compile(r"\bnp\.(True|False)_")


def plain_numbers(message: str) -> str:
    """``message`` with numpy scalar reprs written as plain values (``np.float64(0.5)`` ->
    ``0.5``): every error message is said in the user's terms, never numpy's."""
    if "np." not in message:
        return message
    return _NUMPY_BOOL.sub(r"\1", _NUMPY_SCALAR.sub(r"\1", message))


def exit_code_for(error: BaseException) -> int:
    """The exit code a command line stops with for ``error``: the class's ``exit_code`` for a
    regaudit error, 2 for anything else (a crash is never "accepted" nor "rejected")."""
    if isinstance(error, RegauditError):
        return error.exit_code
    return EXIT_USAGE


class RegauditError(Exception):
    """Base class of every error regaudit raises on purpose.

    Every subclass accepts ``(message, *, field=None)`` (so a remote error can be rebuilt from
    its reason) and declares ``reason``, ``exit_code`` and ``grpc_status``."""

    reason: str = "error"
    exit_code: int = EXIT_USAGE
    grpc_status: str = "INTERNAL"

    #: On an error rebuilt from a failed gRPC call (:meth:`from_remote`): the status code name
    #: and the BadRequest field violations the evaluator sent.
    grpc_code: str | None = None
    violations: tuple[tuple[str, str], ...] = ()
    #: Seconds the caller should wait before retrying (sent as a google.rpc.RetryInfo detail;
    #: on a rebuilt error, the delay the evaluator asked for); ``None``: no hint.
    retry_after_s: float | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    def __init__(self, message: str, *, field: str | None = None) -> None:
        message = plain_numbers(message)
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message

    def from_remote(self, *, grpc_code: str, violations: tuple[tuple[str, str], ...] = ()) -> Self:
        """Record that this error stands for a failed call (status code name, violations)."""
        self.grpc_code = grpc_code
        self.violations = tuple(violations)
        return self


_register(RegauditError)


# --- bad input (exit code 2) ------------------------------------------------------------------


class InputError(RegauditError):
    """An input value is malformed: wrong type, NaN/inf, non-binary label, length mismatch..."""

    reason = "invalid_input"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class ProfileError(RegauditError):
    """A parameter profile is unknown, insecure or does not fit the circuit."""

    reason = "wrong_parameter_set"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class CiphertextError(RegauditError):
    """A serialized CKKS object is malformed, oversized, invalid for the profile or at the
    wrong level."""

    reason = "invalid_ciphertext"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class DuplicateCiphertextError(CiphertextError):
    """A job's upload repeats a ciphertext it already sent: every input ciphertext is a fresh
    encryption (random seed), so two identical ones in one job are a replay."""

    reason = "duplicate_ciphertext"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class KeyMaterialError(RegauditError):
    """Evaluation keys or a secret key are malformed, missing steps, or invalid for the profile."""

    reason = "invalid_key_material"
    exit_code = EXIT_USAGE
    grpc_status = "FAILED_PRECONDITION"


class DepthExceededError(RegauditError):
    """A circuit tried to use more multiplicative levels than its plan or profile allows."""

    reason = "depth_exceeded"
    exit_code = EXIT_USAGE
    grpc_status = "FAILED_PRECONDITION"


class CircuitError(RegauditError):
    """A circuit id/version is unknown or its public inputs are invalid."""

    reason = "invalid_circuit"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class UnsupportedCircuitIdError(CircuitError):
    """The circuit id/version pair is not in the circuit registry (input error, exit code 2)."""

    reason = "unsupported_circuit"
    exit_code = EXIT_USAGE
    grpc_status = "INVALID_ARGUMENT"


class PrimitiveRegistryError(RegauditError):
    """An installed primitive plug-in (entry point ``regaudit.primitives``) is broken: it does
    not load, is not a descriptor, or claims a circuit another primitive registered."""

    reason = "primitive_registry"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class IdentityError(RegauditError):
    """An identity directory or key file is missing or malformed."""

    reason = "invalid_identity"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class CustodyViolationError(RegauditError):
    """Secret-key code (a ``regaudit.secretkey`` module) is loaded in a process that must be
    keyless: the evaluator daemon or one of its workers refuses to run."""

    reason = "custody_violation"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class InternalError(RegauditError):
    """Something that is neither bad input nor a verification failure broke (a bug); reported
    with exit code 2 so that a crash never looks like "accepted"."""

    reason = "internal_error"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class SeedIncompatibleError(RegauditError):
    """A result has no honest regaudit-fhe 0.1.0 form (``verify --seed-compatible``,
    :func:`regaudit.shared.seed_view.seed_compatible`): for example an indeterminate decision,
    which the seed's boolean cannot express. The full result is unaffected."""

    reason = "seed_incompatible"
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class PrivacyBudgetExceededError(RegauditError):
    """A differentially private release would spend more privacy loss (epsilon or delta) than
    the regulator's budget for the client and dataset allows, or no budget applies
    (:mod:`regaudit.regulator.privacy`). Nothing is released and nothing is charged. Not a
    failed verification of the evidence: the regulator's own limit (exit 2)."""

    reason = "privacy_budget_exceeded"
    exit_code = EXIT_USAGE
    grpc_status = "RESOURCE_EXHAUSTED"


# --- the other party (exit code 3) ------------------------------------------------------------


class ProtocolError(RegauditError):
    """The other party broke the wire protocol (unexpected message order, missing header...),
    is unreachable or failed the job. On the evaluator the other party is a client (the status
    says so); on the client it is the evaluator, hence exit code 3."""

    reason = "protocol_error"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INVALID_ARGUMENT"


class UnknownJobError(ProtocolError):
    """No job with this id exists on the evaluator (NOT_FOUND)."""

    reason = "unknown_job"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "NOT_FOUND"


class ResultExpiredError(UnknownJobError):
    """The job existed but retention has deleted it, its outputs and receipt (NOT_FOUND; the
    evaluator keeps a tombstone of the id). A subclass of UnknownJobError: the job is gone."""

    reason = "result_expired"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "NOT_FOUND"


class JobNotFinishedError(ProtocolError):
    """The job has not finished yet (FAILED_PRECONDITION)."""

    reason = "job_not_finished"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "FAILED_PRECONDITION"


class JobFailedError(ProtocolError):
    """The job failed on the evaluator; ``job_reason`` is the job's own failure reason (empty
    when the failure came as a status rather than from watching the job)."""

    reason = "job_failed"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, field: str | None = None, job_reason: str = "") -> None:
        super().__init__(message, field=field)
        self.job_reason = job_reason


class IdempotencyConflictError(ProtocolError):
    """The idempotency key already names a job with a different header (ALREADY_EXISTS)."""

    reason = "idempotency_conflict"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "ALREADY_EXISTS"


class LimitExceededError(ProtocolError):
    """A piece, object or count exceeds a named protocol limit (RESOURCE_EXHAUSTED)."""

    reason = "limit_exceeded"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "RESOURCE_EXHAUSTED"


class UnauthenticatedError(ProtocolError):
    """A call carried no valid request signature: missing, malformed, badly signed, outside the
    allowed clock skew or replayed (UNAUTHENTICATED)."""

    reason = "unauthenticated"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "UNAUTHENTICATED"


class ClientNotAllowedError(ProtocolError):
    """A correctly signed call from a client key the evaluator does not allow, or a job header
    signed by another key than the one that signed the call (PERMISSION_DENIED)."""

    reason = "client_not_allowed"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "PERMISSION_DENIED"


class RemoteError(ProtocolError):
    """A call failed on the evaluator with a reason this process does not know (or with no
    regaudit details at all). ``reason`` is the remote reason string, ``protocol_error`` when
    there was none; ``remote_reason`` is the remote string as sent (``None`` if absent) and
    ``code`` the status code name."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "",
        remote_reason: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.code = code
        self.remote_reason = remote_reason
        if remote_reason:
            self.reason = remote_reason


class StreamStalledError(ProtocolError):
    """A client-streaming call (a key upload, a job submission) sent no message for the
    evaluator's stall period (``--stream-stall-seconds``): the stream is aborted
    (DEADLINE_EXCEEDED) and its partial upload discarded."""

    reason = "stream_stalled"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "DEADLINE_EXCEEDED"


class ServerBusyError(RegauditError):
    """The evaluator already serves as many long streams (uploads, submissions, watches,
    results) as it allows (``--max-streams``): RESOURCE_EXHAUSTED with a retry delay
    (:attr:`retry_after_s`, a google.rpc.RetryInfo detail). Not the client's fault."""

    reason = "server_busy"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class QuotaExceededError(RegauditError):
    """A client identity (or the evaluator as a whole) is at one of its quotas: jobs that have
    not ended, upload bytes in flight, or stored bytes (``serve --max-jobs-per-client`` ...).
    RESOURCE_EXHAUSTED; ``field`` names the quota (its option, e.g. ``max_jobs_per_client``)
    and :attr:`retry_after_s` (a google.rpc.RetryInfo detail) is set when waiting can help."""

    reason = "quota_exceeded"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class RateLimitedError(RegauditError):
    """A client identity calls faster than its rate limit (``serve --submit-rate`` for key
    uploads and job submissions, ``--call-rate`` for every call): RESOURCE_EXHAUSTED with the
    time to its next token as :attr:`retry_after_s`; ``field`` names the limit."""

    reason = "rate_limited"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class DiskFullError(RegauditError):
    """The evaluator's disk (or the store's quota) is full: an upload, the evaluation keys, a
    partial or an output could not be stored (RESOURCE_EXHAUSTED: retry once space is freed).
    Not the client's fault, so no protocol error; on the client it exits 3 like every failure of
    the evaluator."""

    reason = "disk_full"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "RESOURCE_EXHAUSTED"


#: ``OSError.errno`` values that mean "no space left" (a full disk or an exhausted quota).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: SQLite's result code for a full database or disk (``sqlite3.Error.sqlite_errorcode``).
_SQLITE_FULL = 13


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk is full: an OSError with errno ENOSPC or EDQUOT, or
    SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(error, OSError):
        return error.errno in DISK_FULL_ERRNOS
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) == _SQLITE_FULL:
        return True
    return type(error).__module__ == "sqlite3" and "database or disk is full" in str(error)


# --- verification failures (exit code 1) ------------------------------------------------------


class VerificationError(RegauditError):
    """Evidence did not verify. Subclasses name the exact reason."""

    reason = "verification_failed"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class BundleFormatError(VerificationError):
    """The bundle is not a well-formed regaudit bundle."""

    reason = "malformed_bundle"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class UntrustedIssuerError(VerificationError):
    """A signer's key is not pinned or trusted."""

    reason = "untrusted_issuer"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class RevokedKeyError(VerificationError):
    """A signer's key was revoked before it signed."""

    reason = "revoked_key"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class BadSignatureError(VerificationError):
    """A signature does not verify."""

    reason = "bad_signature"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class DigestMismatchError(VerificationError):
    """A digest or bound value differs between two pieces of evidence."""

    reason = "digest_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class WrongParameterSetError(ProfileError, VerificationError):
    """The signed parameter set is not allowed or not the built-in profile of that name.

    A variant of :class:`ProfileError` (it inherits the reason ``wrong_parameter_set``) that is
    also a :class:`VerificationError`: see note [1] of the module docstring."""

    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class UnsupportedCircuitError(UnsupportedCircuitIdError, VerificationError):
    """The signed circuit is not allowed by the trust store or not registered.

    A variant of :class:`UnsupportedCircuitIdError` (it inherits the reason
    ``unsupported_circuit``) that is also a :class:`VerificationError`: see note [1] of the
    module docstring."""

    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class WrongRegulatorKeyError(VerificationError):
    """The sealed CKKS key cannot be opened with this regulator's key."""

    reason = "wrong_regulator_key"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class KeyMismatchError(VerificationError):
    """The unsealed CKKS key is not the one the evaluation keys were made from (canary failed)."""

    reason = "key_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class StaleEvidenceError(VerificationError):
    """Evidence is older than the trust store allows (or from the future)."""

    reason = "stale"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class ReplayError(VerificationError):
    """This audit was already verified (a replayed bundle)."""

    reason = "replay"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class NoiseBoundError(VerificationError):
    """A decrypted value is further from its expected form (an integer count, the canary) than
    CKKS noise can explain."""

    reason = "noise_bound_exceeded"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class SignColumnError(VerificationError):
    """Drift: the client's encrypted sign column contradicts its encrypted CDFs (the signed sum
    lies outside the interval the Chebyshev moments certify for W1)."""

    reason = "inconsistent_sign_column"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class EvaluatorOutputMismatchError(VerificationError):
    """An output the evaluator returned is not what the circuit computes on the client's own
    data (the client decrypted it and compared it with its plaintext oracle)."""

    reason = "evaluator_output_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


# --- witness evaluation (exit code 1): a second evaluator re-executed the job -----------------


class WitnessDisagreementError(VerificationError):
    """A witness evaluator's outputs differ from the primary's for the same job (same inputs,
    plan, profile and keys): one of the two computed wrongly."""

    reason = "witness_disagreement"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class MissingWitnessError(VerificationError):
    """Fewer witness receipts than the trust store's ``witnesses_required``."""

    reason = "missing_witness"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class WitnessIncomparableError(VerificationError):
    """A witness ran other CKKS library versions than the primary, not known to give
    byte-identical results: its outputs cannot be compared (no false alarm is raised)."""

    reason = "witness_incomparable"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class WitnessNotIndependentError(VerificationError):
    """A witness signs with the primary evaluator's key (or another witness's): it is not an
    independent re-execution."""

    reason = "witness_not_independent"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class PartialsRootMismatchError(VerificationError):
    """The per-chunk partial digests a bundle (or a job result) carries are not the list the
    primary's receipt commits to (their Merkle root or count differs)."""

    reason = "partials_root_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class WitnessSampleMismatchError(VerificationError):
    """A sampled witness re-executed other chunks than the sample derived from the primary's
    receipt digest and the client's nonce (or fewer than the audit's sample size)."""

    reason = "witness_sample_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


# --- row openings (exit code 1): the dispute workflow, regaudit-regulator check-opening -------


class OpeningFormatError(VerificationError):
    """A row opening (``regaudit-client open``) is not a well-formed signed opening document."""

    reason = "malformed_opening"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class OpeningProofError(VerificationError):
    """An opened row (values, salt, index) does not lead to the row-commitment root the client
    signed, with its inclusion proof (a tampered value, salt, index or proof)."""

    reason = "opening_proof_invalid"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class OpeningSignerMismatchError(VerificationError):
    """An opening is not signed by the client key that signed the bundle's submission."""

    reason = "opening_signer_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class OpeningAuditMismatchError(VerificationError):
    """An opening names another audit, another submission or another row commitment than the
    bundle it is checked against."""

    reason = "opening_audit_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class OpeningRowOutOfRangeError(VerificationError):
    """An opened row index is outside the committed table (0 .. rows-1)."""

    reason = "opening_row_out_of_range"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class OpeningDuplicateRowError(VerificationError):
    """An opening opens the same row twice."""

    reason = "opening_duplicate_row"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class RowCommitmentMissingError(VerificationError):
    """The bundle's submission commits to no rows (a v2 submission, made before row commitments):
    none of its rows can be opened."""

    reason = "row_commitment_missing"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


# --- signed findings (exit code 1): regaudit-regulator verify-report ---------------------------


class MalformedFindingError(VerificationError):
    """A signed finding is not a DSSE envelope carrying an in-toto Statement v1 of the finding
    predicate type whose predicate matches the finding schema."""

    reason = "malformed_finding"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class FindingSignatureInvalidError(VerificationError):
    """A signed finding's DSSE signature does not verify (a changed payload, payload type or
    signature, or no single signature)."""

    reason = "finding_signature_invalid"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class FindingUntrustedSignerError(VerificationError):
    """A signed finding is signed by a key the trust store does not trust as a regulator key,
    or by another key than the one its predicate names."""

    reason = "finding_untrusted_signer"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class FindingSubjectMismatchError(VerificationError):
    """A signed finding's subject digest is not the SHA-256 of the bundle it is checked
    against."""

    reason = "finding_subject_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class MalformedEvidencePackError(VerificationError):
    """An evidence pack's signed manifest (``pack.intoto.json``) is not a DSSE envelope carrying
    an in-toto Statement v1 of the evidence-pack predicate type, or its summary disagrees with
    it."""

    reason = "malformed_evidence_pack"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


class EvidencePackMismatchError(VerificationError):
    """A file of an evidence pack is not what the regulator signed: changed, missing, or not
    listed in the signed manifest."""

    reason = "evidence_pack_mismatch"
    exit_code = EXIT_VERIFICATION_FAILED
    grpc_status = "INTERNAL"


__all__ = [
    "DISK_FULL_ERRNOS",
    "EXIT_CODES",
    "EXIT_EVALUATOR_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFICATION_FAILED",
    "GRPC_STATUS_NAMES",
    "REASONS",
    "BadSignatureError",
    "BundleFormatError",
    "CiphertextError",
    "CircuitError",
    "ClientNotAllowedError",
    "CustodyViolationError",
    "DepthExceededError",
    "DigestMismatchError",
    "DiskFullError",
    "DuplicateCiphertextError",
    "EvaluatorOutputMismatchError",
    "EvidencePackMismatchError",
    "FindingSignatureInvalidError",
    "FindingSubjectMismatchError",
    "FindingUntrustedSignerError",
    "IdempotencyConflictError",
    "IdentityError",
    "InputError",
    "InternalError",
    "JobFailedError",
    "JobNotFinishedError",
    "KeyMaterialError",
    "KeyMismatchError",
    "LimitExceededError",
    "MalformedEvidencePackError",
    "MalformedFindingError",
    "MissingWitnessError",
    "NoiseBoundError",
    "OpeningAuditMismatchError",
    "OpeningDuplicateRowError",
    "OpeningFormatError",
    "OpeningProofError",
    "OpeningRowOutOfRangeError",
    "OpeningSignerMismatchError",
    "PartialsRootMismatchError",
    "PrimitiveRegistryError",
    "PrivacyBudgetExceededError",
    "ProfileError",
    "ProtocolError",
    "QuotaExceededError",
    "RateLimitedError",
    "RegauditError",
    "RemoteError",
    "ReplayError",
    "ResultExpiredError",
    "RevokedKeyError",
    "RowCommitmentMissingError",
    "SeedIncompatibleError",
    "ServerBusyError",
    "SignColumnError",
    "StaleEvidenceError",
    "StreamStalledError",
    "UnauthenticatedError",
    "UnknownJobError",
    "UnsupportedCircuitError",
    "UnsupportedCircuitIdError",
    "UntrustedIssuerError",
    "VerificationError",
    "WitnessDisagreementError",
    "WitnessIncomparableError",
    "WitnessNotIndependentError",
    "WitnessSampleMismatchError",
    "WrongParameterSetError",
    "WrongRegulatorKeyError",
    "exit_code_for",
    "is_disk_full",
    "plain_numbers",
]
