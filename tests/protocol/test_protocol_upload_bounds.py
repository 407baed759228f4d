"""Uploads are bounded: a replayed ciphertext is refused, a job may not claim more input bytes
than the daemon allows, and key uploads stream to disk within their declared sizes."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.signing import connect, signed

from regaudit.evaluator.jobs import scoped_idempotency_key
from regaudit.evaluator.server import EvaluatorServer
from regaudit.shared import errors
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.circuits.registry import get_circuit
from regaudit.shared.evaluation_keys import max_evaluation_key_bytes, max_key_switching_key_bytes
from regaudit.shared.planning import make_plan
from regaudit.shared.profiles import PROFILE_N16384_D6, PROFILES
from regaudit.shared.protocol import (
    CHUNK_BYTES,
    GRPC_OPTIONS,
    MAX_EVALUATION_KEY_BYTES,
    MAX_JOB_BYTES,
    JobState,
    LimitExceededError,
    error_from_rpc,
    max_job_input_bytes,
)

MIB = 1024 * 1024


@pytest.fixture
def uploaded(address: str, small_case: Any) -> Any:
    with connect(address) as connection:
        connection.upload_evaluation_keys(small_case.keys.evaluation_keys())
    return small_case


def still_serving(address: str, proto: Any) -> None:
    proto.assert_serving(address)
    with connect(address) as connection:
        assert ("fairness", "1") in connection.capabilities().circuits


def code_of(error: errors.RegauditError) -> str:
    return error.grpc_code  # type: ignore[attr-defined]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def temp_files(server: EvaluatorServer) -> list[Path]:
    return [p for p in (server.store.root / "tmp").rglob("*") if p.is_file()]


def upload_raw(address: str, messages: Iterator[pb.UploadEvaluationKeysRequest]) -> Any:
    with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
        stub = pb_grpc.EvaluatorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.UploadEvaluationKeys(
                messages, timeout=120, metadata=signed("UploadEvaluationKeys")
            )
    return error_from_rpc(info.value)


def seal_head(size: int) -> bytes:
    """A SEAL serialization header claiming an object of ``size`` bytes."""
    return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 3, 2, 0, size)


# --- replayed ciphertexts ---------------------------------------------------------------------


def test_replayed_ciphertext_is_refused(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    header = uploaded.header()

    def replayed() -> Iterator[tuple[str, int, bytes]]:
        first: bytes | None = None
        for column, chunk, data in uploaded.ciphertexts(header):
            if (column, chunk) == ("y_true", 0):
                first = data
            if (column, chunk) == ("y_true", 1):
                assert first is not None
                data = first
            yield column, chunk, data

    with (
        connect(address) as connection,
        pytest.raises(errors.DuplicateCiphertextError) as info,
    ):
        connection.submit_job(header, replayed())
    assert code_of(info.value) == "INVALID_ARGUMENT"
    assert info.value.reason == "duplicate_ciphertext"
    assert info.value.field == "y_true[1]"
    assert "y_true[0]" in str(info.value)
    failed = server.store.find_by_idempotency_key(scoped_idempotency_key(header))
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.error_reason == "duplicate_ciphertext"
    still_serving(address, proto)


# --- the disk a job may claim -----------------------------------------------------------------


def test_job_claiming_too_many_bytes_is_refused_at_admission(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    rows = 2**25  # the header: one valid ciphertext replayed would take ~5.8 GB
    big = make_plan(
        get_circuit("fairness", "1"), uploaded.public, rows=rows, profile=uploaded.plan.profile
    )
    claimed = max_job_input_bytes(big)
    assert claimed > MAX_JOB_BYTES == server.service.max_job_bytes
    header = uploaded.header(rows=rows, n_chunks=big.n_chunks)
    sent: list[int] = []

    def nothing() -> Iterator[tuple[str, int, bytes]]:
        sent.append(1)
        yield from ()

    with connect(address) as connection, pytest.raises(LimitExceededError) as info:
        connection.submit_job(header, nothing())
    assert code_of(info.value) == "RESOURCE_EXHAUSTED"
    assert info.value.reason == "limit_exceeded"
    assert str(claimed) in str(info.value) and str(MAX_JOB_BYTES) in str(info.value)
    assert server.store.find_by_idempotency_key(scoped_idempotency_key(header)) is None
    # the bound is the daemon's: lowered, the small job is refused too; restored, it runs
    server.service.max_job_bytes = max_job_input_bytes(uploaded.plan) - 1
    try:
        small = uploaded.header()
        with (
            connect(address) as connection,
            pytest.raises(LimitExceededError) as info,
        ):
            connection.submit_job(small, uploaded.ciphertexts(small))
        assert "max_job_bytes" in str(info.value)
    finally:
        server.service.max_job_bytes = MAX_JOB_BYTES
    still_serving(address, proto)


# --- key uploads ------------------------------------------------------------------------------


def test_claimed_512_mib_key_upload_is_streamed_not_buffered(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    # the largest profile with 36 Galois steps: its per-profile caps admit a 512 MiB claim
    profile = PROFILE_N16384_D6
    steps = list(range(1, 37))
    relin_size = 14 * MIB
    galois_size = MAX_EVALUATION_KEY_BYTES - relin_size
    assert (relin_size, galois_size) <= max_evaluation_key_bytes(profile, len(steps))
    garbage = bytes(range(256)) * (CHUNK_BYTES // 256)

    def header() -> pb.UploadEvaluationKeysRequest:
        return pb.UploadEvaluationKeysRequest(
            header=pb.EvaluationKeysHeader(
                profile_name=profile.name,
                digest="sha256:" + "ab" * 32,
                galois_steps=steps,
                relin_size=relin_size,
                galois_size=galois_size,
            )
        )

    def piece(data: bytes) -> pb.UploadEvaluationKeysRequest:
        return pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=data))

    # (a) plain garbage: refused at the first piece (not a SEAL object)
    before = rss_bytes()
    error = upload_raw(address, iter([header(), *(piece(garbage) for _ in range(8))]))
    assert isinstance(error, errors.KeyMaterialError)
    assert code_of(error) == "INVALID_ARGUMENT"
    assert "not a SEAL object" in str(error)

    # (b) garbage behind plausible SEAL headers, all 512 MiB of it: streamed to disk, hashed,
    #     refused on the digest without being read back into memory
    def framed() -> Iterator[pb.UploadEvaluationKeysRequest]:
        yield header()
        sent = 0
        while sent < relin_size + galois_size:
            data = garbage
            if sent == 0:
                data = seal_head(relin_size) + garbage[16:]
            elif sent == relin_size:
                data = seal_head(galois_size) + garbage[16:]
            yield piece(data)
            sent += len(data)

    error = upload_raw(address, framed())
    grown = rss_bytes() - before
    assert isinstance(error, errors.KeyMaterialError)
    assert error.field == "digest"
    assert grown < 64 * MIB, f"RSS grew by {grown / MIB:.1f} MiB"
    assert temp_files(server) == []
    still_serving(address, proto)


@pytest.mark.parametrize("part", ["relin_size", "galois_size"])
def test_key_upload_over_its_profile_cap_is_refused_before_a_byte_is_read(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any, part: str
) -> None:
    """Far below the global 512 MiB, a claim larger than any key set of its profile and step
    count can be (uncompressed, not seeded) is refused from the header alone."""
    good = uploaded.keys.evaluation_keys()
    profile = next(p for p in PROFILES if p.name == good.profile_name)
    relin_cap, galois_cap = max_evaluation_key_bytes(profile, len(good.galois_steps))
    sizes = {"relin_size": len(good.relin_keys), "galois_size": len(good.galois_keys)}
    sizes[part] = (relin_cap if part == "relin_size" else galois_cap) + 1
    assert sum(sizes.values()) < MAX_EVALUATION_KEY_BYTES // 4
    sent: list[int] = []

    def messages() -> Iterator[pb.UploadEvaluationKeysRequest]:
        yield pb.UploadEvaluationKeysRequest(
            header=pb.EvaluationKeysHeader(
                profile_name=good.profile_name,
                digest="sha256:" + "ef" * 32,
                galois_steps=list(good.galois_steps),
                **sizes,
            )
        )
        for _ in range(4):
            sent.append(1)
            yield pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=b"\0" * CHUNK_BYTES))

    error = upload_raw(address, messages())
    assert isinstance(error, LimitExceededError)
    assert code_of(error) == "RESOURCE_EXHAUSTED"
    assert error.field == part
    assert f"the most a {profile.name} key set with {len(good.galois_steps)} Galois steps" in str(
        error
    )
    assert temp_files(server) == []
    still_serving(address, proto)


def test_real_key_sets_fit_their_profile_caps_with_room_to_spare() -> None:
    """Seeded, compressed keys are about 40 % of the cap; the cap is not a guess that a real
    key set could cross."""
    from regaudit.secretkey.ckks import ClientKeys

    for profile in PROFILES:
        keys = ClientKeys.generate(profile, galois_steps=(1, 2)).evaluation_keys()
        relin_cap, galois_cap = max_evaluation_key_bytes(profile, 2)
        assert len(keys.relin_keys) < 0.5 * relin_cap
        assert len(keys.galois_keys) < 0.5 * galois_cap
        assert relin_cap == max_key_switching_key_bytes(profile)


def test_key_upload_longer_than_declared_is_refused_at_the_first_excess_piece(
    address: str, uploaded: Any, server: EvaluatorServer, proto: Any
) -> None:
    good = uploaded.keys.evaluation_keys()
    total = len(good.relin_keys) + len(good.galois_keys)

    def messages() -> Iterator[pb.UploadEvaluationKeysRequest]:
        yield pb.UploadEvaluationKeysRequest(
            header=pb.EvaluationKeysHeader(
                profile_name=good.profile_name,
                digest="sha256:" + "cd" * 32,  # not stored: the bytes are read
                galois_steps=list(good.galois_steps),
                relin_size=len(good.relin_keys),
                galois_size=len(good.galois_keys),
            )
        )
        data = good.relin_keys + good.galois_keys + b"\0" * (4 * CHUNK_BYTES)
        for offset in range(0, len(data), CHUNK_BYTES):
            yield pb.UploadEvaluationKeysRequest(
                piece=pb.BytesPiece(data=data[offset : offset + CHUNK_BYTES])
            )

    error = upload_raw(address, messages())
    assert isinstance(error, errors.KeyMaterialError)
    assert code_of(error) == "INVALID_ARGUMENT"
    # the piece that crossed the declaration was the one refused: exactly `total` bytes had
    # been accepted before it
    assert "more key bytes than the header declared" in str(error)
    first_excess = max(o for o in range(0, total + 4 * CHUNK_BYTES, CHUNK_BYTES) if o < total)
    assert f": {first_excess} + " in str(error)
    assert f"> {total}" in str(error)
    assert temp_files(server) == []
    still_serving(address, proto)
