"""Every registered primitive keeps the plug-in contract (``regaudit.shared.primitives``):
its descriptor, its role modules, its schemas and its example input agree, its circuit fits the
depth budget, the plaintext run of its circuit decodes to a schema-valid report with the
reference's fields, and the evaluator loads nothing of it but the circuit. Parametrized over the
registry, so a new primitive is checked the moment it is registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regaudit.shared.planning import evaluate_plaintext, make_plan
from regaudit.shared.primitives import Primitive, all_primitives, get_primitive
from regaudit.shared.profiles import MAX_DEPTH_BUDGET
from regaudit.shared.schemas import validate

ROOT = Path(__file__).resolve().parents[2]
PRIMITIVES = all_primitives()
NAMES = [primitive.name for primitive in PRIMITIVES]
#: a module may exceed this only if it says why (issue 13: one concept per module)
MAX_MODULE_LINES = 500


def test_the_six_builtin_primitives_are_registered() -> None:
    assert {"fairness", "concordance", "drift", "disagreement", "calibration", "provenance"} <= set(
        NAMES
    )


@pytest.mark.parametrize("primitive", PRIMITIVES, ids=NAMES)
def test_descriptor_is_consistent(primitive: Primitive) -> None:
    assert get_primitive(primitive.name) is primitive
    assert primitive.package == f"regaudit.shared.primitives.{primitive.name}"
    assert all(circuit.circuit_id == primitive.name for circuit in primitive.circuits)
    assert (ROOT / primitive.spec).is_file(), primitive.spec
    if primitive.threshold_key is not None:
        assert primitive.threshold_key in primitive.overrides
    assert set(primitive.table_required) <= set(primitive.overrides)
    flags = [option.flag for option in primitive.options]
    assert len(set(flags)) == len(flags)
    for option in primitive.options:
        if option.target == "override":
            assert option.key in primitive.overrides, option.flag
        else:
            assert option.key in primitive.table_fields, option.flag
    for role in ("inputs", "report", "reference"):
        assert getattr(primitive, role)() is not None


@pytest.mark.parametrize("primitive", PRIMITIVES, ids=NAMES)
def test_role_modules_are_small(primitive: Primitive) -> None:
    folder = ROOT / "shared/src" / primitive.package.replace(".", "/")
    for module in folder.glob("*.py"):
        lines = module.read_text(encoding="utf-8").count("\n")
        assert lines <= MAX_MODULE_LINES, f"{module.name}: {lines} lines"


@pytest.mark.parametrize("primitive", PRIMITIVES, ids=NAMES)
def test_example_runs_through_the_plaintext_circuit(primitive: Primitive) -> None:
    example = primitive.example_input()
    input_schema, output_schema = primitive.schema_names
    validate(input_schema, example)
    data = primitive.inputs().parse(example)
    circuit = primitive.circuit
    public = circuit.validate_public(data.public)
    plan = make_plan(circuit, public, rows=data.rows)
    assert plan.depth <= MAX_DEPTH_BUDGET
    assert plan.input_count == 1 + plan.n_chunks * len(plan.columns)
    _, outputs = evaluate_plaintext(circuit, data)
    assert len(outputs) == plan.n_outputs
    report = primitive.report().decode(outputs, public, data.rows)
    as_json = json.loads(json.dumps(report))
    assert as_json == report  # plain JSON values, no numpy scalars
    validate(output_schema, as_json)
    # the exact reference reports the same headline quantities (each side may add its own:
    # error bounds on the encrypted side, tie diagnostics on the exact side), and on this small
    # example every decision agrees
    reference = primitive.reference().reference(data)
    shared = set(reference) & set(report)
    assert shared, "the reference and the report share no field"
    for key in shared:
        if isinstance(reference[key], bool):
            assert report[key] == reference[key], key


def test_the_evaluator_loads_only_the_circuits() -> None:
    """In a fresh process, the evaluator's server and every registered circuit load no
    client, regulator or reference module of any primitive."""
    code = (
        "import sys\n"
        "import regaudit.evaluator.server, regaudit.evaluator.workers\n"
        "from regaudit.shared.circuits.registry import list_circuits\n"
        "assert list_circuits()\n"
        "roles = ('inputs', 'report', 'reference')\n"
        "bad = sorted(m for m in sys.modules if m.startswith('regaudit.shared.primitives.')"
        " and m.rsplit('.', 1)[-1] in roles)\n"
        "bad += [m for m in sys.modules if m in ('regaudit.shared.local',)]\n"
        "print(','.join(bad) or 'clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


@pytest.mark.parametrize("primitive", PRIMITIVES, ids=NAMES)
def test_each_primitive_has_its_audit_subcommand(primitive: Primitive) -> None:
    from typer.testing import CliRunner

    from regaudit.client.cli import app

    result = CliRunner().invoke(app, ["audit", primitive.name, "--help"])
    assert result.exit_code == 0, result.output
    for option in primitive.options:
        assert option.flag in result.output, option.flag
    if primitive.threshold_key is not None:
        assert "--threshold" in result.output
