"""The fairness plan (depth, profile, rotations, op counts), the output layout, the registry and
the regulator's refusal of decrypted values that noise cannot explain."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regaudit.shared.circuits import registry
from regaudit.shared.circuits.base import Circuit, accumulate, canary_circuit, iter_chunks
from regaudit.shared.errors import (
    BundleFormatError,
    CircuitError,
    DepthExceededError,
    InputError,
    NoiseBoundError,
    ProfileError,
)
from regaudit.shared.plaintext import PlaintextBackend
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse
from regaudit.shared.primitives.fairness.layout import (
    COUNT_TOLERANCE,
    MAX_FAIRNESS_ROWS,
    QUANTITIES,
    block_width,
    output_scale,
    output_slot,
)
from regaudit.shared.primitives.fairness.reference import plaintext_counts, reference
from regaudit.shared.primitives.fairness.report import decode
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6


def public(groups: int) -> dict[str, object]:
    return {"threshold": 0.1, "groups": [f"g{i}" for i in range(groups)]}


def expected_counts(groups: int, chunks: int, slots: int) -> dict[str, int]:
    """Closed-form operation counts: per chunk 3K ct x ct products and one alignment of y_pred;
    4K additions to merge each further chunk; finalize: 4K partial slot-sums over W slots
    (log2(W) rotations and additions each), 4K masks, 4K-1 additions and 2 alignments to pack
    one vector, then one slot-sum over the N/W blocks; plus the key canary (one square, one
    full slot-sum, one mask)."""
    k = groups
    log = int(math.log2(slots))
    log_w = int(math.log2(block_width(groups)))
    return {
        "ct_ct_multiplications": 3 * k * chunks + 1,
        "relinearizations": 3 * k * chunks + 1,
        "ct_pt_multiplications": chunks + 4 * k + 2 + 1,
        "rescales": (3 * k + 1) * chunks + 4 * k + 2 + 1 + 1,
        "rotations": 4 * k * log_w + (log - log_w) + log,
        "additions": 4 * k * (chunks - 1) + 4 * k * log_w + (4 * k - 1) + (log - log_w) + log,
    }


@pytest.mark.parametrize(
    ("groups", "rows"), [(2, 1), (2, 4096), (3, 10_000), (5, 50_000), (64, 9000)]
)
def test_plan(groups: int, rows: int) -> None:
    plan = make_plan(FairnessCircuit(), public(groups), rows=rows)
    assert plan.profile == PROFILE_N8192_D3
    assert plan.profile.name == "ckks-n8192-d3-v1"
    assert plan.depth == 3
    assert plan.input_level == 0
    assert plan.output_level == 3
    assert plan.rotation_steps == tuple(2**i for i in range(12))  # 1 .. 2048
    assert plan.n_outputs == 1
    assert plan.chunk_rows == 4096
    assert plan.n_chunks == math.ceil(rows / 4096)
    assert plan.columns == ("y_true", "y_pred", *(f"group/g{i}" for i in range(groups)))
    counts = plan.counts.to_dict()
    for name, value in expected_counts(groups, plan.n_chunks, 4096).items():
        assert counts[name] == value, name
    assert counts["max_level"] == 3


def test_layout_parameters() -> None:
    assert [block_width(k) for k in (2, 3, 4, 5, 16, 17, 64)] == [8, 16, 16, 32, 64, 128, 256]
    assert output_scale(1) == 2**27
    assert output_scale(10_000) == 2**13  # 10,000 x 8192 <= 2^27 < 10,000 x 16384
    assert output_scale(2**25) == 4
    assert output_scale(2**27 + 1) == 1
    for rows in (1, 999, 10_000, 2**20, MAX_FAIRNESS_ROWS):
        magnitude = FairnessCircuit().max_output_magnitude(rows, public(2))
        assert rows * output_scale(rows) == magnitude <= PROFILE_N8192_D3.max_output_magnitude / 2


def test_row_limit_and_depth6_profile_refused() -> None:
    with pytest.raises(InputError) as info:
        make_plan(FairnessCircuit(), public(2), rows=MAX_FAIRNESS_ROWS + 1)
    assert info.value.field == "rows"
    # the scaled outputs need the D3 profile's 2^28 headroom; the D6 profile has 2^18
    with pytest.raises(ProfileError):
        make_plan(FairnessCircuit(), public(2), rows=20_000, profile=PROFILE_N16384_D6)


def test_plaintext_run_uses_exactly_the_planned_operations() -> None:
    rng = np.random.default_rng(7)
    rows = 9_000
    data = parse(
        {
            "y_true": rng.integers(0, 2, rows).tolist(),
            "y_pred": rng.integers(0, 2, rows).tolist(),
            "group": rng.choice(["p", "q", "r"], rows).tolist(),
        }
    )
    circuit = FairnessCircuit()
    plan = make_plan(circuit, data.public, rows=rows)
    backend = PlaintextBackend(4096, max_level=3)

    chunks = [
        {n: backend.vector(v, level=plan.input_level) for n, v in chunk.items()}
        for chunk in iter_chunks(data.columns(), plan.chunk_rows)
    ]
    outputs = circuit.finalize(
        backend, accumulate(circuit, backend, chunks, data.public) or [], data.public, rows
    )
    canary_circuit(backend, backend.vector(np.ones(4096)))
    assert backend.counts.to_dict() == plan.counts.to_dict()
    # every block of W = 16 slots holds the 4K = 12 aggregates x S, then zeros
    scale = output_scale(rows)
    blocks = outputs[0].values.reshape(-1, block_width(3)) / scale
    assert blocks.shape == (4096 // 16, 16)
    counts = plaintext_counts(data)
    for k, name in enumerate(data.public["groups"]):
        group = counts[name]
        for quantity in QUANTITIES:
            assert (blocks[:, output_slot(k, quantity)] == getattr(group, quantity)).all()
    assert not blocks[:, 12:].any()


def test_circuit_refuses_a_deeper_start() -> None:
    circuit = FairnessCircuit()
    backend = PlaintextBackend(4096, max_level=3)
    p = public(2)
    chunk = {name: backend.vector(np.zeros(4096), level=1) for name in circuit.columns(p)}
    accumulators = circuit.evaluate_chunk(backend, chunk, p)
    with pytest.raises(DepthExceededError):
        circuit.finalize(backend, accumulators, p, 10)


def test_circuit_refuses_missing_columns_and_accumulators() -> None:
    circuit = FairnessCircuit()
    backend = PlaintextBackend(4096, max_level=3)
    p = public(2)
    chunk = {name: backend.vector(np.zeros(4096)) for name in circuit.columns(p)[:-1]}
    with pytest.raises(CircuitError):
        circuit.evaluate_chunk(backend, chunk, p)
    with pytest.raises(CircuitError):
        circuit.finalize(backend, [backend.vector(np.zeros(4096))] * 7, p, 10)


# --- registry ------------------------------------------------------------------------------


def test_registry() -> None:
    circuit = registry.get_circuit("fairness", "1")
    assert isinstance(circuit, FairnessCircuit)
    assert registry.CIRCUITS[("fairness", "1")] is circuit
    assert ("fairness", "1") in registry.list_circuits()
    checked: Circuit = circuit  # structural typing: FairnessCircuit implements Circuit
    assert checked.circuit_id == "fairness" and checked.version == "1"
    for cid, version in (("fairness", "2"), ("fairnes", "1"), ("", "")):
        with pytest.raises(CircuitError) as info:
            registry.get_circuit(cid, version)
        assert info.value.reason == "unsupported_circuit"
        assert info.value.exit_code == 2


# --- decoding ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[dict[str, object], int, np.ndarray, dict[str, object]]:
    rng = np.random.default_rng(11)
    rows = 5000
    data = parse(
        {
            "y_true": rng.integers(0, 2, rows).tolist(),
            "y_pred": rng.integers(0, 2, rows).tolist(),
            "group": rng.choice([1, 2, 3, 4], rows).tolist(),
        }
    )
    _, outputs = evaluate_plaintext(FairnessCircuit(), data)
    return data.public, rows, outputs[0], reference(data)


def test_decode_tolerates_ckks_sized_noise(sample) -> None:  # type: ignore[no-untyped-def]
    public_inputs, rows, vector, expected = sample
    noise = np.random.default_rng(1).uniform(-0.2, 0.2, vector.shape[0])
    report = decode([vector + noise], public_inputs, rows)
    assert report == expected


def corrupt(vector: np.ndarray, slot: int, delta: float, *, every_block: bool) -> list[np.ndarray]:
    """Add ``delta`` counts (in count units, before the output scale) to ``slot`` of the first
    block of W = 16 slots, or to that slot of every block."""
    bad = vector.copy()
    bad[slot :: 16 if every_block else 4096] += delta * output_scale(5000)
    return [bad]


@pytest.mark.parametrize(
    ("slot", "delta", "every_block"),
    [
        (output_slot(0, "count"), 0.3, True),  # not near an integer
        (output_slot(2, "true_positives"), -0.26, True),
        (output_slot(1, "count"), 0.3, False),  # one replica disagrees
        (output_slot(1, "count"), 1.0, False),  # one replica is another integer
        (13, 0.3, False),  # a slot that must be zero
        (4095, -1.0, False),
        (output_slot(1, "true_positives"), 5000.0, True),  # tp > positives
        (output_slot(1, "positives"), 6000.0, True),  # positives > group size
        (output_slot(3, "count"), -1e6, True),  # negative group size
        (output_slot(0, "count"), 5000.0, True),  # groups hold more than the rows
    ],
)
def test_decode_refuses_impossible_values(
    sample, slot: int, delta: float, every_block: bool
) -> None:  # type: ignore[no-untyped-def]
    public_inputs, rows, vector, _ = sample
    with pytest.raises(NoiseBoundError):
        decode(corrupt(vector, slot, delta, every_block=every_block), public_inputs, rows)


def pack(counts: list[int], rows: int) -> np.ndarray:
    """An output vector in the circuit's layout for 2 groups (W = 8)."""
    blocks = np.zeros((4096 // 8, 8))
    blocks[:, : len(counts)] = np.asarray(counts, dtype=np.float64) * output_scale(rows)
    return blocks.reshape(-1)


def test_decode_refuses_false_positives_beyond_negatives() -> None:
    p = public(2)
    # group 0: 10 rows, 6 predicted, 8 positives, 1 true positive -> 5 FP but only 2 negatives
    with pytest.raises(NoiseBoundError):
        decode([pack([10, 6, 8, 1, 10, 5, 5, 5], 20)], p, 20)
    report = decode([pack([10, 6, 8, 4, 10, 5, 5, 5], 20)], p, 20)
    assert report["groups"]["g0"]["count"] == 10
    assert report["unassigned_rows"] == 0


def test_decode_refuses_wrong_shapes(sample) -> None:  # type: ignore[no-untyped-def]
    public_inputs, rows, vector, _ = sample
    with pytest.raises(BundleFormatError):
        decode([vector, vector], public_inputs, rows)
    with pytest.raises(BundleFormatError):
        decode([vector[:10]], public_inputs, rows)
    with pytest.raises(BundleFormatError):
        decode([vector[:-1]], public_inputs, rows)
    with pytest.raises(NoiseBoundError):
        decode([np.full(4096, np.nan)], public_inputs, rows)


def test_quantity_order_and_tolerance() -> None:
    assert QUANTITIES == ("count", "predicted_positives", "positives", "true_positives")
    assert COUNT_TOLERANCE == 0.25
