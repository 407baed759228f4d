"""The fairness circuit on real CKKS (SEAL, profile ckks-n8192-d3-v1): ~10,000 rows encrypted by
the client at the planned level, evaluated with evaluation keys only, decrypted with the secret
key; the decoded counts and report equal the plaintext run exactly."""

from __future__ import annotations

import time

import numpy as np
from support.ckks_run import evaluate_keylessly

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.circuits.base import iter_chunks
from regaudit.shared.ckks import CkksBackend, load_evaluation_keys
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
from regaudit.shared.primitives.fairness.inputs import parse
from regaudit.shared.primitives.fairness.layout import (
    MAX_FAIRNESS_ROWS,
    block_width,
    output_scale,
)
from regaudit.shared.primitives.fairness.reference import plaintext_counts, reference
from regaudit.shared.primitives.fairness.report import decode, decode_counts
from regaudit.shared.profiles import PROFILE_N8192_D3


def test_ckks_run_equals_plaintext_run() -> None:
    rng = np.random.default_rng(2026)
    rows = 10_000
    group = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.35, 0.15])
    y_true = (rng.random(rows) < 0.4).astype(int)
    y_pred = ((0.5 * y_true + rng.random(rows)) > 0.7).astype(int)
    data = parse({"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "group": group.tolist()})
    circuit = FairnessCircuit()
    plan = make_plan(circuit, data.public, rows=rows)
    assert plan.profile == PROFILE_N8192_D3
    assert plan.n_chunks == 3

    # client: fresh keys with exactly the planned rotation steps, encryption at input_level
    started = time.perf_counter()
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    uploads = [
        {name: keys.encrypt(values, level=plan.input_level) for name, values in chunk.items()}
        for chunk in iter_chunks(data.columns(), plan.chunk_rows)
    ]
    client_seconds = time.perf_counter() - started

    # evaluator: keyless backend, every ciphertext validated on load
    started = time.perf_counter()
    outputs, _ = evaluate_keylessly(circuit, plan, keys, uploads, data.public, rows)
    evaluator_seconds = time.perf_counter() - started
    assert [o.level for o in outputs] == [plan.output_level]
    blobs = [o.to_bytes() for o in outputs]

    # regulator: decrypt at the output level, decode
    decryptor = keys.decryptor()
    decrypted = [decryptor.decrypt(blob, level=plan.output_level) for blob in blobs]
    _, plain_outputs = evaluate_plaintext(circuit, data)
    scale = output_scale(rows)
    worst_noise = float(np.max(np.abs(decrypted[0] - plain_outputs[0]))) / scale
    assert worst_noise < 0.01, worst_noise  # in count units: far inside the 0.25 tolerance

    assert decode_counts(decrypted, data.public, rows) == plaintext_counts(data)
    report = decode(decrypted, data.public, rows)
    assert report == reference(data)
    assert report == decode(plain_outputs, data.public, rows)
    print(
        f"\nfairness CKKS: {rows} rows, 3 groups; client keys+encrypt {client_seconds:.2f} s, "
        f"evaluate {evaluator_seconds:.2f} s, max |noise| {worst_noise:.2e}"
    )


def test_ckks_counts_stay_exact_at_the_row_limit() -> None:
    """The output layout keeps counts exact at MAX_FAIRNESS_ROWS (2^25 rows, 5 groups): the
    finalize stage runs on real CKKS on accumulators holding counts of that size (a full 2^25-row
    evaluation would take minutes; the accumulators' own noise is measured above)."""
    groups = 5
    rows = MAX_FAIRNESS_ROWS
    public = {"threshold": 0.1, "groups": [f"g{k}" for k in range(groups)]}
    circuit = FairnessCircuit()
    plan = make_plan(circuit, public, rows=rows)
    assert plan.n_chunks == rows // 4096
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    loaded = load_evaluation_keys(
        plan.profile, keys.evaluation_keys(), required_steps=plan.rotation_steps
    )
    backend = CkksBackend(plan.profile, loaded)
    per_slot = rows // groups // 4096  # each group holds a fifth of the rows
    # count, predicted positives, positives, true positives per slot; levels as evaluate_chunk
    pattern = ((per_slot, 0), (per_slot // 2, 1), (per_slot // 2, 1), (per_slot // 4, 2))
    accumulators = []
    for _ in range(groups):
        for value, level in pattern:
            blob = keys.encrypt(np.full(4096, float(value)), level=level)
            accumulators.append(backend.load(blob, level=level))
    outputs = circuit.finalize(backend, accumulators, public, rows)
    decrypted = keys.decryptor().decrypt(outputs[0].to_bytes(), level=plan.output_level)
    counts = decode_counts([decrypted], public, rows)
    expected = [value * 4096 for value, _ in pattern]
    for group in counts.values():
        assert [
            group.count,
            group.predicted_positives,
            group.positives,
            group.true_positives,
        ] == expected
    blocks = decrypted.reshape(-1, block_width(groups)) / output_scale(rows)
    error = np.abs(blocks[:, : 4 * groups] - np.tile(expected, groups)).max()
    assert error < 0.1, error
    print(f"\nfairness CKKS at {rows} rows, {groups} groups: max count error {error:.3g}")
