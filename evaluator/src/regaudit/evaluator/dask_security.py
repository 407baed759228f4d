"""Which Dask schedulers and workers the daemon trusts.

A Dask worker is as trusted as the daemon: the cluster's scheduler and workers exchange pickles
with the daemon (which holds the receipt-signing key), so whoever can talk to the scheduler can
run code in the daemon, and a worker computes what the daemon signs. The daemon therefore
refuses a plaintext ``tcp://`` scheduler off loopback (:func:`check_scheduler_address`) and needs
mutual TLS (``tls://`` with a ``distributed.security.Security``) otherwise; it refuses workers
that run other regaudit software (:func:`software_mismatches`); and it checks every ciphertext
and operation count a worker returns before using or signing it (``checks``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from regaudit.shared.errors import EXIT_USAGE, RegauditError

#: Reason of the refusal of a scheduler address that is neither loopback ``tcp://`` nor
#: ``tls://`` with TLS material.
REASON_DASK_INSECURE = "dask_scheduler_insecure"


class DaskInsecureError(RegauditError):
    """The Dask scheduler address would let the network run code in the daemon: plaintext
    ``tcp://`` off loopback, ``tls://`` without TLS material, or another transport."""

    reason = REASON_DASK_INSECURE
    exit_code = EXIT_USAGE
    grpc_status = "INTERNAL"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheduler_address(address: str, *, tls: bool) -> str:
    """Refuse (DaskInsecureError) a scheduler the network could use to run code in the daemon.

    Accepted: ``tcp://HOST:PORT`` (or ``HOST:PORT``) with a loopback HOST and no TLS, and
    ``tls://HOST:PORT`` with TLS material (``tls=True``: CA, client certificate and key).
    Returns the scheme.
    """
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    scheme = scheme.lower()
    host = rest.rpartition(":")[0] if ":" in rest else rest
    host = host.strip("[]")
    if scheme == "tls":
        if not tls:
            raise DaskInsecureError(
                f"Dask scheduler {address}: tls:// needs --dask-tls-ca, --dask-tls-cert and "
                "--dask-tls-key (mutual TLS)",
                field="dask_scheduler",
            )
        return scheme
    if scheme == "tcp":
        if tls:
            raise DaskInsecureError(
                f"Dask scheduler {address}: TLS material given for a plaintext tcp:// address; "
                "use tls://",
                field="dask_scheduler",
            )
        if not _loopback(host):
            raise DaskInsecureError(
                f"refusing the plaintext Dask scheduler {address}: tcp:// is allowed on "
                "loopback only (anyone who can reach the scheduler can run code in this daemon, "
                "which holds the receipt-signing key); use tls:// with --dask-tls-ca, "
                "--dask-tls-cert and --dask-tls-key",
                field="dask_scheduler",
            )
        return scheme
    raise DaskInsecureError(
        f"Dask scheduler {address}: only tcp:// (loopback) and tls:// are allowed",
        field="dask_scheduler",
    )


def software_mismatches(
    reported: Mapping[str, Mapping[str, object]], own: Mapping[str, object]
) -> list[str]:
    """What differs between each worker's reported software identity (by worker address) and
    the daemon's ``own``: one line per mismatching worker, naming every differing field (a
    worker must compute exactly what the daemon signs)."""
    problems = []
    for address, identity in sorted(reported.items()):
        differing = sorted(
            name for name in set(identity) | set(own) if identity.get(name) != own.get(name)
        )
        if differing:
            details = "; ".join(
                f"{name} {identity.get(name)!r:.120} (daemon: {own.get(name)!r:.120})"
                for name in differing
            )
            problems.append(f"worker {address}: {details}")
    return problems


__all__ = [
    "REASON_DASK_INSECURE",
    "DaskInsecureError",
    "check_scheduler_address",
    "software_mismatches",
]
