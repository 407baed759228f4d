"""A real evaluator over loopback gRPC: capabilities, health, reflection, key upload and a full
fairness job whose decrypted outputs equal the plaintext backend's run of the same circuit."""

from __future__ import annotations

import hashlib
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.signing import CLIENT, connect

from regaudit.evaluator.server import EvaluatorServer
from regaudit.shared.circuits.base import CANARY_DEPTH, CANARY_TOLERANCE, canary_expected
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import input_manifest_digest, parse_receipt
from regaudit.shared.planning import evaluate_plaintext
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.layout import output_scale
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import (
    PROTOCOL_VERSION,
    SERVICE_NAME,
    JobNotFinishedError,
    JobState,
    UnknownJobError,
)


def test_capabilities(address: str, evaluator_identity: SigningIdentity) -> None:
    with connect(address) as connection:
        caps = connection.capabilities()
    assert caps.protocol_version == PROTOCOL_VERSION
    profiles = {p.name: p for p in caps.profiles}
    assert profiles[PROFILE_N8192_D3.name].profile_hash == PROFILE_N8192_D3.profile_hash
    assert profiles[PROFILE_N8192_D3.name].max_depth == 3
    assert ("fairness", "1") in caps.circuits
    assert caps.limits.chunk_bytes == 1024 * 1024
    assert caps.limits.max_job_ciphertexts > 0
    assert caps.evaluator_public_key["key_id"] == evaluator_identity.key_id
    assert caps.evaluator_public_key["kind"] == "evaluator"


def test_health_and_reflection(address: str, proto: Any) -> None:
    assert proto.health_status(address) == health_pb2.HealthCheckResponse.SERVING
    assert proto.health_status(address, "") == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(
            stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
        )
    names = {s.name for s in replies[0].list_services_response.service}
    assert SERVICE_NAME in names
    assert "grpc.health.v1.Health" in names


def test_key_upload_is_idempotent(address: str, small_case: Any, server: EvaluatorServer) -> None:
    keys = small_case.keys.evaluation_keys()
    with connect(address) as connection:
        digest = connection.upload_evaluation_keys(keys)
        assert digest == keys.digest
        assert connection.has_evaluation_keys(digest)
        # a forced re-upload of known keys is answered from the store, bytes untouched
        stored = server.store.get_keys(digest)
        assert stored is not None
        before = (stored.directory / "galois.bin").stat().st_mtime_ns
        assert connection.upload_evaluation_keys(keys, force=True) == digest
        assert (stored.directory / "galois.bin").stat().st_mtime_ns == before
        assert stored.galois_steps == small_case.plan.rotation_steps
        assert not connection.has_evaluation_keys("sha256:" + "ab" * 32)


def _run_job(address: str, case: Any, **header_changes: object):
    header = case.header(**header_changes)
    sent: list[tuple[str, int, str]] = []

    def recording():
        for column, chunk, data in case.ciphertexts(header):
            sent.append((column, chunk, "sha256:" + hashlib.sha256(data).hexdigest()))
            yield column, chunk, data

    updates = []
    with connect(address) as connection:
        connection.upload_evaluation_keys(case.keys.evaluation_keys())
        accepted = connection.submit_job(header, recording())
        final = connection.wait_for_job(accepted.job_id, progress=updates.append)
        result = connection.fetch_result(accepted.job_id)
    return header, accepted, final, updates, result, sent


