"""The audit's steps that talk to the evaluator (4-9 of :func:`regaudit.client.audit.run_audit`).

Each step reads what earlier steps left on the :class:`~regaudit.client.audit.AuditRun` and
records what it produced there. Nothing here seals, commits or signs: the receipt and the outputs
fetched here are checked by the steps after these, once the connection is closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from regaudit.client.anchors import check_capabilities, check_evaluator_key
from regaudit.client.encryption import (
    EncryptedChunk,
    EncryptionPool,
    InputManifest,
    ManifestEntry,
)
from regaudit.client.reconnect import Reconnector, is_retryable, retry_hint_s
from regaudit.client.remote import EvaluatorUnavailableError, keep_watching, remaining, remote_call
from regaudit.shared.errors import KeyMaterialError, ProtocolError, RegauditError
from regaudit.shared.planning import data_chunks

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.protocol import JobAccepted, JobHeader, TlsOptions


def _reconnector(run: AuditRun, connection: EvaluatorConnection) -> Reconnector:
    """Retries of one step's calls after the evaluator or the connection went away."""
    return Reconnector(connection, address=run.evaluator, deadline=run.deadline, sink=run.sink)


@contextmanager
def connect(
    run: AuditRun, *, tls: TlsOptions | None, timeout: float
) -> Iterator[EvaluatorConnection]:
    """4-5. Open the channel (the encryption workers exist already) and check the evaluator's
    capabilities: circuit, profile (hash), limits, and its receipt key against the anchors.
    Yields the open connection; it closes when the block ends."""
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.protocol import DEADLINE_UNARY_S

    try:
        connection = EvaluatorConnection(
            run.evaluator, timeout=min(timeout, DEADLINE_UNARY_S), tls=tls, identity=run.identity
        )
    except RegauditError:
        raise
    except Exception as exc:  # grpc raises plain exceptions for bad addresses
        raise EvaluatorUnavailableError(f"cannot connect to {run.evaluator}: {exc}") from exc
    with connection:
        # (no retry: an evaluator unreachable before the audit starts fails it, exit 3)
        caps = remote_call(connection.capabilities, run.evaluator)
        run.evaluator_key = check_capabilities(caps, run.plan)
        check_evaluator_key(run.evaluator_key, run.accepted_evaluators, address=run.evaluator)
        yield connection


def upload_keys(run: AuditRun, connection: EvaluatorConnection) -> None:
    """6. Upload the evaluation keys (content-addressed; the evaluator recomputes the digest)."""
    plan, evaluation_keys = run.plan, run.evaluation_keys
    mark = time.monotonic()
    run.sink.note(
        f"uploading evaluation keys ({plan.profile.name}, "
        f"{len(plan.rotation_steps)} rotation steps)"
    )
    uploaded_digest = _reconnector(run, connection).call(
        lambda: connection.upload_evaluation_keys(evaluation_keys)
    )
    if uploaded_digest != evaluation_keys.digest:
        raise ProtocolError(
            f"the evaluator stored the keys as {uploaded_digest}, expected "
            f"{evaluation_keys.digest}",
            field="evaluation_keys_digest",
        )
    run.timings["upload_keys_s"] = time.monotonic() - mark


def sign_header(run: AuditRun) -> None:
    """7a. The client-signed job header (the same for the primary and every witness: it names
    no evaluator). It asks for the per-chunk partial digests (``commit_partials``) only for an
    audit with a sampled witness (``--witness-sample``: ``run.spool`` is set), since they cost
    the evaluator CPU."""
    from regaudit.shared.protocol import JobHeader

    run.header = JobHeader.from_plan(
        run.plan,
        run.public,
        evaluation_keys_digest=run.evaluation_keys.digest,
        idempotency_key=run.job_key,
        canary_seed=run.canary_seed,
        audit_id=run.audit_id,
        client_key=run.identity.public_record(),
        regulator_key_id=run.card.regulator_key_id,
        commit_partials=run.spool is not None,
    ).signed(run.identity)


