"""Hazardous SEAL internals (``tenseal.sealapi``). Not public API; public-key-free and
secret-key-free: everything that touches a CKKS secret key lives in the ``regaudit-secretkey``
distribution (:mod:`regaudit.secretkey._internal.seal`), which the evaluator does not install.

Only this module and :mod:`regaudit.secretkey._internal.seal` import ``tenseal.sealapi``. It
provides:

* one cached :class:`SealContext` per :class:`ParameterProfile` (SEAL enforces 128-bit security
  with ``SEC_LEVEL_TYPE.TC128``; the modulus chain is expanded),
* the level <-> ``parms_id`` map (level 0 = ``context.first_parms_id()``, each level one
  rescale deeper) and the primes of every level,
* the **canonical scale** of every level: ``s_0 = 2^scale_bits`` and
  ``s_{l+1} = s_l * s_l / q_l`` where ``q_l`` is the prime dropped by the rescale from level l.
  Every ciphertext at level l has scale exactly ``s_l``: a ct x ct product (scale s_l^2) and a
  ct x pt product with the plaintext encoded at s_l (scale s_l^2) both rescale to exactly
  ``s_{l+1}`` with SEAL's own double arithmetic, so levels and scales always line up and no
  scale is ever set by hand,
* bytes <-> SEAL object (de)serialization of *public* objects (ciphertexts, plaintexts,
  evaluation keys). SEAL's ``save``/``load`` take file paths, so the bytes pass through a
  private (0700) per-process directory ``regaudit-seal-<pid>-*`` on a RAM-backed file system
  (``/dev/shm``, else the temp dir) under unique names that are removed immediately. A process
  killed before its ``atexit`` clean-up leaves its directory behind; the next process that
  creates its own scratch directory sweeps every such directory whose owning pid is dead
  (:func:`sweep_stale_scratch`). The secret key never uses this path (memfd only).
  SEAL's default compression (zstd) is kept.
  Before SEAL parses anything, :func:`check_serialized` walks the SEAL header and the zstd
  frame/block headers (no decompression) and rejects data whose inflated size could exceed a
  bound, so a tiny zstd "bomb" cannot make SEAL allocate gigabytes.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeAlias, TypeVar

import numpy as np
import tenseal.sealapi as sealapi

from regaudit.shared.errors import ProfileError, RegauditError
from regaudit.shared.profiles import ParameterProfile

ParmsId = tuple[int, int, int, int]

# ``tenseal.sealapi`` has no type stubs: its objects are named here, once, and annotated with
# these aliases everywhere (the secret-key ones live in regaudit.secretkey._internal.seal).
SealNativeContext: TypeAlias = Any  # tenseal.sealapi.SEALContext (no stubs)
SealEncoder: TypeAlias = Any  # tenseal.sealapi.CKKSEncoder (no stubs)
SealEvaluator: TypeAlias = Any  # tenseal.sealapi.Evaluator (no stubs)
SealPlaintext: TypeAlias = Any  # tenseal.sealapi.Plaintext (no stubs)
SealCiphertext: TypeAlias = Any  # tenseal.sealapi.Ciphertext (no stubs)
SealRelinKeys: TypeAlias = Any  # tenseal.sealapi.RelinKeys (no stubs)
SealGaloisKeys: TypeAlias = Any  # tenseal.sealapi.GaloisKeys (no stubs)
SealObject: TypeAlias = Any  # any serializable tenseal.sealapi object (no stubs)

#: SEAL serialization header: magic, header size, version, compression mode, reserved, size.
SEAL_MAGIC = 0xA15E
SEAL_HEADER_SIZE = 16
COMPR_NONE = 0
COMPR_ZLIB = 1
COMPR_ZSTD = 2
#: zstd frame and block constants (RFC 8878)
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE_MASK = 0xFFFFFFF0
_ZSTD_SKIPPABLE_MAGIC = 0x184D2A50
_ZSTD_MAX_BLOCK = 128 * 1024
#: Inflated data may be at most this many times larger than the serialized bytes (legitimate
#: SEAL objects inflate by about 1-2.2x; a zstd bomb by up to ~32000x) ...
MAX_INFLATION_RATIO = 16
#: ... plus this constant slack for headers and tiny objects.
INFLATION_SLACK_BYTES = 1 << 20
#: Relative tolerance when comparing a ciphertext's scale with the canonical scale.
SCALE_RELATIVE_TOLERANCE = 1e-9


# --- contexts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealContext:
    """Everything SEAL needs for one profile. Immutable after construction (cached)."""

    profile: ParameterProfile
    context: SealNativeContext
    encoder: SealEncoder
    evaluator: SealEvaluator
    #: parms_id of every data level, index = level (0 = top)
    parms_ids: tuple[ParmsId, ...]
    #: the primes of every data level
    primes: tuple[tuple[int, ...], ...]
    #: the canonical scale of every data level
    scales: tuple[float, ...]

    @property
    def max_level(self) -> int:
        """The deepest data level (level 0 is the top)."""
        return len(self.parms_ids) - 1

    def level_of(self, parms_id: Sequence[int]) -> int | None:
        """The data level of ``parms_id`` (None if it is not a data level of this profile)."""
        key = tuple(parms_id)
        for level, candidate in enumerate(self.parms_ids):
            if candidate == key:
                return level
        return None

    def check_level(self, level: int) -> None:
        """Raise ValueError unless ``level`` is a data level of this profile."""
        if isinstance(level, bool) or not isinstance(level, int):
            raise ValueError(f"level must be an integer, got {level!r}")
        if not 0 <= level <= self.max_level:
            raise ValueError(
                f"level {level} is outside 0..{self.max_level} of profile {self.profile.name}"
            )

    def galois_element(self, step: int) -> int:
        """The Galois element of a cyclic left rotation by ``step`` (1 <= step < slots)."""
        return int(self.context.first_context_data().galois_tool().get_elt_from_step(step))

    def encode(
        self, values: np.ndarray | float, *, level: int, scale: float | None = None
    ) -> SealPlaintext:
        """Encode a float or ``slot_count`` floats at ``level`` (canonical scale by default)."""
        plain = sealapi.Plaintext()
        parms_id = list(self.parms_ids[level])
        target = self.scales[level] if scale is None else scale
        if isinstance(values, np.ndarray):
            self.encoder.encode(values.tolist(), parms_id, target, plain)
        else:
            self.encoder.encode(float(values), parms_id, target, plain)
        return plain

    def unit_plain(self, *, level: int) -> SealPlaintext:
        """The plaintext polynomial 1 at ``level`` and scale s_level (every slot = 1/s_level).

        Used instead of an all-zero plaintext, which SEAL refuses to multiply by (the product
        would be a "transparent" ciphertext)."""
        return self.encode(1.0 / self.scales[level], level=level)


def _build_context(profile: ParameterProfile) -> SealContext:
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(profile.poly_modulus_degree)
    parms.set_coeff_modulus(
        sealapi.CoeffModulus.Create(profile.poly_modulus_degree, list(profile.coeff_modulus_bits))
    )
    if profile.security_bits != 128:
        raise ProfileError(f"profile {profile.name}: only 128-bit security is supported")
    context = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
    if not context.parameters_set():
        raise ProfileError(
            f"SEAL rejects profile {profile.name}: {context.parameters_error_message()}",
            field="profile",
        )
    parms_ids: list[ParmsId] = []
    primes: list[tuple[int, ...]] = []
    data = context.first_context_data()
    while data is not None:
        parms_ids.append(tuple(data.parms_id()))
        primes.append(tuple(int(m.value()) for m in data.parms().coeff_modulus()))
        data = data.next_context_data()
    if len(parms_ids) != profile.max_depth + 1:
        raise ProfileError(
            f"profile {profile.name}: SEAL chain has {len(parms_ids)} data levels, "
            f"expected {profile.max_depth + 1}"
        )
    scales = [float(2**profile.scale_bits)]
    for level in range(profile.max_depth):
        dropped = float(primes[level][-1])
        scales.append(scales[-1] * scales[-1] / dropped)
    return SealContext(
        profile=profile,
        context=context,
        encoder=sealapi.CKKSEncoder(context),
        evaluator=sealapi.Evaluator(context),
        parms_ids=tuple(parms_ids),
        primes=tuple(primes),
        scales=tuple(scales),
    )


@cache
def get_context(profile: ParameterProfile) -> SealContext:
    """The cached SEAL context of ``profile`` (built once per process)."""
    return _build_context(profile)


# --- serialization -------------------------------------------------------------------------

_scratch_lock = threading.Lock()
_scratch: dict[int, str] = {}
_counter = itertools.count()


#: Scratch directories are named ``<SCRATCH_PREFIX><pid>-<random>``.
SCRATCH_PREFIX = "regaudit-seal-"


def scratch_base() -> str:
    """Where the per-process scratch directories live: /dev/shm when writable, else the temp
    dir."""
    # memory-backed on purpose; the per-process directory under it is made with mkdtemp
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):  # noqa: S108
        return "/dev/shm"  # noqa: S108
    return tempfile.gettempdir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def sweep_stale_scratch(base: str | None = None) -> list[str]:
    """Remove the scratch directories (ours: same uid) whose owning process is dead; returns
    the removed paths. A live pid (including a reused one) is never touched."""
    root = base if base is not None else scratch_base()
    removed: list[str] = []
    uid = os.getuid()
    own = os.getpid()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX):
            continue
        pid_text = entry.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != uid:
                continue
        except OSError:
            continue
        if pid == own or _pid_alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.exists(entry.path):
            removed.append(entry.path)
    return removed


def _scratch_dir() -> str:
    """A private (0700) per-process directory, on /dev/shm when available. Creating it first
    sweeps the stale directories of dead processes."""
    pid = os.getpid()
    with _scratch_lock:
        path = _scratch.get(pid)
        if path is None or not os.path.isdir(path):
            base = scratch_base()
            sweep_stale_scratch(base)
            path = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{pid}-", dir=base)
            _scratch[pid] = path
            atexit.register(shutil.rmtree, path, True)
        return path


def _scratch_path() -> str:
    return os.path.join(_scratch_dir(), f"{threading.get_ident()}-{next(_counter)}.bin")


class _Saveable(Protocol):
    """A SEAL object that serializes itself to a file path."""

    def save(self, path: str) -> None: ...


class _Loadable(Protocol):
    """A SEAL object that loads itself from a file path for a context."""

    def load(self, context: SealNativeContext, path: str) -> None: ...


def to_bytes(obj: _Saveable) -> bytes:
    """Serialize a SEAL object (or Serializable) with SEAL's default compression."""
    path = _scratch_path()
    try:
        obj.save(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)


