"""Three real processes over loopback gRPC: evaluator daemon, client CLI, regulator CLI.

The process helpers live in :mod:`support` (shared by every test directory); this module keeps
the names the e2e tests import."""

from __future__ import annotations

import json
import subprocess

from support.cli import ROOT, cli
from support.daemon import START_TIMEOUT_S, start_evaluator
from support.parties import Parties, key_id, pin_options


def verified_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"not JSON: {result.stdout!r}\nstderr: {result.stderr}") from error
    assert isinstance(payload, dict)
    return payload


__all__ = [
    "ROOT",
    "START_TIMEOUT_S",
    "Parties",
    "cli",
    "key_id",
    "pin_options",
    "start_evaluator",
    "verified_json",
]
