"""Fuzz audit bundles (regaudit.shared.bundle): bundles from random bytes, mutated valid bundles
(in memory and as files) and the to_json/from_json and write/read round trips."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fuzz.contract import (
    canonical_values,
    check_contract,
    json_bytes,
    mutated,
    mutated_bytes,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.secretkey.sealing import RegulatorKeys
from regaudit.shared.bundle import MAX_NAME_CHARS, AuditBundle
from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import canonical_json
from regaudit.shared.evidence.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.evidence.sealing import seal_secret_key

EVALUATOR = SigningIdentity.generate("evaluator")
CLIENT = SigningIdentity.generate("client")
REGULATOR = RegulatorKeys.generate()
CARD = REGULATOR.card(signer=SigningIdentity.generate("regulator"))

BUNDLE = AuditBundle(
    audit_id="audit-7",
    primitive="fairness",
    plan={"depth": 2, "rotation_steps": [1, 2]},
    public_inputs={"threshold": 0.5, "groups": ["a", "b"]},
    submission=sign_envelope(b"{}", payload_type=PAYLOAD_TYPE_INTOTO, identity=CLIENT),
    receipt=sign_envelope(b"{}", payload_type=PAYLOAD_TYPE_INTOTO, identity=EVALUATOR),
    sealed_key=seal_secret_key(os.urandom(32), card=CARD, info=b"info"),
    outputs=[os.urandom(48), os.urandom(48)],
    canary_seed=os.urandom(32),
    canary_output=os.urandom(48),
    client_key=CLIENT.public_record().to_dict(),
    evaluator_key=EVALUATOR.public_record().to_dict(),
)
DOCUMENT = BUNDLE.to_dict()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="regaudit-fuzz-") as directory:
        yield Path(directory)


def _bytes(document: Any) -> bytes:
    try:
        return canonical_json(document)
    except InputError:
        return json.dumps(document).encode()


def test_valid_bundle_parses() -> None:
    assert AuditBundle.from_json(BUNDLE.to_json()) == BUNDLE


@given(json_bytes())
def test_bundle_from_random_bytes(data: bytes) -> None:
    check_contract(lambda: AuditBundle.from_json(data), errors=(BundleFormatError,))


@given(mutated(DOCUMENT, max_mutations=2))
def test_mutated_bundle(document: Any) -> None:
    data = _bytes(document)
    bundle = check_contract(
        lambda: AuditBundle.from_json(data),
        errors=(BundleFormatError,),
    )
    if bundle is not None:
        # an accepted bundle has valid key records of the right kinds and DSSE envelopes
        assert bundle.client_record().kind == "client"
        assert bundle.evaluator_record().kind == "evaluator"
        assert bundle.outputs and all(isinstance(item, bytes) for item in bundle.outputs)


@given(mutated_bytes(BUNDLE.to_json()))
def test_bundle_file_with_mutated_bytes(scratch: Path, data: bytes) -> None:
    path = scratch / "bundle.json"
    path.write_bytes(data)
    check_contract(
        lambda: AuditBundle.read(path),
        errors=(BundleFormatError,),
    )


names = st.text(min_size=1, max_size=MAX_NAME_CHARS)
json_objects = st.dictionaries(st.text(max_size=12), canonical_values, max_size=4)


@given(
    audit_id=names,
    primitive=names,
    plan=json_objects,
    public_inputs=json_objects,
    outputs=st.lists(st.binary(max_size=64), min_size=1, max_size=5),
    canary_seed=st.binary(max_size=64),
    canary_output=st.binary(max_size=64),
)
def test_round_trip(
    scratch: Path,
    audit_id: str,
    primitive: str,
    plan: dict[str, Any],
    public_inputs: dict[str, Any],
    outputs: list[bytes],
    canary_seed: bytes,
    canary_output: bytes,
) -> None:
    bundle = replace(
        BUNDLE,
        audit_id=audit_id,
        primitive=primitive,
        plan=plan,
        public_inputs=public_inputs,
        outputs=outputs,
        canary_seed=canary_seed,
        canary_output=canary_output,
    )
    assert AuditBundle.from_json(bundle.to_json()) == bundle
    path = bundle.write(scratch / "round-trip.json")
    assert AuditBundle.read(path) == bundle
