"""``regaudit-regulator verify-report FILE [--bundle BUNDLE] --trust TRUST.json [--json]``:
check a signed finding (``verify --signed-report``) with
:func:`regaudit.regulator.findings.verify_finding`.

Exit codes: 0 the finding verified (``Verified OK: ...`` one line, or one JSON object);
1 it did not (``REJECTED: <reason>`` on stdout, the reason and message on stderr); 2 bad input
(a missing or unreadable file, no trust store).
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
from regaudit.shared.errors import InputError, InternalError, RegauditError


def _read(path: Path, *, field: str, limit: int) -> bytes:
    """The bytes of ``path``; InputError (exit 2) if it is missing, too large or unreadable."""
    if not path.is_file():
        raise InputError(f"{field} file {path} does not exist", field=field)
    try:
        if path.stat().st_size > limit:
            raise InputError(f"{field} file {path} is over {limit} bytes", field=field)
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}", field=field) from exc


def verify_report_command(
    finding: Annotated[
        Path, typer.Argument(help="The signed finding (verify --signed-report FILE).")
    ],
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="The audit bundle: its SHA-256 must be the finding's subject digest.",
            show_default=False,
        ),
    ] = None,
    trust: RegulatorTrustOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a signed finding: DSSE signature by a regulator key the trust store trusts, an
    in-toto Statement v1 of the finding predicate type matching its schema, and with --bundle
    that its subject is that bundle."""
    from regaudit.regulator.findings import MAX_FINDING_FILE_BYTES, verify_finding
    from regaudit.shared.bundle import MAX_BUNDLE_BYTES
    from regaudit.shared.cli_failure import fail, report_errors_as_json

    report_errors_as_json(as_json)
    try:
        store = required_trust_store(trust)
        data = _read(finding, field="finding", limit=MAX_FINDING_FILE_BYTES)
        bundle_bytes = (
            None if bundle is None else _read(bundle, field="bundle", limit=MAX_BUNDLE_BYTES)
        )
        verified = verify_finding(data, trust=store, bundle_bytes=bundle_bytes)
    except RegauditError as error:
        fail_check(error, as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - a crash must never look like "accepted"
        fail(InternalError(f"the check crashed: {type(exc).__name__}: {exc}"))
    if as_json:
        typer.echo(json.dumps(verified.to_json(), sort_keys=False))
    else:
        typer.echo(verified.line())


__all__ = ["verify_report_command"]
