"""The concordance circuit on real CKKS (SEAL, ckks-n16384-d6-v1, depth 6): 128 patients =
8,128 pair slots in one chunk, encrypted by the client at the planned level, evaluated with
evaluation keys only (exactly the planned rotation steps), decrypted with the secret key. The
decoded aggregates equal the plaintext run of the same circuit up to CKKS noise."""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.ckks_run import evaluate_keylessly

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.reference import reference
from regaudit.shared.primitives.concordance.report import (
    CKKS_NOISE_PER_PAIR,
    decode,
    decode_outputs,
)
from regaudit.shared.profiles import PROFILE_N16384_D6


@pytest.mark.depth6
def test_ckks_run_equals_plaintext_run() -> None:
    rng = np.random.default_rng(2026)
    n = 128
    time_values = rng.exponential(10.0, n).round(1)
    event = (rng.random(n) < 0.6).astype(int)
    risk = -0.1 * time_values + rng.normal(0.0, 1.0, n)
    risk[:8] = risk[8:16]  # some exact risk ties
    data = parse({"risk": risk.tolist(), "time": time_values.tolist(), "event": event.tolist()})
    circuit = ConcordanceCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    assert plan.profile == PROFILE_N16384_D6 and plan.depth == 6 and plan.n_chunks == 1

    # client: keys with exactly the planned steps, encryption at the planned input level
    started = time.perf_counter()
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    uploads = [
        {name: keys.encrypt(values, level=plan.input_level) for name, values in chunk.items()}
        for chunk in data.iter_chunks(plan.chunk_rows)
    ]
    client_seconds = time.perf_counter() - started

    # evaluator: keyless, every ciphertext validated on load
    started = time.perf_counter()
    outputs, backend = evaluate_keylessly(circuit, plan, keys, uploads, data.public, data.rows)
    evaluator_seconds = time.perf_counter() - started
    assert [o.level for o in outputs] == [plan.output_level] * 2
    # the CKKS run used exactly the planned work (minus the canary, run elsewhere)
    assert backend.counts.ct_ct_multiplications == plan.counts.ct_ct_multiplications - 1
    # two full radix-4 slot sums of 6 x 3 + 1 rotations (the canary's third is not run here)
    assert backend.counts.rotations == 2 * 19 == plan.counts.rotations - 19

    # regulator: decrypt, decode
    decryptor = keys.decryptor()
    decrypted = [decryptor.decrypt(o.to_bytes(), level=plan.output_level) for o in outputs]
    _, plain = evaluate_plaintext(circuit, data)
    enc = decode_outputs(decrypted, data.public, data.rows)
    ref = decode_outputs(plain, data.public, data.rows)
    for got, want in zip(enc[:2], ref[:2], strict=True):
        assert abs(got - want) <= CKKS_NOISE_PER_PAIR * data.rows
    report = decode(decrypted, data.public, data.rows)
    plain_report = decode(plain, data.public, data.rows)
    delta_ckks = abs(report["c_index"] - plain_report["c_index"])
    assert delta_ckks < 1e-5
    assert report["c_index_noise"] >= delta_ckks
    exact = reference(data)
    assert abs(report["c_index"] - exact["c_index"]) <= report["c_index_error_bound"]
    print(
        f"\nconcordance CKKS: {n} patients, {data.rows} pairs; client {client_seconds:.2f} s, "
        f"evaluate {evaluator_seconds:.2f} s, |C_ckks - C_plain| {delta_ckks:.2e}, "
        f"C {report['c_index']:.6f} vs exact {exact['c_index']:.6f}"
    )
