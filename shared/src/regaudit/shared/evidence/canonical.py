"""Canonical encodings shared by all evidence: RFC 8785 JSON, digest strings, RFC 3339 times,
strict base64 and strict JSON parsing.

Digest strings are always ``"sha256:<64 lowercase hex>"``. Times are timezone-aware UTC
``datetime`` objects in memory and RFC 3339 strings with a ``Z`` suffix on disk and in
statements.

Numbers follow RFC 8785 / I-JSON: every JSON number stands for an IEEE 754 double. Integers are
exact only within +-(2^53 - 1) (:data:`MAX_SAFE_INTEGER`): :func:`canonical_json` refuses a
Python ``int`` beyond it, and writes a (necessarily integral) ``float`` of magnitude >= 2^53
below 1e21 as plain digits (``1e16`` -> ``10000000000000000``). :func:`strict_json_loads`
therefore reads an integer literal beyond +-(2^53 - 1) as the ``float`` it denotes, so
``strict_json_loads(canonical_json(x)) == x`` and ``canonical_json`` of what it read gives the
same bytes back for every value ``canonical_json`` accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

import rfc8785

from regaudit.shared.errors import BundleFormatError, InputError, RegauditError

DIGEST_PREFIX = "sha256:"
#: Largest integer magnitude JSON numbers (IEEE 754 doubles) represent exactly: 2^53 - 1.
MAX_SAFE_INTEGER = 2**53 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


# --- canonical JSON ---------------------------------------------------------------------------


def canonical_json(obj: object) -> bytes:
    """RFC 8785 (JCS) canonical JSON of ``obj`` as UTF-8 bytes.

    Raises InputError if ``obj`` holds something JSON cannot represent exactly (NaN, infinity,
    integers beyond +-(2^53 - 1), non-string keys, bytes...). A finite ``float`` of any
    magnitude is accepted: one >= 2^53 (integral) is written as RFC 8785 prescribes, as digits
    below 1e21, and :func:`strict_json_loads` reads those digits back as the same ``float``.
    """
    try:
        # any object on purpose: rfc8785 checks every value at run time (TypeError, ValueError)
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"value cannot be canonicalized as JSON: {exc}") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a JSON object, or ValueError on a repeated key."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate JSON object key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> NoReturn:
    """``parse_constant``: NaN and infinities are never accepted."""
    raise ValueError(f"non-finite number {name} is not allowed")


def _parse_float(text: str) -> float:
    """``parse_float``: a finite float; a literal that overflows (``1e400``) is refused."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of the range of a double")
    return value


def _parse_int(text: str) -> int | float:
    """``parse_int``: an ``int`` within +-(2^53 - 1); beyond it, the double the literal denotes
    (RFC 8785 / I-JSON semantics, how :func:`canonical_json` writes floats >= 2^53); a literal
    beyond the range of a double is refused."""
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return _parse_float(text)


def strict_json_loads(
    data: bytes | str,
    *,
    what: str,
    error: type[RegauditError] = BundleFormatError,
) -> object:
    """Parse JSON strictly: UTF-8, no duplicate keys, no NaN/Infinity (neither the literals
    nor numbers that overflow a double, such as ``1e400``). Raises ``error``.

    Integers within +-(2^53 - 1) are returned as ``int``; an integer literal beyond that range
    is returned as the ``float`` it denotes (RFC 8785 / I-JSON: JSON numbers are doubles), so
    that what :func:`canonical_json` wrote reads back equal and re-canonicalizes to the same
    bytes. The result is any JSON value: callers check its type before use."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {exc}", field=what) from exc


# --- digests ----------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_digest(data: bytes) -> str:
    """``"sha256:<hex>"`` digest string of ``data``."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def is_hex64(value: object) -> bool:
    """True if ``value`` is a string of exactly 64 lowercase hex characters."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def parse_digest(
    digest: object,
    *,
    field: str = "digest",
    error: type[RegauditError] = BundleFormatError,
) -> str:
    """Validate a ``"sha256:<64 lowercase hex>"`` string and return its hex part."""
    if not isinstance(digest, str) or not digest.startswith(DIGEST_PREFIX):
        raise error(f"expected a 'sha256:<hex>' digest, got {digest!r:.80}", field=field)
    hex_part = digest[len(DIGEST_PREFIX) :]
    if not is_hex64(hex_part):
        raise error("digest must be 64 lowercase hex characters after 'sha256:'", field=field)
    return hex_part


# --- base64 -----------------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Standard (RFC 4648 section 4) base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(
    text: object,
    *,
    field: str,
    error: type[RegauditError] = BundleFormatError,
) -> bytes:
    """Strict standard base64 decoding (alphabet and padding checked); raises ``error``."""
    if not isinstance(text, str):
        raise error(f"expected a base64 string, got {type(text).__name__}", field=field)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise error(f"malformed base64: {exc}", field=field) from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise error("non-canonical base64 encoding", field=field)
    return data


# --- RFC 3339 times ---------------------------------------------------------------------------


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC string with a ``Z`` suffix (microseconds only when non-zero); the year is
    always written with 4 digits (zero-padded: ``0999-01-01T00:00:00Z``).

    Raises InputError for naive datetimes (a time without a zone cannot be compared safely) and
    for times whose UTC value is outside years 1..9999.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError("naive datetime (no timezone) cannot be used in evidence")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError as exc:
        raise InputError(f"date-time {moment.isoformat()} is out of range in UTC") from exc
    # not strftime: %Y does not zero-pad years before 1000 on every platform (glibc)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_rfc3339(
    text: object,
    *,
    field: str = "time",
    error: type[RegauditError] = BundleFormatError,
) -> datetime:
    """Parse an RFC 3339 date-time with an explicit offset into an aware UTC datetime.

    Raises ``error`` (with ``field``) if ``text`` is not such a date-time or if its UTC value
    is outside years 1..9999 (e.g. ``9999-12-31T23:59:59-23:59``)."""
    if not isinstance(text, str) or _RFC3339.fullmatch(text) is None:
        raise error(f"expected an RFC 3339 date-time with offset, got {text!r:.80}", field=field)
    normalized = text.upper().replace("Z", "+00:00")
    fraction = re.search(r"\.(\d+)", normalized)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds only
        normalized = normalized.replace(fraction.group(0), "." + fraction.group(1)[:6], 1)
    try:
        moment = datetime.fromisoformat(normalized)
    except ValueError as exc:
        raise error(f"invalid date-time {text!r}: {exc}", field=field) from exc
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise error(f"date-time {text!r} is out of range in UTC", field=field) from exc


__all__ = [
    "DIGEST_PREFIX",
    "MAX_SAFE_INTEGER",
    "b64decode",
    "b64encode",
    "canonical_json",
    "format_rfc3339",
    "is_hex64",
    "parse_digest",
    "parse_rfc3339",
    "sha256_digest",
    "sha256_hex",
    "strict_json_loads",
    "utc_now",
]
