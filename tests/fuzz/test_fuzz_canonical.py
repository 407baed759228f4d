"""Fuzz the canonical encodings (regaudit.shared.evidence.canonical): strict JSON, digests,
base64 and RFC 3339 times -- every evidence parser is built on them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fuzz.contract import (
    canonical_values,
    check_contract,
    contains_non_finite,
    json_bytes,
)
from hypothesis import given
from hypothesis import strategies as st

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
)

# --- strict JSON ----------------------------------------------------------------------------------


@given(json_bytes())
def test_strict_json_loads_contract(data: bytes) -> None:
    value = check_contract(
        lambda: strict_json_loads(data, what="doc", error=InputError), errors=(InputError,)
    )
    # strict JSON promises no NaN/Infinity, also from an overflowing literal (1e400)
    assert value is None or not contains_non_finite(value), f"accepted {value!r}"


@given(st.text(max_size=80))
def test_strict_json_loads_text_contract(text: str) -> None:
    check_contract(lambda: strict_json_loads(text, what="doc"), errors=(BundleFormatError,))


@given(canonical_values)
def test_strict_json_round_trips_canonical_json(value: object) -> None:
    data = canonical_json(value)
    assert strict_json_loads(data, what="doc") == value
    # canonical JSON is a fixed point
    assert canonical_json(strict_json_loads(data, what="doc")) == data


def test_canonical_json_of_large_float_reads_back() -> None:
    # canonical_json(1e16) is b'10000000000000000' (RFC 8785 number form); strict_json_loads
    # reads an integer literal beyond +-(2^53 - 1) as the double it denotes
    data = canonical_json({"x": 1e16})
    assert data == b'{"x":10000000000000000}'
    assert strict_json_loads(data, what="doc") == {"x": 1e16}
    assert canonical_json(strict_json_loads(data, what="doc")) == data


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_canonical_json_of_any_finite_float_round_trips(value: float) -> None:
    data = canonical_json(value)
    back = strict_json_loads(data, what="doc")
    assert back == value
    assert canonical_json(back) == data


@pytest.mark.parametrize("data", [b"1e400", b"-1e999", b"[1e400]", b"1" * 400])
def test_strict_json_rejects_overflowing_number(data: bytes) -> None:
    with pytest.raises(BundleFormatError):
        strict_json_loads(data, what="doc")


# --- digests --------------------------------------------------------------------------------------


digest_like = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68).map(
        lambda h: "sha256:" + h
    ),
    st.builds(lambda b: "sha256:" + b.hex(), st.binary(min_size=30, max_size=34)),
    st.none(),
    st.integers(),
    st.binary(max_size=40),
)


@given(digest_like)
def test_parse_digest_contract(value: object) -> None:
    hex_part = check_contract(lambda: parse_digest(value), errors=(BundleFormatError,))
    if hex_part is not None:
        assert value == "sha256:" + hex_part
        assert len(hex_part) == 64 and hex_part == hex_part.lower()


@given(st.binary(max_size=200))
def test_digest_round_trip(data: bytes) -> None:
    digest = sha256_digest(data)
    assert "sha256:" + parse_digest(digest) == digest


# --- base64 ---------------------------------------------------------------------------------------


base64_like = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode().rstrip("=")),
    st.none(),
    st.integers(),
    st.binary(max_size=20),
)


@given(base64_like)
def test_b64decode_contract(value: object) -> None:
    data = check_contract(
        lambda: b64decode(value, field="f", error=InputError), errors=(InputError,)
    )
    if data is not None:
        assert b64encode(data) == value  # only the canonical encoding is accepted


@given(st.binary(max_size=300))
def test_b64_round_trip(data: bytes) -> None:
    assert b64decode(b64encode(data), field="f") == data


# --- RFC 3339 -------------------------------------------------------------------------------------


rfc3339_like = st.one_of(
    st.text(max_size=40),
    st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z",
        fullmatch=True,
    ),
    st.builds(
        lambda d, off: d.replace(tzinfo=None).isoformat() + off,
        st.datetimes(),
        st.sampled_from(["Z", "+00:00", "-23:59", "+23:59", "+14:00", "-12:00"]),
    ),
    st.none(),
    st.integers(),
)


@given(rfc3339_like)
def test_parse_rfc3339_contract(value: object) -> None:
    moment = check_contract(
        lambda: parse_rfc3339(value, error=InputError),
        errors=(InputError,),
    )
    if moment is not None:
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    )
)
def test_rfc3339_round_trip(moment: datetime) -> None:
    assert parse_rfc3339(format_rfc3339(moment)) == moment


def test_rfc3339_round_trip_before_year_1000() -> None:
    # format_rfc3339 zero-pads the year (glibc's strftime %Y would write '999')
    moment = parse_rfc3339("0999-01-01T00:00:00Z")
    assert format_rfc3339(moment) == "0999-01-01T00:00:00Z"
    assert parse_rfc3339(format_rfc3339(moment)) == moment


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:01"])
def test_parse_rfc3339_out_of_range(text: str) -> None:
    # well-formed, but the UTC value leaves years 1..9999: the caller's error, with its field
    with pytest.raises(InputError) as caught:
        parse_rfc3339(text, field="signed_at", error=InputError)
    assert caught.value.field == "signed_at"
