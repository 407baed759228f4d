"""What a primitive is: one descriptor object and the contracts of its role modules.

A primitive is a package ``<package>`` with role-named modules, each read by one party::

    <package>/__init__.py   PRIMITIVE = Primitive(...): this descriptor (imports circuit only)
    <package>/layout.py     public constants and the slot layout every role agrees on
    <package>/inputs.py     client: parse and validate inputs, read tables, encode columns
    <package>/circuit.py    evaluator: the circuit (imports layout and generic shared code only)
    <package>/report.py     regulator: decode the decrypted aggregates into the report
    <package>/reference.py  the exact plaintext reference (the oracle of tests and benchmarks)
    <package>/input.schema.json, output.schema.json, example.input.json

The descriptor names the role modules by dotted path and imports them on first use, so a party
loads only what it runs: the evaluator touches ``circuit`` (and ``layout``) and nothing else,
which an import-linter contract and a process-level test both check.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, cast

from regaudit.shared.algebra import FloatArray
from regaudit.shared.circuits.base import Circuit, PublicInputs
from regaudit.shared.primitives.tables import ColumnMapping

#: The example input every primitive package ships (valid against its input schema).
EXAMPLE_INPUT = "example.input.json"
#: The three role modules a descriptor loads on demand (``layout`` and ``circuit`` are imported
#: by the package itself).
ROLE_MODULES: tuple[str, ...] = ("inputs", "report", "reference")


class AuditData(Protocol):
    """A validated input of one primitive: the columns to encrypt and the public inputs."""

    @property
    def rows(self) -> int: ...

    @property
    def public(self) -> PublicInputs: ...

    def columns(self) -> dict[str, FloatArray]: ...


class ChunkedAuditData(AuditData, Protocol):
    """An input that lays out its own chunks (it never builds whole columns)."""

    def iter_chunks(self, chunk_rows: int) -> Iterator[dict[str, FloatArray]]: ...


class InputsRole(Protocol):
    """``<package>.inputs``: the client's half."""

    def parse(self, payload: Mapping[str, Any]) -> AuditData:
        """Validate one input object in the regaudit-fhe 0.1.0 JSON shape."""
        ...

    def load_table(
        self, path: Path, mapping: ColumnMapping, overrides: dict[str, Any]
    ) -> AuditData:
        """Read a CSV/Parquet file (``regaudit.shared.primitives.tables``) with the column
        mapping and the command line's public-input overrides."""
        ...


class ReportRole(Protocol):
    """``<package>.report``: the regulator's half."""

    def decode(
        self, outputs: Sequence[FloatArray], public: PublicInputs, rows: int
    ) -> dict[str, Any]:
        """Decrypted output vectors -> the report's fields (released, rounded values)."""
        ...


class ReferenceRole(Protocol):
    """``<package>.reference``: the exact answer, computed from plaintext directly."""

    def reference(self, data: Any) -> dict[str, Any]:
        """The report's fields computed in numpy from the input (no circuit involved)."""
        ...


#: What a command-line option of a primitive sets: a public input (``override``), the file
#: column holding one field (``column``), or a list of columns (``columns``, comma-separated).
OptionTarget = Literal["override", "column", "columns"]
#: How the option's text becomes a value: as typed (``float``/``int``/``str``), a comma list of
#: floats (``float_list``), or JSON given inline or as ``@FILE`` (``json``).
OptionParser = Literal["float", "int", "str", "float_list", "json"]


@dataclass(frozen=True)
class PrimitiveOption:
    """One primitive-specific option of ``regaudit-client audit <primitive>``."""

    flag: str
    key: str
    target: OptionTarget
    parser: OptionParser
    help: str
    metavar: str | None = None
    #: the flag may be given several times (a ``column`` option: the columns joined by ",")
    repeatable: bool = False


@dataclass(frozen=True)
class Primitive:
    """One audit primitive: its circuits and where its role modules live."""

    #: the CLI subcommand, the circuit id and the schema prefix (``fairness``)
    name: str
    #: one line for help texts
    summary: str
    #: the dotted package holding the role modules
    package: str
    #: every registered version, oldest first; the last one is what new audits run
    circuits: tuple[Circuit, ...]
    #: table (CSV/Parquet) fields the column mapping may name
    table_fields: tuple[str, ...] = ()
    #: public inputs the command line may set
    overrides: tuple[str, ...] = ()
    #: public inputs a table cannot hold, so the command line must give them with a table
    table_required: tuple[str, ...] = ()
    #: the public input ``--threshold`` sets (None: the primitive has no threshold)
    threshold_key: str | None = None
    #: the primitive's own command-line options
    options: tuple[PrimitiveOption, ...] = ()
    #: the primitive's specification, relative to the repository root
    spec: str = ""
    #: loaded role modules (filled on first use)
    _roles: dict[str, ModuleType] = field(default_factory=dict, compare=False, repr=False)

    @property
    def circuit(self) -> Circuit:
        """The current circuit (the last registered version)."""
        return self.circuits[-1]

    @property
    def schema_names(self) -> tuple[str, str]:
        """The bundled JSON Schemas of its input and output documents."""
        return (f"{self.name}.input", f"{self.name}.output")

    def example_input(self) -> dict[str, Any]:
        """The small valid input shipped in the package (``example.input.json``): the
        conformance tests and ``audit <primitive> --schema`` users start from it."""
        text = (resources.files(self.package) / EXAMPLE_INPUT).read_text(encoding="utf-8")
        example: dict[str, Any] = json.loads(text)
        return example

    def _role(self, role: str) -> ModuleType:
        module = self._roles.get(role)
        if module is None:
            module = importlib.import_module(f"{self.package}.{role}")
            self._roles[role] = module
        return module

    def inputs(self) -> InputsRole:
        """The client's role module (imported now)."""
        return cast(InputsRole, self._role("inputs"))

    def report(self) -> ReportRole:
        """The regulator's role module (imported now)."""
        return cast(ReportRole, self._role("report"))

    def reference(self) -> ReferenceRole:
        """The exact-reference module (imported now)."""
        return cast(ReferenceRole, self._role("reference"))


#: A table loader as the client calls it.
TableLoader = Callable[[Path, ColumnMapping, dict[str, Any]], AuditData]

__all__ = [
    "EXAMPLE_INPUT",
    "ROLE_MODULES",
    "AuditData",
    "ChunkedAuditData",
    "InputsRole",
    "OptionParser",
    "OptionTarget",
    "Primitive",
    "PrimitiveOption",
    "ReferenceRole",
    "ReportRole",
    "TableLoader",
]
