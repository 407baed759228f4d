"""Fuzz the wire (regaudit.shared.protocol and the client's transport): protobuf messages parsed
from random and mutated bytes (``FromString``) and converted by our code -- the client-signed
``JobHeader`` and its checks, ``JobAccepted``/``JobProgress``, ``Capabilities`` -- the rich
error status a client rebuilds from a failed call, and the result, watch and submit streams as
the client reads them; with the round trips through protobuf bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from fuzz.contract import (
    MAX_SAFE_INT,
    canonical_values,
    check_contract,
    json_bytes,
    mutated_bytes,
)
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import event, given
from hypothesis import strategies as st

from regaudit.client.transport import EvaluatorConnection
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.errors import (
    REASONS,
    BadSignatureError,
    InputError,
    ProtocolError,
    RegauditError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import (
    CANARY_SEED_BYTES,
    MAX_AUDIT_ID_CHARS,
    MAX_COLUMNS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    Capabilities,
    JobAccepted,
    JobHeader,
    JobProgress,
    JobState,
    Limits,
    ProfileInfo,
    capabilities_from_proto,
    capabilities_to_proto,
    error_from_rpc,
    error_status,
)

CLIENT = SigningIdentity.generate("client")
EVALUATOR = SigningIdentity.generate("evaluator")


def _parse(message_type: Any, data: bytes) -> Any:
    """``FromString`` as gRPC's deserializer runs it; bytes protobuf cannot decode never reach
    our code (gRPC fails the call itself): ``None`` then."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        event("undecodable protobuf")
        return None


@st.composite
def protobuf_wire(draw: st.DrawFn, *, max_fields: int = 12) -> bytes:
    """Bytes in protobuf's wire format: fields with random numbers (1..20, so most are known
    fields of the message), wire types and values; decodable far more often than random
    bytes."""
    out = bytearray()
    for _ in range(draw(st.integers(0, max_fields))):
        number = draw(st.integers(1, 20))
        wire_type = draw(st.sampled_from([0, 1, 2, 5]))
        out += _varint(number << 3 | wire_type)
        if wire_type == 0:
            out += _varint(draw(st.integers(0, 2**64 - 1)))
        elif wire_type == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire_type == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        else:
            value = draw(
                st.binary(max_size=40)
                | st.text(max_size=40).map(str.encode)
                | json_bytes()
                | st.builds(canonical_json, st.dictionaries(st.text(max_size=8), canonical_values))
            )
            out += _varint(len(value)) + value
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


wire_bytes = protobuf_wire() | st.binary(max_size=256)


# --- the job header -------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=40)


@st.composite
def job_headers(draw: st.DrawFn) -> JobHeader:
    """A signed header with random (well-formed) fields."""
    header = JobHeader(
        circuit_id=draw(names),
        circuit_version=draw(names),
        profile_name=draw(names),
        profile_hash=draw(st.text(max_size=80)),
        evaluation_keys_digest=draw(names),
        public_inputs=draw(st.dictionaries(st.text(max_size=12), canonical_values, max_size=4)),
        # (the signed content is RFC 8785 JSON: rows beyond 2^53 - 1 cannot be signed)
        rows=draw(st.integers(min_value=0, max_value=MAX_SAFE_INT)),
        idempotency_key=draw(st.text(min_size=1, max_size=MAX_IDEMPOTENCY_KEY_CHARS)),
        canary_seed=draw(st.binary(min_size=CANARY_SEED_BYTES, max_size=CANARY_SEED_BYTES)),
        input_level=draw(st.integers(min_value=0, max_value=2**32 - 1)),
        n_chunks=draw(st.integers(min_value=0, max_value=2**32 - 1)),
        columns=tuple(draw(st.lists(st.text(max_size=20), max_size=MAX_COLUMNS))),
        audit_id=draw(st.text(min_size=1, max_size=MAX_AUDIT_ID_CHARS)),
        client_public_key_json=canonical_json(CLIENT.public_record().to_dict()),
        regulator_key_id=draw(st.binary(min_size=32, max_size=32)).hex(),
    )
    return header.signed(CLIENT)


