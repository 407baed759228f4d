"""The client command line knows every registered primitive: ``audit P --schema``,
``schema --list`` and the per-primitive options (checked before any evaluator is contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regaudit.client.cli import app
from regaudit.client.inputs import ColumnMapping, available_primitives, load_audit_input
from regaudit.shared.circuits.registry import list_circuits
from regaudit.shared.errors import InputError

PRIMITIVES = sorted({cid for cid, _ in list_circuits()})


def test_every_registered_primitive_has_a_loader() -> None:
    assert available_primitives() == PRIMITIVES


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_audit_schema(primitive: str) -> None:
    result = CliRunner().invoke(app, ["audit", primitive, "--schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$id"].endswith(f"{primitive}.input.json")


def test_schema_list_has_input_and_output_of_every_primitive() -> None:
    result = CliRunner().invoke(app, ["schema", "--list"])
    assert result.exit_code == 0
    names = set(result.output.split())
    for primitive in PRIMITIVES:
        assert {f"{primitive}.input", f"{primitive}.output"} <= names


def test_overrides_reach_the_public_inputs(tmp_path: Path) -> None:
    drift = tmp_path / "d.json"
    drift.write_text(json.dumps({"p": [1, 2, 3, 4], "q": [4, 3, 2, 1]}))
    data = load_audit_input("drift", drift, threshold=0.3, overrides={"bin_width": 0.5})
    assert data.public["drift_threshold"] == 0.3 and data.public["bin_width"] == 0.5
    table = tmp_path / "p.csv"
    table.write_text("id,a\nx,1.5\ny,-0.5\nz,2\n")
    prov = load_audit_input(
        "provenance",
        table,
        mapping=ColumnMapping(row_id="id", attribution="a"),
        overrides={"n_buckets": 4, "k": 2},
    )
    assert prov.public["n_buckets"] == 4 and prov.rows >= 1


@pytest.mark.parametrize(
    ("primitive", "overrides", "field"),
    [
        ("provenance", {}, "n_buckets"),
        ("disagreement", {}, "model_polynomials"),
        ("calibration", {}, "quantiles"),
        ("concordance", {"k": 3}, "k"),
    ],
)
def test_missing_or_foreign_public_inputs(
    tmp_path: Path, primitive: str, overrides: dict[str, object], field: str
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("risk,time,event,test_input,score_0,attribution,row_id\n1,2,1,0.5,0.1,1,a\n")
    with pytest.raises(InputError) as caught:
        load_audit_input(primitive, table, overrides=overrides)
    assert caught.value.field == field


def test_column_option_is_validated(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["audit", "concordance", "--input", str(tmp_path / "x.csv"), "--evaluator", "h:1",
         "--regulator-card", str(tmp_path / "c.json"), "--identity", str(tmp_path),
         "--out", str(tmp_path / "b"), "--column", "nonsense"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "FIELD=COLUMN" in result.output


def test_chunked_inputs_encrypt_and_commit_without_whole_columns(tmp_path: Path) -> None:
    """A streamed table's own ``iter_chunks`` (fairness read from CSV) feeds encryption and
    the commitments: a multi-chunk layout commits to exactly the whole columns' values
    (openings verify)."""
    import numpy as np

    from regaudit.client.encryption import _checked_chunks
    from regaudit.client.evidence import commit_columns
    from regaudit.shared.evidence.commitments import verify_opening
    from regaudit.shared.local import data_chunks
    from regaudit.shared.planning import make_plan
    from regaudit.shared.primitives import ColumnMapping
    from regaudit.shared.primitives.fairness.circuit import FairnessCircuit
    from regaudit.shared.primitives.fairness.inputs import load_table
    from regaudit.shared.profiles import PROFILE_N8192_D3

    rng = np.random.default_rng(2)
    n = 7_140  # two chunks of 4,096 slots on the small profile
    path = tmp_path / "fairness.csv"
    lines = ["y_true,y_pred,group"] + [
        f"{a},{b},{g}"
        for a, b, g in zip(
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
            rng.choice(["a", "b", "c"], n),
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load_table(path, ColumnMapping(), {})
    assert not isinstance(data, dict) and hasattr(data, "iter_chunks")
    plan = make_plan(FairnessCircuit(), data.public, rows=data.rows, profile=PROFILE_N8192_D3)
    assert plan.chunk_rows == 4096 and plan.n_chunks == 2
    chunks = list(_checked_chunks(plan, data_chunks(data, plan.chunk_rows)))
    assert len(chunks) == 2
    whole = data.columns()
    for name in plan.columns:
        joined = np.concatenate([c[name] for c in chunks])[: data.rows]
        assert np.array_equal(joined, whole[name])
    openings = commit_columns(data, plan, None)
    assert set(openings) == set(plan.columns)
    for name, (digest, salt) in openings.items():
        verify_opening(digest, name=name, values=whole[name], salt_hex=salt)
