"""``regaudit-regulator trust policy``: show or set the trust store's verification policy
(``witnesses_required``) and result policy (per-metric thresholds, four-fifths τ, reference
group; :mod:`regaudit.shared.evidence.result_policy`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from regaudit.shared.cli_app import JsonOption
from regaudit.shared.cli_app import json_mode as _json_mode
from regaudit.shared.cli_app import print_json as _print_json
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import InputError, RegauditError


def _witnesses_required(value: int) -> int:
    from regaudit.shared.evidence.truststore import MAX_WITNESSES_REQUIRED

    if not 0 <= value <= MAX_WITNESSES_REQUIRED:
        raise InputError(
            f"must be between 0 and {MAX_WITNESSES_REQUIRED}", field="witnesses-required"
        )
    return value


def trust_policy(
    trust: Annotated[
        Path, typer.Option("--trust", help="Trust store file (JSON).", show_default=False)
    ],
    witnesses_required: Annotated[
        int | None,
        typer.Option(
            "--witnesses-required",
            help="Agreeing witness receipts a bundle must carry (0: none; fewer fails "
            "verification with missing_witness).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="METRIC=VALUE, repeatable (e.g. fairness.demographic_parity_diff=0.05, "
            "concordance.c_index=0.7): overrides the audit's threshold for verify "
            "--fail-on-breach.",
            show_default=False,
        ),
    ] = None,
    four_fifths: Annotated[
        float | None,
        typer.Option(
            "--four-fifths",
            help="Four-fifths τ: an impact ratio below it breaches (default 0.8).",
            show_default=False,
        ),
    ] = None,
    reference_group: Annotated[
        str | None,
        typer.Option(
            "--reference-group",
            help="Fairness reference group of the impact ratios (default: the group with "
            "the highest selection rate).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the verification and result policy, or set it (creates the trust store with
    defaults if missing)."""
    from regaudit.shared.evidence.result_policy import parse_threshold_option, with_settings
    from regaudit.shared.evidence.truststore import TrustStore

    _json_mode(as_json)
    changes = (witnesses_required, four_fifths, reference_group)
    setting = bool(threshold) or any(c is not None for c in changes)
    try:
        if trust.exists():
            store = TrustStore.load(trust)
        elif setting:
            store = TrustStore.new_default()
        else:
            raise InputError(f"trust store {trust} does not exist", field="trust")
        if witnesses_required is not None:
            store.witnesses_required = _witnesses_required(witnesses_required)
        if setting:
            parsed = dict(parse_threshold_option(t) for t in threshold or [])
            store.result_policy = with_settings(
                store.result_policy,
                thresholds=parsed,
                four_fifths=four_fifths,
                reference_group=reference_group,
            )
            store.save(trust)
    except RegauditError as error:
        fail(error)
    policy = store.result_policy
    if as_json:
        shown = {"witnesses_required": store.witnesses_required}
        _print_json({"ok": True, **shown, "result_policy": policy.to_dict()})
        return
    typer.echo(f"witnesses required {store.witnesses_required}")
    typer.echo(f"four-fifths tau    {policy.four_fifths}")
    typer.echo(f"reference group    {policy.reference_group or '(highest selection rate)'}")
    for name, value in policy.thresholds.items():
        typer.echo(f"threshold          {name} {value}")


__all__ = ["trust_policy"]
