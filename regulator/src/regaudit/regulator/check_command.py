"""What the regulator's commands share: the ``--trust`` option and loading the trust store
(``verify``, ``trust``, ``verify-report``, ``verify-pack``, ``check-opening``), and how a failed
check is reported (``REJECTED: <reason>`` on stdout for a failed verification, the JSON failure
object with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from regaudit.shared.errors import InputError, RegauditError

if TYPE_CHECKING:
    from regaudit.shared.evidence.truststore import TrustStore


#: The ``--trust`` option of the commands that need a trust store file.
TrustOption = Annotated[
    Path, typer.Option("--trust", help="Trust store file (JSON).", show_default=False)
]


#: The optional ``--trust`` option of the commands that check a regulator's signature
#: (``verify-report``, ``verify-pack``): given or not, :func:`required_trust_store` decides.
RegulatorTrustOption = Annotated[
    Path | None,
    typer.Option(
        "--trust",
        help="Trust store file (JSON) that trusts the signing regulator key.",
        show_default=False,
    ),
]


def load_trust(path: Path, *, create: bool = False) -> TrustStore:
    """The trust store at ``path`` (a new default one with ``create``); InputError if missing."""
    from regaudit.shared.evidence.truststore import TrustStore

    if not path.exists():
        if create:
            return TrustStore.new_default()
        raise InputError(f"trust store {path} does not exist", field="trust")
    return TrustStore.load(path)


def required_trust_store(trust: Path | None) -> TrustStore:
    """The trust store at ``trust``; InputError (exit 2) when it is not given or not a file."""
    from regaudit.shared.evidence.truststore import TrustStore

    if trust is None:
        raise InputError("missing option --trust (the regulator's trust store)", field="trust")
    if not trust.is_file():
        raise InputError(f"trust store {trust} does not exist", field="trust")
    return TrustStore.load(trust)


def fail_check(error: RegauditError, *, as_json: bool) -> NoReturn:
    """Exit with ``error``'s code; a failed verification also prints ``REJECTED: <reason>``
    on stdout (unless ``--json``, whose failure object says it)."""
    from regaudit.shared.cli_failure import fail
    from regaudit.shared.errors import EXIT_VERIFICATION_FAILED, exit_code_for

    stdout = None
    if not as_json and exit_code_for(error) == EXIT_VERIFICATION_FAILED:
        stdout = f"REJECTED: {error.reason}"
    fail(error, stdout=stdout)


__all__ = [
    "RegulatorTrustOption",
    "TrustOption",
    "fail_check",
    "load_trust",
    "required_trust_store",
]
