"""Signed calls for tests that talk to a daemon: the tests' client identity, request signature
metadata for raw stubs, and an :class:`EvaluatorConnection` that signs every call."""

from __future__ import annotations

from typing import Any

from regaudit.client.transport import EvaluatorConnection
from regaudit.shared.evidence.identity import SigningIdentity
from regaudit.shared.protocol import method_path, request_metadata

#: The client that signs the tests' job headers and calls (one per test session).
CLIENT = SigningIdentity.generate("client")


def signed(
    name: str, subject: str = "", *, identity: SigningIdentity = CLIENT
) -> list[tuple[str, str]]:
    """The ``metadata=`` of one raw-stub call of RPC ``name`` (e.g. "SubmitJob") on
    ``subject`` (the job id of WatchJob/GetResult), signed by ``identity``."""
    return request_metadata(identity, method_path(name), subject)


def connect(
    address: str, *, identity: SigningIdentity = CLIENT, **options: Any
) -> EvaluatorConnection:
    """An :class:`EvaluatorConnection` to ``address`` whose calls ``identity`` signs."""
    return EvaluatorConnection(address, identity=identity, **options)


__all__ = ["CLIENT", "connect", "signed"]
