"""The client checks the evaluator's arithmetic before it seals or signs anything.

The client holds both the CKKS secret key and the data, so it can decrypt every output the
evaluator returned and compare it with the same circuit run on the plaintext backend over its
own data (the oracle, :func:`regaudit.shared.planning.run_plaintext`). An evaluator that returns
anything else -- for example an output crafted from the uploaded ciphertexts so that a count
equals one chosen row's label (a decryption oracle through the published report) -- is caught
here: the client then seals nothing and writes no bundle.

What this proves: each output decrypts, slot by slot, to what the planned circuit computes on
the client's data, within the circuit's tolerance (aggregate slots and every slot that must be
zero alike), and the canary output to its public value. What it does not prove: that the
client's data is true (the client is the party the audit is about; commitments let a regulator
check openings later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import (
    CANARY_DEPTH,
    CANARY_TOLERANCE,
    Circuit,
    Plan,
    canary_expected,
    output_tolerance,
)
from regaudit.shared.errors import CiphertextError, EvaluatorOutputMismatchError, InputError
from regaudit.shared.planning import run_plaintext


@dataclass(frozen=True)
class OutputCheck:
    """The outcome of a passed check: how many slots were compared and with what tolerance."""

    outputs: int
    slots_compared: int
    tolerance: float
    canary_tolerance: float


def expected_outputs(
    circuit: Circuit,
    plan: Plan,
    public: Mapping[str, Any],
    chunks_for: Callable[[int], Iterable[Mapping[str, FloatArray]]],
) -> list[FloatArray]:
    """The oracle: the planned circuit on the plaintext backend over the client's own chunks."""
    oracle_plan, outputs = run_plaintext(
        circuit, dict(public), chunks_for, rows=plan.rows, profile=plan.profile
    )
    if oracle_plan.to_dict() != plan.to_dict():
        raise InputError("the oracle's plan differs from the audit's plan", field="plan")
    return outputs


def check_outputs(
    *,
    circuit: Circuit,
    plan: Plan,
    public: Mapping[str, Any],
    expected: Sequence[FloatArray],
    outputs: Sequence[bytes],
    canary_output: bytes,
    canary_seed: bytes,
    decrypt: Callable[[bytes, int], FloatArray],
) -> OutputCheck:
    """Compare every output (and the canary) with the oracle; raise
    :class:`~regaudit.shared.errors.EvaluatorOutputMismatchError` on the first difference.

    ``decrypt(ciphertext, level)`` decrypts with the client's own secret key.

    Steps: 1. as many outputs as the plan; 2. every output decrypts at the plan's output level;
    3. every slot is within the circuit's tolerance of the oracle (aggregate slots and slots
    that must be zero alike); 4. the canary decrypts at its level to its public value in slot 0
    and zero elsewhere. Messages name the output and slot, never a decrypted value.
    """
    # 1. count
    if len(outputs) != plan.n_outputs or len(expected) != plan.n_outputs:
        raise EvaluatorOutputMismatchError(
            f"the evaluator returned {len(outputs)} outputs, the plan has {plan.n_outputs}",
            field="outputs",
        )
    tolerance = output_tolerance(circuit, plan.rows, dict(public))
    compared = 0
    for index, (data, oracle) in enumerate(zip(outputs, expected, strict=True)):
        # 2. decrypt
        values = _decrypt(decrypt, data, plan.output_level, what=f"output {index}")
        # 3. slot by slot
        _compare(values, np.asarray(oracle, dtype=np.float64), tolerance, what=f"output {index}")
        compared += values.shape[0]
    # 4. the canary
    values = _decrypt(decrypt, canary_output, plan.input_level + CANARY_DEPTH, what="canary")
    canary = np.zeros(plan.profile.slot_count)
    canary[0] = canary_expected(canary_seed, plan.profile.slot_count)
    _compare(values, canary, CANARY_TOLERANCE, what="canary")
    return OutputCheck(
        outputs=len(outputs),
        slots_compared=compared,
        tolerance=tolerance,
        canary_tolerance=CANARY_TOLERANCE,
    )


def _decrypt(
    decrypt: Callable[[bytes, int], FloatArray], data: bytes, level: int, *, what: str
) -> FloatArray:
    try:
        values = np.asarray(decrypt(data, level), dtype=np.float64)
    except CiphertextError as exc:
        raise EvaluatorOutputMismatchError(
            f"{what} is not a valid ciphertext at level {level}: {exc.reason}", field=what
        ) from exc
    return values


def _compare(values: FloatArray, oracle: FloatArray, tolerance: float, *, what: str) -> None:
    if values.shape != oracle.shape:
        raise EvaluatorOutputMismatchError(
            f"{what} has {values.shape[0]} slots, the oracle {oracle.shape[0]}", field=what
        )
    finite = np.isfinite(values)
    if not finite.all():
        slot = int(np.argmin(finite))
        raise EvaluatorOutputMismatchError(
            f"{what} slot {slot} does not decrypt to a finite value", field=what
        )
    distance = np.abs(values - oracle)
    worst = int(np.argmax(distance))
    if not distance[worst] <= tolerance:
        kind = "a slot that must be zero" if oracle[worst] == 0 else "an aggregate slot"
        raise EvaluatorOutputMismatchError(
            f"{what} slot {worst} ({kind}) differs from the client's own computation by more "
            f"than the tolerance {tolerance:.3g}: the evaluator did not compute the planned "
            "circuit on the uploaded data",
            field=what,
        )


__all__ = ["OutputCheck", "check_outputs", "expected_outputs"]
