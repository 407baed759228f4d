"""The depth-6 profile: a six-multiplication chain matches the oracle; a seventh is refused;
radix-4 slot sums run with the power-of-four Galois keys only."""

from __future__ import annotations

import numpy as np
import pytest

from regaudit.secretkey.ckks import ClientKeys
from regaudit.shared.algebra import rotate_composed, slot_sum_steps, strided_sum
from regaudit.shared.ckks import CkksBackend, load_evaluation_keys
from regaudit.shared.errors import DepthExceededError
from regaudit.shared.plaintext import PlaintextBackend
from regaudit.shared.profiles import PROFILE_N16384_D6

PROFILE = PROFILE_N16384_D6


@pytest.mark.depth6
def test_depth_six_chain_then_depth_exceeded() -> None:
    client = ClientKeys.generate(PROFILE, galois_steps=[1])
    keys = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=[1])
    ckks = CkksBackend(PROFILE, keys)
    plain = PlaintextBackend(PROFILE.slot_count, max_level=PROFILE.max_depth)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 1.0, PROFILE.slot_count)
    c = rng.uniform(-1.0, 1.0, PROFILE.slot_count)
    ex = ckks.load(client.encrypt(x, level=0), level=0)
    px = plain.vector(x, level=0)

    results = []
    for backend, vector in ((ckks, ex), (plain, px)):
        r = vector
        for i in range(PROFILE.max_depth):
            # alternate ct x ct (with the level-0 input aligned up) and ct x pt
            r = backend.multiply(r, vector) if i % 2 == 0 else backend.multiply_plain(r, c)
        r = backend.rotate(r, 1)
        assert r.level == PROFILE.max_depth
        with pytest.raises(DepthExceededError):
            backend.multiply(r, r)
        with pytest.raises(DepthExceededError):
            backend.align(r, PROFILE.max_depth + 1)
        results.append(r)

    assert ckks.counts.to_dict() == plain.counts.to_dict()
    got = client.decryptor().decrypt(results[0].to_bytes(), level=PROFILE.max_depth)
    np.testing.assert_allclose(got, results[1].values, atol=1e-5)


@pytest.mark.depth6
def test_radix4_sums_and_composed_rotations_with_power_of_four_keys_only() -> None:
    """At ckks-n16384-d6-v1 the keys for 1, 4, ..., 4096 (7 keys) serve a full slot sum, a
    strided sum and a right shift; CKKS counts equal the plaintext plan's."""
    steps = slot_sum_steps(PROFILE.slot_count, PROFILE.slot_sum_radix)
    assert steps == [4**k for k in range(7)]
    client = ClientKeys.generate(PROFILE, galois_steps=steps)
    keys = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=steps)
    ckks = CkksBackend(PROFILE, keys)
    plain = PlaintextBackend(PROFILE.slot_count, max_level=PROFILE.max_depth)
    x = np.random.default_rng(4).uniform(-1.0, 1.0, PROFILE.slot_count)
    outputs = []
    for backend, vector in (
        (ckks, ckks.load(client.encrypt(x, level=4), level=4)),
        (plain, plain.vector(x, level=4)),
    ):
        total = backend.slot_sum(vector)
        blocks = strided_sum(backend, backend.slot_sum(vector, width=8), stride=8, count=1024)
        shifted = rotate_composed(backend, vector, -15)
        outputs.append([total, blocks, shifted])
    assert ckks.counts.to_dict() == plain.counts.to_dict()
    assert ckks.counts.rotation_steps == set(steps)
    decryptor = client.decryptor()
    for got, want in zip(outputs[0], outputs[1], strict=True):
        values = decryptor.decrypt(got.to_bytes(), level=4)
        np.testing.assert_allclose(values, want.values, atol=2e-4)
    np.testing.assert_allclose(outputs[1][0].values, x.sum())
    np.testing.assert_allclose(outputs[1][2].values, np.roll(x, 15))
