"""The daemon checks what its workers return, and deletes a job's inputs and keys when it ends.

A test executor wraps the real local process pool and, on demand, tampers with what a worker
returns: a partial or an output replaced by a valid ciphertext at the wrong level, garbage bytes,
or self-reported operation counts that are not the plan's. Each makes the job fail with reason
``worker_output_invalid`` while the daemon keeps serving. Honest jobs succeed; when a job ends
(either way) its input ciphertexts, partials and evaluation keys are gone from the store while
its result stays fetchable, the receipt attests the deletion, the same keys can be uploaded
again, and re-submitting a finished job is answered from the store.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from support.jobs import FairnessJob
from support.signing import connect

from regaudit.evaluator.checks import REASON_WORKER_OUTPUT_INVALID
from regaudit.evaluator.local_executor import LocalExecutor
from regaudit.evaluator.server import EvaluatorServer, create_server
from regaudit.evaluator.tasks import BatchResult, BatchTask, FinalizeResult, FinalizeTask
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.statements import parse_receipt
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import JobState

ROWS = 2 * PROFILE_N8192_D3.slot_count + 100  # three chunks, one batch


class Job(FairnessJob):
    """A small real fairness job with its own client keys (tests/support/jobs.py)."""

    def __init__(self, seed: int) -> None:
        super().__init__(ROWS, seed)

    def submit(self, server: EvaluatorServer) -> tuple[str, JobState, str]:  # type: ignore[override]
        """Upload the keys, submit, wait: (job id, final state, failure reason)."""
        return super().submit(f"127.0.0.1:{server.port}")


class TamperingExecutor:
    """The real local pool; ``mode`` makes it tamper with what the workers return."""

    name = "tampering"

    def __init__(self) -> None:
        self.inner = LocalExecutor(2)
        self.mode = ""
        self._threads = ThreadPoolExecutor(max_workers=4)

    def submit_batch(self, task: BatchTask) -> Future[BatchResult]:
        return self._threads.submit(self._batch, task)

    def submit_finalize(self, task: FinalizeTask) -> Future[FinalizeResult]:
        return self._threads.submit(self._finalize, task)

    def _batch(self, task: BatchTask) -> BatchResult:
        result = self.inner.submit_batch(task).result()
        if self.mode == "partial_wrong_level":
            # a valid ciphertext of this very job, at the input level instead of the partial's
            canary = Path(task.chunk_files[0][0]).parent / f"{0:07d}.ct"
            # (the last accumulator is deeper than the input level for fairness)
            Path(result.partial_files[-1]).write_bytes(canary.read_bytes())
        elif self.mode == "partial_garbage":
            Path(result.partial_files[0]).write_bytes(b"\x00" * 64)
        elif self.mode == "batch_counts":
            counts = dict(result.counts, rotations=int(result.counts["rotations"]) - 1)
            result = dataclasses.replace(result, counts=counts)
        elif self.mode == "partial_levels":
            levels = tuple(level + 1 for level in result.partial_levels)
            result = dataclasses.replace(result, partial_levels=levels)
        return result

    def _finalize(self, task: FinalizeTask) -> FinalizeResult:
        result = self.inner.submit_finalize(task).result()
        if self.mode == "output_wrong_level":
            # the decryption-oracle move: hand back an input ciphertext as an "output"
            Path(result.output_files[0]).write_bytes(Path(task.canary_file).read_bytes())
        elif self.mode == "canary_swapped":
            Path(result.canary_output_file).write_bytes(Path(result.output_files[0]).read_bytes())
        elif self.mode == "output_elsewhere":
            result = dataclasses.replace(
                result, output_files=(task.canary_file, *result.output_files[1:])
            )
        elif self.mode == "final_counts":
            counts = dict(result.counts, additions=int(result.counts["additions"]) + 3)
            result = dataclasses.replace(result, counts=counts)
        return result

    def worker_pids(self) -> list[int]:
        return self.inner.worker_pids()

    def forget_keys(self, digest: str) -> None:
        self.inner.forget_keys(digest)

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.inner.shutdown()


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return SigningIdentity.generate("evaluator")


@pytest.fixture(scope="module")
def tampering(
    tmp_path_factory: pytest.TempPathFactory, identity: SigningIdentity
) -> Iterator[tuple[EvaluatorServer, TamperingExecutor]]:
    executor = TamperingExecutor()
    server, _port = create_server(
        "127.0.0.1:0",
        identity=identity,
        store_path=tmp_path_factory.mktemp("checked-store"),
        executor=executor,
    )
    server.start()
    try:
        yield server, executor
    finally:
        server.stop(grace=1.0)


def _assert_released(server: EvaluatorServer, job_id: str, digest: str) -> None:
    """The job's inputs, partials and keys are gone from the store directory."""
    job_dir = server.store.job_dir(job_id)
    assert not (job_dir / "inputs").exists()
    assert not server.store.partials_dir(job_id).exists()
    assert server.store.get_keys(digest) is None
    assert not (server.store.root / "keys" / digest.removeprefix("sha256:")).exists()
    leftovers = [p for p in server.store.root.rglob("*") if p.is_file() and p.suffix == ".bin"]
    assert leftovers == [], leftovers


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "mode",
    [
        "partial_wrong_level",
        "partial_garbage",
        "batch_counts",
        "partial_levels",
        "output_wrong_level",
        "canary_swapped",
        "output_elsewhere",
        "final_counts",
    ],
)
def test_a_cheating_worker_fails_the_job_and_the_daemon_keeps_serving(
    tampering: tuple[EvaluatorServer, TamperingExecutor], mode: str
) -> None:
    server, executor = tampering
    job = Job(seed=len(mode))
    executor.mode = mode
    try:
        job_id, state, reason = job.submit(server)
    finally:
        executor.mode = ""
    assert state is JobState.FAILED
    assert reason == REASON_WORKER_OUTPUT_INVALID
    record = server.store.get_job(job_id)
    assert record is not None and record.receipt is None
    assert record.error_reason == REASON_WORKER_OUTPUT_INVALID
    # a failed job's inputs, partials and keys are deleted too
    _assert_released(server, job_id, job.digest)
    # the daemon keeps serving: the same job (keys uploaded again) now succeeds
    job.idempotency_key = secrets.token_hex(16)
    _job_id, state, reason = job.submit(server)
    assert (state, reason) == (JobState.SUCCEEDED, "")


