"""Bounded resources: stall timers, a limit on concurrent long streams, and a free-disk check.

A daemon's gRPC handler threads are few; before these bounds, clients that opened key-upload
streams and then sent nothing held every thread and froze the daemon (a ``GetCapabilities``
timed out). Now:

* **Stall timer.** Every client-streaming RPC (``UploadEvaluationKeys``, ``SubmitJob``) reads
  its messages through :class:`StallTimedIterator`: when no message arrives for
  ``stream_stall_s`` seconds (``--stream-stall-seconds``) the stream is aborted with
  DEADLINE_EXCEEDED, reason ``stream_stalled``; the partial upload is discarded (a key
  upload's scratch files are removed; an admitted job fails ``upload_incomplete`` as for any
  broken stream) and nothing else is affected.
* **Stream limit.** Long streams (uploads, submissions, watches, results) each take one of
  ``max_streams`` slots (``--max-streams``); over the limit a call is refused at once with
  RESOURCE_EXHAUSTED, reason ``server_busy``, and a ``google.rpc.RetryInfo`` retry delay. The
  gRPC thread pool has ``max_streams`` + :data:`SHORT_CALL_THREADS` threads, so short calls
  (``GetCapabilities``, ``HasEvaluationKeys``, health) always find one, and the server accepts
  at most :attr:`FlowLimits.maximum_concurrent_rpcs` calls at once (gRPC refuses the rest with
  RESOURCE_EXHAUSTED itself).
* **Free disk.** Before a key upload or a job is accepted, the store's file system must have
  at least ``min_free_bytes`` free (``--min-free-bytes``); otherwise RESOURCE_EXHAUSTED, reason
  ``disk_full``.
* **Quotas.** :attr:`FlowControl.quotas` (:mod:`.quotas`): per-client and global quotas on
  jobs, bytes in flight and stored bytes, and rate limits; a key upload runs under its client's
  reservation (:meth:`FlowControl.key_upload`), a job's under admission's.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from regaudit.evaluator.logs import log_event
from regaudit.evaluator.quota_limits import QuotaLimits
from regaudit.evaluator.quotas import QuotaLedger
from regaudit.shared.errors import DiskFullError, InputError, ServerBusyError, StreamStalledError

log = logging.getLogger("regaudit.evaluator.server")

#: Default ``--max-streams``: long streams (uploads, submissions, watches, results) at once.
DEFAULT_MAX_STREAMS = 32
#: Default ``--stream-stall-seconds``: the longest wait for a client stream's next message.
DEFAULT_STREAM_STALL_S = 60.0
#: Default ``--min-free-bytes``: the free space a key upload or a job needs (1 GiB).
DEFAULT_MIN_FREE_BYTES = 1024**3
#: gRPC handler threads kept beyond the stream limit for short calls (capabilities, key
#: lookups, health, and the brief refusals of streams over the limit).
SHORT_CALL_THREADS = 8
#: Calls gRPC may queue beyond its threads before it refuses them itself (RESOURCE_EXHAUSTED
#: without regaudit details).
QUEUED_RPCS = 64
#: The retry delay a ``server_busy`` refusal asks for (seconds).
BUSY_RETRY_DELAY_S = 5.0
#: Messages a stall-timed stream reads ahead of its handler (each at most one piece).
READ_AHEAD_MESSAGES = 2
#: How often a reader blocked on a full read-ahead queue checks that its handler still runs.
_READER_POLL_S = 0.5

M = TypeVar("M")
T = TypeVar("T")


class KeysReply(Protocol):
    """What a key upload answers (``UploadEvaluationKeysResponse``)."""

    @property
    def digest(self) -> str: ...

    @property
    def already_present(self) -> bool: ...


R = TypeVar("R", bound=KeysReply)


@dataclass(frozen=True)
class FlowLimits:
    """The daemon's resource bounds (``serve --max-streams/--stream-stall-seconds/
    --min-free-bytes``)."""

    max_streams: int = DEFAULT_MAX_STREAMS
    stream_stall_s: float = DEFAULT_STREAM_STALL_S
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise InputError("must be at least 1", field="max_streams")
        if not self.stream_stall_s > 0:
            raise InputError("must be positive", field="stream_stall_seconds")
        if self.min_free_bytes < 0:
            raise InputError("must not be negative", field="min_free_bytes")

    @property
    def server_threads(self) -> int:
        """gRPC handler threads: one per long stream plus the short calls' reserve."""
        return self.max_streams + SHORT_CALL_THREADS

    @property
    def maximum_concurrent_rpcs(self) -> int:
        """Calls the gRPC server accepts at once (running or queued for a thread)."""
        return self.server_threads + QUEUED_RPCS


