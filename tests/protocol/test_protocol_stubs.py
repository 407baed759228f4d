"""The committed stubs are fresh, the limits are consistent, and rich errors round-trip."""

from __future__ import annotations

import filecmp
import importlib.util
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from regaudit.shared import ckks, errors, protocol
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import SigningIdentity

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "shared" / "src" / "regaudit" / "shared" / "_proto"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_are_not_stale(tmp_path: Path) -> None:
    generator = _load_generator()
    written = generator.generate(tmp_path)
    assert written, "generator wrote nothing"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(COMMITTED)
        for p in COMMITTED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed, "run scripts/gen_proto.py: the stub file set changed"
    stale = [str(rel) for rel in fresh if not filecmp.cmp(tmp_path / rel, COMMITTED / rel, False)]
    assert not stale, f"stale generated stubs (run scripts/gen_proto.py): {stale}"


def test_generated_imports_live_inside_the_namespace_package() -> None:
    grpc_module = (COMMITTED / "regaudit" / "v1" / "evaluator_pb2_grpc.py").read_text()
    assert "from regaudit.shared._proto.regaudit.v1 import evaluator_pb2" in grpc_module
    assert "\nfrom regaudit.v1 " not in grpc_module
    assert pb.DESCRIPTOR.services_by_name["Evaluator"].full_name == protocol.SERVICE_NAME


def test_no_message_field_can_carry_a_secret_key() -> None:
    names = {
        field.name
        for message in pb.DESCRIPTOR.message_types_by_name.values()
        for field in message.fields
    }
    assert not any("secret" in name or "private" in name for name in names)


def test_limits_are_consistent_with_the_engine_and_grpc() -> None:
    assert protocol.CHUNK_BYTES == 1024 * 1024
    assert protocol.CHUNK_BYTES + 64 * 1024 < protocol.MAX_MESSAGE_BYTES < 4 * 1024 * 1024
    assert protocol.MAX_CIPHERTEXT_BYTES <= ckks.MAX_CIPHERTEXT_BYTES
    assert protocol.MAX_EVALUATION_KEY_BYTES <= ckks.MAX_EVALUATION_KEY_BYTES
    assert protocol.MAX_GALOIS_STEPS <= ckks.MAX_GALOIS_STEPS
    options = dict(protocol.GRPC_OPTIONS)
    assert options["grpc.max_send_message_length"] == protocol.MAX_MESSAGE_BYTES
    assert options["grpc.max_receive_message_length"] == protocol.MAX_MESSAGE_BYTES


def test_split_bytes_covers_data_exactly() -> None:
    data = bytes(range(256)) * 41
    pieces = list(protocol.split_bytes(data, 1000))
    assert [o for o, _ in pieces] == list(range(0, len(data), 1000))
    assert all(len(p) <= 1000 for _, p in pieces)
    assert b"".join(p for _, p in pieces) == data
    assert list(protocol.split_bytes(b"", 10)) == [(0, b"")]
    with pytest.raises(ValueError):
        list(protocol.split_bytes(data, 0))


def test_upload_order_is_canary_then_chunk_major() -> None:
    order = list(protocol.upload_order(("a", "b"), 2))
    assert order == [("__canary__", 0), ("a", 0), ("b", 0), ("a", 1), ("b", 1)]


class _FakeCall(grpc.RpcError):
    """Only what rpc_status.from_call reads: code, details and trailing metadata."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self):  # noqa: ANN201
        return self._status.trailing_metadata


def test_error_status_round_trips_reason_class_and_violations() -> None:
    error = errors.CiphertextError("ciphertext is at level 1, expected level 0", field="y[0]")
    status = protocol.error_status(error, violations=[("columns", "reordered")])
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    decoded = rpc_status.from_call(_FakeCall(status))
    infos = [d for d in decoded.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert (info.reason, info.domain) == ("invalid_ciphertext", "regaudit.dev")

    back = protocol.error_from_rpc(_FakeCall(status))
    assert isinstance(back, errors.CiphertextError)
    assert back.reason == "invalid_ciphertext"
    assert back.field == "y[0]"
    assert back.grpc_code == "INVALID_ARGUMENT"  # type: ignore[attr-defined]
    assert ("columns", "reordered") in back.violations  # type: ignore[attr-defined]
    assert ("y[0]", error.message) in back.violations  # type: ignore[attr-defined]


def test_protocol_errors_map_to_their_codes() -> None:
    cases = {
        protocol.UnknownJobError("x"): grpc.StatusCode.NOT_FOUND,
        protocol.JobNotFinishedError("x"): grpc.StatusCode.FAILED_PRECONDITION,
        protocol.IdempotencyConflictError("x"): grpc.StatusCode.ALREADY_EXISTS,
        protocol.LimitExceededError("x"): grpc.StatusCode.RESOURCE_EXHAUSTED,
        errors.KeyMaterialError("x"): grpc.StatusCode.FAILED_PRECONDITION,
        errors.InputError("x"): grpc.StatusCode.INVALID_ARGUMENT,
    }
    for error, code in cases.items():
        assert protocol.error_status(error).code is code, type(error).__name__
        back = protocol.error_from_rpc(_FakeCall(protocol.error_status(error)))
        assert type(back) is type(error)


def test_error_without_details_becomes_a_remote_protocol_error() -> None:
    status = grpc.Status()
    status.code = grpc.StatusCode.UNAVAILABLE  # type: ignore[misc]
    status.details = "connection refused"  # type: ignore[misc]
    status.trailing_metadata = ()  # type: ignore[misc]
    back = protocol.error_from_rpc(_FakeCall(status))
    assert isinstance(back, errors.ProtocolError)
    assert "UNAVAILABLE" in str(back)


CLIENT = SigningIdentity.generate("client")


def test_job_header_proto_round_trip_and_digest_sensitivity() -> None:
    header = protocol.JobHeader(
        circuit_id="fairness",
        circuit_version="1",
        profile_name="ckks-n8192-d3-v1",
        profile_hash="sha256:" + "0" * 64,
        evaluation_keys_digest="sha256:" + "1" * 64,
        public_inputs={"threshold": 0.1, "groups": ["a", "b"]},
        rows=10,
        idempotency_key="k",
        canary_seed=b"\x01" * 32,
        input_level=0,
        n_chunks=1,
        columns=("y_true", "y_pred"),
        audit_id="audit-1",
        client_public_key_json=canonical_json(CLIENT.public_record().to_dict()),
        regulator_key_id="ab" * 32,
    ).signed(CLIENT)
    again = protocol.JobHeader.from_proto(
        pb.JobHeader.FromString(header.to_proto().SerializeToString())
    )
    assert again == header
    assert again.digest == header.digest
    other = protocol.JobHeader(**{**header.__dict__, "rows": 11})
    assert other.digest != header.digest
    # the bindings are part of the signed content
    for change in ({"audit_id": "audit-2"}, {"regulator_key_id": "cd" * 32}):
        moved = protocol.JobHeader(**{**header.__dict__, **change})
        assert moved.digest != header.digest
        with pytest.raises(errors.BadSignatureError):
            moved.verify_signature()
    assert header.verify_signature().key_id == CLIENT.key_id
    bad = header.to_proto()
    bad.public_inputs_json = b'{"threshold": 0.1, "groups": ["a", "b"]}'  # not canonical
    with pytest.raises(errors.InputError) as info:
        protocol.JobHeader.from_proto(bad)
    assert info.value.field == "public_inputs_json"
    bad = header.to_proto()
    bad.canary_seed = b"short"
    with pytest.raises(errors.InputError):
        protocol.JobHeader.from_proto(bad)
