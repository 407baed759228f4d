"""The error model: one class per reason across every installed regaudit package, each class's
declared exit code and gRPC status, and the round trip error -> gRPC status -> error_from_rpc."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import distributions
from typing import Any

import grpc
import pytest

import regaudit
from regaudit.shared import errors, protocol
from regaudit.shared.errors import REASONS, RegauditError


def _import_every_regaudit_module() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(regaudit.__path__, "regaudit."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # runs a command line
        importlib.import_module(info.name)
        names.append(info.name)
    return names


MODULES = _import_every_regaudit_module()


def _all_error_classes() -> list[type[RegauditError]]:
    """Every RegauditError class defined in a regaudit package (tests' classes excluded)."""
    found: list[type[RegauditError]] = []
    pending: list[type[RegauditError]] = [RegauditError]
    while pending:
        cls = pending.pop()
        if cls not in found and cls.__module__.startswith("regaudit."):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


CLASSES = _all_error_classes()

#: Every class: (reason, exit code, gRPC status name). The reasons, exit codes and statuses the
#: code had before the classes declared them; a new class must be added here.
EXPECTED: dict[str, tuple[str, int, str]] = {
    # shared: regaudit.shared.errors
    "RegauditError": ("error", 2, "INTERNAL"),
    "InputError": ("invalid_input", 2, "INVALID_ARGUMENT"),
    "ProfileError": ("wrong_parameter_set", 2, "INVALID_ARGUMENT"),
    "CiphertextError": ("invalid_ciphertext", 2, "INVALID_ARGUMENT"),
    "DuplicateCiphertextError": ("duplicate_ciphertext", 2, "INVALID_ARGUMENT"),
    "KeyMaterialError": ("invalid_key_material", 2, "FAILED_PRECONDITION"),
    "DepthExceededError": ("depth_exceeded", 2, "FAILED_PRECONDITION"),
    "CircuitError": ("invalid_circuit", 2, "INVALID_ARGUMENT"),
    "UnsupportedCircuitIdError": ("unsupported_circuit", 2, "INVALID_ARGUMENT"),
    "PrimitiveRegistryError": ("primitive_registry", 2, "INTERNAL"),
    "IdentityError": ("invalid_identity", 2, "INTERNAL"),
    "CustodyViolationError": ("custody_violation", 2, "INTERNAL"),
    "InternalError": ("internal_error", 2, "INTERNAL"),
    "SeedIncompatibleError": ("seed_incompatible", 2, "INTERNAL"),
    "PrivacyBudgetExceededError": ("privacy_budget_exceeded", 2, "RESOURCE_EXHAUSTED"),
    "ProtocolError": ("protocol_error", 3, "INVALID_ARGUMENT"),
    "UnknownJobError": ("unknown_job", 3, "NOT_FOUND"),
    "ResultExpiredError": ("result_expired", 3, "NOT_FOUND"),
    "JobNotFinishedError": ("job_not_finished", 3, "FAILED_PRECONDITION"),
    "JobFailedError": ("job_failed", 3, "FAILED_PRECONDITION"),
    "IdempotencyConflictError": ("idempotency_conflict", 3, "ALREADY_EXISTS"),
    "LimitExceededError": ("limit_exceeded", 3, "RESOURCE_EXHAUSTED"),
    "UnauthenticatedError": ("unauthenticated", 3, "UNAUTHENTICATED"),
    "ClientNotAllowedError": ("client_not_allowed", 3, "PERMISSION_DENIED"),
    "RemoteError": ("protocol_error", 3, "INVALID_ARGUMENT"),
    "DiskFullError": ("disk_full", 3, "RESOURCE_EXHAUSTED"),
    "StreamStalledError": ("stream_stalled", 3, "DEADLINE_EXCEEDED"),
    "ServerBusyError": ("server_busy", 3, "RESOURCE_EXHAUSTED"),
    "QuotaExceededError": ("quota_exceeded", 3, "RESOURCE_EXHAUSTED"),
    "RateLimitedError": ("rate_limited", 3, "RESOURCE_EXHAUSTED"),
    "VerificationError": ("verification_failed", 1, "INTERNAL"),
    "BundleFormatError": ("malformed_bundle", 1, "INTERNAL"),
    "UntrustedIssuerError": ("untrusted_issuer", 1, "INTERNAL"),
    "RevokedKeyError": ("revoked_key", 1, "INTERNAL"),
    "BadSignatureError": ("bad_signature", 1, "INTERNAL"),
    "DigestMismatchError": ("digest_mismatch", 1, "INTERNAL"),
    "WrongParameterSetError": ("wrong_parameter_set", 1, "INTERNAL"),
    "UnsupportedCircuitError": ("unsupported_circuit", 1, "INTERNAL"),
    "WrongRegulatorKeyError": ("wrong_regulator_key", 1, "INTERNAL"),
    "KeyMismatchError": ("key_mismatch", 1, "INTERNAL"),
    "StaleEvidenceError": ("stale", 1, "INTERNAL"),
    "ReplayError": ("replay", 1, "INTERNAL"),
    "NoiseBoundError": ("noise_bound_exceeded", 1, "INTERNAL"),
    "SignColumnError": ("inconsistent_sign_column", 1, "INTERNAL"),
    "EvaluatorOutputMismatchError": ("evaluator_output_mismatch", 1, "INTERNAL"),
    "WitnessDisagreementError": ("witness_disagreement", 1, "INTERNAL"),
    "MissingWitnessError": ("missing_witness", 1, "INTERNAL"),
    "WitnessIncomparableError": ("witness_incomparable", 1, "INTERNAL"),
    "WitnessNotIndependentError": ("witness_not_independent", 1, "INTERNAL"),
    "PartialsRootMismatchError": ("partials_root_mismatch", 1, "INTERNAL"),
    "WitnessSampleMismatchError": ("witness_sample_mismatch", 1, "INTERNAL"),
    "OpeningFormatError": ("malformed_opening", 1, "INTERNAL"),
    "OpeningProofError": ("opening_proof_invalid", 1, "INTERNAL"),
    "OpeningSignerMismatchError": ("opening_signer_mismatch", 1, "INTERNAL"),
    "OpeningAuditMismatchError": ("opening_audit_mismatch", 1, "INTERNAL"),
    "OpeningRowOutOfRangeError": ("opening_row_out_of_range", 1, "INTERNAL"),
    "OpeningDuplicateRowError": ("opening_duplicate_row", 1, "INTERNAL"),
    "RowCommitmentMissingError": ("row_commitment_missing", 1, "INTERNAL"),
    "MalformedFindingError": ("malformed_finding", 1, "INTERNAL"),
    "FindingSignatureInvalidError": ("finding_signature_invalid", 1, "INTERNAL"),
    "FindingUntrustedSignerError": ("finding_untrusted_signer", 1, "INTERNAL"),
    "FindingSubjectMismatchError": ("finding_subject_mismatch", 1, "INTERNAL"),
    "MalformedEvidencePackError": ("malformed_evidence_pack", 1, "INTERNAL"),
    "EvidencePackMismatchError": ("evidence_pack_mismatch", 1, "INTERNAL"),
    # client
    "EvaluatorUnavailableError": ("evaluator_unavailable", 3, "INTERNAL"),
    "EvaluatorUnreachableError": ("evaluator_unreachable", 3, "UNAVAILABLE"),
    "WitnessUnavailableError": ("witness_unavailable", 3, "INTERNAL"),
    # evaluator
    "StoreFailedError": ("store_failed", 2, "INTERNAL"),
    "DeletionFailedError": ("deletion_failed", 2, "INTERNAL"),
    "StoreVersionUnsupportedError": ("store_version_unsupported", 2, "INTERNAL"),
    "PlanMismatchError": ("plan_mismatch", 2, "INTERNAL"),
    "UploadIncompleteError": ("upload_incomplete", 3, "INVALID_ARGUMENT"),
    "WorkerOutputError": ("worker_output_invalid", 2, "INTERNAL"),
    "KeysNotCachedError": ("evaluation_keys_not_cached", 2, "INTERNAL"),
    "DaskUnavailableError": ("dask_unavailable", 2, "INTERNAL"),
    "DaskWorkerMismatchError": ("dask_unavailable", 2, "INTERNAL"),
    "MissingExtraError": ("missing_extra", 2, "FAILED_PRECONDITION"),
    "DaskInsecureError": ("dask_scheduler_insecure", 2, "INTERNAL"),
    "WorkerCrashedError": ("worker_crashed", 3, "INTERNAL"),
    "PoolStoppedError": ("evaluator_stopping", 3, "UNAVAILABLE"),
    # client
    "ResumeJournalError": ("resume_journal_invalid", 1, "INTERNAL"),
}

#: Classes that inherit their parent's reason (variants) rather than declaring one.
VARIANTS = {
    "WrongParameterSetError": "ProfileError",
    "UnsupportedCircuitError": "UnsupportedCircuitIdError",
    "RemoteError": "ProtocolError",
    "DaskWorkerMismatchError": "DaskUnavailableError",
}


def _by_name(name: str) -> type[RegauditError]:
    (cls,) = [c for c in CLASSES if c.__name__ == name]
    return cls


# --- the registry -----------------------------------------------------------------------------


def test_every_installed_regaudit_distribution_was_imported() -> None:
    roles = {
        str(d.metadata["Name"]).removeprefix("regaudit-")
        for d in distributions()
        if str(d.metadata["Name"]).startswith("regaudit-")
    }
    assert roles >= {"shared", "client", "evaluator", "regulator", "secretkey"}
    for role in roles:
        assert any(name.startswith(f"regaudit.{role}.") for name in MODULES), role


def test_reasons_are_unique_across_every_class_of_every_package() -> None:
    owners: dict[str, list[str]] = {}
    for cls in CLASSES:
        if "reason" in cls.__dict__:
            owners.setdefault(cls.reason, []).append(f"{cls.__module__}.{cls.__qualname__}")
    shared = {reason: names for reason, names in owners.items() if len(names) > 1}
    assert not shared, shared


def test_registry_is_complete_and_names_the_declaring_class() -> None:
    declaring = {cls.reason: cls for cls in CLASSES if "reason" in cls.__dict__}
    assert dict(REASONS) == declaring
    # the evaluator's and the client's own classes are registered too
    for reason in ("evaluator_unavailable", "deletion_failed", "plan_mismatch"):
        assert reason in REASONS
    for reason in ("worker_output_invalid", "evaluation_keys_not_cached", "dask_unavailable"):
        assert reason in REASONS
    assert REASONS["dask_scheduler_insecure"].__name__ == "DaskInsecureError"
    assert REASONS["upload_incomplete"].__module__ == "regaudit.evaluator.failures"


def test_variants_inherit_the_reason_of_the_class_that_owns_it() -> None:
    variants = {cls.__name__ for cls in CLASSES if "reason" not in cls.__dict__}
    variants.discard("RegauditError")
    assert variants == set(VARIANTS)
    for name, owner in VARIANTS.items():
        cls = _by_name(name)
        assert issubclass(cls, _by_name(owner))
        assert REASONS[cls.reason] is _by_name(owner)


def test_the_two_verification_variants_are_verification_errors_with_exit_code_1() -> None:
    for cls, owner in (
        (errors.WrongParameterSetError, errors.ProfileError),
        (errors.UnsupportedCircuitError, errors.UnsupportedCircuitIdError),
    ):
        assert issubclass(cls, errors.VerificationError) and issubclass(cls, owner)
        assert cls.reason == owner.reason
        assert (cls.exit_code, owner.exit_code) == (1, 2)
        error = cls("x")
        assert errors.exit_code_for(error) == 1


def test_job_failure_reasons_that_are_no_class_do_not_collide() -> None:
    from regaudit.evaluator.failures import REASON_WORKER_CRASHED
    from regaudit.evaluator.worker_pool import WorkerCrashedError

    # worker_crashed is the reason of its class (a dead worker on every attempt at a task)
    assert REASONS[REASON_WORKER_CRASHED] is WorkerCrashedError
    assert "evaluation_failed" not in REASONS


def test_expected_table_covers_every_class() -> None:
    assert {cls.__name__ for cls in CLASSES} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_class_declares_reason_exit_code_and_status(name: str) -> None:
    cls = _by_name(name)
    reason, exit_code, status = EXPECTED[name]
    assert (cls.reason, cls.exit_code, cls.grpc_status) == (reason, exit_code, status)
    if "reason" in cls.__dict__ or len([b for b in cls.__bases__ if b is not object]) > 1:
        # declared in the class body, not picked up from whichever parent comes first
        assert "exit_code" in cls.__dict__ and "grpc_status" in cls.__dict__, name
    assert grpc.StatusCode[cls.grpc_status].name == status
    error = _make(cls)
    assert errors.exit_code_for(error) == exit_code
    assert protocol.error_status(error).code is grpc.StatusCode[status]


def test_exit_code_for_anything_else_is_2() -> None:
    assert errors.exit_code_for(ValueError("boom")) == errors.EXIT_USAGE == 2
    assert errors.exit_code_for(KeyError("x")) == 2


def test_a_second_class_with_a_taken_reason_is_refused() -> None:
    with pytest.raises(TypeError, match="invalid_input"):

        class _Again(RegauditError):
            reason = "invalid_input"
            exit_code = 2
            grpc_status = "INTERNAL"

    with pytest.raises(TypeError, match="exit_code"):

        class _BadExit(RegauditError):
            reason = "a_test_reason_with_a_bad_exit_code"
            exit_code = 7
            grpc_status = "INTERNAL"

    with pytest.raises(TypeError, match="grpc_status"):

        class _BadStatus(RegauditError):
            reason = "a_test_reason_with_a_bad_status"
            exit_code = 2
            grpc_status = "NOT_A_STATUS"

    with pytest.raises(TypeError, match="snake_case"):

        class _BadReason(RegauditError):
            reason = "Not Snake"
            exit_code = 2
            grpc_status = "INTERNAL"

    assert "a_test_reason_with_a_bad_exit_code" not in REASONS
    assert "a_test_reason_with_a_bad_status" not in REASONS
    assert REASONS["invalid_input"] is errors.InputError


# --- error -> gRPC status -> error ------------------------------------------------------------


class _FakeCall(grpc.RpcError):
    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self):  # noqa: ANN201
        return self._status.trailing_metadata


