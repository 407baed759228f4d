"""Determinism is a tested property: the same job (the same evaluation keys and the very same
ciphertexts) on two evaluator daemons with different receipt keys (one with one local worker,
one with two), and on a Dask cluster, gives byte-identical outputs, identical canonical output
contents and identical per-chunk partial digests, whose Merkle root each receipt commits to.

This is what lets a witness compare its results with the primary's instead of trusting them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import cli
from support.daemon import start_evaluator, stop_evaluator
from support.jobs import FairnessJob
from support.witness_jobs import RawResult, run

from regaudit.evaluator.active_jobs import BATCH_CHUNKS
from regaudit.shared.ciphertext_content import ciphertext_content_digest
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import load_public_key_file
from regaudit.shared.evidence.statements import ReceiptStatement, parse_receipt
from regaudit.shared.evidence.witness_sampling import merkle_root
from regaudit.shared.profiles import PROFILE_N8192_D3

#: two batches (the second partial), so a two-worker pool splits them
CHUNKS = BATCH_CHUNKS + 2
ROWS = CHUNKS * PROFILE_N8192_D3.slot_count - 123


@pytest.fixture(scope="module")
def job() -> FairnessJob:
    made = FairnessJob(ROWS, seed=91)
    assert made.plan.n_chunks == CHUNKS
    return made


def _receipt(result: RawResult, evaluator_dir: Path) -> ReceiptStatement:
    record = load_public_key_file(evaluator_dir / "evaluator.pub.json")
    return parse_receipt(
        verify_envelope(result.receipt, public_key=record.public_key, key_id=record.key_id)
    )


@pytest.fixture(scope="module")
def local_runs(
    job: FairnessJob, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[tuple[RawResult, ReceiptStatement]]]:
    """The job on two daemons: different evaluator keys, one and two local workers."""
    root = tmp_path_factory.mktemp("determinism")
    daemons: list[subprocess.Popen[str]] = []
    runs = []
    try:
        for name, workers in (("one", 1), ("two", 2)):
            identity = root / name
            cli("evaluator", "init", identity, check=True)
            daemon, address = start_evaluator(
                identity, root / f"{name}-store", "--workers", str(workers)
            )
            daemons.append(daemon)
            result = run(address, job, job.header(commit_partials=True))
            runs.append((result, _receipt(result, identity)))
        yield runs
    finally:
        for daemon in daemons:
            stop_evaluator(daemon)


@pytest.mark.timeout(240)
def test_two_daemons_and_pool_sizes_agree_byte_for_byte(
    job: FairnessJob, local_runs: list[tuple[RawResult, ReceiptStatement]]
) -> None:
    (one, receipt_one), (two, receipt_two) = local_runs
    assert receipt_one.evaluator_key_id != receipt_two.evaluator_key_id
    # outputs and canary: the same bytes, so the same content
    assert one.outputs == two.outputs and one.canary == two.canary
    assert receipt_one.outputs == receipt_two.outputs
    assert receipt_one.output_contents == receipt_two.output_contents
    contents = [ciphertext_content_digest(data) for data in [*one.outputs, one.canary]]
    assert [digest for _, digest in receipt_one.output_contents] == contents
    # per-chunk partial digests: one per chunk, identical, committed to by both receipts
    assert len(one.partial_digests) == CHUNKS
    assert len(set(one.partial_digests)) == CHUNKS  # every chunk's own partial
    assert one.partial_digests == two.partial_digests
    for result, receipt in local_runs:
        assert receipt.partials_count == CHUNKS
        assert receipt.partials_root == merkle_root(result.partial_digests)
    # the CKKS library versions are recorded (the regulator compares them first)
    assert receipt_one.software == receipt_two.software
    assert {"tenseal", "seal", "regaudit-evaluator", "regaudit-shared"} <= set(receipt_one.software)


@pytest.mark.timeout(240)
def test_dask_agrees_with_the_local_pool(
    job: FairnessJob,
    local_runs: list[tuple[RawResult, ReceiptStatement]],
    tmp_path: Path,
) -> None:
    distributed = pytest.importorskip("distributed")
    from regaudit.evaluator.dask_executor import DaskExecutor
    from regaudit.evaluator.server import create_server
    from regaudit.shared.evidence.identity import SigningIdentity

    (local, local_receipt), _ = local_runs
    identity = SigningIdentity.generate("evaluator")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    ) as cluster:
        # fan-in 2: the two batches' partials are added by a combine task, not finalize
        executor = DaskExecutor(cluster.scheduler_address, finalize_fanin=2)
        server, port = create_server(
            "127.0.0.1:0", identity=identity, store_path=tmp_path / "store", executor=executor
        )
        server.start()
        try:
            dask = run(f"127.0.0.1:{port}", job, job.header(commit_partials=True))
        finally:
            server.stop(grace=1.0)
    receipt = parse_receipt(
        verify_envelope(dask.receipt, public_key=identity.public_key, key_id=identity.key_id)
    )
    assert dask.outputs == local.outputs and dask.canary == local.canary
    assert dask.partial_digests == local.partial_digests
    assert receipt.partials_root == local_receipt.partials_root
    assert receipt.output_contents == local_receipt.output_contents