HEADER = JobHeader(
    circuit_id="fairness",
    circuit_version="1",
    profile_name="ckks-n8192-d3-v1",
    profile_hash="sha256:" + "ab" * 32,
    evaluation_keys_digest="sha256:" + "cd" * 32,
    public_inputs={"threshold": 0.5, "groups": ["a", "b"]},
    rows=1000,
    idempotency_key="key-1",
    canary_seed=bytes(range(32)),
    input_level=1,
    n_chunks=1,
    columns=("y_true", "y_pred", "group:a", "group:b"),
    audit_id="audit-1",
    client_public_key_json=canonical_json(CLIENT.public_record().to_dict()),
    regulator_key_id="ef" * 32,
).signed(CLIENT)
HEADER_BYTES = HEADER.to_proto().SerializeToString()


def _check_header(message: pb.JobHeader) -> None:
    header = check_contract(lambda: JobHeader.from_proto(message), errors=(InputError,))
    if header is None:
        return
    record = check_contract(
        header.verify_signature,
        errors=(InputError, BadSignatureError),
    )
    check_contract(lambda: header.digest, errors=(InputError,))
    if record is not None:
        # only the signed content verifies
        assert record.key_id == CLIENT.key_id
        assert header.digest == HEADER.digest


@given(wire_bytes | mutated_bytes(HEADER_BYTES))
def test_job_header_from_bytes(data: bytes) -> None:
    message = _parse(pb.JobHeader, data)
    if message is not None:
        _check_header(message)


#: random values of each scalar field type of JobHeader
_FIELD_VALUES: dict[int, st.SearchStrategy[Any]] = {
    pb.JobHeader.DESCRIPTOR.fields_by_name["circuit_id"].type: st.text(max_size=300),
    pb.JobHeader.DESCRIPTOR.fields_by_name["rows"].type: st.integers(0, 2**64 - 1),
    pb.JobHeader.DESCRIPTOR.fields_by_name["input_level"].type: st.integers(0, 2**32 - 1),
}


@st.composite
def header_field_edits(draw: st.DrawFn) -> pb.JobHeader:
    """The valid header with one to three fields set to random values of their type."""
    message = pb.JobHeader()
    message.CopyFrom(HEADER.to_proto())
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(list(pb.JobHeader.DESCRIPTOR.fields)))
        if field.name == "columns":  # the one repeated field
            values = draw(st.lists(st.text(max_size=20), max_size=MAX_COLUMNS + 2))
            del getattr(message, field.name)[:]
            getattr(message, field.name).extend(values)
        elif field.name == "client_public_key_json":
            record = CLIENT.public_record().to_dict()
            record[draw(st.sampled_from(sorted(record)))] = draw(canonical_values)
            other = draw(st.sampled_from(["client", "evaluator", "regulator"]))
            choice = draw(st.sampled_from(["edit", "kind", "bytes"]))
            if choice == "edit":
                setattr(message, field.name, json.dumps(record).encode())
            elif choice == "kind":
                identity = SigningIdentity.generate(other)
                setattr(message, field.name, canonical_json(identity.public_record().to_dict()))
            else:
                setattr(message, field.name, draw(json_bytes()))
        elif field.name == "witness_sample":  # the one message field
            sample = getattr(message, field.name)
            sample.primary_receipt_digest = draw(st.text(max_size=80))
            sample.nonce = draw(st.binary(max_size=40))
            sample.chunks.extend(draw(st.lists(st.integers(0, 2**32 - 1), max_size=6)))
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, draw(st.booleans()))
        elif field.type == field.TYPE_BYTES:
            setattr(message, field.name, draw(json_bytes() | st.binary(max_size=80)))
        else:
            setattr(message, field.name, draw(_FIELD_VALUES[field.type]))
    return message


@given(header_field_edits())
def test_job_header_with_edited_fields(message: pb.JobHeader) -> None:
    _check_header(message)


@given(job_headers())
def test_job_header_round_trip(header: JobHeader) -> None:
    data = header.to_proto().SerializeToString()
    parsed = JobHeader.from_proto(pb.JobHeader.FromString(data))
    assert parsed == header
    assert parsed.digest == header.digest
    assert parsed.verify_signature().key_id == CLIENT.key_id


# --- job states and progress ----------------------------------------------------------------------


