"""Canonical JSON, digests, base64 and RFC 3339 helpers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_rfc3339,
    parse_digest,
    parse_rfc3339,
    sha256_digest,
    strict_json_loads,
    utc_now,
)


def test_canonical_json_sorts_keys_and_formats_numbers() -> None:
    assert canonical_json({"b": 1.0, "a": [3, "é"], "c": 1e21}) == (
        b'{"a":[3,"\xc3\xa9"],"b":1,"c":1e+21}'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**60, {1: 2}, b"bytes"])
def test_canonical_json_refuses_inexact_values(bad: object) -> None:
    with pytest.raises(InputError) as info:
        canonical_json({"x": bad})
    assert info.value.reason == "invalid_input"


def test_sha256_digest_and_parse() -> None:
    digest = sha256_digest(b"abc")
    assert digest == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert parse_digest(digest) == digest[7:]


@pytest.mark.parametrize(
    "bad", ["sha256:" + "A" * 64, "sha256:" + "0" * 63, "md5:" + "0" * 64, "0" * 64, 5, None]
)
def test_parse_digest_rejects_malformed(bad: object) -> None:
    with pytest.raises(BundleFormatError) as info:
        parse_digest(bad, field="profile_hash")
    assert info.value.field == "profile_hash"
    with pytest.raises(InputError):
        parse_digest(bad, error=InputError)


def test_base64_is_strict() -> None:
    assert b64decode(b64encode(b"\x00\xffhello"), field="f") == b"\x00\xffhello"
    for bad in ["abc", "ab!c", "YQ", "YR==", 17]:
        with pytest.raises(BundleFormatError) as info:
            b64decode(bad, field="payload")
        assert info.value.field == "payload"


def test_rfc3339_round_trip_and_zone_handling() -> None:
    now = utc_now()
    assert now.tzinfo is not None
    assert parse_rfc3339(format_rfc3339(now)) == now
    text = format_rfc3339(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert text == "2026-01-02T03:04:05Z"
    shifted = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_rfc3339(shifted) == text
    assert parse_rfc3339("2026-01-02T05:04:05+02:00") == parse_rfc3339(text)
    assert parse_rfc3339("2026-01-02T03:04:05.123456789Z").microsecond == 123456
    with pytest.raises(InputError):
        format_rfc3339(datetime(2026, 1, 2))  # naive
    for bad in ["2026-01-02T03:04:05", "2026-01-02 03:04:05Z", "2026-13-02T03:04:05Z", 0]:
        with pytest.raises(BundleFormatError):
            parse_rfc3339(bad)


def test_strict_json_rejects_duplicates_and_nan() -> None:
    assert strict_json_loads(b'{"a": 1}', what="x") == {"a": 1}
    for bad in [b'{"a": 1, "a": 2}', b'{"a": NaN}', b"\xff", b"{"]:
        with pytest.raises(BundleFormatError):
            strict_json_loads(bad, what="x")
