"""Scale-out: the same real fairness job through the default (local process pool) executor and
through a real Dask cluster of two worker processes gives byte-identical encrypted outputs;
evaluation keys are shipped to each Dask worker once per job, not per task, and the workers drop
them when the job ends (the daemon deletes a job's keys then); a dead cluster fails the job with
a clear reason while the daemon keeps serving; a scheduler the network could use to run code in
the daemon (plaintext tcp:// off loopback, tls:// without certificates) is refused."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from support.jobs import FairnessJob  # noqa: E402
from support.signing import connect  # noqa: E402

from regaudit.evaluator.active_jobs import BATCH_CHUNKS  # noqa: E402
from regaudit.evaluator.dask_executor import (  # noqa: E402
    REASON_DASK_UNAVAILABLE,
    DaskExecutor,
    DaskUnavailableError,
    DaskWorkerMismatchError,
)
from regaudit.evaluator.dask_security import (  # noqa: E402
    REASON_DASK_INSECURE,
    DaskInsecureError,
    check_scheduler_address,
)
from regaudit.evaluator.server import EvaluatorServer, create_server  # noqa: E402
from regaudit.evaluator.tasks import KeyFiles  # noqa: E402
from regaudit.evaluator.worker_keys import (  # noqa: E402
    drop_keys,
    has_keys,
    key_ship_counts,
)
from regaudit.shared._proto.regaudit.v1 import evaluator_pb2 as pb  # noqa: E402
from regaudit.shared.evidence.dsse import verify_envelope  # noqa: E402
from regaudit.shared.evidence.identity import SigningIdentity  # noqa: E402
from regaudit.shared.evidence.statements import parse_receipt  # noqa: E402
from regaudit.shared.primitives.fairness.reference import plaintext_counts  # noqa: E402
from regaudit.shared.primitives.fairness.report import decode_counts  # noqa: E402
from regaudit.shared.profiles import PROFILE_N8192_D3  # noqa: E402
from regaudit.shared.protocol import JobFailedError, JobHeader, JobState  # noqa: E402

#: three batches of chunks (the last one partial), so both Dask workers get work
ROWS = 2 * BATCH_CHUNKS * PROFILE_N8192_D3.slot_count + 3 * PROFILE_N8192_D3.slot_count


class Job(FairnessJob):
    """A real fairness job encrypted ONCE, so every executor receives identical ciphertexts
    (tests/support/jobs.py); every header gets a fresh idempotency key."""

    def header(self, *, idempotency_key: str | None = None) -> JobHeader:
        return super().header(idempotency_key=idempotency_key or secrets.token_hex(16))

    def run(self, server: EvaluatorServer) -> tuple[Any, float]:
        """Upload keys, submit, wait; (result, seconds from submit to SUCCEEDED)."""
        with connect(f"127.0.0.1:{server.port}") as connection:
            connection.upload_evaluation_keys(self.keys.evaluation_keys())
            started = time.perf_counter()
            accepted = connection.submit_job(self.header(), iter(self.ciphertexts))
            final = connection.wait_for_job(accepted.job_id)
            seconds = time.perf_counter() - started
            assert final.state is JobState.SUCCEEDED
            return connection.fetch_result(accepted.job_id), seconds


def _digests(result: Any) -> list[str]:
    return [hashlib.sha256(c).hexdigest() for c in [*result.outputs, result.canary]]


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return SigningIdentity.generate("evaluator")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",
        host="127.0.0.1",
    ) as running:
        yield running


@pytest.fixture
def dask_server(cluster: Any, identity: SigningIdentity, tmp_path: Path) -> Iterator[Any]:
    # fan-in 2: a three-batch job's partials are added up as a tree (combine task + finalize)
    executor = DaskExecutor(cluster.scheduler_address, finalize_fanin=2)
    server, _port = create_server(
        "127.0.0.1:0", identity=identity, store_path=tmp_path / "dask-store", executor=executor
    )
    server.start()
    try:
        yield server, executor
    finally:
        server.stop(grace=1.0)


@pytest.mark.timeout(180)
def test_dask_executor_gives_identical_ciphertexts_and_ships_keys_once(
    cluster: Any, dask_server: Any, identity: SigningIdentity, tmp_path: Path
) -> None:
    job = Job(ROWS, seed=11)
    assert job.plan.n_chunks == 2 * BATCH_CHUNKS + 3  # three batches

    # 1. the default executor (local spawn process pool)
    local, _port = create_server(
        "127.0.0.1:0", identity=identity, store_path=tmp_path / "local-store", workers=2
    )
    local.start()
    try:
        local_result, local_seconds = job.run(local)
    finally:
        local.stop(grace=1.0)

    # 2. the Dask executor, twice with the same evaluation keys
    server, executor = dask_server
    first, first_seconds = job.run(server)
    second, second_seconds = job.run(server)

    # 3. the encrypted outputs and canary are byte-identical whatever executed them (the Dask
    #    run also grouped the partial sums differently: additions mod q are exact)
    assert len(local_result.outputs) == job.plan.n_outputs
    assert first.outputs == local_result.outputs
    assert first.canary == local_result.canary
    assert second.outputs == local_result.outputs
    assert _digests(second) == _digests(local_result)
    # ... and they decrypt to the exact plaintext counts
    decryptor = job.keys.decryptor()
    decrypted = [decryptor.decrypt(c, level=job.plan.output_level) for c in first.outputs]
    assert decode_counts(decrypted, job.data.public, job.data.rows) == plaintext_counts(job.data)

    # 4. the Dask receipt is signed and binds the same output digests and planned counts
    receipt = parse_receipt(
        verify_envelope(
            first.receipt_envelope, public_key=identity.public_key, key_id=identity.key_id
        )
    )
    assert dict(receipt.outputs)["output/0"] == "sha256:" + _digests(local_result)[0]
    assert receipt.depth_observed == job.plan.depth
    assert receipt.operation_counts["rotations"] == job.plan.counts.to_dict()["rotations"]

    # 5. keys were shipped once to each of the two workers per job, whatever its tasks; the
    #    end of each job deleted them and the workers dropped them, so the second job (same
    #    keys, uploaded again by the client) shipped them once more
    digest = job.keys.evaluation_keys().digest
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        counts = client.run(key_ship_counts)
        held = _wait_for(lambda: not any(client.run(has_keys, digest).values()))
    assert held, "the Dask workers still cache the deleted keys"
    assert len(counts) == 2
    assert all(per_worker == {digest: 2} for per_worker in counts.values()), counts
    assert [len(s.workers) for s in executor.shipments] == [2, 2]
    assert sorted(executor.shipments[0].workers) == sorted(counts)
    assert server.store.get_keys(digest) is None
    assert len(server.manager.batch_seconds) == 2 * 3  # 3 batch tasks per job, no re-ship
    # per job: 3 batch tasks, 1 combine task (batches 0+1), 1 finalize task (combined + batch 2)
    assert executor.tasks_done == {"batch": 6, "combine": 2, "finalize": 2}
    print(
        f"\nlocal {local_seconds:.2f} s, dask {first_seconds:.2f} s (keys shipped, "
        f"{executor.shipments[0].nbytes / 1e6:.1f} MB in {executor.shipments[0].seconds:.2f} s),"
        f" dask again {second_seconds:.2f} s"
    )


def _wait_for(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.timeout(120)
def test_a_worker_that_lost_its_keys_gets_them_again(
    cluster: Any, dask_server: Any, identity: SigningIdentity
) -> None:
    job = Job(BATCH_CHUNKS * PROFILE_N8192_D3.slot_count, seed=12)  # one batch
    server, executor = dask_server
    digest = job.keys.evaluation_keys().digest
    # another job that has not ended uses the same keys: they outlive the first job (and stay
    # cached on the workers)
    holder, _created = server.store.create_job(
        idempotency_key="holder-" + secrets.token_hex(8),
        header_digest="sha256:" + "0" * 64,
        header=pb.JobHeader(evaluation_keys_digest=digest).SerializeToString(),
        n_chunks=1,
    )
    try:
        first, _ = job.run(server)
        receipt = parse_receipt(
            verify_envelope(
                first.receipt_envelope, public_key=identity.public_key, key_id=identity.key_id
            )
        )
        assert receipt.retention["evaluation_keys"] == "retained_until_jobs_end"
        assert server.store.get_keys(digest) is not None
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            # as if both worker processes had restarted: their key caches are empty
            assert sum(client.run(drop_keys, digest).values()) >= 2
            again, _ = job.run(server)
            counts = client.run(key_ship_counts)
    finally:
        server.store.update_job(holder.id, state=JobState.FAILED)
    assert again.outputs == first.outputs
    # the executor believed both workers had the keys; the task's KeysNotCachedError made it
    # ask again and re-ship (to both workers, since both lost them), once
    assert [len(s.workers) for s in executor.shipments] == [2, 2]
    assert all(c[digest] == 2 for c in counts.values()), counts


def _small_cluster(port: int) -> Any:
    return distributed.LocalCluster(
        n_workers=1,
        processes=False,
        threads_per_worker=1,
        dashboard_address=":0",
        protocol="tcp",
        host="127.0.0.1",
        scheduler_port=port,
    )


@pytest.mark.timeout(120)
def test_dead_cluster_fails_the_job_not_the_daemon_and_a_new_one_serves(
    identity: SigningIdentity, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = Job(PROFILE_N8192_D3.slot_count, seed=13)
    small = _small_cluster(port)
    executor = DaskExecutor(small.scheduler_address, connect_timeout=3.0)
    server, evaluator_port = create_server(
        "127.0.0.1:0", identity=identity, store_path=tmp_path, executor=executor
    )
    server.start()
    try:
        small.close()
        with connect(f"127.0.0.1:{evaluator_port}") as connection:
            connection.upload_evaluation_keys(job.keys.evaluation_keys())
            accepted = connection.submit_job(job.header(), iter(job.ciphertexts))
            with pytest.raises(JobFailedError) as info:
                connection.wait_for_job(accepted.job_id)
            assert info.value.job_reason == REASON_DASK_UNAVAILABLE  # type: ignore[attr-defined]
            assert f"Dask cluster at tcp://127.0.0.1:{port}" in str(info.value)
            # the daemon keeps serving ...
            assert connection.capabilities().circuits
        # ... and once a cluster is back at the same address, jobs run again
        with _small_cluster(port):
            result, _seconds = job.run(server)
        assert len(result.outputs) == job.plan.n_outputs
    finally:
        server.stop(grace=1.0)


@pytest.mark.perf  # the refusal comes within 30 s
def test_unreachable_scheduler_is_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(DaskUnavailableError) as info:
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2.0)
    assert "tcp://127.0.0.1:9" in str(info.value)
    assert info.value.reason == REASON_DASK_UNAVAILABLE
    assert time.monotonic() - started < 30


def test_insecure_scheduler_addresses_are_refused() -> None:
    """Plaintext tcp:// off loopback and tls:// without certificates never connect."""
    with pytest.raises(DaskInsecureError) as info:
        DaskExecutor("tcp://10.0.0.5:8786", connect_timeout=1.0)
    assert info.value.reason == REASON_DASK_INSECURE
    assert "loopback only" in str(info.value)
    for address in ("10.0.0.5:8786", "tcp://sched.internal:8786", "ws://127.0.0.1:8786"):
        with pytest.raises(DaskInsecureError):
            check_scheduler_address(address, tls=False)
    with pytest.raises(DaskInsecureError, match="--dask-tls-ca"):
        check_scheduler_address("tls://10.0.0.5:8786", tls=False)
    # accepted: loopback plaintext, TLS with certificates
    assert check_scheduler_address("tcp://127.0.0.1:8786", tls=False) == "tcp"
    assert check_scheduler_address("tcp://[::1]:8786", tls=False) == "tcp"
    assert check_scheduler_address("localhost:8786", tls=False) == "tcp"
    assert check_scheduler_address("tls://10.0.0.5:8786", tls=True) == "tls"


