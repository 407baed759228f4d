"""A primitive added from outside regaudit: the toy ``tally`` package, registered through the
``regaudit.primitives`` entry point of a distribution this test installs (a ``.dist-info``
folder on the path, as pip would write it), runs through all three parties' real command lines
without a change to regaudit's sources. Also: a broken or clashing plug-in is refused, never
skipped."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.cli import cli
from support.daemon import start_evaluator, stop_evaluator
from support.parties import make_identities

from regaudit.shared import primitives

HERE = Path(__file__).resolve().parent


def _install(site: Path, name: str, entry_points: str) -> None:
    """A minimal installed distribution: METADATA and entry_points.txt in a .dist-info."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[regaudit.primitives]\n{entry_points}\n")


def _use(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``site`` and the toy package visible to this process and every subprocess."""
    paths = [str(site), str(HERE)]
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(":")
    )
    for path in reversed(paths):
        monkeypatch.syspath_prepend(path)
    primitives._load.cache_clear()


@pytest.fixture
def tally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    _install(site, "toy_tally", "tally = toy_tally:PRIMITIVE")
    _use(site, monkeypatch)
    yield tmp_path
    primitives._load.cache_clear()


def test_the_registry_lists_the_plugin_everywhere(tally: Path) -> None:
    from regaudit.shared.circuits.registry import get_circuit
    from regaudit.shared.evidence.truststore import TrustStore
    from regaudit.shared.schemas import list_schemas

    assert "tally" in primitives.primitive_names()
    assert get_circuit("tally", "1").circuit_id == "tally"
    assert {"tally.input", "tally.output"} <= set(list_schemas())
    TrustStore.new_default().require_circuit("tally", "1")


def test_in_process_ckks_equals_the_reference(tally: Path) -> None:
    from regaudit.shared.local import audit

    flags = np.random.default_rng(5).integers(0, 2, 300).tolist()
    encrypted = audit("tally", {"flags": flags, "threshold": 0.4})
    exact = audit("tally", {"flags": flags, "threshold": 0.4}, backend="plaintext")
    assert encrypted.to_dict() == exact.to_dict()
    assert encrypted["count"] == sum(flags)


def test_three_parties_run_the_plugin_from_the_command_line(tally: Path) -> None:
    help_text = cli("client", "audit", "tally", "--help", check=True).stdout
    assert "--flag-column" in help_text
    assert "--flag-column" not in cli("client", "audit", "fairness", "--help").stdout
    identities = make_identities(tally / "parties")
    flags = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1] * 7
    table = tally / "flags.csv"
    table.write_text("f\n" + "\n".join(map(str, flags)) + "\n")
    daemon, address = start_evaluator(identities.evaluator, tally / "store")
    try:
        bundle = tally / "tally.bundle"
        cli(
            "client", "audit", "tally", "--input", table, "--flag-column", "f",
            "--threshold", "0.5", "--evaluator", address, "--regulator-card", identities.card,
            "--identity", identities.client, "--out", bundle, "--quiet", *identities.pins,
            check=True,
        )  # fmt: skip
    finally:
        stop_evaluator(daemon)
    verified = cli(
        "regulator", "verify", bundle, "--identity", identities.regulator,
        "--trust", identities.trust, "--json",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    document = json.loads(verified.stdout)
    assert document["verified"] is True
    assert document["primitive"] == "tally"
    assert document["result"]["count"] == sum(flags)
    assert document["result"]["threshold_breached"] is (sum(flags) / len(flags) > 0.5)


def test_a_broken_plugin_is_refused_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _install(site, "broken", "broken = no_such_module:PRIMITIVE")
    _use(site, monkeypatch)
    try:
        with pytest.raises(primitives.PrimitiveRegistryError) as info:
            primitives.all_primitives()
        assert "'broken'" in str(info.value)
        result = cli("client", "audit", "fairness", "--input", "x.json")
        assert result.returncode == 2
        assert "primitive_registry" in result.stderr
    finally:
        primitives._load.cache_clear()


def test_a_plugin_cannot_take_a_registered_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _install(site, "impostor", "fairness = toy_tally:PRIMITIVE")
    _use(site, monkeypatch)
    try:
        with pytest.raises(primitives.PrimitiveRegistryError) as info:
            primitives.all_primitives()
        assert "registered twice" in str(info.value)
    finally:
        primitives._load.cache_clear()
