"""Optional dependencies of ``regaudit-shared`` and the error that names the extra to install.

``scipy`` is needed only where the drift certification runs (the regulator's decode of a drift
audit, and the in-process quick start of drift): it is the extra
``regaudit-shared[drift-certification]``, which ``regaudit-regulator`` depends on. The client and
the evaluator never import it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from regaudit.shared.errors import EXIT_USAGE, RegauditError

#: The extra that brings scipy (its linear programs certify drift's W1 interval).
DRIFT_CERTIFICATION_EXTRA = "drift-certification"


class MissingExtraError(RegauditError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    reason = "missing_extra"
    exit_code = EXIT_USAGE
    grpc_status = "FAILED_PRECONDITION"


def require_module(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``; MissingExtraError naming ``regaudit-shared[<extra>]`` if it (or the
    package it belongs to) is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        raise MissingExtraError(
            f"{purpose} needs {top}, which is not installed here: "
            f"pip install 'regaudit-shared[{extra}]' (regaudit-regulator installs it)",
            field=extra,
        ) from exc


__all__ = ["DRIFT_CERTIFICATION_EXTRA", "MissingExtraError", "require_module"]
