"""Fixtures for the wire-protocol and evaluator tests: a real in-process evaluator (real gRPC on
loopback port 0, real SEAL workers, real SQLite), real client keys and real fairness data."""

from __future__ import annotations

import dataclasses
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import fairness_payload as random_fairness_payload
from support.signing import CLIENT as SIGNING_CLIENT

from regaudit.evaluator.server import EvaluatorServer, create_server
from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.circuits.base import CANARY_COLUMN, Plan, canary_vector, iter_chunks
from regaudit.shared.circuits.registry import get_circuit
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.inputs import FairnessData
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import SERVICE_NAME, JobHeader

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


#: The client that signs the tests' job headers, and the regulator key id they name.
CLIENT = SIGNING_CLIENT
REGULATOR_KEY_ID = "ab" * 32


@dataclass
class FairnessCase:
    data: FairnessData
    plan: Plan
    keys: ClientKeys

    @property
    def public(self) -> dict[str, Any]:
        return dict(self.data.public)

    def header(
        self,
        *,
        idempotency_key: str | None = None,
        canary_seed: bytes | None = None,
        client: SigningIdentity | None = None,
        sign: bool = True,
        **changes: Any,
    ) -> JobHeader:
        """A job header signed by ``client`` (default: the tests' client) after ``changes``."""
        signer = client or CLIENT
        header = JobHeader.from_plan(
            self.plan,
            self.public,
            evaluation_keys_digest=self.keys.evaluation_keys().digest,
            idempotency_key=idempotency_key or secrets.token_hex(16),
            canary_seed=canary_seed or secrets.token_bytes(32),
            audit_id=secrets.token_hex(8),
            client_key=signer.public_record(),
            regulator_key_id=REGULATOR_KEY_ID,
        )
        if changes:
            header = dataclasses.replace(header, **changes)
        return header.signed(signer) if sign else header

    def ciphertexts(self, header: JobHeader) -> Iterator[tuple[str, int, bytes]]:
        """Encrypt lazily, in upload order."""
        level = self.plan.input_level
        slots = self.plan.profile.slot_count
        yield (
            CANARY_COLUMN,
            0,
            self.keys.encrypt(canary_vector(header.canary_seed, slots), level=level),
        )
        for chunk_index, chunk in enumerate(iter_chunks(self.data.columns(), self.plan.chunk_rows)):
            for column in self.plan.columns:
                yield column, chunk_index, self.keys.encrypt(chunk[column], level=level)


def make_case(rows: int, seed: int) -> FairnessCase:
    data = parse_fairness_input(random_fairness_payload(rows, seed))
    circuit = get_circuit("fairness", "1")
    plan = make_plan(circuit, data.public, rows=data.rows, profile=PROFILE_N8192_D3)
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    return FairnessCase(data=data, plan=plan, keys=keys)


@pytest.fixture(scope="session")
def evaluator_identity(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    directory = tmp_path_factory.mktemp("evaluator-identity")
    identity = SigningIdentity.generate("evaluator")
    identity.save(directory)
    return identity


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, evaluator_identity: SigningIdentity
) -> Iterator[EvaluatorServer]:
    store = tmp_path_factory.mktemp("evaluator-store")
    running, _port = create_server(
        "127.0.0.1:0", identity=evaluator_identity, store_path=store, workers=2
    )
    running.start()
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="session")
def address(server: EvaluatorServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def small_case() -> FairnessCase:
    """Three chunks at N=8192 (4096 slots), two groups."""
    return make_case(rows=9000, seed=7)


def health_status(address: str, service: str = SERVICE_NAME) -> int:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return int(reply.status)


def assert_serving(address: str) -> None:
    assert health_status(address) == health_pb2.HealthCheckResponse.SERVING


@dataclass
class DaemonProcess:
    process: subprocess.Popen[str]
    address: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        return stop_evaluator(self.process, sig, timeout)


def start_daemon(
    identity_dir: Path, store: Path, *, workers: int = 2, grace: float = 5.0
) -> DaemonProcess:
    """``python -m regaudit.evaluator serve`` on port 0, once it is ready (tests/support)."""
    process, address = start_evaluator(
        identity_dir, store, "--workers", str(workers), "--grace", str(grace)
    )
    return DaemonProcess(process, address)


class ProtocolHelpers:
    """Helpers handed to tests as a fixture (test modules cannot import this conftest by name:
    other test directories have their own ``conftest`` modules)."""

    make_case = staticmethod(make_case)
    health_status = staticmethod(health_status)
    assert_serving = staticmethod(assert_serving)
    start_daemon = staticmethod(start_daemon)
    random_fairness_payload = staticmethod(random_fairness_payload)


@pytest.fixture(scope="session")
def proto() -> type[ProtocolHelpers]:
    return ProtocolHelpers
