"""The parser contract every fuzz test checks, the known bugs it tolerates, and shared strategies.

The contract: on any input a parser returns a valid object or raises a subclass of
:class:`~regaudit.shared.errors.RegauditError` (the parser's own documented class where it
documents one) with a non-empty ``reason``; never another exception, never a hang (the
``deadline`` of the fuzz profile in ``conftest.py``).

A bug the fuzzing found and that is not fixed yet is a :class:`KnownBug`: the generic fuzz tests
tolerate exactly that failure (same exception type and message) so that they keep guarding
everything else, and one explicit example per bug is marked ``xfail(strict=True)`` in the file
that fuzzes the parser. When the bug is fixed that example passes, ``strict`` turns the XPASS into
a failure, and the fix removes the xfail mark and the bug's entry here.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import event, note, settings
from hypothesis import strategies as st

from regaudit.shared.errors import RegauditError

T = TypeVar("T")


def scaled(examples: int) -> settings:
    """Settings with ``examples`` examples under the default fuzz profile, scaled with the
    profile in use (``REGAUDIT_FUZZ_PROFILE=regaudit-fuzz-deep`` runs 20 times more)."""
    current = settings.default
    assert current is not None  # conftest.py loads the fuzz profile
    factor = current.max_examples / 100
    return settings(max_examples=max(1, round(examples * factor)))


# --- known bugs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """A failure the fuzzing found: the exception type and a regex of its message."""

    name: str
    exception: type[BaseException] | tuple[type[BaseException], ...]
    message: str

    def matches(self, exc: BaseException) -> bool:
        return isinstance(exc, self.exception) and re.search(self.message, str(exc)) is not None


# (no known bug at the moment: every bug the fuzzing found is fixed)


def check_contract(
    call: Callable[[], T],
    *,
    errors: tuple[type[RegauditError], ...] = (RegauditError,),
    known: Sequence[KnownBug] = (),
) -> T | None:
    """Run a parser: its value, or ``None`` when it rejected the input with one of ``errors``
    (checked to carry a non-empty ``reason``) or failed with one of the ``known`` bugs.

    Any other exception -- another regaudit class, a non-regaudit exception -- fails the test."""
    try:
        return call()
    except RegauditError as exc:
        assert isinstance(exc, errors), (
            f"{type(exc).__name__} ({exc.reason}) raised; the parser's contract allows only "
            f"{', '.join(e.__name__ for e in errors)}: {exc}"
        )
        assert isinstance(exc.reason, str) and exc.reason, f"empty reason on {exc!r}"
        event(f"rejected: {type(exc).__name__}")
        return None
    except Exception as exc:
        for bug in known:
            if bug.matches(exc):
                note(f"known bug tolerated: {bug.name}: {exc!r}")
                event(f"known bug: {bug.name}")
                return None
        raise


def tolerate(bug_name: str) -> None:
    """Record that an accepted-garbage known bug was seen (the caller then stops checking)."""
    note(f"known bug tolerated: {bug_name}")
    event(f"known bug: {bug_name}")


# --- JSON strategies ----------------------------------------------------------------------------

#: Largest integer RFC 8785 represents exactly.
MAX_SAFE_INT = 2**53 - 1

json_keys = st.text(max_size=12)

#: JSON values RFC 8785 can canonicalize and read back (integers within +-(2^53 - 1), any
#: finite float: one >= 2^53 is integral, RFC 8785 writes it as digits below 1e21, and
#: strict_json_loads reads such digits back as the same float).
canonical_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
    | st.floats(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
canonical_values: st.SearchStrategy[Any] = st.recursive(
    canonical_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4)
    ),
    max_leaves=16,
)

#: Any JSON value Python's json module writes (also huge integers, which RFC 8785 refuses).
any_scalars = (
    canonical_scalars
    | st.integers()
    | st.integers(min_value=2**53, max_value=2**1100)
    | st.floats(allow_nan=False, allow_infinity=False)
)
any_values: st.SearchStrategy[Any] = st.recursive(
    any_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4)
    ),
    max_leaves=16,
)

_JSON_ALPHABET = '[]{}",:0123456789.eE+-tfnaulrsNIyi \\u\n'


def json_bytes() -> st.SearchStrategy[bytes]:
    """Bytes that are, or nearly are, JSON: dumped values, JSON-ish text, deep nesting, numbers
    beyond float range, non-finite literals, duplicate keys, bad UTF-8, random bytes."""
    dumped = any_values.map(lambda v: json.dumps(v).encode())
    jsonish = st.text(alphabet=_JSON_ALPHABET, max_size=60).map(str.encode)
    nested = st.tuples(st.integers(1, 5000), st.sampled_from(["[", '{"a":'])).map(
        lambda t: (t[1] * t[0]).encode()
    )
    special = st.sampled_from(
        [
            b"NaN",
            b"[Infinity]",
            b"-Infinity",
            b"1e400",
            b'{"a": -1e999}',
            b'{"a": 1, "a": 2}',
            b"\xff\xfe{}",
            b'"\\ud800"',
            b"9" * 5000,
            b"",
            b"   ",
        ]
    )
    return dumped | jsonish | nested | special | st.binary(max_size=64)


def contains_non_finite(value: object) -> bool:
    """True if a parsed JSON value holds a NaN or infinite float anywhere."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(contains_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(contains_non_finite(v) for v in value.values())
    return False


