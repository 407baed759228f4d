"""The audit primitives, found through the ``regaudit.primitives`` entry-point group.

Each entry point names a :class:`Primitive` descriptor (``name = "package:PRIMITIVE"``); the
six primitives of regaudit register theirs in ``regaudit-shared``'s ``pyproject.toml``, and any
installed distribution can add one the same way (see ``CONTRIBUTING.md``, "Adding a
primitive"). Everything that lists primitives -- the client's ``audit`` subcommands and input
loaders, the in-process API, the circuit registry, the trust store's defaults, the schema list
-- iterates :func:`all_primitives`.

Loading a descriptor imports its package and circuit module only; the client's, regulator's and
reference role modules are imported when first asked for (:meth:`Primitive.inputs`...).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from regaudit.shared.errors import InputError, PrimitiveRegistryError
from regaudit.shared.primitives.descriptor import (
    AuditData,
    ChunkedAuditData,
    Primitive,
    PrimitiveOption,
)
from regaudit.shared.primitives.tables import ColumnMapping

#: The entry-point group primitives register under.
ENTRY_POINT_GROUP = "regaudit.primitives"


@cache
def _load() -> dict[str, Primitive]:
    # 1. every entry point of the group, sorted by name (a stable order everywhere); one name,
    #    one target (a second distribution claiming a taken name is an error, not a shadow),
    # 2. each must load (a broken plug-in is an error, never silently skipped),
    # 3. each must be a Primitive named like its entry point,
    # 4. its circuits carry its name, and no circuit (id, version) is claimed twice.
    points: dict[str, EntryPoint] = {}
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value)):
        taken = points.get(point.name)
        if taken is not None and taken.value != point.value:
            raise PrimitiveRegistryError(
                f"primitive {point.name!r} is registered twice ({taken.value} and {point.value})",
                field="primitive",
            )
        points[point.name] = point  # the same distribution seen twice on sys.path: once
    found: dict[str, Primitive] = {}
    claimed: dict[tuple[str, str], str] = {}
    for point in points.values():
        try:
            descriptor = point.load()
        except Exception as exc:  # a plug-in's import error, whatever its type
            raise PrimitiveRegistryError(
                f"primitive {point.name!r} ({point.value}) cannot be loaded: {exc}",
                field="primitive",
            ) from exc
        if not isinstance(descriptor, Primitive):
            raise PrimitiveRegistryError(
                f"entry point {point.name!r} ({point.value}) is not a Primitive descriptor",
                field="primitive",
            )
        if descriptor.name != point.name:
            raise PrimitiveRegistryError(
                f"entry point {point.name!r} names the primitive {descriptor.name!r}",
                field="primitive",
            )
        if not descriptor.circuits:
            raise PrimitiveRegistryError(
                f"primitive {descriptor.name!r} registers no circuit", field="primitive"
            )
        for circuit in descriptor.circuits:
            if circuit.circuit_id != descriptor.name:
                raise PrimitiveRegistryError(
                    f"primitive {descriptor.name!r} registers the circuit "
                    f"{circuit.circuit_id!r} (a primitive's circuits carry its name)",
                    field="primitive",
                )
            key = (circuit.circuit_id, circuit.version)
            if key in claimed:
                raise PrimitiveRegistryError(
                    f"circuit {key[0]}@{key[1]} is registered by {claimed[key]!r} and "
                    f"{descriptor.name!r}",
                    field="primitive",
                )
            claimed[key] = descriptor.name
        found[descriptor.name] = descriptor
    return found


def all_primitives() -> list[Primitive]:
    """Every registered primitive, sorted by name."""
    return list(_load().values())


def primitive_names() -> list[str]:
    """Names of every registered primitive, sorted."""
    return list(_load())


def get_primitive(name: str) -> Primitive:
    """The registered primitive ``name``; InputError (field ``primitive``) if unknown."""
    primitive = _load().get(name)
    if primitive is None:
        raise InputError(
            f"unknown primitive {name!r} (available: {', '.join(primitive_names())})",
            field="primitive",
        )
    return primitive


__all__ = [
    "ENTRY_POINT_GROUP",
    "AuditData",
    "ChunkedAuditData",
    "ColumnMapping",
    "Primitive",
    "PrimitiveOption",
    "all_primitives",
    "get_primitive",
    "primitive_names",
]
