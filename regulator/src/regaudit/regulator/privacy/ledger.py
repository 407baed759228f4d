"""The privacy-loss ledger: budgets and spending per (client key id, dataset), in SQLite.

One file in the regulator's identity directory (:data:`LEDGER_DB_NAME`, mode 0600, WAL). The
regulator sets budgets (``regaudit-regulator privacy budget``): for one client and dataset, for
every dataset of one client (``dataset`` left out), or a default for everyone. A release looks
its budget up in that order; with none, it is refused.

Composition is basic (sequential) composition: the epsilons of a client's releases on one
dataset add up, and so do the deltas -- the bound OpenDP's ``make_composition`` map gives for
approximate DP. The ledger keeps past releases as numbers, not as OpenDP measurements, so it
adds them itself, in exact rational arithmetic (each stored float read as the exact fraction it
is), never rounding a sum down.

Check-and-charge is one SQLite transaction (``BEGIN IMMEDIATE``: one writer at a time across
processes), held while the noise is drawn (:meth:`PrivacyLedger.charge`): two verifies racing
for the last of a budget cannot both pass, and a release that fails records nothing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from regaudit.shared.errors import IdentityError, InputError, PrivacyBudgetExceededError

#: File name of the ledger inside the regulator's identity directory.
LEDGER_DB_NAME = "privacy-ledger.sqlite3"
#: Seconds SQLite waits for a concurrent writer (another verify's charge) before failing.
SQLITE_TIMEOUT_SECONDS = 10.0
#: File mode of a new ledger (it names clients, datasets and audits).
LEDGER_FILE_MODE = 0o600
#: Dataset name charged when the client declared none: all undeclared releases of a client
#: share one budget (conservative).
UNDECLARED_DATASET = "(undeclared)"
#: Stored in place of a client or dataset for a budget that applies to every one.
ANY = ""

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS privacy_budgets (
        client  TEXT NOT NULL,
        dataset TEXT NOT NULL,
        epsilon TEXT NOT NULL,
        delta   TEXT NOT NULL,
        set_at  TEXT NOT NULL,
        PRIMARY KEY (client, dataset)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS privacy_releases (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        client        TEXT NOT NULL,
        dataset       TEXT NOT NULL,
        audit_id      TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        primitive     TEXT NOT NULL,
        mechanism     TEXT NOT NULL,
        epsilon       TEXT NOT NULL,
        delta         TEXT NOT NULL,
        released_at   TEXT NOT NULL
    )
    """,
)


@dataclass(frozen=True)
class Budget:
    """A privacy budget (total epsilon and delta) and what it applies to."""

    epsilon: float
    delta: float
    #: ``client/dataset``, ``client/*`` or ``default``
    scope: str


@dataclass(frozen=True)
class Charge:
    """One release charged to the ledger (inside :meth:`PrivacyLedger.charge`)."""

    client: str
    dataset: str
    budget: Budget
    spent_before: tuple[float, float]
    spent_after: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "dataset": self.dataset,
            "budget": {
                "epsilon": self.budget.epsilon,
                "delta": self.budget.delta,
                "scope": self.budget.scope,
            },
            "spent_before": {"epsilon": self.spent_before[0], "delta": self.spent_before[1]},
            "spent_after": {"epsilon": self.spent_after[0], "delta": self.spent_after[1]},
            "composition": "basic (epsilons add, deltas add)",
        }


def _exact(text: str) -> Fraction:
    return Fraction(float(text))


def _stored(value: float) -> str:
    return repr(float(value))


def check_budget_values(epsilon: float, delta: float) -> None:
    """A budget is finite, epsilon > 0 and 0 <= delta < 1 (InputError otherwise)."""
    for name, value in (("epsilon", epsilon), ("delta", delta)):
        if (
            not isinstance(value, int | float)
            or value != value
            or value
            in (
                float("inf"),
                float("-inf"),
            )
        ):
            raise InputError("must be a finite number", field=name)
    if epsilon <= 0:
        raise InputError("must be above 0", field="epsilon")
    if not 0 <= delta < 1:
        raise InputError("must be at least 0 and below 1", field="delta")


