"""The evaluator's step of the primitives' real-CKKS tests: keyless, every ciphertext validated
on load, the circuit run with exactly the planned evaluation keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.circuits.base import Circuit, Plan, accumulate
from regaudit.shared.ckks import CkksBackend, CkksVector, load_evaluation_keys


def evaluate_keylessly(
    circuit: Circuit,
    plan: Plan,
    keys: ClientKeys,
    uploads: Sequence[Mapping[str, bytes]],
    public: dict[str, Any],
    rows: int,
) -> tuple[list[CkksVector], CkksBackend]:
    """Load the evaluation keys and every uploaded ciphertext at the plan's input level,
    accumulate and finalize; return the outputs and the backend (its operation counts)."""
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
    return circuit.finalize(backend, accumulators, public, rows), backend


__all__ = ["evaluate_keylessly"]
