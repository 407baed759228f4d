"""Fuzz the sealing side of the evidence (regaudit.shared.evidence.sealing and the regulator's
regaudit.secretkey.sealing): signed regulator cards (any JSON value, mutated and re-signed,
card files), sealed-key objects and the regulator's HPKE key file; card and seal/unseal round
trips."""

from __future__ import annotations

import json
import os
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
    scaled,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    IdentityError,
    InputError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.sealing import (
    PRIVATE_KEY_FILE,
    load_card,
    parse_card,
    seal_secret_key,
    sealing_info,
    sign_card,
    unsigned_card,
)

SIGNER = SigningIdentity.generate("regulator")
KEYS = RegulatorKeys.generate()
CARD = KEYS.card(signer=SIGNER)
INFO = sealing_info(
    audit_id="audit-1",
    profile_hash="sha256:" + "ab" * 32,
    regulator_key_id=KEYS.key_id,
    client_key_id="cd" * 32,
    receipt_digest="sha256:" + "ef" * 32,
)
SECRET = os.urandom(64)
SEALED = seal_secret_key(SECRET, card=CARD, info=INFO)
UNSEAL_ERRORS = (BundleFormatError, WrongRegulatorKeyError, DigestMismatchError)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield Path(directory)


def _resigned(card: Any) -> Any:
    """A mutated card with a valid signature by SIGNER over its (edited) other fields, so the
    checks behind the signature see the edit; unchanged if it cannot be signed."""
    if not isinstance(card, dict):
        return card
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    unsigned["signer"] = SIGNER.public_record().to_dict()
    try:
        return sign_card(unsigned, signer=SIGNER)
    except InputError:
        return card


# --- regulator cards ------------------------------------------------------------------------------


@given(any_values)
def test_card_from_any_json_value(value: Any) -> None:
    check_contract(lambda: parse_card(value), errors=(InputError,))


@given(mutated(CARD))
def test_mutated_card_is_refused_by_its_signature(card: Any) -> None:
    parsed = check_contract(lambda: parse_card(card), errors=(InputError,))
    if parsed is not None:
        # nothing the signature covers can change
        assert parsed.public_key_raw == KEYS.public_key_raw
        assert parsed.signer_key_id == SIGNER.key_id


@given(mutated(CARD).map(_resigned))
def test_mutated_resigned_card(card: Any) -> None:
    parsed = check_contract(lambda: parse_card(card), errors=(InputError,))
    if parsed is not None:
        assert parsed.signer_key_id == SIGNER.key_id
        # the key id still names the key the card carries
        assert parsed.regulator_key_id == KEYS.key_id
        assert parsed.public_key_raw == KEYS.public_key_raw


@given(json_bytes() | mutated(CARD).map(_resigned).map(lambda c: json.dumps(c).encode()))
def test_card_file(scratch: Path, data: bytes) -> None:
    path = scratch / "regulator-card.json"
    path.write_bytes(data)
    check_contract(lambda: load_card(path), errors=(InputError,))


@scaled(30)
@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_card_round_trip(created: datetime) -> None:
    unsigned = unsigned_card(
        regulator_key_id=KEYS.key_id,
        public_key_raw=KEYS.public_key_raw,
        created=created,
        signer=SIGNER.public_record(),
    )
    card = sign_card(unsigned, signer=SIGNER)
    parsed = parse_card(json.loads(canonical_json(card)))
    assert parsed.created == created
    assert parsed.to_dict() == card
    assert parse_card(parsed.to_dict()).to_dict() == card


# --- sealed keys ----------------------------------------------------------------------------------


@given(any_values | mutated(SEALED))
def test_unseal_of_mutated_sealed_key(sealed: Any) -> None:
    secret = check_contract(
        lambda: unseal_secret_key(sealed, keys=KEYS, info=INFO), errors=UNSEAL_ERRORS
    )
    if secret is not None:
        assert secret == SECRET


@scaled(30)
@given(st.binary(min_size=1, max_size=4096), st.binary(max_size=256))
def test_seal_unseal_round_trip(secret: bytes, info: bytes) -> None:
    sealed = seal_secret_key(secret, card=CARD, info=info)
    assert unseal_secret_key(json.loads(json.dumps(sealed)), keys=KEYS, info=info) == secret


# --- the regulator's HPKE key file ----------------------------------------------------------------


def _key_file() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        KEYS.save(directory, signer=SIGNER)
        return json.loads((Path(directory) / PRIVATE_KEY_FILE).read_bytes())  # type: ignore[no-any-return]


KEY_FILE = _key_file()


@given(json_bytes() | mutated(KEY_FILE).map(lambda v: json.dumps(v).encode()))
def test_regulator_key_file(scratch: Path, data: bytes) -> None:
    directory = scratch / "regulator"
    directory.mkdir(exist_ok=True)
    path = directory / PRIVATE_KEY_FILE
    path.write_bytes(data)
    os.chmod(path, 0o600)
    keys = check_contract(
        lambda: RegulatorKeys.load(directory),
        errors=(IdentityError,),
    )
    if keys is not None and data == json.dumps(KEY_FILE).encode():
        assert keys.key_id == KEYS.key_id