_LoadableT = TypeVar("_LoadableT", bound=_Loadable)


def check_serialized(data: bytes, *, what: str, error: type[RegauditError]) -> None:
    """Check a SEAL blob's framing before SEAL parses it; raise ``error`` if it is malformed.

    Steps: 1. header present with SEAL's magic and header size; 2. the size field equals the
    byte count (no truncation, no trailing bytes); 3. compression is none or zstd; 4. for zstd,
    walk every frame and block header and bound the inflated size by the block sizes;
    5. the bound must not exceed ``MAX_INFLATION_RATIO * len(data) + INFLATION_SLACK_BYTES``.
    """
    if len(data) < SEAL_HEADER_SIZE:
        raise error(f"malformed {what}: {len(data)} bytes is shorter than a SEAL header")
    magic, header_size, _major, _minor, compr, _reserved, size = struct.unpack_from(
        "<HBBBBHQ", data, 0
    )
    if magic != SEAL_MAGIC or header_size != SEAL_HEADER_SIZE:
        raise error(f"malformed {what}: not a SEAL object (bad magic or header size)")
    if size != len(data):
        raise error(f"malformed {what}: header announces {size} bytes but {len(data)} were given")
    limit = MAX_INFLATION_RATIO * len(data) + INFLATION_SLACK_BYTES
    if compr == COMPR_NONE:
        return
    if compr != COMPR_ZSTD:
        raise error(f"malformed {what}: unsupported compression mode {compr} (only zstd)")
    try:
        inflated = _zstd_inflated_bound(data, SEAL_HEADER_SIZE)
    except (ValueError, struct.error) as exc:
        raise error(f"malformed {what}: bad zstd framing ({exc})") from None
    if inflated > limit:
        raise error(
            f"malformed {what}: inflates to up to {inflated} bytes from {len(data)} "
            f"(limit {limit}); refusing a possible decompression bomb"
        )


