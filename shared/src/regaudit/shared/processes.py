"""Worker processes that die with their parent.

The evaluator daemon's local workers and the client's encryption workers are ``spawn``-context
children. If their parent is killed outright (``kill -9``, the OOM killer) nothing tells them to
stop: they would live on as orphans -- the client's still holding the CKKS secret key.
:func:`die_with_parent`, called from each pool's worker initializer, asks Linux to send the
worker ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and closes the
race where the parent died before the request was made. Elsewhere it does nothing.

Linux delivers the signal when the *thread* that spawned the worker exits, not only when the
whole parent process does: spawn pool workers from a thread that lives as long as the pool.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Have this process killed (``SIGKILL``) when its parent dies; return whether the request
    was made (``False`` where ``prctl`` is unavailable).

    ``parent_pid`` is the pid of the process that spawned this one (``os.getpid()`` there,
    passed through the pool's initializer arguments): if the parent is already gone -- this
    process has been re-parented -- it exits at once, as the signal would have made it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:  # pragma: no cover
        return False
    if os.getppid() != parent_pid:
        # the parent died before the signal was armed: nobody will send it
        os._exit(1)
    return True


__all__ = ["PR_SET_PDEATHSIG", "die_with_parent"]