def test_full_fairness_job_matches_plaintext_backend(
    address: str, small_case: Any, evaluator_identity: SigningIdentity, server: EvaluatorServer
) -> None:
    case = small_case
    header, accepted, final, updates, result, sent = _run_job(address, case)
    assert not accepted.deduplicated
    # the store keeps the manifest and outputs, not the input ciphertexts
    assert [d for _, _, d in server.store.manifest(accepted.job_id)] == [d for _, _, d in sent]
    assert not (server.store.job_dir(accepted.job_id) / "inputs").exists()
    assert server.store.canary_output_path(accepted.job_id).exists()
    assert final.state is JobState.SUCCEEDED
    assert final.chunks_evaluated == final.n_chunks == case.plan.n_chunks == 3
    assert updates[-1].state is JobState.SUCCEEDED
    assert len(result.outputs) == case.plan.n_outputs

    # 1. decrypted outputs equal the plaintext backend run of the same circuit (up to CKKS
    #    noise, relative to the circuit's output scale), and decode to the exact counts
    decryptor = case.keys.decryptor()
    _plan, expected = evaluate_plaintext(FairnessCircuit(), case.data, profile=PROFILE_N8192_D3)
    scale = output_scale(case.data.rows)
    decrypted = [decryptor.decrypt(c, level=case.plan.output_level) for c in result.outputs]
    for values, plain in zip(decrypted, expected, strict=True):
        assert np.max(np.abs(values - plain)) / scale < 0.05
        assert np.array_equal(np.rint(values / scale), np.rint(plain / scale))
    assert decode_counts(decrypted, case.public, case.data.rows) == plaintext_counts(case.data)

    # 2. the canary decrypts to its public value
    # (the canary circuit has depth CANARY_DEPTH from the input level)
    canary = decryptor.decrypt(result.canary, level=case.plan.input_level + CANARY_DEPTH)
    assert abs(canary[0] - canary_expected(header.canary_seed, 4096)) < CANARY_TOLERANCE
    assert np.max(np.abs(canary[1:])) < CANARY_TOLERANCE

    # 3. the receipt is signed by the evaluator and binds inputs, outputs, depth and counts
    payload = verify_envelope(
        result.receipt_envelope,
        public_key=evaluator_identity.public_key,
        key_id=evaluator_identity.key_id,
    )
    receipt = parse_receipt(payload)
    assert receipt.job_id == accepted.job_id
    assert receipt.inputs_manifest_digest == input_manifest_digest(sent)
    assert receipt.input_count == len(sent) == 1 + 3 * len(case.plan.columns)
    assert receipt.evaluation_keys_digest == case.keys.evaluation_keys().digest
    assert receipt.profile_hash == PROFILE_N8192_D3.profile_hash
    assert receipt.canary_seed == header.canary_seed
    assert receipt.public_inputs == header.public_inputs
    outputs = dict(receipt.outputs)
    assert outputs["output/0"] == "sha256:" + hashlib.sha256(result.outputs[0]).hexdigest()
    assert outputs["canary"] == "sha256:" + hashlib.sha256(result.canary).hexdigest()
    assert receipt.depth_observed == receipt.depth_planned == case.plan.depth
    planned = case.plan.counts.to_dict()
    for name in ("ct_ct_multiplications", "ct_pt_multiplications", "rotations", "additions"):
        assert receipt.operation_counts[name] == planned[name] > 0


def test_same_idempotency_key_same_content_is_deduplicated_not_rerun(
    address: str, small_case: Any, server: EvaluatorServer
) -> None:
    case = small_case
    header = case.header(idempotency_key="dedup-key-1")
    with connect(address) as connection:
        connection.upload_evaluation_keys(case.keys.evaluation_keys())
        first = connection.submit_job(header, case.ciphertexts(header))
        connection.wait_for_job(first.job_id)
        receipt = connection.fetch_result(first.job_id).receipt_envelope
        batches_before = len(server.manager.batch_seconds)
        consumed = 0

        def counting():
            nonlocal consumed
            for item in case.ciphertexts(header):
                consumed += 1
                yield item

        again = connection.submit_job(header, counting())
        assert again.deduplicated
        assert again.job_id == first.job_id
        assert again.state is JobState.SUCCEEDED
        assert len(server.manager.batch_seconds) == batches_before  # not run twice
        assert connection.fetch_result(again.job_id).receipt_envelope == receipt
    assert consumed < 1 + 3 * len(case.plan.columns)


def test_unknown_job_and_unfinished_job(address: str, server: EvaluatorServer, proto: Any) -> None:
    with connect(address) as connection:
        with pytest.raises(UnknownJobError) as info:
            connection.fetch_result("no-such-job")
        assert info.value.grpc_code == "NOT_FOUND"  # type: ignore[attr-defined]
        with pytest.raises(UnknownJobError):
            list(connection.watch_job("no-such-job"))
    # a job row that is still receiving answers FAILED_PRECONDITION for its result
    record, created = server.store.create_job(
        idempotency_key=f"{CLIENT.key_id}/unfinished-probe",  # the tests' client owns it
        header_digest="sha256:" + "0" * 64,
        header=b"",
        n_chunks=1,
    )
    assert created
    try:
        with connect(address) as connection, pytest.raises(JobNotFinishedError) as info:
            connection.fetch_result(record.id)
        assert info.value.grpc_code == "FAILED_PRECONDITION"  # type: ignore[attr-defined]
    finally:
        server.store.delete_job(record.id)
    proto.assert_serving(address)
