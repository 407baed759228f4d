"""Row commitments: the Merkle root is RFC 6962's (checked against an independent, literal
implementation of the RFC's recursive definition), every inclusion proof verifies at its own
index only, the salts are the documented AES-CTR stream, and chunking does not matter."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from regaudit.shared.errors import InputError, OpeningProofError
from regaudit.shared.evidence.row_commitments import (
    HEADER_TAG,
    ROW_TAG,
    SALT_DOMAIN,
    RowCommitter,
    column_header,
    commit_rows,
    inclusion_proofs,
    row_leaf,
    row_salt,
    row_salts,
    verify_inclusion,
)

SEED = bytes(range(32))
COLUMNS = ("y_true", "y_pred", "group:a")


def rfc6962_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally: MTH over the leaf *inputs* (here: the salted row
    commitments), with k the largest power of two smaller than n."""
    n = len(leaves)
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_mth(leaves[:k]) + rfc6962_mth(leaves[k:])).digest()


def table(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 2, n).astype(float) for name in COLUMNS}


def independent_leaf_inputs(columns: dict[str, np.ndarray], n: int) -> list[bytes]:
    """The salted row commitments recomputed from the module docstring's definition."""
    header = hashlib.sha256(
        HEADER_TAG
        + len(COLUMNS).to_bytes(4, "big")
        + b"".join(len(c).to_bytes(4, "big") + c.encode() for c in COLUMNS)
    ).digest()
    key = hmac.digest(SEED, SALT_DOMAIN, "sha256")
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(32 * n))
    return [
        ROW_TAG
        + stream[32 * i : 32 * i + 32]
        + header
        + np.array([columns[c][i] for c in COLUMNS], dtype="<f8").tobytes()
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100])
def test_root_is_rfc6962_and_every_proof_verifies_at_its_index_only(n: int) -> None:
    columns = table(n)
    committer = RowCommitter(COLUMNS, seed=SEED, keep_leaves=True)
    committer.update(columns)
    commitment = committer.finalize()
    expected = rfc6962_mth(independent_leaf_inputs(columns, n))
    assert commitment.root == "sha256:" + expected.hex()
    assert commitment.rows == n
    assert committer.leaves is not None
    proofs = inclusion_proofs(committer.leaves, range(n))
    header = column_header(COLUMNS)
    for i in range(n):
        leaf = row_leaf(
            row_salt(SEED, i), header, np.array([columns[c][i] for c in COLUMNS]).tobytes()
        )
        verify_inclusion(leaf, index=i, tree_size=n, proof=proofs[i], root=expected)
        if n > 1:  # the same leaf and proof at any other index fail
            with pytest.raises(OpeningProofError) as raised:
                verify_inclusion(
                    leaf, index=(i + 1) % n, tree_size=n, proof=proofs[i], root=expected
                )
            assert raised.value.reason == "opening_proof_invalid"


@pytest.mark.parametrize("size", [1, 37, 64, 999])
def test_chunking_does_not_change_the_root(size: int) -> None:
    n = 1000
    columns = table(n, seed=3)
    whole = RowCommitter(COLUMNS, seed=SEED)
    whole.update(columns)
    assert (
        whole.finalize().root == "sha256:" + rfc6962_mth(independent_leaf_inputs(columns, n)).hex()
    )
    chunks = [{c: v[s : s + size] for c, v in columns.items()} for s in range(0, n, size)]
    chunked = commit_rows(iter(chunks), COLUMNS, n, seed=SEED)
    assert chunked.finalize() == whole.finalize()
    # a zero-padded last chunk (data_chunks): only the committed rows count
    padded = chunks[:-1] + [
        {c: np.concatenate([v, np.ones(size - len(v))]) for c, v in chunks[-1].items()}
    ]
    assert commit_rows(iter(padded), COLUMNS, n, seed=SEED).finalize() == whole.finalize()


def test_salts_are_the_keystream_and_differ_per_row_and_seed() -> None:
    salts = row_salts(SEED, 0, 50)
    assert all(salts[32 * i : 32 * i + 32] == row_salt(SEED, i) for i in range(50))
    assert row_salts(SEED, 17, 5) == salts[17 * 32 : 22 * 32]
    assert len({salts[32 * i : 32 * i + 32] for i in range(50)}) == 50
    assert row_salt(bytes(32), 0) != row_salt(SEED, 0)


def test_a_fresh_seed_hides_equal_tables() -> None:
    columns = table(10)
    first, second = RowCommitter(COLUMNS), RowCommitter(COLUMNS)
    first.update(columns)
    second.update(columns)
    assert first.finalize().root != second.finalize().root


def test_values_columns_and_order_are_bound() -> None:
    columns = table(8)
    base = RowCommitter(COLUMNS, seed=SEED)
    base.update(columns)
    changed = dict(columns, y_pred=columns["y_pred"].copy())
    changed["y_pred"][5] = 1.0 - changed["y_pred"][5]
    other = RowCommitter(COLUMNS, seed=SEED)
    other.update(changed)
    assert other.finalize().root != base.finalize().root
    renamed = RowCommitter(("y_true", "y_pred", "group:b"), seed=SEED)
    renamed.update(
        {"y_true": columns["y_true"], "y_pred": columns["y_pred"], "group:b": columns["group:a"]}
    )
    assert renamed.finalize().root != base.finalize().root


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError):
        RowCommitter(COLUMNS, seed=b"short")
    committer = RowCommitter(COLUMNS, seed=SEED)
    with pytest.raises(InputError):
        committer.update({c: np.array([np.nan]) for c in COLUMNS})
    with pytest.raises(InputError):
        RowCommitter(COLUMNS).finalize()
    with pytest.raises(InputError):
        inclusion_proofs(b"\x00" * 64, [2])
    with pytest.raises(OpeningProofError):
        verify_inclusion(
            b"\x00" * 32, index=0, tree_size=2, proof=[b"\x00" * 31], root=b"\x00" * 32
        )
