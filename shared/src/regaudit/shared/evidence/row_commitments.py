"""Row commitments: a Merkle tree over salted per-row commitments, so that single rows of an
audit's input table can be opened later without revealing any other row.

For a table of ``n`` rows over the committed columns ``c_1..c_k`` (the plan's columns, in
order), with a 32-byte secret ``seed`` drawn once per audit:

* **Column header** ``h = SHA-256(HEADER_TAG || u32(k) || (u32(len(c_j)) || c_j)...)``
  (UTF-8 names): every row commitment names the columns its values belong to.
* **Row salt** ``salt_i``: bytes ``32i .. 32i+31`` of the AES-256-CTR keystream under
  ``K = HMAC-SHA256(seed, SALT_DOMAIN)`` (initial counter 0), i.e. the blocks with counters
  ``2i`` and ``2i+1``: 32 pseudo-random bytes per row, all of a chunk derived in one call;
  the client stores the seed, not ``n`` salts. Revealing ``salt_i`` reveals nothing about
  ``K`` nor about any other row's salt (AES is a pseudo-random permutation).
* **Leaf** ``leaf_i = SHA-256(0x00 || ROW_TAG || salt_i || h || row_i)``: the RFC 6962 leaf
  hash (prefix ``0x00``) of the salted row commitment ``ROW_TAG || salt_i || h || row_i``,
  where ``row_i`` is the row's ``k`` values as IEEE 754 binary64, little-endian, ``-0.0``
  normalised to ``0.0`` (the bytes of
  :func:`regaudit.shared.evidence.commitments.canonical_column_bytes`). One hash per row: the
  commitment is hiding (256 secret bits of salt) and binding (SHA-256) without an inner hash.
* **Merkle tree** (RFC 6962 / RFC 9162 section 2.1.1, the node hash of
  :mod:`regaudit.shared.evidence.witness_sampling`): node ``SHA-256(0x01 || left || right)``,
  the left subtree holding the largest power of two below the leaf count. The root and ``n``
  are signed in the client's submission (``row_commitment``).
* **Inclusion proof** of row ``i``: the RFC 9162 audit path; :func:`verify_inclusion` is
  RFC 9162 section 2.1.3.2.

:class:`RowCommitter` computes the root in one pass over the chunks with O(log n) memory;
:func:`inclusion_proofs` rebuilds the tree level by level (32 bytes a leaf) to prove rows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from regaudit.shared.algebra import FloatArray
from regaudit.shared.errors import InputError, OpeningProofError
from regaudit.shared.evidence.canonical import DIGEST_PREFIX
from regaudit.shared.evidence.witness_sampling import LEAF_PREFIX, NODE_PREFIX, node_hash

#: Name of this commitment scheme (signed with the root).
ROW_COMMITMENT_SCHEME = "regaudit/row-merkle/v1"
HEADER_TAG = b"regaudit/v1/row-columns\x00"
SALT_DOMAIN = b"regaudit/v1/row-salt\x00"
ROW_TAG = b"regaudit/v1/row-commitment\x00"
#: Bytes of the per-audit secret seed the row salts are derived from.
ROW_SEED_BYTES = 32
ROW_SALT_BYTES = 32
HASH_BYTES = 32
#: Longest inclusion proof (a tree of at most 2**64 leaves).
MAX_PROOF_HASHES = 64
#: Most columns a row commitment covers (the submission's MAX_COLUMNS).
MAX_ROW_COLUMNS = 1024

_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class RowCommitment:
    """The public part of a row commitment (what the submission signs)."""

    root: str
    rows: int
    scheme: str = ROW_COMMITMENT_SCHEME

    def to_dict(self) -> dict[str, object]:
        return {"scheme": self.scheme, "root": self.root, "rows": self.rows}


def column_header(columns: Sequence[str]) -> bytes:
    """The 32-byte header digest binding the column names, in order, into every row."""
    if not 0 < len(columns) <= MAX_ROW_COLUMNS:
        raise InputError(f"a row has 1..{MAX_ROW_COLUMNS} columns", field="columns")
    hasher = hashlib.sha256(HEADER_TAG + _U32.pack(len(columns)))
    for name in columns:
        if not isinstance(name, str) or not name:
            raise InputError("column names must be non-empty strings", field="columns")
        encoded = name.encode("utf-8")
        hasher.update(_U32.pack(len(encoded)) + encoded)
    return hasher.digest()


def row_salts(seed: bytes, start: int, count: int) -> bytes:
    """``salt_start .. salt_(start+count-1)``, concatenated (32 bytes each)."""
    key = hmac.digest(seed, SALT_DOMAIN, "sha256")
    counter = (2 * start).to_bytes(16, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return encryptor.update(bytes(ROW_SALT_BYTES * count)) + encryptor.finalize()


def row_salt(seed: bytes, index: int) -> bytes:
    """``salt_i`` of row ``index``."""
    return row_salts(seed, index, 1)


def canonical_row_bytes(values: FloatArray | Sequence[float]) -> bytes:
    """Little-endian float64 bytes of one row's finite values, ``-0.0`` normalised."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise InputError("a row must be a flat list of finite numbers", field="values")
    return (array + 0.0).astype("<f8", copy=False).tobytes()


def row_leaf(salt: bytes, header: bytes, row_bytes: bytes) -> bytes:
    """The RFC 6962 leaf hash of one row's salted commitment."""
    return hashlib.sha256(LEAF_PREFIX + ROW_TAG + salt + header + row_bytes).digest()


def _leaf_preimages(
    chunk: Mapping[str, FloatArray], columns: Sequence[str], count: int, salts: bytes, header: bytes
) -> tuple[bytes, int]:
    """The leaf preimages ``0x00 || ROW_TAG || salt_i || h || row_i`` of ``count`` rows, laid
    end to end (built with numpy, one row per line), and the length of one."""
    stacked = np.column_stack(
        [np.asarray(chunk[name][:count], dtype=np.float64) for name in columns]
    )
    if stacked.shape[0] != count or not np.all(np.isfinite(stacked)):
        raise InputError(
            "a committed column is shorter than the rows or holds NaN or infinity", field="columns"
        )
    prefix = np.frombuffer(LEAF_PREFIX + ROW_TAG, dtype=np.uint8)
    start = len(prefix)
    width = start + ROW_SALT_BYTES + HASH_BYTES + 8 * len(columns)
    lines = np.empty((count, width), dtype=np.uint8)
    lines[:, :start] = prefix
    lines[:, start : start + ROW_SALT_BYTES] = np.frombuffer(salts, dtype=np.uint8).reshape(
        count, ROW_SALT_BYTES
    )
    start += ROW_SALT_BYTES
    lines[:, start : start + HASH_BYTES] = np.frombuffer(header, dtype=np.uint8)
    start += HASH_BYTES
    values = np.ascontiguousarray(stacked + 0.0, dtype="<f8")
    lines[:, start:] = values.view(np.uint8).reshape(count, 8 * len(columns))
    return lines.tobytes(), width


def _perfect_root(level: bytes, width: int) -> bytes:
    """The root of a perfect subtree over ``width`` (a power of two) hashes laid end to end."""
    sha256, pair = hashlib.sha256, 2 * HASH_BYTES
    while width > 1:
        level = b"".join(
            [
                sha256(NODE_PREFIX + level[at : at + pair]).digest()
                for at in range(0, width * HASH_BYTES, pair)
            ]
        )
        width //= 2
    return level


class RowCommitter:
    """The row Merkle root in one pass: :meth:`update` with chunks in row order (column name
    -> values; only ``used`` leading rows count), then :meth:`finalize`. With ``keep_leaves``
    the leaf hashes are kept (32 bytes a row) for :func:`inclusion_proofs`."""

    def __init__(
        self, columns: Sequence[str], *, seed: bytes | None = None, keep_leaves: bool = False
    ) -> None:
        self.columns = tuple(columns)
        self.seed = secrets.token_bytes(ROW_SEED_BYTES) if seed is None else seed
        if len(self.seed) != ROW_SEED_BYTES:
            raise InputError(f"the row seed must be {ROW_SEED_BYTES} bytes", field="seed")
        self._header = column_header(self.columns)
        self._rows = 0
        #: sizes and hashes of the perfect subtrees so far, sizes strictly decreasing
        self._sizes: list[int] = []
        self._hashes: list[bytes] = []
        self.leaves: bytearray | None = bytearray() if keep_leaves else None

    @property
    def rows(self) -> int:
        return self._rows

    def update(self, chunk: Mapping[str, FloatArray], used: int | None = None) -> None:
        """Add the first ``used`` rows (default: all) of ``chunk``.

        The chunk's leaves are hashed in one pass; then they enter the tree as the largest
        perfect subtrees aligned at their position (a binary counter of subtree roots: equal
        sizes merge), which is RFC 6962's tree whatever the chunk sizes."""
        count = len(chunk[self.columns[0]]) if used is None else used
        if count <= 0:
            return
        salts = row_salts(self.seed, self._rows, count)
        preimages, width = _leaf_preimages(chunk, self.columns, count, salts, self._header)
        sha256 = hashlib.sha256
        leaves = b"".join(
            [sha256(preimages[at : at + width]).digest() for at in range(0, count * width, width)]
        )
        if self.leaves is not None:
            self.leaves += leaves
        position, offset = self._rows, 0
        while offset < count:
            block = 1 << ((count - offset).bit_length() - 1)
            if position:
                block = min(block, position & -position)
            node = _perfect_root(leaves[offset * HASH_BYTES : (offset + block) * HASH_BYTES], block)
            size = block
            while self._sizes and self._sizes[-1] == size:
                node = sha256(NODE_PREFIX + self._hashes.pop() + node).digest()
                self._sizes.pop()
                size <<= 1
            self._sizes.append(size)
            self._hashes.append(node)
            offset += block
            position += block
        self._rows += count

    def finalize(self) -> RowCommitment:
        """The root (RFC 6962 hash of the leaves) and the row count."""
        if not self._hashes:
            raise InputError("no rows to commit to", field="rows")
        root = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            root = node_hash(left, root)
        return RowCommitment(root=DIGEST_PREFIX + root.hex(), rows=self._rows)


