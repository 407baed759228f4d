"""The audit's steps that talk to the evaluator (4-9 of :func:`regaudit.client.audit.run_audit`).

Each step reads what earlier steps left on the :class:`~regaudit.client.audit.AuditRun` and
records what it produced there. Nothing here seals, commits or signs: the receipt and the outputs
fetched here are checked by the steps after these, once the connection is closed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from regaudit.client.anchors import check_capabilities, check_evaluator_key
from regaudit.client.encryption import EncryptionPool, ManifestEntry
from regaudit.client.remote import EvaluatorUnavailableError, keep_watching, remaining, remote_call
from regaudit.shared.errors import ProtocolError, RegauditError
from regaudit.shared.planning import data_chunks

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.client.transport import EvaluatorConnection
    from regaudit.shared.protocol import TlsOptions


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
    uploaded_digest = remote_call(
        lambda: connection.upload_evaluation_keys(evaluation_keys), run.evaluator
    )
    if uploaded_digest != evaluation_keys.digest:
        raise ProtocolError(
            f"the evaluator stored the keys as {uploaded_digest}, expected "
            f"{evaluation_keys.digest}",
            field="evaluation_keys_digest",
        )
    run.timings["upload_keys_s"] = time.monotonic() - mark


def submit(run: AuditRun, connection: EvaluatorConnection, pool: EncryptionPool) -> None:
    """7. Submit the signed job header, then the canary and every chunk, encrypted lazily by
    ``pool``; the pool is closed once the upload ends (the secret key leaves the workers)."""
    from regaudit.shared.protocol import JobHeader

    plan, sink, manifest = run.plan, run.sink, run.manifest
    n_ciphertexts = plan.input_count
    header = JobHeader.from_plan(
        plan,
        run.public,
        evaluation_keys_digest=run.evaluation_keys.digest,
        idempotency_key=run.job_key,
        canary_seed=run.canary_seed,
        audit_id=run.audit_id,
        client_key=run.identity.public_record(),
        regulator_key_id=run.card.regulator_key_id,
    ).signed(run.identity)
    run.header = header
    sink.stage("encrypt", total=n_ciphertexts)
    sink.stage("upload", total=n_ciphertexts)

    def on_encrypted(entry: ManifestEntry) -> None:
        sink.advance("encrypt")

    def on_uploaded(sent: int, total: int, sent_bytes: int) -> None:
        sink.update("upload", completed=sent, total=total)

    mark = time.monotonic()
    ciphertexts = pool.encrypt_audit(
        plan,
        run.columns,
        canary_seed=run.canary_seed,
        manifest=manifest,
        on_encrypted=on_encrypted,
        chunks=data_chunks(run.data, plan.chunk_rows) if run.columns is None else None,
    )
    run.accepted = accepted = remote_call(
        lambda: connection.submit_job(
            header, ciphertexts, progress=on_uploaded, timeout=remaining(run.deadline)
        ),
        run.evaluator,
    )
    run.timings["encrypt_upload_s"] = time.monotonic() - mark
    pool.close()  # the secret key leaves the workers' memory
    sink.update("upload", completed=n_ciphertexts, total=n_ciphertexts)
    if len(manifest.entries) != n_ciphertexts and not accepted.deduplicated:
        raise ProtocolError(
            f"only {len(manifest.entries)} of {n_ciphertexts} ciphertexts were sent",
            field="ciphertexts",
        )


def watch(run: AuditRun, connection: EvaluatorConnection) -> None:
    """8. Watch the evaluation (re-attaching if the stream ends before a final state)."""
    from regaudit.shared.protocol import JobState

    job_id = run.accepted.job_id
    mark = time.monotonic()
    run.sink.stage("evaluate", total=run.plan.n_chunks)
    final_state = keep_watching(
        connection, job_id, address=run.evaluator, deadline=run.deadline, sink=run.sink
    )
    if final_state != JobState.SUCCEEDED:
        raise EvaluatorUnavailableError(
            f"job {job_id} ended in state {final_state.value}", field="job"
        )
    run.timings["evaluate_s"] = time.monotonic() - mark


def fetch(run: AuditRun, connection: EvaluatorConnection) -> None:
    """9. Fetch the encrypted outputs and the receipt (checked later, in steps 10)."""
    job_id = run.accepted.job_id
    result = remote_call(lambda: connection.fetch_result(job_id), run.evaluator)
    if result.job_id != job_id:
        raise ProtocolError(
            f"asked for job {job_id}, got the result of {result.job_id}", field="job_id"
        )
    run.result = result


__all__ = ["connect", "fetch", "submit", "upload_keys", "watch"]
