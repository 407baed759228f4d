"""Every circuit regaudit can run, by (circuit id, version)."""

from __future__ import annotations

from regaudit.shared.circuits.base import Circuit
from regaudit.shared.circuits.fairness import FairnessCircuit
from regaudit.shared.errors import CircuitError


class UnsupportedCircuitIdError(CircuitError):
    """The circuit id/version pair is not in the registry (input error, exit code 2)."""

    reason = "unsupported_circuit"


#: (circuit_id, version) -> circuit instance (stateless, shared).
CIRCUITS: dict[tuple[str, str], Circuit] = {
    (FairnessCircuit.circuit_id, FairnessCircuit.version): FairnessCircuit(),
}


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


__all__ = ["CIRCUITS", "UnsupportedCircuitIdError", "get_circuit", "list_circuits"]