@given(wire_bytes)
def test_job_accepted_and_progress_from_bytes(data: bytes) -> None:
    accepted = _parse(pb.JobAccepted, data)
    if accepted is not None:
        check_contract(
            lambda: JobAccepted.from_proto(accepted),
            errors=(ProtocolError,),
        )
    progress = _parse(pb.JobProgress, data)
    if progress is not None:
        check_contract(
            lambda: JobProgress.from_proto(progress),
            errors=(ProtocolError,),
        )


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_job_state_of_any_enum_value(value: int) -> None:
    # proto3 keeps enum values it does not know: the evaluator may run a newer protocol
    message = pb.JobProgress(job_id="job", state=value)  # type: ignore[arg-type]
    parsed = check_contract(
        lambda: JobProgress.from_proto(pb.JobProgress.FromString(message.SerializeToString())),
        errors=(ProtocolError,),
    )
    if parsed is not None:
        assert parsed.state.to_proto() == value


def test_unknown_job_state_is_a_protocol_error() -> None:
    # a JobState value the .proto does not define (b"\x10\x09": state=9)
    with pytest.raises(ProtocolError):
        JobProgress.from_proto(pb.JobProgress.FromString(b"\x10\x09"))


@given(
    job_id=st.text(max_size=40),
    state=st.sampled_from(list(JobState)),
    counts=st.tuples(*(st.integers(0, 2**32 - 1),) * 3),
    message=st.text(max_size=40),
    reason=st.text(max_size=40),
)
def test_job_progress_round_trip(
    job_id: str, state: JobState, counts: tuple[int, int, int], message: str, reason: str
) -> None:
    progress = JobProgress(job_id, state, *counts, message=message, error_reason=reason)
    data = progress.to_proto().SerializeToString()
    assert JobProgress.from_proto(pb.JobProgress.FromString(data)) == progress
    accepted = pb.JobAccepted(job_id=job_id, state=state.to_proto(), deduplicated=True)
    parsed = JobAccepted.from_proto(pb.JobAccepted.FromString(accepted.SerializeToString()))
    assert parsed == JobAccepted(job_id, state, True)


# --- capabilities ---------------------------------------------------------------------------------

CAPABILITIES = Capabilities(
    protocol_version="regaudit.v1",
    profiles=(
        ProfileInfo("ckks-n8192-d3-v1", "sha256:" + "ab" * 32, 8192, (60, 40, 60), 40, 3, 4096),
    ),
    circuits=(("fairness", "1"),),
    limits=Limits(),
    evaluator_public_key=EVALUATOR.public_record().to_dict(),
    server_version="0.1.0",
)
CAPABILITIES_BYTES = capabilities_to_proto(CAPABILITIES).SerializeToString()


@given(wire_bytes | mutated_bytes(CAPABILITIES_BYTES))
def test_capabilities_from_bytes(data: bytes) -> None:
    message = _parse(pb.Capabilities, data)
    if message is not None:
        check_contract(lambda: capabilities_from_proto(message), errors=(ProtocolError,))


@given(
    key=st.dictionaries(st.text(max_size=10), canonical_values, max_size=5),
    version=st.text(max_size=20),
    circuits=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=8)), max_size=4),
    max_rows=st.integers(0, 2**64 - 1),
)
def test_capabilities_round_trip(
    key: dict[str, Any], version: str, circuits: list[tuple[str, str]], max_rows: int
) -> None:
    caps = replace(
        CAPABILITIES,
        evaluator_public_key=key,
        server_version=version,
        circuits=tuple(circuits),
        limits=Limits(max_rows=max_rows),
    )
    data = capabilities_to_proto(caps).SerializeToString()
    assert capabilities_from_proto(pb.Capabilities.FromString(data)) == caps


# --- the rich error status a client rebuilds ------------------------------------------------------


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed call as the client's stub raises it: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing

    def initial_metadata(self) -> Any:  # pragma: no cover - part of grpc.Call
        return ()

    def is_active(self) -> bool:  # pragma: no cover
        return False

    def time_remaining(self) -> float | None:  # pragma: no cover
        return None

    def cancel(self) -> bool:  # pragma: no cover
        return False

    def add_callback(self, callback: Any) -> bool:  # pragma: no cover
        return False


