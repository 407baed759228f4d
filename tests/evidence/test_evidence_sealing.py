"""HPKE (ML-KEM-768 + X25519) sealing of the CKKS secret key to the regulator."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from regaudit.secretkey.sealing import RegulatorKeys, unseal_secret_key
from regaudit.shared.errors import (
    BundleFormatError,
    DigestMismatchError,
    IdentityError,
    InputError,
    VerificationError,
    WrongRegulatorKeyError,
)
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, pae
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.sealing import (
    CARD_FILE,
    CARD_PAYLOAD_TYPE,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_BYTES,
    card_signing_input,
    load_card,
    parse_card,
    seal_secret_key,
    sealed_key_digest,
    sealing_info,
    sign_card,
)
from regaudit.shared.profiles import PROFILE_N8192_D3

SECRET = os.urandom(300_000)  # about the size of a serialized SEAL secret key at N=2^13
#: The regulator's Ed25519 identity that signs its cards.
SIGNER = SigningIdentity.generate("regulator")


def _resign(card: dict, signer: SigningIdentity = SIGNER) -> dict:  # type: ignore[type-arg]
    """``card`` with a fresh valid signature over its (possibly edited) other fields."""
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    unsigned["signer"] = signer.public_record().to_dict()
    return sign_card(unsigned, signer=signer)


@pytest.fixture(scope="module")
def keys() -> RegulatorKeys:
    return RegulatorKeys.generate()


def _info(keys: RegulatorKeys, audit_id: str = "audit-1") -> bytes:
    return sealing_info(
        audit_id=audit_id,
        profile_hash=PROFILE_N8192_D3.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id="cd" * 32,
        receipt_digest="sha256:" + "ef" * 32,
    )


def test_card_shape(keys: RegulatorKeys) -> None:
    card = keys.card(signer=SIGNER)
    assert card["kind"] == "regulator"
    assert card["hpke"]["kem"] == "MLKEM768_X25519"
    assert card["hpke"]["kdf"] == "HKDF_SHA256" and card["hpke"]["aead"] == "AES_256_GCM"
    raw = base64.b64decode(card["hpke"]["public_key"])
    assert len(raw) == PUBLIC_KEY_BYTES == 1216
    assert card["regulator_key_id"] == hashlib.sha256(raw).hexdigest() == keys.key_id
    assert parse_card(card).to_dict() == card


def test_seal_unseal_round_trip(keys: RegulatorKeys) -> None:
    info = _info(keys)
    sealed = seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=info)
    assert set(sealed) == {"suite", "regulator_key_id", "info", "ciphertext"}
    assert sealed["regulator_key_id"] == keys.key_id
    assert SECRET not in base64.b64decode(sealed["ciphertext"])
    assert unseal_secret_key(sealed, keys=keys, info=info) == SECRET
    assert sealed_key_digest(sealed).startswith("sha256:")
    assert sealed_key_digest(sealed) != sealed_key_digest(
        seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=info)
    )  # fresh encapsulation each time


def test_wrong_regulator_key_rejected(keys: RegulatorKeys) -> None:
    other = RegulatorKeys.generate()
    sealed = seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=_info(keys))
    with pytest.raises(WrongRegulatorKeyError, match="sealed to regulator key") as info:
        unseal_secret_key(sealed, keys=other, info=_info(keys))
    assert info.value.reason == "wrong_regulator_key"
    # even if the key id is rewritten to match, HPKE decryption fails
    relabelled = dict(sealed, regulator_key_id=other.key_id)
    with pytest.raises(WrongRegulatorKeyError, match="HPKE decryption failed"):
        unseal_secret_key(relabelled, keys=other, info=_info(keys))


def test_tampered_ciphertext_rejected(keys: RegulatorKeys) -> None:
    sealed = seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=_info(keys))
    ciphertext = bytearray(base64.b64decode(sealed["ciphertext"]))
    ciphertext[-5] ^= 1
    tampered = dict(sealed, ciphertext=base64.b64encode(bytes(ciphertext)).decode())
    with pytest.raises(WrongRegulatorKeyError):
        unseal_secret_key(tampered, keys=keys, info=_info(keys))


def test_info_binds_the_audit(keys: RegulatorKeys) -> None:
    sealed = seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=_info(keys, "audit-1"))
    with pytest.raises(DigestMismatchError, match="different audit"):
        unseal_secret_key(sealed, keys=keys, info=_info(keys, "audit-2"))
    # rewriting the recorded info does not help: HPKE authenticates the real info
    forged = dict(sealed, info=base64.b64encode(_info(keys, "audit-2")).decode())
    with pytest.raises(WrongRegulatorKeyError):
        unseal_secret_key(forged, keys=keys, info=_info(keys, "audit-2"))
    info = json.loads(_info(keys))
    assert info == {
        "purpose": "regaudit/v2/ckks-secret-key",
        "audit_id": "audit-1",
        "profile_hash": PROFILE_N8192_D3.profile_hash,
        "regulator_key_id": keys.key_id,
        "client_key_id": "cd" * 32,
        "receipt_digest": "sha256:" + "ef" * 32,
    }


def test_info_binds_the_client_and_the_receipt(keys: RegulatorKeys) -> None:
    """A sealed key opens only under the client and receipt it was sealed for: another client
    re-signing the bundle (or another receipt) changes the info, and HPKE refuses."""
    info = _info(keys)
    sealed = seal_secret_key(SECRET, card=keys.card(signer=SIGNER), info=info)
    other_client = sealing_info(
        audit_id="audit-1",
        profile_hash=PROFILE_N8192_D3.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id="aa" * 32,
        receipt_digest="sha256:" + "ef" * 32,
    )
    other_receipt = sealing_info(
        audit_id="audit-1",
        profile_hash=PROFILE_N8192_D3.profile_hash,
        regulator_key_id=keys.key_id,
        client_key_id="cd" * 32,
        receipt_digest="sha256:" + "00" * 32,
    )
    for wrong in (other_client, other_receipt):
        with pytest.raises(VerificationError):
            unseal_secret_key(sealed, keys=keys, info=wrong)
    assert unseal_secret_key(sealed, keys=keys, info=info) == SECRET


def test_malformed_sealed_objects(keys: RegulatorKeys) -> None:
    sealed = seal_secret_key(b"k", card=keys.card(signer=SIGNER), info=_info(keys))
    cases = [
        ({k: v for k, v in sealed.items() if k != "info"}, "info"),
        (dict(sealed, extra=True), "extra"),
        (
            dict(sealed, suite={"kem": "X25519", "kdf": "HKDF_SHA256", "aead": "AES_256_GCM"}),
            "sealed_key.suite",
        ),
        (dict(sealed, ciphertext="***"), "sealed_key.ciphertext"),
        (dict(sealed, regulator_key_id="xyz"), "sealed_key.regulator_key_id"),
    ]
    for bad, field in cases:
        with pytest.raises(BundleFormatError) as info:
            unseal_secret_key(bad, keys=keys, info=_info(keys))
        assert info.value.field == field


def test_save_load_and_permissions(tmp_path: Path, keys: RegulatorKeys) -> None:
    card_path = keys.save(tmp_path, signer=SIGNER)
    assert card_path == tmp_path / CARD_FILE
    assert stat.S_IMODE((tmp_path / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    loaded = RegulatorKeys.load(tmp_path)
    assert loaded.key_id == keys.key_id
    assert loaded.card(signer=SIGNER) == keys.card(signer=SIGNER)  # Ed25519 is deterministic
    assert load_card(card_path).regulator_key_id == keys.key_id
    info = _info(keys)
    sealed = seal_secret_key(SECRET, card=load_card(card_path), info=info)
    assert unseal_secret_key(sealed, keys=loaded, info=info) == SECRET

    with pytest.raises(IdentityError, match="refusing to overwrite"):
        RegulatorKeys.generate().save(tmp_path, signer=SIGNER)
    os.chmod(tmp_path / PRIVATE_KEY_FILE, 0o640)
    with pytest.raises(IdentityError, match="chmod 600"):
        RegulatorKeys.load(tmp_path)
    with pytest.raises(IdentityError, match="does not exist"):
        RegulatorKeys.load(tmp_path / "missing")
    (tmp_path / PRIVATE_KEY_FILE).write_text('{"format": 1}')
    os.chmod(tmp_path / PRIVATE_KEY_FILE, 0o600)
    with pytest.raises(IdentityError, match=PRIVATE_KEY_FILE):
        RegulatorKeys.load(tmp_path)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(kind="client"), "kind"),
        (lambda c: c.pop("created"), "created"),
        (lambda c: c["hpke"].update(kem="X25519"), "hpke.kem"),
        (lambda c: c["hpke"].update(aead="CHACHA20_POLY1305"), "hpke.aead"),
        (lambda c: c["hpke"].update(public_key="AAAA"), "hpke.public_key"),
        (lambda c: c["hpke"].update(public_key="@@"), "hpke.public_key"),
        (lambda c: c.update(regulator_key_id="0" * 64), "regulator_key_id"),
        (lambda c: c.update(created="now"), "created"),
    ],
)
def test_card_validation(keys: RegulatorKeys, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    card = copy.deepcopy(keys.card(signer=SIGNER))
    mutate(card)
    # unsigned edits break the signature (or the shape, checked first)
    with pytest.raises(InputError) as info:
        parse_card(card)
    assert info.value.field in (field, "signature")
    with pytest.raises(InputError):
        seal_secret_key(b"k", card=card, info=b"")
    # a validly re-signed card is still checked field by field
    card = _resign(card)
    with pytest.raises(InputError) as info:
        parse_card(card)
    assert info.value.field == field
    with pytest.raises(InputError):
        seal_secret_key(b"k", card=card, info=b"")


# --- the signed card (attack 7: a substituted card) ---------------------------------------------


def test_card_is_signed_by_the_regulator_identity(keys: RegulatorKeys) -> None:
    card = keys.card(signer=SIGNER)
    assert set(card) == {"kind", "regulator_key_id", "hpke", "created", "signer", "signature"}
    assert card["signer"] == SIGNER.public_record().to_dict()
    parsed = parse_card(card)
    assert parsed.signer_key_id == SIGNER.key_id
    assert parsed.signer.kind == "regulator"
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    # domain-separated: DSSE PAE under the card's own payload type over JCS of the rest
    assert card_signing_input(unsigned) == pae(CARD_PAYLOAD_TYPE, canonical_json(unsigned))
    SIGNER.public_key.verify(base64.b64decode(card["signature"]), card_signing_input(unsigned))


def test_unsigned_legacy_card_is_refused(keys: RegulatorKeys) -> None:
    legacy = {k: v for k, v in keys.card(signer=SIGNER).items() if k not in ("signer", "signature")}
    with pytest.raises(InputError, match="not signed") as info:
        parse_card(legacy)
    assert info.value.field == "signature"
    with pytest.raises(InputError):
        seal_secret_key(b"k", card=legacy, info=b"")


@pytest.mark.parametrize("index", [0, 31, 63])
def test_flipped_signature_byte_is_refused(keys: RegulatorKeys, index: int) -> None:
    card = keys.card(signer=SIGNER)
    signature = bytearray(base64.b64decode(card["signature"]))
    signature[index] ^= 0x01
    card["signature"] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(InputError, match="does not verify") as info:
        parse_card(card)
    assert info.value.field == "signature"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(extra="x"), "extra"),
        (lambda c: c.update(signature="AAAA"), "signature"),
        (lambda c: c.update(signature="@@"), "signature"),
        (lambda c: c.update(signature=None), "signature"),
        (lambda c: c.pop("signer"), "signer"),
        (lambda c: c.update(signer="nobody"), "signer"),
        (lambda c: c["signer"].update(key_id="0" * 64), "signer.key_id"),
        (lambda c: c["signer"].update(extra=1), "signer.extra"),
        (lambda c: c["signer"].update(kind="evaluator"), "signer.kind"),
    ],
)
def test_card_signature_fields(keys: RegulatorKeys, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    card = copy.deepcopy(keys.card(signer=SIGNER))
    mutate(card)
    with pytest.raises(InputError) as info:
        parse_card(card)
    assert info.value.field == field


def test_substituted_key_or_signer_breaks_the_signature(keys: RegulatorKeys) -> None:
    """Swapping in another regulator's HPKE key (with its matching key id), or another signer
    record, without the signer's private key, is refused."""
    other = RegulatorKeys.generate().card(signer=SigningIdentity.generate("regulator"))
    card = keys.card(signer=SIGNER)
    swapped_key = dict(card, hpke=other["hpke"], regulator_key_id=other["regulator_key_id"])
    swapped_signer = dict(card, signer=other["signer"])
    for forged in (swapped_key, swapped_signer):
        with pytest.raises(InputError) as info:
            parse_card(forged)
        assert info.value.field == "signature"


