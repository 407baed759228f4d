"""Addresses of the evaluator daemon: parsing ``HOST:PORT``, loopback, why a bind failed, and
the caller's address for the logs."""

from __future__ import annotations

import errno
import ipaddress
import socket

import grpc

from regaudit.shared.errors import InputError


def peer_of(context: grpc.ServicerContext) -> str:
    """The caller's address as gRPC reports it (``ipv4:127.0.0.1:PORT``); "" if unknown."""
    try:
        return str(context.peer() or "")
    except Exception:  # noqa: BLE001 - a log field, never a failure
        return ""


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` / ``[V6]:PORT`` -> (host, port); InputError if malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"address must be HOST:PORT, got {address!r}", field="listen")
    return host.strip("[]"), int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_error(host: str, port: int, bind: str) -> InputError:
    """Why gRPC could not bind ``bind``: gRPC only says that it failed, so a plain socket tries
    the same address (with ``SO_REUSEADDR``, as gRPC: only a listener is a conflict)."""
    problem = None
    try:
        candidates = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        candidates = []
    for family, kind, proto, _name, sockaddr in candidates if port else []:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return InputError(f"address {bind} is already in use", field="listen")
            problem = exc.strerror or str(exc)
    detail = f": {problem}" if problem else ""
    return InputError(f"cannot bind {bind}{detail}", field="listen")


__all__ = ["bind_error", "is_loopback", "peer_of", "split_address"]
