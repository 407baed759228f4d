"""Each role installs on its own: the evaluator never drags in client, regulator or secret-key
code. Key custody is physical: the secret-key code ships in its own distribution
(regaudit-secretkey) that the client and the regulator depend on and the evaluator does not, and
an evaluator-only installation cannot import it."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("shared", "secretkey", "client", "evaluator", "regulator")
#: the regaudit distributions each one depends on
EXPECTED_DEPENDENCIES = {
    "shared": set(),
    "secretkey": {"regaudit-shared"},
    "client": {"regaudit-shared", "regaudit-secretkey"},
    "evaluator": {"regaudit-shared"},
    "regulator": {"regaudit-shared", "regaudit-secretkey"},
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out)]
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


def _names(wheel: Path) -> set[str]:
    return {
        req.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip()
        for req in requirements(wheel)
    }


def test_roles_depend_only_on_shared_and_secretkey(wheels: dict[str, Path]) -> None:
    for role, expected in EXPECTED_DEPENDENCIES.items():
        regaudit = {name for name in _names(wheels[role]) if name.startswith("regaudit")}
        assert regaudit == expected, f"{role} depends on {sorted(regaudit)}"
    # custody: the evaluator's wheel does not pull in the secret-key distribution
    assert "regaudit-secretkey" not in _names(wheels["evaluator"])
    assert "regaudit-secretkey" not in _names(wheels["shared"])


def test_every_wheel_ships_the_license_and_the_one_version(wheels: dict[str, Path]) -> None:
    version = (ROOT / "VERSION").read_text(encoding="utf-8").strip()
    license_text = (ROOT / "LICENSE").read_bytes()
    for role, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as archive:
            (licensed,) = [
                n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")
            ]
            assert archive.read(licensed) == license_text, role
            (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            metadata = email.message_from_bytes(archive.read(name))
        assert metadata["Version"] == version, role
        assert metadata["License-Expression"] == "Apache-2.0", role
        assert metadata.get_all("License-File") == ["LICENSE"], role


def test_secret_key_code_ships_only_in_secretkey(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["secretkey"]) as archive:
        names = set(archive.namelist())
    for module in ("__init__.py", "ckks.py", "sealing.py", "_internal/seal.py", "py.typed"):
        assert f"regaudit/secretkey/{module}" in names, module
    secret_key_code = (
        "sealapi.KeyGenerator",
        "sealapi.Decryptor",
        "sealapi.Encryptor",
        "sealapi.SecretKey",
        "class RegulatorKeys",
        "def unseal_secret_key",
        "class ClientKeys",
        "class SecretKeyDecryptor",
    )
    for role in ("shared", "evaluator"):
        with zipfile.ZipFile(wheels[role]) as archive:
            names = set(archive.namelist())
            assert not [n for n in names if "secretkey" in n], role
            for name in sorted(n for n in names if n.endswith(".py")):
                text = archive.read(name).decode("utf-8")
                found = [marker for marker in secret_key_code if marker in text]
                assert not found, f"{role} wheel: {name} holds {found}"


def test_wheels_hold_only_their_own_package(wheels: dict[str, Path]) -> None:
    for role, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as archive:
            modules = [n for n in archive.namelist() if n.startswith("regaudit/")]
        assert modules, role
        # namespace package: no regaudit/__init__.py in any distribution
        assert "regaudit/__init__.py" not in modules
        assert all(n.startswith(f"regaudit/{role}/") for n in modules), role
        assert f"regaudit/{role}/py.typed" in modules


def _evaluator_only_env(wheels: dict[str, Path], env_dir: Path) -> Path:
    """A fresh virtual environment with the shared and evaluator wheels really installed (pip,
    offline: ``--no-index --no-deps``) and this test environment's third-party packages
    (numpy, tenseal, grpcio...) visible through a plain path entry. That entry does not process
    the editable-install ``.pth`` files of this environment, so no regaudit source tree is
    reachable: only what the two wheels installed."""
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    third_party = sysconfig.get_paths()["purelib"]
    Path(env_site, "_third_party.pth").write_text(third_party + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
        + ["--disable-pip-version-check", "--no-index", "--no-deps"]
        + [str(wheels["shared"]), str(wheels["evaluator"])],
        check=True,
        timeout=300,
    )
    return python


def test_evaluator_installs_alone(wheels: dict[str, Path], tmp_path: Path) -> None:
    """Shared + evaluator only: the daemon's modules import and its workers pass the custody
    check; no client, regulator or secret-key module is reachable; the in-process CKKS quick
    start fails clearly; the CLI works."""
    env_dir = tmp_path / "venv"
    python = _evaluator_only_env(wheels, env_dir)
    probe = (
        "import importlib.util, sys\n"
        "import regaudit.evaluator.server, regaudit.evaluator.cli\n"
        "from regaudit.evaluator import workers\n"
        "from regaudit.shared.errors import RegauditError\n"
        "assert importlib.util.find_spec('regaudit.client') is None\n"
        "assert importlib.util.find_spec('regaudit.regulator') is None\n"
        "assert importlib.util.find_spec('regaudit.secretkey') is None\n"
        "try:\n"
        "    import regaudit.secretkey\n"
        "except ModuleNotFoundError as exc:\n"
        "    assert exc.name == 'regaudit.secretkey', exc.name\n"
        "else:\n"
        "    raise AssertionError('regaudit.secretkey is importable')\n"
        "workers.warm_up()\n"
        "assert len(workers.software_identity()['circuits']) == 6\n"
        "from regaudit.shared import local\n"
        "try:\n"
        "    local.audit_fairness([1, 0], [1, 0], [1, 0], [0, 1], backend='ckks')\n"
        "except RegauditError as exc:\n"
        "    assert 'regaudit-secretkey' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('the CKKS quick start ran without secret-key code')\n"
        "assert local.audit_fairness([1, 0], [1, 0], [1, 0], [0, 1], backend='plaintext')\n"
        "assert not [m for m in sys.modules if m.startswith('regaudit.secretkey')]\n"
        "print('ok', *sorted(regaudit.__path__))\n"
    )
    result = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0] == "ok"
    # the only regaudit portion is the one the two wheels installed into the fresh environment
    assert len(words) == 2, words
    assert Path(words[1]).resolve().is_relative_to(env_dir.resolve()), words[1]
    helped = subprocess.run(
        [str(env_dir / "bin" / "regaudit-evaluator"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout
