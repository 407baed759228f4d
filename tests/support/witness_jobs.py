"""Helpers of the sampled-witness and determinism tests: a job's raw result (receipt, outputs,
per-chunk partial digests) read with a signed raw stub, and the ciphertexts and header of a
sampled witness job derived from a primary's receipt."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import grpc

from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.circuits.base import CANARY_COLUMN
from regaudit.shared.evidence.statements import receipt_digest
from regaudit.shared.evidence.witness_sampling import sample_size
from regaudit.shared.protocol import GRPC_OPTIONS, JobHeader, JobState, WitnessSample
from support.jobs import CLIENT, FairnessJob
from support.signing import connect, signed


@dataclass(frozen=True)
class RawResult:
    """What GetResult returned: the receipt envelope, the output and canary bytes (empty for a
    sampled witness job) and the per-chunk partial digests."""

    job_id: str
    receipt: dict[str, Any]
    outputs: list[bytes]
    canary: bytes
    partial_digests: list[str]

    @property
    def receipt_digest(self) -> str:
        return receipt_digest(self.receipt)


def raw_result(address: str, job_id: str) -> RawResult:
    """Read a succeeded job's whole result with a raw (signed) stub."""
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        messages = stub.GetResult(
            pb.GetResultRequest(job_id=job_id), metadata=signed("GetResult", job_id), timeout=120
        )
        header: pb.ResultHeader | None = None
        pieces: dict[str, bytearray] = {}
        for message in messages:
            if message.WhichOneof("kind") == "header":
                header = message.header
            else:
                pieces.setdefault(message.piece.name, bytearray()).extend(message.piece.data)
    assert header is not None
    outputs = [bytes(pieces[f"output/{i}"]) for i in range(len(header.output_sizes))]
    return RawResult(
        job_id=job_id,
        receipt=json.loads(header.receipt_envelope_json),
        outputs=outputs,
        canary=bytes(pieces.get("canary", b"")),
        partial_digests=list(header.partial_digests),
    )


def run(
    address: str,
    job: FairnessJob,
    header: JobHeader,
    ciphertexts: list[tuple[str, int, bytes]] | None = None,
) -> RawResult:
    """Upload the job's keys, submit ``header`` with ``ciphertexts`` (default: all of the
    job's), wait for success and read the raw result."""
    with connect(address, identity=CLIENT) as connection:
        connection.upload_evaluation_keys(job.keys.evaluation_keys())
        accepted = connection.submit_job(header, iter(ciphertexts or job.ciphertexts))
        final = connection.wait_for_job(accepted.job_id)
        assert final.state is JobState.SUCCEEDED, final
    return raw_result(address, accepted.job_id)


def sampled_header(
    job: FairnessJob, primary: RawResult, *, fraction: float, nonce: bytes
) -> JobHeader:
    """The primary's signed header (which asked for the partial digests) with the sample
    derived from its receipt and ``nonce``."""
    header = job.header(commit_partials=True)
    sample = WitnessSample.derive(
        primary_receipt_digest=primary.receipt_digest,
        nonce=nonce,
        n_chunks=job.plan.n_chunks,
        k=sample_size(fraction, job.plan.n_chunks),
    )
    sampled: JobHeader = replace(header, witness_sample=sample)
    return sampled


def sampled_ciphertexts(job: FairnessJob, chunks: tuple[int, ...]) -> list[tuple[str, int, bytes]]:
    """The canary and the sampled chunks' ciphertexts: the very bytes the primary received."""
    wanted = set(chunks)
    return [
        (column, chunk, data)
        for column, chunk, data in job.ciphertexts
        if column == CANARY_COLUMN or chunk in wanted
    ]


__all__ = ["RawResult", "raw_result", "run", "sampled_ciphertexts", "sampled_header"]
