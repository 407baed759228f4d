"""Field checks shared by the statement builders and parsers: each raises the checker's error
class (InputError while building, BundleFormatError while parsing) naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import (
    canonical_json,
    format_rfc3339,
    is_hex64,
    parse_digest,
    parse_rfc3339,
)

MAX_NAME_CHARS = 256

_HEX = re.compile(r"(?:[0-9a-f]{2})+")


class FieldChecker:
    """Field validators raising ``error`` with the field name (InputError while building,
    BundleFormatError while parsing)."""

    def __init__(self, error: type[InputError] | type[BundleFormatError]) -> None:
        self.error = error

    def name(self, value: object, field: str) -> str:
        """A non-empty name of at most :data:`MAX_NAME_CHARS` characters, no control ones."""
        if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
            raise self.error(
                f"must be a non-empty string of at most {MAX_NAME_CHARS} characters", field=field
            )
        if any(ord(ch) < 0x20 for ch in value):
            raise self.error("must not contain control characters", field=field)
        return value

    def count(self, value: object, field: str, *, minimum: int = 0) -> int:
        """An integer (not a bool) of at least ``minimum``."""
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(f"must be an integer >= {minimum}", field=field)
        return value

    def digest(self, value: object, field: str) -> str:
        """A ``"sha256:<64 hex>"`` digest string."""
        parse_digest(value, field=field, error=self.error)
        assert isinstance(value, str)
        return value

    def key_id(self, value: object, field: str) -> str:
        """A key id: 64 lowercase hex characters."""
        if not is_hex64(value):
            raise self.error("must be 64 lowercase hex characters (a key id)", field=field)
        assert isinstance(value, str)
        return value

    def json_object(self, value: object, field: str) -> dict[str, Any]:
        """A JSON object (checked canonicalizable while building)."""
        if not isinstance(value, dict):
            raise self.error("must be a JSON object", field=field)
        if self.error is InputError:
            canonical_json(value)  # raises InputError on NaN, huge integers, non-string keys
        return value

    def time(self, value: object, field: str) -> datetime:
        """An aware datetime, or an RFC 3339 string parsed into one."""
        if isinstance(value, datetime):
            format_rfc3339(value)  # rejects naive datetimes
            return value
        return parse_rfc3339(value, field=field, error=self.error)

    def hex_bytes(self, value: object, field: str, *, max_bytes: int) -> bytes:
        """Lowercase hex of whole bytes, at most ``max_bytes`` of them, decoded."""
        if not isinstance(value, str) or _HEX.fullmatch(value) is None:
            raise self.error("must be lowercase hex of whole bytes", field=field)
        data = bytes.fromhex(value)
        if len(data) > max_bytes:
            raise self.error(f"must be at most {max_bytes} bytes", field=field)
        return data

    def op_counts(self, value: object, field: str) -> dict[str, Any]:
        """Operation counts: named counts or lists of integers (rotation steps)."""
        if not isinstance(value, Mapping):
            raise self.error("must be a JSON object", field=field)
        for key, item in value.items():
            self.name(key, f"{field}.{key}")
            if isinstance(item, list):
                for step in item:
                    if not isinstance(step, int) or isinstance(step, bool):
                        raise self.error(
                            "must be an integer or a list of integers", field=f"{field}.{key}"
                        )
            else:
                self.count(item, f"{field}.{key}")
        return dict(value)

    def str_map(self, value: object, field: str) -> dict[str, str]:
        """A JSON object of short strings keyed by names."""
        if not isinstance(value, Mapping):
            raise self.error("must be a JSON object of strings", field=field)
        for key, item in value.items():
            self.name(key, f"{field}.{key}")
            if not isinstance(item, str) or len(item) > MAX_NAME_CHARS:
                raise self.error("must be a string", field=f"{field}.{key}")
        return dict(value)


#: The checks of a statement being built (InputError) and of one being parsed
#: (BundleFormatError).
BUILD = FieldChecker(InputError)
PARSE = FieldChecker(BundleFormatError)


def exact_fields(obj: Mapping[str, Any], fields: Sequence[str], *, prefix: str) -> None:
    """BundleFormatError naming the first missing, then the first unexpected, field."""
    missing = [name for name in fields if name not in obj]
    if missing:
        raise BundleFormatError("missing field", field=prefix + missing[0])
    extra = sorted(set(obj) - set(fields))
    if extra:
        raise BundleFormatError("unexpected field", field=prefix + str(extra[0]))


__all__ = ["BUILD", "MAX_NAME_CHARS", "PARSE", "FieldChecker", "exact_fields"]
