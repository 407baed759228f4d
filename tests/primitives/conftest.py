"""Shared helper for the primitives' real-CKKS tests: the three parties' steps in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support.ckks_run import evaluate_keylessly

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import Circuit, Plan, iter_chunks

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
    outputs, backend = evaluate_keylessly(circuit, plan, keys, uploads, public, plan.rows)
    assert [o.level for o in outputs] == [plan.output_level] * plan.n_outputs
    assert backend.counts.max_level <= plan.profile.max_depth
    blobs = [o.to_bytes() for o in outputs]
    decryptor = keys.decryptor()
    return [np.asarray(decryptor.decrypt(b, level=plan.output_level)) for b in blobs]


@pytest.fixture
def ckks_run() -> CkksRun:
    return run_ckks