# --- mutations of a JSON document ----------------------------------------------------------------

JsonPath = tuple[str | int, ...]


def _paths(value: object, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every path (dict keys, list indexes) into ``value``, the root included."""
    found: list[JsonPath] = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _get(value: Any, path: JsonPath) -> Any:
    for step in path:
        value = value[step]
    return value


def _tweak(value: object, draw: Callable[[st.SearchStrategy[Any]], Any]) -> object:
    """A small, type-aware change of a leaf (the kind a parser's field checks must catch)."""
    if isinstance(value, str):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return value[:-1]
        if choice == 1:
            return value + draw(st.characters())
        if choice == 2:
            return value.upper()
        if choice == 3:
            return value * 2
        if choice == 4 and value:
            i = draw(st.integers(0, len(value) - 1))
            return value[:i] + draw(st.characters()) + value[i + 1 :]
        return ""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from([value + 1, value - 1, -value, 2**53, 2**64, -1, 0]))
    if isinstance(value, float):
        return draw(st.sampled_from([value * 2, -value, 0.5, 1e308]))
    return draw(canonical_values)


@st.composite
def mutated(draw: st.DrawFn, document: Any, *, max_mutations: int = 3) -> Any:
    """``document`` (a JSON value) with 1..``max_mutations`` random edits: a leaf tweaked,
    replaced by another JSON value (or one of another type), a key or item deleted or added."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["tweak", "replace", "delete", "add"]))
        note(f"mutation: {action} at {list(path)}")
        if not path:
            if action == "replace":
                doc = draw(any_values)
            elif action == "add" and isinstance(doc, dict):
                doc[draw(json_keys)] = draw(canonical_values)
            continue
        parent = _get(doc, path[:-1])
        key = path[-1]
        if action == "tweak":
            parent[key] = _tweak(parent[key], draw)
        elif action == "replace":
            parent[key] = draw(any_values)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(json_keys)] = draw(canonical_values)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(canonical_values))
    return doc


# --- byte mutations -------------------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, *, keep_header: int = 0) -> bytes:
    """``data`` truncated, extended, with bits flipped, bytes overwritten or a slice repeated;
    the first ``keep_header`` bytes are left alone by the in-place edits."""
    blob = bytearray(data)
    action = draw(st.sampled_from(["truncate", "extend", "flip", "overwrite", "splice", "zero"]))
    note(f"byte mutation: {action}")
    if action == "truncate":
        return bytes(blob[: draw(st.integers(0, max(0, len(blob) - 1)))])
    if action == "extend":
        return bytes(blob) + draw(st.binary(min_size=1, max_size=64))
    start = min(keep_header, len(blob) - 1)
    if action == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(start, len(blob) - 1))
            blob[i] ^= 1 << draw(st.integers(0, 7))
    elif action == "overwrite":
        i = draw(st.integers(start, len(blob) - 1))
        patch = draw(st.binary(min_size=1, max_size=32))
        blob[i : i + len(patch)] = patch[: len(blob) - i]
    elif action == "splice":
        i = draw(st.integers(start, len(blob) - 1))
        j = draw(st.integers(i, min(len(blob), i + 4096)))
        blob[i:i] = blob[i:j]
    else:
        i = draw(st.integers(start, len(blob) - 1))
        j = draw(st.integers(i, min(len(blob), i + 4096)))
        blob[i:j] = bytes(j - i)
    return bytes(blob)


__all__ = [
    "MAX_SAFE_INT",
    "KnownBug",
    "any_values",
    "canonical_values",
    "check_contract",
    "contains_non_finite",
    "json_bytes",
    "mutated",
    "mutated_bytes",
    "scaled",
    "tolerate",
]
