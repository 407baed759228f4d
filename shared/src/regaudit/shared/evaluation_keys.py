"""Public CKKS evaluation keys (relinearization and Galois keys): their bytes and digest, their
size limits, rotation-step normalization, and their validated loading for a profile.

Evaluator-safe: nothing here touches a secret key (the client makes the keys with
:class:`regaudit.secretkey.ckks.ClientKeys`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rfc8785

from regaudit.shared._internal import seal
from regaudit.shared.errors import InputError, KeyMaterialError
from regaudit.shared.profiles import ParameterProfile, get_profile

#: Largest serialized (seeded) relinearization key (about 6 MB at N=2^14).
MAX_RELIN_KEY_BYTES = 32 * 1024 * 1024
#: Largest number of Galois (rotation) steps in one evaluation-key set.
MAX_GALOIS_STEPS = 64
#: Largest serialized evaluation-key set, relin + Galois (seeded Galois keys are about 6 MB per
#: step at N=2^14, 1 MB at N=2^13).
MAX_EVALUATION_KEY_BYTES = 512 * 1024 * 1024


#: Room for SEAL's headers around each key and around a key set (bytes).
KEY_HEADER_MARGIN_BYTES = 4096


def max_key_switching_key_bytes(profile: ParameterProfile) -> int:
    """The largest serialized key-switching key (one relinearization key, or the Galois key of
    one step) of ``profile``: SEAL stores one ciphertext per special-prime decomposition
    component -- ``k - 1`` of them for ``k`` primes -- each two polynomials of ``N``
    coefficients x ``k`` primes x 8 bytes, uncompressed and not seeded (the worst a sender can
    legitimately send; a seeded, compressed key is about 40 % of it), plus headers."""
    primes = len(profile.coeff_modulus_bits)
    polynomial = int(profile.poly_modulus_degree) * primes * 8
    return (primes - 1) * 2 * polynomial + KEY_HEADER_MARGIN_BYTES


def max_evaluation_key_bytes(profile: ParameterProfile, steps: int) -> tuple[int, int]:
    """Per-profile caps on an upload of evaluation keys with ``steps`` Galois steps:
    (relinearization key bytes, Galois key bytes), each also bounded by the global caps
    :data:`MAX_RELIN_KEY_BYTES` and :data:`MAX_EVALUATION_KEY_BYTES`."""
    per_key = max_key_switching_key_bytes(profile)
    relin = min(MAX_RELIN_KEY_BYTES, per_key)
    galois = min(MAX_EVALUATION_KEY_BYTES, max(1, steps) * per_key + KEY_HEADER_MARGIN_BYTES)
    return relin, galois


def _sha256(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def normalize_step(step: int, slot_count: int) -> int:
    """A rotation step as a cyclic left rotation in ``0..slot_count-1``."""
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise InputError(f"rotation step must be an integer, got {step!r}", field="galois_steps")
    return int(step) % slot_count


def normalize_steps(steps: Iterable[int], slot_count: int) -> tuple[int, ...]:
    """Sorted, de-duplicated non-zero rotation steps (rotation by 0 needs no key)."""
    normalized = {normalize_step(step, slot_count) for step in steps}
    normalized.discard(0)
    return tuple(sorted(normalized))


@dataclass(frozen=True)
class EvaluationKeys:
    """Public evaluation keys as bytes: SEAL-serialized seeded RelinKeys and GaloisKeys holding
    exactly the rotations in ``galois_steps``."""

    profile_name: str
    relin_keys: bytes
    galois_keys: bytes
    galois_steps: tuple[int, ...]

    @property
    def size_bytes(self) -> int:
        """Bytes of both key sets together."""
        return len(self.relin_keys) + len(self.galois_keys)

    @property
    def digest(self) -> str:
        """SHA-256 over the RFC 8785 canonical JSON of {profile hash, key digests, steps}."""
        return evaluation_keys_digest(
            self.profile_name,
            relin_sha256=_sha256(self.relin_keys),
            galois_sha256=_sha256(self.galois_keys),
            galois_steps=self.galois_steps,
        )


def evaluation_keys_digest(
    profile_name: str, *, relin_sha256: str, galois_sha256: str, galois_steps: Iterable[int]
) -> str:
    """:attr:`EvaluationKeys.digest` from the parts' ``sha256:<hex>`` digests (so a receiver
    can hash the parts as they stream in, without holding them in memory)."""
    document: dict[str, Any] = {
        "profile_hash": get_profile(profile_name).profile_hash,
        "relin_keys": relin_sha256,
        "galois_keys": galois_sha256,
        "galois_steps": sorted(int(s) for s in galois_steps),
    }
    return _sha256(rfc8785.dumps(document))


@dataclass(frozen=True)
class LoadedEvaluationKeys:
    """Evaluation keys parsed and validated for one profile (see :func:`load_evaluation_keys`)."""

    profile: ParameterProfile
    relin: seal.SealRelinKeys
    galois: seal.SealGaloisKeys
    galois_steps: frozenset[int]
    digest: str
    size_bytes: int


def load_evaluation_keys(
    profile: ParameterProfile, keys: EvaluationKeys, *, required_steps: Iterable[int]
) -> LoadedEvaluationKeys:
    """Parse and validate evaluation keys for ``profile``; raises KeyMaterialError."""
    # 1. the keys claim this profile
    if keys.profile_name != profile.name:
        raise KeyMaterialError(
            f"evaluation keys are for profile {keys.profile_name!r}, not {profile.name!r}"
        )
    # 2. size caps before parsing anything
    if len(keys.relin_keys) > MAX_RELIN_KEY_BYTES:
        raise KeyMaterialError(
            f"relinearization key of {len(keys.relin_keys)} bytes exceeds {MAX_RELIN_KEY_BYTES}"
        )
    if keys.size_bytes > MAX_EVALUATION_KEY_BYTES:
        raise KeyMaterialError(
            f"evaluation keys of {keys.size_bytes} bytes exceed {MAX_EVALUATION_KEY_BYTES}"
        )
    if len(keys.galois_steps) > MAX_GALOIS_STEPS:
        raise KeyMaterialError(
            f"{len(keys.galois_steps)} Galois steps exceed the limit of {MAX_GALOIS_STEPS}"
        )
    # 3. declared steps are canonical: distinct, sorted, in 1..slot_count-1
    slots = profile.slot_count
    declared = tuple(keys.galois_steps)
    for step in declared:
        if isinstance(step, bool) or not isinstance(step, int) or not 0 < step < slots:
            raise KeyMaterialError(f"invalid Galois step {step!r} (must be in 1..{slots - 1})")
    if declared != tuple(sorted(set(declared))):
        raise KeyMaterialError("Galois steps must be sorted and distinct")
    # 4. every step the circuit needs is declared
    try:
        required = normalize_steps(required_steps, slots)
    except InputError as exc:
        raise KeyMaterialError(f"invalid required rotation step: {exc.message}") from None
    missing = sorted(set(required) - set(declared))
    if missing:
        raise KeyMaterialError(
            f"evaluation keys lack Galois keys for rotation steps {missing} "
            f"(present: {list(declared)})"
        )
    # 5. SEAL parses both key sets and finds them valid for this profile's context
    sctx = seal.get_context(profile)
    relin = seal.from_bytes(
        seal.new_relin_keys,
        sctx,
        keys.relin_keys,
        what="relinearization keys",
        error=KeyMaterialError,
    )
    if not seal.is_valid_for(relin, sctx) or not relin.has_key(2) or relin.size() != 1:
        raise KeyMaterialError(f"relinearization keys are not valid for profile {profile.name}")
    galois = seal.from_bytes(
        seal.new_galois_keys, sctx, keys.galois_keys, what="Galois keys", error=KeyMaterialError
    )
    if not seal.is_valid_for(galois, sctx):
        raise KeyMaterialError(f"Galois keys are not valid for profile {profile.name}")
    # 6. the Galois keys hold exactly the declared steps (one key per step's Galois element)
    for step in declared:
        if not galois.has_key(sctx.galois_element(step)):
            raise KeyMaterialError(f"Galois keys lack the key for declared rotation step {step}")
    if galois.size() != len(declared):
        raise KeyMaterialError(
            f"Galois keys hold {galois.size()} keys but {len(declared)} steps are declared"
        )
    return LoadedEvaluationKeys(
        profile=profile,
        relin=relin,
        galois=galois,
        galois_steps=frozenset(declared),
        digest=keys.digest,
        size_bytes=keys.size_bytes,
    )


__all__ = [
    "KEY_HEADER_MARGIN_BYTES",
    "MAX_EVALUATION_KEY_BYTES",
    "MAX_GALOIS_STEPS",
    "MAX_RELIN_KEY_BYTES",
    "EvaluationKeys",
    "LoadedEvaluationKeys",
    "evaluation_keys_digest",
    "load_evaluation_keys",
    "max_evaluation_key_bytes",
    "max_key_switching_key_bytes",
    "normalize_step",
    "normalize_steps",
]
