"""Public keys as PEM (SubjectPublicKeyInfo, Ed25519): export, import, ``key export`` on the
three programs, and ``trust add`` of a PEM file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cli import cli

from regaudit.shared.errors import IdentityError
from regaudit.shared.evidence.canonical import sha256_hex
from regaudit.shared.evidence.identity import (
    PublicKeyRecord,
    SigningIdentity,
    load_public_key_file,
)
from regaudit.shared.evidence.truststore import TrustStore

BEGIN = b"-----BEGIN PUBLIC KEY-----\n"


def bare_pem(identity: SigningIdentity) -> bytes:
    """The key as any other tool writes it: SPKI PEM, no explanatory lines."""
    return identity.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_pem_round_trip_keeps_kind_key_id_and_creation() -> None:
    identity = SigningIdentity.generate("evaluator")
    pem = identity.public_pem()
    assert pem.splitlines()[:2] == [b"Kind: evaluator", f"Key-Id: {identity.key_id}".encode()]
    assert b"-----BEGIN PUBLIC KEY-----" in pem
    assert PublicKeyRecord.from_pem(pem) == identity.public_record()
    # OpenSSL's and pyca's readers skip the explanatory lines (RFC 7468)
    loaded = serialization.load_pem_public_key(pem)
    assert loaded.public_bytes_raw() == identity.public_key.public_bytes_raw()  # type: ignore[union-attr]


def test_a_foreign_pem_needs_its_kind_said() -> None:
    identity = SigningIdentity.generate("client")
    with pytest.raises(IdentityError, match="does not say whose key") as caught:
        PublicKeyRecord.from_pem(bare_pem(identity))
    assert caught.value.field == "kind"
    record = PublicKeyRecord.from_pem(bare_pem(identity), kind="client")
    assert (record.kind, record.key_id, record.created) == ("client", identity.key_id, None)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda pem: pem.replace(b"Kind: client", b"Kind: auditor"), "kind"),
        (lambda pem: pem.replace(b"Key-Id: ", b"Key-Id: 00"), "key_id"),
        (lambda pem: b"Owner: someone\n" + pem, "pem"),
        (lambda pem: pem.replace(b"Created: ", b"Created: yesterday "), "created"),
        (lambda pem: pem.replace(BEGIN, BEGIN + b"A"), "pem"),
    ],
)  # fmt: skip
def test_a_damaged_pem_is_refused_naming_the_field(edit: object, field: str) -> None:
    pem = SigningIdentity.generate("client").public_pem()
    with pytest.raises(IdentityError) as caught:
        PublicKeyRecord.from_pem(edit(pem))  # type: ignore[operator]
    assert caught.value.field == field, caught.value


def test_a_pem_of_another_algorithm_or_kind_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = b"Kind: client\n" + p256.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(IdentityError, match="Ed25519") as caught:
        PublicKeyRecord.from_pem(pem)
    assert caught.value.field == "algorithm"
    client_pem = SigningIdentity.generate("client").public_pem()
    with pytest.raises(IdentityError, match="the PEM says Kind: client, not evaluator"):
        PublicKeyRecord.from_pem(client_pem, kind="evaluator")


def test_load_public_key_file_reads_json_and_pem(tmp_path: Path) -> None:
    identity = SigningIdentity.generate("regulator")
    json_file = identity.save(tmp_path)
    pem_file = tmp_path / "regulator.pem"
    pem_file.write_bytes(identity.public_pem())
    assert load_public_key_file(json_file) == load_public_key_file(pem_file)
    store = TrustStore.new_default()
    bare = tmp_path / "bare.pem"
    bare.write_bytes(bare_pem(SigningIdentity.generate("evaluator")))
    entry, already = store.add_key_file(bare, kind="evaluator")
    assert (entry.record.kind, already) == ("evaluator", False)


def test_key_export_and_trust_add_on_the_command_lines(tmp_path: Path) -> None:
    exported: dict[str, bytes] = {}
    for kind in ("client", "evaluator", "regulator"):
        directory = tmp_path / kind
        cli(kind, "init", directory, check=True)
        as_json = cli(kind, "key", "export", "--identity", directory, check=True)
        assert json.loads(as_json.stdout) == json.loads(
            (directory / f"{kind}.pub.json").read_text()
        )
        out = tmp_path / f"{kind}.pem"
        cli(kind, "key", "export", "--identity", directory, "--format", "pem", "--out", out,
            check=True)  # fmt: skip
        exported[kind] = out.read_bytes()
        assert PublicKeyRecord.from_pem(exported[kind]).key_id == as_json_key_id(as_json)
        if shutil.which("openssl"):  # OpenSSL's command line reads the export too
            text = subprocess.run(
                ["openssl", "pkey", "-pubin", "-in", str(out), "-noout", "-text"],
                capture_output=True, text=True, check=True, timeout=30,
            ).stdout  # fmt: skip
            assert "ED25519 Public-Key" in text
        refused = cli(kind, "key", "export", "--identity", directory, "--format", "pem",
                      "--out", out)  # fmt: skip
        assert refused.returncode == 2 and "already exists" in refused.stderr, refused.stderr
    missing = cli("client", "key", "export", "--identity", tmp_path / "nowhere")
    assert missing.returncode == 2 and "[invalid_identity]" in missing.stderr
    trust = tmp_path / "trust.json"
    for kind in ("client", "evaluator"):
        added = cli("regulator", "trust", "add", tmp_path / f"{kind}.pem", "--trust", trust)
        assert added.returncode == 0, added.stderr
    client_trust = tmp_path / "client-trust.json"
    for kind in ("evaluator", "regulator"):
        added = cli("client", "trust", "add", tmp_path / f"{kind}.pem", "--trust", client_trust)
        assert added.returncode == 0, added.stderr
    held = {entry["key_id"] for entry in json.loads(trust.read_text())["keys"]}
    assert held == {PublicKeyRecord.from_pem(exported[k]).key_id for k in ("client", "evaluator")}
    bare = tmp_path / "bare.pem"
    bare.write_bytes(b"\n".join(exported["client"].splitlines()[3:]) + b"\n")
    refused = cli("regulator", "trust", "add", bare, "--trust", trust)
    assert refused.returncode == 2 and "Kind:" in refused.stderr, refused.stderr


def as_json_key_id(result: subprocess.CompletedProcess[str]) -> str:
    value = json.loads(result.stdout)["key_id"]
    assert isinstance(value, str)
    return value


PEM_SAMPLE = SigningIdentity.generate("client").public_pem()


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(PEM_SAMPLE) - 1), st.integers(0, 255), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_a_mangled_pem_fails_only_with_identity_error(edits: list[tuple[int, int, bool]]) -> None:
    data = bytearray(PEM_SAMPLE)
    for position, value, insert in edits:
        position = min(position, len(data) - 1)
        if insert:
            data.insert(position, value)
        else:
            data[position] = value
    try:
        record = PublicKeyRecord.from_pem(bytes(data))
    except IdentityError:
        return
    # accepted: then it is the same key, or at least an Ed25519 key its id names
    assert record.key_id == sha256_hex(record.public_key_raw)
