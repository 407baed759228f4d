"""The CKKS backend of the slot-vector algebra (SEAL through ``tenseal.sealapi``), keyless:
validated ciphertexts (:func:`load_ciphertext`) and :class:`CkksBackend`. The evaluation keys
live in :mod:`regaudit.shared.evaluation_keys` and are re-exported here.

Evaluator-safe: nothing here touches a secret key. Level accounting and operation counts are
identical to :class:`regaudit.shared.plaintext.PlaintextBackend`; every ciphertext at level l has
the canonical scale s_l of :mod:`regaudit.shared._internal.seal`, which makes levels and scales
line up without ever setting a scale by hand:

* ``multiply``: ct x ct -> relinearize -> rescale (s_l^2 / q_l = s_{l+1});
* ``multiply_plain``: the public operand is encoded at s_l (not at q_l) -> rescale -> s_{l+1};
* ``add_plain``: the public operand is encoded at s_l, no level;
* ``align``: repeated multiplication by a plaintext of ones encoded at the current scale, each
  followed by a rescale (counted as a ct x pt multiplication, exactly like the plaintext backend).

A public operand that is zero in every slot cannot be multiplied by in SEAL (the product would be
a "transparent" ciphertext, which SEAL refuses); ``multiply_plain`` then multiplies by the
polynomial 1 instead, whose slots are all 1/s_l: the result is zero up to |a| / s_l (about 1e-9
of |a| at scale 2^30), far below the CKKS noise of the following operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from regaudit.shared._internal import seal
from regaudit.shared.algebra import FloatArray, OpCounts, strided_sum
from regaudit.shared.errors import (
    CiphertextError,
    CircuitError,
    DepthExceededError,
    InputError,
    KeyMaterialError,
    ProfileError,
)
from regaudit.shared.evaluation_keys import (
    MAX_EVALUATION_KEY_BYTES,
    MAX_GALOIS_STEPS,
    MAX_RELIN_KEY_BYTES,
    EvaluationKeys,
    LoadedEvaluationKeys,
    evaluation_keys_digest,
    load_evaluation_keys,
    normalize_step,
    normalize_steps,
)
from regaudit.shared.profiles import ParameterProfile

#: Largest serialized ciphertext accepted (a fresh, non-seeded top-level ciphertext at N=2^14 is
#: about 1.45 MB; at N=2^13 about 0.35 MB).
MAX_CIPHERTEXT_BYTES = 4 * 1024 * 1024

# --- ciphertexts ---------------------------------------------------------------------------


class CkksVector:
    """One CKKS ciphertext of ``slot_count`` real slots at a known level (canonical scale)."""

    __slots__ = ("_ciphertext", "_level", "profile")

    def __init__(
        self, profile: ParameterProfile, ciphertext: seal.SealCiphertext, level: int
    ) -> None:
        self.profile = profile
        self._ciphertext = ciphertext
        self._level = level

    @property
    def level(self) -> int:
        """The ciphertext's level (0 = fresh)."""
        return self._level

    @property
    def ciphertext(self) -> seal.SealCiphertext:
        """The underlying ``sealapi.Ciphertext`` (do not mutate)."""
        return self._ciphertext

    @property
    def scale(self) -> float:
        """The ciphertext's scale (the canonical scale of its level)."""
        return float(self._ciphertext.scale)

    def to_bytes(self) -> bytes:
        """SEAL serialization (zstd compressed)."""
        return seal.to_bytes(self._ciphertext)

    def __repr__(self) -> str:
        return f"CkksVector(profile={self.profile.name!r}, level={self._level})"