def submit(run: AuditRun, connection: EvaluatorConnection, pool: EncryptionPool) -> None:
    """7b. Submit the signed job header (:func:`sign_header`), then the canary and every chunk,
    encrypted lazily by ``pool`` (and shared with the witnesses through ``run.fanout``); the
    pool is closed once the upload ends (the secret key leaves the workers)."""
    plan, sink, manifest = run.plan, run.sink, run.manifest
    n_ciphertexts = plan.input_count
    header = run.header
    sink.stage("encrypt", total=n_ciphertexts)
    sink.stage("upload", total=n_ciphertexts)

    def on_encrypted(entry: ManifestEntry) -> None:
        # write-ahead: the journal lists a ciphertext before the stream may carry it
        if run.journal is not None:
            run.journal.record(entry)
        sink.advance("encrypt")

    def on_uploaded(sent: int, total: int, sent_bytes: int) -> None:
        sink.update("upload", completed=sent, total=total)

    mark = time.monotonic()
    retry = _reconnector(run, connection)
    accepted, sent = _submit_until_accepted(
        run, connection, pool, header, retry, on_encrypted, on_uploaded
    )
    run.accepted = accepted
    if accepted.deduplicated and len(sent.entries) != n_ciphertexts and run.resumed:
        # a killed run of this audit had sent everything: its journal is the manifest (the
        # receipt check compares it with what the evaluator received)
        journaled = _resumed_manifest(run)
        if len(journaled.entries) == n_ciphertexts:
            sent = journaled
    manifest.entries[:] = sent.entries
    run.timings["encrypt_upload_s"] = time.monotonic() - mark
    pool.close()  # the secret key leaves the workers' memory
    sink.update("upload", completed=n_ciphertexts, total=n_ciphertexts)
    if len(manifest.entries) != n_ciphertexts and not accepted.deduplicated:
        raise ProtocolError(
            f"only {len(manifest.entries)} of {n_ciphertexts} ciphertexts were sent",
            field="ciphertexts",
        )


def _submit_until_accepted(
    run: AuditRun,
    connection: EvaluatorConnection,
    pool: EncryptionPool,
    header: JobHeader,
    retry: Reconnector,
    on_encrypted: Callable[[ManifestEntry], None],
    on_uploaded: Callable[[int, int, int], None],
) -> tuple[JobAccepted, InputManifest]:
    """Submit the job, resubmitting the same signed header (so the same idempotency key) after
    a transient failure until the evaluator accepts it or the audit's deadline passes.

    Each attempt encrypts afresh into its own manifest. A job the evaluator still holds as
    RECEIVING (the broken stream is not noticed yet) is waited for; a resubmission answered
    with the existing job (``deduplicated``: an earlier attempt's upload was complete) keeps
    that attempt's manifest. Evaluation keys the evaluator lost (deleted with a failed upload,
    or a fresh store) are uploaded again: only if HasEvaluationKeys says they are missing.
    Returns the accepted job and the manifest of what it holds.
    """
    from regaudit.shared.protocol import JobState

    plan = run.plan
    complete: InputManifest | None = None
    attempt = InputManifest()
    attempts = [attempt]  # every attempt's manifest: what this client encrypted and sent
    skip = 0
    if run.resumed:
        # a killed run of this audit sent these (resume journal): resume its upload, if the
        # evaluator holds the interrupted job
        attempt, skip = _resume_from(run, connection, retry, header, attempts)
        attempts.append(attempt)
    while True:

        def encrypt_from(index: int, manifest: InputManifest = attempt) -> Iterator[EncryptedChunk]:
            return pool.encrypt_audit(
                plan,
                run.columns,
                canary_seed=run.canary_seed,
                manifest=manifest,
                on_encrypted=on_encrypted,
                chunks=data_chunks(run.data, plan.chunk_rows) if run.columns is None else None,
                skip=index,
            )

        ciphertexts = (
            encrypt_from(skip)
            if run.fanout is None
            else run.fanout.primary_source(encrypt_from, skip=skip, manifest=attempt)
        )
        if run.spool is not None:  # (sampled witnesses: the bytes sent, kept for later)
            ciphertexts = run.spool.tap(ciphertexts)
        try:
            accepted = connection.submit_job(
                header, ciphertexts, progress=on_uploaded, timeout=remaining(run.deadline)
            )
        except Exception as exc:
            if len(attempt.entries) == plan.input_count:
                complete = attempt
            keys_lost = retry.attempts > 0 and isinstance(exc, KeyMaterialError)
            if not (is_retryable(exc) or keys_lost) or time.monotonic() >= run.deadline:
                retry.give_up(exc)
            retry.pause(
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
                at_least=retry_hint_s(exc) or 0.0,
            )
            _ensure_keys(run, connection, retry)
            attempt, skip = _resume_from(run, connection, retry, header, attempts)
            attempts.append(attempt)
            continue
        if not accepted.deduplicated:
            return accepted, attempt
        if accepted.state is JobState.RECEIVING:
            # the evaluator has not yet noticed that the earlier stream broke: wait for it
            retry.pause(f"job {accepted.job_id} is still receiving the interrupted upload")
            attempt, skip = _resume_from(run, connection, retry, header, attempts)
            attempts.append(attempt)
            continue
        return accepted, complete if complete is not None else attempt