class StreamStalled(Exception):
    """Raised inside a handler when its client stream sent nothing for the stall period;
    :meth:`FlowControl.client_stream` turns it into :class:`StreamStalledError`. Not a
    regaudit error on purpose: the upload code treats it as a broken stream (the job fails
    ``upload_incomplete``)."""

    def __init__(self, stall_s: float) -> None:
        super().__init__(f"no message for {stall_s:g} s")
        self.stall_s = stall_s


@dataclass(frozen=True)
class _Item(Generic[M]):
    value: M


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _End:
    pass


class StallTimedIterator(Iterator[M]):
    """The messages of ``source`` (a gRPC request iterator), read by a helper thread; a wait
    longer than ``stall_s`` for the next one raises :class:`StreamStalled`. :meth:`close` it
    when the handler ends (the reader stops at the call's end, when gRPC ends ``source``)."""

    def __init__(self, source: Iterator[M], stall_s: float, *, name: str = "stream") -> None:
        self._stall_s = stall_s
        self._queue: queue.Queue[_Item[M] | _Failed | _End] = queue.Queue(READ_AHEAD_MESSAGES)
        self._closed = threading.Event()
        self._finished = False
        self._reader = threading.Thread(
            target=self._read, args=(source,), name=f"stall-timer-{name}", daemon=True
        )
        self._reader.start()

    def _read(self, source: Iterator[M]) -> None:
        try:
            for message in source:
                if not self._put(_Item(message)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the handler thread
            self._put(_Failed(exc))
            return
        self._put(_End())

    def _put(self, entry: _Item[M] | _Failed | _End) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(entry, timeout=_READER_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> StallTimedIterator[M]:
        return self

    def __next__(self) -> M:
        if self._finished:
            raise StopIteration
        try:
            entry = self._queue.get(timeout=self._stall_s)
        except queue.Empty:
            self._finished = True
            self.close()
            raise StreamStalled(self._stall_s) from None
        if isinstance(entry, _Item):
            return entry.value
        self._finished = True
        if isinstance(entry, _Failed):
            raise entry.error
        raise StopIteration

    def close(self) -> None:
        """The handler is done: the reader stops handing messages over."""
        self._closed.set()


class FlowControl:
    """The bounds of one daemon: stream slots, stall-timed client streams, the disk check, and
    the quotas (``quotas``: their limits; None, none, though usage is still measured)."""

    def __init__(
        self, limits: FlowLimits, store_root: Path, quotas: QuotaLimits | None = None
    ) -> None:
        self.limits = limits
        self.store_root = Path(store_root)
        #: per-client and global quotas, rate limits (:meth:`start` it once the store is ready)
        self.quotas = QuotaLedger(quotas or QuotaLimits.off(), self.store_root)
        self._slots = threading.BoundedSemaphore(limits.max_streams)
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open_streams(self) -> int:
        """Long streams holding a slot now."""
        with self._lock:
            return self._open

    @contextmanager
    def stream_slot(self, rpc: str, client: str | None = None) -> Iterator[None]:
        """Hold one long-stream slot for the block, and one of ``client``'s (the key that
        signed the call: ``--max-streams-per-client``); :class:`ServerBusyError` (with a retry
        delay) at once when every slot is taken, QuotaExceededError when the client's are."""
        if not self._slots.acquire(blocking=False):
            log_event(
                "stream_refused",
                logging.WARNING,
                rpc=rpc,
                reason=ServerBusyError.reason,
                max_streams=self.limits.max_streams,
            )
            raise ServerBusyError(
                f"the evaluator already serves {self.limits.max_streams} streams "
                f"(--max-streams); retry after {BUSY_RETRY_DELAY_S:g} s",
                retry_after_s=BUSY_RETRY_DELAY_S,
            )
        with self._lock:
            self._open += 1
        try:
            with self.quotas.stream(client, rpc) if client else nullcontext():
                yield
        finally:
            with self._lock:
                self._open -= 1
            self._slots.release()

    def start(self) -> None:
        """Measure the store for the quotas and keep the figures true (after the restart's own
        clean-up of the store)."""
        self.quotas.start()

    def stop(self) -> None:
        self.quotas.stop()

    def key_upload(
        self,
        client: str,
        messages: Iterator[M],
        receive: Callable[[Iterator[M], Callable[[int], None]], R],
    ) -> R:
        """:meth:`client_stream` for ``UploadEvaluationKeys`` of ``client``: ``receive(messages,
        reserve)`` calls ``reserve(declared bytes)`` once the header is read (the client's
        quotas refuse, or reserve); keys it stored are the client's; the reservation ends with
        the stream."""

        def body(timed: Iterator[M]) -> R:
            with self.quotas.key_upload(client) as upload:
                reply = receive(timed, upload.reserve)
                if not reply.already_present:
                    upload.stored(reply.digest)
                return reply

        return self.client_stream("UploadEvaluationKeys", messages, body, client=client)

    def check_disk(self) -> None:
        """The store's file system has ``min_free_bytes`` free; :class:`DiskFullError`
        otherwise."""
        free = shutil.disk_usage(self.store_root).free
        if free < self.limits.min_free_bytes:
            raise DiskFullError(
                f"the evaluator's disk has {free} bytes free, below the "
                f"{self.limits.min_free_bytes} it keeps (--min-free-bytes)"
            )

    def client_stream(
        self,
        rpc: str,
        messages: Iterator[M],
        body: Callable[[Iterator[M]], T],
        *,
        client: str | None = None,
    ) -> T:
        """Run a client-streaming RPC's ``body`` on its stall-timed ``messages``, holding a
        stream slot (and one of ``client``'s), after the disk check. A stall ends it with
        :class:`StreamStalledError` (DEADLINE_EXCEEDED)."""
        with self.stream_slot(rpc, client):
            self.check_disk()
            began = time.monotonic()
            timed = StallTimedIterator(messages, self.limits.stream_stall_s, name=rpc)
            try:
                return body(timed)
            except StreamStalled as exc:
                log_event(
                    "stream_stalled",
                    logging.WARNING,
                    rpc=rpc,
                    stall_seconds=exc.stall_s,
                    seconds=round(time.monotonic() - began, 3),
                )
                raise StreamStalledError(
                    f"{rpc}: the client sent no message for {exc.stall_s:g} s "
                    "(--stream-stall-seconds); the partial upload was discarded"
                ) from exc
            finally:
                timed.close()


__all__ = [
    "BUSY_RETRY_DELAY_S",
    "DEFAULT_MAX_STREAMS",
    "DEFAULT_MIN_FREE_BYTES",
    "DEFAULT_STREAM_STALL_S",
    "QUEUED_RPCS",
    "READ_AHEAD_MESSAGES",
    "SHORT_CALL_THREADS",
    "FlowControl",
    "FlowLimits",
    "KeysReply",
    "StallTimedIterator",
    "StreamStalled",
]