def test_serve_refuses_insecure_dask_schedulers(tmp_path: Path) -> None:
    """``serve`` exits 2 with the reason, before connecting to anything."""
    import subprocess
    import sys

    identity_dir = tmp_path / "identity"
    SigningIdentity.generate("evaluator").save(identity_dir)
    command = [sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0"]
    command += ["--identity", str(identity_dir), "--store", str(tmp_path / "store")]
    pem = tmp_path / "x.pem"
    pem.write_text("unused")
    cases = [
        (["--dask-scheduler", "tcp://192.0.2.7:8786"], "loopback only"),
        (["--dask-scheduler", "tls://192.0.2.7:8786"], "--dask-tls-ca"),
        (
            ["--dask-scheduler", "tls://192.0.2.7:8786", "--dask-tls-ca", str(pem)],
            "--dask-tls-key (mutual TLS)",
        ),
        (
            ["--dask-scheduler", "tcp://127.0.0.1:8786", "--dask-tls-ca", str(pem)]
            + ["--dask-tls-cert", str(pem), "--dask-tls-key", str(pem)],
            "use tls://",
        ),
    ]
    for extra, says in cases:
        refused = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2, refused.stderr
        assert says in refused.stderr, refused.stderr
    assert REASON_DASK_INSECURE in refused.stderr
    help_text = subprocess.run(
        [*command[:4], "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "as trusted as this daemon" in " ".join(help_text.replace("│", " ").split())


@pytest.mark.timeout(120)
def test_serve_dask_scheduler_command(cluster: Any, tmp_path: Path) -> None:
    """``regaudit-evaluator serve --dask-scheduler`` runs jobs on the cluster."""
    import subprocess
    import sys

    from support.daemon import start_evaluator, stop_evaluator

    identity_dir = tmp_path / "identity"
    SigningIdentity.generate("evaluator").save(identity_dir)
    command = [sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0"]
    command += ["--identity", str(identity_dir), "--store", str(tmp_path / "store")]
    # --workers sizes the local pool only
    refused = subprocess.run(
        [*command, "--dask-scheduler", cluster.scheduler_address, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--workers" in refused.stderr
    process, address = start_evaluator(
        identity_dir, tmp_path / "store", "--dask-scheduler", cluster.scheduler_address,
        "--grace", "1",
    )  # fmt: skip
    try:
        job = Job(PROFILE_N8192_D3.slot_count * 2, seed=14)
        with connect(address) as connection:
            connection.upload_evaluation_keys(job.keys.evaluation_keys())
            accepted = connection.submit_job(job.header(), iter(job.ciphertexts))
            assert connection.wait_for_job(accepted.job_id).state is JobState.SUCCEEDED
            result = connection.fetch_result(accepted.job_id)
        decryptor = job.keys.decryptor()
        decrypted = [decryptor.decrypt(c, level=job.plan.output_level) for c in result.outputs]
        assert decode_counts(decrypted, job.data.public, job.data.rows) == plaintext_counts(
            job.data
        )
        # the tasks ran on the cluster's workers, not in daemon-local processes
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            counts = client.run(key_ship_counts)
        assert any(job.keys.evaluation_keys().digest in c for c in counts.values())
    finally:
        assert stop_evaluator(process) == 0


#: Run on a worker with ``Client.run(exec, ...)`` (a builtin pickles by reference): make it
#: report other software, as a worker with another regaudit installed would.
STALE_WORKER = "import regaudit.evaluator; regaudit.evaluator.__version__ = '0.0.0-stale'"
RESTORE_WORKER = "import regaudit.evaluator; regaudit.evaluator.__version__ = {version!r}"


@pytest.mark.timeout(120)
def test_workers_running_other_software_are_refused(cluster: Any) -> None:
    import regaudit.evaluator

    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        workers = sorted(client.nthreads())
        client.run(exec, STALE_WORKER, workers=workers[:1])
        try:
            # at start-up: the daemon refuses the cluster, naming the worker and the field
            with pytest.raises(DaskWorkerMismatchError) as info:
                DaskExecutor(cluster.scheduler_address)
            message = str(info.value)
            assert info.value.reason == REASON_DASK_UNAVAILABLE
            assert workers[0] in message and workers[1] not in message
            assert "regaudit-evaluator '0.0.0-stale'" in message
            assert f"(daemon: '{regaudit.evaluator.__version__}')" in message
        finally:
            restore = RESTORE_WORKER.format(version=regaudit.evaluator.__version__)
            client.run(exec, restore, workers=workers[:1])
        # a worker that changes (or joins) later is checked before it gets keys or tasks
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            client.run(exec, STALE_WORKER, workers=workers[1:])
            executor._checked_workers.discard(workers[1])  # as if it had just joined
            # refused in step 1, before any key bytes are read or shipped
            keys = KeyFiles("sha256:" + "0" * 64, PROFILE_N8192_D3.name, (), "/absent", "/absent")
            with pytest.raises(DaskWorkerMismatchError, match=workers[1]):
                executor.ensure_keys(keys)
        finally:
            client.run(exec, restore, workers=workers[1:])
            executor.shutdown()
