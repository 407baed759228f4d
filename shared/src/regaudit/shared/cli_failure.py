"""The one way a regaudit command line stops on an error.

``regaudit-client``, ``regaudit-evaluator`` and ``regaudit-regulator`` end every failed command
through :func:`fail`: optionally one document on stdout first (the regulator's ``verify --json``
object or its ``REJECTED: <reason>`` line), then one line on stderr::

    error: <field>: <message> [<reason>]

and the exit code :func:`regaudit.shared.errors.exit_code_for` gives (0 accepted, 1
verification failed, 2 bad input or usage, 3 the evaluator is unreachable or failed the job).
:func:`fail_usage` is the same path for a usage problem found before any regaudit error exists
(``error: <message>``, exit 2).

A command given ``--json`` calls :func:`report_errors_as_json` first: from then on a failure
also prints one JSON object on stdout (:func:`error_json`: ``ok`` false, ``reason``,
``exit_code``, ``field``, ``message``) unless the command prints its own document (the
regulator's ``verify --json`` object). Each program's root callback switches it off again at the
start of every invocation.

It writes with ``print`` and stops with ``SystemExit`` so that shared code needs no CLI
framework; Typer/Click (and their test runner) treat ``SystemExit`` like their own ``Exit``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import NoReturn

from regaudit.shared.errors import EXIT_USAGE, RegauditError, exit_code_for


def failure_line(error: RegauditError, *, scrub: Callable[[str], str] | None = None) -> str:
    """``error: <field>: <message> [<reason>]``; ``scrub`` rewrites the message first (the
    regulator shortens long decimals with :func:`regaudit.shared.release.scrub_message`)."""
    text = str(error) if scrub is None else scrub(str(error))
    return f"error: {text} [{error.reason}]"


class _Mode:
    """Whether failures also print :func:`error_json` on stdout (the running command's
    ``--json``)."""

    as_json = False


def report_errors_as_json(enabled: bool) -> None:
    """From now on, failures print :func:`error_json` on stdout too (``enabled``) or not."""
    _Mode.as_json = enabled


def error_json(
    error: RegauditError, *, scrub: Callable[[str], str] | None = None
) -> dict[str, object]:
    """The JSON object of a failure: ``{"ok": false, "reason", "exit_code", "field",
    "message"}``."""
    return {
        "ok": False,
        "reason": error.reason,
        "exit_code": exit_code_for(error),
        "field": error.field,
        "message": error.message if scrub is None else scrub(error.message),
    }


def fail(
    error: RegauditError,
    *,
    stdout: str | None = None,
    scrub: Callable[[str], str] | None = None,
) -> NoReturn:
    """Print ``stdout`` (if given; else :func:`error_json` in JSON mode) on stdout,
    :func:`failure_line` on stderr, and exit with ``exit_code_for(error)``."""
    if stdout is None and _Mode.as_json:
        stdout = json.dumps(error_json(error, scrub=scrub), sort_keys=True)
    if stdout is not None:
        print(stdout, file=sys.stdout, flush=True)
    _stop(failure_line(error, scrub=scrub), exit_code_for(error))


def fail_usage(message: str) -> NoReturn:
    """``error: <message>`` on stderr and exit code 2 (a usage problem with no regaudit error,
    e.g. two options that must go together)."""
    if _Mode.as_json:
        document = {"ok": False, "reason": "usage", "exit_code": EXIT_USAGE, "message": message}
        print(json.dumps(document, sort_keys=True), file=sys.stdout, flush=True)
    _stop(f"error: {message}", EXIT_USAGE)


def _stop(line: str, code: int) -> NoReturn:
    print(line, file=sys.stderr, flush=True)
    raise SystemExit(code)


__all__ = ["error_json", "fail", "fail_usage", "failure_line", "report_errors_as_json"]
