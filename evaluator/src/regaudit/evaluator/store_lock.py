"""One daemon per store: an exclusive ``flock`` on ``STORE/evaluator.lock``.

The lock is taken before the store opens SQLite or touches any other file, and held until the
store closes; another daemon on the same store is refused with the holder's pid. The kernel
drops the lock when its holder dies, so a killed daemon's store opens again at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from regaudit.shared.errors import InputError

#: The lock file inside the store directory: ``flock``-ed by the daemon that has the store open.
LOCK_NAME = "evaluator.lock"
#: How long a refused opener waits for the holder to write its pid into the lock file (s).
_HOLDER_PID_WAIT_S = 0.5


class StoreLock:
    """An exclusive, non-blocking ``flock`` on ``ROOT/evaluator.lock``, held until
    :meth:`release` (or the holder's death: the kernel drops it, so a stale lock file of a killed
    daemon does not block the next start). The file holds the holder's pid, for the refusal
    message; it is never deleted (deleting a lock file races with a second opener)."""

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fd = fd

    @classmethod
    def acquire(cls, root: str | os.PathLike[str]) -> StoreLock:
        """Lock the store at ``root`` (created if missing) or raise :class:`InputError`
        ("store ROOT is in use by another evaluator (pid N)") without touching anything else."""
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InputError(f"cannot open store {root}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise InputError(
                f"store {root} is in use by another evaluator (pid {holder or 'unknown'})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)  # releases the lock
            raise
        return cls(root, fd)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Give the store up (idempotent): clear the pid, close the file (drops the lock)."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def _holder_pid(fd: int) -> str | None:
    """The pid the lock's holder wrote (it may still be writing it: wait a little)."""
    deadline = time.monotonic() + _HOLDER_PID_WAIT_S
    while True:
        with contextlib.suppress(OSError):
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            if text.isdigit():
                return text
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


__all__ = ["LOCK_NAME", "StoreLock"]
