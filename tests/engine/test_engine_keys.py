"""Evaluation keys (only the requested Galois steps, validated on load) and secret keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from regaudit.secretkey.ckks import (
    ClientKeys,
    SecretKeyDecryptor,
    encrypt_with_secret_key,
)
from regaudit.shared.ckks import (
    CkksBackend,
    EvaluationKeys,
    load_ciphertext,
    load_evaluation_keys,
)
from regaudit.shared.errors import InputError, KeyMaterialError
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

PROFILE = PROFILE_N8192_D3
SLOTS = PROFILE.slot_count


@pytest.fixture(scope="module")
def client() -> ClientKeys:
    return ClientKeys.generate(PROFILE, galois_steps=[1, 2, -1, 0, SLOTS + 2])


def test_steps_are_normalized_and_only_requested(client: ClientKeys) -> None:
    keys = client.evaluation_keys()
    assert keys.galois_steps == (1, 2, SLOTS - 1)  # 0 dropped, SLOTS+2 == 2, -1 == SLOTS-1
    loaded = load_evaluation_keys(PROFILE, keys, required_steps=[1, -1])
    assert loaded.galois_steps == frozenset({1, 2, SLOTS - 1})
    assert loaded.galois.size() == 3


def test_rotation_without_key_raises(client: ClientKeys) -> None:
    loaded = load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=[])
    backend = CkksBackend(PROFILE, loaded)
    vector = backend.load(client.encrypt(np.arange(8.0), level=0), level=0)
    # 4 = 2 + 2 could be composed by SEAL from other keys; the backend refuses it
    for step in (3, 4, 8):
        with pytest.raises(KeyMaterialError, match=f"rotation step {step}"):
            backend.rotate(vector, step)
    with pytest.raises(KeyMaterialError):
        backend.slot_sum(vector, width=8)  # needs step 4
    rotated = backend.rotate(vector, -1)
    values = client.decryptor().decrypt(rotated.to_bytes(), level=0)
    assert values[1] == pytest.approx(0.0, abs=5e-3)
    assert values[2] == pytest.approx(1.0, abs=5e-3)


def test_missing_required_step_raises(client: ClientKeys) -> None:
    with pytest.raises(KeyMaterialError, match=r"rotation steps \[4, 8\]"):
        load_evaluation_keys(PROFILE, client.evaluation_keys(), required_steps=[1, 4, 8])


def test_tampered_key_sets_are_rejected(client: ClientKeys) -> None:
    keys = client.evaluation_keys()
    other = ClientKeys.generate(PROFILE, galois_steps=[1, 2])
    cases = {
        "declared step not present": dataclasses.replace(keys, galois_steps=(1, 2, 3)),
        "undeclared step present": dataclasses.replace(keys, galois_steps=(1, 2)),
        "unsorted steps": dataclasses.replace(keys, galois_steps=(2, 1, SLOTS - 1)),
        "step out of range": dataclasses.replace(keys, galois_steps=(1, 2, SLOTS)),
        "garbage galois": dataclasses.replace(keys, galois_keys=b"\x5e\xa1" + bytes(100)),
        "truncated relin": dataclasses.replace(keys, relin_keys=keys.relin_keys[:-100]),
        "galois as relin": dataclasses.replace(
            keys, relin_keys=other.evaluation_keys().galois_keys
        ),
        "wrong profile name": dataclasses.replace(keys, profile_name=PROFILE_N16384_D6.name),
    }
    for name, tampered in cases.items():
        with pytest.raises(KeyMaterialError):
            load_evaluation_keys(PROFILE, tampered, required_steps=[1])
        assert name  # readable failure context


def test_keys_of_other_profile_are_rejected() -> None:
    other = ClientKeys.generate(PROFILE_N16384_D6, galois_steps=[1])
    keys = dataclasses.replace(other.evaluation_keys(), profile_name=PROFILE.name)
    with pytest.raises(KeyMaterialError):
        load_evaluation_keys(PROFILE, keys, required_steps=[])


def test_digest_binds_profile_keys_and_steps(client: ClientKeys) -> None:
    keys = client.evaluation_keys()
    assert keys.digest.startswith("sha256:") and len(keys.digest) == 71
    assert keys.digest == EvaluationKeys(**dataclasses.asdict(keys)).digest
    assert dataclasses.replace(keys, galois_steps=(1, 2)).digest != keys.digest
    flipped = keys.relin_keys[:-1] + bytes([keys.relin_keys[-1] ^ 1])
    assert dataclasses.replace(keys, relin_keys=flipped).digest != keys.digest


def test_galois_key_sizes_scale_with_steps(record_property: pytest.RecordProperty) -> None:
    sizes = {}
    for count in (0, 1, 4):
        keys = ClientKeys.generate(PROFILE, galois_steps=range(1, count + 1)).evaluation_keys()
        sizes[count] = len(keys.galois_keys)
        record_property("relin_bytes_n8192", len(keys.relin_keys))
        record_property(f"galois_bytes_n8192_{count}_steps", len(keys.galois_keys))
    per_step = sizes[1] - sizes[0]
    assert sizes[0] < 1000
    assert 0.7e6 < per_step < 1.3e6  # one seeded Galois key at N=2^13 is ~0.97 MB
    assert abs(sizes[4] - sizes[0] - 4 * per_step) < 0.05 * per_step


def test_secret_key_round_trip(client: ClientKeys) -> None:
    values = np.random.default_rng(3).uniform(-100, 100, 1000)
    blob = client.encrypt(values, level=1)
    decryptor = SecretKeyDecryptor.from_bytes(PROFILE, client.secret_key_bytes())
    got = decryptor.decrypt(blob, level=1)
    np.testing.assert_allclose(got[:1000], values, atol=1e-3)
    np.testing.assert_allclose(got[1000:], 0.0, atol=1e-3)  # zero padded
    # the worker-process path encrypts under the same key
    blob2 = encrypt_with_secret_key(PROFILE, client.secret_key_bytes(), values, level=2)
    np.testing.assert_allclose(decryptor.decrypt(blob2, level=2)[:1000], values, atol=1e-3)
    blob3 = encrypt_with_secret_key(PROFILE, client.secret_key_bytes(), values, level=2)
    assert blob3 != blob2  # fresh randomness each time


def test_wrong_secret_key_gives_garbage(client: ClientKeys) -> None:
    values = np.ones(SLOTS)
    blob = client.encrypt(values, level=0)
    stranger = ClientKeys.generate(PROFILE, galois_steps=[]).decryptor()
    got = stranger.decrypt(blob, level=0)
    assert np.max(np.abs(got - values)) > 1e3


def test_bad_secret_keys_are_rejected(client: ClientKeys) -> None:
    with pytest.raises(KeyMaterialError):
        SecretKeyDecryptor.from_bytes(PROFILE, b"not a key")
    with pytest.raises(KeyMaterialError):
        SecretKeyDecryptor.from_bytes(PROFILE, client.secret_key_bytes()[:-50])
    with pytest.raises(KeyMaterialError):  # a key of the other profile
        SecretKeyDecryptor.from_bytes(PROFILE_N16384_D6, client.secret_key_bytes())
    with pytest.raises(KeyMaterialError):  # relin keys are not a secret key
        SecretKeyDecryptor.from_bytes(PROFILE, client.evaluation_keys().relin_keys)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1.0, float("nan")], id="nan"),
        pytest.param([float("inf")], id="inf"),
        pytest.param(np.zeros(SLOTS + 1), id="too-many"),
        pytest.param(np.zeros((2, 2)), id="2d"),
        pytest.param(["a"], id="text"),
        pytest.param([1e50], id="too-large"),
    ],
)
def test_encrypt_rejects_bad_values(client: ClientKeys, values: object) -> None:
    with pytest.raises(InputError):
        client.encrypt(values, level=0)  # type: ignore[arg-type]


def test_decrypt_checks_level(client: ClientKeys) -> None:
    blob = client.encrypt([1.0], level=2)
    assert load_ciphertext(PROFILE, blob, level=2).level == 2
    from regaudit.shared.errors import CiphertextError

    with pytest.raises(CiphertextError, match="expected level 3"):
        client.decryptor().decrypt(blob, level=3)
