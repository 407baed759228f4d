"""Quotas per client identity and for the whole evaluator, and rate limits.

Every signed call names a client key (:mod:`.authentication`); that key is the identity whose
usage is counted (on loopback without an allow-list too: every call but ``GetCapabilities`` is
signed). Quotas, each per client (``..._per_client``) and global, 0 meaning off:

* **jobs** that have not ended (receiving, queued, running): ``--max-jobs-per-client``,
  ``--max-jobs``;
* **long streams** (uploads, submissions, watches, results) held at once by one client:
  ``--max-streams-per-client`` (the global bound is ``--max-streams``, :mod:`.flow_control`);
* **bytes in flight**, uploads being received and not yet stored: a key upload's declared size,
  a job submission's largest ciphertext (what its stream may buffer at once), each reserved
  before the first byte is read and released when the stream ends:
  ``--max-inflight-bytes-per-client``, ``--max-inflight-bytes``;
* **stored bytes**, what the store holds for the client (its jobs' folders and the evaluation
  keys it uploaded; :mod:`.quota_usage`), plus what its admitted uploads may still add (a job's
  whole claimed input, a key upload's declared size): ``--max-stored-bytes-per-client``,
  ``--max-stored-bytes``;
* **rate limits**, token buckets per client: key uploads and job submissions together
  (``--submit-rate`` per minute, ``--submit-burst``), and every signed call (``--call-rate``,
  ``--call-burst``; looser).

A refusal is RESOURCE_EXHAUSTED before any byte of the upload is read or written: reason
``quota_exceeded`` (:class:`QuotaExceededError`) or ``rate_limited``
(:class:`RateLimitedError`), ``field`` naming the quota (its option), and a RetryInfo delay that
means something: the time to the next token for a rate limit, :data:`QUOTA_RETRY_DELAY_S` for
jobs and bytes in flight (they free when streams and jobs end), :data:`STORED_RETRY_DELAY_S` for
stored bytes while the client (or, globally, anyone) has jobs that may end, and none when
waiting cannot help (nothing of the client's will end, or one upload alone exceeds the quota).
Each refusal is logged (``quota_refused``, WARNING) and counted (:mod:`.metrics`).

Every check and its reservation happen under one lock, so two streams of one client cannot
both take the last slot. Counts of jobs and stored bytes are measured from the store
(:func:`~regaudit.evaluator.quota_usage.measure_store`) at start, after events that delete
things (``job_succeeded``, ``job_failed``, ``jobs_expired``, ...; debounced) and every
:data:`RECONCILE_INTERVAL_S`: they are right after a restart or a ``kill -9``, and within one
reconciliation of the truth for what workers write (partials, outputs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from regaudit.evaluator.logs import add_observer, log_event, prefix, remove_observer
from regaudit.evaluator.quota_limits import GIB, QuotaLimits, RateLimiter, Usage
from regaudit.evaluator.quota_usage import (
    NOBODY,
    Held,
    ObjectKey,
    job_key,
    keys_folder,
    keys_key,
    measure_job,
    measure_keys,
    measure_store,
    record_uploader,
)
from regaudit.shared.errors import QuotaExceededError, RateLimitedError
from regaudit.shared.protocol import MAX_CIPHERTEXT_BYTES

log = logging.getLogger("regaudit.evaluator.quotas")

#: Retry delay of a refusal by the jobs or bytes-in-flight quotas (seconds).
QUOTA_RETRY_DELAY_S = 5.0
#: Retry delay of a stored-bytes refusal while jobs that may free space have not ended (s).
STORED_RETRY_DELAY_S = 30.0
#: How often the ledger re-measures the store without an event asking for it (seconds).
RECONCILE_INTERVAL_S = 30.0
#: After an event that deleted something, the re-measurement waits this long (more events
#: of a burst are folded into one measurement; seconds).
RECONCILE_DEBOUNCE_S = 0.5
#: Events after which the store is re-measured (something was deleted or ended).
RECONCILE_EVENTS = frozenset(
    {"job_succeeded", "job_failed", "jobs_expired", "interrupted_uploads_released"}
)
#: The calls that take a submission token (``--submit-rate``) when admitted.
SUBMISSION_RPCS = frozenset({"UploadEvaluationKeys", "SubmitJob"})
#: A job stream's bytes in flight: the largest ciphertext it may buffer at once.
JOB_STREAM_INFLIGHT_BYTES = MAX_CIPHERTEXT_BYTES


@dataclass
class Reservation:
    """What an admitted upload holds until its stream ends (:meth:`QuotaLedger.release`)."""

    client: str
    jobs: int
    inflight: int
    stored: int
    job_id: str | None = None
    reserved: bool = field(default=True)


class _Refused(Exception):
    """A refusal found with the ledger's lock held; logged and raised once it is released."""

    def __init__(self, error: QuotaExceededError | RateLimitedError, client: str, rpc: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.client = client
        self.rpc = rpc

    def logged(self) -> QuotaExceededError | RateLimitedError:
        """The ``quota_refused`` event (WARNING); returns the error to raise."""
        log_event(
            "quota_refused",
            logging.WARNING,
            rpc=self.rpc,
            reason=self.error.reason,
            quota=self.error.field,
            client_key_id=prefix(self.client),
            retry_after_seconds=self.error.retry_after_s,
            detail=self.error.message,
        )
        return self.error


class QuotaLedger:
    """The daemon's quotas over the store at ``root``: checks with reservations, measured
    usage, rate limits. :meth:`start` measures the store and keeps the figures true;
    thread-safe."""

    def __init__(
        self, limits: QuotaLimits, root: Path, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.root = Path(root)
        self.clock = clock
        self._lock = threading.Lock()
        self._objects: dict[ObjectKey, Held] = {}
        self._usage: dict[str, Usage] = {}
        self._total = Usage()
        self._jobs: dict[str, Reservation] = {}  # reservations of job streams, by job id
        self._touched: dict[ObjectKey, int] = {}
        self._seq = 0
        self._rates = RateLimiter(limits, clock)
        self._streams: dict[str, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Measure the store, then keep measuring (events, every :data:`RECONCILE_INTERVAL_S`).
        Call once the restart's own clean-up (``JobManager.resume``) is done."""
        self.reconcile()
        add_observer(self.observe_event)
        self._thread = threading.Thread(target=self._run, name="quotas", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        remove_observer(self.observe_event)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(RECONCILE_INTERVAL_S)
            if woken and self._stop.wait(RECONCILE_DEBOUNCE_S):
                return
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - the next one retries; quotas never stop a daemon
                log.exception("quotas: measuring the store failed")

    def observe_event(self, event: str, fields: dict[str, object]) -> None:
        """A lifecycle event (:mod:`.logs`): an ended job stops counting as a job at once; the
        store is re-measured after anything that deletes."""
        if event not in RECONCILE_EVENTS:
            return
        job_id = fields.get("job_id")
        if event in ("job_succeeded", "job_failed") and isinstance(job_id, str):
            with self._lock:
                held = self._objects.get(job_key(job_id))
                if held is not None and held.active:
                    self._set(job_key(job_id), Held(held.client, held.bytes, False))
        self._wake.set()

    # --- usage --------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Replace the measured figures by a fresh measurement of the store; objects changed
        meanwhile (or under an upload's reservation) keep what their change set."""
        with self._lock:
            mark = self._seq
        found = measure_store(self.root)
        with self._lock:
            uploading = {job_key(job_id) for job_id in self._jobs}
            for key in set(self._objects) | set(found):
                if self._touched.get(key, -1) > mark or key in uploading:
                    continue
                self._set(key, found.get(key), touch=False)
            self._touched = {k: s for k, s in self._touched.items() if s > mark}

    def _set(self, key: ObjectKey, held: Held | None, *, touch: bool = True) -> None:
        """Replace one object's figures (None: it is gone); with the lock held."""
        old = self._objects.pop(key, None)
        if old is not None:
            self._account(old.client, int(old.active), 0, old.bytes, -1)
        if held is not None:
            self._objects[key] = held
            self._account(held.client, int(held.active), 0, held.bytes, 1)
        if touch:
            self._seq += 1
            self._touched[key] = self._seq

    def _account(self, client: str, jobs: int, inflight: int, stored: int, sign: int) -> None:
        self._total.add(jobs, inflight, stored, sign)
        if client == NOBODY:
            return
        usage = self._usage.setdefault(client, Usage())
        usage.add(jobs, inflight, stored, sign)
        if usage.empty:
            del self._usage[client]

    def usage(self, client: str | None = None) -> Usage:
        """A copy of one client's usage (None: everyone's)."""
        with self._lock:
            found = self._total if client is None else self._usage.get(client, Usage())
            return Usage(found.jobs, found.inflight, found.stored)

    def clients(self) -> int:
        """Client keys that hold or reserve anything now."""
        with self._lock:
            return len(self._usage)

    # --- rate limits --------------------------------------------------------------------------

    def check_call(self, client: str, rpc: str) -> None:
        """Every signed call of ``rpc`` takes a token of the client's call bucket; a key upload
        or a job submission (:data:`SUBMISSION_RPCS`) is refused at once, before its first
        message is read, if the client has no submission token left (none is taken here: the
        upload's admission takes it, with the other checks). :class:`RateLimitedError`
        otherwise."""
        try:
            with self._lock:
                if rpc in SUBMISSION_RPCS:
                    self._take(client, rpc, "submit_rate", take=False)
                self._take(client, rpc, "call_rate", take=True)
        except _Refused as refused:
            raise refused.logged() from None

    def _take(self, client: str, rpc: str, name: str, *, take: bool) -> None:
        """A token of ``client``'s ``name`` bucket (taken if ``take``), or the refusal."""
        delay = self._rates.wait(name, client, take=take)
        if delay > 0:
            rate, burst = self._rates.rate(name)
            what = "key uploads and job submissions" if name == "submit_rate" else "calls"
            message = (
                f"client {prefix(client)} makes {what} faster than {rate:g} a minute "
                f"(--{name.replace('_', '-')}, burst {burst}); retry after {delay:g} s"
            )
            raise _Refused(RateLimitedError(message, field=name, retry_after_s=delay), client, rpc)

    # --- streams ------------------------------------------------------------------------------

    @contextmanager
    def stream(self, client: str, rpc: str) -> Iterator[None]:
        """Hold one of ``client``'s long-stream slots for the block (``--max-streams-per-client``;
        :class:`QuotaExceededError` with a retry delay at once when it holds them all)."""
        limit = self.limits.max_streams_per_client
        try:
            with self._lock:
                held = self._streams.get(client, 0)
                if limit > 0 and held + 1 > limit:
                    message = (
                        f"client {prefix(client)} already holds {held} long streams "
                        f"(--max-streams-per-client {limit}); retry after {QUOTA_RETRY_DELAY_S:g} s"
                    )
                    error = QuotaExceededError(
                        message, field="max_streams_per_client", retry_after_s=QUOTA_RETRY_DELAY_S
                    )
                    raise _Refused(error, client, rpc)
                self._streams[client] = held + 1
        except _Refused as refused:
            raise refused.logged() from None
        try:
            yield
        finally:
            with self._lock:
                left = self._streams.pop(client) - 1
                if left:
                    self._streams[client] = left

    # --- reservations -------------------------------------------------------------------------

    def admit_job(self, client: str, *, claim_bytes: int, rpc: str = "SubmitJob") -> Reservation:
        """Check and reserve, atomically, what a new job takes: one job, the bytes its stream
        may buffer, its whole claimed input as stored bytes, and a submission token. Raises
        QuotaExceededError or RateLimitedError (nothing reserved). :meth:`bind_job` the ticket
        to the created job, or :meth:`release` it."""
        inflight = min(JOB_STREAM_INFLIGHT_BYTES, claim_bytes)
        try:
            with self._lock:
                self._check(client, rpc, jobs=1, inflight=inflight, stored=claim_bytes)
                self._take(client, rpc, "submit_rate", take=True)
                return self._reserve(client, 1, inflight, claim_bytes)
        except _Refused as refused:
            raise refused.logged() from None

    def bind_job(self, ticket: Reservation, job_id: str) -> None:
        """The admitted job exists: it counts as a job that has not ended; its folder's bytes
        are the ticket's until :meth:`upload_ended` measures them."""
        with self._lock:
            ticket.job_id = job_id
            self._jobs[job_id] = ticket
            self._account(ticket.client, ticket.jobs, 0, 0, -1)
            ticket.jobs = 0
            self._set(job_key(job_id), Held(ticket.client, 0, True))

    def upload_ended(self, job_id: str) -> None:
        """A job's stream ended (complete or not): its reservation goes and its folder is
        measured."""
        with self._lock:
            ticket = self._jobs.get(job_id)
        if ticket is None:
            return
        size = measure_job(self.root, job_id)
        with self._lock:
            self._jobs.pop(job_id, None)
            self._release_locked(ticket)
            held = self._objects.get(job_key(job_id))
            if held is not None:
                self._set(job_key(job_id), Held(held.client, size, held.active))

    @contextmanager
    def uploading(self, job_id: str) -> Iterator[None]:
        """The block receives the admitted job's ciphertexts; :meth:`upload_ended` after it."""
        try:
            yield
        finally:
            self.upload_ended(job_id)

    def release(self, ticket: Reservation) -> None:
        """Give a reservation back (an upload refused or deduplicated after the check)."""
        with self._lock:
            if ticket.job_id is not None:
                self._jobs.pop(ticket.job_id, None)
            self._release_locked(ticket)

    def _reserve(self, client: str, jobs: int, inflight: int, stored: int) -> Reservation:
        self._account(client, jobs, inflight, stored, 1)
        return Reservation(client, jobs, inflight, stored)

    def _release_locked(self, ticket: Reservation) -> None:
        if ticket.reserved:
            ticket.reserved = False
            self._account(ticket.client, ticket.jobs, ticket.inflight, ticket.stored, -1)

    def reserve_keys(self, client: str, total: int) -> Reservation:
        """Check and reserve, atomically, a key upload declaring ``total`` bytes: in flight and
        as stored bytes, with a submission token. Raises QuotaExceededError or
        RateLimitedError (nothing reserved)."""
        rpc = "UploadEvaluationKeys"
        try:
            with self._lock:
                self._check(client, rpc, jobs=0, inflight=total, stored=total)
                self._take(client, rpc, "submit_rate", take=True)
                return self._reserve(client, 0, total, total)
        except _Refused as refused:
            raise refused.logged() from None

    def keys_stored(self, ticket: Reservation, digest: str) -> None:
        """The keys ``digest`` of a reserved upload are in the store: they are the client's from
        now on (the uploader is recorded beside them); the reservation goes."""
        directory = keys_folder(self.root, digest)
        record_uploader(directory, ticket.client)
        size = measure_keys(directory)
        with self._lock:
            held = self._objects.get(keys_key(digest))
            if held is None or held.client == NOBODY:  # (not another client's upload first)
                self._set(keys_key(digest), Held(ticket.client, size))
            self._release_locked(ticket)

    @contextmanager
    def key_upload(self, client: str) -> Iterator[KeyUpload]:
        """One key upload of ``client``: :meth:`KeyUpload.reserve` once its header is read,
        :meth:`KeyUpload.stored` once the keys are in; the reservation ends with the block."""
        upload = KeyUpload(self, client)
        try:
            yield upload
        finally:
            if upload.ticket is not None:
                self.release(upload.ticket)

    # --- checks -------------------------------------------------------------------------------

    def _check(self, client: str, rpc: str, *, jobs: int, inflight: int, stored: int) -> None:
        """Refuse (QuotaExceededError) what would take ``client`` or everyone past a quota;
        with the lock held. Steps: 1. jobs per client, then global; 2. bytes in flight;
        3. stored bytes."""
        mine = self._usage.get(client, Usage())
        limits = self.limits
        checks = (
            ("max_jobs_per_client", mine.jobs, jobs, limits.max_jobs_per_client),
            ("max_jobs", self._total.jobs, jobs, limits.max_jobs),
            ("max_inflight_bytes_per_client", mine.inflight, inflight,
             limits.max_inflight_bytes_per_client),
            ("max_inflight_bytes", self._total.inflight, inflight, limits.max_inflight_bytes),
            ("max_stored_bytes_per_client", mine.stored, stored,
             limits.max_stored_bytes_per_client),
            ("max_stored_bytes", self._total.stored, stored, limits.max_stored_bytes),
        )  # fmt: skip
        for name, used, wanted, limit in checks:
            if limit <= 0 or wanted == 0 or used + wanted <= limit:
                continue
            scope = f"client {prefix(client)}" if name.endswith("_per_client") else "the evaluator"
            option = f"--{name.replace('_', '-')} {limit}"
            if "jobs" in name:
                message = f"{scope} already has {used} jobs that have not ended ({option})"
                delay: float | None = QUOTA_RETRY_DELAY_S
            else:
                kind = "in flight" if "inflight" in name else "stored"
                message = (
                    f"{scope} has {_size(used)} {kind}; this upload needs {_size(wanted)} more "
                    f"({option} bytes)"
                )
                delay = self._bytes_delay(name, client, wanted, limit)
                if delay is None:
                    message += (
                        "; the upload alone exceeds the quota"
                        if wanted > limit
                        else "; space frees when jobs end and retention deletes their results"
                    )
            if delay is not None:
                message += f"; retry after {delay:g} s"
            error = QuotaExceededError(message, field=name, retry_after_s=delay)
            raise _Refused(error, client, rpc)

    def _bytes_delay(self, name: str, client: str, wanted: int, limit: int) -> float | None:
        """What a byte-quota refusal may ask to wait: nothing if the upload alone exceeds it;
        for stored bytes, only while something that can free space has not ended."""
        if wanted > limit:
            return None
        if "inflight" in name:
            return QUOTA_RETRY_DELAY_S
        usage = self._usage.get(client, Usage()) if name.endswith("_per_client") else self._total
        pending = usage.jobs > 0 or usage.inflight > 0
        return STORED_RETRY_DELAY_S if pending else None


class KeyUpload:
    """One key upload's reservation (see :meth:`QuotaLedger.key_upload`)."""

    def __init__(self, ledger: QuotaLedger, client: str) -> None:
        self.ledger = ledger
        self.client = client
        self.ticket: Reservation | None = None

    def reserve(self, total: int) -> None:
        """The header declares ``total`` bytes of keys not stored yet: refused, or reserved
        before any byte is read (:meth:`QuotaLedger.reserve_keys`)."""
        self.ticket = self.ledger.reserve_keys(self.client, total)

    def stored(self, digest: str) -> None:
        """The keys are in the store (:meth:`QuotaLedger.keys_stored`); nothing if nothing was
        reserved (keys already present)."""
        if self.ticket is not None:
            self.ledger.keys_stored(self.ticket, digest)


def _size(value: int) -> str:
    if value >= GIB:
        return f"{value / GIB:.1f} GiB"
    if value >= 1024**2:
        return f"{value / 1024**2:.1f} MiB"
    return f"{value} bytes"


__all__ = [
    "JOB_STREAM_INFLIGHT_BYTES",
    "QUOTA_RETRY_DELAY_S",
    "RECONCILE_DEBOUNCE_S",
    "RECONCILE_EVENTS",
    "RECONCILE_INTERVAL_S",
    "STORED_RETRY_DELAY_S",
    "SUBMISSION_RPCS",
    "KeyUpload",
    "QuotaLedger",
    "QuotaLimits",
    "Reservation",
    "Usage",
]
