"""Receiving uploads: evaluation keys and a job's ciphertexts, every object checked before use.

Sizes are checked first (per piece, then per object against the header or the plan), then SEAL
validity for the profile (keys) or for the profile and the plan's exact input level
(ciphertexts). Ciphertexts must arrive in the plan's upload order; a missing, duplicate or
unknown one is named, and so is one whose bytes repeat an earlier ciphertext of the same job
(a replay: every input is a fresh encryption). A job never receives more bytes than it was
admitted for. Key uploads stream to temporary files in the store, never held in memory before
their size, SEAL framing and digest are checked. A broken stream fails the job; nothing of it
runs.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import grpc

from regaudit.evaluator.failures import STORE_ERRORS, UploadIncompleteError, store_error
from regaudit.evaluator.jobs import JobManager
from regaudit.evaluator.logs import log_event, prefix, seconds
from regaudit.evaluator.resumption import resume_point
from regaudit.evaluator.status import RpcAbort, check_digest, profile_named
from regaudit.evaluator.store import JobRecord, Store
from regaudit.shared import ckks
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.circuits.base import CANARY_COLUMN, Plan
from regaudit.shared.errors import (
    DuplicateCiphertextError,
    InputError,
    KeyMaterialError,
    ProtocolError,
    RegauditError,
)
from regaudit.shared.evaluation_keys import max_evaluation_key_bytes
from regaudit.shared.protocol import (
    CHUNK_BYTES,
    MAX_CIPHERTEXT_BYTES,
    MAX_EVALUATION_KEY_BYTES,
    MAX_GALOIS_STEPS,
    LimitExceededError,
    max_job_input_bytes,
    upload_order,
)

log = logging.getLogger("regaudit.evaluator.server")


# --- evaluation keys --------------------------------------------------------------------------

#: SEAL's serialization header: magic 0xA15E, header size 16, version, compression mode,
#: reserved, then the whole object's size in bytes (little endian).
_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_SEAL_MAGIC = 0xA15E


class _KeyPart:
    """One part of a streamed key upload (relinearization or Galois keys): written to its file
    as it arrives, hashed on the way, its SEAL header checked against the declared size as soon
    as the header's bytes are in."""

    def __init__(self, name: str, declared: int) -> None:
        self.name = name
        self.declared = declared
        self.head = bytearray()
        self.hash = hashlib.sha256()

    def take(self, data: bytes, file: BinaryIO) -> None:
        if not data:
            return
        if len(self.head) < _SEAL_HEADER.size:
            self.head += data[: _SEAL_HEADER.size - len(self.head)]
            if len(self.head) == _SEAL_HEADER.size:
                self._check_head()
        self.hash.update(data)
        file.write(data)

    def _check_head(self) -> None:
        magic, header_size, _major, _minor, _mode, _reserved, size = _SEAL_HEADER.unpack(
            bytes(self.head)
        )
        if magic != _SEAL_MAGIC or header_size != _SEAL_HEADER.size:
            raise RpcAbort(
                KeyMaterialError(f"{self.name} is not a SEAL object", field=self.name),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        if size != self.declared:
            raise RpcAbort(
                KeyMaterialError(
                    f"{self.name} is a SEAL object of {size} bytes, the header declared "
                    f"{self.declared}",
                    field=self.name,
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def receive_upload_keys(
    store: Store,
    messages: Iterator[pb.UploadEvaluationKeysRequest],
    *,
    reserve: Callable[[int], None] | None = None,
) -> pb.UploadEvaluationKeysResponse:
    """Receive one ``UploadEvaluationKeys`` stream into ``store``.

    Steps: 1. the header comes first and is within limits; 2. content addressing: a known digest
    needs no bytes; 2b. ``reserve(declared bytes)``, the uploading client's quotas
    (:mod:`.quotas`), refuses or reserves before any byte of the keys is read; 3. the pieces
    stream to temporary files in the store (never more than declared, each part's SEAL header
    checked against its declared size as soon as it arrives, both parts hashed on the way);
    4. the streamed digest must match the header before anything is read back, then SEAL
    validates the keys for the profile. The temporary files are removed whatever happens.
    """
    # 1. the header comes first and is within limits
    began = time.monotonic()
    first = next(messages, None)
    if first is None or first.WhichOneof("kind") != "header":
        raise RpcAbort(ProtocolError("the first message must be the keys header", field="header"))
    header = first.header
    profile = profile_named(header.profile_name)
    check_digest(header.digest, field="digest")
    steps = tuple(int(s) for s in header.galois_steps)
    if len(steps) > MAX_GALOIS_STEPS:
        raise RpcAbort(
            LimitExceededError(
                f"{len(steps)} Galois steps exceed {MAX_GALOIS_STEPS}", field="galois_steps"
            )
        )
    total = header.relin_size + header.galois_size
    if total > MAX_EVALUATION_KEY_BYTES:
        raise RpcAbort(
            LimitExceededError(
                f"evaluation keys of {total} bytes exceed {MAX_EVALUATION_KEY_BYTES}",
                field="relin_size",
            )
        )
    if header.relin_size == 0 or header.galois_size == 0:
        raise RpcAbort(InputError("key sizes must be positive", field="relin_size"))
    if header.relin_size > ckks.MAX_RELIN_KEY_BYTES:
        raise RpcAbort(
            KeyMaterialError(
                f"relinearization key of {header.relin_size} bytes exceeds "
                f"{ckks.MAX_RELIN_KEY_BYTES}",
                field="relin_size",
            ),
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    # per-profile caps: no key set of this profile with these steps can be larger, seeded or not
    relin_cap, galois_cap = max_evaluation_key_bytes(profile, len(steps))
    for part, size, cap in (
        ("relin_size", header.relin_size, relin_cap),
        ("galois_size", header.galois_size, galois_cap),
    ):
        if size > cap:
            raise RpcAbort(
                LimitExceededError(
                    f"{part.removesuffix('_size')} keys of {size} bytes exceed {cap}, the most "
                    f"a {profile.name} key set with {len(steps)} Galois steps can take",
                    field=part,
                )
            )
    # 2. content addressing: a known digest needs no bytes
    existing = store.get_keys(header.digest)
    if existing is not None:
        return pb.UploadEvaluationKeysResponse(digest=existing.digest, already_present=True)
    # 2b. the client's quotas (bytes in flight, stored bytes, rate), before any byte is read
    if reserve is not None:
        reserve(total)
    # 3. stream to temporary files in the store, sizes, SEAL framing and digests checked as
    #    the pieces arrive (memory stays bounded by one piece); a failing store or a full disk
    #    answers with its status (store_failed, disk_full) and the scratch is removed
    try:
        scratch = store.temp_dir()
    except STORE_ERRORS as exc:
        raise RpcAbort(store_error(exc)) from exc
    try:
        relin_path, galois_path = scratch / "relin.bin", scratch / "galois.bin"
        parts = (
            _KeyPart("relin_keys", header.relin_size),
            _KeyPart("galois_keys", header.galois_size),
        )
        received = 0
        with relin_path.open("wb") as relin_file, galois_path.open("wb") as galois_file:
            for message in messages:
                if message.WhichOneof("kind") != "piece":
                    raise RpcAbort(ProtocolError("a second header", field="header"))
                data = message.piece.data
                if len(data) > CHUNK_BYTES:
                    raise RpcAbort(
                        LimitExceededError(
                            f"piece of {len(data)} bytes exceeds {CHUNK_BYTES}", field="piece"
                        )
                    )
                if received + len(data) > total:
                    raise RpcAbort(
                        KeyMaterialError(
                            f"more key bytes than the header declared: {received} + "
                            f"{len(data)} > {total}"
                        ),
                        code=grpc.StatusCode.INVALID_ARGUMENT,
                    )
                split = max(0, min(len(data), header.relin_size - received))
                parts[0].take(data[:split], relin_file)
                parts[1].take(data[split:], galois_file)
                received += len(data)
        if received != total:
            raise RpcAbort(
                KeyMaterialError(f"received {received} of {total} declared key bytes"),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        # 4a. the digest from the streamed hashes, before anything is read back into memory
        streamed = ckks.evaluation_keys_digest(
            profile.name,
            relin_sha256=parts[0].digest(),
            galois_sha256=parts[1].digest(),
            galois_steps=steps,
        )
        if streamed != header.digest:
            raise RpcAbort(
                KeyMaterialError(
                    f"keys hash to {streamed}, header says {header.digest}", field="digest"
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        # 4b. SEAL validates the keys for the profile (their size and digest already checked)
        keys = ckks.EvaluationKeys(
            profile_name=profile.name,
            relin_keys=relin_path.read_bytes(),
            galois_keys=galois_path.read_bytes(),
            galois_steps=steps,
        )
        try:
            ckks.load_evaluation_keys(profile, keys, required_steps=())
        except KeyMaterialError as exc:
            raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc
        del keys
        record = store.put_keys(
            digest=header.digest,
            profile_name=profile.name,
            galois_steps=steps,
            relin_path=relin_path,
            galois_path=galois_path,
        )
        log_event(
            "keys_uploaded",
            digest=prefix(record.digest),
            profile=profile.name,
            galois_steps=len(steps),
            bytes=total,
            seconds=seconds(time.monotonic() - began),
        )
        return pb.UploadEvaluationKeysResponse(digest=record.digest, already_present=False)
    except STORE_ERRORS as exc:
        raise RpcAbort(store_error(exc)) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- a job's ciphertexts ----------------------------------------------------------------------


def receive_job_ciphertexts(
    manager: JobManager, job_id: str, plan: Plan, messages: Iterator[pb.SubmitJobRequest]
) -> JobRecord:
    """Receive an admitted job's ciphertexts (the rest of its ``SubmitJob`` stream), every one
    validated before it is stored; returns the job once its upload is complete. Any failure,
    a broken stream included, fails the job and is raised again. A complete upload is logged
    (``upload_finished``: ciphertexts, bytes, seconds)."""
    began = time.monotonic()
    try:
        count, received_bytes = _receive(manager, job_id, plan, messages)
    except BaseException as exc:
        error = exc.error if isinstance(exc, RpcAbort) else exc
        if isinstance(error, STORE_ERRORS):  # (the manager maps its own; this is a fallback)
            error = store_error(error)
            manager.upload_failed(job_id, error)
            raise error from exc
        if not isinstance(error, RegauditError):
            error = UploadIncompleteError(f"upload stream broke: {type(exc).__name__}")
        manager.upload_failed(job_id, error)
        raise
    # (logged before the job runs: its own events follow)
    log_event(
        "upload_finished",
        job_id=job_id,
        ciphertexts=count,
        bytes=received_bytes,
        seconds=seconds(time.monotonic() - began),
    )
    return manager.upload_finished(job_id)


def _receive(
    manager: JobManager, job_id: str, plan: Plan, messages: Iterator[pb.SubmitJobRequest]
) -> tuple[int, int]:
    """Receive and store the ciphertexts; returns (ciphertexts, their bytes)."""
    profile = plan.profile
    max_bytes = min(MAX_CIPHERTEXT_BYTES, ckks.MAX_CIPHERTEXT_BYTES)
    order = upload_order(plan.columns, plan.n_chunks, chunks=_chunks(plan))
    total = plan.input_count
    # the job's admitted input bytes (admission bounds them by the daemon's max_job_bytes)
    budget = max_job_input_bytes(plan)
    # a resumed upload continues after the ciphertexts the job holds (see .resumption)
    index, held_digests, received_bytes = resume_point(manager, job_id)
    # every input ciphertext is a fresh encryption (random seed): a repeated digest is a replay
    seen: dict[bytes, tuple[int, str]] = {
        bytes.fromhex(digest.removeprefix("sha256:")): (i, f"held #{i}")
        for i, digest in enumerate(held_digests)
    }
    for _ in range(index):
        next(order)
    expected: tuple[str, int] | None = next(order, None)
    buffer = bytearray()
    size = 0
    for message in messages:
        if message.WhichOneof("kind") != "piece":
            raise RpcAbort(ProtocolError("a second header", field="header"))
        piece = message.piece
        where = f"{piece.column}[{piece.chunk}]"
        if expected is None:
            raise RpcAbort(
                LimitExceededError(
                    f"more than the plan's {total} ciphertexts (extra: {where})", field=where
                )
            )
        if (piece.column, piece.chunk) != expected:
            raise RpcAbort(
                ProtocolError(
                    f"expected ciphertext {expected[0]}[{expected[1]}], got {where} "
                    f"({_misorder_kind(piece.column, piece.chunk, expected, plan)})",
                    field=where,
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        if len(piece.data) > CHUNK_BYTES:
            raise RpcAbort(
                LimitExceededError(
                    f"piece of {len(piece.data)} bytes exceeds {CHUNK_BYTES}", field=where
                )
            )
        if piece.total_size > max_bytes:
            raise RpcAbort(
                LimitExceededError(
                    f"ciphertext of {piece.total_size} bytes exceeds {max_bytes}", field=where
                )
            )
        if not buffer:
            size = piece.total_size
            if size == 0:
                raise RpcAbort(ProtocolError("empty ciphertext", field=where))
            if received_bytes + size > budget:
                raise RpcAbort(
                    LimitExceededError(
                        f"ciphertext {where} of {size} bytes takes the job past its "
                        f"{budget} admitted input bytes ({received_bytes} received)",
                        field=where,
                    )
                )
        elif piece.total_size != size:
            raise RpcAbort(ProtocolError("total_size changed between pieces", field=where))
        if piece.offset != len(buffer) or len(buffer) + len(piece.data) > size:
            raise RpcAbort(
                ProtocolError(
                    f"piece at offset {piece.offset} (+{len(piece.data)}) does not continue "
                    f"{len(buffer)} of {size} bytes",
                    field=where,
                )
            )
        buffer += piece.data
        if len(buffer) < size:
            continue
        data = bytes(buffer)
        buffer = bytearray()
        try:
            ckks.load_ciphertext(profile, data, level=plan.input_level, max_bytes=max_bytes)
        except RegauditError as exc:
            exc.field = exc.field or where
            if exc.field != where:
                exc.field = f"{where}.{exc.field}"
            raise RpcAbort(exc, code=grpc.StatusCode.INVALID_ARGUMENT) from exc
        fingerprint = hashlib.sha256(data).digest()
        earlier = seen.get(fingerprint)
        if earlier is not None:
            raise RpcAbort(
                DuplicateCiphertextError(
                    f"ciphertext {where} (position {index}) repeats ciphertext {earlier[1]} "
                    f"(position {earlier[0]}): every input ciphertext must be a fresh "
                    "encryption",
                    field=where,
                ),
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        seen[fingerprint] = (index, where)
        received_bytes += size
        manager.ciphertext_received(
            job_id, index=index, column=expected[0], chunk=expected[1], data=data
        )
        index += 1
        expected = next(order, None)
    if expected is not None or buffer:
        raise RpcAbort(
            # (an interrupted upload: resumable, see .resumption)
            UploadIncompleteError(
                f"stream ended after {index} of {total} ciphertexts", field="ciphertexts"
            ),
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    return index, received_bytes


def _chunks(plan: Plan) -> tuple[int, ...] | range:
    """The job's indices of the chunks ``plan`` receives (a sampled witness's sample)."""
    return range(plan.n_chunks) if plan.chunk_indices is None else plan.chunk_indices


def _misorder_kind(column: str, chunk: int, expected: tuple[str, int], plan: Plan) -> str:
    known = (column == CANARY_COLUMN and chunk == 0) or (
        column in plan.columns and chunk in _chunks(plan)
    )
    if not known:
        return "not part of the plan"
    order = list(upload_order(plan.columns, plan.n_chunks, chunks=_chunks(plan)))
    if order.index((column, chunk)) < order.index(expected):
        return "duplicate"
    return "out of order; an earlier ciphertext is missing"


__all__ = ["receive_job_ciphertexts", "receive_upload_keys"]
