"""The arithmetic of the sampled witness: per-chunk partial digests, their Merkle root, the
sample of chunks a witness re-executes, and the detection probability it buys.

* **Partial digest** of a chunk: SHA-256 over :data:`PARTIAL_DOMAIN`, the number of the
  chunk's partial accumulators (u32, big endian) and the 32-byte canonical content digest of
  each (:func:`regaudit.shared.ciphertext_content.ciphertext_content_digest`), in accumulator
  order. It is taken in the worker on the chunk's own partial result, *before* it is added to
  any other chunk's.
* **Merkle root** (RFC 6962 / RFC 9162 section 2.1.1): leaf hash ``SHA-256(0x00 || d)`` for the
  32 raw bytes ``d`` of each partial digest, node hash ``SHA-256(0x01 || left || right)``,
  the left subtree holding the largest power of two below the leaf count. The primary's receipt
  commits to the root and the count, and the job result returns the list, when the client-signed
  job header asks (``commit_partials``); otherwise the receipt states count 0 and
  :data:`EMPTY_PARTIALS_ROOT` (the RFC 6962 hash of the empty list) and no digest is computed.
* **Sample**: ``k = max(1, ceil(f x n))`` distinct chunk indices out of ``n``, drawn by a
  partial Fisher-Yates shuffle from an HMAC-SHA256 counter-mode stream keyed with a 32-byte
  nonce the client draws *after* the primary's receipt, over :data:`SAMPLE_DOMAIN`, the primary
  receipt's digest, ``n`` and ``k``. The sample is fixed only after the primary committed, and
  the primary cannot grind its receipt (a timestamp, say) until the sample misses the chunk it
  altered: it does not know the nonce. Anyone holding the nonce recomputes the sample.
* **Detection**: a cheat that alters ``m`` of ``n`` chunks escapes a sample of ``k`` with
  probability ``C(n-m, k) / C(n, k) <= (1 - m/n)^k``; so it is caught with probability at least
  ``1 - (1 - f)^k`` for ``f = m/n`` (:func:`detection_bound`; exact: :func:`detection_probability`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction

from regaudit.shared.errors import InputError

#: Domain tag of a chunk's partial digest.
PARTIAL_DOMAIN = b"regaudit/chunk-partial/v1\x00"
#: Domain tag of the sample stream.
SAMPLE_DOMAIN = b"regaudit/witness-sample/v1\x00"
#: RFC 6962 prefixes of leaf and interior-node hashes.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: ``partials_root`` of a receipt that commits to no partial digests (``partials_count`` 0):
#: RFC 6962's Merkle tree hash of the empty list, SHA-256 of the empty string.
EMPTY_PARTIALS_ROOT = "sha256:" + hashlib.sha256(b"").hexdigest()
#: Bytes of the client's sample nonce.
SAMPLE_NONCE_BYTES = 32
#: The most chunks a sampled job may name (the most chunks any job has: MAX_JOB_CIPHERTEXTS).
MAX_SAMPLE_CHUNKS = 2**20
#: Fractions of altered chunks the regulator's report states the detection bound for.
REPORTED_FRACTIONS = (0.01, 0.05, 0.10)

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def _raw(digest: str, *, field: str) -> bytes:
    """The 32 raw bytes of a ``"sha256:<hex>"`` digest (InputError otherwise)."""
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise InputError("must be 'sha256:' and 64 lowercase hex characters", field=field)
    hex_part = digest[7:]
    if hex_part != hex_part.lower():
        raise InputError("must be lowercase hex", field=field)
    try:
        return bytes.fromhex(hex_part)
    except ValueError:
        raise InputError("must be hex", field=field) from None


def _format(raw: bytes) -> str:
    return "sha256:" + raw.hex()


# --- partial digests and their Merkle root ----------------------------------------------------


def partial_digest(content_digests: Sequence[str]) -> str:
    """The partial digest of one chunk from the content digests of its partial accumulators,
    in accumulator order."""
    if not content_digests:
        raise InputError("a chunk has at least one partial accumulator", field="partials")
    hasher = hashlib.sha256(PARTIAL_DOMAIN)
    hasher.update(_U32.pack(len(content_digests)))
    for index, digest in enumerate(content_digests):
        hasher.update(_raw(digest, field=f"partials[{index}]"))
    return _format(hasher.digest())


def leaf_hash(digest: str) -> bytes:
    """RFC 6962 leaf hash of one partial digest."""
    return hashlib.sha256(LEAF_PREFIX + _raw(digest, field="partial_digest")).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior-node hash."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _subtree(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two < len
    return node_hash(_subtree(leaves[:split]), _subtree(leaves[split:]))


def merkle_root(digests: Sequence[str]) -> str:
    """``"sha256:<hex>"`` Merkle tree hash of the partial digests, in chunk order (at least one;
    InputError names a malformed digest)."""
    if not digests:
        raise InputError("the partial-digest list is empty", field="partial_digests")
    leaves = [
        hashlib.sha256(LEAF_PREFIX + _raw(d, field=f"partial_digests[{i}]")).digest()
        for i, d in enumerate(digests)
    ]
    return _format(_subtree(leaves))


def partials_commitment(digests: Sequence[str]) -> tuple[str, int]:
    """A receipt's ``(partials_root, partials_count)`` for the partial digests in chunk order:
    their Merkle root and count, or ``(EMPTY_PARTIALS_ROOT, 0)`` for a job that committed to
    none."""
    if not digests:
        return EMPTY_PARTIALS_ROOT, 0
    return merkle_root(digests), len(digests)


# --- the sample -------------------------------------------------------------------------------


def sample_size(fraction: float, n_chunks: int) -> int:
    """``k = max(1, ceil(fraction x n_chunks))`` for ``0 < fraction <= 1`` (the fraction is
    taken as the decimal the caller wrote: 0.07 x 100 is 7, not 8)."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InputError("the sample fraction must be a number", field="witness_sample")
    if not 0 < fraction <= 1 or not math.isfinite(fraction):
        raise InputError(
            f"the sample fraction must be in (0, 1], got {fraction!r}", field="witness_sample"
        )
    _check_count(n_chunks)
    exact = Fraction(repr(float(fraction))) * n_chunks
    return max(1, math.ceil(exact))


