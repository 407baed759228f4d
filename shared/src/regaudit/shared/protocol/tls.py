"""TLS material for the evaluator's gRPC server and the client's channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TlsOptions:
    """PEM material for TLS. Server: ``certificate_chain`` + ``private_key`` (and
    ``root_certificates`` to require client certificates = mutual TLS). Client:
    ``root_certificates`` to trust (and a certificate chain + key for mutual TLS)."""

    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    root_certificates: bytes | None = None
    require_client_auth: bool = False
    #: client only: expected server name if it differs from the address host
    server_name_override: str | None = None


__all__ = ["TlsOptions"]