def _make(cls: type[RegauditError]) -> RegauditError:
    return cls("the message", field="the_field")


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_registered_reason_round_trips(reason: str) -> None:
    cls = REASONS[reason]
    error = _make(cls)
    status = protocol.error_status(error, violations=[("columns", "reordered")])
    assert status.code is grpc.StatusCode[cls.grpc_status]

    back = protocol.error_from_rpc(_FakeCall(status))
    if cls is RegauditError:  # an internal error on the evaluator: the evaluator failed
        assert type(back) is errors.RemoteError
        assert back.exit_code == errors.EXIT_EVALUATOR_FAILED
    else:
        assert type(back) is cls
        assert back.exit_code == cls.exit_code
    assert back.reason == reason
    assert back.field == "the_field"
    assert back.grpc_code == cls.grpc_status
    assert ("the_field", "the message") in back.violations
    assert ("columns", "reordered") in back.violations
    assert "the message" in str(back)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_comes_back_as_the_class_that_owns_its_reason(name: str) -> None:
    cls = _by_name(name)
    back = protocol.error_from_rpc(_FakeCall(protocol.error_status(_make(cls))))
    assert type(back) is REASONS[cls.reason]
    assert back.reason == cls.reason


def test_an_unknown_reason_becomes_a_protocol_error_keeping_the_remote_reason() -> None:
    status = _status_with_reason("a_reason_from_a_newer_evaluator", grpc.StatusCode.ABORTED)
    back = protocol.error_from_rpc(_FakeCall(status))
    assert type(back) is errors.RemoteError and isinstance(back, errors.ProtocolError)
    assert back.reason == "a_reason_from_a_newer_evaluator"
    assert back.remote_reason == "a_reason_from_a_newer_evaluator"
    assert back.code == back.grpc_code == "ABORTED"
    assert errors.exit_code_for(back) == errors.EXIT_EVALUATOR_FAILED
    # the class keeps its own reason: nothing was patched onto it
    assert errors.RemoteError.reason == errors.ProtocolError.reason == "protocol_error"
    assert "a_reason_from_a_newer_evaluator" not in REASONS


