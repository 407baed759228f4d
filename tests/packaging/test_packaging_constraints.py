"""CI installs from a constraints file: constraints.txt pins every third-party package the
bootstrap installs, the environment satisfies every pin, and scripts/bootstrap.sh installs with
it (runtime and --dev) and reinstalls when it changes."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from types import ModuleType

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")
REGENERATE = "re-run .venv/bin/python scripts/update_constraints.py and commit constraints.txt"


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.fullmatch(line)
        assert match, f"constraints.txt:{number}: not an exact pin: {raw!r}"
        name = canonicalize_name(match[1])
        assert name not in found, f"constraints.txt:{number}: {name} pinned twice"
        found[name] = match[2]
    return found


def update_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "update_constraints", ROOT / "scripts" / "update_constraints.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constraints_are_exact_sorted_pins_without_our_own_distributions() -> None:
    pinned = pins()
    assert len(pinned) > 20
    assert list(pinned) == sorted(pinned)
    assert not [name for name in pinned if name.startswith("regaudit")]


def test_the_environment_satisfies_every_pin() -> None:
    wrong = []
    for name, wanted in pins().items():
        try:
            have = installed_version(name)
        except PackageNotFoundError:
            have = "not installed"
        if have != wanted:
            wrong.append(f"{name}: pinned {wanted}, installed {have}")
    assert not wrong, "\n".join(wrong) + f"\n(re-run scripts/bootstrap.sh --dev, or {REGENERATE})"


def test_every_package_the_bootstrap_installs_is_pinned() -> None:
    needed = update_script().closure()
    unpinned = sorted(set(needed) - set(pins()))
    assert not unpinned, f"not in constraints.txt: {unpinned}; {REGENERATE}"


def test_bootstrap_installs_with_the_constraints_and_reinstalls_when_they_change() -> None:
    script = BOOTSTRAP.read_text(encoding="utf-8")
    assert 'constraints="$root/constraints.txt"' in script
    assert 'export PIP_CONSTRAINT="$constraints"' in script  # build isolation too
    # every pip install (pip itself, the five distributions, the dev tooling) is constrained
    installs = re.findall(r'"\$\{pip\[@\]\}" install[^\n]*', script)
    assert len(installs) == 3, installs
    assert all('-c "$constraints"' in line for line in installs), installs
    assert any("requirements-dev.txt" in line for line in installs)
    # the install stamp hashes the constraints file (and the one VERSION)
    stamp = re.search(r'want="\$\(cat (.*?)\|', script, re.S)
    assert stamp is not None
    hashed = stamp[1].replace("\\", " ").split()
    assert {"constraints.txt", "VERSION", "requirements-dev.txt"} <= set(hashed), hashed
    assert {f"{role}/pyproject.toml" for role in ("shared", "secretkey", "client")} <= set(hashed)
