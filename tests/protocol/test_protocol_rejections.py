"""Every bad upload gets a precise status with details, and the daemon keeps serving."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from support.signing import connect, signed

from regaudit.evaluator.jobs import scoped_idempotency_key
from regaudit.evaluator.server import EvaluatorServer, create_server
from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared import errors
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.ckks import EvaluationKeys
from regaudit.shared.protocol import (
    CHUNK_BYTES,
    GRPC_OPTIONS,
    MAX_CIPHERTEXT_BYTES,
    IdempotencyConflictError,
    JobState,
    LimitExceededError,
    error_from_rpc,
)


@pytest.fixture
def uploaded(address: str, small_case: Any) -> Any:
    """The small case with its evaluation keys uploaded (again: a job deletes its keys when it
    ends)."""
    with connect(address) as connection:
        connection.upload_evaluation_keys(small_case.keys.evaluation_keys())
    return small_case


def reupload(address: str, case: Any) -> None:
    """Upload the case's evaluation keys again (every job deletes its keys when it ends)."""
    with connect(address) as connection:
        connection.upload_evaluation_keys(case.keys.evaluation_keys())


def still_serving(address: str, proto: Any) -> None:
    """Health says SERVING and a second, good call succeeds."""
    proto.assert_serving(address)
    with connect(address) as connection:
        assert ("fairness", "1") in connection.capabilities().circuits


def submit_raw(address: str, messages: Iterator[pb.SubmitJobRequest]) -> errors.RegauditError:
    """Send hand-made SubmitJob messages; return the regaudit error the call failed with."""
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitJob(messages, timeout=60, metadata=signed("SubmitJob"))
    return error_from_rpc(info.value)


def pieces_for(case: Any, header: Any) -> Iterator[pb.SubmitJobRequest]:
    yield pb.SubmitJobRequest(header=header.to_proto())
    for column, chunk, data in case.ciphertexts(header):
        yield piece(column, chunk, data)


def piece(column: str, chunk: int, data: bytes, *, offset: int = 0, total: int | None = None):
    return pb.SubmitJobRequest(
        piece=pb.CiphertextPiece(
            column=column,
            chunk=chunk,
            offset=offset,
            total_size=len(data) if total is None else total,
            data=data,
        )
    )


def replace_one(case: Any, header: Any, target: tuple[str, int], data: bytes):
    for column, chunk, original in case.ciphertexts(header):
        yield column, chunk, data if (column, chunk) == target else original


def code_of(error: errors.RegauditError) -> str:
    return error.grpc_code  # type: ignore[attr-defined]


