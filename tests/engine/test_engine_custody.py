"""Key custody by structure: only the engine's two SEAL modules import tenseal, and the
evaluator-safe ckks module never pulls in secret-key code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    ROOT / "shared/src/regaudit/shared/_internal/seal.py",
    ROOT / "shared/src/regaudit/shared/secretkey.py",
}


def _imports_tenseal(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "tenseal" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tenseal":
            return True
    return False


def test_only_engine_modules_import_tenseal() -> None:
    sources = [
        path
        for package in ("shared", "client", "evaluator", "regulator")
        for path in (ROOT / package / "src").rglob("*.py")
        if "_proto" not in path.parts
    ]
    assert len(sources) > 5
    offenders = sorted(str(p.relative_to(ROOT)) for p in sources if _imports_tenseal(p))
    assert offenders == sorted(str(p.relative_to(ROOT)) for p in ALLOWED)


def test_ckks_module_does_not_load_secret_key_code() -> None:
    code = (
        "import sys, regaudit.shared.ckks as c; "
        "assert 'regaudit.shared.secretkey' not in sys.modules; "
        "assert not hasattr(c, 'SecretKeyDecryptor'); print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
