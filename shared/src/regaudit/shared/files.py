"""Atomic file writes: the one helper every role uses (identities, trust stores, regulator cards,
bundles, reports, the evaluator's job store and workers, the daemon's ready file).

A reader sees the old content or the new, never a torn file: the data goes to a temporary file
``.tmp-<name>.<random>.tmp`` in the target's directory (the evaluator's store sweeps ``.tmp-*``
left behind by a killed process), created with ``mode``, then takes the target's name in one
step.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

#: Prefix of the temporary files (the evaluator's store removes stale ``.tmp-*`` on start).
TEMP_PREFIX = ".tmp-"


def write_file_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int,
    overwrite: bool,
    durable: bool = True,
) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, created with ``mode``.

    Without ``overwrite`` an existing file is never replaced (checked, then linked exclusively).
    ``durable`` flushes the data to disk (``fsync``) before the file takes its name; scratch
    that is rebuilt after a crash anyway (the evaluator's ciphertext blobs) skips it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp"
    )
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp_name, path)
        else:
            try:
                os.link(tmp_name, path)  # atomic; FileExistsError if path exists
            except FileExistsError:
                raise
            except OSError:  # file system without hard links: check, then rename
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
                os.replace(tmp_name, path)
            else:
                os.unlink(tmp_name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


__all__ = ["TEMP_PREFIX", "write_file_atomic"]