status_codes = st.sampled_from([c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
DETAIL_TYPES = [
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.RetryInfo,
    status_pb2.Status,
]


@st.composite
def packed_details(draw: st.DrawFn) -> any_pb2.Any:
    item = any_pb2.Any()
    kind = draw(st.sampled_from(["errorinfo", "badrequest", "retry", "garbage"]))
    if kind == "errorinfo":
        item.Pack(
            error_details_pb2.ErrorInfo(
                reason=draw(st.sampled_from(sorted(REASONS)) | st.text(max_size=30)),
                domain=draw(st.sampled_from(["regaudit.dev", ""]) | st.text(max_size=10)),
                metadata=draw(
                    st.dictionaries(
                        st.sampled_from(["error_class", "field"]) | st.text(max_size=8),
                        st.text(max_size=30),
                        max_size=3,
                    )
                ),
            )
        )
    elif kind == "badrequest":
        item.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in draw(
                        st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=3)
                    )
                ]
            )
        )
    elif kind == "retry":
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.seconds = draw(st.integers(-(2**40), 2**40))
        retry.retry_delay.nanos = draw(st.integers(-999_999_999, 999_999_999))
        item.Pack(retry)
    else:
        message_type = draw(st.sampled_from(DETAIL_TYPES))
        item.type_url = "type.googleapis.com/" + message_type.DESCRIPTOR.full_name
        item.value = draw(st.binary(max_size=40))
    return item


@st.composite
def failed_calls(draw: st.DrawFn) -> FailedCall:
    code = draw(status_codes)
    details = draw(st.text(max_size=60))
    shape = draw(st.sampled_from(["status", "status-mismatch", "random-bytes", "none", "other"]))
    trailing: Any
    if shape in ("status", "status-mismatch"):
        status = status_pb2.Status(
            code=code.value[0] if shape == "status" else draw(st.integers(-5, 40)),
            message=details,
            details=draw(st.lists(packed_details(), max_size=4)),
        )
        trailing = (("grpc-status-details-bin", status.SerializeToString()),)
    elif shape == "random-bytes":
        trailing = (("grpc-status-details-bin", draw(st.binary(max_size=60))),)
    elif shape == "none":
        trailing = None
    else:
        trailing = (("x-other", draw(st.text(max_size=10))),)
    return FailedCall(code, details, trailing)


@given(failed_calls())
def test_error_from_any_failed_call(call: FailedCall) -> None:
    error = check_contract(lambda: error_from_rpc(call))
    if error is not None:
        assert isinstance(error, RegauditError)
        assert isinstance(error.reason, str) and error.reason
        assert error.grpc_code == call.code().name


@pytest.mark.parametrize("which", ["trailer", "detail"])
def test_undecodable_status_details(which: str) -> None:
    if which == "trailer":
        trailing = (("grpc-status-details-bin", b"\xff\xff"),)
    else:
        item = any_pb2.Any(type_url="type.googleapis.com/google.rpc.ErrorInfo", value=b"\xff\xff")
        status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="x", details=[item])
        trailing = (("grpc-status-details-bin", status.SerializeToString()),)
    # an undecodable grpc-status-details-bin trailer (or detail) is ignored: the plain status
    error = error_from_rpc(FailedCall(grpc.StatusCode.INVALID_ARGUMENT, "x", trailing))
    assert isinstance(error, RegauditError)
    assert error.grpc_code == "INVALID_ARGUMENT"


@given(
    cls=st.sampled_from(sorted(set(REASONS.values()), key=lambda c: c.reason)),
    message=st.text(max_size=80),
    field=st.none() | st.text(min_size=1, max_size=30),
    retry=st.none() | st.floats(min_value=0, max_value=1e6),
)
def test_error_status_round_trip(
    cls: type[RegauditError], message: str, field: str | None, retry: float | None
) -> None:
    error = cls(message, field=field)
    error.retry_after_s = retry
    status = error_status(error)
    rebuilt = error_from_rpc(FailedCall(status.code, status.details, status.trailing_metadata))
    assert rebuilt.reason == error.reason
    assert rebuilt.field == field
    if cls is not RegauditError:  # the base class's reason comes back as a RemoteError
        assert type(rebuilt) is REASONS[error.reason]
    if retry is not None:
        assert rebuilt.retry_after_s == pytest.approx(round(retry * 1000) / 1000)