@pytest.mark.timeout(300)
def test_job_end_deletes_inputs_and_keys_and_the_result_stays(
    tampering: tuple[EvaluatorServer, TamperingExecutor], identity: SigningIdentity
) -> None:
    server, _executor = tampering
    job = Job(seed=101)
    job_id, state, _reason = job.submit(server)
    assert state is JobState.SUCCEEDED
    _assert_released(server, job_id, job.digest)
    with connect(f"127.0.0.1:{server.port}") as connection:
        assert not connection.has_evaluation_keys(job.digest)
        result = connection.fetch_result(job_id)
        # the receipt attests the deletion, its counts are the plan's, its depth the plan's
        receipt = parse_receipt(
            verify_envelope(
                result.receipt_envelope, public_key=identity.public_key, key_id=identity.key_id
            )
        )
        assert receipt.retention == {"input_ciphertexts": "deleted", "evaluation_keys": "deleted"}
        assert receipt.operation_counts == job.plan.counts.to_dict()
        assert receipt.depth_observed == job.plan.depth
        decryptor = job.keys.decryptor()
        decrypted = [decryptor.decrypt(c, level=job.plan.output_level) for c in result.outputs]
        assert decode_counts(decrypted, job.data.public, ROWS) == plaintext_counts(job.data)

        # re-submitting the finished job (same idempotency key and header; the client uploads
        # its keys again first) is answered from the store, not run again
        connection.upload_evaluation_keys(job.keys.evaluation_keys())
        again = connection.submit_job(job.header(), iter(job.ciphertexts))
        assert again.deduplicated and again.job_id == job_id
        assert again.state is JobState.SUCCEEDED
        assert connection.fetch_result(job_id).receipt_envelope == result.receipt_envelope
    # ... and the keys uploaded for it go once idle (the daemon sweeps them)
    assert job.digest in server.manager.sweep_idle_keys(ttl=0.0)
    assert server.store.get_keys(job.digest) is None


