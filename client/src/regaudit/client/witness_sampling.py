"""Sampled witnesses (``--witness-sample FRACTION``): after the primary's receipt, a random
sample of the job's chunks is re-executed by each witness, and the client checks the result
before it signs anything (step 10c of :func:`regaudit.client.audit.run_audit`).

* During the primary's upload every ciphertext sent is also appended to an unnamed temporary
  file (:class:`CiphertextSpool`; deleted when closed): no second encryption, and the witness
  receives the very bytes the primary did (their digests are checked against the manifest).
* Once the primary's receipt passed the client's receipt check, the partial-digest list the
  primary returned must hash to the root its receipt commits to
  (:func:`~regaudit.shared.evidence.sampled_witness.check_partials`); then a fresh 32-byte
  nonce and the receipt's digest fix the sample (``k = max(1, ceil(f x n))`` chunks).
* Each witness (capabilities, trusted key, not the primary's) receives the evaluation keys, the
  signed header with the sample, the canary and the sampled chunks; its receipt passes
  :func:`~regaudit.shared.evidence.sampled_witness.check_sampled_witness` (a partial that
  differs from the primary's fails the audit: ``witness_disagreement``, exit 1).
* An unreachable or failing witness fails the audit with exit 3 (``witness_unavailable``),
  unless witnesses are optional: then it is recorded as missing.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from regaudit.client.anchors import check_capabilities, check_evaluator_key
from regaudit.client.remote import remaining, remote_call
from regaudit.client.witness import WitnessUnavailableError, check_witness_key
from regaudit.client.witness_checks import CheckedWitness
from regaudit.shared.circuits.base import CANARY_COLUMN
from regaudit.shared.errors import ProtocolError, RegauditError, VerificationError
from regaudit.shared.evidence.canonical import sha256_digest, utc_now
from regaudit.shared.evidence.identity import PublicKeyRecord
from regaudit.shared.evidence.sampled_witness import (
    SampledWitnessExpectation,
    check_partials,
    check_sampled_witness,
)
from regaudit.shared.evidence.statements import MissingWitness
from regaudit.shared.evidence.witness_sampling import sample_size
from regaudit.shared.protocol import DEADLINE_UNARY_S, JobState, TlsOptions, WitnessSample

if TYPE_CHECKING:
    from regaudit.client.audit import AuditRun
    from regaudit.client.encryption import EncryptedChunk

#: The witness mode a sampled witness is bound with in the submission.
WITNESS_MODE_SAMPLED = "sampled"


class CiphertextSpool:
    """Every ciphertext of the primary's upload, appended to an unnamed temporary file (the
    last bytes sent for a position win: a resumed upload re-sends fresh encryptions)."""

    def __init__(self, directory: str | None = None) -> None:
        self._file: BinaryIO = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in close()
        self._index: dict[tuple[str, int], tuple[int, int]] = {}

    def tap(self, ciphertexts: Iterator[EncryptedChunk]) -> Iterator[EncryptedChunk]:
        """Pass ``ciphertexts`` through, spooling each."""
        for column, chunk, data in ciphertexts:
            offset = self._file.seek(0, os.SEEK_END)
            self._file.write(data)
            self._index[(column, chunk)] = (offset, len(data))
            yield column, chunk, data

    def read(self, column: str, chunk: int) -> bytes:
        """The bytes last spooled for ``column``/``chunk``."""
        offset, size = self._index[(column, chunk)]
        self._file.seek(offset)
        return self._file.read(size)

    def close(self) -> None:
        """Delete the spool (the file has no name; closing removes it)."""
        self._file.close()
        self._index.clear()

    def __enter__(self) -> CiphertextSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def sampled_ciphertexts(
    run: AuditRun, spool: CiphertextSpool, chunks: Sequence[int]
) -> list[EncryptedChunk]:
    """The canary and the sampled chunks' ciphertexts from the spool, each checked against the
    digest the primary's manifest recorded (ProtocolError otherwise)."""
    wanted = set(chunks)
    selected = []
    for entry in run.manifest.entries:
        is_canary = entry.column == CANARY_COLUMN
        if (is_canary and entry.chunk == 0) or (not is_canary and entry.chunk in wanted):
            data = spool.read(entry.column, entry.chunk)
            if sha256_digest(data) != entry.digest:
                raise ProtocolError(
                    f"the spooled ciphertext {entry.column}[{entry.chunk}] is not the one the "
                    "primary received",
                    field="witness_sample",
                )
            selected.append((entry.column, entry.chunk, data))
    return selected


