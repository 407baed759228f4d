"""The seed library's published wheel (regaudit-fhe 0.1.0 from PyPI) for compatibility tests.

Nothing of it is copied into the repository: :func:`seed_wheel` downloads the wheel once with
``pip download --no-deps`` into ``.pytest_cache/seed-wheel/`` (kept between runs) and the tests
read its ``<primitive>.output.schema.json`` files straight from the zip. Its pure-Python oracles
(``regaudit_fhe.egf_imss.fairness_oracle``...) import from the zip too (:func:`seed_module`).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from support.cli import ROOT

SEED_REQUIREMENT = "regaudit-fhe==0.1.0"
SEED_WHEEL_NAME = "regaudit_fhe-0.1.0-py3-none-any.whl"
CACHE_DIR = ROOT / ".pytest_cache" / "seed-wheel"
#: The seed's six primitives.
SEED_PRIMITIVES = ("fairness", "provenance", "concordance", "calibration", "drift", "disagreement")
DOWNLOAD_TIMEOUT_S = 120.0


@cache
def seed_wheel() -> Path:
    """The seed's wheel file, downloaded on first use."""
    wheel = CACHE_DIR / SEED_WHEEL_NAME
    if not wheel.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", SEED_REQUIREMENT]
        result = subprocess.run(
            [*command, "-d", str(CACHE_DIR)],
            capture_output=True,
            text=True,
            timeout=DOWNLOAD_TIMEOUT_S,
        )
        assert result.returncode == 0 and wheel.is_file(), (
            f"could not download {SEED_REQUIREMENT}:\n{result.stdout}\n{result.stderr}"
        )
    return wheel


@cache
def seed_output_schemas() -> dict[str, dict[str, Any]]:
    """primitive -> the seed's published output schema (from the wheel)."""
    schemas: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(seed_wheel()) as archive:
        for name in archive.namelist():
            if name.endswith(".output.schema.json"):
                primitive = name.rsplit("/", 1)[-1].split(".", 1)[0]
                schemas[primitive] = json.loads(archive.read(name))
    return schemas


def seed_module(name: str) -> ModuleType:
    """A module of the seed's package, imported from its wheel (e.g. ``egf_imss``)."""
    path = str(seed_wheel())
    if path not in sys.path:
        sys.path.append(path)
    return importlib.import_module(f"regaudit_fhe.{name}")


def validate_seed_output(primitive: str, document: object) -> None:
    """Raise jsonschema's ValidationError unless ``document`` is a valid seed output."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(seed_output_schemas()[primitive]).validate(document)


__all__ = [
    "SEED_PRIMITIVES",
    "seed_module",
    "seed_output_schemas",
    "seed_wheel",
    "validate_seed_output",
]
