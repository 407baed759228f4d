"""A real fairness job for daemon tests: fresh client keys, every ciphertext encrypted once (so
every executor and every retry receives identical inputs), a client-signed job header."""

from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.circuits.base import CANARY_COLUMN, canary_vector, iter_chunks
from regaudit.shared.circuits.registry import get_circuit
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import JobFailedError, JobHeader, JobState
from support.signing import CLIENT as SIGNING_CLIENT
from support.signing import connect

#: How long :meth:`FairnessJob.submit` keeps retrying refusals that carry a retry hint (s).
HINTED_RETRY_S = 120.0
#: the client that signs the test jobs' headers, and the regulator key id they name
CLIENT = SIGNING_CLIENT
REGULATOR_KEY_ID = SigningIdentity.generate("regulator").key_id


def fairness_payload(rows: int, seed: int) -> dict[str, Any]:
    """Random binary fairness input of ``rows`` rows (seed JSON shape)."""
    rng = np.random.default_rng(seed)
    group_a = rng.integers(0, 2, rows)
    return {
        "y_true": rng.integers(0, 2, rows).tolist(),
        "y_pred": rng.integers(0, 2, rows).tolist(),
        "group_a": group_a.tolist(),
        "group_b": (1 - group_a).tolist(),
        "threshold": 0.1,
    }


class FairnessJob:
    """One fairness job at ``ckks-n8192-d3-v1``, encrypted once."""

    def __init__(self, rows: int, seed: int) -> None:
        self.data = parse_fairness_input(fairness_payload(rows, seed))
        self.plan = make_plan(
            get_circuit("fairness", "1"), self.data.public, rows=rows, profile=PROFILE_N8192_D3
        )
        self.keys = ClientKeys.generate(self.plan.profile, galois_steps=self.plan.rotation_steps)
        self.canary_seed = secrets.token_bytes(32)
        level = self.plan.input_level
        slots = self.plan.profile.slot_count
        self.ciphertexts: list[tuple[str, int, bytes]] = [
            (
                CANARY_COLUMN,
                0,
                self.keys.encrypt(canary_vector(self.canary_seed, slots), level=level),
            )
        ]
        for index, chunk in enumerate(iter_chunks(self.data.columns(), self.plan.chunk_rows)):
            for column in self.plan.columns:
                self.ciphertexts.append(
                    (column, index, self.keys.encrypt(chunk[column], level=level))
                )
        self.idempotency_key = secrets.token_hex(16)

    @property
    def digest(self) -> str:
        """The evaluation keys' digest."""
        return self.keys.evaluation_keys().digest

    def header(
        self, *, idempotency_key: str | None = None, commit_partials: bool = False
    ) -> JobHeader:
        """The signed header (``idempotency_key`` defaults to the job's own; ``commit_partials``
        asks for the per-chunk partial digests, as for an audit with a sampled witness)."""
        key = idempotency_key or self.idempotency_key
        return JobHeader.from_plan(
            self.plan,
            dict(self.data.public),
            evaluation_keys_digest=self.digest,
            idempotency_key=key,
            canary_seed=self.canary_seed,
            audit_id="audit-" + key[:8],
            client_key=CLIENT.public_record(),
            regulator_key_id=REGULATOR_KEY_ID,
            commit_partials=commit_partials,
        ).signed(CLIENT)

    def submit(
        self, address: str, *, idempotency_key: str | None = None
    ) -> tuple[str, JobState, str]:
        """Upload the keys (again, if the daemon deleted them), submit, wait: (job id, final
        state, failure reason or ""). A refusal with a retry hint (RESOURCE_EXHAUSTED: busy,
        quota, rate limit) is retried after the hint for up to :data:`HINTED_RETRY_S`, as the
        client does."""
        deadline = time.monotonic() + HINTED_RETRY_S
        while True:
            try:
                return self._submit_once(address, idempotency_key)
            except RegauditError as exc:
                hint = exc.retry_after_s
                if exc.grpc_code != "RESOURCE_EXHAUSTED" or hint is None:
                    raise
                if time.monotonic() + hint > deadline:
                    raise
                time.sleep(hint)

    def _submit_once(self, address: str, idempotency_key: str | None) -> tuple[str, JobState, str]:
        with connect(address) as connection:
            connection.upload_evaluation_keys(self.keys.evaluation_keys())
            header = self.header(idempotency_key=idempotency_key)
            # an interrupted upload of this very header is resumed, as the client does: the
            # evaluator holds its first N ciphertexts, only the rest is sent
            state = connection.upload_state(header.idempotency_key)
            held = (
                len(state.held_digests)
                if state.found and state.resumable and state.header_digest == header.digest
                else 0
            )
            accepted = connection.submit_job(header, iter(self.ciphertexts[held:]))
            try:
                final = connection.wait_for_job(accepted.job_id)
            except JobFailedError as exc:
                return accepted.job_id, JobState.FAILED, str(exc.job_reason)
            return accepted.job_id, final.state, ""


__all__ = ["CLIENT", "REGULATOR_KEY_ID", "FairnessJob", "fairness_payload"]
