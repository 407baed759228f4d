"""Concordance: the circuit, run by the evaluator on the per-patient encodings.

Imports the shared layout and generic shared code only: the evaluator never reaches the
client's inputs, the regulator's report or the plaintext reference.

Counts (docs/specs/concordance.md, with p the time position, H/L the risk bucket and position
within it, sigma = B - 1 - tau the reversed time rank within the bucket):

* X = sum_{a, b} e_a [p_b > p_a] [H_b < H_a] and Y = sum over same-bucket pairs of
  e_a [L_b < L_a] [sigma_b < sigma_a], both as sums of ``<e_a onehot(a), theta(b)>``;
* 2 * concordant = 2 X + 2 Y - 2 T2 + R and comparable = sum_a e_a (N - 1 - p_a) - Tied, where
  T2, R and Tied are sums of the client's per-patient tie counts (checked on an opening).

Every output is a full-width slot sum times the public power of two mu: every slot holds the
same exact integer (times mu), never a per-patient value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from regaudit.shared.algebra import FloatArray, SlotBackend, V, rotate_composed
from regaudit.shared.circuits.base import PublicInputs
from regaudit.shared.errors import CircuitError
from regaudit.shared.primitives.concordance.layout import (
    COUNT_TOLERANCE,
    OUTPUTS,
    PRESCALE,
    TIE_SLOTS,
    Geometry,
    geometry,
    output_scale,
    validate_public,
)

#: Baby steps of the lane suffix (rotations by 1 .. 7 blocks, then giant steps of 8 blocks).
LANE_BABY_STEPS = 8


def _block_slot_pattern(slot_count: int, block: int, position: int) -> FloatArray:
    """1 at slot ``position`` of every block of ``block`` slots, 0 elsewhere."""
    pattern = np.zeros(slot_count)
    pattern[position::block] = 1.0
    return pattern


def onehot(backend: SlotBackend[V], theta: V, block: int) -> V:
    """The one-hot derived from a thermometer: ``theta[k + 1] - theta[k]`` in every block, +1
    at each block's last slot (where the rotation brings in the next block's ``theta[0] = 0``).
    One rotation by one slot, no level: a patient's one-hot is a function of its thermometer."""
    shifted = rotate_composed(backend, theta, 1)
    correction = _block_slot_pattern(backend.slot_count, block, block - 1)
    return backend.add_plain(backend.sub(shifted, theta), correction)