def test_card_signer_must_be_a_regulator_key(keys: RegulatorKeys) -> None:
    evaluator = SigningIdentity.generate("evaluator")
    card = keys.card(signer=SIGNER)
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    unsigned["signer"] = evaluator.public_record().to_dict()
    with pytest.raises(InputError):
        sign_card(unsigned, signer=evaluator)  # refused to sign
    with pytest.raises(InputError):
        keys.card(signer=evaluator)
    forged = dict(
        unsigned, signature=base64.b64encode(evaluator.sign(card_signing_input(unsigned))).decode()
    )
    with pytest.raises(InputError) as info:
        parse_card(forged)
    assert info.value.field == "signer.kind"


def test_card_signature_is_domain_separated(keys: RegulatorKeys) -> None:
    """The same bytes signed under another payload type (e.g. as an in-toto statement) are not
    a card signature."""
    card = keys.card(signer=SIGNER)
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    other_type = SIGNER.sign(pae(PAYLOAD_TYPE_INTOTO, canonical_json(unsigned)))
    raw = SIGNER.sign(canonical_json(unsigned))
    for signature in (other_type, raw):
        forged = dict(unsigned, signature=base64.b64encode(signature).decode())
        with pytest.raises(InputError) as info:
            parse_card(forged)
        assert info.value.field == "signature"


def test_another_regulators_self_signed_card_parses(keys: RegulatorKeys) -> None:
    """A correctly self-signed card of an attacker is a valid card: only pinning its signer
    (the client's trust anchor) tells it apart; see tests/client/test_client_pins.py."""
    attacker = SigningIdentity.generate("regulator")
    card = RegulatorKeys.generate().card(signer=attacker)
    assert parse_card(card).signer_key_id == attacker.key_id != SIGNER.key_id


def test_load_card_names_path(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text("[]")
    with pytest.raises(InputError, match=str(path)):
        load_card(path)
