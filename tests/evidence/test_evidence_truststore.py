"""The regulator's trust store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regaudit.shared.errors import (
    InputError,
    RevokedKeyError,
    StaleEvidenceError,
    UnsupportedCircuitError,
    UntrustedIssuerError,
    WrongParameterSetError,
)
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity
from regaudit.shared.evidence.truststore import TrustStore, default_circuits
from regaudit.shared.profiles import PROFILE_N8192_D3, PROFILE_N16384_D6

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture()
def evaluator() -> PublicKeyRecord:
    return SigningIdentity.generate("evaluator").public_record()


def test_new_default_allows_builtins() -> None:
    store = TrustStore.new_default()
    for profile in (PROFILE_N8192_D3, PROFILE_N16384_D6):
        store.require_profile(profile.name, profile.profile_hash)
    store.require_circuit("fairness", "1")
    assert store.keys == ()
    assert store.max_age_seconds == 604800 and store.clock_skew_seconds == 300


def test_add_require_and_kind(evaluator: PublicKeyRecord) -> None:
    store = TrustStore.new_default()
    with pytest.raises(UntrustedIssuerError) as info:
        store.require_key(evaluator.key_id, kind="evaluator", at=T0)
    assert info.value.reason == "untrusted_issuer"
    store.add_key(evaluator, note="cloud A", at=T0)
    record = store.require_key(evaluator.key_id, kind="evaluator", at=T0)
    assert record.public_key_raw == evaluator.public_key_raw
    with pytest.raises(UntrustedIssuerError, match="not as client"):
        store.require_key(evaluator.key_id, kind="client", at=T0)


def test_add_key_is_idempotent_and_refuses_conflicts(evaluator: PublicKeyRecord) -> None:
    store = TrustStore.new_default()
    first = store.add_key(evaluator, at=T0)
    again = store.add_key(evaluator, at=T0 + timedelta(days=1))
    assert again == first and len(store.keys) == 1
    with pytest.raises(InputError, match="different key or kind"):
        store.add_key(
            PublicKeyRecord(
                kind="client", key_id=evaluator.key_id, public_key_raw=evaluator.public_key_raw
            )
        )
    other = SigningIdentity.generate("evaluator").public_record()
    with pytest.raises(InputError, match="different key"):
        store.add_key(
            PublicKeyRecord(
                kind="evaluator", key_id=evaluator.key_id, public_key_raw=other.public_key_raw
            )
        )


def test_revocation_dates(evaluator: PublicKeyRecord) -> None:
    store = TrustStore.new_default()
    store.add_key(evaluator, at=T0)
    revoked_at = T0 + timedelta(days=10)
    store.revoke(evaluator.key_id, at=revoked_at)
    store.require_key(evaluator.key_id, kind="evaluator", at=revoked_at - timedelta(seconds=1))
    with pytest.raises(RevokedKeyError) as info:
        store.require_key(evaluator.key_id, kind="evaluator", at=revoked_at)
    assert info.value.reason == "revoked_key"
    with pytest.raises(RevokedKeyError):
        store.require_key(evaluator.key_id, kind="evaluator", at=revoked_at + timedelta(days=1))
    # a later revocation does not un-revoke; an earlier one moves the date back
    store.revoke(evaluator.key_id, at=revoked_at + timedelta(days=5))
    with pytest.raises(RevokedKeyError):
        store.require_key(evaluator.key_id, kind="evaluator", at=revoked_at)
    store.revoke(evaluator.key_id, at=T0 + timedelta(days=1))
    with pytest.raises(RevokedKeyError):
        store.require_key(evaluator.key_id, kind="evaluator", at=T0 + timedelta(days=2))
    # revoked keys stay revoked when re-added
    store.add_key(evaluator)
    with pytest.raises(RevokedKeyError):
        store.require_key(evaluator.key_id, kind="evaluator", at=T0 + timedelta(days=2))
    with pytest.raises(InputError):
        store.revoke("0" * 64, at=T0)


def test_profiles_and_circuits() -> None:
    store = TrustStore.new_default()
    with pytest.raises(WrongParameterSetError) as info:
        store.require_profile(PROFILE_N8192_D3.name, "sha256:" + "0" * 64)
    assert info.value.field == "profile_hash"
    with pytest.raises(WrongParameterSetError):
        store.require_profile("ckks-n4096-toy", PROFILE_N8192_D3.profile_hash)
    with pytest.raises(UnsupportedCircuitError) as circuit:
        store.require_circuit("fairness", "2")
    assert circuit.value.field == "circuit_version"
    # a new trust store allows exactly the registered version of every primitive
    from regaudit.shared.circuits.registry import CIRCUITS

    assert sorted(CIRCUITS) == sorted(
        (circuit_id, version)
        for circuit_id, versions in default_circuits().items()
        for version in versions
    )
    for circuit_id, version in CIRCUITS:
        store.require_circuit(circuit_id, version)
    with pytest.raises(UnsupportedCircuitError) as old_drift:
        store.require_circuit("drift", "1")
    assert "allowed: 2" in str(old_drift.value)
    with pytest.raises(UnsupportedCircuitError):
        store.require_circuit("sentiment", "1")
    store.allow_circuit("sentiment", "1")
    store.require_circuit("sentiment", "1")


def test_freshness() -> None:
    store = TrustStore.new_default()
    now = T0
    store.require_fresh(now - timedelta(days=6), now=now)
    store.require_fresh(now + timedelta(seconds=299), now=now)
    with pytest.raises(StaleEvidenceError, match="older than") as info:
        store.require_fresh(now - timedelta(days=8), now=now)
    assert info.value.reason == "stale"
    with pytest.raises(StaleEvidenceError, match="future"):
        store.require_fresh(now + timedelta(seconds=301), now=now)


def test_save_load_round_trip(tmp_path: Path, evaluator: PublicKeyRecord) -> None:
    store = TrustStore.new_default()
    client = SigningIdentity.generate("client").public_record()
    store.add_key(evaluator, note="evaluator", at=T0)
    store.add_key(client, at=T0)
    store.revoke(client.key_id, at=T0 + timedelta(hours=1))
    path = tmp_path / "trust.json"
    store.save(path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert doc["keys"][1]["revoked_at"] == "2026-11-01T13:00:00Z"
    assert doc["keys"][0]["revoked_at"] is None
    assert set(doc["keys"][0]) == {
        "key_id",
        "kind",
        "algorithm",
        "public_key",
        "added_at",
        "revoked_at",
        "note",
    }
    loaded = TrustStore.load(path)
    assert loaded.to_dict() == store.to_dict()
    with pytest.raises(RevokedKeyError):
        loaded.require_key(client.key_id, kind="client", at=T0 + timedelta(hours=2))
    assert not [p for p in tmp_path.iterdir() if p.name != "trust.json"]


def _doc(evaluator: PublicKeyRecord) -> dict:
    store = TrustStore.new_default()
    store.add_key(evaluator, at=T0)
    return store.to_dict()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(version=2), "trust.version"),
        (lambda d: d.update(version=True), "trust.version"),
        (lambda d: d.pop("circuits"), "trust.circuits"),
        (lambda d: d.update(extra=[]), "trust.extra"),
        (lambda d: d.update(keys={}), "trust.keys"),
        (lambda d: d["keys"][0].update(kind="root"), "trust.keys[0].kind"),
        (lambda d: d["keys"][0].update(key_id="0" * 64), "trust.keys[0].key_id"),
        (lambda d: d["keys"][0].update(revoked_at="soon"), "trust.keys[0].revoked_at"),
        (lambda d: d["keys"][0].update(added_at=None), "trust.keys[0].added_at"),
        (lambda d: d["keys"][0].pop("note"), "trust.keys[0].note"),
        (lambda d: d["keys"].append(dict(d["keys"][0])), "trust.keys[1].key_id"),
        (lambda d: d["profiles"][0].update(hash="abc"), "trust.profiles[0].hash"),
        (lambda d: d["circuits"][0].update(versions="1"), "trust.circuits[0].versions"),
        (lambda d: d.update(max_age_seconds=-1), "trust.max_age_seconds"),
    ],
)
def test_load_is_strict(tmp_path: Path, evaluator: PublicKeyRecord, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc(evaluator)
    mutate(doc)
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        TrustStore.load(path)
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_load_garbage_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    with pytest.raises(InputError, match="does not exist"):
        TrustStore.load(path)
    path.write_text('{"version": 1, "version": 1}')
    with pytest.raises(InputError, match="duplicate"):
        TrustStore.load(path)


def test_add_key_file_reports_already_trusted_and_refuses_other_kinds(tmp_path: Path) -> None:
    from regaudit.shared.evidence.truststore import describe_trusted

    evaluator = SigningIdentity.generate("evaluator")
    client = SigningIdentity.generate("client")
    evaluator_file = evaluator.save(tmp_path / "evaluator")
    client_file = client.save(tmp_path / "client")
    store = TrustStore.new_default()
    entry, already = store.add_key_file(evaluator_file, kinds=("evaluator", "regulator"))
    assert not already and entry.record.key_id == evaluator.key_id
    assert describe_trusted(entry, already=already) == f"trusted: evaluator key {evaluator.key_id}"
    _, again = store.add_key_file(evaluator_file)
    assert again
    with pytest.raises(InputError) as info:
        store.add_key_file(client_file, kinds=("evaluator", "regulator"), holder="a client")
    assert info.value.field == "kind" and "a client trusts only" in info.value.message