def lane_suffix(backend: SlotBackend[V], totals: V, block: int, *, scale: float = 1.0) -> V:
    """Lane l of the result holds ``sum_{l' > l}`` of lane l' of ``totals`` (blocks of
    ``block`` slots): ``sum_j mask_j * rot(totals, j * block)`` for j = 1 .. lanes - 1, where
    ``mask_j`` keeps the lanes l with l + j < lanes, times ``scale`` (one level for all
    masks).

    Baby-step giant-step with j = g * LANE_BABY_STEPS + b: the baby rotations by b blocks are
    made once; each giant sum is masked with the masks pre-rotated by -g giant steps and then
    rotated once. 30 rotations for 64 lanes instead of 126, and no rotation chain longer than
    14, which keeps the key-switching noise low."""
    lanes = backend.slot_count // block
    lane_of_slot = np.arange(backend.slot_count) // block
    babies = [totals]
    for _ in range(1, min(LANE_BABY_STEPS, lanes)):
        babies.append(rotate_composed(backend, babies[-1], block))
    giants: list[V] = []
    for giant in range(-(-lanes // LANE_BABY_STEPS)):
        shift = giant * LANE_BABY_STEPS * block
        terms: list[V] = []
        for baby, rotated in enumerate(babies):
            j = giant * LANE_BABY_STEPS + baby
            if 1 <= j < lanes:
                mask = scale * (lane_of_slot + j < lanes).astype(np.float64)
                terms.append(backend.multiply_plain(rotated, np.roll(mask, shift)))
        if terms:
            total = backend.add_many(terms)
            giants.append(rotate_composed(backend, total, shift) if shift else total)
    return backend.add_many(giants)


def comparable_weights(shape: Geometry, slot_count: int, index: int) -> FloatArray:
    """N - 1 - p at the first slot of the block of the patient at time position p in X
    ciphertext ``index`` (0 for empty positions)."""
    weights = np.zeros(slot_count)
    lanes = slot_count // shape.block
    for lane in range(lanes):
        position = (lanes - 1 - lane) * shape.x_count + index
        if position < shape.patients:
            weights[lane * shape.block] = shape.patients - 1 - position
    return weights


def tie_weights(slot_count: int, coefficients: tuple[float, float, float]) -> FloatArray:
    """The per-patient tie slots (tied-event partners, of which with different risk, equal-risk
    comparable partners) weighted by ``coefficients``."""
    weights = np.zeros(slot_count)
    for offset, coefficient in enumerate(coefficients):
        weights[offset::TIE_SLOTS] = coefficient
    return weights


class ConcordanceCircuit:
    """Exact Harrell's C from per-patient encodings. Depth 4 (canary 2); four replicated
    aggregate outputs (:data:`layout.OUTPUTS`), exact integers after rounding."""

    circuit_id: ClassVar[str] = "concordance"
    version: ClassVar[str] = "2"
    #: the 2^40 scale keeps the summed noise far below a quarter count (ckks-n16384-d6-v1)
    min_scale_bits: ClassVar[int] = 40

    def validate_public(self, public: Mapping[str, Any]) -> PublicInputs:
        """``{"patients": integer in [MIN_PATIENTS, MAX_PATIENTS]}`` (exactly)."""
        return validate_public(public)

    def columns(self, public: PublicInputs) -> list[str]:
        return geometry(self.validate_public(public)["patients"]).columns()

    def max_output_magnitude(self, rows: int, public: PublicInputs) -> float:
        """mu * N (N - 1) (2 * concordant <= N (N - 1); every other count <= N (N - 1) / 2)."""
        patients = self.validate_public(public)["patients"]
        return output_scale(patients) * float(patients * (patients - 1))

    def output_tolerance(self, rows: int, public: PublicInputs) -> float:
        """The client's output check: a quarter count (after the output scale), the decoder's
        COUNT_TOLERANCE, so no forged deviation survives rounding."""
        return COUNT_TOLERANCE * output_scale(self.validate_public(public)["patients"])

    def evaluate_chunk(
        self, backend: SlotBackend[V], inputs: Mapping[str, V], public: PublicInputs
    ) -> list[V]:
        """Accumulators ``[X + Y, R / 2 - T2 (+3), comparable (+1), R (+1), Tied (+1)]``, each
        times PRESCALE (slot-wise partial sums; the prescale rides on ct x pt multiplications
        the circuit makes anyway: the alignments of the suffix / prefix sums, the lane masks,
        the weights).

        Steps: 1. every column is present; 2. X: per X ciphertext c the event-weighted one-hot
        ``eo_c = e_c * onehot(theta_c)``; within lanes ``sum_c <eo_c, sum_{c' > c} theta_c'>``
        (additions), across lanes ``<lane_suffix(E), sum_c theta_c>`` (lanes run backwards in
        time) with ``E = onehot-derivation of sum_c e_c * theta_c`` (= sum_c eo_c for
        block-constant events); 3. Y: per
        group ``sum_L <eo_{g,L}, sum_{L' < L} theta_{g,L'}>``; 4. the linear parts: comparable
        weights on the X events, tie weights on the tie ciphertexts."""
        patients = self.validate_public(public)["patients"]
        shape = geometry(patients)
        # 1.
        missing = [name for name in shape.columns() if name not in inputs]
        if missing:
            raise CircuitError(f"chunk lacks column {missing[0]!r}", field="columns")
        slots = backend.slot_count
        products: list[V] = []
        # 2.
        x_theta = [inputs[f"x_theta_{c}"] for c in range(shape.x_count)]
        x_event = [inputs[f"x_event_{c}"] for c in range(shape.x_count)]
        x_onehot = [
            backend.multiply(e, onehot(backend, t, shape.block))
            for e, t in zip(x_event, x_theta, strict=True)
        ]
        cross: V | None = None
        suffix: V | None = None
        for c in reversed(range(shape.x_count)):
            if suffix is not None:
                scaled = backend.multiply_plain(suffix, PRESCALE)  # the alignment to +1
                products.append(backend.multiply(x_onehot[c], scaled))
            suffix = x_theta[c] if suffix is None else backend.add(suffix, x_theta[c])
        if slots // shape.block > 1:
            # lanes run backwards in time: the later patients of lane l fill the lanes l' < l;
            # the suffix is taken of the (small, sparse) event one-hots, not of the (large)
            # thermometer totals, which keeps the summed noise small
            # sum_c e_c * onehot(theta_c) as one derivation from sum_c e_c * theta_c: equal for
            # block-constant events (checked on an opening), and it puts one rotation's
            # key-switching noise into the sum instead of x_count of them (measured: the
            # rotation noise is 60x the fresh noise and dominated the cross-lane term)
            weighted = backend.add_many(
                [backend.multiply(e, t) for e, t in zip(x_event, x_theta, strict=True)]
            )
            correction = _block_slot_pattern(slots, shape.block, shape.block - 1)
            events = backend.add(
                backend.sub(rotate_composed(backend, weighted, 1), weighted),
                backend.multiply_plain(backend.add_many(x_event), correction),
            )
            earlier_events = lane_suffix(backend, events, shape.block, scale=PRESCALE)
            cross = backend.multiply(earlier_events, backend.add_many(x_theta))
        # 3.
        for group in range(shape.groups):
            base = group * shape.bucket_size
            prefix: V | None = None
            for position in range(shape.bucket_size):
                theta = inputs[f"y_theta_{base + position}"]
                if prefix is not None:
                    event = inputs[f"y_event_{base + position}"]
                    weighted = backend.multiply(event, onehot(backend, theta, shape.block))
                    scaled = backend.multiply_plain(prefix, PRESCALE)  # the alignment to +1
                    products.append(backend.multiply(weighted, scaled))
                prefix = theta if prefix is None else backend.add(prefix, theta)
        # the within-lane and Y products (+2) first, the cross-lane product (+3) last: one
        # alignment
        if cross is not None:
            products = [backend.add_many(products), cross] if products else [cross]
        main = backend.add_many(products)
        # 4.
        ties = [inputs[f"ties_{j}"] for j in range(shape.tie_count)]

        def tie_sum(coefficients: tuple[float, float, float]) -> list[V]:
            return [backend.multiply_plain(t, tie_weights(slots, coefficients)) for t in ties]

        comparable = backend.add_many(
            [
                backend.multiply_plain(x_event[c], PRESCALE * comparable_weights(shape, slots, c))
                for c in range(shape.x_count)
            ]
            + tie_sum((-PRESCALE, 0.0, 0.0))
        )
        tie_concordant = backend.add_many(tie_sum((0.0, -PRESCALE, PRESCALE / 2)))
        tied_risk = backend.add_many(tie_sum((0.0, 0.0, PRESCALE)))
        tied_event = backend.add_many(tie_sum((PRESCALE, 0.0, 0.0)))
        return [main, tie_concordant, comparable, tied_risk, tied_event]

    def finalize(
        self, backend: SlotBackend[V], accumulators: list[V], public: PublicInputs, rows: int
    ) -> list[V]:
        """``[2 mu concordant, mu comparable, mu R, mu Tied]``, each a full-width slot sum
        (every slot = the total) times mu, all at the deepest level (+4)."""
        if len(accumulators) != len(OUTPUTS) + 1:
            raise CircuitError(
                f"expected {len(OUTPUTS) + 1} accumulators, got {len(accumulators)}",
                field="accumulators",
            )
        main, tie_concordant, comparable, tied_risk, tied_event = accumulators
        mu = output_scale(self.validate_public(public)["patients"])
        # the slot sums run before the scaling, at a level with ample headroom: rotations at
        # the last level are the noisiest operation of the circuit
        sums = [
            backend.multiply_plain(
                backend.slot_sum(backend.add(main, tie_concordant)), 2.0 * mu / PRESCALE
            ),
            backend.multiply_plain(backend.slot_sum(comparable), mu / PRESCALE),
            backend.multiply_plain(backend.slot_sum(tied_risk), mu / PRESCALE),
            backend.multiply_plain(backend.slot_sum(tied_event), mu / PRESCALE),
        ]
        level = max(vector.level for vector in sums)
        return [backend.align(vector, level) for vector in sums]


__all__ = ["ConcordanceCircuit", "comparable_weights", "lane_suffix", "onehot", "tie_weights"]
