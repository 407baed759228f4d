"""What the regulator's check commands (``verify-report``, ``check-opening``) share: the trust
store they need, and how a failed check is reported (``REJECTED: <reason>`` on stdout for a
failed verification, the JSON failure object with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from regaudit.shared.errors import InputError, RegauditError

if TYPE_CHECKING:
    from regaudit.shared.evidence.truststore import TrustStore


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


__all__ = ["fail_check", "required_trust_store"]
