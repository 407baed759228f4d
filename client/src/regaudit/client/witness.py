"""Full witnesses: the same job re-executed by other, independent evaluators.

With ``--witness HOST:PORT`` (``run_audit(..., witnesses=[...])``) the client sends each
witness what it sends the primary evaluator -- the same evaluation keys, the same client-signed
job header (the header does not name an evaluator) and the very same input ciphertexts, taken
from the primary's upload through the bounded fan-out window (:mod:`regaudit.client.fanout`):
one encryption, parallel uploads. Each witness signs its own receipt.

:class:`WitnessSession` drives them, one thread per witness: (a) before anything is uploaded,
in the caller's thread, each witness's capabilities are checked like the primary's and its
receipt key must be a pinned or trusted evaluator key that differs from the primary's and from
every other witness's (:func:`check_witness_key`); then, in the witness's thread, (b) the keys
are uploaded, (c) the job is submitted -- the stream sends no ciphertext before the witness
admitted the job (GetUploadState), so a refusal at admission (``server_busy``, quotas, rate
limits) is retried after the evaluator's hint within the audit's deadline, like the primary's --
(d) watched and (e) its result fetched. A witness that cannot deliver fails the audit
(WitnessUnavailableError, exit 3) unless the witnesses are optional; then it is recorded as a
:class:`~regaudit.shared.evidence.statements.MissingWitness` and the regulator's policy
(``witnesses_required``) decides. The receipts and outputs are checked afterwards, in
:mod:`regaudit.client.witness_checks`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from regaudit.client.anchors import check_capabilities, check_evaluator_key
from regaudit.client.fanout import CiphertextFanout, WitnessDetachedError
from regaudit.client.reconnect import Reconnector
from regaudit.client.remote import (
    EvaluatorUnavailableError,
    keep_watching,
    remaining,
    remote_call,
)
from regaudit.shared.errors import (
    EXIT_EVALUATOR_FAILED,
    RegauditError,
    VerificationError,
    WitnessNotIndependentError,
)
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.statements import WITNESS_MODE_FULL, MissingWitness

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.client.progress import ProgressSink
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.protocol import JobAccepted, JobResult, TlsOptions

#: How often a witness's stream asks whether its job was admitted yet (seconds).
ADMISSION_POLL_S = 0.05
#: How long a witness may take to admit its job once the header is sent (seconds); after that
#: it is detached (the primary's upload no longer waits for it) and fails.
ADMISSION_TIMEOUT_S = 60.0
#: How long a witness thread may take to end once the audit no longer waits for it (seconds).
WITNESS_JOIN_S = 10.0


class WitnessUnavailableError(EvaluatorUnavailableError):
    """A witness evaluator could not be reached, refused the job or failed it (exit code 3)."""

    reason = "witness_unavailable"
    exit_code = EXIT_EVALUATOR_FAILED
    grpc_status = "INTERNAL"


@dataclass(eq=False)
class WitnessRun:
    """One witness: its address, then what its steps produced."""

    address: str
    mode: str = WITNESS_MODE_FULL
    connection: EvaluatorConnection | None = None
    key: PublicKeyRecord | None = None
    accepted: JobAccepted | None = None
    result: JobResult | None = None
    #: the failure that ended it (None while running or once it delivered)
    failure: RegauditError | None = None
    thread: threading.Thread | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"witness {self.address}"


def check_witness_key(
    record: PublicKeyRecord,
    *,
    primary: PublicKeyRecord,
    others: Sequence[PublicKeyRecord],
    address: str,
) -> None:
    """A witness must sign with its own key: not the primary's, not another witness's
    (WitnessNotIndependentError)."""
    if record.key_id == primary.key_id:
        raise WitnessNotIndependentError(
            f"the witness at {address} signs with the primary evaluator's key "
            f"{record.key_id[:16]}...: it is the same evaluator, not an independent witness",
            field="witness",
        )
    if any(record.key_id == other.key_id for other in others):
        raise WitnessNotIndependentError(
            f"the witness at {address} signs with the key of another witness "
            f"({record.key_id[:16]}...)",
            field="witness",
        )


class WitnessSession:
    """The witnesses of one audit (use as a context manager around the primary's exchange)."""

    def __init__(
        self,
        run: AuditRun,
        addresses: Sequence[str],
        *,
        optional: bool,
        tls: TlsOptions | None,
        timeout: float,
    ) -> None:
        self.run = run
        self.optional = optional
        self.witnesses = [WitnessRun(address) for address in addresses]
        self.fanout = CiphertextFanout(run.plan.input_count)
        self._tls = tls
        self._timeout = timeout

    # --- (a) before anything is uploaded ------------------------------------------------------

    def __enter__(self) -> WitnessSession:
        """Connect to every witness and check it (the primary's key is known by now)."""
        try:
            checked: list[PublicKeyRecord] = []
            for witness in self.witnesses:
                try:
                    witness.key = self._connect(witness, checked)
                    checked.append(witness.key)
                except VerificationError:
                    raise
                except RegauditError as exc:
                    self._fail(witness, exc)
            self.raise_if_failed()  # a required witness is unreachable: nothing was uploaded
        except BaseException:
            self.close()
            raise
        return self

    def _connect(self, witness: WitnessRun, checked: list[PublicKeyRecord]) -> PublicKeyRecord:
        from regaudit.client.transport import EvaluatorConnection
        from regaudit.shared.protocol import DEADLINE_UNARY_S

        run = self.run
        try:
            connection = EvaluatorConnection(
                witness.address,
                timeout=min(self._timeout, DEADLINE_UNARY_S),
                tls=self._tls,
                identity=run.identity,
            )
        except RegauditError:
            raise
        except Exception as exc:  # grpc raises plain exceptions for bad addresses
            raise WitnessUnavailableError(f"cannot connect to {witness.address}: {exc}") from exc
        witness.connection = connection
        caps = remote_call(connection.capabilities, witness.address)
        key = check_capabilities(caps, run.plan)
        check_evaluator_key(key, run.accepted_evaluators, address=witness.address)
        check_witness_key(key, primary=run.evaluator_key, others=checked, address=witness.address)
        return key

    def start(self) -> None:
        """Start one thread per reachable witness (after the job header is signed)."""
        for witness in self.witnesses:
            if witness.failure is not None:
                continue
            self.fanout.attach(witness.name)
            witness.thread = threading.Thread(
                target=self._run, args=(witness,), name=witness.name, daemon=True
            )
            witness.thread.start()

    # --- (b)-(e) in the witness's thread ------------------------------------------------------

    def _run(self, witness: WitnessRun) -> None:
        run = self.run
        assert witness.connection is not None
        connection = witness.connection
        retry = Reconnector(
            connection, address=witness.address, deadline=run.deadline, sink=_Quiet(run.sink)
        )
        try:
            mark = time.monotonic()
            keys = run.evaluation_keys
            retry.call(lambda: connection.upload_evaluation_keys(keys))  # (b)
            witness.accepted = self._submit(witness, connection, retry)  # (c)
            witness.timings["upload_s"] = time.monotonic() - mark
            self.fanout.detach(witness.name, "upload complete")
            mark = time.monotonic()
            job_id = witness.accepted.job_id
            final = retry.call(  # (d)
                lambda: keep_watching(
                    connection,
                    job_id,
                    address=witness.address,
                    deadline=run.deadline,
                    sink=_Quiet(run.sink),
                )
            )
            from regaudit.shared.protocol import JobState

            if final is not JobState.SUCCEEDED:
                raise WitnessUnavailableError(f"job {job_id} ended in state {final.value}")
            witness.result = retry.call(lambda: connection.fetch_result(job_id))  # (e)
            witness.timings["evaluate_s"] = time.monotonic() - mark
            if witness.result.job_id != job_id:
                raise WitnessUnavailableError(
                    f"asked for job {job_id}, got {witness.result.job_id}"
                )
        except RegauditError as exc:
            self._fail(witness, exc)
        except Exception as exc:  # noqa: BLE001 - a witness thread must not die silently
            self._fail(witness, WitnessUnavailableError(f"{type(exc).__name__}: {exc}"))
        finally:
            self.fanout.detach(witness.name, "the witness ended")

    def _submit(
        self, witness: WitnessRun, connection: EvaluatorConnection, retry: Reconnector
    ) -> JobAccepted:
        """(c) Submit the signed header and stream the fan-out's ciphertexts, none before the
        job is admitted; retried (from what the witness holds) within the deadline."""
        run = self.run
        header = run.header
        start = 0
        while True:
            finished = threading.Event()

            def admitted(finished: threading.Event = finished) -> bool:
                return self._wait_for_admission(witness, connection, finished)

            try:
                return connection.submit_job(
                    header,
                    self.fanout.witness_source(witness.name, start, admitted=admitted),
                    timeout=remaining(run.deadline),
                )
            except WitnessDetachedError as exc:
                raise WitnessUnavailableError(f"{witness.address}: {exc}", field="witness") from exc
            except Exception as exc:
                finished.set()
                reason = self.fanout.detached_reason(witness.name)
                if reason is not None:
                    raise WitnessUnavailableError(
                        f"{witness.address}: {reason}", field="witness"
                    ) from exc
                retry.retry_or_give_up(exc)
                start = self._resume_point(connection, retry)
                try:
                    self.fanout.rewind(witness.name, start)
                except WitnessDetachedError as detached:
                    raise WitnessUnavailableError(
                        f"{witness.address}: {detached}", field="witness"
                    ) from exc
            finally:
                finished.set()

    def _wait_for_admission(
        self, witness: WitnessRun, connection: EvaluatorConnection, finished: threading.Event
    ) -> bool:
        """Runs in the upload stream's thread: True once the witness holds this header's job in
        RECEIVING state; False if the call ended first or the job exists in another state
        (an identical earlier submission: the evaluator answers with it)."""
        from regaudit.shared.protocol import JobState

        run = self.run
        given_up = time.monotonic() + ADMISSION_TIMEOUT_S
        while not finished.is_set() and time.monotonic() < run.deadline:
            try:
                state = connection.upload_state(run.job_key)
            except Exception:  # noqa: BLE001 - the call's own failure is reported by it
                return False
            if state.found and state.header_digest == run.header.digest:
                return state.state is JobState.RECEIVING
            if time.monotonic() > given_up:
                self.fanout.detach(
                    witness.name, f"the job was not admitted within {ADMISSION_TIMEOUT_S:g} s"
                )
                return False
            finished.wait(ADMISSION_POLL_S)
        return False

    def _resume_point(self, connection: EvaluatorConnection, retry: Reconnector) -> int:
        """Where a retried upload starts: after the ciphertexts the witness holds of this very
        header, else at the beginning."""
        run = self.run
        state = retry.call(lambda: connection.upload_state(run.job_key))
        if state.found and state.resumable and state.header_digest == run.header.digest:
            return state.ciphertexts_held
        return 0

    def _fail(self, witness: WitnessRun, exc: RegauditError) -> None:
        witness.failure = exc
        self.fanout.detach(witness.name, f"{exc.reason}: {exc.message}")
        self.run.sink.note(f"witness {witness.address} failed ({exc.reason}): {exc.message}")

    # --- after the primary's result -----------------------------------------------------------

    def failed_required(self) -> WitnessRun | None:
        """A witness that failed while witnesses are required (None if none or optional)."""
        if self.optional:
            return None
        return next((w for w in self.witnesses if w.failure is not None), None)

    def raise_if_failed(self) -> None:
        """Fail the audit at once if a required witness failed (exit 3; exit 1 if the failure
        was a verification error)."""
        witness = self.failed_required()
        if witness is None or witness.failure is None:
            return
        failure = witness.failure
        if isinstance(failure, VerificationError):
            raise failure
        raise WitnessUnavailableError(
            f"witness {witness.address} failed ({failure.reason}): {failure.message}",
            field="witness",
        ) from failure

    def wait(self) -> None:
        """Wait for every witness thread until the audit's deadline; then check for failures
        (:meth:`raise_if_failed`). A witness still running at the deadline has failed."""
        for witness in self.witnesses:
            if witness.thread is None:
                continue
            witness.thread.join(max(0.0, self.run.deadline - time.monotonic()))
            if witness.thread.is_alive():
                witness.failure = witness.failure or WitnessUnavailableError(
                    f"witness {witness.address} did not finish before the audit's deadline"
                )
        self.raise_if_failed()

    def delivered(self) -> list[WitnessRun]:
        """The witnesses that delivered a result, in command-line order."""
        return [w for w in self.witnesses if w.failure is None and w.result is not None]

    def missing(self) -> list[MissingWitness]:
        """The witnesses that did not deliver (only when they are optional)."""
        return [
            MissingWitness(
                address=w.address,
                reason=w.failure.reason if w.failure is not None else "witness_unavailable",
                message=(w.failure.message if w.failure is not None else "no result")[:1024],
            )
            for w in self.witnesses
            if w.failure is not None or w.result is None
        ]

    def close(self) -> None:
        """Release the streams, close the channels and let the threads end."""
        self.fanout.close()
        for witness in self.witnesses:
            if witness.connection is not None:
                witness.connection.close()
        for witness in self.witnesses:
            if witness.thread is not None and witness.thread is not threading.current_thread():
                witness.thread.join(WITNESS_JOIN_S)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Quiet:
    """A progress sink for witness threads: notes pass through, bars stay the primary's."""

    def __init__(self, sink: ProgressSink) -> None:
        self._sink = sink

    def stage(self, name: str, *, total: float | None = None) -> None:
        pass

    def advance(self, name: str, amount: float = 1.0) -> None:
        pass

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        pass

    def note(self, text: str) -> None:
        self._sink.note(text)


def open_witnesses(
    run: AuditRun,
    addresses: Sequence[str],
    *,
    optional: bool,
    tls: TlsOptions | None,
    timeout: float,
) -> AbstractContextManager[WitnessSession | None]:
    """5b. The witnesses' session (entered: connected and checked; the primary's fan-out set
    on ``run``), or nothing without witnesses."""
    if not addresses:
        return nullcontext(None)
    session = WitnessSession(run, addresses, optional=optional, tls=tls, timeout=timeout)
    run.fanout = session.fanout
    return session


def witness_addresses(addresses: Sequence[str], *, primary: str) -> list[str]:
    """The witness addresses, each once and none the primary's (InputError)."""
    from regaudit.shared.errors import InputError

    seen: list[str] = []
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InputError(f"witness address must be HOST:PORT, got {address!r}", field="witness")
        if address == primary:
            raise InputError(
                f"witness {address} is the primary evaluator's address", field="witness"
            )
        if address in seen:
            raise InputError(f"witness {address} is given twice", field="witness")
        seen.append(address)
    return seen


__all__ = [
    "ADMISSION_POLL_S",
    "ADMISSION_TIMEOUT_S",
    "WITNESS_JOIN_S",
    "WitnessRun",
    "WitnessSession",
    "WitnessUnavailableError",
    "check_witness_key",
    "open_witnesses",
    "witness_addresses",
]
