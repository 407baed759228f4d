"""Quota tests' tools: a real daemon with JSON logs and metrics (its quota gauges and refusal
counters scraped over HTTP), fairness jobs signed by any client identity, and uploads that
stall after their header (a stream that holds its reservation until released)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from regaudit.evaluator.collection import tree_bytes
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2_grpc as pb_grpc
from regaudit.shared.errors import RegauditError
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.profiles import PROFILE_N16384_D6
from regaudit.shared.protocol import (
    GRPC_OPTIONS,
    JobFailedError,
    JobHeader,
    JobState,
    error_from_rpc,
)
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import REGULATOR_KEY_ID, FairnessJob
from support.signing import connect, signed

PREFIX = "regaudit_evaluator_"
#: The tests' profile for raw key headers (the largest per-profile key caps).
RAW_KEY_PROFILE = PROFILE_N16384_D6
RAW_KEY_STEPS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class QuotaDaemon:
    """``regaudit-evaluator serve --log-format json --metrics-listen 127.0.0.1:0 ...``."""

    root: Path
    extra: tuple[str, ...]
    process: subprocess.Popen[str] = field(init=False)
    address: str = field(init=False)
    metrics: str = field(init=False)

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def log(self) -> Path:
        return self.root / "store.log"

    def start(self) -> QuotaDaemon:
        identity = self.root / "evaluator"
        if not (identity / "evaluator.pub.json").exists():
            SigningIdentity.generate("evaluator").save(identity)
        self.process, self.address = start_evaluator(
            identity,
            self.store,
            "--workers", "1", "--log-format", "json", "--metrics-listen", "127.0.0.1:0",
            *self.extra,
        )  # fmt: skip
        started = [e for e in self.events() if e.get("event") == "evaluator_started"]
        self.metrics = str(started[-1]["metrics"])
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_evaluator(self.process)

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON events of the daemon's log (all, or those named ``name``)."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if name is None or record.get("event") == name:
                    found.append(record)
        return found

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX):
                    key = (sample.name.removeprefix(PREFIX), tuple(sorted(sample.labels.items())))
                    samples[key] = sample.value
        return samples

    def value(self, name: str, **labels: str) -> float:
        return self.scrape().get((name, tuple(sorted(labels.items()))), 0.0)

    def usage(self, quota: str) -> float:
        """``quota_usage{quota=...}``: ``jobs``, ``inflight_bytes`` or ``stored_bytes``."""
        return self.value("quota_usage", quota=quota)

    def wait_for(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; log tail:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def held_bytes(self) -> int:
        """What the quotas count, measured here independently: every job folder and every
        stored key folder (``meta.json`` present)."""
        jobs = sum(tree_bytes(p) for p in (self.store / "jobs").iterdir())
        keys = sum(
            tree_bytes(p) for p in (self.store / "keys").iterdir() if (p / "meta.json").exists()
        )
        return jobs + keys


class ClientJob(FairnessJob):
    """A :class:`FairnessJob` whose header and calls ``client`` signs."""

    def __init__(self, client: SigningIdentity, rows: int = 2000, seed: int = 1) -> None:
        super().__init__(rows, seed)
        self.client = client

    def header(self, *, idempotency_key: str | None = None) -> JobHeader:
        key = idempotency_key or self.idempotency_key
        return JobHeader.from_plan(
            self.plan,
            dict(self.data.public),
            evaluation_keys_digest=self.digest,
            idempotency_key=key,
            canary_seed=self.canary_seed,
            audit_id="audit-" + key[:8],
            client_key=self.client.public_record(),
            regulator_key_id=REGULATOR_KEY_ID,
        ).signed(self.client)

    def upload_keys(self, address: str) -> None:
        with connect(address, identity=self.client) as connection:
            connection.upload_evaluation_keys(self.keys.evaluation_keys(), force=True)

    def submit(
        self, address: str, *, idempotency_key: str | None = None
    ) -> tuple[str, JobState, str]:
        """Upload the keys (unless present), submit every ciphertext, wait: (job id, final
        state, failure reason or "")."""
        with connect(address, identity=self.client) as connection:
            connection.upload_evaluation_keys(self.keys.evaluation_keys())
            header = self.header(idempotency_key=idempotency_key)
            accepted = connection.submit_job(header, iter(self.ciphertexts))
            try:
                final = connection.wait_for_job(accepted.job_id)
            except JobFailedError as exc:
                return accepted.job_id, JobState.FAILED, str(exc.job_reason)
            return accepted.job_id, final.state, ""


class Stalled:
    """A call in a thread whose stream stalls after its header until :meth:`release`; then the
    stream ends (an incomplete upload). :attr:`error` is what the call raised, if anything."""

    def __init__(self, call: Callable[[threading.Event], object]) -> None:
        self.release_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call: Callable[[threading.Event], object]) -> None:
        try:
            call(self.release_event)
        except BaseException as exc:  # noqa: BLE001 - recorded for the test
            self.error = exc

    def release(self) -> BaseException | None:
        self.release_event.set()
        self.thread.join(timeout=30)
        return self.error


def stalled_submission(address: str, job: ClientJob, idempotency_key: str) -> Stalled:
    """Submit ``job``'s header, then nothing until released (the job stays RECEIVING)."""

    def call(release: threading.Event) -> object:
        def nothing() -> Iterator[tuple[str, int, bytes]]:
            release.wait(60)
            yield from ()

        with connect(address, identity=job.client) as connection:
            return connection.submit_job(job.header(idempotency_key=idempotency_key), nothing())

    return Stalled(call)


