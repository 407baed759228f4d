"""Every circuit regaudit can run, by (circuit id, version).

The circuits are those of the registered primitives (:mod:`regaudit.shared.primitives`, entry
points ``regaudit.primitives``); loading a primitive imports its descriptor and circuit module
only, so the evaluator, which reads this registry, never imports a primitive's client, regulator
or reference code (an import-linter contract and ``tests/packaging`` check it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from regaudit.shared.circuits.base import Circuit
from regaudit.shared.errors import UnsupportedCircuitIdError
from regaudit.shared.primitives import all_primitives


class _Circuits(Mapping[tuple[str, str], Circuit]):
    """(circuit_id, version) -> circuit instance (stateless, shared), read from the primitive
    registry on first use (so importing this module loads no plug-in)."""

    def _table(self) -> dict[tuple[str, str], Circuit]:
        return {
            (circuit.circuit_id, circuit.version): circuit
            for primitive in all_primitives()
            for circuit in primitive.circuits
        }

    def __getitem__(self, key: tuple[str, str]) -> Circuit:
        return self._table()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: (circuit_id, version) -> circuit instance, for every registered primitive.
CIRCUITS: Mapping[tuple[str, str], Circuit] = _Circuits()


def get_circuit(circuit_id: str, version: str) -> Circuit:
    """The registered circuit; raises UnsupportedCircuitIdError (a CircuitError) if unknown."""
    circuit = CIRCUITS.get((circuit_id, version))
    if circuit is None:
        known = ", ".join(f"{cid}@{ver}" for cid, ver in sorted(CIRCUITS))
        raise UnsupportedCircuitIdError(
            f"unsupported circuit {circuit_id!r} version {version!r} (supported: {known})",
            field="circuit",
        )
    return circuit


def list_circuits() -> list[tuple[str, str]]:
    """Registered (circuit_id, version) pairs, sorted."""
    return sorted(CIRCUITS)


__all__ = [
    "CIRCUITS",
    "UnsupportedCircuitIdError",
    "get_circuit",
    "list_circuits",
]
