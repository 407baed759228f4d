"""The five distributions could be published: full metadata in what is installed (license and
its file, readme, authors, project URLs, classifiers, Python), dependencies declared where they
are imported, protobuf and gRPC capped below their next major, scipy an extra that only the
regulator pulls in, and the repository's LICENSE the full Apache-2.0 text."""

from __future__ import annotations

import ast
import functools
import hashlib
import subprocess
import sys
import tomllib
from email.message import Message
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("shared", "secretkey", "client", "evaluator", "regulator")
#: SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt (the full text, with appendix).
#: What a failure of the installed metadata most often means.
STALE = "the installed metadata is older than pyproject.toml: run scripts/bootstrap.sh"
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
URL_LABELS = {"Homepage", "Documentation", "Source", "Changelog", "Issues", "Security"}
REQUIRED_CLASSIFIERS = {
    "Programming Language :: Python :: 3.11",
    "Typing :: Typed",
    "Topic :: Security :: Cryptography",
    "Operating System :: POSIX :: Linux",
}
#: Packages whose runtime must stay in the major the generated stubs were made for.
CAPPED = {
    "protobuf": "8",
    "grpcio": "2",
    "grpcio-status": "2",
    "grpcio-health-checking": "2",
    "grpcio-reflection": "2",
}


def metadata(role: str) -> Message:
    return distribution(f"regaudit-{role}").metadata  # type: ignore[return-value]


def requirements(role: str) -> list[Requirement]:
    return [Requirement(raw) for raw in distribution(f"regaudit-{role}").requires or []]


def hard(role: str) -> dict[str, Requirement]:
    """The unconditional requirements (no extra marker), by canonical name."""
    return {
        canonicalize_name(r.name): r
        for r in requirements(role)
        if r.marker is None or "extra" not in str(r.marker)
    }


def test_license_is_the_full_apache_2_text_in_every_distribution() -> None:
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256
    for role in ROLES:
        assert (ROOT / role / "LICENSE").resolve() == (ROOT / "LICENSE").resolve(), role


@pytest.mark.parametrize("role", ROLES)
def test_installed_metadata_is_complete(role: str) -> None:
    meta = metadata(role)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"], STALE
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Author"] == "regaudit maintainers"
    assert meta["Keywords"]
    assert meta["Description-Content-Type"] == "text/markdown"
    # the body; importlib_metadata's adapter (which dask's import puts in charge of lookups)
    # moves it to a Description header
    readme = meta.get_payload() or meta.get("Description", "")
    assert isinstance(readme, str) and readme.startswith(f"# regaudit-{role}\n"), readme[:80]
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert set(urls) >= URL_LABELS, urls
    assert all(url.startswith("https://") for url in urls.values())
    assert set(meta.get_all("Classifier") or []) >= REQUIRED_CLASSIFIERS


def test_protobuf_and_grpc_are_capped_below_their_next_major() -> None:
    seen = set()
    for role in ROLES:
        for name, requirement in hard(role).items():
            if name in CAPPED:
                seen.add(name)
                major = CAPPED[name]
                assert not requirement.specifier.contains(f"{major}.0"), (role, str(requirement))
                installed = distribution(name).version
                assert requirement.specifier.contains(installed), (role, installed)
    assert seen == set(CAPPED)


def test_scipy_is_an_extra_only_the_regulator_pulls_in() -> None:
    for role in ("shared", "secretkey", "client", "evaluator"):
        assert "scipy" not in hard(role), role
    extras = [r for r in requirements("shared") if canonicalize_name(r.name) == "scipy"]
    assert [str(r.marker) for r in extras] == ['extra == "drift-certification"']
    shared = hard("regulator")["regaudit-shared"]
    assert shared.extras == {"drift-certification"}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level, all) third-party modules ``path`` imports (``TYPE_CHECKING`` blocks
    left out; ``google.protobuf`` and ``google.rpc`` kept apart)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for child in block.body
        for node in ast.walk(child)
    }
    top_level = {id(node) for node in tree.body}

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            return [node.module]
        return []

    module_level: set[str] = set()
    everywhere: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        for name in names(node):
            parts = name.split(".")
            top = ".".join(parts[:2]) if parts[0] == "google" else parts[0]
            if parts[0] in sys.stdlib_module_names or parts[0] == "regaudit":
                continue
            everywhere.add(top)
            if id(node) in top_level:
                module_level.add(top)
    return module_level, everywhere


_modules_to_distributions = functools.cache(packages_distributions)


def _distribution_of(module: str) -> str:
    mapping = _modules_to_distributions()
    if module.startswith("google."):
        return {"google.protobuf": "protobuf", "google.rpc": "googleapis-common-protos"}[module]
    (name,) = {canonicalize_name(d) for d in mapping.get(module, [module])}
    return name


@pytest.mark.parametrize("role", ROLES)
def test_every_import_is_declared_by_its_distribution(role: str) -> None:
    """Read from pyproject.toml (what the next install will carry): a module imported at module
    level is a dependency; one imported inside a function is a dependency or in an extra."""
    with (ROOT / role / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    required = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    optional = {
        canonicalize_name(Requirement(r).name)
        for group in project.get("optional-dependencies", {}).values()
        for r in group
    }
    missing = []
    for path in sorted((ROOT / role / "src").rglob("*.py")):
        if "_proto" in path.parts:
            continue
        module_level, everywhere = _imports(path)
        for module in sorted(everywhere):
            name = _distribution_of(module)
            allowed = required if module in module_level else required | optional
            if name not in allowed:
                missing.append(f"{path.relative_to(ROOT)}: {module} ({name})")
    assert not missing, f"regaudit-{role} does not declare:\n" + "\n".join(missing)


def test_client_and_evaluator_run_without_scipy(tmp_path: Path) -> None:
    """With scipy unimportable, the client's and the evaluator's programs load, and the drift
    certification stops with MissingExtraError naming the extra."""
    probe = (
        "import sys\n"
        "sys.modules['scipy'] = None\n"
        "import regaudit.client.cli, regaudit.client.audit_command, regaudit.client.audit\n"
        "import regaudit.evaluator.cli, regaudit.evaluator.server\n"
        "import numpy as np\n"
        "from regaudit.shared.chebyshev import chebyshev_sandwich, sqrt_target\n"
        "from regaudit.shared.extras import MissingExtraError\n"
        "try:\n"
        "    chebyshev_sandwich(np.array([4.0, 0.0, 1.0]), np.zeros(3), sqrt_target, atoms=4)\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.reason, exc.exit_code, exc)\n"
        "else:\n"
        "    raise AssertionError('the drift certification ran without scipy')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("missing_extra 2 ")
    assert "regaudit-shared[drift-certification]" in result.stdout
