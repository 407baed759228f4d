"""Evaluation keys inside a worker process: loaded once per process and cached by digest.

A local worker loads keys from the daemon's store (:func:`loaded_keys`). A Dask worker cannot
read the daemon's disk: its keys arrive once through ``Client.run(install_keys)`` and stay in a
module-level cache keyed by digest (:func:`shipped_loaded_keys`); a task whose keys are not
cached raises :class:`KeysNotCachedError` so the daemon ships them and retries, never per task.
Loaded keys stay public material: no function here touches a secret key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from regaudit.evaluator.tasks import KeyFiles, KeyPayload
from regaudit.shared.custody import assert_no_secret_key_code
from regaudit.shared.errors import EXIT_USAGE, KeyMaterialError, RegauditError

if TYPE_CHECKING:
    from regaudit.shared.ckks import EvaluationKeys, LoadedEvaluationKeys

#: Evaluation keys kept per worker process (each set can be tens of MB).
KEY_CACHE_SIZE = 2
#: Shipped (serialized) evaluation key sets kept per Dask worker.
SHIPPED_KEY_CACHE_SIZE = 4
#: Reason of the error a Dask task raises when its evaluation keys are not on its worker.
REASON_KEYS_NOT_CACHED = "evaluation_keys_not_cached"

#: digest -> evaluation keys loaded (parsed by SEAL) in this process
_KEY_CACHE: dict[str, LoadedEvaluationKeys] = {}
#: digest -> serialized EvaluationKeys shipped to this (Dask) worker process
_SHIPPED_KEYS: dict[str, EvaluationKeys] = {}
#: digest -> how many times keys with that digest were shipped to this process
_SHIP_COUNTS: dict[str, int] = {}


class KeysNotCachedError(RegauditError):
    """A Dask task found that its evaluation keys were never shipped to (or were evicted from)
    its worker; the daemon ships them and retries."""

    reason = REASON_KEYS_NOT_CACHED
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


def _remember(digest: str, loaded: LoadedEvaluationKeys) -> LoadedEvaluationKeys:
    while len(_KEY_CACHE) >= KEY_CACHE_SIZE:
        _KEY_CACHE.pop(next(iter(_KEY_CACHE)))
    _KEY_CACHE[digest] = loaded
    return loaded


def loaded_keys(files: KeyFiles) -> LoadedEvaluationKeys:
    """The keys stored in ``files``, loaded (from this process's cache once loaded); raises
    KeyMaterialError if the files do not match their digest."""
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    cached = _KEY_CACHE.get(files.digest)
    if cached is not None:
        return cached
    profile = get_profile(files.profile_name)
    keys = ckks.EvaluationKeys(
        profile_name=files.profile_name,
        relin_keys=Path(files.relin_path).read_bytes(),
        galois_keys=Path(files.galois_path).read_bytes(),
        galois_steps=files.galois_steps,
    )
    if keys.digest != files.digest:
        raise KeyMaterialError("stored evaluation keys do not match their digest")
    return _remember(files.digest, ckks.load_evaluation_keys(profile, keys, required_steps=()))


def shipped_loaded_keys(digest: str, profile_name: str) -> LoadedEvaluationKeys:
    """Loaded keys for ``digest`` from this process's shipped-key cache; KeysNotCachedError if
    they were never shipped here (a new or restarted worker) or were evicted."""
    from regaudit.shared import ckks
    from regaudit.shared.profiles import get_profile

    cached = _KEY_CACHE.get(digest)
    if cached is not None:
        return cached
    keys = _SHIPPED_KEYS.get(digest)
    if keys is None:
        raise KeysNotCachedError(
            f"evaluation keys {digest} are not cached on worker {_worker_name()}",
            field="keys_digest",
        )
    if keys.profile_name != profile_name:
        raise KeyMaterialError(f"evaluation keys {digest} are for {keys.profile_name}")
    loaded = ckks.load_evaluation_keys(get_profile(profile_name), keys, required_steps=())
    return _remember(digest, loaded)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def install_keys(payload: KeyPayload) -> str:
    """Cache shipped evaluation keys in this worker process (run through ``Client.run``).

    Steps: 1. rebuild the EvaluationKeys and check the digest; 2. cache them (bounded, oldest
    out); 3. count the shipment (``key_ship_counts``). SEAL loading happens on first use.
    """
    assert_no_secret_key_code()
    from regaudit.shared import ckks

    # 1. digest
    keys = ckks.EvaluationKeys(
        profile_name=payload.profile_name,
        relin_keys=payload.relin_keys,
        galois_keys=payload.galois_keys,
        galois_steps=payload.galois_steps,
    )
    if keys.digest != payload.digest:
        raise KeyMaterialError("shipped evaluation keys do not match their digest")
    # 2. cache
    if payload.digest not in _SHIPPED_KEYS:
        while len(_SHIPPED_KEYS) >= SHIPPED_KEY_CACHE_SIZE:
            evicted = next(iter(_SHIPPED_KEYS))
            _SHIPPED_KEYS.pop(evicted)
            _KEY_CACHE.pop(evicted, None)
    _SHIPPED_KEYS[payload.digest] = keys
    # 3. count
    _SHIP_COUNTS[payload.digest] = _SHIP_COUNTS.get(payload.digest, 0) + 1
    return payload.digest


def drop_keys(digest: str) -> bool:
    """Forget the evaluation keys ``digest`` in this worker process (shipped bytes and loaded
    keys; run through ``Client.run`` when the daemon deleted them). Returns whether any were
    held."""
    held = _SHIPPED_KEYS.pop(digest, None) is not None
    return _KEY_CACHE.pop(digest, None) is not None or held


def has_keys(digest: str) -> bool:
    """Whether this worker process has the shipped keys ``digest`` cached."""
    return digest in _SHIPPED_KEYS


def key_ship_counts() -> dict[str, int]:
    """How many times each key digest was shipped to this worker process."""
    return dict(_SHIP_COUNTS)


__all__ = [
    "KEY_CACHE_SIZE",
    "REASON_KEYS_NOT_CACHED",
    "SHIPPED_KEY_CACHE_SIZE",
    "KeysNotCachedError",
    "drop_keys",
    "has_keys",
    "install_keys",
    "key_ship_counts",
    "loaded_keys",
    "shipped_loaded_keys",
]