def key_header(galois_size: int, *, digest: str) -> pb.UploadEvaluationKeysRequest:
    """A well-formed key-upload header declaring 1 MB of relinearization keys and
    ``galois_size`` bytes of Galois keys (bytes that never come)."""
    return pb.UploadEvaluationKeysRequest(
        header=pb.EvaluationKeysHeader(
            profile_name=RAW_KEY_PROFILE.name,
            digest=digest,
            galois_steps=list(RAW_KEY_STEPS),
            relin_size=1_000_000,
            galois_size=galois_size,
        )
    )


def declared(galois_size: int) -> int:
    """The bytes :func:`key_header` declares."""
    return 1_000_000 + galois_size


def stalled_key_upload(
    address: str, client: SigningIdentity, galois_size: int, *, digest: str
) -> Stalled:
    """A raw key upload: its header, then nothing until released."""

    def call(release: threading.Event) -> object:
        def messages() -> Iterator[pb.UploadEvaluationKeysRequest]:
            yield key_header(galois_size, digest=digest)
            release.wait(60)

        with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
            stub = pb_grpc.EvaluatorStub(channel)
            return stub.UploadEvaluationKeys(
                messages(), metadata=signed("UploadEvaluationKeys", identity=client), timeout=60
            )

    return Stalled(call)


def key_upload_refusal(
    address: str, client: SigningIdentity, galois_size: int, *, digest: str
) -> tuple[RegauditError, float]:
    """A raw key upload whose header should be refused at once: the error and how long the
    refusal took (the stream would stall for 60 s if it were admitted)."""
    release = threading.Event()

    def messages() -> Iterator[pb.UploadEvaluationKeysRequest]:
        yield key_header(galois_size, digest=digest)
        release.wait(60)

    began = time.monotonic()
    try:
        with grpc.insecure_channel(address, options=list(GRPC_OPTIONS)) as channel:
            stub = pb_grpc.EvaluatorStub(channel)
            stub.UploadEvaluationKeys(
                messages(), metadata=signed("UploadEvaluationKeys", identity=client), timeout=60
            )
    except grpc.RpcError as exc:
        return error_from_rpc(exc), time.monotonic() - began
    finally:
        release.set()
    raise AssertionError("the key upload was not refused")


__all__ = [
    "ClientJob",
    "QuotaDaemon",
    "Stalled",
    "declared",
    "key_header",
    "key_upload_refusal",
    "stalled_key_upload",
    "stalled_submission",
]