# --- what the client reads from the evaluator's streams -------------------------------------------


class FakeStub:
    """The client's stub answering with fuzzed messages."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages

    def GetResult(self, request: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: N802
        return iter(self.messages)

    def WatchJob(self, request: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: N802
        return iter(self.messages)

    def SubmitJob(self, requests: Any, **kwargs: Any) -> Any:  # noqa: N802
        return self.messages[0]


@pytest.fixture(scope="module")
def connection() -> Iterator[EvaluatorConnection]:
    with EvaluatorConnection("127.0.0.1:1") as conn:  # never connects: the stub is replaced
        yield conn


RECEIPT_JSON = json.dumps({"payloadType": "x", "payload": "", "signatures": []}).encode()


@st.composite
def result_streams(draw: st.DrawFn) -> list[pb.GetResultResponse]:
    """A result stream: a header (sizes, receipt JSON), then pieces -- consistent or not."""
    outputs = draw(st.lists(st.binary(max_size=40), max_size=3))
    canary = draw(st.binary(max_size=40))
    header = pb.ResultHeader(
        job_id=draw(st.text(max_size=10)),
        receipt_envelope_json=draw(st.just(RECEIPT_JSON) | json_bytes()),
        output_sizes=[len(o) for o in outputs],
        canary_size=len(canary),
    )
    if draw(st.booleans()):
        header.output_sizes.append(draw(st.integers(0, 2**64 - 1)))
    if draw(st.booleans()):
        header.canary_size = draw(st.integers(0, 2**64 - 1))
    pieces = [
        pb.ResultPiece(name=f"output/{i}", offset=0, data=data) for i, data in enumerate(outputs)
    ] + [pb.ResultPiece(name="canary", offset=0, data=canary)]
    if draw(st.booleans()) and pieces:
        index = draw(st.integers(0, len(pieces) - 1))
        pieces[index] = pb.ResultPiece(
            name=draw(st.sampled_from(["canary", "output/0", "output/9"]) | st.text(max_size=8)),
            offset=draw(st.integers(0, 2**64 - 1)),
            data=draw(st.binary(max_size=40)),
        )
    messages = [pb.GetResultResponse(header=header)] + [
        pb.GetResultResponse(piece=piece) for piece in draw(st.permutations(pieces))
    ]
    if draw(st.booleans()):
        messages.insert(draw(st.integers(0, len(messages))), pb.GetResultResponse(header=header))
    return messages


@given(result_streams())
def test_fetch_result_of_any_stream(
    connection: EvaluatorConnection, messages: list[pb.GetResultResponse]
) -> None:
    connection._stub = FakeStub(messages)
    result = check_contract(lambda: connection.fetch_result("job"), errors=(ProtocolError,))
    if result is not None:
        header = messages[0].header
        assert [len(o) for o in result.outputs] == list(header.output_sizes)
        assert len(result.canary) == header.canary_size
        assert isinstance(result.receipt_envelope, dict)


def test_fetch_result_deeply_nested_receipt(connection: EvaluatorConnection) -> None:
    header = pb.ResultHeader(job_id="job", receipt_envelope_json=b"[" * 100_000, canary_size=0)
    connection._stub = FakeStub([pb.GetResultResponse(header=header)])
    with pytest.raises(ProtocolError):
        connection.fetch_result("job")


@given(st.lists(protobuf_wire(max_fields=4), max_size=4))
def test_watch_job_of_any_progress_stream(
    connection: EvaluatorConnection, raw: list[bytes]
) -> None:
    messages = [m for m in (_parse(pb.JobProgress, data) for data in raw) if m is not None]
    connection._stub = FakeStub(messages)
    check_contract(
        lambda: connection.wait_for_job("job"),
        errors=(ProtocolError,),
    )


@given(protobuf_wire(max_fields=4))
def test_submit_job_reply_of_any_bytes(connection: EvaluatorConnection, data: bytes) -> None:
    reply = _parse(pb.JobAccepted, data)
    if reply is None:
        return
    connection._stub = FakeStub([reply])
    check_contract(
        lambda: connection.submit_job(HEADER, ()),
        errors=(ProtocolError,),
    )
