"""Every circuit regaudit can run, by (circuit id, version).

The six primitives register here. Every circuit module is imported with a plain,
static import statement -- no ``importlib``, no optional modules -- so that the import-linter
contracts see everything the evaluator can load (key custody: a circuit that imported secret-key
code would break the "evaluator never reaches secret-key code" contract).
"""

from __future__ import annotations

from regaudit.shared.circuits.base import Circuit
from regaudit.shared.circuits.calibration import CalibrationCircuit
from regaudit.shared.circuits.concordance import ConcordanceCircuit
from regaudit.shared.circuits.disagreement import DisagreementCircuit
from regaudit.shared.circuits.drift import DriftCircuit
from regaudit.shared.circuits.fairness import FairnessCircuit
from regaudit.shared.circuits.provenance import ProvenanceCircuit
from regaudit.shared.errors import UnsupportedCircuitIdError

#: (circuit_id, version) -> circuit instance (stateless, shared).
CIRCUITS: dict[tuple[str, str], Circuit] = {
    (circuit.circuit_id, circuit.version): circuit
    for circuit in (
        FairnessCircuit(),
        ConcordanceCircuit(),
        DriftCircuit(),
        DisagreementCircuit(),
        CalibrationCircuit(),
        ProvenanceCircuit(),
    )
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


__all__ = [
    "CIRCUITS",
    "UnsupportedCircuitIdError",
    "get_circuit",
    "list_circuits",
]
