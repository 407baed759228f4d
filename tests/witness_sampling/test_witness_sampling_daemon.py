"""Sampled witness jobs on real daemons (real gRPC, real SEAL, real signatures).

A primary daemon evaluates a whole job and returns every chunk's partial digest; a witness
daemon with another key receives the same client-signed header plus a sample derived from the
primary's receipt, and only the canary and the sampled chunks' ciphertexts (the very bytes the
primary received). Its signed receipt states each sampled chunk's input digests and partial
digest. A cheating primary -- a daemon whose processes load a ``sitecustomize`` that alters one
chunk's partial by an amount too small for the client's output check -- commits to a partial the
witness does not reproduce: caught exactly when the sample holds that chunk.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from support.cli import cli
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import FairnessJob
from support.witness_jobs import RawResult, run, sampled_ciphertexts, sampled_header

from regaudit.evaluator.active_jobs import BATCH_CHUNKS
from regaudit.shared.circuits.base import CANARY_COLUMN
from regaudit.shared.errors import (
    InputError,
    PartialsRootMismatchError,
    ProtocolError,
    WitnessDisagreementError,
    WitnessNotIndependentError,
    WitnessSampleMismatchError,
)
from regaudit.shared.evidence.canonical import canonical_json, sha256_digest, utc_now
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope, verify_envelope
from regaudit.shared.evidence.identity import SigningIdentity, load_public_key_file
from regaudit.shared.evidence.sampled_witness import (
    SampledWitnessExpectation,
    check_partials,
    check_sampled_witness,
    detection,
)
from regaudit.shared.evidence.statements import ReceiptStatement, parse_receipt
from regaudit.shared.evidence.statements.sampled_receipt import (
    SAMPLED_RECEIPT_FIELDS,
    SampledReceiptStatement,
    build_sampled_receipt_statement,
    parse_sampled_receipt,
)
from regaudit.shared.evidence.witness_sampling import (
    EMPTY_PARTIALS_ROOT,
    derive_sample,
    merkle_root,
    sample_size,
)
from regaudit.shared.primitives.fairness.reference import plaintext_counts
from regaudit.shared.primitives.fairness.report import decode_counts
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import WitnessSample

CHUNKS = BATCH_CHUNKS + 4
ROWS = CHUNKS * PROFILE_N8192_D3.slot_count - 7
FRACTION = 0.25  # k = 3 of 12
#: the chunk the cheating primary alters
CHEAT = 5

SITECUSTOMIZE = '''
"""Test-only: a cheating evaluator. Every process of this daemon (the daemon and its spawned
workers) imports this at start-up and alters one chunk's partial accumulators by 1e-7 per slot:
invisible in the decrypted counts, but a different ciphertext."""
import os

_CHEAT = int(os.environ["REGAUDIT_TEST_CHEAT_CHUNK"])


def _install():
    from regaudit.evaluator import chunk_partials

    honest = chunk_partials.chunk_partial

    def cheating(circuit, backend, index, inputs, public):
        partial = honest(circuit, backend, index, inputs, public)
        if index == _CHEAT:
            partial[0] = backend.add_plain(partial[0], 1e-7)
            backend.counts.additions -= 1  # (and it hides the operation from the daemon)
        return partial

    chunk_partials.chunk_partial = cheating


_install()
'''


@dataclass
class Daemon:
    address: str
    identity: Path
    process: subprocess.Popen[str]


def _start(root: Path, name: str) -> Daemon:
    identity = root / name
    cli("evaluator", "init", identity, check=True)
    process, address = start_evaluator(identity, root / f"{name}-store", "--workers", "1")
    return Daemon(address, identity, process)


@pytest.fixture(scope="module")
def job() -> FairnessJob:
    return FairnessJob(ROWS, seed=5)


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Daemon]]:
    """An honest primary, a witness, and a cheating primary (``sitecustomize`` on its path)."""
    root = tmp_path_factory.mktemp("sampled")
    cheat_path = root / "cheat"
    cheat_path.mkdir()
    (cheat_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    started: dict[str, Daemon] = {}
    patch = pytest.MonkeyPatch()
    try:
        started["primary"] = _start(root, "primary")
        started["witness"] = _start(root, "witness")
        patch.setenv("PYTHONPATH", str(cheat_path))
        patch.setenv("REGAUDIT_TEST_CHEAT_CHUNK", str(CHEAT))
        started["cheater"] = _start(root, "cheater")
        patch.undo()
        yield started
    finally:
        patch.undo()
        for daemon in started.values():
            stop_evaluator(daemon.process)


@pytest.fixture(scope="module")
def primary(job: FairnessJob, daemons: dict[str, Daemon]) -> RawResult:
    return run(daemons["primary"].address, job, job.header(commit_partials=True))


def _witness(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult, nonce: bytes
) -> tuple[WitnessSample, SampledReceiptStatement, RawResult]:
    header = sampled_header(job, primary, fraction=FRACTION, nonce=nonce)
    assert header.witness_sample is not None
    sample = header.witness_sample
    result = run(daemons["witness"].address, job, header, sampled_ciphertexts(job, sample.chunks))
    record = load_public_key_file(daemons["witness"].identity / "evaluator.pub.json")
    payload = verify_envelope(result.receipt, public_key=record.public_key, key_id=record.key_id)
    return sample, parse_sampled_receipt(payload), result


def _disagreements(receipt: SampledReceiptStatement, primary: RawResult) -> list[int]:
    return [
        entry.chunk
        for entry in receipt.chunks
        if entry.partial_digest != primary.partial_digests[entry.chunk]
    ]


@pytest.mark.timeout(300)
def test_an_honest_sampled_witness_agrees_and_attests_what_it_received(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    nonce = hashlib.sha256(b"honest").digest()
    sample, receipt, result = _witness(job, daemons, primary, nonce)
    k = sample_size(FRACTION, CHUNKS)
    assert len(sample.chunks) == k == 3
    # the witness's result is its receipt and the sampled chunks' digests: no outputs
    assert result.outputs == [] and result.canary == b""
    assert receipt.sampled == sample.chunks
    assert result.partial_digests == [entry.partial_digest for entry in receipt.chunks]
    # it binds the primary's job, receipt digest and nonce, and the sample is their derivation
    assert receipt.primary_receipt_digest == primary.receipt_digest
    assert receipt.sample_nonce == nonce
    assert (
        receipt.n_chunks == CHUNKS
        and receipt.job_header_digest == job.header(commit_partials=True).digest
    )
    assert receipt.sampled == derive_sample(
        primary_receipt_digest=primary.receipt_digest, nonce=nonce, n_chunks=CHUNKS, k=k
    )
    # the inputs it received are the primary's (same bytes: same digests)
    sent = {(column, chunk): sha256_digest(data) for column, chunk, data in job.ciphertexts}
    assert receipt.canary_input_digest == sent[(CANARY_COLUMN, 0)]
    for entry in receipt.chunks:
        assert entry.inputs == tuple(
            (column, sent[(column, entry.chunk)]) for column in job.plan.columns
        )
    assert receipt.retention["input_ciphertexts"] == "deleted"
    # and it agrees with the honest primary on every sampled chunk
    assert _disagreements(receipt, primary) == []
    assert len(primary.partial_digests) == CHUNKS


@pytest.mark.timeout(300)
def test_a_cheating_primary_is_caught_when_the_sample_holds_its_chunk(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    cheater = run(daemons["cheater"].address, job, job.header(commit_partials=True))
    # the cheat: one partial differs, committed to honestly (the root is over what it computed)
    pairs = zip(cheater.partial_digests, primary.partial_digests, strict=True)
    differing = [i for i, (a, b) in enumerate(pairs) if a != b]
    assert differing == [CHEAT]
    assert cheater.outputs != primary.outputs
    # ... yet its outputs decrypt to the exact counts: the client's output check passes them
    decryptor = job.keys.decryptor()
    decrypted = [decryptor.decrypt(c, level=job.plan.output_level) for c in cheater.outputs]
    assert decode_counts(decrypted, job.data.public, job.data.rows) == plaintext_counts(job.data)
    # a handful of real witness runs: two samples that hold the chunk, two that miss it
    k = sample_size(FRACTION, CHUNKS)
    holds: list[bytes] = []
    misses: list[bytes] = []
    for i in range(200):
        nonce = hashlib.sha256(f"series {i}".encode()).digest()
        drawn = derive_sample(
            primary_receipt_digest=cheater.receipt_digest, nonce=nonce, n_chunks=CHUNKS, k=k
        )
        (holds if CHEAT in drawn else misses).append(nonce)
    for nonce in holds[:2] + misses[:2]:
        sample, receipt, _ = _witness(job, daemons, cheater, nonce)
        caught = _disagreements(receipt, cheater)
        assert caught == ([CHEAT] if CHEAT in sample.chunks else [])


@pytest.mark.timeout(120)
def test_a_witness_refuses_a_sample_that_is_not_the_derivation(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    header = sampled_header(job, primary, fraction=FRACTION, nonce=bytes(32))
    assert header.witness_sample is not None
    chunks = header.witness_sample.chunks
    other = tuple(sorted({*chunks[1:], next(c for c in range(CHUNKS) if c not in chunks)}))
    forged = replace(header, witness_sample=replace(header.witness_sample, chunks=other))
    with pytest.raises(InputError) as raised:
        run(daemons["witness"].address, job, forged, sampled_ciphertexts(job, other))
    assert raised.value.field == "witness_sample.chunks"
    assert "not the sample derived" in raised.value.message


@pytest.mark.timeout(120)
def test_a_witness_refuses_chunks_outside_its_sample(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    header = sampled_header(job, primary, fraction=FRACTION, nonce=b"\x01" * 32)
    assert header.witness_sample is not None
    outside = next(c for c in range(CHUNKS) if c not in header.witness_sample.chunks)
    # the canary, then a chunk that is not in the sample
    sent = sampled_ciphertexts(job, (outside,))
    with pytest.raises(ProtocolError) as raised:
        run(daemons["witness"].address, job, header, sent)
    assert f"[{outside}]" in str(raised.value) and "not part of the plan" in str(raised.value)


def test_the_receipt_root_is_over_the_returned_digests(
    primary: RawResult, daemons: dict[str, Daemon]
) -> None:
    record = load_public_key_file(daemons["primary"].identity / "evaluator.pub.json")
    statement = parse_receipt(
        verify_envelope(primary.receipt, public_key=record.public_key, key_id=record.key_id)
    )
    assert statement.partials_root == merkle_root(primary.partial_digests)
    assert statement.partials_count == CHUNKS


@pytest.mark.timeout(300)
def test_a_job_that_did_not_ask_computes_no_partial_digests(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    """Without ``commit_partials`` the workers take no per-chunk digest (their cost is the
    sampled witness's alone): the result lists none, the receipt commits to none, and the
    outputs are the very bytes of the same job with the flag; no sampled witness can check it."""
    header = job.header(idempotency_key=secrets.token_hex(16))
    assert not header.commit_partials and header.digest != job.header(commit_partials=True).digest
    plain = run(daemons["primary"].address, job, header)
    assert plain.partial_digests == []
    receipt = _primary_receipt(plain, daemons["primary"])
    assert receipt.partials_count == 0 and receipt.partials_root == EMPTY_PARTIALS_ROOT
    assert receipt.job_header_digest == header.digest
    assert plain.outputs == primary.outputs and plain.canary == primary.canary
    committed = _primary_receipt(primary, daemons["primary"])
    assert receipt.output_contents == committed.output_contents
    assert committed.partials_count == CHUNKS
    with pytest.raises(PartialsRootMismatchError) as raised:
        check_partials(receipt, plain.partial_digests)
    assert raised.value.field == "partials_count"
    assert "commit_partials" in raised.value.message


# --- the shared check of client and regulator ---------------------------------------------------


def _primary_receipt(result: RawResult, daemon: Daemon) -> ReceiptStatement:
    record = load_public_key_file(daemon.identity / "evaluator.pub.json")
    return parse_receipt(
        verify_envelope(result.receipt, public_key=record.public_key, key_id=record.key_id)
    )


def _expectation(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult, primary_name: str
) -> SampledWitnessExpectation:
    return SampledWitnessExpectation(
        witness_key=load_public_key_file(daemons["witness"].identity / "evaluator.pub.json"),
        primary=_primary_receipt(primary, daemons[primary_name]),
        primary_receipt_digest=primary.receipt_digest,
        primary_manifest=[(c, i, sha256_digest(d)) for c, i, d in job.ciphertexts],
        primary_partial_digests=primary.partial_digests,
        sample_size=sample_size(FRACTION, CHUNKS),
    )


@pytest.mark.timeout(300)
def test_the_shared_check_accepts_an_honest_witness_and_names_each_failure(
    job: FairnessJob, daemons: dict[str, Daemon], primary: RawResult
) -> None:
    expected = _expectation(job, daemons, primary, "primary")
    check_partials(expected.primary, primary.partial_digests)
    _, receipt, result = _witness(job, daemons, primary, hashlib.sha256(b"shared").digest())
    checked = check_sampled_witness(result.receipt, expected=expected, now=utc_now())
    assert checked.sampled == receipt.sampled
    assert detection(expected.primary, 3)["one_chunk"] == pytest.approx(1 - (11 / 12) ** 3)

    # a tampered partial list (one digest replaced) no longer has the committed root
    tampered = list(primary.partial_digests)
    tampered[0] = sha256_digest(b"tampered")
    with pytest.raises(PartialsRootMismatchError) as raised:
        check_partials(expected.primary, tampered)
    assert raised.value.reason == "partials_root_mismatch"
    with pytest.raises(PartialsRootMismatchError):
        check_partials(expected.primary, primary.partial_digests[:-1])

    # a witness that re-executed other chunks (its own key signs the forged receipt)
    witness = SigningIdentity.load(daemons["witness"].identity, kind="evaluator")
    outside = next(c for c in range(CHUNKS) if c not in receipt.sampled)
    moved = (*receipt.chunks[1:], replace(receipt.chunks[0], chunk=outside))
    forged = _resign(receipt, witness, chunks=tuple(sorted(moved, key=lambda e: e.chunk)))
    with pytest.raises(WitnessSampleMismatchError) as raised_sample:
        check_sampled_witness(forged, expected=expected, now=utc_now())
    assert raised_sample.value.field == "witness.chunks"
    # ... or fewer chunks than the audit asked for
    fewer = _resign(receipt, witness, chunks=receipt.chunks[:2])
    with pytest.raises(WitnessSampleMismatchError):
        check_sampled_witness(fewer, expected=expected, now=utc_now())
    # the primary's own key cannot witness its own job
    as_primary = replace(
        expected,
        witness_key=load_public_key_file(daemons["primary"].identity / "evaluator.pub.json"),
    )
    primary_identity = SigningIdentity.load(daemons["primary"].identity, kind="evaluator")
    with pytest.raises(WitnessNotIndependentError):
        check_sampled_witness(
            _resign(receipt, primary_identity), expected=as_primary, now=utc_now()
        )


@pytest.mark.timeout(300)
def test_the_shared_check_catches_the_cheating_primary(
    job: FairnessJob, daemons: dict[str, Daemon]
) -> None:
    cheater = run(daemons["cheater"].address, job, job.header(commit_partials=True))
    expected = _expectation(job, daemons, cheater, "cheater")
    check_partials(expected.primary, cheater.partial_digests)  # it committed to what it used
    k = sample_size(FRACTION, CHUNKS)
    nonce = next(
        n
        for n in (hashlib.sha256(f"catch {i}".encode()).digest() for i in range(200))
        if CHEAT
        in derive_sample(
            primary_receipt_digest=cheater.receipt_digest, nonce=n, n_chunks=CHUNKS, k=k
        )
    )
    _, _, result = _witness(job, daemons, cheater, nonce)
    with pytest.raises(WitnessDisagreementError) as raised:
        check_sampled_witness(result.receipt, expected=expected, now=utc_now())
    assert raised.value.field == f"partial/{CHEAT}"


def _resign(
    receipt: SampledReceiptStatement, identity: SigningIdentity, **changes: object
) -> dict[str, object]:
    """``receipt`` with ``changes``, signed again by ``identity`` (a forged witness receipt)."""
    fields = {name: getattr(receipt, name) for name in SAMPLED_RECEIPT_FIELDS}
    fields.update(changes)
    fields["evaluator_key_id"] = identity.key_id
    statement = build_sampled_receipt_statement(**fields)
    return sign_envelope(
        canonical_json(statement), payload_type=PAYLOAD_TYPE_INTOTO, identity=identity
    )
