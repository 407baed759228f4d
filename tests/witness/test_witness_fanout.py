"""The client's fan-out of one encryption to several uploads (regaudit.client.fanout), without
SEAL or gRPC: every witness reads exactly the primary's bytes, nothing is encrypted twice, the
window bounds what is held, a witness not yet admitted pins the start so it can be retried from
there, the primary's retries take ciphertexts from the window, and a retry that has to encrypt
again detaches the witnesses instead of letting their inputs differ from the primary's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from regaudit.client.encryption import EncryptedChunk, InputManifest, ManifestEntry
from regaudit.client.fanout import CiphertextFanout, WitnessDetachedError
from regaudit.client.reconnect import is_retryable, retry_hint_s
from regaudit.shared.errors import DiskFullError, ServerBusyError

TOTAL = 12


class Encryptor:
    """Stands for the encryption pool: fresh random-looking bytes per call (as CKKS
    encryption is randomized), counted."""

    def __init__(self) -> None:
        self.encryptions = 0
        self.round = 0

    def source(self, manifest: InputManifest) -> Callable[[int], Iterator[EncryptedChunk]]:
        self.round += 1
        round_ = self.round

        def encrypt_from(index: int) -> Iterator[EncryptedChunk]:
            for i in range(index, TOTAL):
                self.encryptions += 1
                data = f"ct{i}-round{round_}".encode()
                manifest.add(ManifestEntry("c", i, f"d{i}-{round_}", len(data)))
                yield "c", i, data

        return encrypt_from


def always() -> bool:
    return True


def read_all(fanout: CiphertextFanout, name: str, out: list[bytes], start: int = 0) -> None:
    for _column, _chunk, data in fanout.witness_source(name, start, admitted=always):
        out.append(data)


def test_every_witness_reads_the_primary_bytes_and_nothing_is_encrypted_twice() -> None:
    fanout = CiphertextFanout(TOTAL, window=3)
    encryptor = Encryptor()
    manifest = InputManifest()
    received: dict[str, list[bytes]] = {"w1": [], "w2": []}
    threads = []
    for name in received:
        fanout.attach(name)
        threads.append(threading.Thread(target=read_all, args=(fanout, name, received[name])))
        threads[-1].start()
    sent = [
        data
        for _c, _i, data in fanout.primary_source(
            encryptor.source(manifest), skip=0, manifest=manifest
        )
    ]
    for thread in threads:
        thread.join(5)
    assert encryptor.encryptions == TOTAL
    assert received["w1"] == received["w2"] == sent
    assert [e.chunk for e in manifest.entries] == list(range(TOTAL))


def test_the_primary_waits_for_the_slowest_witness_within_the_window() -> None:
    fanout = CiphertextFanout(TOTAL, window=3)
    encryptor = Encryptor()
    manifest = InputManifest()
    fanout.attach("slow")  # attached, never admitted: pins ciphertext 0
    sent: list[bytes] = []

    def primary() -> None:
        for _c, _i, data in fanout.primary_source(
            encryptor.source(manifest), skip=0, manifest=manifest
        ):
            sent.append(data)

    thread = threading.Thread(target=primary, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while encryptor.encryptions < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    # the window is full: the primary holds at most `window` ciphertexts ahead of the pin
    assert len(sent) == 3 and encryptor.encryptions == 4  # the 4th waits to be published
    # the witness is admitted late (a retry after a refusal): it restarts at 0 and reads all
    fanout.rewind("slow", 0)
    received: list[bytes] = []
    read_all(fanout, "slow", received)
    thread.join(5)
    assert received == sent and len(sent) == TOTAL


def test_a_detached_witness_releases_the_primary_and_its_stream_ends() -> None:
    fanout = CiphertextFanout(TOTAL, window=2)
    encryptor = Encryptor()
    manifest = InputManifest()
    fanout.attach("gone")
    fanout.detach("gone", "witness failed")
    sent = list(fanout.primary_source(encryptor.source(manifest), skip=0, manifest=manifest))
    assert len(sent) == TOTAL
    assert list(fanout.witness_source("gone", 0, admitted=always)) == []
    assert fanout.detached_reason("gone") == "witness failed"
    with pytest.raises(WitnessDetachedError):
        fanout.rewind("gone", 0)


def test_a_witness_never_admitted_sends_nothing() -> None:
    fanout = CiphertextFanout(TOTAL)
    fanout.attach("refused")
    assert list(fanout.witness_source("refused", 0, admitted=lambda: False)) == []


def test_a_primary_retry_takes_ciphertexts_from_the_window() -> None:
    fanout = CiphertextFanout(TOTAL, window=4)
    encryptor = Encryptor()
    first = InputManifest()
    fanout.attach("w")
    received: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(fanout, "w", received))
    reader.start()
    attempt = fanout.primary_source(encryptor.source(first), skip=0, manifest=first)
    sent = [next(attempt)[2] for _ in range(6)]  # the upload breaks after 6 ciphertexts
    # the evaluator held 3: the retry resumes at 3; 3..5 are still in the window
    second = InputManifest(entries=first.entries[:3])
    resent = [
        data
        for _c, _i, data in fanout.primary_source(encryptor.source(second), skip=3, manifest=second)
    ]
    reader.join(5)
    assert resent[:3] == sent[3:6]  # the same bytes, not encrypted again
    assert fanout.replayed == 3
    assert encryptor.encryptions == TOTAL
    assert received == sent[:6] + resent[3:]
    assert [e.digest for e in second.entries[:6]] == [e.digest for e in first.entries[:6]]


def test_a_retry_beyond_the_window_detaches_the_witnesses() -> None:
    fanout = CiphertextFanout(TOTAL, window=2)
    encryptor = Encryptor()
    first = InputManifest()
    fanout.attach("w")
    received: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(fanout, "w", received))
    reader.start()
    attempt = fanout.primary_source(encryptor.source(first), skip=0, manifest=first)
    for _ in range(8):
        next(attempt)
    # the evaluator held nothing: ciphertext 0 left the window long ago
    second = InputManifest()
    resent = list(fanout.primary_source(encryptor.source(second), skip=0, manifest=second))
    reader.join(5)
    assert len(resent) == TOTAL and encryptor.encryptions == 8 + TOTAL
    reason = fanout.detached_reason("w")
    assert reason is not None and "encrypted again" in reason
    assert len(received) < TOTAL  # the witness never got a mix of two encryptions


def test_refusals_with_a_retry_hint_are_retried_others_are_not() -> None:
    busy = ServerBusyError("busy", retry_after_s=2.5).from_remote(grpc_code="RESOURCE_EXHAUSTED")
    assert is_retryable(busy) and retry_hint_s(busy) == 2.5
    full = DiskFullError("full").from_remote(grpc_code="RESOURCE_EXHAUSTED")
    assert not is_retryable(full) and retry_hint_s(full) is None
    local = ServerBusyError("local, never sent", retry_after_s=1.0)  # no remote status
    assert retry_hint_s(local) is None
