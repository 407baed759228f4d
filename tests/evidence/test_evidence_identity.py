"""Ed25519 signing identities and public key files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from regaudit.shared.errors import IdentityError
from regaudit.shared.evidence.canonical import b64encode
from regaudit.shared.evidence.identity import (
    PublicKeyRecord,
    SigningIdentity,
    load_public_key_file,
)


def test_generate_save_load_round_trip(tmp_path: Path) -> None:
    identity = SigningIdentity.generate("client")
    pub_path = identity.save(tmp_path)
    assert pub_path == tmp_path / "client.pub.json"
    key_mode = stat.S_IMODE((tmp_path / "client.key").stat().st_mode)
    assert key_mode == 0o600
    assert (tmp_path / "client.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    public = json.loads(pub_path.read_bytes())
    assert set(public) == {"kind", "key_id", "algorithm", "public_key", "created"}
    assert public["kind"] == "client" and public["algorithm"] == "ed25519"
    raw = identity.public_key.public_bytes_raw()
    assert public["key_id"] == hashlib.sha256(raw).hexdigest() == identity.key_id
    assert public["created"].endswith("Z")

    loaded = SigningIdentity.load(tmp_path, kind="client")
    assert loaded.key_id == identity.key_id
    assert loaded.created == identity.created
    signature = loaded.sign(b"data")
    identity.public_key.verify(signature, b"data")

    record = load_public_key_file(pub_path)
    assert record == identity.public_record()
    assert record.public_key.public_bytes_raw() == raw


def test_save_refuses_overwrite(tmp_path: Path) -> None:
    first = SigningIdentity.generate("evaluator")
    first.save(tmp_path)
    second = SigningIdentity.generate("evaluator")
    with pytest.raises(IdentityError, match="refusing to overwrite"):
        second.save(tmp_path)
    assert SigningIdentity.load(tmp_path, kind="evaluator").key_id == first.key_id
    second.save(tmp_path, overwrite=True)
    assert SigningIdentity.load(tmp_path, kind="evaluator").key_id == second.key_id
    assert stat.S_IMODE((tmp_path / "evaluator.key").stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unknown_kind_rejected() -> None:
    with pytest.raises(IdentityError) as info:
        SigningIdentity.generate("auditor")
    assert info.value.field == "kind"


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match=str(tmp_path / "client.key")):
        SigningIdentity.load(tmp_path, kind="client")
    identity = SigningIdentity.generate("client")
    identity.save(tmp_path)
    key_path = tmp_path / "client.key"

    os.chmod(key_path, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        SigningIdentity.load(tmp_path, kind="client")
    os.chmod(key_path, 0o600)

    original = key_path.read_bytes()
    key_path.write_bytes(b"garbage")
    with pytest.raises(IdentityError, match="not a PKCS#8 PEM"):
        SigningIdentity.load(tmp_path, kind="client")
    key_path.write_bytes(original)

    pub_path = tmp_path / "client.pub.json"
    pub_path.write_text("{not json")
    with pytest.raises(IdentityError, match=str(pub_path)):
        SigningIdentity.load(tmp_path, kind="client")

    other = SigningIdentity.generate("client")
    pub_path.write_text(json.dumps(other.public_record().to_dict()))
    with pytest.raises(IdentityError, match="does not match the private key"):
        SigningIdentity.load(tmp_path, kind="client")


def _record_dict() -> dict:
    return SigningIdentity.generate("evaluator").public_record().to_dict()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("created"), "created"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(kind="root"), "kind"),
        (lambda d: d.update(algorithm="rsa"), "algorithm"),
        (lambda d: d.update(public_key="!!"), "public_key"),
        (lambda d: d.update(public_key=b64encode(b"\x01" * 31)), "public_key"),
        (lambda d: d.update(key_id="AB" * 32), "key_id"),
        (lambda d: d.update(key_id="ab" * 32), "key_id"),
        (lambda d: d.update(created="yesterday"), "created"),
    ],
)
def test_public_key_record_validation(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    data = _record_dict()
    mutate(data)
    with pytest.raises(IdentityError) as info:
        PublicKeyRecord.from_dict(data)
    assert info.value.field == field
    assert info.value.reason == "invalid_identity"


def test_load_public_key_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pub.json"
    with pytest.raises(IdentityError, match="does not exist"):
        load_public_key_file(missing)
    data = _record_dict()
    data["key_id"] = "0" * 64
    bad = tmp_path / "bad.pub.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(IdentityError, match="key_id does not match") as info:
        load_public_key_file(bad)
    assert str(bad) in str(info.value)