@pytest.mark.timeout(300)
def test_a_receipt_never_attests_a_deletion_that_failed(
    tampering: tuple[EvaluatorServer, TamperingExecutor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inputs that could not be deleted fail the job (deletion_failed): no receipt says
    "deleted" while they are still on disk."""
    server, _executor = tampering
    monkeypatch.setattr(server.store, "discard_scratch", lambda job_id: None)
    job = Job(seed=202)
    job_id, state, reason = job.submit(server)
    assert (state, reason) == (JobState.FAILED, "deletion_failed")
    record = server.store.get_job(job_id)
    assert record is not None and record.receipt is None
    monkeypatch.undo()
    server.store.discard_scratch(job_id)


@pytest.mark.timeout(300)
def test_keys_shared_with_a_running_job_stay_until_it_ends(
    tampering: tuple[EvaluatorServer, TamperingExecutor], identity: SigningIdentity
) -> None:
    server, _executor = tampering
    job = Job(seed=202)
    # another job that has not ended (still receiving) uses the same keys
    with connect(f"127.0.0.1:{server.port}") as connection:
        connection.upload_evaluation_keys(job.keys.evaluation_keys())
    holder = Job.__new__(Job)
    holder.__dict__.update(job.__dict__, idempotency_key=secrets.token_hex(16))
    from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb

    record, _created = server.store.create_job(
        idempotency_key="holder-" + holder.idempotency_key,
        header_digest="sha256:" + "1" * 64,
        header=pb.JobHeader(evaluation_keys_digest=job.digest).SerializeToString(),
        n_chunks=1,
    )
    job_id, state, _reason = job.submit(server)
    assert state is JobState.SUCCEEDED
    assert not (server.store.job_dir(job_id) / "inputs").exists()
    assert server.store.get_keys(job.digest) is not None
    with connect(f"127.0.0.1:{server.port}") as connection:
        receipt = parse_receipt(
            verify_envelope(
                connection.fetch_result(job_id).receipt_envelope,
                public_key=identity.public_key,
                key_id=identity.key_id,
            )
        )
    assert receipt.retention == {
        "input_ciphertexts": "deleted",
        "evaluation_keys": "retained_until_jobs_end",
    }
    # when the last job using them ends, the keys go
    with server.manager.changed:
        server.store.update_job(record.id, state=JobState.FAILED)
        server.manager.retention.release(record.id)
    assert server.store.get_keys(job.digest) is None


def test_restart_releases_finished_jobs_and_sweeps_stale_scratch(tmp_path: Path) -> None:
    """A store opened again deletes half-written blobs and key directories without meta.json;
    the daemon's resume releases a finished job's leftover inputs and keys."""
    from regaudit.evaluator.store import Store

    store = Store(tmp_path)
    outputs = store.job_dir("deadbeef") / "outputs"
    outputs.mkdir(parents=True)
    (outputs / ".tmp-abc").write_bytes(b"half")
    half_keys = tmp_path / "keys" / ("ab" * 32)
    half_keys.mkdir()
    (half_keys / "relin.bin").write_bytes(b"x")
    store.close()
    reopened = Store(tmp_path)
    assert not (outputs / ".tmp-abc").exists()
    assert not half_keys.exists()
    assert {p.name for p in reopened.swept} == {".tmp-abc", "ab" * 32}
    reopened.close()