def load_ciphertext(
    profile: ParameterProfile,
    data: bytes,
    *,
    level: int,
    max_bytes: int = MAX_CIPHERTEXT_BYTES,
) -> CkksVector:
    """Parse and validate an untrusted ciphertext expected at ``level``; raises CiphertextError."""
    sctx = seal.get_context(profile)
    # 1. the expected level exists; the size cap holds before any parsing
    try:
        sctx.check_level(level)
    except ValueError as exc:
        raise CiphertextError(str(exc), field="level") from None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CiphertextError(f"ciphertext must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise CiphertextError(f"ciphertext of {len(data)} bytes exceeds the limit of {max_bytes}")
    # 2. framing check and SEAL load (SEAL's exceptions become "malformed ciphertext: ...")
    ciphertext = seal.from_bytes(
        seal.new_ciphertext, sctx, data, what="ciphertext", error=CiphertextError
    )
    # 3. SEAL's validity check for this profile
    if not seal.is_valid_for(ciphertext, sctx):
        raise CiphertextError(f"ciphertext is not valid for profile {profile.name}")
    # 4. shape: exactly two polynomials in NTT form
    if ciphertext.size() != 2:
        raise CiphertextError(f"ciphertext has {ciphertext.size()} polynomials, expected 2")
    if not ciphertext.is_ntt_form():
        raise CiphertextError("ciphertext is not in NTT form")
    # 5. the exact level
    found = sctx.level_of(ciphertext.parms_id())
    if found != level:
        where = "not a data level" if found is None else f"level {found}"
        raise CiphertextError(f"ciphertext is at {where}, expected level {level}")
    # 6. the canonical scale of that level
    expected = sctx.scales[level]
    if not seal.scale_matches(float(ciphertext.scale), expected):
        raise CiphertextError(
            f"ciphertext scale {float(ciphertext.scale)!r} is not the canonical scale "
            f"{expected!r} of level {level}"
        )
    return CkksVector(profile, ciphertext, level)


def plain_values(profile: ParameterProfile, values: FloatArray | float) -> FloatArray | float:
    """Validate a public operand: a finite float or exactly ``slot_count`` finite floats."""
    if isinstance(values, bool):
        raise InputError("public operand must be a number or an array, not a bool")
    if isinstance(values, int | float | np.integer | np.floating):
        scalar = float(values)
        if not np.isfinite(scalar):
            raise InputError(f"public operand {scalar!r} is not finite")
        return scalar
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (profile.slot_count,):
        raise InputError(
            f"public operand must have {profile.slot_count} slots, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InputError("public operand contains NaN or infinity")
    return array


def _is_zero(values: FloatArray | float) -> bool:
    if isinstance(values, float):
        return values == 0.0
    return not np.any(values)


# --- the backend ---------------------------------------------------------------------------


@dataclass
class _PlainCache:
    """Plaintexts of ones per level, encoded once per backend."""

    ones: dict[int, seal.SealPlaintext] = field(default_factory=dict)


class CkksBackend:
    """SEAL implementation of :class:`regaudit.shared.algebra.SlotBackend` (evaluation keys
    only). Same level accounting and :class:`OpCounts` as the plaintext backend."""

    def __init__(
        self,
        profile: ParameterProfile,
        keys: LoadedEvaluationKeys,
        *,
        max_level: int | None = None,
    ) -> None:
        if keys.profile != profile:
            raise KeyMaterialError(
                f"evaluation keys were loaded for {keys.profile.name}, not {profile.name}"
            )
        if max_level is None:
            max_level = profile.max_depth
        if max_level > profile.max_depth or max_level < 0:
            raise ProfileError(
                f"max_level {max_level} outside 0..{profile.max_depth} of profile {profile.name}"
            )
        self.profile = profile
        self.keys = keys
        self.slot_count = profile.slot_count
        self.slot_sum_radix = profile.slot_sum_radix
        self.max_level = max_level
        self.counts = OpCounts()
        self._sctx = seal.get_context(profile)
        self._evaluator = self._sctx.evaluator
        self._cache = _PlainCache()

    # --- construction -----------------------------------------------------------------------

    def load(self, data: bytes, *, level: int, max_bytes: int = MAX_CIPHERTEXT_BYTES) -> CkksVector:
        """Load and validate an input ciphertext at ``level`` (counted like
        ``PlaintextBackend.vector``)."""
        self._check_level(level)
        return load_ciphertext(self.profile, data, level=level, max_bytes=max_bytes)

    def adopt(self, vector: CkksVector) -> CkksVector:
        """Use an already validated vector as an input (records its level)."""
        if vector.profile != self.profile:
            raise CiphertextError(f"vector is for profile {vector.profile.name}")
        self._check_level(vector.level)
        return vector

    # --- level bookkeeping ------------------------------------------------------------------

    def _check_level(self, level: int) -> None:
        if level > self.max_level:
            raise DepthExceededError(
                f"circuit needs level {level} but only {self.max_level} levels are available"
            )
        self.counts.max_level = max(self.counts.max_level, level)

    def _ones(self, level: int) -> seal.SealPlaintext:
        plain = self._cache.ones.get(level)
        if plain is None:
            plain = self._sctx.encode(1.0, level=level)
            self._cache.ones[level] = plain
        return plain

    def _new(self, ciphertext: seal.SealCiphertext, level: int) -> CkksVector:
        return CkksVector(self.profile, ciphertext, level)

    def _rescaled(self, ciphertext: seal.SealCiphertext) -> seal.SealCiphertext:
        self._evaluator.rescale_to_next_inplace(ciphertext)
        return ciphertext

    # --- operations -------------------------------------------------------------------------

    def align(self, a: CkksVector, level: int) -> CkksVector:
        if level < a.level:
            raise ValueError(f"cannot align a level-{a.level} vector up to level {level}")
        result = a
        while result.level < level:
            self._check_level(result.level + 1)
            self.counts.ct_pt_multiplications += 1
            self.counts.rescales += 1
            out = seal.new_ciphertext()
            self._evaluator.multiply_plain(result.ciphertext, self._ones(result.level), out)
            result = self._new(self._rescaled(out), result.level + 1)
        return result

    def _pair(self, a: CkksVector, b: CkksVector) -> tuple[CkksVector, CkksVector]:
        level = max(a.level, b.level)
        return self.align(a, level), self.align(b, level)

    def add(self, a: CkksVector, b: CkksVector) -> CkksVector:
        a, b = self._pair(a, b)
        self.counts.additions += 1
        out = seal.new_ciphertext()
        self._guard(self._evaluator.add, a.ciphertext, b.ciphertext, out)
        return self._new(out, a.level)

    def sub(self, a: CkksVector, b: CkksVector) -> CkksVector:
        a, b = self._pair(a, b)
        self.counts.additions += 1
        out = seal.new_ciphertext()
        self._guard(self._evaluator.sub, a.ciphertext, b.ciphertext, out)
        return self._new(out, a.level)

    def add_many(self, vectors: Sequence[CkksVector]) -> CkksVector:
        if not vectors:
            raise ValueError("add_many needs at least one vector")
        result = vectors[0]
        for vector in vectors[1:]:
            result = self.add(result, vector)
        return result

    def add_plain(self, a: CkksVector, values: FloatArray | float) -> CkksVector:
        operand = plain_values(self.profile, values)
        self.counts.additions += 1
        if _is_zero(operand):
            return a
        plain = self._sctx.encode(operand, level=a.level)
        out = seal.new_ciphertext()
        self._guard(self._evaluator.add_plain, a.ciphertext, plain, out)
        return self._new(out, a.level)

    def multiply(self, a: CkksVector, b: CkksVector) -> CkksVector:
        same = a is b
        a, b = self._pair(a, b)
        self._check_level(a.level + 1)
        self.counts.ct_ct_multiplications += 1
        self.counts.relinearizations += 1
        self.counts.rescales += 1
        out = seal.new_ciphertext()
        if same:
            self._evaluator.square(a.ciphertext, out)
        else:
            self._evaluator.multiply(a.ciphertext, b.ciphertext, out)
        self._evaluator.relinearize_inplace(out, self.keys.relin)
        return self._new(self._rescaled(out), a.level + 1)

    def square(self, a: CkksVector) -> CkksVector:
        return self.multiply(a, a)

    def multiply_plain(self, a: CkksVector, values: FloatArray | float) -> CkksVector:
        operand = plain_values(self.profile, values)
        self._check_level(a.level + 1)
        self.counts.ct_pt_multiplications += 1
        self.counts.rescales += 1
        if _is_zero(operand):
            plain = self._sctx.unit_plain(level=a.level)
        elif isinstance(operand, float) and operand == 1.0:
            plain = self._ones(a.level)
        else:
            plain = self._sctx.encode(operand, level=a.level)
        out = seal.new_ciphertext()
        self._guard(self._evaluator.multiply_plain, a.ciphertext, plain, out)
        return self._new(self._rescaled(out), a.level + 1)

    def rotate(self, a: CkksVector, steps: int) -> CkksVector:
        steps = normalize_step(steps, self.slot_count)
        if steps == 0:
            return a
        # Only the exact key for this step may be used: SEAL would otherwise silently compose
        # the rotation from other keys, and the counts would no longer match the plan.
        if steps not in self.keys.galois_steps:
            raise KeyMaterialError(
                f"no Galois key for rotation step {steps} "
                f"(evaluation keys hold {sorted(self.keys.galois_steps)})"
            )
        self.counts.rotations += 1
        self.counts.rotation_steps.add(steps)
        out = seal.new_ciphertext()
        self._evaluator.rotate_vector(a.ciphertext, steps, self.keys.galois, out)
        return self._new(out, a.level)

    def slot_sum(self, a: CkksVector, *, width: int | None = None) -> CkksVector:
        return strided_sum(self, a, stride=1, count=width or self.slot_count)

    @staticmethod
    def _guard(operation: Callable[..., None], *args: object) -> None:
        try:
            operation(*args)
        except RuntimeError as exc:
            if "transparent" in str(exc):
                raise CircuitError(
                    "operation cancels to an exactly zero (transparent) ciphertext, e.g. x - x; "
                    "rewrite the circuit without it"
                ) from None
            raise


def sweep_stale_scratch() -> list[str]:
    """Remove the SEAL scratch directories left behind by dead processes (for example
    terminated worker processes); returns the removed paths. Also done automatically whenever a
    process creates its own scratch directory."""
    return seal.sweep_stale_scratch()


def ckks_library_versions() -> dict[str, str]:
    """The CKKS libraries this process computes with: ``tenseal`` (its distribution version)
    and ``seal`` (``"<major>.<minor>"`` from the header SEAL writes on serialization)."""
    from importlib.metadata import PackageNotFoundError, version

    from regaudit.shared.ciphertext_content import seal_serialization_version

    try:
        tenseal = version("tenseal")
    except PackageNotFoundError:  # (an unusual installation: SEAL still says its version)
        tenseal = "unknown"
    return {
        "tenseal": tenseal,
        "seal": seal_serialization_version(seal.to_bytes(seal.new_ciphertext())),
    }


__all__ = [
    "MAX_CIPHERTEXT_BYTES",
    "MAX_EVALUATION_KEY_BYTES",
    "MAX_GALOIS_STEPS",
    "MAX_RELIN_KEY_BYTES",
    "CkksBackend",
    "CkksVector",
    "EvaluationKeys",
    "LoadedEvaluationKeys",
    "ckks_library_versions",
    "evaluation_keys_digest",
    "load_ciphertext",
    "load_evaluation_keys",
    "normalize_step",
    "normalize_steps",
    "plain_values",
    "sweep_stale_scratch",
]