def _check_count(n_chunks: int) -> None:
    if isinstance(n_chunks, bool) or not isinstance(n_chunks, int):
        raise InputError("the chunk count must be an integer", field="n_chunks")
    if not 1 <= n_chunks <= MAX_SAMPLE_CHUNKS:
        raise InputError(f"the chunk count must be in 1..{MAX_SAMPLE_CHUNKS}", field="n_chunks")


class _Stream:
    """HMAC-SHA256 in counter mode: 64-bit words, uniform below a bound by rejection."""

    def __init__(self, key: bytes, prefix: bytes) -> None:
        self._mac = hmac.new(key, prefix, hashlib.sha256)
        self._counter = 0
        self._words: list[int] = []

    def _word(self) -> int:
        if not self._words:
            mac = self._mac.copy()
            mac.update(_U64.pack(self._counter))
            self._counter += 1
            self._words = list(struct.unpack(">4Q", mac.digest()))
        return self._words.pop(0)

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` (rejection sampling: no modulo bias)."""
        limit = (1 << 64) - ((1 << 64) % bound)
        while True:
            word = self._word()
            if word < limit:
                return word % bound


def derive_sample(
    *, primary_receipt_digest: str, nonce: bytes, n_chunks: int, k: int
) -> tuple[int, ...]:
    """The ``k`` distinct chunk indices (ascending) a witness re-executes, out of ``n_chunks``.

    Steps: 1. arguments well formed (InputError names the field); 2. the stream is keyed with
    ``nonce`` over the domain tag, the receipt digest's raw bytes, ``n_chunks`` and ``k``;
    3. a partial Fisher-Yates shuffle of ``0..n_chunks-1`` takes the first ``k`` positions."""
    # 1. arguments
    receipt = _raw(primary_receipt_digest, field="primary_receipt_digest")
    if not isinstance(nonce, bytes) or len(nonce) != SAMPLE_NONCE_BYTES:
        raise InputError(f"the nonce must be {SAMPLE_NONCE_BYTES} bytes", field="nonce")
    _check_count(n_chunks)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_chunks:
        raise InputError(f"the sample size must be in 1..{n_chunks}", field="chunks")
    # 2. stream
    stream = _Stream(nonce, SAMPLE_DOMAIN + receipt + _U64.pack(n_chunks) + _U64.pack(k))
    # 3. partial Fisher-Yates over a sparse permutation
    swapped: dict[int, int] = {}
    chosen: list[int] = []
    for position in range(k):
        other = position + stream.below(n_chunks - position)
        value = swapped.get(other, other)
        swapped[other] = swapped.get(position, position)
        chosen.append(value)
    return tuple(sorted(chosen))


# --- detection probability --------------------------------------------------------------------


def detection_bound(altered_fraction: float, k: int) -> float:
    """``1 - (1 - f)^k``: the least probability that a sample of ``k`` chunks contains at least
    one of the altered chunks, when a fraction ``f`` of all chunks was altered."""
    if not 0 <= altered_fraction <= 1:
        raise InputError("the altered fraction must be in [0, 1]", field="altered_fraction")
    if k < 0:
        raise InputError("the sample size must not be negative", field="k")
    return 1.0 - (1.0 - altered_fraction) ** k


def detection_probability(n_chunks: int, altered: int, k: int) -> float:
    """The exact probability that ``k`` chunks drawn without replacement from ``n_chunks``
    include at least one of ``altered`` altered chunks: ``1 - C(n-m, k) / C(n, k)``."""
    if not 0 <= altered <= n_chunks or not 0 <= k <= n_chunks:
        raise InputError("need 0 <= altered, k <= n_chunks", field="k")
    return 1.0 - math.comb(n_chunks - altered, k) / math.comb(n_chunks, k)


def detection_summary(n_chunks: int, k: int) -> dict[str, float]:
    """What the report states: the bound ``1 - (1 - f)^k`` for each of
    :data:`REPORTED_FRACTIONS` (keys ``"f=0.01"``...) and, under ``"one_chunk"``, for a cheat
    that alters a single chunk (``f = 1/n``)."""
    summary = {f"f={f:g}": detection_bound(f, k) for f in REPORTED_FRACTIONS}
    summary["one_chunk"] = detection_bound(1.0 / n_chunks, k)
    return summary


def sampled_indices_valid(chunks: Iterable[int], n_chunks: int) -> bool:
    """Whether ``chunks`` are strictly ascending indices below ``n_chunks``."""
    previous = -1
    for chunk in chunks:
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not previous < chunk:
            return False
        previous = chunk
    return 0 <= previous < n_chunks


__all__ = [
    "EMPTY_PARTIALS_ROOT",
    "LEAF_PREFIX",
    "MAX_SAMPLE_CHUNKS",
    "NODE_PREFIX",
    "PARTIAL_DOMAIN",
    "REPORTED_FRACTIONS",
    "SAMPLE_DOMAIN",
    "SAMPLE_NONCE_BYTES",
    "derive_sample",
    "detection_bound",
    "detection_probability",
    "detection_summary",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "partial_digest",
    "partials_commitment",
    "sample_size",
    "sampled_indices_valid",
]
