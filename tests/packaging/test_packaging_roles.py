"""Each role installs on its own: the evaluator never drags in client or regulator code."""

from __future__ import annotations

import email
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("shared", "client", "evaluator", "regulator")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
        + [str(ROOT / role) for role in ROLES],
        check=True,
        timeout=600,
    )
    found = {}
    for role in ROLES:
        (wheel,) = out.glob(f"regaudit_{role}-*.whl")
        found[role] = wheel
    return found


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    return [value.split(";")[0].strip() for value in metadata.get_all("Requires-Dist") or []]


def test_roles_depend_only_on_shared(wheels: dict[str, Path]) -> None:
    for role in ("client", "evaluator", "regulator"):
        names = {
            req.split("=")[0].split(">")[0].split("<")[0].strip()
            for req in requirements(wheels[role])
        }
        assert "regaudit-shared" in names
        others = {f"regaudit-{r}" for r in ROLES if r not in (role, "shared")}
        assert not names & others, f"{role} depends on {names & others}"
    assert not any(req.startswith("regaudit") for req in requirements(wheels["shared"]))


def test_wheels_hold_only_their_own_package(wheels: dict[str, Path]) -> None:
    for role, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as archive:
            modules = [n for n in archive.namelist() if n.startswith("regaudit/")]
        assert modules, role
        # namespace package: no regaudit/__init__.py in any distribution
        assert "regaudit/__init__.py" not in modules
        assert all(n.startswith(f"regaudit/{role}/") for n in modules), role
        assert f"regaudit/{role}/py.typed" in modules


def test_evaluator_installs_alone(wheels: dict[str, Path], tmp_path: Path) -> None:
    """A fresh virtual environment with shared + evaluator only (dependencies from the index
    or pip's cache): the daemon's modules import, and no client, regulator or secret-key
    module is reachable."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheels["shared"]),
            str(wheels["evaluator"]),
        ],
        check=True,
        timeout=900,
    )
    probe = (
        "import importlib.util, sys\n"
        "import regaudit.evaluator.server, regaudit.evaluator.cli\n"
        "assert importlib.util.find_spec('regaudit.client') is None\n"
        "assert importlib.util.find_spec('regaudit.regulator') is None\n"
        "assert 'regaudit.shared.secretkey' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    helped = subprocess.run(
        [str(env_dir / "bin" / "regaudit-evaluator"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout
