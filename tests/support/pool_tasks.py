"""Tasks for worker-pool tests: module-level functions a ``spawn`` worker can import by name."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def pid_then_sleep(arguments: tuple[str, float, int]) -> tuple[int, int]:
    """Write this worker's pid to ``path``, sleep ``seconds``, return (value, pid)."""
    path, seconds, value = arguments
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return value, os.getpid()


def kill_own_worker(_: object) -> None:
    """SIGKILL the worker running this task (a poison task: every attempt dies)."""
    os.kill(os.getpid(), signal.SIGKILL)


def fail(message: str) -> None:
    """Raise an ordinary exception in the worker."""
    raise ValueError(message)
