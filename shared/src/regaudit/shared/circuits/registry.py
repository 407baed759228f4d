"""Every circuit regaudit can run, by (circuit id, version).

The six primitives of the design register here. A primitive whose module is not present in
this installation (for example while it is being developed) is simply absent from
:data:`CIRCUITS`; a module that is present but broken raises at import, loudly.
"""

from __future__ import annotations

import importlib

from regaudit.shared.circuits.base import Circuit
from regaudit.shared.circuits.fairness import FairnessCircuit
from regaudit.shared.errors import CircuitError


class UnsupportedCircuitIdError(CircuitError):
    """The circuit id/version pair is not in the registry (input error, exit code 2)."""

    reason = "unsupported_circuit"


#: (module under ``regaudit.shared.circuits``, class name) of every optional primitive.
OPTIONAL_CIRCUITS: tuple[tuple[str, str], ...] = (
    ("concordance", "ConcordanceCircuit"),
    ("drift", "DriftCircuit"),
    ("disagreement", "DisagreementCircuit"),
    ("calibration", "CalibrationCircuit"),
    ("provenance", "ProvenanceCircuit"),
)


def _load_optional() -> list[Circuit]:
    circuits: list[Circuit] = []
    for module_name, class_name in OPTIONAL_CIRCUITS:
        qualified = f"regaudit.shared.circuits.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
            continue
        circuits.append(getattr(module, class_name)())
    return circuits


#: (circuit_id, version) -> circuit instance (stateless, shared).
CIRCUITS: dict[tuple[str, str], Circuit] = {
    (circuit.circuit_id, circuit.version): circuit
    for circuit in (FairnessCircuit(), *_load_optional())
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
    "OPTIONAL_CIRCUITS",
    "UnsupportedCircuitIdError",
    "get_circuit",
    "list_circuits",
]
