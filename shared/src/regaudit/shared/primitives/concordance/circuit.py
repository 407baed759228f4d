"""Concordance: the circuit, run by the evaluator on the encrypted pair slots.

Imports the shared layout and generic shared code only: the evaluator never reaches the
client's inputs, the regulator's report or the plaintext reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from regaudit.shared.algebra import SlotBackend, V
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError
from regaudit.shared.primitives.concordance.layout import (
    COLUMNS,
    SIGN_COEFFICIENTS,
    SIGN_MAX_ABS,
    output_scale,
    pair_count,
    validate_public,
)


def _sign(backend: SlotBackend[V], x: V, coefficients: Sequence[float]) -> V:
    """p(x) for an odd degree-15 polynomial with the given x^1, x^3, ..., x^15 coefficients.

    Depth 4 with every scalar folded into the shallow operand: blocks b_m = c x + c' x^3 (level
    +2: c x, c' x by ct x pt, (c' x) * x^2), then p = b0 + x^4 b1 + x^8 (b2 + x^4 b3).
    10 ct x ct, 8 ct x pt and 7 alignments (ct x pt by ones)."""
    x2 = backend.square(x)
    x4 = backend.square(x2)
    x8 = backend.square(x4)
    blocks: list[V] = []
    for m in range(4):
        low = backend.multiply_plain(x, coefficients[2 * m])
        high = backend.multiply(backend.multiply_plain(x, coefficients[2 * m + 1]), x2)
        blocks.append(backend.add(low, high))
    upper = backend.add(blocks[2], backend.multiply(x4, blocks[3]))
    lower = backend.add(blocks[0], backend.multiply(x4, blocks[1]))
    return backend.add(lower, backend.multiply(x8, upper))


class ConcordanceCircuit:
    """Harrell's C from pair slots. Depth 6 (canary 2); two replicated aggregate outputs."""

    circuit_id: ClassVar[str] = "concordance"
    version: ClassVar[str] = "1"

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"patients": integer in [MIN_PATIENTS, MAX_PATIENTS]}`` (exactly)."""
        return validate_public(public)

    def columns(self, public: PublicInputs) -> list[str]:
        return list(COLUMNS)

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """mu * pairs * max per-pair |value| (comparable <= (2 + P)/2, balance <= (P + 2P^2)/2
        with P = max |p|)."""
        pairs = pair_count(self.validate_public(public)["patients"])
        per_pair = max(1.0 + SIGN_MAX_ABS / 2.0, (SIGN_MAX_ABS + 2.0 * SIGN_MAX_ABS**2) / 2.0)
        return output_scale(pairs) * pairs * per_pair

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Accumulators ``[A - ties_i - ties_j (+0), D * p(dt) (+5), mu * W (+6)]``.

        Per chunk: 24 ct x ct, 40 ct x pt (16 scalar, 24 alignments), 0 rotations."""
        missing = [name for name in COLUMNS if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        mu = output_scale(pair_count(public["patients"]))
        dt = backend.sub(inputs["time_j"], inputs["time_i"])
        dr = backend.sub(inputs["risk_i"], inputs["risk_j"])
        both = backend.add(inputs["event_i"], inputs["event_j"])
        diff = backend.sub(inputs["event_i"], inputs["event_j"])
        ties = backend.add(inputs["ties_i"], inputs["ties_j"])
        weight = backend.sub(both, ties)
        sign_t = _sign(backend, dt, SIGN_COEFFICIENTS)
        # mu / 2 folded into the risk sign's coefficients (no extra level)
        sign_r = _sign(backend, dr, [c * mu / 2.0 for c in SIGN_COEFFICIENTS])
        # the event combinations are raised to the signs' level once and shared
        diff = backend.align(diff, sign_t.level)
        both = backend.align(both, sign_t.level)
        diff_t = backend.multiply(diff, sign_t)
        both_t = backend.multiply(both, sign_t)
        balance = backend.add(backend.multiply(diff, sign_r), backend.multiply(both_t, sign_r))
        return [weight, diff_t, balance]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """``[mu * comparable, mu * W]``, each a full-width slot sum (every slot = the total)."""
        if len(accumulators) != 3:
            raise CircuitError(
                f"expected 3 accumulators, got {len(accumulators)}", field="accumulators"
            )
        weight, diff_t, balance = accumulators
        mu = output_scale(pair_count(public["patients"]))
        comparable = backend.add(backend.align(weight, diff_t.level), diff_t)
        comparable = backend.multiply_plain(backend.slot_sum(comparable), mu / 2.0)
        return [comparable, backend.slot_sum(balance)]


__all__ = ["ConcordanceCircuit"]
