"""Fuzz request signature metadata (regaudit.shared.protocol.authentication): any metadata a
caller can send, mutated valid metadata, and the sign/verify round trip."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fuzz.contract import (
    MAX_SAFE_INT,
    check_contract,
    json_bytes,
)
from hypothesis import given
from hypothesis import strategies as st

from regaudit.shared.errors import UnauthenticatedError
from regaudit.shared.evidence.canonical import canonical_json, format_rfc3339
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import method_path, request_metadata, verify_request_metadata
from regaudit.shared.protocol.authentication import (
    AUTH_HEADERS,
    CLIENT_KEY_HEADER,
    MAX_CLOCK_SKEW_S,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
)

CLIENT = SigningIdentity.generate("client")
EVALUATOR = SigningIdentity.generate("evaluator")
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
METHOD = method_path("SubmitJob")
VALID = request_metadata(CLIENT, METHOD, "", now=NOW)


def _verify(metadata: Any, *, method: str = METHOD, subject: str = "") -> Any:
    return check_contract(
        lambda: verify_request_metadata(metadata, method=method, subject=subject, now=NOW),
        errors=(UnauthenticatedError,),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


header_values = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=40),
    json_bytes().map(_b64),
    st.sampled_from([v for _, v in VALID]),
    st.datetimes(timezones=st.just(UTC)).map(format_rfc3339),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)\Z", fullmatch=True),
)
header_names = st.sampled_from([*AUTH_HEADERS, *(h.upper() for h in AUTH_HEADERS), "x-other"])


@given(st.lists(st.tuples(header_names, header_values), max_size=8))
def test_any_metadata(metadata: list[tuple[str, Any]]) -> None:
    record = _verify(metadata)
    if record is not None:
        assert record.key_id == CLIENT.key_id


@st.composite
def edited_metadata(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """The valid metadata with one or two headers replaced, dropped or repeated, or the key
    record edited and re-encoded."""
    metadata = list(VALID)
    for _ in range(draw(st.integers(1, 2))):
        index = draw(st.integers(0, len(metadata) - 1)) if metadata else 0
        action = draw(st.sampled_from(["replace", "drop", "repeat", "record", "reorder"]))
        if not metadata:
            break
        name, value = metadata[index]
        if action == "replace":
            metadata[index] = (name, draw(header_values))
        elif action == "drop":
            del metadata[index]
        elif action == "repeat":
            metadata.append((name, value))
        elif action == "reorder":
            metadata.reverse()
        else:
            record = CLIENT.public_record().to_dict()
            key = draw(st.sampled_from(sorted(record)))
            record[key] = draw(
                st.text(max_size=70) | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | st.none()
            )
            blob = draw(st.sampled_from([canonical_json, lambda r: json.dumps(r).encode()]))(record)
            metadata = [(n, _b64(blob) if n == CLIENT_KEY_HEADER else v) for n, v in metadata]
    return metadata


@given(edited_metadata())
def test_edited_metadata(metadata: list[tuple[str, Any]]) -> None:
    record = _verify(metadata)
    if record is not None:
        # only the signed values verify: the same four headers, in any order
        assert sorted(metadata) == sorted(VALID)


@given(edited_metadata(), st.sampled_from(["GetResult", "WatchJob", "SubmitJob"]), st.text())
def test_metadata_never_verifies_for_another_call(
    metadata: list[tuple[str, Any]], name: str, subject: str
) -> None:
    if (method_path(name), subject) == (METHOD, ""):
        return
    assert _verify(metadata, method=method_path(name), subject=subject) is None


@given(
    method=st.text(max_size=60),
    subject=st.text(max_size=60),
    nonce=st.binary(min_size=16, max_size=16).map(bytes.hex),
    skew=st.floats(min_value=-MAX_CLOCK_SKEW_S, max_value=MAX_CLOCK_SKEW_S),
)
def test_round_trip(method: str, subject: str, nonce: str, skew: float) -> None:
    signed_at = NOW + timedelta(seconds=skew)
    metadata = request_metadata(CLIENT, method, subject, now=signed_at, nonce=nonce)
    record = verify_request_metadata(metadata, method=method, subject=subject, now=NOW)
    assert record == CLIENT.public_record()
    # an evaluator key never signs requests
    other = request_metadata(EVALUATOR, method, subject, now=signed_at, nonce=nonce)
    with pytest.raises(UnauthenticatedError):
        verify_request_metadata(other, method=method, subject=subject, now=NOW)


def test_deeply_nested_client_key_record() -> None:
    # base64 of 4000 nested '[' (within the 4096-byte record limit)
    metadata = [
        (CLIENT_KEY_HEADER, _b64(b"[" * 4000)),
        (TIME_HEADER, format_rfc3339(NOW)),
        (NONCE_HEADER, "00" * 16),
        (SIGNATURE_HEADER, _b64(bytes(64))),
    ]
    with pytest.raises(UnauthenticatedError):
        verify_request_metadata(metadata, method=METHOD, subject="", now=NOW)
