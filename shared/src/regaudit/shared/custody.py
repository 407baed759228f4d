"""Runtime key-custody check for keyless processes (the evaluator daemon and its workers).

The import-linter contracts prove statically that ``regaudit.evaluator`` and ``regaudit.shared``
never import ``regaudit.secretkey``, and the evaluator's environment does not even install it.
:func:`assert_no_secret_key_code` is the run-time backstop: called when the daemon starts and at
the top of every worker entry point, it refuses to go on if any ``regaudit.secretkey`` module is
loaded in the process (however it got there: a plug-in, a patched circuit, a stray import).

In-process test harnesses and the single-process quick start deliberately run every party in
one interpreter; they call :func:`allow_secret_key_code_in_this_process` first. The allowance is
per process and deliberately not inherited: spawned workers start without it and are checked,
and no environment variable or flag can switch the check off in a daemon.
"""

from __future__ import annotations

import logging
import sys

from regaudit.shared.errors import CustodyViolationError

_log = logging.getLogger(__name__)

#: The package that holds every secret-key operation (distribution ``regaudit-secretkey``).
SECRET_KEY_PACKAGE = "regaudit.secretkey"  # noqa: S105 (a package name, not a secret)

_allowed_reason: str | None = None


def allow_secret_key_code_in_this_process(reason: str) -> None:
    """Let the custody check pass in *this* process although secret-key code is loaded.

    Only for harnesses that run every party in one interpreter on purpose (tests). Not
    inherited by spawned worker processes."""
    global _allowed_reason
    if not reason:
        raise ValueError("say why secret-key code may share this process")
    _allowed_reason = reason
    _log.warning("custody check relaxed in process: %s", reason)


def loaded_secret_key_modules() -> list[str]:
    """Names of the ``regaudit.secretkey`` modules loaded in this process, sorted."""
    prefix = SECRET_KEY_PACKAGE + "."
    return sorted(
        name for name in list(sys.modules) if name == SECRET_KEY_PACKAGE or name.startswith(prefix)
    )


def assert_no_secret_key_code() -> None:
    """Raise :class:`~regaudit.shared.errors.CustodyViolationError` (reason
    ``custody_violation``) if any ``regaudit.secretkey`` module is loaded in this process."""
    loaded = loaded_secret_key_modules()
    if loaded and _allowed_reason is None:
        shown = ", ".join(loaded[:5]) + (" ..." if len(loaded) > 5 else "")
        raise CustodyViolationError(
            f"secret-key code is loaded in a keyless process ({shown}); the evaluator must "
            "never load regaudit.secretkey",
            field="custody",
        )


__all__ = [
    "SECRET_KEY_PACKAGE",
    "allow_secret_key_code_in_this_process",
    "assert_no_secret_key_code",
    "loaded_secret_key_modules",
]