def test_garbage_ciphertext_then_retry_with_same_key(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    header = uploaded.header()
    with connect(address) as connection:
        with pytest.raises(errors.CiphertextError) as info:
            connection.submit_job(
                header, replace_one(uploaded, header, ("y_true", 1), secrets.token_bytes(5000))
            )
        assert code_of(info.value) == "INVALID_ARGUMENT"
        assert info.value.reason == "invalid_ciphertext"
        assert info.value.field and info.value.field.startswith("y_true[1]")
        failed = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
        assert failed is not None and failed.state is JobState.FAILED
        assert failed.error_reason == "invalid_ciphertext"
        still_serving(address, proto)
        # the upload never completed, so the same key and header may be retried (with the
        # evaluation keys uploaded again: the failed job deleted them)
        connection.upload_evaluation_keys(uploaded.keys.evaluation_keys())
        accepted = connection.submit_job(header, uploaded.ciphertexts(header))
        assert not accepted.deduplicated
        assert connection.wait_for_job(accepted.job_id).state is JobState.SUCCEEDED


def test_ciphertext_at_the_wrong_level(address: str, uploaded: Any, proto: Any) -> None:
    header = uploaded.header()
    chunk0 = next(iter(uploaded.data.columns().values()))[:4096]
    wrong = uploaded.keys.encrypt(chunk0, level=uploaded.plan.input_level + 1)
    with connect(address) as connection, pytest.raises(errors.CiphertextError) as info:
        connection.submit_job(header, replace_one(uploaded, header, ("y_pred", 0), wrong))
    assert code_of(info.value) == "INVALID_ARGUMENT"
    assert "expected level 0" in str(info.value)
    still_serving(address, proto)


def test_oversized_piece_and_ciphertext(address: str, uploaded: Any, proto: Any) -> None:
    header = uploaded.header()
    big = b"\0" * (CHUNK_BYTES + 1)
    error = submit_raw(
        address,
        iter([pb.SubmitJobRequest(header=header.to_proto()), piece("__canary__", 0, big)]),
    )
    assert isinstance(error, LimitExceededError)
    assert code_of(error) == "RESOURCE_EXHAUSTED"
    still_serving(address, proto)

    reupload(address, uploaded)  # the failed job deleted its evaluation keys
    header = uploaded.header()
    error = submit_raw(
        address,
        iter(
            [
                pb.SubmitJobRequest(header=header.to_proto()),
                piece("__canary__", 0, b"\0" * 1000, total=MAX_CIPHERTEXT_BYTES + 1),
            ]
        ),
    )
    assert code_of(error) == "RESOURCE_EXHAUSTED"
    assert error.reason == "limit_exceeded"
    still_serving(address, proto)


def test_too_many_ciphertexts(
    address: str, uploaded: Any, proto: Any, tmp_path: Any, evaluator_identity: Any
) -> None:
    # (a) a job whose plan needs more ciphertexts than the evaluator's cap (13 here)
    capped, port = create_server(
        "127.0.0.1:0",
        identity=evaluator_identity,
        store_path=tmp_path,
        workers=1,
        max_job_ciphertexts=1 + 3 * len(uploaded.plan.columns) - 1,
    )
    capped.start()
    try:
        header = uploaded.header()
        with connect(f"127.0.0.1:{port}") as connection:
            assert connection.capabilities().limits.max_job_ciphertexts == 12
            connection.upload_evaluation_keys(uploaded.keys.evaluation_keys())
            with pytest.raises(LimitExceededError) as info:
                connection.submit_job(header, uploaded.ciphertexts(header))
        assert code_of(info.value) == "RESOURCE_EXHAUSTED"
        assert "13 ciphertexts" in str(info.value)
        still_serving(f"127.0.0.1:{port}", proto)
    finally:
        capped.stop(grace=1.0)

    # (b) one ciphertext more than the plan
    plan = uploaded.plan
    header = uploaded.header()
    extra = list(pieces_for(uploaded, header))
    extra.append(piece("y_true", plan.n_chunks, extra[-1].piece.data))
    error = submit_raw(address, iter(extra))
    assert code_of(error) == "RESOURCE_EXHAUSTED"
    assert "more than the plan" in str(error)
    still_serving(address, proto)


def test_header_disagreeing_with_the_plan(address: str, uploaded: Any, proto: Any) -> None:
    plan = uploaded.plan
    cases = {
        "n_chunks": uploaded.header(rows=plan.rows + 2 * plan.chunk_rows),
        "columns": uploaded.header(columns=tuple(reversed(plan.columns))),
        "input_level": uploaded.header(input_level=plan.input_level + 1),
    }
    with connect(address) as connection:
        for field, header in cases.items():
            with pytest.raises(errors.InputError) as info:
                connection.submit_job(header, iter(()))
            assert code_of(info.value) == "INVALID_ARGUMENT", field
            assert field in dict(info.value.violations), field  # type: ignore[attr-defined]
    still_serving(address, proto)


def test_unknown_circuit_profile_and_profile_hash(address: str, uploaded: Any, proto: Any) -> None:
    with connect(address) as connection:
        with pytest.raises(errors.CircuitError) as info:
            connection.submit_job(uploaded.header(circuit_id="no-such-circuit"), iter(()))
        assert code_of(info.value) == "INVALID_ARGUMENT"
        assert info.value.reason == "unsupported_circuit"

        with pytest.raises(errors.ProfileError) as info:
            connection.submit_job(uploaded.header(profile_name="ckks-n1-d0-v9"), iter(()))
        assert code_of(info.value) == "INVALID_ARGUMENT"
        assert info.value.reason == "wrong_parameter_set"

        with pytest.raises(errors.ProfileError) as info:
            connection.submit_job(uploaded.header(profile_hash="sha256:" + "0" * 64), iter(()))
        assert code_of(info.value) == "FAILED_PRECONDITION"
    still_serving(address, proto)


def test_keys_missing_a_rotation_step_and_unknown_keys(
    address: str, uploaded: Any, proto: Any
) -> None:
    plan = uploaded.plan
    partial = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps[:-1])
    with connect(address) as connection:
        digest = connection.upload_evaluation_keys(partial.evaluation_keys())
        header = uploaded.header(evaluation_keys_digest=digest)
        with pytest.raises(errors.KeyMaterialError) as info:
            connection.submit_job(header, iter(()))
        assert code_of(info.value) == "FAILED_PRECONDITION"
        assert info.value.reason == "invalid_key_material"
        assert str(plan.rotation_steps[-1]) in str(info.value)

        header = uploaded.header(evaluation_keys_digest="sha256:" + "cd" * 32)
        with pytest.raises(errors.KeyMaterialError) as info:
            connection.submit_job(header, iter(()))
        assert code_of(info.value) == "FAILED_PRECONDITION"
        assert "not uploaded" in str(info.value)
    still_serving(address, proto)


