"""Waiting for an evaluator daemon: until its health service reports SERVING, or until
``regaudit-evaluator serve --ready-file PATH`` has written the address it is serving on.

For whoever starts the daemon as a separate process (tests, benchmarks, examples); also
importable from :mod:`regaudit.evaluator.server`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from regaudit.shared.errors import ProtocolError
from regaudit.shared.protocol import SERVICE_NAME


def wait_until_serving(address: str, *, timeout: float = 30.0) -> None:
    """Block until the health service at ``address`` (loopback, plaintext) reports SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise ProtocolError(f"evaluator at {address} not serving after {timeout} s")
            time.sleep(0.1)


#: Lines of a daemon's output quoted when it ends before it is ready.
READY_OUTPUT_LINES = 20
#: A started daemon process (its pipes, if any, in text or binary mode).
DaemonProcess: TypeAlias = "subprocess.Popen[str] | subprocess.Popen[bytes]"


class EvaluatorStartError(RuntimeError):
    """An evaluator daemon ended, or wrote no ready file in time, before it was serving.

    ``returncode`` is its exit code (None while it still runs), ``output`` the last lines it
    printed (when they could be read)."""

    def __init__(self, message: str, *, returncode: int | None = None, output: str = "") -> None:
        super().__init__(f"{message}\n{output}" if output else message)
        self.returncode = returncode
        self.output = output


def read_ready_file(path: str | os.PathLike[str]) -> str | None:
    """The ``HOST:PORT`` in a ``serve --ready-file`` file, or None while there is none (the
    daemon writes it atomically: absent or whole)."""
    try:
        address = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return address or None


def wait_for_ready_file(
    path: str | os.PathLike[str],
    *,
    process: DaemonProcess | None = None,
    timeout: float = 60.0,
    output: str | os.PathLike[str] | None = None,
    check_health: bool = True,
) -> str:
    """Wait until ``regaudit-evaluator serve --ready-file PATH`` is serving; return its
    ``HOST:PORT`` (the bound port, also after ``--listen HOST:0``).

    The daemon writes PATH once its health service reports SERVING and removes it when it shuts
    down. ``check_health`` then asks the health service at that address to confirm
    (:func:`wait_until_serving`, plaintext); pass False for a TLS daemon. If ``process`` (the
    daemon's ``Popen``) ends first, :class:`EvaluatorStartError` names its exit code and the
    last lines of its output, read from ``output`` (a log file the daemon writes to) or else
    from the process's stdout/stderr pipes. Remove a stale PATH before starting the daemon.
    """
    ready = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        exited = process is not None and process.poll() is not None
        address = read_ready_file(ready)
        if exited and process is not None:
            raise EvaluatorStartError(
                f"evaluator exited with code {process.returncode} before it was ready",
                returncode=process.returncode,
                output=_last_output(process, output),
            )
        if address is not None:
            break
        if time.monotonic() > deadline:
            raise EvaluatorStartError(
                f"evaluator wrote no ready file {ready} within {timeout} s",
                output=_last_output(None, output),
            )
        time.sleep(0.05)
    if check_health:
        wait_until_serving(address, timeout=max(deadline - time.monotonic(), 5.0))
    return address


def _last_output(process: DaemonProcess | None, output: str | os.PathLike[str] | None) -> str:
    """The last :data:`READY_OUTPUT_LINES` lines of a daemon's output ('' if unreadable)."""
    text = ""
    if output is not None:
        try:
            text = Path(output).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    elif process is not None and (process.stdout is not None or process.stderr is not None):
        parts: tuple[object, object]
        try:
            parts = process.communicate(timeout=5)  # the process has ended: pipes are at EOF
        except (subprocess.TimeoutExpired, ValueError, OSError):
            parts = (None, None)  # a child still holds the pipe, or it was read already
        for part in parts:
            if isinstance(part, bytes):
                text += part.decode("utf-8", errors="replace")
            elif isinstance(part, str):
                text += part
    return "\n".join(text.splitlines()[-READY_OUTPUT_LINES:])


__all__ = [
    "READY_OUTPUT_LINES",
    "EvaluatorStartError",
    "read_ready_file",
    "wait_for_ready_file",
    "wait_until_serving",
]
