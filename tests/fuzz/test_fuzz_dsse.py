"""Fuzz DSSE envelopes (regaudit.shared.evidence.dsse): structure checks on any JSON value,
signature checks on mutated envelopes, and the sign/verify round trip."""

from __future__ import annotations

import json
from typing import Any

from fuzz.contract import any_values, check_contract, json_bytes, mutated
from hypothesis import given
from hypothesis import strategies as st

from regaudit.shared.errors import BadSignatureError, BundleFormatError
from regaudit.shared.evidence.canonical import strict_json_loads
from regaudit.shared.evidence.dsse import (
    MAX_PAYLOAD_TYPE_CHARS,
    PAYLOAD_TYPE_INTOTO,
    envelope_payload_unverified,
    sign_envelope,
    verify_envelope,
)
from regaudit.shared.evidence.identity import SigningIdentity

SIGNER = SigningIdentity.generate("evaluator")
OTHER = SigningIdentity.generate("evaluator")
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1","subject":[]}'
ENVELOPE = sign_envelope(PAYLOAD, payload_type=PAYLOAD_TYPE_INTOTO, identity=SIGNER)
ERRORS = (BundleFormatError, BadSignatureError)


@given(any_values)
def test_structure_check_of_any_json_value(value: Any) -> None:
    check_contract(lambda: envelope_payload_unverified(value), errors=ERRORS)


@given(json_bytes())
def test_envelope_from_json_bytes(data: bytes) -> None:
    def parse() -> bytes:
        document = strict_json_loads(data, what="envelope")
        return verify_envelope(
            document,  # type: ignore[arg-type]
            public_key=SIGNER.public_key,
            key_id=SIGNER.key_id,
        )

    check_contract(parse, errors=ERRORS)


@given(mutated(ENVELOPE))
def test_mutated_envelope_never_verifies_other_content(envelope: Any) -> None:
    check_contract(lambda: envelope_payload_unverified(envelope), errors=ERRORS)
    payload = check_contract(
        lambda: verify_envelope(envelope, public_key=SIGNER.public_key, key_id=SIGNER.key_id),
        errors=ERRORS,
    )
    if payload is not None:
        # whatever the edit, only the signed type and payload can verify
        assert payload == PAYLOAD
        assert envelope["payloadType"] == PAYLOAD_TYPE_INTOTO


@given(mutated(ENVELOPE))
def test_mutated_envelope_never_verifies_with_another_key(envelope: Any) -> None:
    payload = check_contract(
        lambda: verify_envelope(envelope, public_key=OTHER.public_key, key_id=OTHER.key_id),
        errors=ERRORS,
    )
    assert payload is None


@given(
    payload=st.binary(max_size=512),
    payload_type=st.text(min_size=1, max_size=MAX_PAYLOAD_TYPE_CHARS),
)
def test_sign_verify_round_trip(payload: bytes, payload_type: str) -> None:
    envelope = sign_envelope(payload, payload_type=payload_type, identity=SIGNER)
    # through JSON, as in a bundle or a result header
    envelope = strict_json_loads(json.dumps(envelope).encode(), what="envelope")  # type: ignore[assignment]
    assert envelope_payload_unverified(envelope) == (payload_type, payload, SIGNER.key_id)
    assert (
        verify_envelope(
            envelope,
            public_key=SIGNER.public_key,
            key_id=SIGNER.key_id,
            payload_type=payload_type,
        )
        == payload
    )