def test_bad_key_uploads(address: str, uploaded: Any, proto: Any) -> None:
    good = uploaded.keys.evaluation_keys()
    garbage = EvaluationKeys(
        profile_name=good.profile_name,
        relin_keys=secrets.token_bytes(4096),
        galois_keys=good.galois_keys,
        galois_steps=good.galois_steps,
    )
    with connect(address) as connection:
        with pytest.raises(errors.KeyMaterialError) as info:
            connection.upload_evaluation_keys(garbage)
        assert code_of(info.value) == "INVALID_ARGUMENT"
        assert not connection.has_evaluation_keys(garbage.digest)
    # keys whose bytes do not hash to the announced digest
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        messages = [
            pb.UploadEvaluationKeysRequest(
                header=pb.EvaluationKeysHeader(
                    profile_name=good.profile_name,
                    digest="sha256:" + "ef" * 32,
                    galois_steps=list(good.galois_steps),
                    relin_size=len(good.relin_keys),
                    galois_size=len(good.galois_keys),
                )
            ),
            pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=good.relin_keys)),
        ]
        messages += [
            pb.UploadEvaluationKeysRequest(
                piece=pb.BytesPiece(data=good.galois_keys[i : i + CHUNK_BYTES])
            )
            for i in range(0, len(good.galois_keys), CHUNK_BYTES)
        ]
        with pytest.raises(grpc.RpcError) as rpc_info:
            stub.UploadEvaluationKeys(
                iter(messages), timeout=60, metadata=signed("UploadEvaluationKeys")
            )
        error = error_from_rpc(rpc_info.value)
        assert isinstance(error, errors.KeyMaterialError)
        assert error.field == "digest"
    still_serving(address, proto)


def test_idempotency_key_reused_with_different_content(
    address: str, uploaded: Any, proto: Any
) -> None:
    key = "conflict-" + secrets.token_hex(8)
    header = uploaded.header(idempotency_key=key)
    with connect(address) as connection:
        first = connection.submit_job(header, uploaded.ciphertexts(header))
        other = uploaded.header(idempotency_key=key)  # new canary seed: different content
        with pytest.raises(IdempotencyConflictError) as info:
            connection.submit_job(other, uploaded.ciphertexts(other))
        assert code_of(info.value) == "ALREADY_EXISTS"
        assert connection.wait_for_job(first.job_id).state is JobState.SUCCEEDED
    still_serving(address, proto)


def test_stream_order_violations(address: str, uploaded: Any, proto: Any) -> None:
    header = uploaded.header()
    messages = list(pieces_for(uploaded, header))
    variants = {
        "duplicate": messages[:3] + [messages[2]] + messages[3:],
        "out of order": messages[:2] + messages[3:],
        "missing": messages[:-1],
        "no header": messages[1:],
        "second header": messages[:2] + [messages[0]] + messages[2:],
    }
    for name, variant in variants.items():
        error = submit_raw(address, iter(variant))
        assert code_of(error) == "INVALID_ARGUMENT", name
        assert isinstance(error, errors.ProtocolError), name
        if name in ("duplicate", "out of order"):
            assert name.split()[0] in str(error), str(error)
        reupload(address, uploaded)  # the failed job deleted its evaluation keys
        header = uploaded.header()
        messages = list(pieces_for(uploaded, header))
    still_serving(address, proto)


