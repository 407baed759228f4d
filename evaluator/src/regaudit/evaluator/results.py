"""What the evaluator streams back: a job's progress while it runs, then its signed receipt and
encrypted outputs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import grpc

from regaudit.evaluator.collection import missing_job_error
from regaudit.evaluator.jobs import JobManager
from regaudit.evaluator.status import RpcAbort
from regaudit.evaluator.store import JobRecord, Store
from regaudit.evaluator.witness_jobs import read_partial_digests
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.errors import ProtocolError
from regaudit.shared.protocol import (
    CHUNK_BYTES,
    JobFailedError,
    JobNotFinishedError,
    JobProgress,
    JobState,
)

#: How often a WatchJob stream re-checks a job that did not signal a change.
WATCH_POLL_S = 0.5


def watch_progress(
    manager: JobManager,
    job_id: str,
    *,
    is_active: Callable[[], bool],
    stopping: threading.Event,
) -> Iterator[pb.JobProgress]:
    """Every change of the job's progress until it is final or the caller leaves
    (``is_active``); UNAVAILABLE once ``stopping`` is set (a graceful stop began)."""
    last = None
    while True:
        progress = manager.progress(job_id)
        if progress is None:
            raise missing_job_error(manager.store, job_id)
        if progress != last:
            yield progress.to_proto()
            last = progress
        if progress.state.terminal or not is_active():
            return
        if stopping.is_set():
            raise RpcAbort(
                ProtocolError("the evaluator is shutting down; watch again later"),
                code=grpc.StatusCode.UNAVAILABLE,
            )
        with manager.changed:
            manager.changed.wait(timeout=WATCH_POLL_S)


def result_messages(
    store: Store, job_id: str, *, held_failure: JobProgress | None = None
) -> Iterator[pb.GetResultResponse]:
    """A succeeded job's result: a header with the receipt and sizes, then every output and
    the canary in pieces of at most :data:`CHUNK_BYTES` (an empty file as one empty piece).
    ``held_failure``: the job's failure the store could not record (answered as failed)."""
    if held_failure is not None:
        raise JobFailedError(
            f"job {job_id} failed ({held_failure.error_reason}): {held_failure.message}",
            field="job_id",
        )
    record = store.get_job(job_id) if job_id else None
    if record is None:
        raise missing_job_error(store, job_id)
    if record.state is JobState.FAILED:
        raise JobFailedError(
            f"job {record.id} failed ({record.error_reason}): {record.error_message}",
            field="job_id",
        )
    if record.state is not JobState.SUCCEEDED or record.receipt is None:
        raise JobNotFinishedError(f"job {record.id} is {record.state.value}", field="job_id")
    try:
        yield from _stream(store, record)
    except FileNotFoundError:
        # retention collected the job while it streamed: say so (else the store lost a file)
        if store.get_job(record.id) is None:
            raise missing_job_error(store, record.id) from None
        raise


def _stream(store: Store, record: JobRecord) -> Iterator[pb.GetResultResponse]:
    partial_digests = read_partial_digests(store, record)
    if record.output_count == 0:  # a sampled witness job: the receipt and its digests only
        yield pb.GetResultResponse(
            header=pb.ResultHeader(
                job_id=record.id,
                receipt_envelope_json=record.receipt,
                partial_digests=partial_digests,
            )
        )
        return
    outputs = [store.output_path(record.id, i) for i in range(record.output_count)]
    canary = store.canary_output_path(record.id)
    yield pb.GetResultResponse(
        header=pb.ResultHeader(
            job_id=record.id,
            receipt_envelope_json=record.receipt,
            output_sizes=[p.stat().st_size for p in outputs],
            canary_size=canary.stat().st_size,
            partial_digests=partial_digests,
        )
    )
    names = [f"output/{i}" for i in range(len(outputs))] + ["canary"]
    for name, path in zip(names, [*outputs, canary], strict=True):
        with path.open("rb") as handle:
            offset = 0
            while True:
                data = handle.read(CHUNK_BYTES)
                if not data and offset:
                    break
                yield pb.GetResultResponse(
                    piece=pb.ResultPiece(name=name, offset=offset, data=data)
                )
                offset += len(data)
                if not data:
                    break


__all__ = ["WATCH_POLL_S", "result_messages", "watch_progress"]
