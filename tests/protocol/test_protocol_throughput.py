"""Measured numbers for a ~100k-row fairness audit over loopback (printed; run with -s):
key upload and ciphertext upload throughput, per-chunk evaluation time, end-to-end job time.
Bounds are loose: they catch pathologies (quadratic behaviour, serialization stalls), not noise."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.signing import connect

from regaudit.evaluator.active_jobs import BATCH_CHUNKS
from regaudit.evaluator.jobs import scoped_idempotency_key
from regaudit.evaluator.server import EvaluatorServer
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.protocol import JobState

# throughput and wall-clock bounds: run by scripts/test.sh on their own (-m perf)
pytestmark = pytest.mark.perf

ROWS = 100_000


def test_throughput_100k_rows(address: str, server: EvaluatorServer, proto: Any) -> None:
    case = proto.make_case(rows=ROWS, seed=23)
    header = case.header()
    started = time.perf_counter()
    ciphertexts = list(case.ciphertexts(header))
    encrypt_s = time.perf_counter() - started
    payload = sum(len(data) for _, _, data in ciphertexts)
    keys = case.keys.evaluation_keys()
    batches_before = len(server.manager.batch_seconds)
    evaluated_during_upload: list[int] = []

    with connect(address) as connection:
        started = time.perf_counter()
        connection.upload_evaluation_keys(keys)
        keys_s = time.perf_counter() - started

        def progress(sent: int, total: int, sent_bytes: int) -> None:
            if sent == total:
                record = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
                evaluated_during_upload.append(record.chunks_evaluated if record else -1)

        started = time.perf_counter()
        accepted = connection.submit_job(header, iter(ciphertexts), progress=progress)
        upload_s = time.perf_counter() - started
        final = connection.wait_for_job(accepted.job_id)
        job_s = time.perf_counter() - started
        result = connection.fetch_result(accepted.job_id)

    assert final.state is JobState.SUCCEEDED
    values = case.keys.decryptor().decrypt(result.outputs[0], level=case.plan.output_level)
    assert decode_counts([values], case.public, ROWS) == plaintext_counts(case.data)

    batches = list(server.manager.batch_seconds)[batches_before:]
    chunks = sum(n for n, _ in batches)
    assert chunks == case.plan.n_chunks
    per_chunk = sum(s for _, s in batches) / chunks
    report = {
        "rows": ROWS,
        "chunks": case.plan.n_chunks,
        "ciphertexts": len(ciphertexts),
        "ciphertext_bytes_mean": payload // len(ciphertexts),
        "client_encrypt_s": round(encrypt_s, 3),
        "key_bytes": keys.size_bytes,
        "key_upload_MB_per_s": round(keys.size_bytes / keys_s / 1e6, 1),
        "ciphertext_upload_MB_per_s": round(payload / upload_s / 1e6, 1),
        "eval_s_per_chunk_per_worker": round(per_chunk, 4),
        "batch_chunks": BATCH_CHUNKS,
        "job_s_from_upload_start": round(job_s, 3),
        "chunks_evaluated_when_upload_ended": evaluated_during_upload[-1],
    }
    print("\nMEASURED", report)
    # pipelining: every batch was dispatched as soon as its chunks were in, before the upload
    # stream ended
    events = [event for job, event, _ in server.manager.events if job == accepted.job_id]
    n_batches = -(-case.plan.n_chunks // BATCH_CHUNKS)
    assert events[: n_batches + 1] == ["dispatch"] * n_batches + ["upload_finished"]
    assert events[-1] == "finalize"
    assert report["ciphertext_upload_MB_per_s"] > 5
    assert per_chunk < 2.0
    assert job_s < 60
