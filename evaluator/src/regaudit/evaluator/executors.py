"""Where the evaluator's circuit work runs: the executor protocol the job runner uses.

The job runner (``jobs.JobManager``) hands an :class:`Executor` file-named tasks in the daemon's
store (a batch of uploaded chunk ciphertexts, then one finalize task) and gets back futures of
results whose ciphertexts are files in the same store. How the work gets done is the executor's
business:

* :class:`~regaudit.evaluator.local_executor.LocalExecutor` — a ``spawn`` process pool on this
  machine (one process per core), created before any gRPC server exists. Workers read and write
  the store's files directly.
* :class:`~regaudit.evaluator.dask_executor.DaskExecutor` — an existing ``distributed`` cluster
  (``serve --dask-scheduler``). Remote workers cannot read the daemon's disk, so each task
  carries its ciphertext bytes and returns the partial accumulators / outputs as bytes, which
  the daemon writes back into its store. The daemon (and therefore the cluster) never holds a
  CKKS secret key.

Whatever the executor, the daemon checks every ciphertext and operation count a worker returns
before using or signing it (``jobs``/``checks``).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol, runtime_checkable

from regaudit.evaluator.tasks import BatchResult, BatchTask, FinalizeResult, FinalizeTask


@runtime_checkable
class Executor(Protocol):
    """Runs the evaluator's worker tasks; results' ciphertexts land in the daemon's store."""

    name: str

    def submit_batch(self, task: BatchTask) -> Future[BatchResult]:
        """Evaluate a batch of uploaded chunks into partial accumulators (files in
        ``task.partial_dir``)."""
        ...

    def submit_finalize(self, task: FinalizeTask) -> Future[FinalizeResult]:
        """Combine the partials, finalize the circuit and run the canary (files in
        ``task.outputs_dir``)."""
        ...

    def worker_pids(self) -> list[int]:
        """Process ids of the worker processes (on their own machines for remote executors)."""
        ...

    def forget_keys(self, digest: str) -> None:
        """The daemon deleted evaluation keys ``digest``: drop any copy the workers cache."""
        ...

    def shutdown(self) -> None:
        """Stop: cancel queued work, release workers/connections. Idempotent."""
        ...


__all__ = ["Executor"]
