"""Fuzz trust store files (regaudit.shared.evidence.truststore): documents from any JSON value,
mutated valid stores, files of random bytes, and the to_dict/from_dict and save/load round
trips."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fuzz.contract import (
    any_values,
    check_contract,
    json_bytes,
    mutated,
    tolerate,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.shared.errors import InputError
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.truststore import (
    MAX_NOTE_CHARS,
    TRUSTABLE_KINDS,
    TrustedKey,
    TrustStore,
)

#: the known bug of test_fuzz_canonical.py::test_rfc3339_round_trip_before_year_1000: a time
#: before year 1000 loads but is saved with a 3-digit year the store cannot read back
FORMAT_RFC3339_BEFORE_1000 = "format_rfc3339 writes years before 1000 with 3 digits"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
IDENTITIES = [SigningIdentity.generate(kind) for kind in TRUSTABLE_KINDS]


def _store() -> TrustStore:
    store = TrustStore.new_default()
    for identity in IDENTITIES:
        store.add_key(identity.public_record(), note="fuzz", at=T0)
    store.revoke(IDENTITIES[0].key_id, at=T0)
    return store


DOCUMENT = _store().to_dict()

times = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield Path(directory)


@given(any_values)
def test_store_from_any_json_value(value: Any) -> None:
    check_contract(lambda: TrustStore.from_dict(value), errors=(InputError,))


@given(mutated(DOCUMENT))
def test_mutated_store(document: Any) -> None:
    store = check_contract(
        lambda: TrustStore.from_dict(document),
        errors=(InputError,),
    )
    if store is not None:
        # what was accepted is a store that serializes and reads back as itself
        if any(_before_year_1000(entry) for entry in store.keys):
            tolerate(FORMAT_RFC3339_BEFORE_1000)
            return
        again = TrustStore.from_dict(store.to_dict())
        assert again.to_dict() == store.to_dict()
        for entry in store.keys:
            assert entry.record.kind in TRUSTABLE_KINDS


def _before_year_1000(entry: TrustedKey) -> bool:
    times = [entry.added_at] + ([] if entry.revoked_at is None else [entry.revoked_at])
    return any(moment.year < 1000 for moment in times)


@given(json_bytes() | mutated(DOCUMENT).map(lambda d: canonical_json(d) if _jcs(d) else b"[]"))
def test_store_file(scratch: Path, data: bytes) -> None:
    path = scratch / "trust.json"
    path.write_bytes(data)
    check_contract(lambda: TrustStore.load(path), errors=(InputError,))


def _jcs(value: object) -> bool:
    try:
        canonical_json(value)
    except InputError:
        return False
    return True


@given(
    added=st.lists(times, min_size=1, max_size=3),
    revoked=st.lists(st.none() | times, min_size=3, max_size=3),
    notes=st.lists(st.text(max_size=MAX_NOTE_CHARS), min_size=3, max_size=3),
    max_age=st.integers(min_value=0, max_value=2**53 - 1),
    profiles=st.dictionaries(
        st.text(min_size=1, max_size=256),
        st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
        max_size=3,
    ),
)
def test_round_trip(
    scratch: Path,
    added: list[datetime],
    revoked: list[datetime | None],
    notes: list[str],
    max_age: int,
    profiles: dict[str, str],
) -> None:
    store = TrustStore.new_default()
    store.max_age_seconds = max_age
    for identity, at, until, note in zip(IDENTITIES, added, revoked, notes, strict=False):
        store.add_key(identity.public_record(), note=note, at=at)
        if until is not None:
            store.revoke(identity.key_id, at=until)
    for name, digest in profiles.items():
        store.allow_profile(name, digest)
    document = store.to_dict()
    assert TrustStore.from_dict(document).to_dict() == document
    path = scratch / "round-trip.json"
    store.save(path)
    assert TrustStore.load(path).to_dict() == document
