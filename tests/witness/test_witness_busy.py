"""A busy witness: a real daemon serving at most one stream (``--max-streams 1``) whose slot
another client holds refuses the audit's witness with RESOURCE_EXHAUSTED ``server_busy`` and a
retry hint. The client waits out the hint and retries within its deadline -- as it does for
the primary -- and the audit completes and verifies with the witness agreeing. With a deadline
shorter than the hint the audit fails at once with exit 3, not after a futile wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.cli import ROOT
from support.daemon import stop_evaluator
from support.signing import signed
from support.witnesses import Witnessed, start_daemon

from regaudit.evaluator.flow_control import BUSY_RETRY_DELAY_S
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import GRPC_OPTIONS

#: How long the test waits for the client to report the refusal (seconds).
REFUSAL_WAIT_S = 60.0


@pytest.fixture(scope="module")
def busy(witnessed: Witnessed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The witness's identity on a daemon with one stream slot (its own store)."""
    store = tmp_path_factory.mktemp("busy") / "store"
    daemon, address = start_daemon(witnessed.witness, store, "--max-streams", "1")
    try:
        yield address
    finally:
        stop_evaluator(daemon)


def hold_the_slot(address: str, release: threading.Event) -> grpc.Future:
    """A key upload that sends its header and then nothing until ``release``: it holds the
    daemon's only stream slot."""

    def stalling() -> Iterator[pb.UploadEvaluationKeysRequest]:
        yield pb.UploadEvaluationKeysRequest(
            header=pb.EvaluationKeysHeader(
                profile_name=PROFILE_N8192_D3.name,
                digest="sha256:" + "ab" * 32,
                galois_steps=[1],
                relin_size=1024,
                galois_size=1024,
            )
        )
        release.wait(REFUSAL_WAIT_S)

    channel = grpc.insecure_channel(address, options=list(GRPC_OPTIONS))
    stub = pb_grpc.EvaluatorStub(channel)
    future: grpc.Future = stub.UploadEvaluationKeys.future(
        stalling(), metadata=signed("UploadEvaluationKeys"), timeout=REFUSAL_WAIT_S
    )
    return future


def audit_command(witnessed: Witnessed, bundle: Path, witness: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "regaudit.client", "audit", "fairness",
        "--input", str(witnessed.input),
        "--evaluator", witnessed.primary_address,
        "--regulator-card", str(witnessed.regulator / "regulator-card.json"),
        "--identity", str(witnessed.client),
        "--trust", str(witnessed.client_trust),
        "--out", str(bundle),
        "--witness", witness,  # not --quiet: the test reads the client's notes
        *extra,
    ]  # fmt: skip


def test_a_busy_witness_is_retried_after_its_hint(
    witnessed: Witnessed, busy: str, tmp_path: Path
) -> None:
    release = threading.Event()
    holder = hold_the_slot(busy, release)
    time.sleep(0.3)  # the holder's stream is admitted first
    bundle = tmp_path / "busy.bundle"
    began = time.monotonic()
    client = subprocess.Popen(
        audit_command(witnessed, bundle, busy),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert client.stderr is not None
        seen: list[str] = []
        for line in client.stderr:  # the client's notes, as they come
            seen.append(line)
            if f"reconnecting (attempt 1) to {busy}" in line:
                break
        refused_after = time.monotonic() - began
        assert any("server_busy" in line or "RESOURCE_EXHAUSTED" in line for line in seen), seen
        release.set()  # the slot frees while the client waits out the hint
        stdout, stderr = client.communicate(timeout=REFUSAL_WAIT_S)
    finally:
        release.set()
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, "".join(seen) + stderr
    assert time.monotonic() - began >= refused_after + BUSY_RETRY_DELAY_S * 0.9
    assert f"witness   {busy} agrees" in stdout
    document = witnessed.verify(bundle)
    assert document["verified"] is True, document
    holder.cancel()


def test_a_hint_beyond_the_deadline_fails_at_once(
    witnessed: Witnessed, busy: str, tmp_path: Path
) -> None:
    release = threading.Event()
    holder = hold_the_slot(busy, release)
    time.sleep(0.3)
    try:
        began = time.monotonic()
        result = subprocess.run(
            audit_command(witnessed, tmp_path / "x.bundle", busy, "--timeout", "4"),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=REFUSAL_WAIT_S,
        )
    finally:
        release.set()
        holder.cancel()
    assert result.returncode == 3, result.stderr
    assert "[witness_unavailable]" in result.stderr
    assert "past the audit's deadline" in result.stderr
    assert time.monotonic() - began < 4 + BUSY_RETRY_DELAY_S
