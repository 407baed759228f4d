"""Fuzz CKKS object loading for the small profile ``ckks-n8192-d3-v1`` (regaudit.shared.ckks,
regaudit.shared.evaluation_keys, the secret key of regaudit.secretkey.ckks): serialized
ciphertexts, evaluation keys and secret keys from random, SEAL-framed, truncated and bit-flipped
bytes of real objects made with ClientKeys -> CiphertextError / KeyMaterialError only; the
evaluator's evaluation-key upload (header checks, streamed pieces); and the round trips."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzz.contract import check_contract, mutated_bytes, scaled
from hypothesis import event, given, note
from hypothesis import strategies as st

from regaudit.evaluator.status import RpcAbort
from regaudit.evaluator.store import KeyRecord
from regaudit.evaluator.uploads import receive_upload_keys
from regaudit.secretkey.ckks import ClientKeys, SecretKeyDecryptor
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared.ckks import EvaluationKeys, load_ciphertext, load_evaluation_keys
from regaudit.shared.errors import CiphertextError, KeyMaterialError, RegauditError
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import CHUNK_BYTES

PROFILE = PROFILE_N8192_D3
SLOTS = PROFILE.slot_count
LEVELS = range(PROFILE.max_depth + 1)
STEPS = (1, 2)
KEYS = ClientKeys.generate(PROFILE, galois_steps=STEPS)
EVALUATION_KEYS = KEYS.evaluation_keys()
VALUES = np.random.default_rng(3).uniform(-10.0, 10.0, SLOTS)
#: a real (seeded, zstd-compressed) ciphertext at each level
CIPHERTEXTS = [KEYS.encrypt(VALUES, level=level) for level in LEVELS]
#: the same ciphertexts re-serialized by SEAL (not seeded)
RESAVED = [load_ciphertext(PROFILE, blob, level=i).to_bytes() for i, blob in enumerate(CIPHERTEXTS)]
SECRET_KEY = KEYS.secret_key_bytes()

ZSTD_MAGIC = struct.pack("<I", 0xFD2FB528)
SKIPPABLE_MAGIC = struct.pack("<I", 0x184D2A50)


def seal_header(
    *, size: int, compression: int, magic: int = 0xA15E, header_size: int = 16
) -> bytes:
    return struct.pack("<HBBBBHQ", magic, header_size, 4, 1, compression, 0, size)


@st.composite
def zstd_frames(draw: st.DrawFn) -> bytes:
    """Bytes that look like zstd frames: frame and skippable magics, descriptors, block headers
    of every type, truncated anywhere."""
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["frame", "skippable", "magic-only", "garbage"]))
        if kind == "frame":
            out += ZSTD_MAGIC + bytes([draw(st.integers(0, 255))])
            out += draw(st.binary(max_size=9))
            for _ in range(draw(st.integers(0, 4))):
                header = (
                    draw(st.integers(0, 2**21 - 1)) << 3
                    | draw(st.integers(0, 3)) << 1
                    | draw(st.integers(0, 1))
                )
                out += header.to_bytes(3, "little") + draw(st.binary(max_size=32))
        elif kind == "skippable":
            out += SKIPPABLE_MAGIC + struct.pack("<I", draw(st.integers(0, 64)))
            out += draw(st.binary(max_size=64))
        elif kind == "magic-only":
            out += ZSTD_MAGIC
        else:
            out += draw(st.binary(max_size=32))
    return out


@st.composite
def seal_framed(draw: st.DrawFn) -> bytes:
    """A SEAL serialization header (usually consistent with the length) over a random,
    zstd-like or real-but-edited body."""
    body = draw(
        st.binary(max_size=256)
        | zstd_frames()
        | st.sampled_from(CIPHERTEXTS + RESAVED).map(lambda b: b[16:])
    )
    compression = draw(st.sampled_from([0, 1, 2]) | st.integers(0, 255))
    size = 16 + len(body)
    if draw(st.integers(0, 9)) == 0:
        size = draw(st.integers(0, 2**64 - 1))
    magic, header_size = (0xA15E, 16) if draw(st.integers(0, 9)) else (0xA15F, 15)
    return (
        seal_header(size=size, compression=compression, magic=magic, header_size=header_size) + body
    )


ciphertext_bytes = st.one_of(
    st.binary(max_size=64),
    seal_framed(),
    st.sampled_from(CIPHERTEXTS + RESAVED).flatmap(mutated_bytes),
    st.sampled_from(CIPHERTEXTS + RESAVED).flatmap(lambda b: mutated_bytes(b, keep_header=16)),
)


# --- ciphertexts ----------------------------------------------------------------------------------


@scaled(150)
@given(ciphertext_bytes, st.integers(-1, PROFILE.max_depth + 1))
def test_load_ciphertext(data: bytes, level: int) -> None:
    vector = check_contract(
        lambda: load_ciphertext(PROFILE, data, level=level),
        errors=(CiphertextError,),
    )
    if vector is not None:
        note(f"accepted {len(data)} bytes at level {level}")
        assert vector.level == level
        assert vector.ciphertext.size() == 2
        # what was accepted serializes to bytes that load at the same level
        assert load_ciphertext(PROFILE, vector.to_bytes(), level=level).level == level


def test_zstd_frame_magic_at_the_end() -> None:
    # a SEAL header (zstd mode, size 20) followed by only the zstd frame magic 28 b5 2f fd
    data = seal_header(size=20, compression=2) + ZSTD_MAGIC
    with pytest.raises(CiphertextError):
        load_ciphertext(PROFILE, data, level=0)


@scaled(20)
@given(
    values=st.lists(st.floats(min_value=-100.0, max_value=100.0), min_size=1, max_size=SLOTS).map(
        lambda v: np.resize(np.asarray(v, dtype=np.float64), SLOTS)
    ),
    level=st.sampled_from(list(LEVELS)),
)
def test_ciphertext_round_trip(values: np.ndarray, level: int) -> None:
    blob = KEYS.encrypt(values, level=level)
    vector = load_ciphertext(PROFILE, blob, level=level)
    again = load_ciphertext(PROFILE, vector.to_bytes(), level=level)
    decrypted = KEYS.decryptor().decrypt(again.to_bytes(), level=level)
    np.testing.assert_allclose(decrypted, values, atol=1e-3)


# --- evaluation keys ------------------------------------------------------------------------------

key_bytes = (
    st.sampled_from([EVALUATION_KEYS.relin_keys, EVALUATION_KEYS.galois_keys]).flatmap(
        lambda b: mutated_bytes(b) | mutated_bytes(b, keep_header=16)
    )
    | seal_framed()
)


@st.composite
def evaluation_keys(draw: st.DrawFn) -> EvaluationKeys:
    """The real keys with one or both parts replaced or mutated, or their declared steps
    changed."""
    keys = EVALUATION_KEYS
    which = draw(st.sampled_from(["relin", "galois", "both", "steps", "swap"]))
    if which in ("relin", "both"):
        keys = replace(keys, relin_keys=draw(key_bytes))
    if which in ("galois", "both"):
        keys = replace(keys, galois_keys=draw(key_bytes))
    if which == "swap":
        keys = replace(keys, relin_keys=keys.galois_keys, galois_keys=keys.relin_keys)
    if which == "steps" or draw(st.booleans()):
        steps = draw(st.lists(st.integers(-SLOTS, 2 * SLOTS) | st.sampled_from(STEPS), max_size=5))
        keys = replace(keys, galois_steps=tuple(steps))
    return keys


@scaled(60)
@given(
    evaluation_keys(), st.lists(st.integers(-(2**40), 2**40) | st.sampled_from(STEPS), max_size=3)
)
def test_load_evaluation_keys(keys: EvaluationKeys, required: list[int]) -> None:
    loaded = check_contract(
        lambda: load_evaluation_keys(PROFILE, keys, required_steps=required),
        errors=(KeyMaterialError,),
    )
    if loaded is not None:
        assert loaded.galois_steps == frozenset(keys.galois_steps)
        assert {s % SLOTS for s in required} - {0} <= loaded.galois_steps


def test_evaluation_keys_round_trip() -> None:
    loaded = load_evaluation_keys(PROFILE, EVALUATION_KEYS, required_steps=[1, 2, SLOTS + 1])
    assert loaded.galois_steps == frozenset(STEPS)
    assert loaded.digest == EVALUATION_KEYS.digest


# --- the evaluator's key upload (the evaluation-keys header and its pieces) -----------------------


@dataclass
class FakeStore:
    """The two store calls of a key upload, in a scratch directory."""

    root: Path
    stored: list[str]

    def get_keys(self, digest: str) -> KeyRecord | None:
        return None

    def temp_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root))

    def put_keys(
        self,
        *,
        digest: str,
        profile_name: str,
        galois_steps: tuple[int, ...],
        relin_path: Path,
        galois_path: Path,
    ) -> KeyRecord:
        self.stored.append(digest)
        return KeyRecord(
            digest=digest,
            profile_name=profile_name,
            galois_steps=galois_steps,
            relin_size=relin_path.stat().st_size,
            galois_size=galois_path.stat().st_size,
            directory=self.root,
        )


@pytest.fixture(scope="module")
def store() -> Iterator[FakeStore]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield FakeStore(Path(directory), [])


def _true_header() -> pb.EvaluationKeysHeader:
    return pb.EvaluationKeysHeader(
        profile_name=PROFILE.name,
        digest=EVALUATION_KEYS.digest,
        galois_steps=list(STEPS),
        relin_size=len(EVALUATION_KEYS.relin_keys),
        galois_size=len(EVALUATION_KEYS.galois_keys),
    )


@st.composite
def key_uploads(draw: st.DrawFn) -> tuple[list[pb.UploadEvaluationKeysRequest], bool]:
    """An upload stream (header, then pieces) and whether it is the true one unchanged."""
    header = _true_header()
    pristine = True
    for _ in range(draw(st.integers(0, 2))):
        pristine = False
        field = draw(
            st.sampled_from(["profile_name", "digest", "galois_steps", "relin_size", "galois_size"])
        )
        if field == "profile_name":
            header.profile_name = draw(st.text(max_size=30) | st.just("ckks-n16384-d6-v1"))
        elif field == "digest":
            header.digest = draw(
                st.text(max_size=80)
                | st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
            )
        elif field == "galois_steps":
            del header.galois_steps[:]
            header.galois_steps.extend(
                draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=70))
            )
        else:
            setattr(header, field, draw(st.integers(0, 2**64 - 1) | st.integers(0, 3_000_000)))
    data = EVALUATION_KEYS.relin_keys + EVALUATION_KEYS.galois_keys
    if draw(st.integers(0, 3)) == 0:
        pristine = False
        data = draw(mutated_bytes(data))
    pieces: list[pb.UploadEvaluationKeysRequest] = []
    offset = 0
    while offset < len(data):
        size = draw(
            st.sampled_from([CHUNK_BYTES, CHUNK_BYTES // 3, 4096]) | st.integers(1, CHUNK_BYTES + 1)
        )
        pieces.append(
            pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=data[offset : offset + size]))
        )
        offset += size
        if len(pieces) > 8:
            pieces.append(
                pb.UploadEvaluationKeysRequest(
                    piece=pb.BytesPiece(data=data[offset : offset + CHUNK_BYTES])
                )
            )
            offset += CHUNK_BYTES
    messages = [pb.UploadEvaluationKeysRequest(header=header), *pieces]
    shape = draw(st.sampled_from(["ok", "ok", "ok", "no-header", "second-header", "empty"]))
    if shape == "no-header":
        messages = messages[1:]
    elif shape == "second-header":
        messages.insert(draw(st.integers(1, len(messages))), messages[0])
    elif shape == "empty":
        messages = []
    if shape != "ok":
        pristine = False
    return messages, pristine


@scaled(40)
@given(key_uploads())
def test_upload_evaluation_keys(
    store: FakeStore, upload: tuple[list[pb.UploadEvaluationKeysRequest], bool]
) -> None:
    messages, pristine = upload
    before = len(store.stored)
    try:
        reply: Any = receive_upload_keys(store, iter(messages))  # type: ignore[arg-type]
    except RpcAbort as abort:
        assert isinstance(abort.error, RegauditError)
        assert abort.error.reason
        assert len(store.stored) == before  # nothing of a refused upload is kept
        event(f"refused: {abort.error.reason}")
        return
    # accepted: exactly the real keys, under their real digest
    assert reply.digest == EVALUATION_KEYS.digest and not reply.already_present
    assert store.stored[-1] == EVALUATION_KEYS.digest
    event(f"accepted (pristine={pristine})")


def test_true_upload_is_accepted(store: FakeStore) -> None:
    messages = [pb.UploadEvaluationKeysRequest(header=_true_header())] + [
        pb.UploadEvaluationKeysRequest(piece=pb.BytesPiece(data=piece))
        for _, piece in _pieces(EVALUATION_KEYS.relin_keys + EVALUATION_KEYS.galois_keys)
    ]
    reply = receive_upload_keys(store, iter(messages))  # type: ignore[arg-type]
    assert reply.digest == EVALUATION_KEYS.digest


def _pieces(data: bytes) -> Iterator[tuple[int, bytes]]:
    for offset in range(0, len(data), CHUNK_BYTES):
        yield offset, data[offset : offset + CHUNK_BYTES]


# --- secret keys ----------------------------------------------------------------------------------


@scaled(60)
@given(
    st.binary(max_size=64)
    | seal_framed()
    | mutated_bytes(SECRET_KEY)
    | mutated_bytes(SECRET_KEY, keep_header=16)
)
def test_load_secret_key(data: bytes) -> None:
    decryptor = check_contract(
        lambda: SecretKeyDecryptor.from_bytes(PROFILE, data),
        errors=(KeyMaterialError,),
    )
    if decryptor is not None:
        note("a mutated secret key loaded")


def test_secret_key_round_trip() -> None:
    decryptor = SecretKeyDecryptor.from_bytes(PROFILE, SECRET_KEY)
    np.testing.assert_allclose(decryptor.decrypt(CIPHERTEXTS[1], level=1), VALUES, atol=1e-3)
