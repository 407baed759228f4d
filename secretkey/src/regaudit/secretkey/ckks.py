"""CKKS secret-key operations: key generation, symmetric encryption, decryption.

Part of the ``regaudit-secretkey`` distribution, which only the client and the regulator install;
the evaluator's environment does not contain it (import-linter contracts and a packaging test
hold this, and the evaluator refuses to run if any ``regaudit.secretkey`` module is loaded). No
public key is ever created: the client encrypts with the secret key (SEAL's seeded symmetric
ciphertexts, half the bytes), and the evaluator only ever sees the relinearization key and the
Galois keys of the rotation steps the circuit needs.

The serialized secret key never touches a named file: it passes through an anonymous in-memory
file (memfd), see :mod:`regaudit.secretkey._internal.seal`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from regaudit.secretkey._internal import seal as sk_seal
from regaudit.shared._internal import seal
from regaudit.shared.algebra import FloatArray
from regaudit.shared.ckks import load_ciphertext
from regaudit.shared.errors import InputError, KeyMaterialError
from regaudit.shared.evaluation_keys import EvaluationKeys, normalize_steps
from regaudit.shared.profiles import ParameterProfile

#: Largest serialized secret key accepted (about 0.2 MB at N=2^14 with zstd).
MAX_SECRET_KEY_BYTES = 4 * 1024 * 1024
#: Loaded secret keys kept per worker process by :func:`encrypt_with_secret_key`.
SECRET_KEY_CACHE_SIZE = 4


def _encode_input(
    sctx: seal.SealContext, values: FloatArray | Sequence[float], *, level: int
) -> seal.SealPlaintext:
    """Validate client values and encode them at ``level`` and its canonical scale."""
    try:
        sctx.check_level(level)
    except ValueError as exc:
        raise InputError(str(exc), field="level") from None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"values are not numbers: {exc}") from None
    if array.ndim != 1:
        raise InputError(f"values must be one-dimensional, got shape {array.shape}")
    slots = sctx.profile.slot_count
    if array.shape[0] > slots:
        raise InputError(f"{array.shape[0]} values do not fit {slots} slots")
    if not np.all(np.isfinite(array)):
        raise InputError("values contain NaN or infinity")
    padded = np.zeros(slots, dtype=np.float64)
    padded[: array.shape[0]] = array
    try:
        return sctx.encode(padded, level=level)
    except ValueError as exc:  # e.g. "encoded values are too large"
        raise InputError(f"values cannot be encoded at level {level}: {exc}") from None


def _encrypt(
    sctx: seal.SealContext,
    encryptor: sk_seal.SealEncryptor,
    values: FloatArray | Sequence[float],
    *,
    level: int,
) -> bytes:
    """Seeded symmetric encryption of ``values`` at ``level``, serialized."""
    plain = _encode_input(sctx, values, level=level)
    return seal.to_bytes(encryptor.encrypt_symmetric(plain))


def _load_secret_key(profile: ParameterProfile, data: bytes) -> sk_seal.SealSecretKey:
    """Parse and validate a SEAL secret key for ``profile``; raises KeyMaterialError."""
    if not isinstance(data, bytes | bytearray):
        raise KeyMaterialError(f"secret key must be bytes, got {type(data).__name__}")
    if len(data) > MAX_SECRET_KEY_BYTES:
        raise KeyMaterialError(f"secret key of {len(data)} bytes exceeds {MAX_SECRET_KEY_BYTES}")
    sctx = seal.get_context(profile)
    key = sk_seal.secret_key_from_bytes(sctx, bytes(data))
    if not seal.is_valid_for(key, sctx):
        raise KeyMaterialError(f"secret key is not valid for profile {profile.name}")
    return key


class ClientKeys:
    """A fresh CKKS secret key with the evaluation keys made from it."""

    def __init__(
        self,
        profile: ParameterProfile,
        secret_key: sk_seal.SealSecretKey,
        *,
        relin_keys: bytes,
        galois_keys: bytes,
        galois_steps: tuple[int, ...],
    ) -> None:
        self.profile = profile
        self._secret_key = secret_key
        self._sctx = seal.get_context(profile)
        self._encryptor = sk_seal.new_encryptor(self._sctx, secret_key)
        self._evaluation_keys = EvaluationKeys(
            profile_name=profile.name,
            relin_keys=relin_keys,
            galois_keys=galois_keys,
            galois_steps=galois_steps,
        )

    @classmethod
    def generate(cls, profile: ParameterProfile, *, galois_steps: Iterable[int]) -> ClientKeys:
        """New secret key; seeded relin keys and Galois keys for exactly ``galois_steps``
        (normalized to 1..slot_count-1; step 0 needs no key)."""
        steps = normalize_steps(galois_steps, profile.slot_count)
        sctx = seal.get_context(profile)
        generator = sk_seal.new_key_generator(sctx)
        relin = seal.to_bytes(generator.create_relin_keys())
        # Passing Galois *elements* (not steps) selects the element overload unambiguously.
        elements = [sctx.galois_element(step) for step in steps]
        galois = seal.to_bytes(generator.create_galois_keys(elements))
        return cls(
            profile,
            generator.secret_key(),
            relin_keys=relin,
            galois_keys=galois,
            galois_steps=steps,
        )

    @classmethod
    def restore(
        cls, profile: ParameterProfile, secret_key: bytes, evaluation_keys: EvaluationKeys
    ) -> ClientKeys:
        """The keys of an interrupted audit, from its serialized secret key and the evaluation
        keys made from it (the client's resume journal); KeyMaterialError if the key is not
        valid for ``profile`` or the evaluation keys are of another profile."""
        if evaluation_keys.profile_name != profile.name:
            raise KeyMaterialError(
                f"evaluation keys of profile {evaluation_keys.profile_name}, not {profile.name}"
            )
        return cls(
            profile,
            _load_secret_key(profile, secret_key),
            relin_keys=evaluation_keys.relin_keys,
            galois_keys=evaluation_keys.galois_keys,
            galois_steps=evaluation_keys.galois_steps,
        )

    def evaluation_keys(self) -> EvaluationKeys:
        """The public evaluation keys made from this secret key."""
        return self._evaluation_keys

    def encrypt(self, values: FloatArray | Sequence[float], *, level: int) -> bytes:
        """Seeded symmetric encryption at ``level`` (canonical scale); values are zero padded."""
        return _encrypt(self._sctx, self._encryptor, values, level=level)

    def secret_key_bytes(self) -> bytes:
        """The SEAL-serialized secret key (seal it before it leaves the process)."""
        return sk_seal.secret_key_to_bytes(self._secret_key)

    def decryptor(self) -> SecretKeyDecryptor:
        """A decryptor with this secret key."""
        return SecretKeyDecryptor(self.profile, self._secret_key)


_cache_lock = threading.Lock()
_encryptors: OrderedDict[tuple[str, str], sk_seal.SealEncryptor] = OrderedDict()


def encrypt_with_secret_key(
    profile: ParameterProfile,
    secret_key: bytes,
    values: FloatArray | Sequence[float],
    *,
    level: int,
) -> bytes:
    """Encrypt like :meth:`ClientKeys.encrypt` from a serialized secret key (worker processes).
    The loaded key is cached per process."""
    cache_key = (profile.profile_hash, hashlib.sha256(secret_key).hexdigest())
    with _cache_lock:
        encryptor = _encryptors.get(cache_key)
        if encryptor is not None:
            _encryptors.move_to_end(cache_key)
    if encryptor is None:
        key = _load_secret_key(profile, secret_key)
        encryptor = sk_seal.new_encryptor(seal.get_context(profile), key)
        with _cache_lock:
            _encryptors[cache_key] = encryptor
            while len(_encryptors) > SECRET_KEY_CACHE_SIZE:
                _encryptors.popitem(last=False)
    return _encrypt(seal.get_context(profile), encryptor, values, level=level)


class SecretKeyDecryptor:
    """Decrypts validated ciphertexts with a CKKS secret key (regulator side)."""

    def __init__(self, profile: ParameterProfile, secret_key: sk_seal.SealSecretKey) -> None:
        self.profile = profile
        self._sctx = seal.get_context(profile)
        self._decryptor = sk_seal.new_decryptor(self._sctx, secret_key)

    @classmethod
    def from_bytes(cls, profile: ParameterProfile, data: bytes) -> SecretKeyDecryptor:
        """Load a serialized secret key; KeyMaterialError if it is not valid for ``profile``."""
        return cls(profile, _load_secret_key(profile, data))

    def decrypt(self, ciphertext: bytes, *, level: int) -> FloatArray:
        """Validate (see :func:`regaudit.shared.ckks.load_ciphertext`), decrypt, decode."""
        vector = load_ciphertext(self.profile, ciphertext, level=level)
        plain = sk_seal.new_plaintext()
        self._decryptor.decrypt(vector.ciphertext, plain)
        return np.asarray(self._sctx.encoder.decode_double(plain), dtype=np.float64)


__all__ = [
    "MAX_SECRET_KEY_BYTES",
    "SECRET_KEY_CACHE_SIZE",
    "ClientKeys",
    "SecretKeyDecryptor",
    "encrypt_with_secret_key",
]
