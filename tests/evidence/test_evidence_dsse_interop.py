"""Our signed evidence verifies with an independent DSSE implementation (securesystemslib).

One real audit through the three command lines (``init``, a running ``regaudit-evaluator
serve``, ``regaudit-client audit fairness`` on the bundled sample, ``regaudit-regulator verify
--signed-report``) produces the three kinds of signed statement: the evaluator's receipt, the
client's submission and the regulator's signed finding (an in-toto Statement too, see
tests/findings). Each party's key is exported with
``key export --format pem`` and read by pyca's PEM loader; securesystemslib's
``Envelope.verify`` accepts each envelope under its signer's key (key id = the PEM's
``Key-Id``, which securesystemslib requires to match the envelope's) and rejects a tampered
payload, a tampered payload type, a forged signature and the wrong party's key. The other way
round, an envelope securesystemslib signs with one of our identities verifies with ours.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey
from support.cli import ROOT, cli
from support.parties import Parties

from regaudit.shared.errors import BadSignatureError
from regaudit.shared.evidence.dsse import verify_envelope
from regaudit.shared.evidence.identity import PublicKeyRecord, SigningIdentity

SAMPLE_CSV = ROOT / "examples" / "data" / "fairness-sample.csv"
CSV_COLUMNS = ("--y-true", "y_true", "--y-pred", "y_pred", "--group", "group")
INTOTO = "application/vnd.in-toto+json"


@dataclass
class Evidence:
    """The three signed statements of one real audit, and the PEM key of each signer."""

    receipt: dict[str, Any]
    submission: dict[str, Any]
    report: dict[str, Any]
    pem: dict[str, bytes]  # kind -> exported PEM


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    root = tmp_path_factory.mktemp("interop")
    parties = Parties.start(root)
    try:
        bundle, signed = root / "audit.bundle", root / "report.dsse.json"
        audited = parties.audit(SAMPLE_CSV, bundle, *CSV_COLUMNS, "--quiet")
        assert audited.returncode == 0, audited.stderr
        verified = parties.verify(bundle, "--signed-report", signed)
        assert verified.returncode == 0, verified.stderr
    finally:
        parties.stop()
    pem = {}
    for kind, directory in (
        ("evaluator", parties.evaluator),
        ("client", parties.client),
        ("regulator", parties.regulator),
    ):
        out = root / f"{kind}.pem"
        cli(kind, "key", "export", "--identity", directory, "--format", "pem", "--out", out,
            check=True)  # fmt: skip
        pem[kind] = out.read_bytes()
    document = json.loads(bundle.read_text())
    yield Evidence(
        receipt=document["receipt"],
        submission=document["submission"],
        report=json.loads(signed.read_text()),
        pem=pem,
    )


def sslib_key(pem: bytes) -> SSlibKey:
    """The key as securesystemslib sees it: pyca's PEM loader, key id from the PEM's line."""
    (key_id,) = [
        line.split(":", 1)[1].strip()
        for line in pem.decode().splitlines()
        if line.startswith("Key-Id:")
    ]
    return SSlibKey.from_crypto(load_pem_public_key(pem), keyid=key_id)


def verify(envelope: dict[str, Any], pem: bytes) -> dict[str, Any]:
    verified = Envelope.from_dict(copy.deepcopy(envelope)).verify([sslib_key(pem)], 1)
    return dict(verified)


STATEMENTS = (
    ("receipt", "evaluator", INTOTO),
    ("submission", "client", INTOTO),
    ("report", "regulator", INTOTO),
)


@pytest.mark.parametrize(("statement", "signer", "payload_type"), STATEMENTS)
def test_securesystemslib_verifies_real_evidence(
    evidence: Evidence, statement: str, signer: str, payload_type: str
) -> None:
    envelope = getattr(evidence, statement)
    assert envelope["payloadType"] == payload_type
    verified = verify(envelope, evidence.pem[signer])
    assert list(verified) == [envelope["signatures"][0]["keyid"]]
    payload = json.loads(base64.b64decode(envelope["payload"]))
    assert payload["_type"] == "https://in-toto.io/Statement/v1"
    assert payload["subject"]


@pytest.mark.parametrize(("statement", "signer", "payload_type"), STATEMENTS)
def test_securesystemslib_rejects_tampered_evidence(
    evidence: Evidence, statement: str, signer: str, payload_type: str
) -> None:
    envelope = getattr(evidence, statement)
    pem = evidence.pem[signer]
    # one byte of the payload changed
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[len(payload) // 2] ^= 0x01
    tampered = {**envelope, "payload": base64.b64encode(bytes(payload)).decode()}
    with pytest.raises(VerificationError, match="Accepted signatures do not match threshold"):
        verify(tampered, pem)
    # the payload type is signed too (PAE)
    with pytest.raises(VerificationError):
        verify({**envelope, "payloadType": payload_type + "x"}, pem)
    # a forged signature under the right key id
    forged = copy.deepcopy(envelope)
    sig = bytearray(base64.b64decode(forged["signatures"][0]["sig"]))
    sig[0] ^= 0x80
    forged["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(VerificationError):
        verify(forged, pem)
    # another party's key, even presented under the signer's key id
    other = next(kind for kind in evidence.pem if kind != signer)
    impostor = sslib_key(evidence.pem[other])
    impostor.keyid = envelope["signatures"][0]["keyid"]
    with pytest.raises(VerificationError):
        Envelope.from_dict(copy.deepcopy(envelope)).verify([impostor], 1)


def test_exported_pem_is_the_key_of_the_json_record(evidence: Evidence, tmp_path: Path) -> None:
    """The PEM export and the .pub.json name the same key and key id (sha256 of the raw key)."""
    for kind, pem in evidence.pem.items():
        record = PublicKeyRecord.from_pem(pem)
        assert record.kind == kind
        assert sslib_key(pem).keyid == record.key_id


def test_an_envelope_signed_by_securesystemslib_verifies_with_ours() -> None:
    identity = SigningIdentity.generate("client")
    public = SSlibKey.from_crypto(identity.public_key, keyid=identity.key_id)
    signer = CryptoSigner(identity._private_key, public)
    envelope = Envelope(b'{"hello":"world"}', INTOTO, {})
    envelope.sign(signer)
    as_dict = envelope.to_dict()
    payload = verify_envelope(as_dict, public_key=identity.public_key, key_id=identity.key_id)
    assert payload == b'{"hello":"world"}'
    as_dict["payload"] = base64.b64encode(b'{"hello":"World"}').decode()
    with pytest.raises(BadSignatureError):
        verify_envelope(as_dict, public_key=identity.public_key, key_id=identity.key_id)
