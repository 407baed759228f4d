"""Fuzz public key records and identity files (regaudit.shared.evidence.identity): records from
any JSON value and mutated valid ones, ``<kind>.pub.json`` and ``<kind>.key`` files of random
bytes, and the record/file round trips."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from fuzz.contract import (
    any_values,
    check_contract,
    json_bytes,
    mutated,
    mutated_bytes,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.shared.errors import IdentityError, InputError
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import (
    KINDS,
    PublicKeyRecord,
    SigningIdentity,
    load_public_key_file,
)

IDENTITY = SigningIdentity.generate("client")
RECORD = IDENTITY.public_record().to_dict()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield Path(directory)


@given(any_values)
def test_record_from_any_json_value(value: Any) -> None:
    check_contract(
        lambda: PublicKeyRecord.from_dict(value),
        errors=(IdentityError,),
    )


@given(mutated(RECORD), st.sampled_from([IdentityError, InputError]))
def test_mutated_record(value: Any, error: type[IdentityError] | type[InputError]) -> None:
    record = check_contract(
        lambda: PublicKeyRecord.from_dict(value, error=error),
        errors=(error,),
    )
    if record is not None:
        # an accepted record still binds its key id to its key
        assert record.public_key_raw == IDENTITY.public_key.public_bytes_raw()
        assert record.key_id == IDENTITY.key_id
        assert record.kind in KINDS


@given(st.sampled_from(KINDS))
def test_record_round_trip(kind: str) -> None:
    identity = SigningIdentity.generate(kind)
    record = identity.public_record()
    assert PublicKeyRecord.from_dict(record.to_dict()) == record
    assert PublicKeyRecord.from_dict(record.to_dict(), error=InputError).public_key_raw == (
        identity.public_key.public_bytes_raw()
    )


@given(json_bytes() | mutated(RECORD).map(lambda v: canonical_json(v) if _jcs(v) else b"{}"))
def test_public_key_file(scratch: Path, data: bytes) -> None:
    path = scratch / "client.pub.json"
    path.write_bytes(data)
    check_contract(lambda: load_public_key_file(path), errors=(IdentityError,))


def _jcs(value: object) -> bool:
    try:
        canonical_json(value)
    except InputError:
        return False
    return True


def _pem(
    key: ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


#: PKCS#8 PEM keys: an Ed25519 key (not the identity's), and keys of other types
PEMS = [
    _pem(ed25519.Ed25519PrivateKey.generate()),
    _pem(x25519.X25519PrivateKey.generate()),
    _pem(ec.generate_private_key(ec.SECP256R1())),
]
pem_files = st.sampled_from(PEMS) | st.sampled_from(PEMS).flatmap(
    lambda pem: mutated_bytes(pem, keep_header=28)
)


@given(st.binary(max_size=200) | pem_files)
def test_private_key_file(scratch: Path, data: bytes) -> None:
    directory = scratch / "identity"
    IDENTITY.save(directory, overwrite=True)
    key_path = directory / "client.key"
    key_path.write_bytes(data)
    os.chmod(key_path, 0o600)
    loaded = check_contract(
        lambda: SigningIdentity.load(directory, kind="client"),
        errors=(IdentityError,),
    )
    if loaded is not None:
        assert loaded.key_id == IDENTITY.key_id


def _ed25519_der_with_oid_byte(value: int) -> bytes:
    """An Ed25519 PKCS#8 key whose algorithm OID (1.3.101.112) has its last byte set."""
    der = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    oid = bytes.fromhex("06032b6570")
    at = der.index(oid) + len(oid) - 1
    return der[:at] + bytes([value]) + der[at + 1 :]


def _pem_of(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("oid_last_byte", [0x6F, 0x71], ids=["unknown-oid", "ed448-oid"])
def test_private_key_of_another_algorithm(scratch: Path, oid_last_byte: int) -> None:
    # unknown OID 1.3.101.111 (cryptography: UnsupportedAlgorithm) or Ed448's OID 1.3.101.113
    # on an Ed25519-sized key (cryptography: InternalError): IdentityError either way
    directory = scratch / f"identity-{oid_last_byte}"
    IDENTITY.save(directory, overwrite=True)
    key_path = directory / "client.key"
    key_path.write_bytes(_pem_of(_ed25519_der_with_oid_byte(oid_last_byte)))
    os.chmod(key_path, 0o600)
    with pytest.raises(IdentityError):
        SigningIdentity.load(directory, kind="client")


def test_identity_file_round_trip(scratch: Path) -> None:
    directory = scratch / "round-trip"
    for kind in KINDS:
        identity = SigningIdentity.generate(kind)
        identity.save(directory, overwrite=True)
        loaded = SigningIdentity.load(directory, kind=kind)
        assert loaded.key_id == identity.key_id
        assert loaded.public_record() == identity.public_record()
