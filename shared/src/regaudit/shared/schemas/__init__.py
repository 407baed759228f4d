"""Bundled Draft 2020-12 JSON Schemas: the evidence documents (``bundle``, ``receipt``,
``submission``) in this package and every registered primitive's ``<primitive>.input`` /
``<primitive>.output``, which live in the primitive's own package (``input.schema.json``,
``output.schema.json``; see :mod:`regaudit.shared.primitives`).

``validate`` raises InputError whose ``field`` is the JSON pointer (RFC 6901) of the offending
value, e.g. ``/y_true/3`` or ``/threshold``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from regaudit.shared.errors import InputError

_SUFFIX = ".json"
#: Documents with more array items than this are validated against the schema's shape only
#: (every ``items`` rule dropped: keys, types, sizes); the primitive's parser then checks every
#: element and names it (``y_true[17]``). Full validation costs ~7.5 us per item.
FULL_VALIDATION_MAX_ITEMS = 50_000


#: A primitive's schemas, in its package: ``<kind>`` + this suffix (kind: input, output).
PRIMITIVE_SCHEMA_SUFFIX = ".schema.json"
PRIMITIVE_SCHEMA_KINDS = ("input", "output")


def _sources() -> dict[str, Traversable]:
    """Schema name -> its file, for the evidence schemas and every registered primitive."""
    from regaudit.shared.primitives import all_primitives

    folder = resources.files(__package__)
    found: dict[str, Traversable] = {
        entry.name[: -len(_SUFFIX)]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(_SUFFIX)
    }
    for primitive in all_primitives():
        package = resources.files(primitive.package)
        for kind in PRIMITIVE_SCHEMA_KINDS:
            found[f"{primitive.name}.{kind}"] = package / f"{kind}{PRIMITIVE_SCHEMA_SUFFIX}"
    return found


def list_schemas() -> list[str]:
    """Names of every schema, sorted (e.g. ``fairness.input``)."""
    return sorted(_sources())


@cache
def _load(name: str) -> str:
    sources = _sources()
    if name not in sources:
        raise InputError(
            f"unknown schema {name!r} (known: {', '.join(sorted(sources))})", field="schema"
        )
    return sources[name].read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` as a fresh dict; InputError for unknown names."""
    schema: dict[str, Any] = json.loads(_load(name))
    return schema


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(error: ValidationError) -> str:
    path = [_escape(token) for token in error.absolute_path]
    instance = error.instance
    # name the missing / unexpected / forbidden property itself, not its parent object
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        if missing:
            path.append(_escape(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(key for key in instance if key not in known)
        if extra:
            path.append(_escape(extra[0]))
    return "".join(f"/{token}" for token in path)


def validate(name: str, payload: Any) -> None:
    """Validate ``payload`` against schema ``name``; InputError(field=JSON pointer) if invalid."""
    _raise_first(name, _validator(name), payload)


def _raise_first(name: str, validator: jsonschema.Draft202012Validator, payload: Any) -> None:
    error = best_match(validator.iter_errors(payload))
    if error is not None:
        raise InputError(f"does not match schema {name}: {error.message}", field=_pointer(error))


#: A JSON value (what a schema document is made of).
JsonValue = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None


def _without_items(node: JsonValue) -> JsonValue:
    if isinstance(node, dict):
        return {key: _without_items(value) for key, value in node.items() if key != "items"}
    if isinstance(node, list):
        return [_without_items(value) for value in node]
    return node


@cache
def _shape_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_without_items(load_schema(name)))


def _count_items(node: Any, limit: int) -> int:
    count = 0
    stack = [node]
    while stack and count <= limit:
        current = stack.pop()
        if isinstance(current, list):
            count += len(current)
            stack.extend(item for item in current if isinstance(item, list | dict))
        elif isinstance(current, dict):
            stack.extend(value for value in current.values() if isinstance(value, list | dict))
    return count


def validate_document(
    name: str, payload: Any, *, full_validation_max_items: int = FULL_VALIDATION_MAX_ITEMS
) -> None:
    """Validate an input document: fully when it holds at most ``full_validation_max_items``
    array items, else against the schema's shape (keys, types, array sizes) only."""
    if _count_items(payload, full_validation_max_items) <= full_validation_max_items:
        _raise_first(name, _validator(name), payload)
    else:
        _raise_first(name, _shape_validator(name), payload)


__all__ = [
    "FULL_VALIDATION_MAX_ITEMS",
    "PRIMITIVE_SCHEMA_KINDS",
    "PRIMITIVE_SCHEMA_SUFFIX",
    "list_schemas",
    "load_schema",
    "validate",
    "validate_document",
]
