"""The encryption pool: spawned workers, upload order, bounded look-ahead, real decryption."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from regaudit.client.encryption import (
    KILL_TIMEOUT_S,
    EncryptionPool,
    InputManifest,
    upload_order,
)
from regaudit.secretkey.ckks import ClientKeys, SecretKeyDecryptor
from regaudit.shared.circuits.base import CANARY_COLUMN, canary_vector, iter_chunks
from regaudit.shared.errors import InputError
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse as parse_fairness_input
from regaudit.shared.profiles import PROFILE_N8192_D3
from regaudit.shared.protocol import upload_order as protocol_upload_order

#: CKKS at scale 2^30 decrypts fresh 0/1 values to well within this.
DECRYPTION_TOLERANCE = 1e-3
ROWS = 4096 + 1500  # two chunks, the second one zero padded


@pytest.fixture(scope="module")
def audit() -> tuple:  # type: ignore[type-arg]
    rng = np.random.default_rng(5)
    groups = rng.choice(["north", "south", "east"], size=ROWS).tolist()
    data = parse_fairness_input(
        {
            "y_true": rng.integers(0, 2, size=ROWS).tolist(),
            "y_pred": rng.integers(0, 2, size=ROWS).tolist(),
            "group": groups,
        }
    )
    circuit = FairnessCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows, profile=PROFILE_N8192_D3)
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    return data, plan, keys


def test_pool_yields_upload_order_and_ciphertexts_decrypt_to_the_inputs(audit: tuple) -> None:  # type: ignore[type-arg]
    data, plan, keys = audit
    assert plan.n_chunks == 2
    seed = bytes(range(32))
    manifest = InputManifest()
    seen: list[str] = []
    with EncryptionPool(plan.profile, secret_key=keys.secret_key_bytes(), workers=2) as pool:
        produced = list(
            pool.encrypt_audit(
                plan,
                data.columns(),
                canary_seed=seed,
                manifest=manifest,
                on_encrypted=lambda entry: seen.append(entry.digest),
            )
        )
    order = [(column, chunk) for column, chunk, _ in produced]
    assert order == upload_order(plan)
    assert order == list(protocol_upload_order(plan.columns, plan.n_chunks))
    assert order[0] == (CANARY_COLUMN, 0)
    assert len(produced) == 1 + 2 * len(plan.columns)

    # the manifest records every ciphertext's SHA-256, in the same order
    digests = ["sha256:" + hashlib.sha256(blob).hexdigest() for _, _, blob in produced]
    assert [e.digest for e in manifest.entries] == digests == seen
    assert [(e.column, e.chunk) for e in manifest.entries] == order
    assert manifest.total_bytes == sum(len(blob) for _, _, blob in produced)
    assert len(set(digests)) == len(digests)  # fresh randomness per ciphertext

    decryptor = SecretKeyDecryptor.from_bytes(plan.profile, keys.secret_key_bytes())
    chunks = list(iter_chunks(data.columns(), plan.chunk_rows))
    for column, chunk, blob in produced:
        values = decryptor.decrypt(blob, level=plan.input_level)
        if column == CANARY_COLUMN:
            expected = canary_vector(seed, plan.profile.slot_count)
        else:
            expected = chunks[chunk][column]
        assert np.max(np.abs(values - expected)) < DECRYPTION_TOLERANCE, (column, chunk)
    # the padding of the last chunk decrypts to zeros
    last = decryptor.decrypt(produced[-1][2], level=plan.input_level)
    assert np.max(np.abs(last[ROWS - plan.chunk_rows :])) < DECRYPTION_TOLERANCE


def test_lookahead_is_bounded(audit: tuple) -> None:  # type: ignore[type-arg]
    """The pool pulls at most ``lookahead`` tasks ahead of what the consumer has taken."""
    _data, plan, keys = audit
    pulled = 0

    def counting(tasks: Iterator[tuple]) -> Iterator[tuple]:  # type: ignore[type-arg]
        nonlocal pulled
        for task in tasks:
            pulled += 1
            yield task

    values = np.zeros(plan.profile.slot_count)
    tasks = ((f"c{i}", i, values, plan.input_level) for i in range(40))
    with EncryptionPool(
        plan.profile, secret_key=keys.secret_key_bytes(), workers=1, lookahead=3
    ) as pool:
        manifest = InputManifest()
        stream = pool._run(counting(tasks), manifest, None)
        first = next(stream)
        assert first[:2] == ("c0", 0)
        assert pulled <= 3 + 1
        for _ in range(4):
            next(stream)
        assert len(manifest.entries) == 5
        assert pulled <= 5 + 3
        stream.close()
    assert pulled < 40


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_close_is_bounded_when_a_worker_is_stuck(audit: tuple) -> None:  # type: ignore[type-arg]
    """An upload that fails mid-stream with a worker stuck (stopped): ``close`` still returns
    within its bound, no worker survives it and the pool no longer holds the secret key."""
    data, plan, keys = audit
    pool = EncryptionPool(plan.profile, secret_key=keys.secret_key_bytes(), workers=2)
    try:
        stream = pool.encrypt_audit(
            plan, data.columns(), canary_seed=bytes(32), manifest=InputManifest()
        )
        next(stream)  # encryptions in flight, then the "upload" fails
        pids = pool.worker_pids()
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
        os.kill(pids[0], signal.SIGSTOP)
        started = time.monotonic()
        pool.close(timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        pool.close()
    assert elapsed < 1.0 + KILL_TIMEOUT_S + 2.0
    assert not any(_running(pid) for pid in pids)
    assert pool._pool._initargs == ()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="closed"):
        pool.encrypt_audit(plan, data.columns(), canary_seed=bytes(32), manifest=InputManifest())


def test_bad_columns_are_rejected_naming_the_column(audit: tuple) -> None:  # type: ignore[type-arg]
    data, plan, keys = audit
    with EncryptionPool(plan.profile, secret_key=keys.secret_key_bytes(), workers=1) as pool:
        columns = data.columns()
        columns["y_pred"] = columns["y_pred"].copy()
        columns["y_pred"][7] = np.nan
        with pytest.raises(InputError) as info:
            pool.encrypt_audit(plan, columns, canary_seed=b"\0" * 32, manifest=InputManifest())
        assert info.value.field == "y_pred"
        short = data.columns()
        short["y_true"] = short["y_true"][:-1]
        with pytest.raises(InputError) as info:
            pool.encrypt_audit(plan, short, canary_seed=b"\0" * 32, manifest=InputManifest())
        assert info.value.field == "y_true"
        missing = data.columns()
        del missing["y_true"]
        with pytest.raises(InputError) as info:
            pool.encrypt_audit(plan, missing, canary_seed=b"\0" * 32, manifest=InputManifest())
        assert info.value.field == "y_true"
