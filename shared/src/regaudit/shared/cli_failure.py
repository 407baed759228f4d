"""The one way a regaudit command line stops on an error.

``regaudit-client``, ``regaudit-evaluator`` and ``regaudit-regulator`` end every failed command
through :func:`fail`: optionally one document on stdout first (the regulator's ``verify --json``
object or its ``REJECTED: <reason>`` line), then one line on stderr::

    error: <field>: <message> [<reason>]

and the exit code :func:`regaudit.shared.errors.exit_code_for` gives (0 accepted, 1
verification failed, 2 bad input or usage, 3 the evaluator is unreachable or failed the job).
:func:`fail_usage` is the same path for a usage problem found before any regaudit error exists
(``error: <message>``, exit 2).

It writes with ``print`` and stops with ``SystemExit`` so that shared code needs no CLI
framework; Typer/Click (and their test runner) treat ``SystemExit`` like their own ``Exit``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from regaudit.shared.errors import EXIT_USAGE, RegauditError, exit_code_for


def failure_line(error: RegauditError, *, scrub: Callable[[str], str] | None = None) -> str:
    """``error: <field>: <message> [<reason>]``; ``scrub`` rewrites the message first (the
    regulator shortens long decimals with :func:`regaudit.shared.release.scrub_message`)."""
    text = str(error) if scrub is None else scrub(str(error))
    return f"error: {text} [{error.reason}]"


def fail(
    error: RegauditError,
    *,
    stdout: str | None = None,
    scrub: Callable[[str], str] | None = None,
) -> NoReturn:
    """Print ``stdout`` (if given) on stdout, :func:`failure_line` on stderr, and exit with
    ``exit_code_for(error)``."""
    if stdout is not None:
        print(stdout, file=sys.stdout, flush=True)
    _stop(failure_line(error, scrub=scrub), exit_code_for(error))


def fail_usage(message: str) -> NoReturn:
    """``error: <message>`` on stderr and exit code 2 (a usage problem with no regaudit error,
    e.g. two options that must go together)."""
    _stop(f"error: {message}", EXIT_USAGE)


def _stop(line: str, code: int) -> NoReturn:
    print(line, file=sys.stderr, flush=True)
    raise SystemExit(code)


__all__ = ["fail", "fail_usage", "failure_line"]