def run_sampled_witnesses(
    run: AuditRun,
    addresses: Sequence[str],
    *,
    fraction: float,
    spool: CiphertextSpool,
    optional: bool,
    tls: TlsOptions | None,
) -> None:
    """10c (sampled). Check the primary's partial digests, derive each witness's sample, run
    it, check its receipt; append it to ``run.witnesses`` (or, if optional and it failed to
    deliver, to ``run.missing_witnesses``). Verification failures always fail the audit.

    Steps: 1. the primary's partial digests against its receipt's root; 2. per witness: a
    fresh nonce and the sample; 3. connect and check the witness (capabilities, trusted key,
    independent); 4. keys, header with the sample, canary and sampled chunks; 5. its receipt
    passes the shared check."""
    # 1. the primary's commitment
    partials = list(run.result.partial_digests)
    check_partials(run.receipt, partials)
    k = sample_size(fraction, run.plan.n_chunks)
    keys: list[PublicKeyRecord] = [w.key for w in run.witnesses]
    for address in addresses:
        try:
            checked = _run_one(run, address, k=k, spool=spool, tls=tls, others=keys)
        except VerificationError:
            raise
        except RegauditError as exc:
            if not optional:
                raise WitnessUnavailableError(
                    f"sampled witness {address} failed ({exc.reason}): {exc.message}",
                    field="witness",
                ) from exc
            run.sink.note(f"sampled witness {address} failed ({exc.reason}): {exc.message}")
            run.missing_witnesses.append(
                MissingWitness(address=address, reason=exc.reason, message=exc.message[:1024])
            )
            continue
        keys.append(checked.key)
        run.witnesses.append(checked)


def _run_one(
    run: AuditRun,
    address: str,
    *,
    k: int,
    spool: CiphertextSpool,
    tls: TlsOptions | None,
    others: list[PublicKeyRecord],
) -> CheckedWitness:
    from regaudit.client.transport import EvaluatorConnection

    # 2. the sample: fixed by the primary's receipt digest and a nonce drawn only now
    sample = WitnessSample.derive(
        primary_receipt_digest=run.receipt_digest,
        nonce=secrets.token_bytes(32),
        n_chunks=run.plan.n_chunks,
        k=k,
    )
    ciphertexts = sampled_ciphertexts(run, spool, sample.chunks)
    # 3. the witness
    try:
        connection = EvaluatorConnection(
            address,
            timeout=min(remaining(run.deadline), DEADLINE_UNARY_S),
            tls=tls,
            identity=run.identity,
        )
    except RegauditError:
        raise
    except Exception as exc:  # grpc raises plain exceptions for bad addresses
        raise WitnessUnavailableError(f"cannot connect to {address}: {exc}") from exc
    with connection:
        caps = remote_call(connection.capabilities, address)
        key = check_capabilities(caps, run.plan)
        check_evaluator_key(key, run.accepted_evaluators, address=address)
        check_witness_key(key, primary=run.evaluator_key, others=others, address=address)
        # 4. keys, the sampled job, its result
        run.sink.note(f"sampled witness {address}: {k} of {run.plan.n_chunks} chunks")
        remote_call(lambda: connection.upload_evaluation_keys(run.evaluation_keys), address)
        header = replace(run.header, witness_sample=sample)
        accepted = remote_call(
            lambda: connection.submit_job(
                header, iter(ciphertexts), timeout=remaining(run.deadline)
            ),
            address,
        )
        final = remote_call(
            lambda: connection.wait_for_job(accepted.job_id, timeout=remaining(run.deadline)),
            address,
        )
        if final.state is not JobState.SUCCEEDED:
            raise WitnessUnavailableError(f"sampled witness {address}: job {final.state.value}")
        result = remote_call(lambda: connection.fetch_result(accepted.job_id), address)
    # 5. the shared check (the regulator runs it again on the bundle)
    check_sampled_witness(
        result.receipt_envelope,
        expected=SampledWitnessExpectation(
            witness_key=key,
            primary=run.receipt,
            primary_receipt_digest=run.receipt_digest,
            primary_manifest=[(e.column, e.chunk, e.digest) for e in run.manifest.entries],
            primary_partial_digests=run.result.partial_digests,
            sample_size=k,
            other_keys=frozenset(o.key_id for o in others),
        ),
        now=utc_now(),
    )
    return CheckedWitness(
        address=address,
        mode=WITNESS_MODE_SAMPLED,
        key=key,
        job_id=accepted.job_id,
        receipt_envelope=result.receipt_envelope,
    )


__all__ = [
    "WITNESS_MODE_SAMPLED",
    "CiphertextSpool",
    "run_sampled_witnesses",
    "sampled_ciphertexts",
]
