"""The regaudit error hierarchy: every error raised on purpose derives from RegauditError.

Each class carries a stable ``reason`` string (used in CLI JSON output, gRPC error details and
logs) and an ``exit_code`` (2 = bad input or usage, 1 = a verification failed).
"""

from __future__ import annotations


class RegauditError(Exception):
    """Base class of every error regaudit raises on purpose."""

    reason: str = "error"
    exit_code: int = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


# --- bad input (exit code 2) ------------------------------------------------------------------


class InputError(RegauditError):
    """An input value is malformed: wrong type, NaN/inf, non-binary label, length mismatch..."""

    reason = "invalid_input"


class ProfileError(RegauditError):
    """A parameter profile is unknown, insecure or does not fit the circuit."""

    reason = "wrong_parameter_set"


class CiphertextError(RegauditError):
    """A serialized CKKS object is malformed, oversized, invalid for the profile or at the
    wrong level."""

    reason = "invalid_ciphertext"


class KeyMaterialError(RegauditError):
    """Evaluation keys or a secret key are malformed, missing steps, or invalid for the profile."""

    reason = "invalid_key_material"


class DepthExceededError(RegauditError):
    """A circuit tried to use more multiplicative levels than its plan or profile allows."""

    reason = "depth_exceeded"


class CircuitError(RegauditError):
    """A circuit id/version is unknown or its public inputs are invalid."""

    reason = "invalid_circuit"


class ProtocolError(RegauditError):
    """The other party broke the wire protocol (unexpected message order, missing header...)."""

    reason = "protocol_error"


class IdentityError(RegauditError):
    """An identity directory or key file is missing or malformed."""

    reason = "invalid_identity"


class CustodyViolationError(RegauditError):
    """Secret-key code (a ``regaudit.secretkey`` module) is loaded in a process that must be
    keyless: the evaluator daemon or one of its workers refuses to run."""

    reason = "custody_violation"


# --- verification failures (exit code 1) ------------------------------------------------------


class VerificationError(RegauditError):
    """Evidence did not verify. Subclasses name the exact reason."""

    reason = "verification_failed"
    exit_code = 1


class BundleFormatError(VerificationError):
    """The bundle is not a well-formed regaudit bundle."""

    reason = "malformed_bundle"


class UntrustedIssuerError(VerificationError):
    reason = "untrusted_issuer"


class RevokedKeyError(VerificationError):
    reason = "revoked_key"


class BadSignatureError(VerificationError):
    reason = "bad_signature"


class DigestMismatchError(VerificationError):
    reason = "digest_mismatch"


class WrongParameterSetError(VerificationError):
    reason = "wrong_parameter_set"


class UnsupportedCircuitError(VerificationError):
    reason = "unsupported_circuit"


class WrongRegulatorKeyError(VerificationError):
    """The sealed CKKS key cannot be opened with this regulator's key."""

    reason = "wrong_regulator_key"


class KeyMismatchError(VerificationError):
    """The unsealed CKKS key is not the one the evaluation keys were made from (canary failed)."""

    reason = "key_mismatch"


class StaleEvidenceError(VerificationError):
    reason = "stale"


class ReplayError(VerificationError):
    reason = "replay"


class NoiseBoundError(VerificationError):
    """A decrypted value is further from its expected form (an integer count, the canary) than
    CKKS noise can explain."""

    reason = "noise_bound_exceeded"


class SignColumnError(VerificationError):
    """Drift: the client's encrypted sign column contradicts its encrypted CDFs (the signed sum
    lies outside the interval the Chebyshev moments certify for W1)."""

    reason = "inconsistent_sign_column"


class EvaluatorOutputMismatchError(VerificationError):
    """An output the evaluator returned is not what the circuit computes on the client's own
    data (the client decrypted it and compared it with its plaintext oracle)."""

    reason = "evaluator_output_mismatch"
