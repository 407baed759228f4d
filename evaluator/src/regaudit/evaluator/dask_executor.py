"""The Dask executor: circuit work on an existing ``distributed`` cluster.

Remote workers cannot read the daemon's disk, so each task carries its ciphertext bytes and
returns the partial accumulators / outputs as bytes, which the daemon writes back into its store
(``dask_tasks``). Evaluation keys are shipped once per worker (``Client.run(install_keys)``) and
cached there by digest; a task that does not find its keys raises ``KeysNotCachedError`` and the
executor re-ships them to the workers that lack them and retries. The daemon (and therefore the
cluster) never holds a CKKS secret key; which schedulers it accepts is ``dask_security``'s.

Cluster failures (scheduler unreachable, no workers, workers lost) become ``WorkerFailure``
with reason :data:`REASON_DASK_UNAVAILABLE`, so the job FAILS with a clear reason and the daemon
keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

from regaudit.evaluator.dask_security import check_scheduler_address, software_mismatches
from regaudit.evaluator.dask_tasks import (
    PartialLoader,
    batch_payload,
    batch_result,
    finalize_payload,
    finalize_result,
    held_partial,
    stored_partial,
)
from regaudit.evaluator.tasks import (
    BatchBytesResult,
    BatchResult,
    BatchTask,
    CombineBytesResult,
    CombineBytesTask,
    Counts,
    FinalizeBytesResult,
    FinalizeResult,
    FinalizeTask,
    KeyFiles,
    KeyPayload,
    PartialBytes,
)
from regaudit.evaluator.worker_keys import (
    REASON_KEYS_NOT_CACHED,
    drop_keys,
    has_keys,
    install_keys,
)
from regaudit.evaluator.workers import (
    WorkerFailure,
    combine_partials_bytes,
    evaluate_batch_bytes,
    finalize_bytes,
    software_identity,
)
from regaudit.shared.errors import EXIT_USAGE, RegauditError

log = logging.getLogger("regaudit.evaluator.executors")

#: A ``distributed.Client`` (its methods carry no annotations).
DaskClient: TypeAlias = Any
#: A ``distributed.Future`` (its methods carry no annotations).
DaskFuture: TypeAlias = Any
#: A ``distributed.security.Security`` (TLS material for the cluster's connections).
DaskSecurity: TypeAlias = Any

Payload = TypeVar("Payload")
Result = TypeVar("Result")
Task = TypeVar("Task")

#: Reason recorded on jobs that failed because the Dask cluster could not run them.
REASON_DASK_UNAVAILABLE = "dask_unavailable"
#: Seconds to wait for the Dask scheduler when connecting (and reconnecting).
DASK_CONNECT_TIMEOUT_S = 30.0
#: How often a waiting dispatcher thread re-checks the cluster (s).
DASK_POLL_S = 2.0
#: A task fails if the cluster has had no worker at all for this long (s).
DASK_NO_WORKERS_TIMEOUT_S = 60.0
#: Times a task is re-submitted after its worker reported missing evaluation keys (or lost the
#: task's scattered payload).
KEY_RESHIP_ATTEMPTS = 2
#: Daemon threads that feed the cluster (each waits on one task); the default scales with the
#: cluster's total thread count, within these bounds.
MIN_DISPATCH_THREADS = 4
MAX_DISPATCH_THREADS = 64
#: Batches whose partials one finalize (or combine) task receives on a Dask cluster; more are
#: added up first in groups of this size, so task payloads stay bounded (see ``_reduce``).
FINALIZE_FANIN = 16
#: Entries kept in the key-shipping log.
SHIP_LOG_SIZE = 1_000


class DaskUnavailableError(RegauditError):
    """The Dask cluster cannot be reached or cannot run the work."""

    reason = REASON_DASK_UNAVAILABLE
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


class DaskWorkerMismatchError(DaskUnavailableError):
    """A Dask worker runs other regaudit software (versions, circuits or profiles) than the
    daemon: its results could not be what the receipt attests."""


@dataclass(frozen=True)
class KeyShipment:
    """One shipment of evaluation keys to some workers (for operators and measurements)."""

    digest: str
    workers: tuple[str, ...]
    nbytes: int
    seconds: float


class DaskExecutor:
    """Runs tasks on an existing Dask ``distributed`` cluster.

    ``scheduler_address`` is ``tcp://127.0.0.1:8786`` (loopback only) or ``tls://…`` with
    ``security``, a ``distributed.security.Security`` (see :func:`check_scheduler_address`).
    Workers must have ``regaudit-evaluator`` (same version) installed and should run one thread
    per process (SEAL holds the GIL). A worker is as trusted as the daemon itself.
    """

    name = "dask"

    def __init__(
        self,
        scheduler_address: str,
        *,
        security: DaskSecurity | None = None,
        connect_timeout: float = DASK_CONNECT_TIMEOUT_S,
        dispatch_threads: int | None = None,
        no_workers_timeout: float = DASK_NO_WORKERS_TIMEOUT_S,
        finalize_fanin: int = FINALIZE_FANIN,
    ) -> None:
        check_scheduler_address(scheduler_address, tls=security is not None)
        try:
            import distributed  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installed extra
            raise DaskUnavailableError(
                "Dask is not installed: pip install 'regaudit-evaluator[dask]'",
                field="dask_scheduler",
            ) from exc
        self.scheduler_address = scheduler_address
        self.security = security
        self.connect_timeout = connect_timeout
        self.no_workers_timeout = no_workers_timeout
        if finalize_fanin < 2:
            raise DaskUnavailableError("finalize_fanin must be at least 2", field="finalize_fanin")
        self.finalize_fanin = finalize_fanin
        self._closed = threading.Event()
        self._keys_lock = threading.Lock()
        #: digest -> worker addresses known to hold the keys
        self._shipped: dict[str, set[str]] = {}
        #: every key shipment (digest, workers, bytes, seconds)
        self.shipments: deque[KeyShipment] = deque(maxlen=SHIP_LOG_SIZE)
        #: remote tasks completed, by kind ("batch", "combine", "finalize")
        self.tasks_done: Counter[str] = Counter()
        self._client_lock = threading.Lock()
        #: this daemon's software identity; workers already found to match it
        self._identity = software_identity()
        self._checked_workers: set[str] = set()
        self.client: DaskClient = self._connect()
        try:
            # import SEAL and the circuits on every worker now, and prove they run our regaudit
            self._check_workers(sorted(self.client.nthreads()))
            threads = sum(self.client.nthreads().values())
        except DaskWorkerMismatchError:
            self.client.close()
            raise
        except Exception as exc:  # noqa: BLE001
            self.client.close()
            raise DaskUnavailableError(
                f"the Dask workers at {scheduler_address} cannot run regaudit tasks "
                f"(is regaudit-evaluator installed on them?): {type(exc).__name__}: {exc}",
                field="dask_scheduler",
            ) from exc
        count = dispatch_threads or min(
            MAX_DISPATCH_THREADS, max(MIN_DISPATCH_THREADS, 2 * threads)
        )
        self._dispatch = ThreadPoolExecutor(max_workers=count, thread_name_prefix="dask-dispatch")

    def _connect(self) -> DaskClient:
        from distributed import Client

        try:
            return Client(  # type: ignore[no-untyped-call]  # (distributed: no annotations)
                self.scheduler_address,
                timeout=self.connect_timeout,
                security=self.security,
                set_as_default=False,
            )
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, comm errors…
            raise DaskUnavailableError(
                f"cannot connect to the Dask scheduler at {self.scheduler_address}: "
                f"{type(exc).__name__}: {exc}",
                field="dask_scheduler",
            ) from exc

    def _check_workers(self, addresses: list[str]) -> None:
        """Raise DaskWorkerMismatchError unless every worker in ``addresses`` reports this
        daemon's software identity.

        Steps: 1. ask the workers not checked before for their identity (versions, circuits,
        profile hashes); 2. compare each with the daemon's, field by field; 3. remember the
        matching ones, refuse with every mismatching field named.
        """
        # 1.
        unchecked = [address for address in addresses if address not in self._checked_workers]
        if not unchecked:
            return
        reported = self.client.run(software_identity, workers=unchecked)
        # 2.
        problems = software_mismatches(reported, self._identity)
        # 3.
        if problems:
            raise DaskWorkerMismatchError(
                "Dask workers run other regaudit software than this daemon: "
                + " | ".join(problems),
                field="dask_scheduler",
            )
        self._checked_workers.update(reported)

    def _ensure_connected(self) -> None:
        """Reconnect once the client has given up on a scheduler that went away (the Dask
        client itself retries for ``connect_timeout`` seconds first), so a restarted cluster
        serves the next job without restarting the daemon."""
        with self._client_lock:
            if self._closed.is_set() or self.client.status in ("running", "connecting"):
                return
            log.warning(
                "Dask client is %s; reconnecting to %s", self.client.status, self.scheduler_address
            )
            with contextlib.suppress(Exception):
                self.client.close(timeout=1)
            self.client = self._connect()
            with self._keys_lock:
                self._shipped.clear()

    # --- Executor -----------------------------------------------------------------------------

    def submit_batch(self, task: BatchTask) -> Future[BatchResult]:
        return self._dispatch.submit(self._guard, self._run_batch, task)

    def submit_finalize(self, task: FinalizeTask) -> Future[FinalizeResult]:
        return self._dispatch.submit(self._guard, self._run_finalize, task)

    def worker_pids(self) -> list[int]:
        return sorted(int(pid) for pid in self.client.run(os.getpid).values())

    def shutdown(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._dispatch.shutdown(wait=False, cancel_futures=True)
        try:
            self.client.close(timeout=10)
        except Exception as exc:  # noqa: BLE001 - closing a dead connection must not raise
            log.warning("closing the Dask client: %s", exc)

    # --- keys ---------------------------------------------------------------------------------

    def ensure_keys(self, keys: KeyFiles) -> None:
        """Ship ``keys`` to every current worker that does not hold them yet (once per worker).

        Steps: 1. list the cluster's workers and check the software of new ones
        (DaskWorkerMismatchError); 2. ask only the workers not yet known to hold the
        digest whether they have it; 3. ship the serialized keys to those that do not.
        """
        with self._keys_lock:
            # 1. workers (a worker that joined since is checked first)
            current = set(self.client.nthreads())
            self._checked_workers &= current
            self._check_workers(sorted(current))
            known = self._shipped.setdefault(keys.digest, set())
            known &= current  # forget workers that left
            unknown = sorted(current - known)
            if not unknown:
                return
            # 2. which of them lack the keys
            have = self.client.run(has_keys, keys.digest, workers=unknown)
            missing = sorted(address for address, present in have.items() if not present)
            # 3. ship
            if missing:
                payload = KeyPayload(
                    digest=keys.digest,
                    profile_name=keys.profile_name,
                    galois_steps=keys.galois_steps,
                    relin_keys=Path(keys.relin_path).read_bytes(),
                    galois_keys=Path(keys.galois_path).read_bytes(),
                )
                started = time.perf_counter()
                self.client.run(install_keys, payload, workers=missing)
                shipment = KeyShipment(
                    digest=keys.digest,
                    workers=tuple(missing),
                    nbytes=len(payload.relin_keys) + len(payload.galois_keys),
                    seconds=time.perf_counter() - started,
                )
                self.shipments.append(shipment)
                log.info(
                    "shipped evaluation keys %s (%d bytes) to %d worker(s) in %.2f s",
                    keys.digest,
                    shipment.nbytes,
                    len(missing),
                    shipment.seconds,
                )
            known.update(have)

    def _forget_keys(self, digest: str) -> None:
        with self._keys_lock:
            self._shipped.pop(digest, None)

    def forget_keys(self, digest: str) -> None:
        """The daemon deleted the keys ``digest``: every worker drops its cached copy (shipped
        bytes and loaded keys), and the daemon forgets where it shipped them."""
        self._forget_keys(digest)
        if self._closed.is_set():
            return
        dropped = self.client.run(drop_keys, digest)
        log.info(
            "evaluation keys %s dropped on %d of %d Dask worker(s)",
            digest,
            sum(1 for held in dropped.values() if held),
            len(dropped),
        )

    # --- tasks --------------------------------------------------------------------------------

    def _guard(self, fn: Callable[[Task], Result], task: Task) -> Result:
        """Run ``fn(task)``; anything that is not a worker's own typed failure becomes a
        ``WorkerFailure`` with reason ``dask_unavailable``."""
        try:
            self._ensure_connected()
            return fn(task)
        except WorkerFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - every cluster failure fails the job, typed
            if isinstance(exc, DaskUnavailableError):
                message = exc.message
            else:
                message = (
                    f"the Dask cluster at {self.scheduler_address} failed: "
                    f"{type(exc).__name__}: {exc}"
                )
            raise WorkerFailure(REASON_DASK_UNAVAILABLE, message, "DaskUnavailableError") from None

    def _remote(
        self, fn: Callable[[Payload], Result], payload: Payload, keys: KeyFiles, name: str
    ) -> Result:
        """Run ``fn(payload)`` on the cluster after making sure the keys are on the workers.

        The payload is scattered to a worker (not embedded in the task graph, so it never
        passes through the scheduler). A worker reporting missing keys gets them re-shipped and
        the task is retried; so is a task whose scattered payload was lost with its worker.
        """
        for attempt in range(KEY_RESHIP_ATTEMPTS + 1):
            self.ensure_keys(keys)
            [data] = self.client.scatter([payload], hash=False)
            future = self.client.submit(
                fn, data, key=f"regaudit-{name}-{uuid.uuid4().hex}", pure=False
            )
            try:
                # (the future holds what ``fn`` returned on the worker)
                result = cast("Result", self._wait(future))
                with self._keys_lock:
                    self.tasks_done[name.split("-", 1)[0]] += 1
                return result
            except WorkerFailure as failure:
                if failure.reason != REASON_KEYS_NOT_CACHED or attempt == KEY_RESHIP_ATTEMPTS:
                    raise
                log.warning("%s; re-shipping the keys", failure.message)
                self._forget_keys(keys.digest)
            except (CancelledError, asyncio.CancelledError) as exc:
                if self._closed.is_set() or attempt == KEY_RESHIP_ATTEMPTS:
                    raise DaskUnavailableError(
                        f"task {name} was lost on the Dask cluster at {self.scheduler_address} "
                        f"({type(exc).__name__}: {exc})"
                    ) from exc
                log.warning("task %s lost (%s); submitting it again", name, exc)
            finally:
                future.release()
                data.release()
        raise AssertionError("unreachable")

    def _wait(self, future: DaskFuture) -> object:
        no_workers_since: float | None = None
        while True:
            if self._closed.is_set():
                future.cancel()
                raise DaskUnavailableError("the evaluator is shutting down")
            try:
                return future.result(timeout=DASK_POLL_S)
            except TimeoutError:
                pass
            if future.status == "error":
                continue  # result() raises the task's own exception on the next turn
            if self.client.status != "running":
                raise DaskUnavailableError(
                    f"lost the connection to the Dask scheduler at {self.scheduler_address} "
                    f"(client {self.client.status})"
                )
            if self.client.nthreads():
                no_workers_since = None
                continue
            now = time.monotonic()
            no_workers_since = no_workers_since or now
            if now - no_workers_since > self.no_workers_timeout:
                future.cancel()
                raise DaskUnavailableError(
                    f"the Dask cluster at {self.scheduler_address} has had no workers for "
                    f"{self.no_workers_timeout:.0f} s"
                )

    def _run_batch(self, task: BatchTask) -> BatchResult:
        result: BatchBytesResult = self._remote(
            evaluate_batch_bytes,
            batch_payload(task),
            task.keys,
            f"batch-{task.job_id}-{task.batch}",
        )
        if not Path(task.partial_dir).is_dir():  # the job failed or was discarded: no files
            raise DaskUnavailableError(f"job {task.job_id} was discarded during its batch")
        return batch_result(task, result)

    def _reduce(self, task: FinalizeTask) -> tuple[list[PartialBytes], list[Counts]]:
        """Partials for the finalize task, at most ``finalize_fanin`` of them: larger jobs are
        first added up group by group on the workers (a tree of combine tasks), so no payload
        and no daemon buffer grows with the number of batches. Additions are exact modular
        additions, so the result does not depend on the grouping."""
        loaders: list[PartialLoader] = [
            stored_partial(files, levels) for files, levels in task.partials
        ]
        counts: list[Counts] = []
        fanin = self.finalize_fanin
        while len(loaders) > fanin:
            combined: list[PartialLoader] = []
            for start in range(0, len(loaders), fanin):
                group = loaders[start : start + fanin]
                if len(group) == 1:
                    combined.extend(group)
                    continue
                payload = CombineBytesTask(
                    job_id=task.job_id,
                    keys_digest=task.keys.digest,
                    profile_name=task.profile_name,
                    max_level=task.max_level,
                    partials=tuple(load() for load in group),
                )
                result: CombineBytesResult = self._remote(
                    combine_partials_bytes, payload, task.keys, f"combine-{task.job_id}-{start}"
                )
                counts.append(result.counts)
                combined.append(held_partial((result.partials, result.partial_levels)))
            loaders = combined
        return [load() for load in loaders], counts

    def _run_finalize(self, task: FinalizeTask) -> FinalizeResult:
        partials, combine_counts = self._reduce(task)
        result: FinalizeBytesResult = self._remote(
            finalize_bytes, finalize_payload(task, partials), task.keys, f"finalize-{task.job_id}"
        )
        return finalize_result(task, result, combine_counts)


__all__ = [
    "DASK_CONNECT_TIMEOUT_S",
    "FINALIZE_FANIN",
    "REASON_DASK_UNAVAILABLE",
    "DaskExecutor",
    "DaskUnavailableError",
    "DaskWorkerMismatchError",
    "KeyShipment",
]
