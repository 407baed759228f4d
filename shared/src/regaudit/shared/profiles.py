"""Named, versioned CKKS parameter profiles.

A profile fixes everything that determines the CKKS ring and modulus chain: the polynomial
modulus degree N, the bit sizes of the coefficient-modulus primes and the encoding scale. Its
``profile_hash`` (SHA-256 over the RFC 8785 canonical JSON of those fields) is what receipts,
submission statements and trust stores bind to.

Why these numbers (SEAL's HE-standard table, 128-bit classical security, ternary secret):

* ``ckks-n8192-d3-v1`` -- N = 2^13 allows at most 218 bits of total modulus. Primes
  60 + 30 + 30 + 30 + 60 = 210 bits. The first 60-bit prime holds the final result; the three
  30-bit primes are consumed by three rescales (depth 3); the last 60-bit prime is the special
  (key-switching) prime and must be at least as large as any data prime. Scale 2^30 equals the
  middle primes so rescaling keeps the scale near 2^30, and leaves 60 - 30 = 30 bits of integer
  headroom at the last level: exact counts up to 2^28 rows. Slots: N/2 = 4096.
* ``ckks-n16384-d6-v1`` -- N = 2^14 allows at most 438 bits. Primes 60 + 6 x 40 + 60 = 360
  bits: six 40-bit rescale primes give the depth budget of 6 (MAX_DEPTH_BUDGET) with about 1e-8
  precision; scale 2^40 matches them. Only 20 bits of headroom at the last level, so circuits
  whose outputs can exceed 2^18 in magnitude must not use it (the planner checks). Slots 8192.

``slot_sum_radix`` r: circuits rotate only by powers of r (slot sums are radix-r trees, other
rotations are composed from those keys; see :mod:`regaudit.shared.algebra`). A seeded Galois key
is as large as the relinearization key, so r trades key bytes on the wire against rotations: at
N = 2^14 (6 MB per key) r = 4 needs 7 keys (1, 4, ..., 4096: 48 MB with the relin key) instead
of 13 (84 MB) for about 19 instead of 13 rotations per full slot sum; at N = 2^13 (about 1 MB
per key) r = 2 keeps rotations minimal. It is part of the profile hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785

from regaudit.shared.errors import ProfileError

#: The multiplicative depth budget. No circuit may plan or run beyond it.
MAX_DEPTH_BUDGET = 6


@dataclass(frozen=True)
class ParameterProfile:
    """One CKKS parameter set. Immutable; identified by ``name`` and ``profile_hash``."""

    name: str
    version: int
    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    security_bits: int = 128
    #: radix of slot sums: rotations use only the Galois steps slot_sum_radix^k
    slot_sum_radix: int = 2

    @property
    def max_depth(self) -> int:
        """Number of rescales the modulus chain allows (data primes minus the first)."""
        return len(self.coeff_modulus_bits) - 2

    @property
    def slot_count(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def headroom_bits(self) -> int:
        """Bits of integer magnitude available at the last level (first prime minus scale)."""
        return self.coeff_modulus_bits[0] - self.scale_bits

    @property
    def max_output_magnitude(self) -> float:
        """Largest |value| that can safely be decrypted at the last level (one bit of margin
        for the sign and one for noise)."""
        return float(2 ** (self.headroom_bits - 2))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "scheme": "CKKS",
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_modulus_bits": list(self.coeff_modulus_bits),
            "scale_bits": self.scale_bits,
            "security_bits": self.security_bits,
            "slot_sum_radix": self.slot_sum_radix,
        }

    @property
    def profile_hash(self) -> str:
        digest = hashlib.sha256(rfc8785.dumps(self.describe())).hexdigest()
        return f"sha256:{digest}"


PROFILE_N8192_D3 = ParameterProfile(
    name="ckks-n8192-d3-v1",
    version=1,
    poly_modulus_degree=8192,
    coeff_modulus_bits=(60, 30, 30, 30, 60),
    scale_bits=30,
)

PROFILE_N16384_D6 = ParameterProfile(
    name="ckks-n16384-d6-v1",
    version=1,
    poly_modulus_degree=16384,
    coeff_modulus_bits=(60, 40, 40, 40, 40, 40, 40, 60),
    scale_bits=40,
    slot_sum_radix=4,
)

#: All profiles, smallest first (the planner walks this order).
PROFILES: tuple[ParameterProfile, ...] = (PROFILE_N8192_D3, PROFILE_N16384_D6)


def get_profile(name: str) -> ParameterProfile:
    """Look a profile up by name; raises ProfileError for unknown names."""
    for profile in PROFILES:
        if profile.name == name:
            return profile
    known = ", ".join(p.name for p in PROFILES)
    raise ProfileError(f"unknown parameter profile {name!r} (known: {known})", field="profile")


def slot_sum_radix_for(slot_count: int) -> int:
    """The slot-sum radix of the profile with ``slot_count`` slots (2 if there is none)."""
    for profile in PROFILES:
        if profile.slot_count == slot_count:
            return profile.slot_sum_radix
    return 2


def choose_profile(
    *, depth: int, max_output_magnitude: float, min_scale_bits: int = 0
) -> ParameterProfile:
    """The smallest profile whose depth, last-level headroom and precision (scale) fit a
    circuit."""
    if depth > MAX_DEPTH_BUDGET:
        raise ProfileError(f"circuit depth {depth} exceeds the budget of {MAX_DEPTH_BUDGET}")
    for profile in PROFILES:
        if (
            profile.max_depth >= depth
            and profile.max_output_magnitude >= max_output_magnitude
            and profile.scale_bits >= min_scale_bits
        ):
            return profile
    raise ProfileError(
        f"no profile fits depth {depth} with outputs up to {max_output_magnitude:g}"
        f" and a scale of at least 2^{min_scale_bits}"
    )


__all__ = [
    "MAX_DEPTH_BUDGET",
    "PROFILES",
    "PROFILE_N8192_D3",
    "PROFILE_N16384_D6",
    "ParameterProfile",
    "choose_profile",
    "get_profile",
    "slot_sum_radix_for",
]
