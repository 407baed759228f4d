"""The published JSON Schemas describe real evidence: a real bundle, its receipt and its
submission statement validate, and a structurally broken bundle is refused naming the field."""

from __future__ import annotations

import base64
import json

import pytest

from regaudit.shared import schemas
from regaudit.shared.bundle import AuditBundle
from regaudit.shared.errors import BundleFormatError, InputError


def test_real_evidence_matches_the_schemas(good) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(good.bundle.to_json())
    schemas.validate("bundle", document)
    receipt = json.loads(base64.b64decode(document["receipt"]["payload"]))
    submission = json.loads(base64.b64decode(document["submission"]["payload"]))
    schemas.validate("receipt", receipt)
    schemas.validate("submission", submission)


def test_schema_names_the_broken_field(good) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(good.bundle.to_json())
    receipt = json.loads(base64.b64decode(document["receipt"]["payload"]))
    receipt["predicate"]["depth_observed"] = 9
    with pytest.raises(InputError) as info:
        schemas.validate("receipt", receipt)
    assert info.value.field == "/predicate/depth_observed"


def test_bundle_parser_enforces_the_schema(good) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(good.bundle.to_json())
    document["sealed_key"]["regulator_key_id"] = "not-a-key-id"
    with pytest.raises(BundleFormatError) as info:
        AuditBundle.from_json(json.dumps(document).encode())
    assert info.value.field == "/sealed_key/regulator_key_id"
    assert info.value.reason == "malformed_bundle"
