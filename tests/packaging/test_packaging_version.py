"""One version: the repository's VERSION file is the only place a release number is typed.

Every distribution reads it at build time (each ``<dist>/VERSION`` is a link to it), the
distributions pin each other at exactly it, and everything that reports a version at run time
(the packages' ``__version__``, the evaluator's server version and the receipt's ``software``
field, ``version_text`` for the programs' ``--version``) reads the installed metadata. A
disagreement anywhere fails here.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import regaudit.evaluator
import regaudit.secretkey
import regaudit.shared
from regaudit.shared.versioning import DISTRIBUTIONS, version, version_text

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("shared", "secretkey", "client", "evaluator", "regulator")
VERSION = (ROOT / "VERSION").read_text(encoding="utf-8").strip()


def pyproject(role: str) -> dict[str, object]:
    with (ROOT / role / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_version_file_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", VERSION), VERSION


@pytest.mark.parametrize("role", ROLES)
def test_each_distribution_builds_its_version_from_the_one_file(role: str) -> None:
    project = pyproject(role)["project"]
    assert isinstance(project, dict)
    assert "version" not in project, f"{role}/pyproject.toml types a version"
    assert "version" in project["dynamic"]
    tool = pyproject(role)["tool"]
    assert isinstance(tool, dict)
    assert tool["setuptools"]["dynamic"]["version"] == {"file": "VERSION"}
    link = ROOT / role / "VERSION"
    assert link.is_symlink() and link.resolve() == (ROOT / "VERSION").resolve(), link


@pytest.mark.parametrize("role", ROLES)
def test_distributions_pin_each_other_at_the_one_version(role: str) -> None:
    project = pyproject(role)["project"]
    assert isinstance(project, dict)
    for raw in project["dependencies"]:
        requirement = Requirement(raw)
        if requirement.name.startswith("regaudit-"):
            assert str(requirement.specifier) == f"=={VERSION}", (role, raw)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_installed_metadata_carries_the_one_version(distribution: str) -> None:
    assert installed_version(distribution) == VERSION, (
        f"{distribution} is installed as {installed_version(distribution)}, VERSION says "
        f"{VERSION}: re-run scripts/bootstrap.sh"
    )
    assert version(distribution) == VERSION
    assert version_text(distribution) == f"{distribution} {VERSION}"


def test_runtime_versions_come_from_the_metadata() -> None:
    from regaudit.evaluator.receipts import software_versions
    from regaudit.evaluator.server import SERVER_VERSION

    assert regaudit.shared.__version__ == regaudit.shared.version() == VERSION
    assert regaudit.secretkey.__version__ == VERSION
    assert regaudit.evaluator.__version__ == VERSION
    assert f"regaudit-evaluator {VERSION}" == SERVER_VERSION
    software = software_versions()  # the receipt's ``software`` field
    assert software["regaudit-evaluator"] == software["regaudit-shared"] == VERSION


@pytest.mark.parametrize("role", ["client", "evaluator", "regulator"])
def test_each_program_prints_the_one_version(role: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"regaudit.{role}", "--version"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"regaudit-{role} {VERSION}\n"


def test_version_rejects_a_foreign_distribution() -> None:
    with pytest.raises(ValueError, match="not a regaudit distribution"):
        version("numpy")


def _typed_versions(value: object) -> bool:
    """A string that is the version, or ends with it (``"regaudit-evaluator 0.1.0"``)."""
    return isinstance(value, str) and (value == VERSION or value.endswith(f" {VERSION}"))


def _json_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _json_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _json_strings(item)]
    return [value] if isinstance(value, str) else []


def test_no_release_number_is_typed_in_the_code_or_schemas() -> None:
    """No string constant of the five packages (code, JSON schemas) spells the version out:
    they read it (the seed library regaudit-fhe is also 0.1.0: docstrings naming it are fine)."""
    typed = []
    for role in ROLES:
        for path in sorted((ROOT / role / "src").rglob("*")):
            if "_proto" in path.parts or "egg-info" in str(path):
                continue
            if path.suffix == ".py":
                tree = ast.parse(path.read_text(encoding="utf-8"))
                typed += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and _typed_versions(node.value)
                ]
            elif path.suffix == ".json":
                strings = _json_strings(json.loads(path.read_text(encoding="utf-8")))
                typed += [f"{path.relative_to(ROOT)}: {s!r}" for s in strings if _typed_versions(s)]
    assert not typed, "\n".join(typed)
