"""Shared helper for the primitives' real-CKKS tests: the three parties' steps in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import Circuit, Plan, accumulate, iter_chunks
from regaudit.shared.ckks import CkksBackend, load_evaluation_keys

CkksRun = Callable[[Circuit, Plan, dict[str, FloatArray], dict[str, Any]], list[FloatArray]]


def run_ckks(
    circuit: Circuit, plan: Plan, columns: dict[str, FloatArray], public: dict[str, Any]
) -> list[FloatArray]:
    """Client encrypts at plan.input_level with exactly the planned Galois steps; the evaluator
    loads and validates every ciphertext and runs the circuit keylessly; the regulator decrypts
    at plan.output_level. Returns the decrypted output vectors."""
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    uploads = [
        {name: keys.encrypt(values, level=plan.input_level) for name, values in chunk.items()}
        for chunk in iter_chunks(columns, plan.chunk_rows)
    ]
    loaded = load_evaluation_keys(
        plan.profile, keys.evaluation_keys(), required_steps=plan.rotation_steps
    )
    backend = CkksBackend(plan.profile, loaded)
    chunks = (
        {name: backend.load(blob, level=plan.input_level) for name, blob in upload.items()}
        for upload in uploads
    )
    accumulators = accumulate(circuit, backend, chunks, public)
    assert accumulators is not None
    outputs = circuit.finalize(backend, accumulators, public, plan.rows)
    assert [o.level for o in outputs] == [plan.output_level] * plan.n_outputs
    assert backend.counts.max_level <= plan.profile.max_depth
    blobs = [o.to_bytes() for o in outputs]
    decryptor = keys.decryptor()
    return [np.asarray(decryptor.decrypt(b, level=plan.output_level)) for b in blobs]


@pytest.fixture
def ckks_run() -> CkksRun:
    return run_ckks