def test_plaintext_refused_off_loopback(tmp_path: Any, evaluator_identity: Any) -> None:
    with pytest.raises(errors.InputError) as info:
        create_server("0.0.0.0:0", identity=evaluator_identity, store_path=tmp_path, workers=1)
    assert "TLS" in str(info.value)
    with pytest.raises(errors.InputError):
        connect("192.0.2.10:443")


def test_client_side_failure_mid_stream_is_reported_and_job_fails(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    header = uploaded.header()

    def breaking():
        for index, item in enumerate(uploaded.ciphertexts(header)):
            if index == 3:
                raise errors.InputError("encryption failed on the client", field="y_pred")
            yield item

    with connect(address) as connection, pytest.raises(errors.InputError) as info:
        connection.submit_job(header, breaking())
    assert "encryption failed on the client" in str(info.value)
    # the evaluator saw a cancelled stream: the job failed as an incomplete upload
    import time

    deadline = time.monotonic() + 10
    while True:
        record = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
        if record is not None and record.state is JobState.FAILED:
            break
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    assert record.error_reason == "upload_incomplete"
    still_serving(address, proto)


# --- the job header's bindings are authenticated by the client ----------------------------------


def test_job_header_with_a_bad_client_signature_is_unauthenticated(
    address: str, uploaded: Any, proto: Any
) -> None:
    from regaudit.shared.evidence.identity import SigningIdentity

    header = uploaded.header()
    cases = {
        # the bindings edited after signing
        "audit_id": uploaded.header(sign=False, audit_id="another-audit").__class__(
            **{**header.__dict__, "audit_id": "another-audit"}
        ),
        # a signature by another key than the one the header names
        "client_signature": header.__class__(
            **{
                **header.__dict__,
                "client_signature": SigningIdentity.generate("client").sign(header.signing_input()),
            }
        ),
    }
    with connect(address) as connection:
        for name, forged in cases.items():
            with pytest.raises(errors.BadSignatureError) as info:
                connection.submit_job(forged, uploaded.ciphertexts(forged))
            assert code_of(info.value) == "UNAUTHENTICATED", name
            assert info.value.reason == "bad_signature"
        unsigned = uploaded.header(sign=False)
        with pytest.raises(errors.InputError) as missing:
            connection.submit_job(unsigned, iter(()))
        assert missing.value.field == "client_signature"
        assert code_of(missing.value) == "INVALID_ARGUMENT"
    still_serving(address, proto)


def test_idempotency_keys_are_scoped_to_the_client(
    address: str, uploaded: Any, server: EvaluatorServer
) -> None:
    """Another client reusing a victim's idempotency key neither gets the victim's job nor
    blocks the victim's resubmission."""
    from regaudit.shared.evidence.identity import SigningIdentity

    key = "shared-idempotency-key"
    victim = uploaded.header(idempotency_key=key)
    with connect(address) as connection:
        first = connection.submit_job(victim, uploaded.ciphertexts(victim))
        assert connection.wait_for_job(first.job_id).state is JobState.SUCCEEDED
        connection.upload_evaluation_keys(uploaded.keys.evaluation_keys())
        stranger = SigningIdentity.generate("client")
        intruder = uploaded.header(idempotency_key=key, client=stranger)
        with connect(address, identity=stranger) as theirs:
            second = theirs.submit_job(intruder, uploaded.ciphertexts(intruder))
            assert not second.deduplicated and second.job_id != first.job_id
            assert theirs.wait_for_job(second.job_id).state is JobState.SUCCEEDED
        again = connection.submit_job(victim, iter(()))
        assert again.deduplicated and again.job_id == first.job_id
    assert server.store.find_by_idempotency_key(scoped_idempotency_key(victim)).id == first.job_id