def test_a_call_without_details_is_a_remote_error_with_the_protocol_reason() -> None:
    status = grpc.Status()
    status.code = grpc.StatusCode.UNAVAILABLE  # type: ignore[misc]
    status.details = "connection refused"  # type: ignore[misc]
    status.trailing_metadata = ()  # type: ignore[misc]
    back = protocol.error_from_rpc(_FakeCall(status))
    assert isinstance(back, errors.RemoteError)
    assert back.reason == "protocol_error" and back.remote_reason is None
    assert back.grpc_code == "UNAVAILABLE" and back.violations == ()


def test_the_class_named_by_the_server_does_not_pick_the_class() -> None:
    status = _status_with_reason("invalid_input", grpc.StatusCode.INVALID_ARGUMENT)
    back = protocol.error_from_rpc(_FakeCall(status))
    assert type(back) is errors.InputError


def _status_with_reason(reason: str, code: grpc.StatusCode) -> Any:
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    info = error_details_pb2.ErrorInfo(
        reason=reason,
        domain=protocol.ERROR_DOMAIN,
        metadata={"error_class": "BadSignatureError"},  # not trusted to choose the class
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    message = status_pb2.Status(
        code=getattr(code_pb2, code.name), message="remote says no", details=[packed]
    )
    return rpc_status.to_status(message)


def test_job_failed_error_carries_the_job_reason_as_a_declared_attribute() -> None:
    error = errors.JobFailedError("job x failed", field="job_id", job_reason="worker_crashed")
    assert error.job_reason == "worker_crashed"
    assert errors.JobFailedError("job x failed").job_reason == ""
