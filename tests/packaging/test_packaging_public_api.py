"""Each package's public ``__all__``: every module of the five distributions that declares one
(outside ``_internal`` and the generated ``_proto``) names only things it defines, and the
top-level packages export exactly the pinned lists below, so an accidental change of the
public API fails here. Changing the API on purpose means changing the pin in the same commit."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = (
    "regaudit.shared",
    "regaudit.secretkey",
    "regaudit.client",
    "regaudit.evaluator",
    "regaudit.regulator",
)

#: The top-level packages' ``__all__`` (None: the package declares none).
PINNED: dict[str, list[str] | None] = {
    "regaudit.shared": ["__version__", "version"],
    "regaudit.secretkey": [
        "MAX_SECRET_KEY_BYTES",
        "ClientKeys",
        "RegulatorKeys",
        "SecretKeyDecryptor",
        "__version__",
        "encrypt_with_secret_key",
        "unseal_secret_key",
    ],
    "regaudit.client": [
        "AuditOutcome",
        "EvaluatorUnavailableError",
        "ProgressSink",
        "audit_calibration",
        "audit_concordance",
        "audit_disagreement",
        "audit_drift",
        "audit_fairness",
        "audit_provenance",
        "frame_input",
        "load_audit_input",
        "run_audit",
    ],
    "regaudit.evaluator": None,
    "regaudit.regulator": ["ReplayGuard", "VerifiedAudit", "verify_bundle"],
}

_PRIVATE_PARTS = {"_internal", "_proto", "__main__"}


def _public_modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if _PRIVATE_PARTS.isdisjoint(info.name.split(".")):
                names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


def test_the_walk_finds_the_modules() -> None:
    # a broken walk (say, a moved source tree) must not pass the test below vacuously
    assert len(MODULES) > 20
    assert set(PACKAGES) <= set(MODULES)
    assert not [name for name in MODULES if _PRIVATE_PARTS & set(name.split("."))]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
    assert all(isinstance(item, str) for item in exported), f"{name}.__all__ holds a non-string"
    duplicates = sorted({item for item in exported if list(exported).count(item) > 1})
    assert not duplicates, f"{name}.__all__ lists {duplicates} more than once"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names {missing}, which {name} does not define"


@pytest.mark.parametrize("package", PACKAGES)
def test_top_level_all_is_pinned(package: str) -> None:
    exported = getattr(importlib.import_module(package), "__all__", None)
    got = None if exported is None else list(exported)
    assert got == PINNED[package], (
        f"the public API of {package} changed: __all__ is {got}, pinned {PINNED[package]}; "
        "if on purpose, update PINNED in tests/packaging/test_packaging_public_api.py"
    )
