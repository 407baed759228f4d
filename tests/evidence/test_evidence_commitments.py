"""Hiding column commitments."""

from __future__ import annotations

import hashlib
import itertools
import struct

import numpy as np
import pytest

from regaudit.shared.errors import BundleFormatError, DigestMismatchError, InputError
from regaudit.shared.evidence.commitments import (
    COMMITMENT_TAG,
    ColumnCommitter,
    commit_column,
    verify_opening,
)


def test_commitment_matches_documented_construction() -> None:
    salt = bytes(range(32))
    values = np.array([1.0, 0.0, -0.0, 2.5])
    digest, salt_hex = commit_column("y_true", values, salt=salt)
    assert salt_hex == salt.hex()
    expected = hashlib.sha256(
        COMMITMENT_TAG
        + salt
        + struct.pack(">I", 6)
        + b"y_true"
        + struct.pack("<4d", 1.0, 0.0, 0.0, 2.5)
    ).hexdigest()
    assert digest == "sha256:" + expected


def test_opening_round_trip_and_mismatches() -> None:
    values = np.random.default_rng(1).integers(0, 2, 1000).astype(np.float64)
    digest, salt_hex = commit_column("y_pred", values)
    verify_opening(digest, name="y_pred", values=values, salt_hex=salt_hex)
    verify_opening(digest, name="y_pred", values=list(values), salt_hex=salt_hex)

    flipped = values.copy()
    flipped[17] = 1.0 - flipped[17]
    with pytest.raises(DigestMismatchError) as info:
        verify_opening(digest, name="y_pred", values=flipped, salt_hex=salt_hex)
    assert info.value.reason == "digest_mismatch"
    with pytest.raises(DigestMismatchError):
        verify_opening(digest, name="y_true", values=values, salt_hex=salt_hex)
    with pytest.raises(DigestMismatchError):
        verify_opening(digest, name="y_pred", values=values[:-1], salt_hex=salt_hex)
    with pytest.raises(DigestMismatchError):
        verify_opening(digest, name="y_pred", values=values, salt_hex="00" * 32)
    with pytest.raises(BundleFormatError) as bad:
        verify_opening(digest, name="y_pred", values=values, salt_hex="zz" * 32)
    assert bad.value.field == "salt"
    with pytest.raises(BundleFormatError):
        verify_opening("sha256:xyz", name="y_pred", values=values, salt_hex=salt_hex)


def test_commitments_hide_binary_columns() -> None:
    column = np.array([1.0, 0.0, 1.0, 1.0])
    first, salt1 = commit_column("label", column)
    second, salt2 = commit_column("label", column)
    assert salt1 != salt2 and first != second
    # Brute force over every binary column of this length, without the salt: no match.
    candidates = set()
    for bits in itertools.product([0.0, 1.0], repeat=len(column)):
        data = struct.pack(f"<{len(bits)}d", *bits)
        candidates.add("sha256:" + hashlib.sha256(data).hexdigest())
        candidates.add(
            "sha256:"
            + hashlib.sha256(COMMITMENT_TAG + struct.pack(">I", 5) + b"label" + data).hexdigest()
        )
    assert first not in candidates and second not in candidates


def test_incremental_equals_one_shot() -> None:
    values = np.linspace(-3, 3, 1001)
    salt = b"\x07" * 32
    committer = ColumnCommitter("x", salt=salt)
    for start in range(0, len(values), 128):
        committer.update(values[start : start + 128])
    assert committer.finalize() == commit_column("x", values, salt=salt)


@pytest.mark.parametrize(
    ("name", "values", "field"),
    [
        ("x", [1.0, float("nan")], "x"),
        ("x", [[1.0], [2.0]], "x"),
        ("", [1.0], "name"),
    ],
)
def test_bad_columns_rejected(name: str, values: object, field: str) -> None:
    with pytest.raises(InputError) as info:
        commit_column(name, values)  # type: ignore[arg-type]
    assert info.value.field == field
    with pytest.raises(InputError):
        commit_column("x", [1.0], salt=b"short")
