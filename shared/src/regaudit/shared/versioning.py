"""The one version of regaudit, as every program and every receipt reports it.

The source is the ``VERSION`` file at the repository root: each of the five distributions reads
it at build time (``[tool.setuptools.dynamic] version = {file = "VERSION"}``, where each
distribution's ``VERSION`` is a link to the root file), so they always carry the same version.
At run time everything asks the installed metadata (:mod:`importlib.metadata`) through this
module: the receipt's ``software`` field, the evaluator's server version string, the worker
identity check and the programs' ``--version``. Nothing else types a version number;
``tests/packaging/test_packaging_version.py`` fails when any of them disagree.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

#: The five distributions, released together under one version.
DISTRIBUTIONS: tuple[str, ...] = (
    "regaudit-shared",
    "regaudit-secretkey",
    "regaudit-client",
    "regaudit-evaluator",
    "regaudit-regulator",
)

#: What :func:`version` says for a distribution that is not installed (running from a source
#: tree without ``pip install``): never a made-up release number.
UNKNOWN_VERSION = "0+unknown"


def version(distribution: str = "regaudit-shared") -> str:
    """The installed version of ``distribution`` (one of :data:`DISTRIBUTIONS`), e.g.
    ``"0.1.0"``; :data:`UNKNOWN_VERSION` when it is not installed."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"not a regaudit distribution: {distribution!r}")
    try:
        return _installed_version(distribution)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def installed_versions() -> dict[str, str]:
    """Every regaudit distribution installed here with its version (absent ones left out)."""
    found: dict[str, str] = {}
    for distribution in DISTRIBUTIONS:
        try:
            found[distribution] = _installed_version(distribution)
        except PackageNotFoundError:
            continue
    return found


def version_text(program: str) -> str:
    """The one line a program's ``--version`` prints: ``"<program> <version>"`` with the
    version of the distribution of the same name (``regaudit-client 0.1.0``)."""
    return f"{program} {version(program)}"


__all__ = ["DISTRIBUTIONS", "UNKNOWN_VERSION", "installed_versions", "version", "version_text"]
