"""DSSE v1 envelopes over Ed25519."""

from __future__ import annotations

import base64
import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from regaudit.shared.errors import BadSignatureError, BundleFormatError
from regaudit.shared.evidence.dsse import (
    PAYLOAD_TYPE_INTOTO,
    pae,
    sign_envelope,
    verify_envelope,
)
from regaudit.shared.evidence.identity import SigningIdentity

PAYLOAD = b'{"hello":"world"}'


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return SigningIdentity.generate("evaluator")


def _verify(envelope: dict, signer: SigningIdentity) -> bytes:
    return verify_envelope(envelope, public_key=signer.public_key, key_id=signer.key_id)


def test_pae_known_vector() -> None:
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # lengths are byte lengths, not character counts
    assert pae("é", b"") == b"DSSEv1 2 \xc3\xa9 0 "


def test_sign_and_verify_round_trip(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert envelope["signatures"][0]["keyid"] == signer.key_id
    assert _verify(envelope, signer) == PAYLOAD
    # the signature is over PAE, not over the bare payload
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    signer.public_key.verify(sig, pae(PAYLOAD_TYPE_INTOTO, PAYLOAD))


def test_wrong_key_is_rejected(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    other = SigningIdentity.generate("evaluator")
    with pytest.raises(BadSignatureError, match="signed by key"):
        _verify(envelope, other)
    # same keyid claimed, but signature made by another key
    forged = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=other)
    forged["signatures"][0]["keyid"] = signer.key_id
    with pytest.raises(BadSignatureError, match="does not verify"):
        _verify(forged, signer)


def test_key_id_must_match_verification_key(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    other_key = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(BadSignatureError, match="key_id does not match"):
        verify_envelope(envelope, public_key=other_key, key_id=signer.key_id)


def test_altered_payload_or_type_is_rejected(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    altered = copy.deepcopy(envelope)
    altered["payload"] = base64.b64encode(PAYLOAD.replace(b"world", b"World")).decode()
    with pytest.raises(BadSignatureError) as info:
        _verify(altered, signer)
    assert info.value.reason == "bad_signature"
    retyped = copy.deepcopy(envelope)
    retyped["payloadType"] = "application/json"
    with pytest.raises(BadSignatureError):
        _verify(retyped, signer)


def test_unexpected_but_signed_payload_type(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type="application/json", identity=signer)
    with pytest.raises(BundleFormatError, match="payloadType"):
        _verify(envelope, signer)
    assert (
        verify_envelope(
            envelope,
            public_key=signer.public_key,
            key_id=signer.key_id,
            payload_type="application/json",
        )
        == PAYLOAD
    )


def test_missing_and_duplicate_signatures(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    unsigned = dict(envelope, signatures=[])
    with pytest.raises(BadSignatureError, match="exactly one signature"):
        _verify(unsigned, signer)
    doubled = dict(envelope, signatures=envelope["signatures"] * 2)
    with pytest.raises(BadSignatureError, match="exactly one signature"):
        _verify(doubled, signer)


def test_malformed_envelopes(signer: SigningIdentity) -> None:
    envelope = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=signer)
    cases = [
        ([], "envelope"),
        ({k: v for k, v in envelope.items() if k != "payload"}, "payload"),
        (dict(envelope, extra=1), "extra"),
        (dict(envelope, payload="not base64!"), "payload"),
        (dict(envelope, payloadType=3), "payloadType"),
        (dict(envelope, signatures="x"), "signatures"),
        (dict(envelope, signatures=[{"keyid": signer.key_id}]), "signatures"),
        (dict(envelope, signatures=[{"keyid": "ab", "sig": "AA=="}]), "keyid"),
        (dict(envelope, signatures=[{"keyid": signer.key_id, "sig": "%%%"}]), "sig"),
    ]
    for bad, field in cases:
        with pytest.raises(BundleFormatError) as info:
            _verify(bad, signer)  # type: ignore[arg-type]
        assert info.value.field == field, (bad, info.value)
    short_sig = dict(envelope, signatures=[{"keyid": signer.key_id, "sig": "AAAA"}])
    with pytest.raises(BadSignatureError, match="64 bytes"):
        _verify(short_sig, signer)
