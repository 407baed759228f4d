"""The concordance circuit on real CKKS (SEAL, ckks-n16384-d6-v1, depth 4): 300 tie-heavy
patients encrypted per patient by the client at the planned level, evaluated with evaluation
keys only (exactly the planned rotation steps), decrypted with the secret key. Every decoded
count equals the exact count; the decrypted slots lie far inside the quarter-count tolerance."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored
from support.ckks_run import evaluate_keylessly

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.planning import make_plan
from regaudit.shared.primitives.concordance.circuit import ConcordanceCircuit
from regaudit.shared.primitives.concordance.inputs import parse
from regaudit.shared.primitives.concordance.layout import COUNT_TOLERANCE, output_scale
from regaudit.shared.primitives.concordance.report import decode
from regaudit.shared.profiles import PROFILE_N16384_D6


@pytest.mark.depth6
def test_ckks_run_gives_the_exact_counts() -> None:
    rng = np.random.default_rng(2026)
    n = 300
    time_values = rng.exponential(10.0, n).round(0)  # tied times
    event = (rng.random(n) < 0.3).astype(int)
    risk = (-0.1 * time_values + rng.normal(0.0, 1.0, n)).round(1)  # tied risks
    data = parse({"risk": risk, "time": time_values, "event": event})
    circuit = ConcordanceCircuit()
    plan = make_plan(circuit, data.public, rows=data.rows)
    assert plan.profile == PROFILE_N16384_D6 and plan.depth == 4 and plan.n_chunks == 1

    started = time.perf_counter()
    keys = ClientKeys.generate(plan.profile, galois_steps=plan.rotation_steps)
    uploads = [
        {name: keys.encrypt(values, level=plan.input_level) for name, values in chunk.items()}
        for chunk in data.iter_chunks(plan.chunk_rows)
    ]
    client_seconds = time.perf_counter() - started

    started = time.perf_counter()
    outputs, backend = evaluate_keylessly(circuit, plan, keys, uploads, data.public, data.rows)
    evaluator_seconds = time.perf_counter() - started
    assert [o.level for o in outputs] == [plan.output_level] * 4
    assert backend.counts.ct_ct_multiplications == plan.counts.ct_ct_multiplications - 1
    assert backend.counts.rotations == plan.counts.rotations - 19  # minus the canary's sum

    decryptor = keys.decryptor()
    decrypted = [decryptor.decrypt(o.to_bytes(), level=plan.output_level) for o in outputs]
    mu = output_scale(n)
    distance = max(
        float(np.abs(np.asarray(v) / mu - np.rint(np.mean(np.asarray(v) / mu))).max())
        for v in decrypted
    )
    assert distance < COUNT_TOLERANCE / 10
    report = decode(decrypted, data.public, data.rows)
    ref = concordance_index_censored(event.astype(bool), time_values, risk)
    assert report["comparable_pairs"] == ref[1] + ref[2] + ref[3]
    assert report["concordant_pairs"] == ref[1] + 0.5 * ref[3]
    assert report["tied_risk_pairs"] == ref[3] > 0
    assert report["c_index"] == pytest.approx(ref[0], abs=1e-15)
    print(
        f"\nconcordance CKKS: {n} patients, {len(plan.columns)} ciphertexts; client "
        f"{client_seconds:.2f} s, evaluate {evaluator_seconds:.2f} s, largest distance to an "
        f"integer {distance:.1e} counts, C {report['c_index']:.6f} (exact)"
    )