def _resume_from(
    run: AuditRun,
    connection: EvaluatorConnection,
    retry: Reconnector,
    header: JobHeader,
    attempts: list[InputManifest],
) -> tuple[InputManifest, int]:
    """What the next attempt sends: the evaluator holds the first N ciphertexts of an
    interrupted upload of this very header (GetUploadState), each of which an earlier attempt
    must have sent (checked by digest, ProtocolError otherwise); the next attempt keeps their
    manifest entries and encrypts and sends only the rest. Returns (the next attempt's
    manifest, N); N = 0 starts afresh."""
    state = retry.call(lambda: connection.upload_state(run.job_key))
    if not (state.found and state.resumable and state.header_digest == header.digest):
        return InputManifest(), 0
    entries: list[ManifestEntry] = []
    for index, digest in enumerate(state.held_digests):
        sent = [m.entries[index] for m in attempts if len(m.entries) > index]
        match = next((entry for entry in sent if entry.digest == digest), None)
        if match is None:
            match = run.resumed.get(digest)  # sent by a killed run of this audit
        if match is None:
            raise ProtocolError(
                f"the evaluator holds a ciphertext #{index} of job {state.job_id} that this "
                "client did not send",
                field="ciphertexts",
            )
        entries.append(match)
    if entries:
        run.sink.note(f"resuming the upload of job {state.job_id} after {len(entries)} ciphertexts")
    return InputManifest(entries=entries), len(entries)


def _resumed_manifest(run: AuditRun) -> InputManifest:
    """The journal's entries in upload order (one per ciphertext: the last recorded wins)."""
    from regaudit.client.encryption import upload_order

    by_position = {(entry.column, entry.chunk): entry for entry in run.resumed.values()}
    return InputManifest(
        entries=[by_position[key] for key in upload_order(run.plan) if key in by_position]
    )


def _ensure_keys(run: AuditRun, connection: EvaluatorConnection, retry: Reconnector) -> None:
    """Upload the evaluation keys again if the evaluator lacks them (HasEvaluationKeys)."""
    keys = run.evaluation_keys
    if not retry.call(lambda: connection.has_evaluation_keys(keys.digest)):
        run.sink.note("the evaluator lacks the evaluation keys: uploading them again")
        retry.call(lambda: connection.upload_evaluation_keys(keys))


def watch(run: AuditRun, connection: EvaluatorConnection) -> None:
    """8. Watch the evaluation (re-attaching if the stream ends before a final state)."""
    from regaudit.shared.protocol import JobState

    job_id = run.accepted.job_id
    mark = time.monotonic()
    run.sink.stage("evaluate", total=run.plan.n_chunks)
    final_state = _reconnector(run, connection).call(
        lambda: keep_watching(
            connection, job_id, address=run.evaluator, deadline=run.deadline, sink=run.sink
        )
    )
    if final_state != JobState.SUCCEEDED:
        raise EvaluatorUnavailableError(
            f"job {job_id} ended in state {final_state.value}", field="job"
        )
    run.timings["evaluate_s"] = time.monotonic() - mark


def fetch(run: AuditRun, connection: EvaluatorConnection) -> None:
    """9. Fetch the encrypted outputs and the receipt (checked later, in steps 10)."""
    job_id = run.accepted.job_id
    result = _reconnector(run, connection).call(lambda: connection.fetch_result(job_id))
    if result.job_id != job_id:
        raise ProtocolError(
            f"asked for job {job_id}, got the result of {result.job_id}", field="job_id"
        )
    run.result = result


__all__ = ["connect", "fetch", "sign_header", "submit", "upload_keys", "watch"]
