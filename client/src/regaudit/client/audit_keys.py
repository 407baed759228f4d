"""Step 3 of :func:`regaudit.client.audit.run_audit`: the audit's CKKS keys and identifiers,
fresh or restored from the audit's resume journal (:mod:`regaudit.client.resume_journal`)."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from regaudit.client.encryption import InputManifest
from regaudit.client.resume_journal import (
    JournalContent,
    ResumeJournal,
    describe,
    input_digest,
    journal_directory,
)
from regaudit.shared.planning import data_chunks

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun

#: Bytes of the random canary seed sent in the job header.
CANARY_SEED_BYTES = 32


def generate_keys(run: AuditRun, idempotency_key: str | None, *, journal_base: Path) -> None:
    """3. A fresh CKKS key set for this audit only (Galois keys: the plan's steps only), and
    the audit's identifiers.

    With an explicit ``idempotency_key`` the keys and identifiers are kept in a resume journal
    (:mod:`regaudit.client.resume_journal`, the secret key sealed at rest): a rerun after the
    client was killed restores them from it -- same job, same header -- and uploads only what
    the evaluator does not hold."""
    from regaudit.secretkey.ckks import ClientKeys

    mark = time.monotonic()
    run.job_key = idempotency_key or str(uuid.uuid4())
    run.manifest = InputManifest()
    expected = None
    if idempotency_key is not None:
        plan_digest, public_digest = describe(run.primitive, run.plan, run.public)
        directory = journal_directory(
            journal_base, client_key_id=run.identity.key_id, idempotency_key=idempotency_key
        )
        loaded = ResumeJournal.load(directory, identity=run.identity)
        if loaded is not None:
            journal, secret_key, evaluation_keys = loaded
            expected = _journal_content(run, plan_digest, public_digest, journal.content)
            try:
                journal.check_matches(expected)
                run.keys = ClientKeys.restore(run.plan.profile, secret_key, evaluation_keys)
            except BaseException:
                journal.close()
                raise
            del secret_key
            run.evaluation_keys = evaluation_keys
            run.audit_id = journal.content.audit_id
            run.canary_seed = journal.content.canary_seed
            run.resumed = {entry.digest: entry for entry in journal.sent()}
            run.journal = journal
            run.sink.note(
                f"resuming audit {run.audit_id} (idempotency key {idempotency_key}): "
                f"{len(run.resumed)} ciphertexts recorded as sent"
            )
            run.timings["keygen_s"] = time.monotonic() - mark
            return
    run.keys = ClientKeys.generate(run.plan.profile, galois_steps=run.plan.rotation_steps)
    run.evaluation_keys = run.keys.evaluation_keys()
    run.audit_id = str(uuid.uuid4())
    run.canary_seed = secrets.token_bytes(CANARY_SEED_BYTES)
    if idempotency_key is not None:
        content = _journal_content(run, plan_digest, public_digest, None)
        run.journal = ResumeJournal.create(
            directory,
            content,
            identity=run.identity,
            secret_key=run.keys.secret_key_bytes(),
            evaluation_keys=run.evaluation_keys,
        )
    run.timings["keygen_s"] = time.monotonic() - mark


def _journal_content(
    run: AuditRun, plan_digest: str, public_digest: str, journal: JournalContent | None
) -> JournalContent:
    """What this run audits, as a journal records it (identifiers and keys from ``journal``
    when resuming one, else from ``run``)."""
    source = journal
    return JournalContent(
        idempotency_key=run.job_key,
        client_key_id=run.identity.key_id,
        audit_id=source.audit_id if source else run.audit_id,
        canary_seed=source.canary_seed if source else run.canary_seed,
        primitive=run.primitive,
        plan_digest=plan_digest,
        public_digest=public_digest,
        input_digest=input_digest(data_chunks(run.data, run.plan.chunk_rows)),
        regulator_key_id=run.card.regulator_key_id,
        evaluation_keys_digest=(
            source.evaluation_keys_digest if source else run.evaluation_keys.digest
        ),
        profile_name=run.plan.profile.name,
        galois_steps=source.galois_steps if source else run.evaluation_keys.galois_steps,
    )


__all__ = ["CANARY_SEED_BYTES", "generate_keys"]
