"""The evaluator daemon as a real process: ``regaudit-evaluator serve --listen 127.0.0.1:0
--ready-file ...``, waited for with :func:`regaudit.evaluator.server.wait_for_ready_file`.

The daemon's stdout and stderr go to ``<store>.log`` beside its store (a pipe nobody reads could
fill up and block it); its ready file is ``<store>.ready``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from regaudit.evaluator.server import wait_for_ready_file
from support.cli import ROOT

#: How long a daemon may take to become ready (seconds; spawning the workers dominates).
START_TIMEOUT_S = 90.0
#: How long a daemon may take to stop after SIGTERM before it is killed (seconds).
STOP_TIMEOUT_S = 30.0


def start_evaluator(
    identity: Path, store: Path, *extra: str, timeout: float = START_TIMEOUT_S
) -> tuple[subprocess.Popen[str], str]:
    """Start ``regaudit-evaluator serve`` on a free loopback port with ``identity`` (made by
    ``init``), ``store`` and ``extra`` options; return (process, its ``HOST:PORT``) once it is
    serving. A daemon that exits first fails with its exit code and last output lines."""
    store.parent.mkdir(parents=True, exist_ok=True)
    ready = store.parent / f"{store.name}.ready"
    log = store.parent / f"{store.name}.log"
    ready.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "regaudit.evaluator", "serve", "--listen", "127.0.0.1:0",
        "--identity", str(identity), "--store", str(store), "--ready-file", str(ready), *extra,
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        # a TLS daemon's health service needs the test's credentials: the ready file suffices
        address = wait_for_ready_file(
            ready,
            process=process,
            timeout=timeout,
            output=log,
            check_health="--tls-cert" not in extra,
        )
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        raise
    return process, address


def stop_evaluator(
    process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S
) -> int:
    """Send ``sig`` (graceful stop), wait up to ``timeout`` s, kill if it is still running;
    return the exit code."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=timeout)


__all__ = ["START_TIMEOUT_S", "STOP_TIMEOUT_S", "start_evaluator", "stop_evaluator"]