def commit_rows(
    chunks: Iterable[Mapping[str, FloatArray]],
    columns: Sequence[str],
    rows: int,
    *,
    seed: bytes | None = None,
    keep_leaves: bool = False,
) -> RowCommitter:
    """A finalized-ready :class:`RowCommitter` over the first ``rows`` rows of ``chunks``."""
    committer = RowCommitter(columns, seed=seed, keep_leaves=keep_leaves)
    remaining = rows
    for chunk in chunks:
        if remaining <= 0:
            break
        used = min(remaining, len(chunk[committer.columns[0]]))
        committer.update(chunk, used)
        remaining -= used
    if remaining:
        raise InputError(f"the input ended {remaining} rows early", field="rows")
    return committer


def inclusion_proofs(leaves: bytes | bytearray, indices: Iterable[int]) -> dict[int, list[bytes]]:
    """The RFC 9162 audit path of every leaf in ``indices`` (the tree built level by level:
    an unpaired last node moves up unchanged, which is RFC 6962's tree)."""
    size = len(leaves) // HASH_BYTES
    wanted = sorted(set(indices))
    if any(not 0 <= index < size for index in wanted):
        raise InputError(f"row indices must be in [0, {size})", field="rows")
    proofs: dict[int, list[bytes]] = {index: [] for index in wanted}
    positions = {index: index for index in wanted}
    level = bytes(leaves)
    width = size
    while width > 1:
        for index in wanted:
            sibling = positions[index] ^ 1
            if sibling < width:
                proofs[index].append(level[sibling * HASH_BYTES : (sibling + 1) * HASH_BYTES])
            positions[index] >>= 1
        sha256, pair_bytes = hashlib.sha256, 2 * HASH_BYTES
        parents = b"".join(
            sha256(NODE_PREFIX + level[start : start + pair_bytes]).digest()
            for start in range(0, (width // 2) * pair_bytes, pair_bytes)
        )
        if width % 2:
            parents += level[(width - 1) * HASH_BYTES :]
        level, width = parents, (width + 1) // 2
    return proofs


def verify_inclusion(
    leaf: bytes, *, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` leads from ``leaf`` at ``index`` to ``root`` (OpeningProofError).

    Steps (RFC 9162 section 2.1.3.2): 1. the index is inside the tree and the proof not too
    long; 2. fold the path, the side of each sibling given by the index bits; 3. every path
    hash was used and the result is the root.
    """
    field = f"rows[{index}].proof"
    # 1. shape
    if not 0 <= index < tree_size:
        raise OpeningProofError(f"leaf {index} is outside a tree of {tree_size}", field=field)
    if len(proof) > MAX_PROOF_HASHES or any(len(p) != HASH_BYTES for p in proof):
        raise OpeningProofError("the proof is not a list of SHA-256 hashes", field=field)
    # 2. fold
    fn, sn, result = index, tree_size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise OpeningProofError("the proof is longer than the tree is deep", field=field)
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    # 3. the root, every level used
    if sn != 0 or not hmac.compare_digest(result, root):
        raise OpeningProofError(
            f"row {index} does not lead to the committed root with its proof", field=field
        )


__all__ = [
    "HASH_BYTES",
    "HEADER_TAG",
    "MAX_PROOF_HASHES",
    "MAX_ROW_COLUMNS",
    "ROW_COMMITMENT_SCHEME",
    "ROW_SALT_BYTES",
    "ROW_SEED_BYTES",
    "ROW_TAG",
    "SALT_DOMAIN",
    "RowCommitment",
    "RowCommitter",
    "canonical_row_bytes",
    "column_header",
    "commit_rows",
    "inclusion_proofs",
    "row_leaf",
    "row_salt",
    "row_salts",
    "verify_inclusion",
]
