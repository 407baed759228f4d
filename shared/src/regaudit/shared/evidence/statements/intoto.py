"""The in-toto Statement v1 envelope shared by both statements: building one from subjects and
a predicate, and the strict structural parse of a payload.

Statements are serialized with RFC 8785 canonical JSON before signing, and the parser accepts
only canonical payloads, so a signed payload has exactly one meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regaudit.shared.errors import BundleFormatError, InputError
from regaudit.shared.evidence.canonical import (
    DIGEST_PREFIX,
    canonical_json,
    is_hex64,
    parse_digest,
    strict_json_loads,
)
from regaudit.shared.evidence.statements.checks import PARSE, exact_fields

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
STATEMENT_FIELDS = ("_type", "subject", "predicateType", "predicate")
#: Largest statement payload accepted by the parsers.
MAX_STATEMENT_BYTES = 8 * 1024 * 1024


def make_subject(name: str, digest: str) -> dict[str, Any]:
    """A statement subject from a ``"sha256:<hex>"`` digest."""
    return {"name": name, "digest": {"sha256": parse_digest(digest, field=name)}}


def make_statement(
    subjects: list[dict[str, Any]], predicate_type: str, predicate: dict[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1; InputError if it cannot be canonicalized."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    canonical_json(statement)  # fail early (InputError) on anything not canonicalizable
    return statement


def parse_statement(payload: bytes, *, predicate_type: str) -> dict[str, Any]:
    """Parse and structure-check an in-toto Statement v1 payload of ``predicate_type``.

    Steps: 1. size cap; 2. strict JSON (no duplicate keys, no NaN); 3. the bytes are exactly
    the RFC 8785 canonical form; 4. exact statement fields, ``_type`` and ``predicateType``;
    5. subjects well formed. Raises BundleFormatError naming the field.
    """
    # 1. size
    if not isinstance(payload, bytes | bytearray):
        raise BundleFormatError("statement payload must be bytes", field="payload")
    if len(payload) > MAX_STATEMENT_BYTES:
        raise BundleFormatError(
            f"statement is {len(payload)} bytes, more than {MAX_STATEMENT_BYTES}", field="payload"
        )
    # 2. strict JSON
    statement = strict_json_loads(bytes(payload), what="statement")
    if not isinstance(statement, dict):
        raise BundleFormatError("statement must be a JSON object", field="statement")
    # 3. canonical form only
    try:
        canonical = canonical_json(statement)
    except InputError as exc:
        raise BundleFormatError(exc.message, field="statement") from exc
    if canonical != bytes(payload):
        raise BundleFormatError("statement is not in RFC 8785 canonical form", field="statement")
    # 4. fields
    exact_fields(statement, STATEMENT_FIELDS, prefix="")
    if statement["_type"] != STATEMENT_TYPE:
        raise BundleFormatError(f"must be {STATEMENT_TYPE!r}", field="_type")
    if statement["predicateType"] != predicate_type:
        raise BundleFormatError(
            f"is {statement['predicateType']!r:.100}, expected {predicate_type!r}",
            field="predicateType",
        )
    if not isinstance(statement["predicate"], dict):
        raise BundleFormatError("must be a JSON object", field="predicate")
    # 5. subjects
    subjects = statement["subject"]
    if not isinstance(subjects, list) or not subjects:
        raise BundleFormatError("must be a non-empty list", field="subject")
    for index, subject in enumerate(subjects):
        field = f"subject[{index}]"
        if not isinstance(subject, dict) or set(subject) != {"name", "digest"}:
            raise BundleFormatError("must be an object with 'name' and 'digest'", field=field)
        PARSE.name(subject["name"], f"{field}.name")
        digest = subject["digest"]
        if (
            not isinstance(digest, dict)
            or set(digest) != {"sha256"}
            or not is_hex64(digest["sha256"])
        ):
            raise BundleFormatError("digest must be {'sha256': <64 hex>}", field=f"{field}.digest")
    return statement


def subject_pairs(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (name, ``"sha256:<hex>"``) pairs of a parsed statement's subjects."""
    return [(s["name"], DIGEST_PREFIX + s["digest"]["sha256"]) for s in statement["subject"]]


__all__ = [
    "MAX_STATEMENT_BYTES",
    "STATEMENT_FIELDS",
    "STATEMENT_TYPE",
    "make_statement",
    "make_subject",
    "parse_statement",
    "subject_pairs",
]
