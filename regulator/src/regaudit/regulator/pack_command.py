"""``regaudit-regulator verify-pack DIR --trust TRUST.json [--json]``: check an evidence pack
with :func:`regaudit.regulator.pack_checks.verify_evidence_pack`.

Exit codes: 0 the pack verified (one line, or one JSON object); 1 it did not (``REJECTED:
<reason>``); 2 bad input (no such folder, no manifest, no trust store).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from regaudit.regulator.check_command import (
    RegulatorTrustOption,
    fail_check,
    required_trust_store,
)
from regaudit.shared.cli_app import JsonOption
from regaudit.shared.errors import InternalError, RegauditError


def verify_pack_command(
    pack: Annotated[
        Path, typer.Argument(help="The evidence pack folder (verify --evidence-pack).")
    ],
    trust: RegulatorTrustOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify an evidence pack: the regulator-signed manifest, every file against it (none
    missing, changed or added), the signed finding against the packed bundle, and the summary
    against both."""
    from regaudit.regulator.pack_checks import verify_evidence_pack
    from regaudit.shared.cli_failure import fail, report_errors_as_json

    report_errors_as_json(as_json)
    try:
        store = required_trust_store(trust)
        verified = verify_evidence_pack(pack, trust=store)
    except RegauditError as error:
        fail_check(error, as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - a crash must never look like "accepted"
        fail(InternalError(f"the check crashed: {type(exc).__name__}: {exc}"))
    if as_json:
        typer.echo(json.dumps(verified.to_json(), sort_keys=False))
    else:
        typer.echo(verified.line())


__all__ = ["verify_pack_command"]
