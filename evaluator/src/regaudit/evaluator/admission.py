"""Admission: whether a submitted job may run, decided before any ciphertext is read.

A job is admitted when its header is signed by the client it names, the evaluator's own plan
(recomputed from the header's sizes and public inputs) agrees with every header field, the job
fits the ciphertext limit and the per-daemon bound on the input bytes one job may claim
(``max_job_bytes``), the uploaded evaluation keys are for the plan's profile with every
rotation step it needs, and the submitting client is within its quotas and rate limit
(:mod:`.quotas`: checked and reserved in one step, before any ciphertext is read). An
identical resubmission is answered with the existing job (idempotency), never run twice, and
takes no quota.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from regaudit.evaluator.authentication import require_submitter
from regaudit.evaluator.jobs import JobManager
from regaudit.evaluator.logs import log_event, prefix
from regaudit.evaluator.quotas import QuotaLedger
from regaudit.evaluator.status import RpcAbort, check_digest, profile_named
from regaudit.evaluator.store import JobRecord, KeyRecord, Store
from regaudit.evaluator.witness_jobs import sampled_plan
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import Circuit, Plan
from regaudit.shared.errors import (
    InputError,
    KeyMaterialError,
    ProfileError,
    ProtocolError,
    VerificationError,
)
from regaudit.shared.planning import make_plan
from regaudit.shared.protocol import (
    MAX_JOB_BYTES,
    JobHeader,
    LimitExceededError,
    max_job_input_bytes,
    max_seeded_ciphertext_bytes,
)


def _get_circuit(circuit_id: str, version: str) -> Circuit:
    from regaudit.shared.circuits.registry import get_circuit

    return get_circuit(circuit_id, version)


class Admission:
    """The evaluator's admission checks over its key store and job manager."""

    def __init__(
        self,
        store: Store,
        manager: JobManager,
        *,
        max_job_ciphertexts: int,
        max_job_bytes: int = MAX_JOB_BYTES,
        quotas: QuotaLedger | None = None,
    ) -> None:
        self.store = store
        self.manager = manager
        self.max_job_ciphertexts = max_job_ciphertexts
        self.max_job_bytes = max_job_bytes
        #: per-client and global quotas, rate limits (None: none)
        self.quotas = quotas

    def admit(
        self,
        messages: Iterator[pb.SubmitJobRequest],
        *,
        peer: str = "",
        client: str | None = None,
    ) -> tuple[JobRecord, Plan, bool]:
        """Read the job header from ``messages`` and admit the job.

        Steps: 1. the first message is the header, signed by the client it names; 2. the plan
        agrees with it (:meth:`plan_for`); 3. an identical resubmission of an existing job is
        that job (its keys may be gone already); 4. the keys are there (:meth:`keys_for`);
        5. the client's quotas and rate limit, checked and reserved at once (a refusal is
        RESOURCE_EXHAUSTED ``quota_exceeded``/``rate_limited``); 6. idempotency: same key +
        same header = the existing job, never run twice (the reservation is given back).
        Returns (job, plan, deduplicated); a deduplicated job receives no ciphertexts. An
        admitted job is logged (``job_admitted``, with ``peer``, the caller's address). The
        caller ends an admitted job's reservation with ``quotas.upload_ended(job.id)``.
        ``client``: the key id that signed the call; the header must name that key.
        """
        # 1. header
        first = next(messages, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise RpcAbort(
                ProtocolError("the first message must be the job header", field="header")
            )
        header = JobHeader.from_proto(first.header)
        # the client authenticates the job's bindings (audit id, its key, the regulator's key)
        try:
            header.verify_signature()
        except VerificationError as exc:
            raise RpcAbort(exc, code=grpc.StatusCode.UNAUTHENTICATED) from exc
        if client is not None:
            require_submitter(header.client_key().key_id, client)
        # 2. plan
        plan = self.plan_for(header)
        # 3. an identical resubmission of a job that exists
        existing = self.manager.existing(header)
        if existing is not None:
            _log_admitted(existing, header, plan, deduplicated=True, peer=peer)
            return existing, plan, True
        # 4. keys
        keys = self.keys_for(header.evaluation_keys_digest, plan)
        # 5. quotas: one job, its stream's bytes in flight, its claimed input as stored bytes
        reservation = None
        if self.quotas is not None:
            reservation = self.quotas.admit_job(
                header.client_key().key_id, claim_bytes=max_job_input_bytes(plan)
            )
        # 6. idempotency
        try:
            record, deduplicated = self.manager.admit(header, plan, keys)
        except BaseException:
            if self.quotas is not None and reservation is not None:
                self.quotas.release(reservation)
            raise
        if self.quotas is not None and reservation is not None:
            if deduplicated:
                self.quotas.release(reservation)
            else:
                self.quotas.bind_job(reservation, record.id)
        _log_admitted(record, header, plan, deduplicated=deduplicated, peer=peer)
        return record, plan, deduplicated

    def plan_for(self, header: JobHeader) -> Plan:
        """Recompute the plan from the header and reject any disagreement.

        Steps: 1. known profile with the same hash; 2. known circuit; 3. plan from rows and
        public inputs (for a sampled witness job, the plan of its sample:
        ``witness_jobs.sampled_plan``; the sample itself was checked when the header was
        parsed); 4. ciphertext count and announced input bytes within limits; 5. header
        fields equal the (full) plan.
        """
        # 1. profile
        profile = profile_named(header.profile_name)
        if header.profile_hash != profile.profile_hash:
            raise RpcAbort(
                ProfileError(
                    f"profile {profile.name} has hash {profile.profile_hash} here, header says "
                    f"{header.profile_hash}",
                    field="profile_hash",
                ),
                code=grpc.StatusCode.FAILED_PRECONDITION,
            )
        # 2. circuit
        circuit = _get_circuit(header.circuit_id, header.circuit_version)
        # 3. plan; a sampled witness job's covers its sample only (limits in step 4), while its
        #    header still describes the whole job (checked in step 5 against the full plan)
        full = make_plan(circuit, header.public_inputs, rows=header.rows, profile=profile)
        plan = sampled_plan(full, header)
        # 4. limit
        total = plan.input_count
        if total > self.max_job_ciphertexts:
            raise RpcAbort(
                LimitExceededError(
                    f"the job needs {total} ciphertexts, more than {self.max_job_ciphertexts}",
                    field="rows",
                )
            )
        claimed = max_job_input_bytes(plan)
        if claimed > self.max_job_bytes:
            per = max_seeded_ciphertext_bytes(plan.profile, plan.input_level)
            raise RpcAbort(
                LimitExceededError(
                    f"the job claims {claimed} bytes of input ({total} ciphertexts x {per} "
                    f"bytes at level {plan.input_level}), more than this evaluator's "
                    f"max_job_bytes {self.max_job_bytes}",
                    field="rows",
                )
            )
        # 5. header agrees with the plan
        violations: list[tuple[str, str]] = []
        if header.n_chunks != full.n_chunks:
            violations.append(("n_chunks", f"plan has {full.n_chunks}, header {header.n_chunks}"))
        if tuple(header.columns) != full.columns:
            violations.append(
                ("columns", f"plan has {list(full.columns)}, header {list(header.columns)}")
            )
        if header.input_level != full.input_level:
            violations.append(
                ("input_level", f"plan has {full.input_level}, header {header.input_level}")
            )
        if violations:
            raise RpcAbort(
                InputError(
                    "the job header disagrees with the evaluator's plan: "
                    + "; ".join(f"{f}: {d}" for f, d in violations),
                    field=violations[0][0],
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
                violations=violations,
            )
        return plan

    def keys_for(self, digest: str, plan: Plan | None = None) -> KeyRecord:
        """The uploaded keys for a job; FAILED_PRECONDITION if absent or lacking a step."""
        check_digest(digest, field="evaluation_keys_digest")
        record = self.store.get_keys(digest)
        if record is None:
            raise RpcAbort(
                KeyMaterialError(
                    f"evaluation keys {digest} were not uploaded", field="evaluation_keys_digest"
                ),
                code=grpc.StatusCode.FAILED_PRECONDITION,
            )
        if plan is not None:
            if record.profile_name != plan.profile.name:
                raise RpcAbort(
                    KeyMaterialError(
                        f"evaluation keys are for {record.profile_name}, job uses "
                        f"{plan.profile.name}",
                        field="evaluation_keys_digest",
                    ),
                    code=grpc.StatusCode.FAILED_PRECONDITION,
                )
            missing = sorted(set(plan.rotation_steps) - set(record.galois_steps))
            if missing:
                raise RpcAbort(
                    KeyMaterialError(
                        f"evaluation keys lack Galois keys for rotation steps {missing}",
                        field="evaluation_keys_digest",
                    ),
                    code=grpc.StatusCode.FAILED_PRECONDITION,
                    violations=[("galois_steps", f"missing rotation step {s}") for s in missing],
                )
        return record


def _log_admitted(
    record: JobRecord, header: JobHeader, plan: Plan, *, deduplicated: bool, peer: str
) -> None:
    """The ``job_admitted`` event: identifiers, sizes and the caller; no public inputs."""
    log_event(
        "job_admitted",
        job_id=record.id,
        audit_id=header.audit_id,
        client_key_id=prefix(header.client_key().key_id),
        primitive=plan.circuit_id,
        circuit_version=plan.circuit_version,
        profile=plan.profile.name,
        rows=plan.rows,
        chunks=plan.n_chunks,
        ciphertexts=plan.input_count,
        deduplicated=deduplicated,
        peer=peer,
    )


__all__ = ["Admission"]