class PrivacyLedger:
    """SQLite-backed budgets and releases of one regulator (a context manager)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, LEDGER_FILE_MODE))
            self._connection = sqlite3.connect(
                self.path, timeout=SQLITE_TIMEOUT_SECONDS, isolation_level=None
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._connection.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise IdentityError(
                f"cannot open the privacy ledger {self.path}: {exc}", field="identity"
            ) from exc

    @classmethod
    def for_identity(cls, identity_dir: str | Path) -> PrivacyLedger:
        """The ledger stored in a regulator identity directory (which must exist)."""
        directory = Path(identity_dir)
        if not directory.is_dir():
            raise IdentityError(f"{directory} is not a directory", field="identity")
        return cls(directory / LEDGER_DB_NAME)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> PrivacyLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- budgets ------------------------------------------------------------------------------

    def set_budget(
        self, *, client: str | None, dataset: str | None, epsilon: float, delta: float
    ) -> None:
        """Set the budget of ``client`` on ``dataset`` (None: every dataset of the client; both
        None: the default). Replaces an earlier budget of the same scope; spending is kept."""
        check_budget_values(epsilon, delta)
        if client is None and dataset is not None:
            raise InputError("a dataset budget needs --client", field="dataset")
        for name, value in (("client", client), ("dataset", dataset)):
            if value is not None and not value.strip():
                raise InputError("must not be empty", field=name)
        self._connection.execute(
            "INSERT OR REPLACE INTO privacy_budgets (client, dataset, epsilon, delta, set_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                client or ANY,
                dataset or ANY,
                _stored(epsilon),
                _stored(delta),
                datetime.now(UTC).isoformat(),
            ),
        )

    def budget_for(self, client: str, dataset: str) -> Budget | None:
        """The budget that applies: the client's on this dataset, the client's for every
        dataset, or the default; None if there is none."""
        for key, scope in (
            ((client, dataset), f"{client}/{dataset}"),
            ((client, ANY), f"{client}/*"),
            ((ANY, ANY), "default"),
        ):
            row = self._connection.execute(
                "SELECT epsilon, delta FROM privacy_budgets WHERE client = ? AND dataset = ?", key
            ).fetchone()
            if row is not None:
                return Budget(float(row[0]), float(row[1]), scope)
        return None

    def spent(self, client: str, dataset: str) -> tuple[Fraction, Fraction]:
        """Exact sums of the epsilons and deltas charged to ``client`` on ``dataset``."""
        rows = self._connection.execute(
            "SELECT epsilon, delta FROM privacy_releases WHERE client = ? AND dataset = ?",
            (client, dataset),
        ).fetchall()
        return (
            sum((_exact(e) for e, _ in rows), Fraction(0)),
            sum((_exact(d) for _, d in rows), Fraction(0)),
        )

    # --- charging -----------------------------------------------------------------------------

    @contextmanager
    def charge(
        self,
        *,
        client: str,
        dataset: str,
        epsilon: float,
        delta: float,
        audit_id: str,
        bundle_digest: str,
        primitive: str,
        mechanism: str,
    ) -> Iterator[Charge]:
        """Check the budget and record one release, atomically; the body draws the noise.

        Steps: 1. BEGIN IMMEDIATE (the one writer); 2. the budget that applies, else
        PrivacyBudgetExceededError; 3. the exact spending so far plus this release within the
        budget's epsilon and delta, else PrivacyBudgetExceededError; 4. record the release;
        5. run the body; 6. COMMIT, or ROLLBACK on any exception (nothing is charged)."""
        connection = self._connection
        # 1.
        connection.execute("BEGIN IMMEDIATE")
        try:
            # 2.
            budget = self.budget_for(client, dataset)
            if budget is None:
                raise PrivacyBudgetExceededError(
                    f"no privacy budget is set for client {client[:16]}... on dataset "
                    f"{dataset!r} and there is no default: set one with `regaudit-regulator "
                    "privacy budget`",
                    field="privacy_budget",
                )
            # 3.
            eps_before, delta_before = self.spent(client, dataset)
            eps_after = eps_before + Fraction(epsilon)
            delta_after = delta_before + Fraction(delta)
            if eps_after > Fraction(budget.epsilon) or delta_after > Fraction(budget.delta):
                raise PrivacyBudgetExceededError(
                    f"this release (epsilon {epsilon:g}, delta {delta:g}) would bring client "
                    f"{client[:16]}... on dataset {dataset!r} to epsilon {float(eps_after):g}, "
                    f"delta {float(delta_after):g}; the budget ({budget.scope}) is epsilon "
                    f"{budget.epsilon:g}, delta {budget.delta:g}",
                    field="privacy_budget",
                )
            # 4.
            connection.execute(
                "INSERT INTO privacy_releases (client, dataset, audit_id, bundle_digest, "
                "primitive, mechanism, epsilon, delta, released_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client,
                    dataset,
                    audit_id,
                    bundle_digest,
                    primitive,
                    mechanism,
                    _stored(epsilon),
                    _stored(delta),
                    datetime.now(UTC).isoformat(),
                ),
            )
            # 5.
            yield Charge(
                client=client,
                dataset=dataset,
                budget=budget,
                spent_before=(float(eps_before), float(delta_before)),
                spent_after=(float(eps_after), float(delta_after)),
            )
        except BaseException:
            # 6.
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    # --- listing ------------------------------------------------------------------------------

    def listing(self) -> dict[str, Any]:
        """Budgets, spending per (client, dataset) and every release, for ``privacy ledger``."""
        budgets = [
            {
                "client": client or None,
                "dataset": dataset or None,
                "epsilon": float(epsilon),
                "delta": float(delta),
                "set_at": set_at,
            }
            for client, dataset, epsilon, delta, set_at in self._connection.execute(
                "SELECT client, dataset, epsilon, delta, set_at FROM privacy_budgets "
                "ORDER BY client, dataset"
            )
        ]
        releases = [
            {
                "client": client,
                "dataset": dataset,
                "audit_id": audit_id,
                "bundle_digest": digest,
                "primitive": primitive,
                "mechanism": mechanism,
                "epsilon": float(epsilon),
                "delta": float(delta),
                "released_at": at,
            }
            for client, dataset, audit_id, digest, primitive, mechanism, epsilon, delta, at in (
                self._connection.execute(
                    "SELECT client, dataset, audit_id, bundle_digest, primitive, mechanism, "
                    "epsilon, delta, released_at FROM privacy_releases ORDER BY id"
                )
            )
        ]
        pairs = sorted({(r["client"], r["dataset"]) for r in releases})
        spending = []
        for client, dataset in pairs:
            epsilon_spent, delta_spent = self.spent(client, dataset)
            budget = self.budget_for(client, dataset)
            spending.append(
                {
                    "client": client,
                    "dataset": dataset,
                    "epsilon_spent": float(epsilon_spent),
                    "delta_spent": float(delta_spent),
                    "budget": None
                    if budget is None
                    else {"epsilon": budget.epsilon, "delta": budget.delta, "scope": budget.scope},
                    "releases": sum(
                        1 for r in releases if (r["client"], r["dataset"]) == (client, dataset)
                    ),
                }
            )
        return {"budgets": budgets, "spending": spending, "releases": releases}


__all__ = [
    "LEDGER_DB_NAME",
    "LEDGER_FILE_MODE",
    "SQLITE_TIMEOUT_SECONDS",
    "UNDECLARED_DATASET",
    "Budget",
    "Charge",
    "PrivacyLedger",
    "check_budget_values",
]