def _zstd_inflated_bound(data: bytes, offset: int) -> int:
    """Upper bound of the decompressed size of the zstd frames in ``data[offset:]``."""
    total = 0
    end = len(data)
    while offset < end:
        (magic,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if magic & _ZSTD_SKIPPABLE_MASK == _ZSTD_SKIPPABLE_MAGIC:
            (skip,) = struct.unpack_from("<I", data, offset)
            offset += 4 + skip
            continue
        if magic != _ZSTD_MAGIC:
            raise ValueError("bad frame magic")
        if offset >= end:
            raise ValueError("truncated frame header")
        descriptor = data[offset]
        offset += 1
        fcs_flag = descriptor >> 6
        single_segment = (descriptor >> 5) & 1
        if (descriptor >> 3) & 1:
            raise ValueError("reserved frame header bit set")
        checksum = (descriptor >> 2) & 1
        dict_id_size = (0, 1, 2, 4)[descriptor & 3]
        fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
        offset += (0 if single_segment else 1) + dict_id_size + fcs_size
        while True:
            if offset + 3 > end:
                raise ValueError("truncated block header")
            header = int.from_bytes(data[offset : offset + 3], "little")
            offset += 3
            last = header & 1
            block_type = (header >> 1) & 3
            block_size = header >> 3
            if block_type == 0:  # raw
                offset += block_size
                total += block_size
            elif block_type == 1:  # RLE: one byte repeated block_size times
                offset += 1
                total += block_size
            elif block_type == 2:  # compressed: at most one maximum block of output
                offset += block_size
                total += _ZSTD_MAX_BLOCK
            else:
                raise ValueError("reserved block type")
            if offset > end:
                raise ValueError("truncated block")
            if last:
                break
        offset += 4 * checksum
        if offset > end:
            raise ValueError("truncated frame")
    return total


def from_bytes(
    factory: Callable[[], _LoadableT],
    sctx: SealContext,
    data: bytes,
    *,
    what: str,
    error: type[RegauditError],
) -> _LoadableT:
    """Load a SEAL object from bytes (framing checked first); SEAL's own errors -> ``error``."""
    check_serialized(data, what=what, error=error)
    obj = factory()
    path = _scratch_path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        obj.load(sctx.context, path)
    except (ValueError, RuntimeError, TypeError, OSError, MemoryError) as exc:
        raise error(f"malformed {what}: {exc}") from None
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return obj


def is_valid_for(obj: SealObject, sctx: SealContext) -> bool:
    """SEAL's full validity check of a loaded object for the profile's context."""
    return bool(sealapi.is_valid_for(obj, sctx.context))


def new_ciphertext() -> SealCiphertext:
    """An empty SEAL ciphertext (to load into or compute into)."""
    return sealapi.Ciphertext()


def new_relin_keys() -> SealRelinKeys:
    """An empty SEAL relinearization-key set (to load into)."""
    return sealapi.RelinKeys()


def new_galois_keys() -> SealGaloisKeys:
    """An empty SEAL Galois-key set (to load into)."""
    return sealapi.GaloisKeys()


def scale_matches(actual: float, expected: float) -> bool:
    """True if ``actual`` equals the canonical ``expected`` up to SCALE_RELATIVE_TOLERANCE."""
    return abs(actual - expected) <= SCALE_RELATIVE_TOLERANCE * expected


__all__ = [
    "COMPR_NONE",
    "COMPR_ZLIB",
    "COMPR_ZSTD",
    "INFLATION_SLACK_BYTES",
    "MAX_INFLATION_RATIO",
    "SCALE_RELATIVE_TOLERANCE",
    "SCRATCH_PREFIX",
    "SEAL_HEADER_SIZE",
    "SEAL_MAGIC",
    "ParmsId",
    "SealCiphertext",
    "SealContext",
    "SealEncoder",
    "SealEvaluator",
    "SealGaloisKeys",
    "SealNativeContext",
    "SealObject",
    "SealPlaintext",
    "SealRelinKeys",
    "check_serialized",
    "from_bytes",
    "get_context",
    "is_valid_for",
    "new_ciphertext",
    "new_galois_keys",
    "new_relin_keys",
    "scale_matches",
    "scratch_base",
    "sweep_stale_scratch",
    "to_bytes",
]
