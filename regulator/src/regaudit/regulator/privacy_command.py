"""``regaudit-regulator privacy``: set privacy budgets and show the privacy-loss ledger
(:mod:`regaudit.regulator.privacy`, ``docs/privacy.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from regaudit.shared.cli_app import JsonOption
from regaudit.shared.cli_app import json_mode as _json_mode
from regaudit.shared.cli_app import print_json as _print_json
from regaudit.shared.cli_failure import fail
from regaudit.shared.errors import InputError, RegauditError

if TYPE_CHECKING:
    from regaudit.regulator.verified import VerifiedAudit

privacy_app = typer.Typer(
    help="Differential privacy on release: budgets per client and dataset, and the ledger.",
    no_args_is_help=True,
)

IdentityOption = Annotated[
    Path,
    typer.Option(
        "--identity",
        help="The regulator's identity directory (holds the ledger).",
        show_default=False,
    ),
]


@privacy_app.command("budget")
def privacy_budget(
    identity: IdentityOption,
    epsilon: Annotated[
        float, typer.Option("--epsilon", help="Total epsilon of the budget.", show_default=False)
    ],
    delta: Annotated[float, typer.Option("--delta", help="Total delta of the budget.")] = 0.0,
    client: Annotated[
        str | None,
        typer.Option("--client", help="Client key id the budget is for.", show_default=False),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Dataset the budget is for, as the client declares it (default: every dataset "
            "of the client without its own budget; undeclared data is '(undeclared)').",
            show_default=False,
        ),
    ] = None,
    default: Annotated[
        bool,
        typer.Option("--default", help="Set the default budget of every client and dataset."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Set a privacy budget: for one client (and dataset), or the default (--default)."""
    from regaudit.regulator.privacy.ledger import PrivacyLedger

    _json_mode(as_json)
    try:
        if default == (client is not None):
            raise InputError("give either --client KEY_ID or --default", field="client")
        with PrivacyLedger.for_identity(identity) as ledger:
            ledger.set_budget(client=client, dataset=dataset, epsilon=epsilon, delta=delta)
    except RegauditError as error:
        fail(error)
    scope = "default" if default else f"{client}/{dataset or '*'}"
    if as_json:
        _print_json({"ok": True, "scope": scope, "epsilon": epsilon, "delta": delta})
        return
    typer.echo(f"privacy budget {scope}: epsilon {epsilon:g}, delta {delta:g}")


def _budget_text(budget: dict[str, Any] | None) -> str:
    if budget is None:
        return "no budget"
    return f"of epsilon {budget['epsilon']:g}, delta {budget['delta']:g} ({budget['scope']})"


@privacy_app.command("ledger")
def privacy_ledger(identity: IdentityOption, as_json: JsonOption = False) -> None:
    """List the budgets, what each client has spent per dataset, and every release."""
    from regaudit.regulator.privacy.ledger import PrivacyLedger

    _json_mode(as_json)
    try:
        with PrivacyLedger.for_identity(identity) as ledger:
            listing = ledger.listing()
    except RegauditError as error:
        fail(error)
    if as_json:
        _print_json({"ok": True, **listing})
        return
    typer.echo("budgets:")
    for budget in listing["budgets"]:
        scope = (
            "default"
            if budget["client"] is None
            else f"{budget['client']}/{budget['dataset'] or '*'}"
        )
        typer.echo(f"  {scope}: epsilon {budget['epsilon']:g}, delta {budget['delta']:g}")
    if not listing["budgets"]:
        typer.echo("  (none: every release is refused)")
    typer.echo("spent:")
    for spent in listing["spending"]:
        typer.echo(
            f"  {spent['client']}/{spent['dataset']}: epsilon {spent['epsilon_spent']:g}, "
            f"delta {spent['delta_spent']:g} in {spent['releases']} release(s), "
            f"{_budget_text(spent['budget'])}"
        )
    typer.echo("releases:")
    for release in listing["releases"]:
        typer.echo(
            f"  {release['released_at']}  audit {release['audit_id']}  {release['primitive']}  "
            f"epsilon {release['epsilon']:g}  delta {release['delta']:g}  "
            f"({release['client'][:16]}.../{release['dataset']})"
        )


def release_verified(
    verified: VerifiedAudit,
    *,
    identity: Path,
    epsilon: float,
    delta: float = 0.0,
    seed: int | None = None,
) -> VerifiedAudit:
    """``verify``'s DP step (``--dp-epsilon E [--dp-delta D] [--dp-seed N]``): the verified audit
    released under DP, charged to the ledger of the regulator identity ``identity``. Raises
    InputError (bad epsilon/delta, a primitive not available) or PrivacyBudgetExceededError
    (both exit 2); then nothing is charged and nothing may be printed of the exact result."""
    from regaudit.regulator.privacy import PrivacyLedger, ReleaseRequest, apply_release

    request = ReleaseRequest(epsilon, delta, seed)
    with PrivacyLedger.for_identity(identity) as ledger:
        return apply_release(verified, request=request, ledger=ledger)


__all__ = ["privacy_app", "privacy_budget", "privacy_ledger", "release_verified"]
